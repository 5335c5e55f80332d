"""Train on the golden model with learning rates that change between epochs (issue 7).

The host writes a new learning-rate shift between epochs; everything else carries over: weights,
feedback, both LFSR states, the sticky flags and the sample order (the same as ``plasticore
train``). The schedule is given as ``EPOCH:SHIFT`` pairs, the shift holding from that epoch on:
``--hidden 1:13,5:14,8:15`` is 13 in epochs 1-4, 14 in epochs 5-7, 15 in epochs 8-10.

How: the schedule becomes the configuration's ``lr_schedule`` (since that field exists; this
script predates it and gave the network the next epoch's Config from an ``on_epoch`` hook, the
same computation), and the run *is* :func:`plasticore.golden.train.train`, so the sample order,
evaluation and records are the CLI's. ``plasticore train --set 'lr_schedule=[[5, 15, 8]]'`` is
the same run without this script; on a board the host writes each epoch's rates (``RATES``).

Check (mandatory before trusting a schedule): a constant schedule must reproduce ``plasticore
train`` exactly; ``--check`` runs both on a small subset and compares every history entry.

Usage (from the repository root)::

    .venv/bin/python experiments/lr_schedule.py --rule sfdfa --epochs 10 --seeds 0,1,2 \
        --hidden 1:13,5:14,8:15 --json docs/results/learning/sched_h13-15.json
    .venv/bin/python experiments/lr_schedule.py --check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from plasticore.golden import datasets
from plasticore.golden import train as golden_train
from plasticore.golden.config import Config
from plasticore.golden.resolve import resolve_config
from plasticore.host import cli

from expkit import experiment_parser

ROOT = Path(__file__).resolve().parents[1]


def parse_schedule(text: str | None) -> dict[int, int]:
    """``"1:13,5:14"`` -> {1: 13, 5: 14}; empty for None."""
    if not text:
        return {}
    pairs = {}
    for item in text.split(","):
        epoch, _, shift = item.partition(":")
        pairs[int(epoch)] = int(shift)
    if pairs and 1 not in pairs:
        raise ValueError(f"schedule {text!r} must start at epoch 1")
    return pairs


def shift_at(schedule: dict[int, int], epoch: int, default: int) -> int:
    """The shift in force in ``epoch`` (1-based)."""
    starts = [e for e in schedule if e <= epoch]
    return schedule[max(starts)] if starts else default


def config_at(base: Config, epoch: int, hidden: dict[int, int], output: dict[int, int]) -> Config:
    return base.replace(lr_hidden_shift=shift_at(hidden, epoch, base.lr_hidden_shift),
                        lr_output_shift=shift_at(output, epoch, base.lr_output_shift))


def scheduled_config(base: Config, hidden: dict[int, int], output: dict[int, int]) -> Config:
    """``base`` with epoch 1's rates and the later changes as ``Config.lr_schedule`` entries."""
    first = config_at(base, 1, hidden, output)
    starts = sorted(e for e in set(hidden) | set(output) if e > 1)
    entries = [[e, *config_at(base, e, hidden, output).rates_at(1)] for e in starts]
    return first.replace(lr_schedule=entries)


def train_scheduled(base: Config, data, *, epochs: int, seeds, hidden: dict[int, int],
                    output: dict[int, int], fixed: bool = True, limit=None, test_limit=None,
                    progress: bool = False):
    """golden.train.train with the learning-rate shifts of ``hidden``/``output`` per epoch, as the
    configuration's ``lr_schedule``. Returns (TrainResult, the shifts used per epoch)."""
    result = golden_train.train(scheduled_config(base, hidden, output), data, epochs=epochs,
                                seeds=seeds, fixed=fixed, limit=limit, test_limit=test_limit,
                                progress=progress)
    used = [{"epoch": h["epoch"], "lr_hidden_shift": h["lr_hidden_shift"],
             "lr_output_shift": h["lr_output_shift"]} for h in result.history]
    return result, used


def run(args, argv) -> dict:
    base = resolve_config(args.dataset, hidden=args.hidden_size,
                              settings=args.settings, rule=args.rule)
    hidden, output = parse_schedule(args.hidden), parse_schedule(args.output)
    data = datasets.load(args.dataset)
    started = time.perf_counter()
    result, used = train_scheduled(base, data, epochs=args.epochs, seeds=args.seeds, hidden=hidden,
                                   output=output, fixed=not args.float, limit=args.limit,
                                   test_limit=args.test_limit, progress=not args.quiet)
    elapsed = time.perf_counter() - started
    # the same record as `plasticore train --json`, plus the schedule
    ns = argparse.Namespace(dataset=args.dataset, target="golden", epochs=args.epochs,
                            limit=args.limit, test_limit=args.test_limit)
    record = cli._run_record(ns, argv, result.config, result, seeds=args.seeds, fixed=not args.float,
                             n_train=len(data.y_train[:args.limit]),
                             n_test=len(data.y_test[:args.test_limit]), elapsed=elapsed)
    record["command"] = ["python", "experiments/lr_schedule.py", *argv]
    record["schedule"] = {"hidden": args.hidden, "output": args.output, "per_epoch": used}
    return record


def check(args) -> int:
    """A constant schedule (reapplied after every epoch) must equal `plasticore train` exactly;
    a changing one must equal it in epoch 1 and differ afterwards."""
    common = ["--dataset", "digits", "--rule", "sfdfa", "--epochs", "3", "--seeds", "0,1",
              "--limit", "300", "--test-limit", "120", "--set", "lr_hidden_shift=13"]
    with tempfile.TemporaryDirectory() as tmp:
        cli_json = Path(tmp) / "cli.json"
        subprocess.run([str(ROOT / ".venv/bin/plasticore"), "train", *common, "--json", str(cli_json),
                        "--quiet"], check=True, stdout=subprocess.DEVNULL)
        plain = json.loads(cli_json.read_text())
    parser = build_parser()
    ok = True
    for label, hidden, expect_same in (("constant 1:13", "1:13", True),
                                       ("changing 1:13,2:9", "1:13,2:9", False)):
        argv = [*common, "--hidden", hidden, "--quiet"]
        record = run(parser.parse_args(argv), argv)
        keys = ("train_accuracy", "test_accuracy", "hidden_spikes_per_neuron", "feedback_alignment",
                "overflow")
        same = [all(a[k] == b[k] for k in keys) for a, b in zip(plain["history"], record["history"])]
        print(f"{label}: epochs identical to plasticore train: {same}")
        for a, b in zip(plain["history"], record["history"]):
            print(f"  epoch {a['epoch']}: cli test {a['test_accuracy']} / schedule test "
                  f"{b['test_accuracy']} (shift {b['lr_hidden_shift']})")
        good = all(same) if expect_same else (same[0] and not all(same[1:]))
        ok &= good
        print(f"  -> {'PASS' if good else 'FAIL'}")
    return 0 if ok else 1


def build_parser():
    p = experiment_parser(__doc__.split("\n\n")[0], epochs=10)
    p.add_argument("--hidden", help="schedule of lr_hidden_shift, EPOCH:SHIFT,... (default: constant)")
    p.add_argument("--output", help="schedule of lr_output_shift, EPOCH:SHIFT,... (default: constant)")
    p.add_argument("--check", action="store_true", help="run the reproduction check and exit")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.check:
        return check(args)
    record = run(args, argv)
    if args.json:
        cli._write_json(args.json, record)
    print(cli._summary_text(record, [], args.json))
    print("schedule:", [(u["epoch"], u["lr_hidden_shift"], u["lr_output_shift"])
                        for u in record["schedule"]["per_epoch"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
