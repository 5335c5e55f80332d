#!/usr/bin/env python
"""Golden-model benchmark: SFDFA vs DFA vs readout-only, fixed-point vs float, over seeds.

Run it as a script (``bench`` is not a package)::

    python bench/golden.py                                   # digits + MNIST, seeds 0,1,2
    python bench/golden.py --datasets digits --epochs 1 --limit 100 --seeds 0,1   # smoke test
    python bench/golden.py --datasets mnist --arithmetics fixed --probe --resume   # the targets
    python bench/golden.py --set 'grad={"bits": 12, "frac": 8}'

For each dataset the rows are rule (sfdfa, dfa, readout) x arithmetic (fixed, float). A row is
one :func:`plasticore.golden.train.train` call that trains every seed side by side as replicas
on the same layer sizes and settings; the row reports, as mean +- std over seeds, the final test
accuracy and, separately, the best-epoch test accuracy, then the final running train accuracy,
the hidden spikes per neuron (on the test set, after training), the feedback alignment
cos(B, W_out) at the end, the training speed in samples per second (one replica-sample = one
seed's sample; the golden model's own ``samples_per_second``, evaluation excluded) and the bits
of state per synapse. After the rows it prints, per rule, the gap fixed - float (in final test
accuracy, and in the last epoch's running train accuracy, which averages over every update of
the epoch where the final test accuracy is one snapshot) and, per arithmetic, SFDFA - readout
and SFDFA - DFA, in accuracy points, as mean +- std of the differences paired by seed (the same
seed gives both rows the same initial weights and order).

Rows run in parallel in ``--jobs`` worker processes (default 2, one per core of the project's
machines), each with single-threaded BLAS. The table goes to stdout; ``DIR/golden.json`` (every
row with per-seed numbers and per-epoch history, the configurations and their hashes, the
command line, wall time, machine) and ``DIR/golden.md`` (a markdown table for the README) are
written to ``--out`` (default ``bench/results/``).

Defaults: each dataset's preset (``golden/presets.py``: layers, rule fields, learning-rate
schedule, epochs; the readout row at its own output rate, ``RULE_OVERRIDES``): digits (64, 128,
10) for 5 epochs over its 1,437 training samples and 360 test samples, MNIST (784, 256, 10) for 3
epochs over all 60,000 and the full 10,000 test samples; mnist14 (196, 128, 10) and
fashion-mnist (784, 256, 10) on request (``--datasets``); seeds 0, 1, 2. ``--rules`` and
``--arithmetics`` pick rows (the chip's targets are the fixed-point rows); ``--probe`` adds the
linear probe of each fixed-point row's hidden layer, random and trained. Each finished row is
written to ``golden.json`` at once, and ``--resume`` keeps the rows of an earlier
``golden.json`` that match (same configuration hash, seeds, epochs, limits) and continues an
unfinished row from its last epoch (``--out``'s ``checkpoints/``, one file per row written after
every epoch), so a run longer than a sitting goes on where it stopped. Further configuration fields for every row with
``--set k=v`` (the value is parsed as JSON, else taken as a string); ``rule``, ``layers`` and
the LFSR seeds are set by the benchmark itself and refused there.

Run time: a fixed-point MNIST row (784-256-10, 3 epochs, 3 seeds) trains at about 135
replica-samples per second on one idle core of the project's 2-core AMD EPYC machine, about 67
minutes; the probe adds minutes per seed. The whole default run (12 rows) takes hours: run the
rows the question needs (for example ``--datasets mnist --arithmetics fixed --probe``) and
``--resume`` across sittings. ``bench/results/golden.json`` has the wall time of each row.
"""

from __future__ import annotations

import os

# Single-threaded BLAS in this process and in the workers it forks or spawns; must precede numpy.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import concurrent.futures
import datetime
import hashlib
import json
import platform
import shlex
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from plasticore.golden import datasets as golden_datasets
from plasticore.golden.config import Config, ConfigError
from plasticore.golden.presets import DATASET_SHAPES, DEFAULT_HIDDEN, dataset_epochs
from plasticore.golden.resolve import parse_setting, resolve_config
from plasticore.host.cli import positive_int

