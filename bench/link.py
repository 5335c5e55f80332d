#!/usr/bin/env python
"""Link benchmark: the simulated board (Verilated ``rtl/top.py`` on a pseudo-terminal) trained on
real digits over the link protocol at several UART rates, against the line-rate ideal.

Run it as a script (``bench`` is not a package)::

    python bench/link.py                          # three rates, the digits core (64, 64, 10)
    python bench/link.py --samples 20 --divisors 4,104

For each clock divisor (clocks per UART bit at the simulated 12 MHz clock; one Verilator build
each, cached) the host streams ``--samples`` TTFS-encoded training digits with their labels
(EVENTS + LEARN, pipelined within the board's receive window, exactly as ``plasticore train
--target sim`` does) and the board reports its simulated clock cycles when it stops.

* **codes**: event codes sent (SAMPLE, spikes, STEPs); **bytes/code**: every byte the host sent
  (COBS, seq, op, CRC, LEARN frames included) per code; the encoding's floor is ``event_bytes``.
* **events/s**: codes per simulated second (cycles / 12 MHz); **ideal**: the line rate in codes,
  ``baud / 10 / event_bytes`` (8N1: 10 bits per byte); **link %** = events/s / ideal. At low rates
  the wire is the bottleneck and this is the protocol's efficiency; at high rates the core's step
  time is (the cycles/sample column says how many clocks a sample costs; the core's share is in
  ``bench/rtl.py``).
* **samples/s**: in simulated time (what a board at this clock and rate would do) and in wall time
  (what the simulation does on this machine); **Mcyc/s**: Verilator's speed.

The baseline in the same run is the in-process golden model (``GoldenBoard``) on the same
samples: the wall-time ratio says what the real RTL behind the real protocol costs over it.

Writes ``DIR/link.json`` and ``DIR/link.md`` to ``--out`` (default ``bench/results/``).
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
import serial

from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.train import encode_images
from plasticore.chip import protocol as P
from plasticore.chip.boardspec import SIMULATED_KIND, BoardSpec
from plasticore.chip.cycles import CORE_KINDS
from plasticore.host.board import GoldenBoard, LinkBoard
from plasticore.host.simboard import DEFAULT_CLK_HZ, SimulatedBoard

ROOT = Path(__file__).resolve().parents[1]


def samples_of(config: Config, n: int):
    data = datasets.load("digits")
    rasters = encode_images(config, data.x_train[:n])
    return [(rasters[k], int(data.y_train[k])) for k in range(n)]


def run_sim(config: Config, divisor: int, samples, log, kind: str = SIMULATED_KIND) -> dict:
    baud = DEFAULT_CLK_HZ // divisor
    sim = SimulatedBoard(BoardSpec(config, core=kind, clk_hz=DEFAULT_CLK_HZ, baud=baud), log=log)
    board = LinkBoard(serial.Serial(sim.port, timeout=30), config, name=f"sim@{baud}")
    try:
        start_sent = board.bytes_sent
        t0 = time.perf_counter()
        counts = list(board.run_samples(samples))
        wall = time.perf_counter() - t0
        sent = board.bytes_sent - start_sent
        window = board.max_outstanding
    finally:
        board.close()
        sim.close()
    stats = sim.stats()
    eb = P.event_bytes(config.n_inputs)
    codes = sum(len(P.sample_codes(raster, eb)) for raster, _ in samples)
    seconds = stats["cycles"] / DEFAULT_CLK_HZ
    ideal = baud / 10 / eb
    return {"divisor": divisor, "baud": baud, "samples": len(samples), "codes": codes,
            "bytes_sent": sent, "bytes_per_code": sent / codes, "event_bytes": eb,
            "cycles": stats["cycles"], "cycles_per_sample": stats["cycles"] / len(samples),
            "sim_seconds": seconds, "events_per_s": codes / seconds, "ideal_events_per_s": ideal,
            "link_fraction": codes / seconds / ideal, "samples_per_s_sim": len(samples) / seconds,
            "samples_per_s_wall": len(samples) / wall, "wall_s": wall,
            "mcycles_per_s": stats["cycles"] / stats["seconds"] / 1e6,
            "max_outstanding_bytes": window, "counts_first": [int(c) for c in counts[0]]}


def run_stream(config: Config, divisor: int, samples, log, kind: str = SIMULATED_KIND) -> dict:
    """Pure event streaming: the samples' codes back to back in full EVENTS frames (252 codes
    each, samples spanning frames), no LEARN, pipelined within the window."""
    baud = DEFAULT_CLK_HZ // divisor
    eb = P.event_bytes(config.n_inputs)
    codes = np.concatenate([P.sample_codes(raster, eb) for raster, _ in samples])
    bodies = P.event_frames(codes, eb)
    sim = SimulatedBoard(BoardSpec(config, core=kind, clk_hz=DEFAULT_CLK_HZ, baud=baud), log=log)
    port = serial.Serial(sim.port, timeout=30)
    try:
        reader = P.FrameReader()
        port.write(b"\x00" + P.encode_frame(0, P.Op.IDENTIFY))
        replies = []
        while not replies:
            replies += reader.feed(port.read(1) + port.read(port.in_waiting))
        window = P.Identity.unpack(replies[0].body).rx_window
        in_flight, sent, answered = [], 0, 0
        t0 = time.perf_counter()
        for k, body in enumerate(bodies):
            wire = P.encode_frame((k + 1) & 0xFF, P.Op.EVENTS, body)
            while sum(in_flight) + len(wire) > window:
                for item in reader.feed(port.read(1) + port.read(port.in_waiting)):
                    if not isinstance(item, P.Frame) or item.op != P.Op.EVENTS | P.REPLY:
                        raise SystemExit(f"streaming: unexpected reply {item}")
                    in_flight.pop(0)
                    answered += 1
            port.write(wire)
            in_flight.append(len(wire))
            sent += len(wire)
        while answered < len(bodies):
            for item in reader.feed(port.read(1) + port.read(port.in_waiting)):
                in_flight.pop(0)
                answered += 1
        wall = time.perf_counter() - t0
    finally:
        port.close()
        sim.close()
    stats = sim.stats()
    seconds = stats["cycles"] / DEFAULT_CLK_HZ
    ideal = baud / 10 / eb
    return {"divisor": divisor, "baud": baud, "samples": len(samples), "codes": int(len(codes)),
            "frames": len(bodies), "bytes_sent": sent, "bytes_per_code": sent / len(codes),
            "sim_seconds": seconds, "events_per_s": len(codes) / seconds,
            "ideal_events_per_s": ideal, "link_fraction": len(codes) / seconds / ideal,
            "wall_s": wall, "mcycles_per_s": stats["cycles"] / stats["seconds"] / 1e6}


def run_golden(config: Config, samples) -> dict:
    board = GoldenBoard(config)
    t0 = time.perf_counter()
    counts = list(board.run_samples(samples))
    wall = time.perf_counter() - t0
    return {"samples_per_s_wall": len(samples) / wall, "wall_s": wall,
            "counts_first": [int(c) for c in counts[0]]}


def stream_table(rows) -> str:
    lines = ["| baud | div | codes | frames | bytes/code | events/s (sim) | ideal | link % | Mcyc/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['baud']:,} | {r['divisor']} | {r['codes']:,} | {r['frames']} "
                     f"| {r['bytes_per_code']:.3f} | {r['events_per_s']:,.0f} "
                     f"| {r['ideal_events_per_s']:,.0f} | {100 * r['link_fraction']:.1f} "
                     f"| {r['mcycles_per_s']:.2f} |")
    return "\n".join(lines)


def table(rows, golden) -> str:
    lines = ["| baud | div | samples | bytes/code | events/s (sim) | ideal | link % | cycles/sample "
             "| samples/s (sim) | samples/s (wall) | Mcyc/s | vs golden (wall) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['baud']:,} | {r['divisor']} | {r['samples']} | {r['bytes_per_code']:.3f} "
                     f"| {r['events_per_s']:,.0f} | {r['ideal_events_per_s']:,.0f} "
                     f"| {100 * r['link_fraction']:.1f} | {r['cycles_per_sample']:,.0f} "
                     f"| {r['samples_per_s_sim']:,.1f} | {r['samples_per_s_wall']:.1f} "
                     f"| {r['mcycles_per_s']:.2f} | {r['samples_per_s_wall'] / golden['samples_per_s_wall']:.2f}x |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--divisors", default="104,16,4",
                        help="clocks per UART bit at 12 MHz, comma separated (104 = 115200 baud)")
    parser.add_argument("--samples", type=int, default=0,
                        help="digits per rate (default: 40 at divisor >= 50, 150 below)")
    parser.add_argument("--kind", choices=CORE_KINDS, default=SIMULATED_KIND,
                        help=f"the kind of core simulated (default: {SIMULATED_KIND}, the one "
                             f"`plasticore train --target sim` runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    config = Config()
    divisors = [int(d) for d in args.divisors.split(",")]
    started = time.perf_counter()
    most = args.samples or 150
    samples = samples_of(config, most)
    golden = run_golden(config, samples)
    rows, streams = [], []
    for divisor in divisors:
        n = args.samples or (40 if divisor >= 50 else 150)
        row = run_sim(config, divisor, samples[:n], log=lambda m: print(m, file=sys.stderr),
                      kind=args.kind)
        if row["counts_first"] != golden["counts_first"]:
            raise SystemExit(f"the simulated board's first output counts {row['counts_first']} differ "
                             f"from the golden model's {golden['counts_first']}")
        rows.append(row)
        streams.append(run_stream(config, divisor, samples[:n], log=lambda m: print(m, file=sys.stderr),
                                  kind=args.kind))
        print(f"divisor {divisor}: streaming at {100 * streams[-1]['link_fraction']:.1f} % of the "
              f"line rate", file=sys.stderr)
        print(f"divisor {divisor}: {row['samples_per_s_wall']:.1f} samples/s wall, "
              f"link {100 * row['link_fraction']:.1f} % of the line rate", file=sys.stderr)
    text = ("Streaming (EVENTS only, full frames):\n\n" + stream_table(streams)
            + "\n\nTraining (EVENTS + LEARN per sample, as `plasticore train --target sim`):\n\n"
            + table(rows, golden))
    print(text)
    print(f"\ngolden in-process baseline: {golden['samples_per_s_wall']:.1f} samples/s")
    record = {"command": " ".join(["python", "bench/link.py"] + [shlex.quote(a) for a in (argv or sys.argv[1:])]),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": platform.platform(), "config_hash": config.hash, "clk_hz": DEFAULT_CLK_HZ,
              "kind": args.kind,
              "rows": rows, "streaming": streams, "golden": golden, "wall_s": time.perf_counter() - started}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "link.json").write_text(json.dumps(record, indent=1) + "\n")
    (args.out / "link.md").write_text(
        f"# Link benchmark\n\n`{record['command']}` on {record['date']} ({record['machine']}), "
        f"{record['wall_s']:.0f} s, the {args.kind} core.\n\n{text}\n\nGolden in-process baseline: "
        f"{golden['samples_per_s_wall']:.1f} samples/s on the same digits.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
