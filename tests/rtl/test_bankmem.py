# amaranth: UnusedElaboratable=no
"""rtl.bankmem: the banked memory is a non-transparent 1R1W memory whose read data arrives
``LATENCY`` clocks after the read and holds until the next read's, across bank boundaries, with
reads every clock or with gaps, and writes to the word being read in the same clock."""

import random

import pytest

from plasticore.rtl.bankmem import LATENCY, BankedRAM

from .test_pairmem import apply

WIDTH = 12


def run(simulate, dut, ops):
    """``ops``: per clock ``{"rd": addr, "wr": (addr, value)}`` (either optional)."""
    model = [0] * dut.depth
    pending = {}                  # clock -> the word a read of that clock returns
    errors = []

    async def bench(ctx):
        expect = None
        for cycle, op in enumerate(ops + [{}] * LATENCY):
            addr, value = apply(ctx, dut, op)
            if "rd" in op:
                pending[cycle + LATENCY] = model[op["rd"]]   # the word before this clock's write
            if "wr" in op:
                model[addr] = value
            await ctx.tick()
            expect = pending.pop(cycle + 1, expect)
            if expect is not None and ctx.get(dut.rd.data) != expect:
                errors.append(("data", cycle + 1, ctx.get(dut.rd.data), expect))

    simulate(dut, bench)
    assert errors == []
    assert not pending


def random_ops(rng, depth, n, p_read=0.6, p_write=0.5):
    ops = []
    for _ in range(n):
        op = {}
        if rng.random() < p_read:
            op["rd"] = rng.randrange(depth)
        if rng.random() < p_write:
            op["wr"] = (rng.randrange(depth), rng.randrange(1 << WIDTH))
        ops.append(op)
    return ops


@pytest.mark.parametrize("depth, bank_depth", [(100, 16), (96, 32), (37, 10), (20, 64), (1, 4)])
def test_random_traffic(simulate, depth, bank_depth):
    dut = BankedRAM(shape=WIDTH, depth=depth, bank_depth=bank_depth)
    assert dut.n_banks == -(-depth // min(bank_depth, depth))
    rng = random.Random(depth)
    fill = [{"wr": (a, rng.randrange(1 << WIDTH))} for a in range(depth)]
    run(simulate, dut, fill + random_ops(rng, depth, 600))


def test_sweep_across_banks_with_write_back(simulate):
    """Reads of consecutive words every clock across bank boundaries, each written back
    ``LATENCY + 1`` clocks later (the core's read-modify-write passes), and the same word read
    in the clock of its write (old word)."""
    depth = 64
    dut = BankedRAM(shape=WIDTH, depth=depth, bank_depth=16)
    rng = random.Random(3)
    ops = [{"wr": (a, rng.randrange(1 << WIDTH))} for a in range(depth)]
    sweep = [{} for _ in range(depth + LATENCY + 1)]
    for a in range(depth):
        sweep[a]["rd"] = a
        sweep[a + LATENCY + 1]["wr"] = (a, rng.randrange(1 << WIDTH))
    ops += sweep + [{"rd": 5, "wr": (5, 1)}, {"rd": 5}, {}, {}, {"rd": 17}]
    run(simulate, dut, ops)


def test_refuses_empty():
    with pytest.raises(ValueError, match="depth 0"):
        BankedRAM(shape=WIDTH, depth=0)