RULES = ("sfdfa", "dfa", "readout")
ARITHMETICS = ("fixed", "float")
RULE_LABELS = {"sfdfa": "SFDFA", "dfa": "DFA", "readout": "readout"}

#: the datasets the benchmark knows (their shapes, presets and epochs: golden/presets.py); the
#: ``--mnist-*`` options apply to every one but digits
DATASETS = tuple(DATASET_SHAPES)
#: fields the benchmark sets itself; --set may not touch them
RESERVED_FIELDS = {
    "rule": "the rule is a row axis of the benchmark",
    "layers": "layer sizes come from the dataset and --hidden-digits / --hidden-mnist",
    "seed_perturb": "the LFSR seeds are derived from --seeds",
    "seed_round": "the LFSR seeds are derived from --seeds",
}
DIGITS_SPLIT_SEED = 0

BITS_FOOTNOTE = (
    "bits/syn: bits of state per synapse = weight.bits (w_ij) + grad.bits (ghat_ij, the "
    "accumulated local gradient) + grad.bits again (ehat_ij, the reset-path trace) when "
    "reset_path is on and the eligibility is the spike-time one; weight.bits + grad.bits "
    "otherwise. Per-neuron state (A, C, traces, grades, counters) and the feedback matrix B are "
    "not counted."
)
FOOTNOTES = (
    "test: final test accuracy after the last epoch; best: the best test accuracy over epochs "
    "(per seed, then averaged), which peeks at the test set and is reported separately; train: "
    "running accuracy of the last epoch's predictions made before each sample's update. "
    "mean +- std over seeds (numpy std, ddof=0).",
    "spk/n: hidden spikes per neuron per test sample after training. align: cos(B, W_out) between "
    "the feedback matrix and the output weights after training; readout never uses B, so its "
    "value is a chance-level baseline.",
    "samples/s: training samples per second per replica (seeds x samples / training time, "
    "evaluation excluded), measured while --jobs rows ran side by side.",
    BITS_FOOTNOTE,
    "sat: sticky saturation flags of the fixed-point model raised in any seed by the end "
    "('-' when none).",
    "probe random / trained: test accuracy of a logistic regression on the hidden layer's spike "
    "counts (golden.train.linear_probe) with each seed's initial weights and with its trained "
    "ones (--probe, fixed-point rows); '-' when not measured.",
    "Differences are in accuracy points of the final test accuracy, or of the last epoch's "
    "running train accuracy where marked (running train), mean +- std of the per-seed "
    "differences (paired: the same seed gives both rows the same initial weights and sample "
    "order).",
)

#: datasets loaded by the parent before the pool starts; forked workers inherit them
_DATA: dict[str, golden_datasets.Dataset] = {}


# --- command line ----------------------------------------------------------------------------
def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, not {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one integer")
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"repeated values in {text!r}")
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"seeds must be non-negative, not {text!r}")
    return values


def _choice_list(choices):
    def parse(text: str) -> list[str]:
        names = [part.strip() for part in text.split(",") if part.strip()]
        unknown = [n for n in names if n not in choices]
        if unknown or not names or len(set(names)) != len(names):
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected distinct names from {', '.join(choices)}")
        return [c for c in choices if c in names]
    return parse


