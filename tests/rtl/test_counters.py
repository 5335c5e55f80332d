# amaranth: UnusedElaboratable=no
"""rtl.counters: bumps, carries across bytes, wrapping, clear, and reads while idle."""

import pytest

from plasticore.rtl.counters import Counters


async def read_all(ctx, dut):
    """Every byte, through the read port, once the machine is idle."""
    while ctx.get(dut.busy):
        await ctx.tick()
    out = []
    for a in range(dut.n_bytes):
        ctx.set(dut.addr, a)
        await ctx.tick()
        assert ctx.get(dut.data_valid) and ctx.get(dut.data_addr) == a
        out.append(ctx.get(dut.data))
    return out


def value(data, dut, k):
    base, width = dut.bases[k], dut.widths[k]
    return int.from_bytes(bytes(data[base:base + width]), "little")


async def bump(ctx, dut, k, times=1):
    for _ in range(times):
        ctx.set(dut.bump, 1 << k)
        await ctx.tick()
        ctx.set(dut.bump, 0)
        while ctx.get(dut.busy):
            await ctx.tick()


def test_counts_carry_wrap_and_clear(simulate):
    dut = Counters([4, 2, 1])

    async def bench(ctx):
        assert await read_all(ctx, dut) == [0] * 7
        await bump(ctx, dut, 0, times=300)            # carries into the second byte
        await bump(ctx, dut, 2, times=257)            # a one-byte counter wraps: 257 % 256
        data = await read_all(ctx, dut)
        assert (value(data, dut, 0), value(data, dut, 1), value(data, dut, 2)) == (300, 0, 1)
        # two counters bumped in the same clock both count
        ctx.set(dut.bump, 0b011)
        await ctx.tick()
        ctx.set(dut.bump, 0)
        data = await read_all(ctx, dut)
        assert (value(data, dut, 0), value(data, dut, 1)) == (301, 1)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.clear, 0)
        assert await read_all(ctx, dut) == [0] * 7

    simulate(dut, bench)


def test_carry_through_every_byte(simulate):
    """0xFF + 1 carries into the next byte (4 clocks); data read while it runs is not valid."""
    dut = Counters([4])

    async def bench(ctx):
        await bump(ctx, dut, 0, times=0xFF)
        data = await read_all(ctx, dut)
        assert value(data, dut, 0) == 0xFF
        ctx.set(dut.bump, 1)
        await ctx.tick()
        ctx.set(dut.bump, 0)
        saw_busy = False
        while ctx.get(dut.busy):
            saw_busy = True
            await ctx.tick()
            assert not ctx.get(dut.data_valid) or not ctx.get(dut.busy)
        assert saw_busy
        assert value(await read_all(ctx, dut), dut, 0) == 0x100

    simulate(dut, bench)


def test_refuses_bad_widths():
    with pytest.raises(ValueError, match="widths must be"):
        Counters([])
    with pytest.raises(ValueError, match="widths must be"):
        Counters([2, 0])
