# amaranth: UnusedElaboratable=no
"""Where a board's logic goes: synthesis only (no placement), cells attributed to the register
or memory they are named after, largest first.

    python -m plasticore.boards.area icebreaker [--config FILE] [--out DIR] [--top N]

It runs the board's own yosys script (``platform.build(..., do_build=False)``, as
``plasticore build`` does, flattened) and reads the netlist JSON. Yosys names a mapped cell after
the net it drives, and a cell deeper in a cone after the cell it feeds
(``word_SB_DFFESR_Q_52_D_SB_LUT4_O``: the LUT driving the D input of bit 52 of ``word``), so the
leading signal name is the register, memory or output the cell works for. A cone shared by
several registers is counted once, under one of them: the table says where logic sits, not
what removing one register would save. Used for the iCE40 area work (docs/boards.md); a few
minutes per run, against 4 for a full build that stops at placement when the design is too big.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import subprocess
import sys
from pathlib import Path

from .build import BOARDS
from .common import BoardTop, resolve, tool_env

__all__ = ["attribute", "main"]


def owner(cell_name: str) -> str:
    """The register, memory or net a mapped cell works for, from its yosys name."""
    key = cell_name.split("_SB_")[0].split("_TRELLIS_")[0]
    key = re.sub(r"\$\d+", "", key)             # Amaranth's de-duplication suffixes
    key = re.sub(r"(_\d+)+$", "", key)          # bit indices
    return re.sub(r"\.\d+\.\d+_(WDATA|RDATA|MASK|RADDR|WADDR).*$", " (memory port)", key)


def attribute(netlist: dict, top: str = "top") -> dict:
    """``{"totals": {cell type: n}, "owners": [(owner, {"LUT": n, "FF": n, "CARRY": n}), ...]}``,
    owners by LUT count, largest first."""
    cells = netlist["modules"][top]["cells"]
    totals, owners = collections.Counter(), collections.defaultdict(collections.Counter)
    for name, cell in cells.items():
        kind = cell["type"]
        if kind.startswith("$"):
            continue
        totals[kind] += 1
        group = ("LUT" if kind in ("SB_LUT4", "LUT4") else
                 "FF" if kind.startswith(("SB_DFF", "TRELLIS_FF")) else
                 "CARRY" if kind in ("SB_CARRY", "CCU2C") else None)
        if group:
            owners[owner(name)][group] += 1
    ranked = sorted(owners.items(), key=lambda item: (-item[1]["LUT"], item[0]))
    return {"totals": dict(totals), "owners": [(k, dict(v)) for k, v in ranked]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m plasticore.boards.area",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("board", choices=sorted(BOARDS))
    parser.add_argument("--config", type=Path, metavar="FILE", help="Config fields (JSON)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="build directory (default build/BOARD-area)")
    parser.add_argument("--top", type=int, default=40, metavar="N", help="owners listed (default 40)")
    args = parser.parse_args(argv)
    board = BOARDS[args.board]
    config = resolve(board, args.config)
    out = args.out or Path("build") / f"{board.name}-area"
    top = BoardTop(board, board.spec(config, clk_hz=int(board.exact_hz(board.target_hz))))
    platform = board.platform()
    plan = platform.build(top, name="top", build_dir=str(out), do_build=False, **board.yosys)
    plan.extract(str(out))
    env = tool_env(board)
    subprocess.run([env["YOSYS"], "-q", "-l", "top.rpt", "top.ys"], cwd=out, env=env, check=True)
    report = attribute(json.loads((out / "top.json").read_text()))
    print(f"{board.title}, {tuple(config.layers)}: " +
          ", ".join(f"{k} {v}" for k, v in sorted(report["totals"].items())))
    print(f"{'LUT':>6} {'FF':>6} {'CARRY':>6}  owner")
    for name, n in report["owners"][:args.top]:
        print(f"{n.get('LUT', 0):6d} {n.get('FF', 0):6d} {n.get('CARRY', 0):6d}  {name}")
    (out / "area.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {out / 'area.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
