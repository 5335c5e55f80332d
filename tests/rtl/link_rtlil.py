"""The RTLIL of ``rtl.top.Top`` (which holds the Link) for a few designs, and its sha256.

A restructuring of ``rtl/link.py`` that leaves the hardware unchanged leaves these bytes unchanged
(signal names, statement order, FSM state names). Source locations are left out (``emit_src``):
they name line numbers, which any restructuring moves.

    .venv/bin/python tests/rtl/link_rtlil.py            # one line per design: sha256, name
    .venv/bin/python tests/rtl/link_rtlil.py --out DIR  # and the RTLIL text into DIR/NAME.il
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def designs() -> dict:
    """Name -> board description (``chip.boardspec.BoardSpec``): the boards' designs, the thesis
    form and small cores of each kind, one with two-byte event codes (the ``eb > 1`` branches)."""
    from plasticore.boards.build import BOARDS
    from plasticore.boards.common import resolve
    from plasticore.chip.boardspec import BoardSpec
    from plasticore.golden.config import Config

    icebreaker, ulx3s = BOARDS["icebreaker"], BOARDS["ulx3s-85f"]
    thesis = Config.from_dict({**resolve(icebreaker, None).to_dict(),
                               **json.loads((ROOT / "experiments/configs/thesis-digits.json")
                                            .read_text())})
    return {
        "icebreaker": icebreaker.spec(resolve(icebreaker, None), clk_hz=24_000_000),
        "ulx3s-85f": ulx3s.spec(resolve(ulx3s, None), clk_hz=50_000_000),
        "thesis-pipelined": BoardSpec(thesis, core="pipelined"),
        "compact-small": BoardSpec(Config(layers=(16, 8, 4), n_steps=8, input_window=4),
                                   core="compact"),
        "pipelined-eb2": BoardSpec(Config(layers=(300, 16, 10), n_steps=8, input_window=4)),
    }


def rtlil_text(spec) -> str:
    from amaranth.back import rtlil

    from plasticore.rtl.top import Top
    return rtlil.convert(Top(spec), name="top", emit_src=False)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write each design's RTLIL here")
    parser.add_argument("names", nargs="*", help="only these designs")
    args = parser.parse_args(argv)
    for name, spec in designs().items():
        if args.names and name not in args.names:
            continue
        text = rtlil_text(spec)
        if args.out:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"{name}.il").write_text(text)
        print(hashlib.sha256(text.encode()).hexdigest(), name, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
