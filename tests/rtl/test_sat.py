"""The saturating stores of spec 1: rtl.core._sat (comparisons, the pipelined core) and
_sat_bits (the bits above the format, the sequenced core) must each equal clip(x, fmt.lo,
fmt.hi) and flag exactly the values they change, for every value of signed and unsigned inputs
narrower, as wide as and wider than signed and unsigned formats."""

import pytest
from amaranth import Module, Signal, signed, unsigned
from amaranth.sim import Simulator

from plasticore.golden.config import Format
from plasticore.rtl.datapath import _sat, _sat_bits

CASES = [(signed(7), Format(5, 0)), (unsigned(7), Format(5, 0)), (signed(7), Format(5, 0, False)),
         (unsigned(7), Format(5, 0, False)), (signed(4), Format(6, 0, False)),
         (signed(6), Format(6, 0, False)), (signed(5), Format(5, 0)), (unsigned(4), Format(5, 0)),
         (signed(4), Format(5, 0)), (unsigned(5), Format(5, 0))]


@pytest.mark.parametrize("sat", [_sat, _sat_bits], ids=["sat", "sat_bits"])
@pytest.mark.parametrize("shape, fmt", CASES, ids=lambda v: repr(v))
def test_sat_is_the_spec_clip(shape, fmt, sat):
    x, out, clip = Signal(shape), Signal(signed(12)), Signal()
    m = Module()
    value, clipped = sat(x, fmt)
    m.d.comb += [out.eq(value), clip.eq(clipped)]
    bad = []

    async def bench(ctx):
        lo, hi = (-(1 << (shape.width - 1)), 1 << (shape.width - 1)) if shape.signed else (0, 1 << shape.width)
        for v in range(lo, hi):
            ctx.set(x, v)
            want = min(max(v, fmt.lo), fmt.hi)
            if ctx.get(out) != want or ctx.get(clip) != (want != v):
                bad.append((v, ctx.get(out), want))

    sim = Simulator(m)             # combinational only: no clock
    sim.add_testbench(bench)
    sim.run()
    assert not bad, bad[:5]
