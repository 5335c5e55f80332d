#!/usr/bin/env python
"""Float baselines side by side: BPTT, e-prop, DECOLLE, DRTP, ETLP-style, DFA, SFDFA (torch, CPU)
on the golden model's clocked LIF network, the fixed-point golden SFDFA next to them, and the
non-spiking BP / DFA / FDFA MLP anchor. The one command that regenerates docs/results/::

    python bench/baselines.py --protocol             # every run of docs/results/ (about 4-5 h of one core)
    python bench/baselines.py --protocol --dry-run   # the runs it is made of (``PROTOCOL``)
    python bench/baselines.py --datasets digits --seeds 0,1 --epochs 1 --limit 200   # smoke test
    python bench/baselines.py --datasets mnist --subset-rules bptt --set n_steps=100 --set input_window=50 ...

``--protocol`` runs ``PROTOCOL``, the list of invocations whose runs are the committed tables
(each with ``--resume`` and ``--out`` below ``--out``, so an interrupted protocol continues where
it stopped and a complete one only rewrites the reports); remove ``baselines.json`` (or give
another ``--out``) to recompute from scratch. Without ``--protocol`` the options below choose
one set of runs.

What it does, per dataset in ``--datasets``: trains every rule of ``--rules`` from every seed
(``baselines.train.train_rule``: same initial weights as the golden model's seed, Adam, batch
``--batch``), evaluates on the test set after each epoch, measures the cosine of each rule's
estimate with BPTT's surrogate gradient per layer (on a fixed probe batch of 64 training samples,
before training and after every epoch), and the training time per sample. Digits use
``--epochs``/``--limit``/``--seeds``; MNIST and Fashion-MNIST use the ``--subset-*`` options
(a subset of the training set, the first ``--subset-test-limit`` test samples, fewer seeds: the
tables say so). Then: the memory of the training state of every rule vs window length T and
layer size (analytic word counts, and BPTT's autograd saved tensors measured), the MLP anchor
(``--mlp-*``), and the golden SFDFA rows read from ``bench/results/golden.json``
(``--golden read``) or run now (``--golden run``, fixed point and float, per-sample online).

``--set FIELD=VALUE`` (repeatable) changes one field of the golden ``Config`` the runs are built
on (after the dataset's preset and ``--hidden``), e.g. ``--set n_steps=100 --set input_window=50``
(window), ``--set target_true=30 --set target_false=6`` (count targets), ``--set threshold=0.5``,
``--set error_clip=None`` (MSE count loss). VALUE is a Python literal (``None``, ``0.5``, ``30``)
or else a string; an unknown field or an impossible Config is refused before anything runs. The
changes are part of each run's stored settings (key ``set``), so ``--resume`` keeps them apart.
Without ``--set`` nothing changes.

Writes ``--out`` (default docs/results/): baselines.json (every run with per-epoch history,
alignment, timings; the command line; wall time), baselines.md (tables), accuracy_<dataset>.png,
alignment_<dataset>.png, memory.png. Results are saved after every run; ``--resume`` skips runs
already in baselines.json with the same settings (so a long run can be continued), and makes every
SNN run save its partial result and a checkpoint after each epoch (OUT/checkpoints/, removed when
the run completes), from which an interrupted run continues with its next epoch.
``--progress SECONDS`` prints the rate and ETA within an epoch.

``--set output_layer=integrate`` (with ``output_loss`` ``softmax`` or ``hinge``) gives the
integrate output layer of docs/spec.md 5.5 and its loss on V (rule bptt only; docs/baselines.md
section 6).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import dataclasses
import datetime
import hashlib
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from plasticore.baselines import memory
from plasticore.baselines.mlp import METHODS as MLP_METHODS, train_mlp
from plasticore.baselines.rules import RULES
from plasticore.baselines.train import train_rule
from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.presets import THESIS_DIGITS, THESIS_FORM
from plasticore.golden.resolve import parse_setting, resolve_config

ROOT = Path(__file__).resolve().parent.parent

#: hidden-layer Adam learning rate per rule (the output layer uses --lr for all); set by hand from
#: 3-epoch runs on digits seed 0 (hidden 3e-2 / 1e-2 / 1e-3 / 3e-4), not a tuned grid
LR_HIDDEN = {"bptt": 3e-2, "readout": 0.0, "dfa": 1e-3, "sfdfa": 1e-3, "dfa-sg": 1e-3,
             "eprop": 1e-3, "drtp": 1e-3, "etlp": 1e-3, "decolle": 1e-3}

#: the seed papers' numbers, for context only (other datasets, networks, neurons, optimisers)
PAPER = {
    "bptt": "BP (exact, event-based) MNIST 98.88, F-MNIST 90.19 [004 T17]; BPTT N-MNIST 97.67, SHD 75.23 [000]",
    "eprop": "N-MNIST 97.90, SHD 80.79 [000]; N-MNIST FF 96.44 [003]",
    "decolle": "N-MNIST 96.27, SHD 62.01 [000]; N-MNIST FF 93.61 [003]",
    "etlp": "N-MNIST 94.30, SHD 74.59 [000]",
    "drtp": "no number in the seeds (000 lists DRTP as a spatial-locality option only)",
    "dfa": "MNIST 98.42, F-MNIST 89.41 [004 T17]",
    "sfdfa": "MNIST 98.56, F-MNIST 89.73 [004 T17]",
    "dfa-sg": "- (DFA with a surrogate local gradient; our variant)",
    "readout": "- (floor: hidden layer frozen)",
}
MLP_PAPER = {"bp": (98.25, 89.37), "dfa": (98.04, 88.67), "fdfa": (98.21, 89.27)}  # 004 Table 14


#: the invocations that produced docs/results/ (relative --out: below the protocol's --out)
PROTOCOL = [
    ["--datasets", "digits", "--seeds", "0,1,2,3,4", "--epochs", "6", "--mlp", ""],
    ["--datasets", "digits", "--rules", "sfdfa,dfa", "--seeds", "0,1,2,3,4", "--epochs", "6",
     "--mlp", "", "--rate-reg", "0.5", "--tag", "rate reg 0.5"],
    ["--datasets", "mnist", "--subset-seeds", "0,1,2,3,4", "--subset-epochs", "3",
     "--subset-limit", "3000", "--subset-test-limit", "1000", "--mlp", ""],
    ["--datasets", "mnist", "--subset-rules", "sfdfa,dfa", "--subset-seeds", "0,1", "--subset-epochs", "3",
     "--subset-limit", "3000", "--subset-test-limit", "1000", "--mlp", "", "--lr-hidden", "1e-4",
     "--tag", "hidden lr 1e-4"],
    ["--datasets", "mnist", "--subset-rules", "sfdfa,dfa", "--subset-seeds", "0,1", "--subset-epochs", "3",
     "--subset-limit", "3000", "--subset-test-limit", "1000", "--mlp", "", "--rate-reg", "0.5",
     "--tag", "rate reg 0.5"],
    ["--datasets", "fashion-mnist", "--subset-seeds", "0,1,2,3,4", "--subset-epochs", "2",
     "--subset-limit", "2000", "--subset-test-limit", "1000", "--mlp", ""],
    ["--datasets", "fashion-mnist", "--subset-rules", "sfdfa,dfa", "--subset-seeds", "0", "--subset-epochs", "2",
     "--subset-limit", "2000", "--subset-test-limit", "1000", "--mlp", "", "--lr-hidden", "1e-4",
     "--tag", "hidden lr 1e-4"],
    ["--datasets", "fashion-mnist", "--subset-rules", "sfdfa,dfa", "--subset-seeds", "0,1", "--subset-epochs", "2",
     "--subset-limit", "2000", "--subset-test-limit", "1000", "--mlp", "", "--rate-reg", "0.5",
     "--tag", "rate reg 0.5"],
    ["--datasets", "", "--mlp", "mnist", "--mlp-seeds", "0", "--mlp-epochs", "1"],
    ["--datasets", "", "--mlp", "mnist,fashion-mnist", "--mlp-seeds", "0,1", "--mlp-epochs", "3"],
    # the BPTT ceiling on MNIST (docs/baselines.md section 6), each in its own directory
    ["--datasets", "mnist", "--subset-rules", "bptt", "--subset-seeds", "0", "--subset-epochs", "2",
     "--subset-limit", "12000", "--subset-test-limit", "2000", "--mlp", "", "--golden", "off",
     "--out", "bptt_mnist"],
    ["--datasets", "mnist", "--hidden", "800", "--subset-rules", "bptt", "--subset-seeds", "0",
     "--subset-epochs", "2", "--subset-limit", "12000", "--subset-test-limit", "2000", "--mlp", "",
     "--golden", "off", "--out", "bptt_mnist_800"],
    ["--datasets", "mnist", "--subset-rules", "bptt", "--subset-seeds", "0", "--subset-epochs", "4",
     "--subset-limit", "60000", "--subset-test-limit", "10000", "--mlp", "", "--golden", "off",
     "--out", "bptt_mnist_full"],
    ["--datasets", "mnist", "--hidden", "256", "--subset-rules", "bptt", "--subset-seeds", "0",
     "--subset-epochs", "4", "--subset-limit", "60000", "--subset-test-limit", "10000", "--mlp", "",
     "--golden", "off", "--out", "bptt_mnist_full_256"],
    # the BPTT ceiling of issue 23's output layer: integrate outputs, base-2 softmax on V
    # (the update shifts of experiments/configs/surrogate-softmax.json only satisfy the Config)
    ["--datasets", "mnist", "--hidden", "256", "--subset-rules", "bptt", "--subset-seeds", "0,1",
     "--subset-epochs", "3", "--subset-limit", "60000", "--subset-test-limit", "10000", "--mlp", "",
     "--golden", "off", "--set", "output_layer=integrate", "--set", "output_loss=softmax",
     "--set", "lr_hidden_shift=6", "--set", "lr_output_shift=9",
     "--out", "bptt_mnist_integrate_softmax_256"],
    ["--datasets", "mnist", "--hidden", "256", "--subset-rules", "bptt", "--subset-seeds", "0,1",
     "--subset-epochs", "3", "--subset-limit", "60000", "--subset-test-limit", "10000", "--mlp", "",
     "--golden", "off", "--set", "output_layer=integrate", "--set", "output_loss=softmax",
     "--set", "lr_hidden_shift=6", "--set", "lr_output_shift=9", "--lr", "3e-3", "--lr-hidden", "3e-3",
     "--tag", "lr 3e-3", "--out", "bptt_mnist_integrate_softmax_256"],
]


def protocol_argvs(out):
    """``PROTOCOL`` with ``--resume`` and each ``--out`` placed below ``out``."""
    argvs = []
    for argv in PROTOCOL:
        argv = list(argv)
        sub = ""
        if "--out" in argv:
            i = argv.index("--out")
            sub = argv[i + 1]
            del argv[i:i + 2]
        argvs.append(argv + ["--resume", "--out", str(Path(out) / sub) if sub else str(out)])
    return argvs


def run_keys(args):
    """(dataset, rule, seed, key) of every SNN run these arguments ask for; ``key`` is what
    ``--resume`` matches a stored run against."""
    for dataset in [d for d in args.datasets.split(",") if d]:
        cfg = config_for(dataset, args.hidden, args.set)
        sub = dataset != "digits"
        rules = (args.subset_rules or args.rules) if sub else args.rules
        seeds = [int(s) for s in (args.subset_seeds if sub else args.seeds).split(",")]
        st = settings(args, dataset)
        for rule in rules.split(","):
            lr_h = args.lr_hidden if args.lr_hidden is not None else LR_HIDDEN[rule]
            for seed in seeds:
                yield dataset, rule, seed, dict(dataset=dataset, rule=rule, seed=seed, lr_hidden=lr_h,
                                                tag=args.tag or None, layers=list(cfg.layers),
                                                rate_reg=args.rate_reg, set=args.set, **st)


def stored_run(results, key):
    """The stored runs matching ``key`` (see ``run_keys``)."""
    return [r for r in results["runs"] if all(_same(r.get(k), v) for k, v in key.items())]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="digits,mnist,fashion-mnist")
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--subset-rules", default=None, help="rules on mnist/fashion (default: --rules)")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--limit", type=int, default=None, help="digits training samples (default all 1,437)")
    ap.add_argument("--subset-seeds", default="0,1")
    ap.add_argument("--subset-epochs", type=int, default=3)
    ap.add_argument("--subset-limit", type=int, default=10000)
    ap.add_argument("--subset-test-limit", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=None, help="hidden width on mnist/fashion (default 128)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-2, help="Adam learning rate of the output layer")
    ap.add_argument("--lr-hidden", type=float, default=None, help="override LR_HIDDEN for every rule")
    ap.add_argument("--lr-decay", type=float, default=0.9)
    ap.add_argument("--slope", type=float, default=5.0, help="surrogate slope")
    ap.add_argument("--rate-reg", type=float, default=None,
                    help="hidden rate regulariser: delta_i += RATE_REG (n_i - rate_target) (golden: 0.5)")
    ap.add_argument("--tag", default="", help="label of a variant (its rows are kept apart)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", dest="set",
                    help="change a golden Config field of the SNN runs (repeatable; VALUE a Python "
                         "literal such as None, 0.5, 30, else a string), e.g. --set n_steps=100")
    ap.add_argument("--mlp", default="mnist", help="datasets of the MLP anchor ('' to skip)")
    ap.add_argument("--mlp-seeds", default="0")
    ap.add_argument("--mlp-epochs", type=int, default=3)
    ap.add_argument("--mlp-hidden", type=int, default=800)
    ap.add_argument("--golden", choices=("read", "run", "off"), default="read")
    ap.add_argument("--golden-epochs", type=int, default=10)
    ap.add_argument("--resume", action="store_true",
                    help="skip the runs already complete in baselines.json; an SNN run also saves "
                         "a checkpoint after every epoch (OUT/checkpoints/) and its partial result, "
                         "and continues from them")
    ap.add_argument("--progress", type=float, default=0.0, metavar="SECONDS",
                    help="print samples done, rate and ETA every SECONDS during an epoch (0: off)")
    ap.add_argument("--only", choices=("all", "snn", "mlp", "report"), default="all",
                    help="'report' rewrites the tables and plots from baselines.json")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results"))
    ap.add_argument("--protocol", action="store_true",
                    help="run PROTOCOL, every invocation behind docs/results/ (other options ignored)")
    ap.add_argument("--dry-run", action="store_true", help="with --protocol: print the invocations")
    args = ap.parse_args(argv)
    try:
        args.set = parse_sets(args.set)
        for dataset in [d for d in args.datasets.split(",") if d]:
            config_for(dataset, args.hidden, args.set)
    except (ValueError, TypeError) as error:  # ConfigError is a ValueError
        ap.error(f"--set: {error}")
    return args


def parse_sets(items):
    """``--set FIELD=VALUE`` items as a dict of Config fields (None when there are none), parsed
    like ``plasticore train --set`` (``golden.resolve.parse_setting``: JSON, ``None``, else a string).
    Refuses an unknown field or an item without ``=``."""
    fields = {f.name for f in dataclasses.fields(Config)}
    changes = {}
    for item in items:
        try:
            name, value = parse_setting(item)
        except argparse.ArgumentTypeError as error:
            raise ValueError(str(error)) from None
        if name not in fields:
            raise ValueError(f"unknown Config field {name!r}; known: {', '.join(sorted(fields))}")
        changes[name] = value
    return changes or None


#: the digits network of every stored run (docs/results/): 64 hidden neurons, the golden preset
#: until docs/learning.md section 15 widened it to 128 for the chip's per-sample rule
DIGITS_HIDDEN = 64


#: the presets these baselines ran with, before issue 23's rule became the presets: the thesis
#: form at the thesis-era rates, 128 hidden neurons on MNIST-like data (so --protocol reruns
#: and matches the stored runs)
BASELINE_FIELDS = {"digits": THESIS_DIGITS,
                   "mnist": {**THESIS_FORM, "lr_hidden_shift": 17, "lr_output_shift": 8, "lr_schedule": []},
                   "fashion-mnist": {**THESIS_FORM, "lr_hidden_shift": 17, "lr_output_shift": 8,
                                     "lr_schedule": []}}
BASELINE_HIDDEN = 128


def config_for(dataset, hidden=None, changes=None):
    """The golden Config of ``dataset`` (the baselines' preset, ``BASELINE_FIELDS``; ``hidden``
    width, default ``BASELINE_HIDDEN``; digits: ``DIGITS_HIDDEN``) with the ``--set`` changes."""
    hidden = DIGITS_HIDDEN if dataset == "digits" else (hidden or BASELINE_HIDDEN)
    fields = {**BASELINE_FIELDS.get(dataset, {}), **(changes or {})}
    return resolve_config(dataset, hidden=hidden, settings=fields.items())


def settings(args, dataset):
    sub = dataset != "digits"
    return {"epochs": args.subset_epochs if sub else args.epochs,
            "limit": args.subset_limit if sub else args.limit,
            "test_limit": args.subset_test_limit if sub else None,
            "batch": args.batch, "lr": args.lr, "lr_decay": args.lr_decay, "slope": args.slope}


def load_results(path):
    if path.exists():
        return json.loads(path.read_text())
    return {"runs": [], "mlp": [], "golden": [], "memory": None}


def save(results, out):
    (out / "baselines.json").write_text(json.dumps(results, indent=1))


def _same(stored, wanted):
    """Settings match; a run without a tag was stored with tag None or '' (older versions)."""
    return (stored or None) == (wanted or None) if wanted in (None, "") else stored == wanted


def checkpoint_path(out, key):
    """Where a run keeps its per-epoch checkpoint (removed when the run completes)."""
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]
    return out / "checkpoints" / f"{key['dataset']}_{key['rule']}_seed{key['seed']}_{digest}.pt"


def run_snn(args, results, out):
    loaded = {}
    for dataset, rule, seed, key in run_keys(args):
        done = stored_run(results, key)
        if args.resume and done and all(r.get("complete", True) for r in done):
            continue
        if dataset not in loaded:
            loaded[dataset] = datasets.load(dataset), config_for(dataset, args.hidden, args.set)
        data, cfg = loaded[dataset]
        lr_h = key["lr_hidden"]
        print(f"{dataset} {rule} seed {seed} ({key['epochs']} epochs, lr {args.lr}, hidden {lr_h})",
              flush=True)
        extra = dict(n_train=len(data.y_train[:key["limit"]]), n_test=len(data.y_test[:key["test_limit"]]))
        ckpt = checkpoint_path(out, key) if args.resume else None

        def store(r, done=done):
            r = dict(r)
            r.pop("weights", None)
            r.update(key, **extra)
            results["runs"] = [x for x in results["runs"] if x not in done] + [r]
            done[:] = [r]
            save(results, out)

        r = train_rule(rule, cfg, data, seed=seed, epochs=key["epochs"], batch=key["batch"],
                       lr=key["lr"], lr_hidden=lr_h, lr_decay=key["lr_decay"], limit=key["limit"],
                       test_limit=key["test_limit"], slope=key["slope"], rate_reg=args.rate_reg,
                       log=lambda s: print(s, flush=True), checkpoint=ckpt, on_epoch=store,
                       progress=args.progress)
        store(r)
        if ckpt is not None and ckpt.exists():
            ckpt.unlink()


def run_mlp(args, results, out):
    for dataset in [d for d in args.mlp.split(",") if d]:
        data = datasets.load(dataset)
        for method in MLP_METHODS:
            for seed in [int(s) for s in args.mlp_seeds.split(",")]:
                key = dict(dataset=dataset, method=method, seed=seed, epochs=args.mlp_epochs,
                           hidden=args.mlp_hidden)
                done = [r for r in results["mlp"] if all(r.get(k) == v for k, v in key.items())]
                if args.resume and done:
                    continue
                print(f"mlp {dataset} {method} seed {seed}", flush=True)
                r = train_mlp(method, data, seed=seed, epochs=args.mlp_epochs, hidden=args.mlp_hidden,
                              log=lambda s: print(s, flush=True))
                r.update(key)
                results["mlp"] = [x for x in results["mlp"] if x not in done] + [r]
                save(results, out)


def golden_rows(args):
    """The golden model's SFDFA/DFA/readout rows (fixed and float, per-sample online SGD)."""
    if args.golden == "off":
        return []
    if args.golden == "read":
        path = ROOT / "bench" / "results" / "golden.json"
        if not path.exists():
            return []
        data = json.loads(path.read_text())
        rows = []
        for row in data.get("rows", []):
            per_seed = row.get("per_seed", {})
            rows.append({"dataset": row.get("dataset"), "rule": row.get("rule"),
                         "arith": row.get("arithmetic"), "per_seed": per_seed.get("test_accuracy"),
                         "epochs": row.get("epochs"), "n_train": row.get("n_train"),
                         "source": f"bench/results/golden.json ({row.get('epochs')} epochs, "
                                   f"{row.get('n_train')} train, seeds {row.get('seeds')})"})
        return rows
    from plasticore.golden.train import train as gtrain
    rows = []
    for dataset in [d for d in args.datasets.split(",") if d]:
        data = datasets.load(dataset)
        sub = dataset != "digits"
        cfg = config_for(dataset, changes=args.set)
        seeds = [int(s) for s in (args.subset_seeds if sub else args.seeds).split(",")]
        for fixed in (True, False):
            res = gtrain(cfg, data, epochs=args.subset_epochs if sub else args.golden_epochs,
                         seeds=seeds, fixed=fixed, limit=args.subset_limit if sub else args.limit,
                         test_limit=args.subset_test_limit if sub else None, progress=False)
            rows.append({"dataset": dataset, "rule": "sfdfa", "arith": "fixed" if fixed else "float",
                         "per_seed": res.summary()["test_accuracy_per_seed"], "source": "run now"})
    return rows