def _dataset_list(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [n for n in names if n not in DATASETS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown dataset(s) {unknown or text!r}; choose from {', '.join(DATASETS)}")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"repeated datasets in {text!r}")
    return names


def parse_overrides(items: list[str]) -> dict:
    """``k=v`` strings to a dict (``golden.resolve.parse_setting``), reserved fields refused."""
    overrides = {}
    for item in items:
        try:
            key, value = parse_setting(item)
        except argparse.ArgumentTypeError:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE") from None
        if key in RESERVED_FIELDS:
            raise ConfigError(f"--set {key}: not allowed, {RESERVED_FIELDS[key]}")
        overrides[key] = value
    return overrides


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/golden.py",
        description="Golden-model benchmark: rule (sfdfa, dfa, readout) x arithmetic (fixed, "
                    "float), every row training all seeds as replicas.",
    )
    parser.add_argument("--datasets", type=_dataset_list, default=["digits", "mnist"],
                        help=f"comma-separated, from: {', '.join(DATASETS)} (default: digits,mnist)")
    parser.add_argument("--rules", type=_choice_list(RULES), default=list(RULES),
                        help="comma-separated rows' rules (default: sfdfa,dfa,readout)")
    parser.add_argument("--arithmetics", type=_choice_list(ARITHMETICS), default=list(ARITHMETICS),
                        help="comma-separated: fixed, float (default: both)")
    parser.add_argument("--probe", action="store_true",
                        help="add the linear probe of each fixed-point row's hidden layer, random "
                             "(initial) and trained, per seed (scikit-learn; minutes per MNIST row)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows of --out's golden.json that match a row to run "
                             "(same configuration hash, seeds, epochs and limits) instead of "
                             "training them again; golden.json is rewritten after every row")
    parser.add_argument("--seeds", type=_int_list, default=[0, 1, 2],
                        help="comma-separated seeds, trained as replicas (default: 0,1,2)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help=f"digits epochs (default: the preset's, {dataset_epochs('digits')})")
    parser.add_argument("--mnist-epochs", type=positive_int, default=None,
                        help="epochs of the MNIST-like datasets (default: each preset's, "
                             + ", ".join(f"{d} {dataset_epochs(d)}" for d in DATASETS
                                         if d != "digits") + ")")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="digits: use only the first N training samples (default: all 1,437)")
    parser.add_argument("--mnist-limit", type=positive_int, default=None,
                        help="MNIST: first N training samples (default: all 60,000)")
    parser.add_argument("--mnist-test-limit", type=positive_int, default=None,
                        help="MNIST: first N test samples (default: all 10,000)")
    parser.add_argument("--hidden-digits", type=positive_int, default=DEFAULT_HIDDEN["digits"],
                        help=f"hidden neurons for digits (default: {DEFAULT_HIDDEN['digits']}, "
                             "the dataset's preset)")
    parser.add_argument("--hidden-mnist", type=positive_int, default=None,
                        help="hidden neurons of the MNIST-like datasets (default: each preset's, "
                             + ", ".join(f"{d} {DEFAULT_HIDDEN[d]}" for d in DATASETS
                                         if d != "digits") + ")")
    parser.add_argument("--jobs", type=positive_int, default=2,
                        help="rows run in parallel worker processes (default: 2)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="directory for golden.json and golden.md (default: bench/results/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V",
                        help="configuration override for every row, value parsed as JSON "
                             "(repeatable), e.g. --set reset_path=false --set lr_hidden_shift=7")
    return parser


# --- rows ----------------------------------------------------------------------------------------
def dataset_settings(args) -> dict:
    """Per dataset: layers, epochs, limits."""
    settings = {}
    for name in args.datasets:
        inputs, classes = DATASET_SHAPES[name]
        if name == "digits":
            hidden, epochs, limit, test_limit = args.hidden_digits, args.epochs, args.limit, None
        else:
            hidden, epochs, limit, test_limit = (args.hidden_mnist, args.mnist_epochs,
                                                 args.mnist_limit, args.mnist_test_limit)
        hidden = hidden or DEFAULT_HIDDEN[name]
        epochs = epochs or dataset_epochs(name)
        settings[name] = {"layers": [inputs, hidden, classes], "epochs": epochs,
                          "limit": limit, "test_limit": test_limit}
    return settings


def row_config(dataset: str, hidden: int, rule: str, overrides: dict) -> Config:
    """A row's configuration: the one resolution of every entry point (``golden/resolve.py``),
    the ``--set`` overrides taking the place of the command line's."""
    return resolve_config(dataset, hidden=hidden, settings=overrides.items(), rule=rule)


def check_row(config: Config, fixed: bool) -> None:
    """What the network refuses beyond the configuration (e.g. gaussian noise in fixed point)."""
    from plasticore.golden.network import Network

    try:
        Network(config, fixed=fixed, batch=1, seed=0)
    except ValueError as error:
        raise ConfigError(f"rule {config.rule}, {'fixed' if fixed else 'float'}: {error}") from None


def bits_per_synapse(config: Config) -> int:
    """w_ij, ghat_ij, and ehat_ij where the spike-time eligibility keeps the reset path (the
    surrogate eligibility has no ehat)."""
    ehat = config.reset_path and config.eligibility == "spike_time"
    return config.weight.bits + config.grad.bits * (2 if ehat else 1)


def _mean_std(values) -> tuple[float, float]:
    array = np.asarray(values, dtype=np.float64)
    return float(array.mean()), float(array.std())


def run_row(spec: dict) -> dict:
    """Worker: train one row (all seeds as replicas) and return plain numbers."""
    from plasticore.golden.train import train

    row = {key: spec[key] for key in ("dataset", "rule", "arithmetic", "seeds", "epochs")}
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    try:
        data = _DATA.get(spec["dataset"]) or golden_datasets.load(spec["dataset"],
                                                                  seed=DIGITS_SPLIT_SEED)
        config = Config.from_dict(spec["config"])
        result = train(config, data, epochs=spec["epochs"], seeds=spec["seeds"],
                       fixed=spec["arithmetic"] == "fixed", limit=spec["limit"],
                       test_limit=spec["test_limit"], progress=False,
                       checkpoint=spec.get("checkpoint"))
    except Exception:  # noqa: BLE001 - a failing row is reported, the others still run
        row["error"] = traceback.format_exc()
        row["wall_time_s"] = time.perf_counter() - started_wall
        return row
    summary = result.summary()
    last = result.history[-1]
    tests = np.array([h["test_accuracy"] for h in result.history])  # (epochs, seeds)
    best = tests.max(axis=0)
    spikes = last["hidden_spikes_per_neuron"]
    align = last["feedback_alignment"]
    row.update({
        "n_train": len(data.y_train[:spec["limit"]]),
        "n_test": len(data.y_test[:spec["test_limit"]]),
        "test_accuracy": summary["test_accuracy"],
        "test_accuracy_std": summary["test_accuracy_std"],
        "best_test_accuracy": summary["best_test_accuracy"],
        "best_test_accuracy_std": summary["best_test_accuracy_std"],
        "train_accuracy": summary["train_accuracy"],
        "train_accuracy_std": _mean_std(last["train_accuracy"])[1],
        "hidden_spikes_per_neuron": _mean_std(spikes)[0] if spikes else None,
        "hidden_spikes_per_neuron_std": _mean_std(spikes)[1] if spikes else None,
        "feedback_alignment": _mean_std(align)[0] if align else None,
        "feedback_alignment_std": _mean_std(align)[1] if align else None,
        "samples_per_second": result.samples_per_second,
        "overflow": last["overflow"],
        "per_seed": {
            "test_accuracy": summary["test_accuracy_per_seed"],
            "best_test_accuracy": best.tolist(),
            "best_epoch": summary["best_epoch_per_seed"],
            "train_accuracy": last["train_accuracy"],
            "hidden_spikes_per_neuron": spikes,
            "feedback_alignment": align,
        },
        "history": result.history,
        **(probe_row(config, data, result.network, spec) if spec.get("probe") else {}),
        "wall_time_s": time.perf_counter() - started_wall,
        "cpu_time_s": time.process_time() - started_cpu,
    })
    return row


def probe_row(config: Config, data, network, spec: dict) -> dict:
    """The linear probe of the hidden layer (``golden.train.linear_probe`` on the hidden spike
    counts of every training and test image), with each seed's initial (random) weights and its
    trained ones: whether the rule made the layer's features better for any linear readout."""
    from plasticore.golden.network import Network
    from plasticore.golden.train import hidden_counts, linear_probe, replica

    x_train, y_train = data.x_train[:spec["limit"]], data.y_train[:spec["limit"]]
    x_test, y_test = data.x_test[:spec["test_limit"]], data.y_test[:spec["test_limit"]]
    fixed = spec["arithmetic"] == "fixed"
    trained_w, trained_b = network.weights(), network.feedback
    probes = {"random": [], "trained": []}
    for r, seed in enumerate(spec["seeds"]):
        weights = {"random": Network.initial_weights(config, seed, fixed=fixed),
                   "trained": (replica(trained_w, r), replica(trained_b, r))}
        for name, (w, b) in weights.items():
            f_train = hidden_counts(config, w, b, x_train, fixed=fixed)
            f_test = hidden_counts(config, w, b, x_test, fixed=fixed)
            probes[name].append(linear_probe(f_train, y_train, f_test, y_test))
    return {f"{name}_probe_accuracy": list(values) for name, values in probes.items()}


def make_specs(args, settings: dict, overrides: dict) -> list[dict]:
    from plasticore.golden.train import seed_config

    specs = []
    for name, s in settings.items():
        for rule in args.rules:
            config = row_config(name, s["layers"][1], rule, overrides)
            for arithmetic in args.arithmetics:
                check_row(config, arithmetic == "fixed")
                specs.append({"dataset": name, "rule": rule, "arithmetic": arithmetic,
                              "config": config.to_dict(), "config_hash": config.hash,
                              "core_hash": config.core_hash,
                              # each replica is seed_config(config, seed): its own LFSR seeds
                              "seed_config_hashes": {str(seed): seed_config(config, seed).hash
                                                     for seed in args.seeds},
                              "bits_per_synapse": bits_per_synapse(config),
                              "seeds": list(args.seeds), "epochs": s["epochs"],
                              "limit": s["limit"], "test_limit": s["test_limit"],
                              "probe": args.probe and arithmetic == "fixed"})
                # a row killed mid-run goes on from its last epoch (--resume)
                tag = hashlib.sha256(repr(_row_key(specs[-1])).encode()).hexdigest()[:12]
                specs[-1]["checkpoint"] = str(args.out / "checkpoints" /
                                              f"{name}-{rule}-{arithmetic}-{tag}.npz")
    return specs


def _cost(spec: dict, sizes: dict) -> float:
    """A rough relative run time, to start the longest rows first."""
    layers = spec["config"]["layers"]
    n_train, n_test = sizes[spec["dataset"]]
    n_train = min(n_train, spec["limit"] or n_train)
    n_test = min(n_test, spec["test_limit"] or n_test)
    per_sample = layers[0] * layers[1] * (2.5 if spec["arithmetic"] == "fixed" else 1.0)
    return per_sample * len(spec["seeds"]) * (n_train + n_test) * spec["epochs"]


# --- formatting ---------------------------------------------------------------------------------
def _pct(mean, std=None) -> str:
    if mean is None:
        return "n/a"
    return f"{100 * mean:.1f}" if std is None else f"{100 * mean:.1f} ± {100 * std:.1f}"


def _num(value, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


COLUMNS = ("dataset", "rule", "arith", "test % (final)", "best-epoch test %", "train %",
           "spk/n", "align", "samples/s", "bits/syn", "sat", "probe random %", "probe trained %")
DIFF_COLUMNS = ("dataset", "difference (points)", "mean ± std")


def table_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        head = [r["dataset"], r["rule"], r["arithmetic"]]
        if "error" in r:
            blanks = [""] * (len(COLUMNS) - 8)
            out.append(head + ["ERROR", *blanks, str(r["bits_per_synapse"]), "", "", ""])
            continue
        probes = [_pct(*_mean_std(r[key])) if r.get(key) else "-"
                  for key in ("random_probe_accuracy", "trained_probe_accuracy")]
        out.append(head + [
            _pct(r["test_accuracy"], r["test_accuracy_std"]),
            _pct(r["best_test_accuracy"], r["best_test_accuracy_std"]),
            _pct(r["train_accuracy"]),
            _num(r["hidden_spikes_per_neuron"], 2),
            _num(r["feedback_alignment"], 3),
            f"{r['samples_per_second']:.0f}",
            str(r["bits_per_synapse"]),
            ",".join(sorted(r["overflow"])) or "-",
            *probes,
        ])
    return out


def differences(rows: list[dict]) -> list[dict]:
    """fixed - float per rule (final test, then running train accuracy of the last epoch); SFDFA -
    readout and SFDFA - DFA per arithmetic (paired by seed, final test)."""
    index = {(r["dataset"], r["rule"], r["arithmetic"]): r for r in rows}
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    out = []

    def diff(name, what, a, b, metric="test_accuracy"):
        entry = {"dataset": name, "difference": what}
        if a is None or b is None or "error" in a or "error" in b:
            entry.update(points=None, points_std=None, per_seed=None)
        else:
            per_seed = 100 * (np.array(a["per_seed"][metric]) - np.array(b["per_seed"][metric]))
            entry.update(points=float(per_seed.mean()), points_std=float(per_seed.std()),
                         per_seed=per_seed.tolist())
        out.append(entry)

    for name in datasets:
        for rule in RULES:
            diff(name, f"{RULE_LABELS[rule]}: fixed - float",
                 index.get((name, rule, "fixed")), index.get((name, rule, "float")))
        # the running train accuracy averages a whole epoch of updates, so it shows whether the
        # arithmetic changes the learning, where one end-of-run snapshot can wander by points
        for rule in RULES:
            diff(name, f"{RULE_LABELS[rule]}: fixed - float (running train)",
                 index.get((name, rule, "fixed")), index.get((name, rule, "float")),
                 metric="train_accuracy")
        for arithmetic in ARITHMETICS:
            for other in ("readout", "dfa"):
                diff(name, f"{arithmetic}: SFDFA - {RULE_LABELS[other]}",
                     index.get((name, "sfdfa", arithmetic)), index.get((name, other, arithmetic)))
        for rule in RULES:
            row = index.get((name, rule, "fixed"))
            if row and row.get("trained_probe_accuracy"):
                gain = 100 * (np.array(row["trained_probe_accuracy"])
                              - np.array(row["random_probe_accuracy"]))
                out.append({"dataset": name, "difference": f"{RULE_LABELS[rule]}: probe trained - "
                            "random (fixed)", "points": float(gain.mean()),
                            "points_std": float(gain.std()), "per_seed": gain.tolist()})
    # a pair with a row missing (--rules, --arithmetics) says nothing: left out
    return [d for d in out if d["points"] is not None or not _partial(rows)]


def _partial(rows) -> bool:
    kinds = {(r["rule"], r["arithmetic"]) for r in rows}
    return kinds != {(a, b) for a in RULES for b in ARITHMETICS}


def _points(entry) -> str:
    if entry["points"] is None:
        return "n/a"
    return f"{entry['points']:+.1f} ± {entry['points_std']:.1f}"


def text_table(header, body) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body)]

    def line(cells):
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def markdown_table(header, body) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]
    return "\n".join(lines)


def settings_line(report: dict) -> str:
    parts = []
    for name, s in report["settings"]["datasets"].items():
        parts.append(f"{name}: layers {tuple(s['layers'])}, {s['epochs']} epoch(s), "
                     f"{s['n_train']} train / {s['n_test']} test samples")
    seeds = ",".join(map(str, report["settings"]["seeds"]))
    overrides = report["settings"]["overrides"]
    extra = f"; overrides {json.dumps(overrides)}" if overrides else ""
    return f"{'; '.join(parts)}; seeds {seeds}{extra}"


def render_text(report: dict) -> str:
    rows = report["rows"]
    lines = [f"Golden model benchmark ({settings_line(report)})", "",
             text_table(COLUMNS, table_rows(rows)), ""]
    diffs = [[d["dataset"], d["difference"], _points(d)] for d in report["differences"]]
    lines += [text_table(DIFF_COLUMNS, diffs), ""]
    lines += [f"* {note}" for note in FOOTNOTES]
    if any("error" in r for r in rows):
        lines.append("")
    for r in rows:
        if "error" in r:
            last = r["error"].rstrip().splitlines()[-1]
            lines += [f"ERROR in {r['dataset']} {r['rule']} {r['arithmetic']}: {last} "
                      f"(traceback in golden.json)"]
    jobs = report["settings"]["jobs"]
    lines += ["", f"wall time {report['wall_time_s']:.1f} s with {jobs} job(s)"]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    rows = report["rows"]
    lines = [f"Golden model, `{report['command_short']}`: {settings_line(report)}. "
             f"Mean ± std over seeds.", "",
             markdown_table(COLUMNS, table_rows(rows)), ""]
    diffs = [[d["dataset"], d["difference"], _points(d)] for d in report["differences"]]
    lines += [markdown_table(DIFF_COLUMNS, diffs), ""]
    lines += [f"- {note}" for note in FOOTNOTES]
    machine = report["machine"]
    lines += ["", f"Wall time {report['wall_time_s'] / 60:.1f} min on {machine['cpu_count']} "
                  f"CPU(s) ({machine['processor']}, {machine['platform']}, numpy "
                  f"{machine['numpy']}), {report['settings']['jobs']} job(s); configuration "
                  f"hashes in golden.json."]
    return "\n".join(lines) + "\n"


def make_report(args, specs, results, settings, overrides, command, started, started_at) -> dict:
    """The report of the rows finished so far (every row of ``results``, in spec order)."""
    rows = []
    for k, spec in enumerate(specs):
        if k not in results:
            continue
        row = {**{key: spec[key] for key in ("dataset", "rule", "arithmetic", "config_hash",
                                             "core_hash", "seed_config_hashes",
                                             "bits_per_synapse", "limit",
                                             "test_limit")},
               **results[k], "config": spec["config"]}
        rows.append(row)
    return {
        "benchmark": "golden",
        "command": shlex.join(command),
        "command_short": shlex.join(["python", "bench/golden.py", *command[2:]]),
        "started": started_at,
        "wall_time_s": time.perf_counter() - started,
        "machine": machine_info(),
        "settings": {"datasets": settings, "seeds": list(args.seeds), "jobs": args.jobs,
                     "overrides": overrides},
        "bits_per_synapse_formula": "weight.bits + 2 * grad.bits if reset_path and eligibility "
                                    "== 'spike_time' else weight.bits + grad.bits",
        "rows": rows,
        "rows_expected": len(specs),
        "differences": differences(rows),
        "footnotes": list(FOOTNOTES),
    }


def write_report(args, report: dict, *, markdown: bool = True) -> None:
    # files first: a closed stdout (e.g. piped into head) must not lose the results
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = args.out / "golden.json.tmp"
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(args.out / "golden.json")
    if markdown:
        (args.out / "golden.md").write_text(render_markdown(report))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict:
    return {"platform": platform.platform(), "machine": platform.machine(),
            "processor": _cpu_model(), "python": platform.python_version(),
            "cpu_count": os.cpu_count(), "numpy": np.__version__,
            "blas_threads": {var: os.environ.get(var) for var in
                             ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}}


# --- resume -----------------------------------------------------------------------------------
_ROW_KEY = ("dataset", "rule", "arithmetic", "config_hash", "seeds", "epochs", "limit",
            "test_limit")


def _row_key(row: dict) -> tuple:
    return tuple(json.dumps(row.get(k)) for k in _ROW_KEY)


def done_rows(path: Path, specs: list[dict]) -> dict[int, dict]:
    """The rows of an earlier golden.json that answer a spec (its key, no error, a probe if the
    spec asks for one), by spec index."""
    if not path.exists():
        return {}
    try:
        earlier = json.loads(path.read_text())["rows"]
    except (ValueError, KeyError, TypeError) as error:
        raise ConfigError(f"--resume: {path} is not a golden.json of this benchmark ({error})") \
            from None
    found = {_row_key(r): r for r in earlier if "error" not in r and "test_accuracy" in r}
    out = {}
    for k, spec in enumerate(specs):
        row = found.get(_row_key(spec))
        if row is not None and (row.get("trained_probe_accuracy") or not spec["probe"]):
            out[k] = row
    return out


# --- main -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
        settings = dataset_settings(args)
        specs = make_specs(args, settings, overrides)
    except ConfigError as error:
        print(f"golden.py: error: invalid configuration: {error}", file=sys.stderr)
        return 2

    # load (and for MNIST fetch and verify) every dataset once, before the workers start
    sizes = {}
    for name in settings:
        try:
            _DATA[name] = golden_datasets.load(name, seed=DIGITS_SPLIT_SEED)
        except (golden_datasets.DatasetUnavailable, golden_datasets.ChecksumMismatch) as error:
            print(f"golden.py: error: dataset {name}: {error}", file=sys.stderr)
            return 1
        data = _DATA[name]
        sizes[name] = (len(data.y_train), len(data.y_test))
        s = settings[name]
        s["n_train"] = len(data.y_train[:s["limit"]])
        s["n_test"] = len(data.y_test[:s["test_limit"]])
        if name == "digits":
            s["split_seed"] = DIGITS_SPLIT_SEED

    from tqdm import tqdm

    results: dict[int, dict] = {}
    if args.resume:
        try:
            results = done_rows(args.out / "golden.json", specs)
        except ConfigError as error:
            print(f"golden.py: error: {error}", file=sys.stderr)
            return 2
        if results:
            print(f"resuming: {len(results)} of {len(specs)} rows kept from "
                  f"{args.out / 'golden.json'}", file=sys.stderr)
    command = [sys.executable, *sys.argv] if argv is None else [sys.executable, __file__, *argv]
    started = time.perf_counter()
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    order = sorted((k for k in range(len(specs)) if k not in results),
                   key=lambda k: -_cost(specs[k], sizes))
    (args.out / "checkpoints").mkdir(parents=True, exist_ok=True)
    if not args.resume:               # a fresh run starts every row from its first epoch
        for k in order:
            Path(specs[k]["checkpoint"]).unlink(missing_ok=True)
    executor = concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs)
    try:
        # submit before the bar exists: no tqdm monitor thread is alive when workers fork
        futures = {executor.submit(run_row, specs[k]): k for k in order}
        with tqdm(total=len(specs), initial=len(results), desc="golden bench", unit="row",
                  dynamic_ncols=True, file=sys.stderr) as bar:
            for future in concurrent.futures.as_completed(futures):
                k = futures[future]
                try:
                    row = future.result()
                except Exception as error:  # noqa: BLE001 - e.g. a worker killed for memory
                    row = {key: specs[k][key] for key in ("dataset", "rule", "arithmetic")}
                    row["error"] = f"{type(error).__name__}: {error}"
                results[k] = row
                # every finished row reaches golden.json at once: a killed run keeps it (--resume)
                write_report(args, make_report(args, specs, results, settings, overrides, command,
                                               started, started_at), markdown=False)
                status = "ERROR" if "error" in row else f"test {_pct(row['test_accuracy'])}%"
                bar.set_postfix_str(f"{row['dataset']} {row['rule']} {row['arithmetic']}: {status}")
                bar.update(1)
    except KeyboardInterrupt:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown()
    report = make_report(args, specs, results, settings, overrides, command, started, started_at)
    write_report(args, report)
    print(render_text(report))
    print(f"\nwrote {args.out / 'golden.json'} and {args.out / 'golden.md'}")
    rows = report["rows"]
    return 1 if any("error" in r for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
