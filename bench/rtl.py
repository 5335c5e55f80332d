#!/usr/bin/env python
"""RTL core clock-count benchmark: the exact cycle model of ``rtl/core.py`` on real digit activity.

Run it as a script (``bench`` is not a package)::

    python bench/rtl.py                       # 50 digits per configuration
    python bench/rtl.py --samples 10 --out /tmp/rtl-bench

No simulation runs here. The clocks come from the core's own cycle model (``chip/cycles.py``):
``step_cycles`` / ``step_timing`` (every ``STEP``) and ``learn_cycles`` (every ``LEARN``), pure
Python functions that ``tests/rtl/test_core.py`` and the cocotb digits training run (``sim/tb_core.py``)
assert clock for clock against simulation of the core, for every step and every ``LEARN``. The
activity that drives the model is the golden model's (``Network(config, fixed=True, seed=0)``,
the contract the RTL is bit-exact with): the first ``--samples`` training digits of
``datasets.load("digits")`` in order, TTFS-encoded, run step by step with online learning after
every sample (``Network.learn``), exactly the sequence the cocotb training run sends the core.
Per step the benchmark records the input events and the spiking neurons of every layer and hands
them to the cycle model.

``SAMPLE`` (the per-sample clear) is ``sample_cycles()`` (clean ``GRAD``: an
``sfdfa``/``dfa`` ``LEARN`` leaves it clean), asserted for every sample by the cocotb training
run; reported in its own column.

Ideal clocks (one clock per operation): integration synaptic operations (SOPs) = sum over layers
of spiking inputs x neurons; eligibility updates = spiking neurons x inputs of their layer; learning
= weight words visited + feedback words updated. The sweep table evaluates the model on one layer
(a one-layer core ``Config(layers=(J, N), rule="readout")``; a step does not depend on the rule) for a grid of neurons N, inputs J, spiking inputs K
and spiking neurons S (evenly spread), against the ideal N*K (+ S*J).

Writes ``DIR/rtl.json`` (every number, the per-step records summarised, configuration hashes,
command line, wall time) and ``DIR/rtl.md`` to ``--out`` (default ``bench/results/``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from plasticore.golden import datasets as golden_datasets
from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.golden.train import encode_images
from plasticore.host.cli import positive_int
from plasticore.chip.cycles import core_model

CONFIG_LAYERS = ((64, 32, 10), (64, 64, 10))
#: networks also measured on the other kinds of core (``rtl/kinds.py``): the compact core (no
#: read registers) and the sequenced core (one datapath, the iCEBreaker's)
OTHER_KINDS = (("compact", (64, 32, 10)), ("sequenced", (64, 32, 10)))
MODEL_NOTE = ("Clocks from each core's exact cycle model (step_timing per STEP, "
              "learn_cycles per LEARN), which tests/rtl/test_core.py and the cocotb digits "
              "training run (sim/tb_core.py) assert clock for clock against simulation; driven "
              "by the golden model's real activity (Network(config, fixed=True, seed=0), online "
              "learning, first training digits in order). No simulation runs here.")
FOOTNOTES = (
    "SAMPLE: per-sample clear, Core.sample_cycles() (asserted for every sample by the cocotb "
    "training run).",
    "ideal: one clock per operation: integration SOPs (sum over layers of spiking inputs x "
    "neurons) + eligibility updates (spiking neurons x inputs of the layer) + learning words "
    "(weights visited + feedback words). ops/clk = ideal / clocks.",
    "SOP/clk steps: integration SOPs / all step clocks; SOP/clk infer: the same over the step "
    "clocks the core would take without the eligibility engine (per layer max(loop, trace)).",
    "elig +clk: step clocks added by the eligibility engine; upd/clk: eligibility updates per "
    "clock from a layer's first update to its last (sequenced core: over its reciprocals and "
    "updates, which run one after another with the rest).",
    "compact: the pipelined core without read registers; sequenced: one datapath, two "
    "multipliers, the spec's operations one after another (rtl/seqcore.py, the iCEBreaker's "
    "core): about 7 times the clocks per sample of the compact core, for far fewer cells.",
    "learn w/clk: learning words per LEARN clock (the hidden-error products of phase B count as "
    "overhead). min-max: the range of clocks per sample. events/step: input events per step. "
    "train acc: running accuracy of the online training (prediction before each sample's LEARN).",
)
SUMMARY_COLUMNS = ("layers", "clocks", "min-max", "SAMPLE", "steps", "LEARN", "SOPs",
                   "elig upd", "learn words", "ideal", "clk/ideal", "ops/clk")
RATE_COLUMNS = ("layers", "SOP/clk steps", "SOP/clk infer", "elig +clk", "upd/clk",
                "learn w/clk", "events/step", "spikes/sample (per layer)", "train acc")
SWEEP_COLUMNS = ("N", "J", "K", "S", "step clk", "loop", "trace", "elig end", "ideal N*K",
                 "+S*J", "clk/ideal", "ops/clk")


# --- cycle model on golden activity ---------------------------------------------------------------
def sample_clear_cycles(core) -> int:
    """SAMPLE clocks (transfer to done) with a clean GRAD memory: CLEAR visits 0 .. clr_end."""
    return core.sample_cycles()


def learn_words(core) -> int:
    cfg = core.config
    words = core.n_weights if cfg.learns_hidden else core.n_weights - core.weight_base[-1]
    return words + (core.n_feedback if cfg.learns_feedback else 0)


def run_config(layers, n_samples: int, data, kind: str = "pipelined") -> dict:
    config = Config(layers=tuple(layers))
    core = core_model(config, kind)
    net = Network(config, fixed=True, seed=0)
    sizes = config.layers
    x, y = data.x_train[:n_samples], data.y_train[:n_samples]
    rasters = encode_images(config, x)
    clear, learn = sample_clear_cycles(core), core.learn_cycles()
    words = learn_words(core)
    per_sample = []
    layer_spikes = np.zeros(core.n_layers)
    correct = 0
    for s in range(len(y)):
        net.reset()
        t = dict(steps=0, sops=0, updates=0, infer_only=0, elig_span=0, events=0)
        for row in rasters[s]:
            inputs = int(row.sum())
            net.step(row[None])
            listed = [inputs] + [int(layer.spikes[0].sum()) for layer in net.layers[:-1]]
            spikers = [np.nonzero(layer.spikes[0])[0].tolist() for layer in net.layers]
            t["steps"] += core.step_cycles(listed, spikers)
            t["events"] += inputs
            t["sops"] += sum(sizes[k + 1] * K for k, K in enumerate(listed))
            t["infer_only"] += 1
            for k, timing in enumerate(core.step_timing(listed, spikers)["layers"]):
                t["updates"] += timing["updates"]
                if kind == "sequenced":     # one after another: the eligibility is its own clocks
                    t["infer_only"] += timing["trace"] + timing["loop"] - timing["elig"]
                    t["elig_span"] += timing["elig"]
                else:
                    t["infer_only"] += max(timing["loop"], timing["trace"])
                    if spikers[k]:
                        t["elig_span"] += timing["elig_end"] - core.ELIG_DRAIN - timing["elig_start"]
                layer_spikes[k] += len(spikers[k])
        correct += int(net.predict()[0] == y[s])
        net.learn([int(y[s])])
        t.update(clear=clear, learn=learn, words=words)
        t["clocks"] = clear + t["steps"] + learn
        t["ideal"] = t["sops"] + t["updates"] + words
        per_sample.append(t)

    def mean(key):
        return float(np.mean([t[key] for t in per_sample]))

    total = {key: float(sum(t[key] for t in per_sample)) for key in per_sample[0]}
    n = len(per_sample)
    return {
        "layers": list(sizes), "kind": kind, "compact": core.compact, "config_hash": config.hash,
        "core_hash": config.core_hash,
        "rule": config.rule, "n_steps": config.n_steps, "samples": n,
        "running_train_accuracy": correct / n,
        "per_sample_mean": {key: mean(key) for key in per_sample[0]},
        "per_sample_clocks": {"min": min(t["clocks"] for t in per_sample),
                              "max": max(t["clocks"] for t in per_sample)},
        "ops_per_clock": total["ideal"] / total["clocks"],
        "clocks_per_ideal": total["clocks"] / total["ideal"],
        "sop_per_clock_steps": total["sops"] / total["steps"],
        "sop_per_clock_infer_only": total["sops"] / total["infer_only"],
        "elig_added_clocks_per_sample": (total["steps"] - total["infer_only"]) / n,
        "elig_updates_per_clock": total["updates"] / max(1.0, total["elig_span"]),
        "learn_words_per_clock": words / learn,
        "events_per_step": total["events"] / (n * config.n_steps),
        "spikes_per_sample": [float(v) / n for v in layer_spikes],
    }


def row_name(r: dict) -> str:
    kind = r.get("kind", "compact" if r.get("compact") else "pipelined")
    return str(tuple(r["layers"])) + ("" if kind == "pipelined" else f" {kind}")


def summary_row(r: dict) -> list[str]:
    m = r["per_sample_mean"]
    span = r["per_sample_clocks"]
    return [row_name(r), f"{m['clocks']:.0f}", f"{span['min']}-{span['max']}",
            f"{m['clear']:.0f}", f"{m['steps']:.0f}", f"{m['learn']:.0f}", f"{m['sops']:.0f}",
            f"{m['updates']:.0f}", f"{m['words']:.0f}", f"{m['ideal']:.0f}",
            f"{r['clocks_per_ideal']:.3f}", f"{r['ops_per_clock']:.3f}"]


def rate_row(r: dict) -> list[str]:
    return [row_name(r), f"{r['sop_per_clock_steps']:.3f}",
            f"{r['sop_per_clock_infer_only']:.3f}", f"{r['elig_added_clocks_per_sample']:.0f}",
            f"{r['elig_updates_per_clock']:.3f}", f"{r['learn_words_per_clock']:.3f}",
            f"{r['events_per_step']:.2f}",
            " / ".join(f"{v:.1f}" for v in r["spikes_per_sample"]),
            f"{100 * r['running_train_accuracy']:.0f}%"]


# --- sweep -----------------------------------------------------------------------------------------
def sweep_points():
    points = []
    for n in (10, 32, 64, 128):
        for j in (64, 256):
            for k in (0, 1, 2, 4, 16):
                points.append((n, j, k, 0))
    for n, j, k in ((32, 64, 4), (32, 16, 4), (64, 256, 8)):
        for s in (1, 4, 8, n):
            points.append((n, j, k, s))
    return points


def sweep_row(n: int, j: int, k: int, s: int) -> dict:
    core = core_model(Config(layers=(j, n), rule="readout"))  # timing of a STEP ignores the rule
    spikers = sorted({(q * n) // s for q in range(s)}) if s else []
    timing = core.step_timing([k], [spikers])["layers"][0]
    clocks = core.step_cycles([k], [spikers])
    ideal = n * k + len(spikers) * j
    return {"N": n, "J": j, "K": k, "S": len(spikers), "spikers": spikers, "step_clocks": clocks,
            "loop": timing["loop"], "trace": timing["trace"], "elig_end": timing["elig_end"],
            "ideal_sops": n * k, "elig_updates": len(spikers) * j, "ideal": ideal,
            "clocks_per_ideal": clocks / ideal if ideal else None,
            "ops_per_clock": ideal / clocks}


def sweep_table_row(r: dict) -> list[str]:
    ratio = "inf" if r["clocks_per_ideal"] is None else f"{r['clocks_per_ideal']:.2f}"
    return [str(r["N"]), str(r["J"]), str(r["K"]), str(r["S"]), str(r["step_clocks"]),
            str(r["loop"]), str(r["trace"]), str(r["elig_end"] or "-"), str(r["ideal_sops"]),
            str(r["elig_updates"]), ratio, f"{r['ops_per_clock']:.3f}"]


# --- formatting ------------------------------------------------------------------------------------
def text_table(header, body) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *body)]

    def line(cells):
        return "  ".join(str(c).rjust(w) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, body)])


def markdown_table(header, body) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


SWEEP_TITLE = ("Sweep: clocks of one STEP of a one-layer core (1 + max(loop, trace, elig)) with "
               "N neurons, J inputs, K spiking inputs, S spiking neurons (evenly spread); ideal = "
               "N*K SOPs + S*J eligibility updates")


def render_text(report: dict) -> str:
    n = report["settings"]["samples"]
    lines = [f"RTL core clocks per sample, digits, {n} samples per configuration "
             f"(Config defaults otherwise: rule {report['rows'][0]['rule']}, "
             f"{report['rows'][0]['n_steps']} steps)", MODEL_NOTE, "",
             text_table(SUMMARY_COLUMNS, [summary_row(r) for r in report["rows"]]), "",
             text_table(RATE_COLUMNS, [rate_row(r) for r in report["rows"]]), ""]
    lines += [f"* {note}" for note in FOOTNOTES]
    lines += ["", SWEEP_TITLE, "",
              text_table(SWEEP_COLUMNS, [sweep_table_row(r) for r in report["sweep"]]), "",
              f"wall time {report['wall_time_s']:.1f} s"]
    return "\n".join(lines)


def render_markdown(report: dict) -> str:
    n = report["settings"]["samples"]
    lines = [f"RTL core, `{report['command_short']}`: clocks per sample (mean over {n} digits "
             f"per configuration).", "", MODEL_NOTE, "",
             markdown_table(SUMMARY_COLUMNS, [summary_row(r) for r in report["rows"]]), "",
             markdown_table(RATE_COLUMNS, [rate_row(r) for r in report["rows"]]), ""]
    lines += [f"- {note}" for note in FOOTNOTES]
    lines += ["", SWEEP_TITLE + ".", "",
              markdown_table(SWEEP_COLUMNS, [sweep_table_row(r) for r in report["sweep"]]), "",
              f"Wall time {report['wall_time_s']:.1f} s ({report['machine']['platform']}, "
              f"numpy {report['machine']['numpy']})."]
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/rtl.py",
        description="Clock counts of the RTL core (its exact cycle model) on real digit activity "
                    "of the golden model, and a per-layer sweep.")
    parser.add_argument("--samples", type=positive_int, default=50,
                        help="training digits per configuration, in order (default: 50)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results",
                        help="directory for rtl.json and rtl.md (default: bench/results/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    started = time.perf_counter()
    data = golden_datasets.load("digits")
    rows = [run_config(layers, args.samples, data) for layers in CONFIG_LAYERS]
    rows += [run_config(layers, args.samples, data, kind) for kind, layers in OTHER_KINDS]
    sweep = [sweep_row(*p) for p in sweep_points()]
    command = [sys.executable, *sys.argv] if argv is None else [sys.executable, __file__, *argv]
    report = {
        "benchmark": "rtl",
        "command": shlex.join(command),
        "command_short": shlex.join(["python", "bench/rtl.py", *command[2:]]),
        "started": started_at,
        "wall_time_s": time.perf_counter() - started,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "settings": {"samples": args.samples, "configs": [list(c) for c in CONFIG_LAYERS],
                     "other_kinds": [[kind, list(c)] for kind, c in OTHER_KINDS],
                     "dataset": "digits (load('digits'), training split, first samples in order)",
                     "network": "Network(config, fixed=True, seed=0), online learning"},
        "model": MODEL_NOTE,
        "rows": rows,
        "sweep": sweep,
        "footnotes": list(FOOTNOTES),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "rtl.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "rtl.md").write_text(render_markdown(report))
    print(render_text(report))
    print(f"\nwrote {args.out / 'rtl.json'} and {args.out / 'rtl.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
