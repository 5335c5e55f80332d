#!/usr/bin/env python
"""Where ``make train``'s time goes on the simulated board: the clocks of each of its parts and
the Verilated model's speed, per kind of core, the reference kind (pipelined) as the baseline.

Run it as a script (``bench`` is not a package)::

    python bench/train_budget.py                    # compact and pipelined, 100 samples each
    python bench/train_budget.py --kinds compact --samples 40

For each kind, four fresh simulated boards (``--target sim``'s network: the digits preset,
64-128-10, at 3 Mbaud) each do one part of a ``plasticore train`` run after writing the initial
parameters: nothing more (WRITE), reading the parameters back (READ), ``--samples`` training
samples (EVENTS + LEARN + V_o), ``--samples`` test samples (EVENTS + COUNTS + the hidden counts +
V_o, as the end of an epoch evaluates). The board counts its clocks; each part's clocks are its
board's less the WRITE board's. **Mclk per CPU-s** is the board process's clocks per second of
CPU time (``getrusage`` of the child: less sensitive to a shared machine's load than wall time).
The projection multiplies the parts by ``make train``'s counts (5 epochs of 1,437 training and
360 test digits, one write, six reads) and divides by the measured speed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time

import serial

from plasticore.chip.boardspec import REFERENCE_KIND, SIMULATED_KIND, BoardSpec
from plasticore.chip.cycles import CORE_KINDS
from plasticore.golden import datasets
from plasticore.golden.network import Network
from plasticore.golden.presets import dataset_epochs
from plasticore.golden.resolve import resolve_config
from plasticore.host.board import LinkBoard
from plasticore.host.samples import PixelSamples
from plasticore.host.simboard import DEFAULT_BAUD, SimulatedBoard

PARTS = ("write", "read", "train", "test")


def make_train_counts(data) -> dict:
    """How often ``make train`` (digits, the preset's epochs) does each part: one parameter
    write, a read at the end of every epoch and one at the end, every sample every epoch."""
    epochs = dataset_epochs("digits")
    return {"write": 1, "read": epochs + 1, "train": epochs * len(data.y_train),
            "test": epochs * len(data.y_test)}


def run_part(config, kind: str, part: str, samples) -> dict:
    """One fresh board: write the initial parameters, then ``part``; its clocks, bytes, CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    sim = SimulatedBoard(BoardSpec(config, core=kind, baud=DEFAULT_BAUD))
    board = LinkBoard(serial.Serial(sim.port, timeout=60), config, name=f"sim-{kind}")
    try:
        board.write_params(*Network.initial_weights(config, 0))
        if part == "read":
            board.read_params()
        elif part in ("train", "test"):
            for raster, label in samples:
                board.stream_one((raster, label if part == "train" else None),
                                 lambda counts, hidden: None, hidden=part == "test")
        board.drain()
    finally:
        board.close()
        sim.close()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    stats = sim.stats()
    return {"cycles": stats["cycles"], "cpu_s": cpu, "bytes_out": stats["bytes_out"]}


def measure(config, kind: str, samples, counts: dict) -> dict:
    runs = {part: run_part(config, kind, part, samples) for part in PARTS}
    base = runs["write"]["cycles"]
    n = len(samples)
    clocks = {"write": base, "read": runs["read"]["cycles"] - base,
              "train": (runs["train"]["cycles"] - base) / n,
              "test": (runs["test"]["cycles"] - base) / n}
    speed = sum(r["cycles"] for r in runs.values()) / sum(r["cpu_s"] for r in runs.values())
    total = sum(clocks[p] * counts[p] for p in PARTS)
    test_bytes = runs["test"]["bytes_out"] - runs["write"]["bytes_out"]
    return {"kind": kind, "clocks": clocks, "mclk_per_cpu_s": speed / 1e6,
            "make_train_clocks": total, "make_train_cpu_s": total / speed,
            "bytes_out_per_test_sample": test_bytes / n}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=f"{SIMULATED_KIND},{REFERENCE_KIND}",
                        help=f"comma-separated kinds of core, from {', '.join(CORE_KINDS)}; the "
                             f"ratio column is against {REFERENCE_KIND} when it is measured")
    parser.add_argument("--samples", type=int, default=100,
                        help="training and test samples per kind")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    for kind in kinds:
        if kind not in CORE_KINDS:
            parser.error(f"unknown kind {kind!r}: expected one of {', '.join(CORE_KINDS)}")
    config = resolve_config("digits", rule="sfdfa")
    data = datasets.load("digits")
    pixels = PixelSamples(config, data.x_train[:args.samples], data.y_train[:args.samples])
    samples = [(pixels.raster(i), int(pixels.labels[i])) for i in range(len(pixels))]
    counts = make_train_counts(data)
    started = time.perf_counter()
    rows = []
    for kind in kinds:
        print(f"measuring the {kind} core ({args.samples} samples per part)...", file=sys.stderr)
        rows.append(measure(config, kind, samples, counts))
    base = next((r for r in rows if r["kind"] == REFERENCE_KIND), None)
    print(f"\n`make train`'s network {list(config.layers)}, 3 Mbaud at 12 MHz; clocks per part, "
          f"projected to make train's counts {counts}:\n")
    print("| kind | write | read | train sample | test sample | make train Mclk | Mclk per CPU-s "
          f"| make train CPU s | speed vs {REFERENCE_KIND} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        c = r["clocks"]
        ratio = f"{base['make_train_cpu_s'] / r['make_train_cpu_s']:.2f}x" if base else "-"
        print(f"| {r['kind']} | {c['write']:,.0f} | {c['read']:,.0f} | {c['train']:,.0f} "
              f"| {c['test']:,.0f} | {r['make_train_clocks'] / 1e6:,.0f} "
              f"| {r['mclk_per_cpu_s']:.2f} | {r['make_train_cpu_s']:,.0f} | {ratio} |")
    for r in rows:
        print(f"\n{r['kind']}: a test sample sends {r['bytes_out_per_test_sample']:,.0f} bytes "
              f"back (the hidden counts as STATE words); parts of make train's clocks: "
              + ", ".join(f"{p} {100 * r['clocks'][p] * counts[p] / r['make_train_clocks']:.0f} %"
                          for p in PARTS))
    print(f"\n{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
