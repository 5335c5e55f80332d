#!/usr/bin/env python
"""Issue 24: the thesis's MNIST setting at its own scale (784-800-10) on the event-driven float
trainer (baselines/event_net.py), four arms, resumable.

The setting is the authors' public code's (Florian-BACHO/SFDFA experiments/MNIST/train_fc.py, whose
per-seed results are the thesis's Table 17 row): 200 ms simulated, TTFS over the first 100 ms
(``t = 0.1 (1 - p/255)`` s, ``p = 0`` no spike), tau_s = 130 ms, tau = 2 tau_s, thresholds
0.2 / 0.7 divided by tau, at most 30 spikes per neuron, U(-1, 1) weights, spike-count MSE with
targets 15 / 3, Adam 3e-3, batch 50, feedback from zero by gradient descent at 1e-4, rate
regulariser 0.1 toward 0.2 spikes per neuron (batch mean), 30 epochs; best and final test epoch.

Arms: ``sfdfa`` (thesis form: projected error plus regulariser, Eq. 166), ``sfdfa-code`` (the
public code: the regulariser replaces the hidden error), ``dfa`` (fixed U(-1, 1) feedback),
``readout`` (hidden layer frozen). Each run ends with a linear probe (logistic regression on
standardised hidden spike counts) of its hidden layer, and of the initial random layer.

Every epoch writes ``<out>/<arm>_seed<seed>/epoch_NNN.json``, ``checkpoint.npz`` and
``summary.json``; the same command started again resumes after the last finished epoch.

Usage (CPU discipline on the shared machine: nice, one thread)::

    NUMBA_NUM_THREADS=1 nice -n 15 .venv/bin/python experiments/event_mnist.py \\
        --arm sfdfa --seed 0 --epochs 30
    .venv/bin/python experiments/event_mnist.py --table        # the table from the summaries
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from plasticore.baselines import event_net
from plasticore.golden import datasets

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "runs" / "event_mnist"


def table(out: Path) -> str:
    rows = ["| arm | seed | epochs | train samples | best test % (epoch) | final test % | "
            "probe initial % | probe final % | hidden rate (test) |",
            "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(out.glob("*/summary.json")):
        s = json.loads(path.read_text())
        if not s.get("history"):
            continue
        last = s["history"][-1]
        init = (s.get("initial_probe") or {}).get("probe")
        fin = s.get("final_probe")
        rows.append(
            f"| {s['arm']} | {s['seed']} | {len(s['history'])}/{s['epochs']} | "
            f"{s['train_samples']} | {100 * s['best_test_accuracy']:.2f} ({s['best_epoch']}) | "
            f"{100 * s['final_test_accuracy']:.2f} | "
            f"{'-' if init is None else f'{100 * init:.2f}'} | "
            f"{'-' if fin is None else f'{100 * fin:.2f}'} | "
            f"{last['test_hidden_rate'][0]:.3f} |")
    return "\n".join(rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--arm", choices=event_net.ARMS, default="sfdfa")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--train-limit", type=int, default=None, help="first N training samples")
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--probe", choices=("last", "every", "none"), default="last")
    p.add_argument("--probe-limit", type=int, default=None,
                   help="training samples the probe is fitted on (default: all used)")
    p.add_argument("--hidden", type=int, default=800)
    p.add_argument("--gradient", choices=("bounded", "exact"), default="bounded")
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--tag", default="", help="suffix of the run folder")
    p.add_argument("--backend", choices=event_net.BACKENDS, default="auto")
    p.add_argument("--log-every", type=int, default=20, help="batches between progress lines")
    p.add_argument("--table", action="store_true", help="only print the table of --out")
    args = p.parse_args(argv)
    if args.table:
        print(table(args.out))
        return 0
    setting = dataclasses.replace(event_net.EventSetting(), hidden=(args.hidden,),
                                  gradient=args.gradient)
    data = datasets.load(args.dataset)
    run_dir = args.out / f"{args.arm}_seed{args.seed}{args.tag}"
    print(f"{args.arm} seed {args.seed}: {run_dir}", flush=True)
    result = event_net.train(data, arm=args.arm, seed=args.seed, epochs=args.epochs,
                             setting=setting, out_dir=run_dir, train_limit=args.train_limit,
                             test_limit=args.test_limit, probe=args.probe,
                             probe_limit=args.probe_limit, backend=args.backend,
                             log=lambda m: print(m, flush=True), log_every=args.log_every)
    print(f"best test {100 * result['best_test_accuracy']:.2f} % (epoch {result['best_epoch']}), "
          f"final {100 * result['final_test_accuracy']:.2f} %", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