def _ms(values):
    v = np.asarray(values, dtype=float) * 100
    return f"{v.mean():.1f} ± {v.std():.1f}" if len(v) else "-"


def report(args, results, out, wall):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["# Float baselines on the clocked LIF network", ""]
    cmds = results.get("commands") or [results.get("command", "")]
    lines.append("One command regenerates every run of this directory and the BPTT ceiling directories: "
                 "`python bench/baselines.py --protocol` (`PROTOCOL` in the script; about 4-5 h of one core by the measured per-sample times; "
                 "it resumes, so on these results it only rewrites the reports).")
    lines.append("")
    lines.append("Commands that produced the stored runs (in this order, each adding its runs to baselines.json): "
                 + "; ".join(f"`{c}`" for c in cmds) + ". " + results.get("machine", ""))
    lines.append("")
    integrate = any((r.get("set") or {}).get("output_layer") == "integrate" for r in results["runs"])
    loss = ("loss (Huber spike-count loss; with output_layer = integrate in a section's header, "
            "that section's output_loss on V, docs/baselines.md section 2)" if integrate
            else "Huber spike-count loss")
    lines.append(f"Same network, initial weights (golden seed), TTFS encoding, window and {loss} "
                 "for every rule; Adam, batch "
                 f"{args.batch}, output lr {args.lr}, hidden lr per rule (LR_HIDDEN in the script; "
                 "a row's tag names a changed rate), "
                 f"lr x{args.lr_decay} per epoch. Test accuracy after the last epoch, mean ± std "
                 "over seeds (ddof 0); best: best epoch (peeks at the test set). cos: cosine of the "
                 "rule's estimate with BPTT's surrogate gradient on a fixed probe batch, hidden / "
                 "output layer, averaged over the checkpoints after epoch 1..E and seeds. B-W cos: "
                 "cosine between the last hidden layer's feedback matrix and the output weights "
                 "after the last epoch (weight alignment, thesis 004 Fig. 50), mean over seeds. "
                 "µs/sample: training wall time per sample (machine shared with other jobs). See "
                 "docs/baselines.md.")
    lines.append("")
    runs = results["runs"]
    dsets = [d for d in ("digits", "mnist", "fashion-mnist") if any(r["dataset"] == d for r in runs)]
    golden = results.get("golden") or []
    summary = {}
    for d in dsets:
        rs = [r for r in runs if r["dataset"] == d]
        r0 = rs[0]
        label = (f"{d}: layers {tuple(r0['layers'])}, {r0['n_train']} train / {r0['n_test']} test samples"
                 + (" (a SUBSET)" if d != "digits" and (r0["n_train"] < 60000 or r0["n_test"] < 10000)
                    else " (full)") + f", {r0['epochs']} epochs"
                 + ("".join(f", {k} = {v}" for k, v in r0["set"].items()) if r0.get("set") else ""))
        lines += [f"## {label}", "",
                  "| rule | seeds | test % | best-epoch % | train % | hidden spk/n | cos hidden | cos out | B-W cos | µs/sample | seed paper (context) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        variants = [(rule, tag) for rule in RULES
                    for tag in sorted({r.get("tag") or "" for r in rs if r["rule"] == rule})]
        for rule, tag in variants:
            rr = [r for r in rs if r["rule"] == rule and (r.get("tag") or "") == tag]
            if not rr:
                continue
            tests = [r["test_accuracy"] for r in rr]
            best = [r["best_test_accuracy"] for r in rr]
            train = np.mean([r["history"][-1]["train_accuracy"] for r in rr]) * 100
            spk = np.mean([r["history"][-1]["hidden_spikes_per_neuron"] for r in rr])
            cos = np.array([a["cosine"] for r in rr for a in r["alignment"] if a["epoch"] > 0], dtype=float)
            ch = f"{np.nanmean(cos[:, 0]):.2f}" if len(cos) and not np.all(np.isnan(cos[:, 0])) else "-"
            co = f"{np.nanmean(cos[:, -1]):.2f}" if len(cos) else "1 (ref)"
            us = np.mean([r["seconds_per_sample"] for r in rr]) * 1e6
            wal = [r["weight_alignment"][-1]["cosine"] for r in rr if r.get("weight_alignment")]
            wa = f"{np.mean(wal):.2f}" if wal else "-"
            if not tag:
                summary[(d, rule)] = np.mean(tests)
            name = f"{rule} [{tag}]" if tag else rule
            partial = [r for r in rr if not r.get("complete", True)]
            if partial:
                name += " (unfinished: " + ", ".join(f"{len(r['history'])} of {r['epochs']} epochs"
                                                     for r in partial) + ")"
            lines.append(f"| {name} | {len(rr)} | {_ms(tests)} | {_ms(best)} | {train:.1f} | {spk:.2f} | "
                         f"{ch} | {co} | {wa} | {us:.0f} | {PAPER[rule]} |")
        for g in golden:
            if g["dataset"] == d and g["rule"] == "sfdfa" and g["per_seed"]:
                lines.append(f"| golden sfdfa ({g['arith']}, per-sample SGD) | {len(g['per_seed'])} | "
                             f"{_ms(g['per_seed'])} | | | | | | | | {g['source']} |")
        lines.append("")
        checks = []
        if (d, "sfdfa") in summary and (d, "dfa") in summary:
            diff = (summary[(d, "sfdfa")] - summary[(d, "dfa")]) * 100
            by_seed = {r["seed"]: r["test_accuracy"] for r in rs if r["rule"] == "dfa" and not r.get("tag")}
            paired = [(r["test_accuracy"] - by_seed[r["seed"]]) * 100 for r in rs
                      if r["rule"] == "sfdfa" and not r.get("tag") and r["seed"] in by_seed]
            checks.append(f"SFDFA - DFA (torch float, mean): {diff:+.1f} points "
                          f"({'target met' if diff > 0 else 'target NOT met'}); paired by seed "
                          f"{np.mean(paired):+.1f} ± {np.std(paired):.1f} over {len(paired)} seed(s)")
        if (d, "bptt") in summary and (d, "readout") in summary:
            checks.append(f"BPTT - readout (what training the hidden layer can add in this network): "
                          f"{(summary[(d, 'bptt')] - summary[(d, 'readout')]) * 100:+.1f} points")
        gf = [g for g in golden if g["dataset"] == d and g["rule"] == "sfdfa" and g["arith"] == "fixed" and g["per_seed"]]
        if gf and (d, "sfdfa") in summary:
            diff = (np.mean(gf[0]["per_seed"]) - summary[(d, "sfdfa")]) * 100
            checks.append(f"golden fixed-point SFDFA - torch float SFDFA: {diff:+.1f} points "
                          f"({'within' if abs(diff) <= 1.5 else 'NOT within'} 1.5; different optimiser "
                          "and seed count, see docs/baselines.md)")
        gfl = [g for g in golden if g["dataset"] == d and g["rule"] == "sfdfa" and g["arith"] == "float" and g["per_seed"]]
        if gf and gfl:
            diff = (np.mean(gf[0]["per_seed"]) - np.mean(gfl[0]["per_seed"])) * 100
            checks.append(f"golden fixed-point SFDFA - golden float SFDFA (same protocol): {diff:+.1f} points")
        lines += [f"- {c}" for c in checks] + [""]
        _plot_curves(plt, rs, d, out)
        _plot_alignment(plt, rs, d, out)
        _plot_weight_alignment(plt, rs, d, out)
    if results.get("mlp"):
        lines += ["## Non-spiking anchor: 784-800-10 ReLU MLP, softmax cross-entropy, Adam lr 1e-3, batch 100", "",
                  "| dataset | method | seeds | epochs | test % | thesis 004 Table 14 (100 epochs) |", "|---|---|---|---|---|---|"]
        for d in sorted({m["dataset"] for m in results["mlp"]}):
            for method, epochs in [(m, e) for m in MLP_METHODS
                                   for e in sorted({x["epochs"] for x in results["mlp"]})]:
                mm = [m for m in results["mlp"] if m["dataset"] == d and m["method"] == method
                      and m["epochs"] == epochs]
                if mm:
                    paper = MLP_PAPER[method][0 if d == "mnist" else 1]
                    lines.append(f"| {d} | {method} | {len(mm)} | {mm[0]['epochs']} | "
                                 f"{_ms([m['test_accuracy'] for m in mm])} | {paper} |")
        lines.append("")
    mem = results.get("memory")
    if mem:
        lines += memory.markdown(mem)
        memory.plot(plt, mem, out / "memory.png")
    lines.append(f"Wall time of the producing run: {wall / 60:.1f} min.")
    (out / "baselines.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _color(rule):
    return f"C{RULES.index(rule)}"


def _plot_curves(plt, rs, d, out):
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule in RULES:
        rr = [r for r in rs if r["rule"] == rule and not r.get("tag")]
        if not rr:
            continue
        acc = np.array([[h["test_accuracy"] for h in r["history"]] for r in rr]) * 100
        ep = np.arange(1, acc.shape[1] + 1)
        ax.plot(ep, acc.mean(0), marker="o", ms=3, label=rule, color=_color(rule))
        ax.fill_between(ep, acc.mean(0) - acc.std(0), acc.mean(0) + acc.std(0), alpha=0.15,
                        color=_color(rule))
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy %")
    ax.set_title(f"{d}: test accuracy (mean ± std over seeds)")
    ax.legend(fontsize=8, ncol=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / f"accuracy_{d}.png", dpi=110)
    plt.close(fig)


def _plot_alignment(plt, rs, d, out):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for rule in RULES:
        rr = [r for r in rs if r["rule"] == rule and r["alignment"] and not r.get("tag")]
        if not rr:
            continue
        cos = np.array([[a["cosine"] for a in r["alignment"]] for r in rr], dtype=float)  # seeds, ckpt, layers
        ep = [a["epoch"] for a in rr[0]["alignment"]]
        for k, ax in enumerate(axes):
            layer = 0 if k == 0 else -1
            if not np.all(np.isnan(cos[:, :, layer])):
                ax.plot(ep, np.nanmean(cos[:, :, layer], 0), marker="o", ms=3, label=rule,
                        color=_color(rule))
    for ax, name in zip(axes, ("hidden layer", "output layer")):
        ax.set_title(f"{d}: cos(rule, BPTT), {name}")
        ax.set_xlabel("epoch (0 = before training)")
        ax.axhline(0, color="k", lw=0.5)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("cosine")
    axes[0].legend(fontsize=8, ncol=2)
    axes[1].legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(out / f"alignment_{d}.png", dpi=110)
    plt.close(fig)


def _plot_weight_alignment(plt, rs, d, out):
    """cos(B, W_out) of the last hidden layer over training, per rule with a feedback matrix."""
    rows = [(rule, [r for r in rs if r["rule"] == rule and r.get("weight_alignment") and not r.get("tag")])
            for rule in RULES]
    rows = [(rule, rr) for rule, rr in rows if rr]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rule, rr in rows:
        n = min(len(r["weight_alignment"]) for r in rr)
        cos = np.array([[a["cosine"] for a in r["weight_alignment"][:n]] for r in rr])
        ep = [a["epoch"] for a in rr[0]["weight_alignment"][:n]]
        ax.plot(ep, cos.mean(0), marker="o", ms=3, label=f"{rule} ({len(rr)} seeds)", color=_color(rule))
        ax.fill_between(ep, cos.min(0), cos.max(0), alpha=0.15, color=_color(rule))
    ax.set_title(f"{d}: weight alignment cos(B, W_out), last hidden layer")
    ax.set_xlabel("epoch (0 = before training)")
    ax.set_ylabel("cosine (mean; band: min-max over seeds)")
    ax.axhline(0, color="k", lw=0.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"weight_alignment_{d}.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    if args.protocol:
        for sub_argv in protocol_argvs(args.out):
            print("python bench/baselines.py " + shlex.join(sub_argv), flush=True)
            if not args.dry_run:
                main(sub_argv)
        return
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = load_results(out / "baselines.json")
    started = time.time()
    cmd = "python bench/baselines.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    if args.only != "report":
        results["command"] = cmd
        results["commands"] = [c for c in results.get("commands", []) if c != cmd] + [cmd]
    results["machine"] = (f"{os.cpu_count()} CPU(s), {platform.platform()}, torch {torch.__version__}, "
                          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    if args.only in ("all", "snn"):
        run_snn(args, results, out)
    if args.only in ("all", "mlp"):
        run_mlp(args, results, out)
    if args.only != "report" or not results.get("memory"):
        results["memory"] = memory.measure()
    if args.only != "report" or not results.get("golden"):
        results["golden"] = golden_rows(args)
    wall = time.time() - started + results.get("wall_seconds_before", 0.0)
    if args.only != "report":
        results["wall_seconds_before"] = wall
    save(results, out)
    report(args, results, out, wall)


if __name__ == "__main__":
    main()
