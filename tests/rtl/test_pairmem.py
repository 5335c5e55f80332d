# amaranth: UnusedElaboratable=no
"""rtl.pairmem: the two-bank memory behaves like a non-transparent 1R1W memory for the core's
access patterns (sweeps of consecutive reads with writes a few clocks behind, back to back or with
gaps; host accesses one per clock), never raising ``hazard``. The core's own lags, read to write:
the eligibility engine 3 + ``Core.READ_DELAY``, the LEARN weight and feedback passes
2 + ``Core.READ_DELAY``."""

import random

import numpy as np
import pytest

from plasticore.golden.config import Config
from plasticore.rtl.core import Core
from plasticore.rtl.pairmem import PairedRAM

from .coredrv import lockstep
from .test_core import random_feedback, random_rasters, random_weights

DEPTH, WIDTH = 96, 12


LAGS = (2, 3, 2 + Core.READ_DELAY, 3 + Core.READ_DELAY)


def sweeps(rng, depth, n, gaps=(0, 1, 2, 3, 5), lag=2):
    """Per-clock operations of ``n`` eligibility-like sweeps: reads of ``row .. row + L - 1``
    (even row and length), one per clock, each written back ``lag`` clocks later; consecutive sweeps
    cover different rows (a row comes back only after the layer has drained)."""
    ops, t, prev = {}, 0, range(0)
    for _ in range(n):
        length = 2 * rng.randrange(1, 8)
        while True:   # a neuron's row is swept at most once per layer: never the previous one
            row = 2 * rng.randrange(0, (depth - length) // 2 + 1)
            if row >= prev.stop or row + length <= prev.start:
                break
        prev = range(row, row + length)
        for j in range(length):
            ops.setdefault(t + j, {})["rd"] = row + j
            ops.setdefault(t + j + lag, {})["wr"] = (row + j, rng.randrange(1 << WIDTH))
        t += length + rng.choice(gaps)
    return [ops.get(c, {}) for c in range(t + lag + 1)]


def host(rng, depth, n):
    """One random access per clock (or none), like the host port of an idle core."""
    out = []
    for _ in range(n):
        kind = rng.choice(("rd", "rd", "wr", None))
        if kind == "rd":
            out.append({"rd": rng.randrange(depth)})
        elif kind == "wr":
            out.append({"wr": (rng.randrange(depth), rng.randrange(1 << WIDTH))})
        else:
            out.append({})
    return out


def apply(ctx, dut, op):
    """Drive ``dut.rd`` / ``dut.wr`` for one clock's ``{"rd": addr, "wr": (addr, value)}``;
    returns the write's (addr, value)."""
    ctx.set(dut.rd.en, "rd" in op)
    ctx.set(dut.rd.addr, op.get("rd", 0))
    ctx.set(dut.wr.en, "wr" in op)
    addr, value = op.get("wr", (0, 0))
    ctx.set(dut.wr.addr, addr)
    ctx.set(dut.wr.data, value)
    return addr, value


def run(simulate, ops, depth=DEPTH):
    dut = PairedRAM(shape=WIDTH, depth=depth)
    model = [0] * depth
    errors = []

    async def bench(ctx):
        expect = 0
        for cycle, op in enumerate(ops):
            addr, value = apply(ctx, dut, op)
            if ctx.get(dut.hazard):
                errors.append(("hazard", cycle))
            read = model[op["rd"]] if "rd" in op else None
            if "wr" in op:
                model[addr] = value
            await ctx.tick()
            if read is not None:
                expect = read
            if ctx.get(dut.rd.data) != expect:
                errors.append(("data", cycle, ctx.get(dut.rd.data), expect))

    simulate(dut, bench)
    assert errors == []


@pytest.mark.parametrize("lag", LAGS)
@pytest.mark.parametrize("seed", range(4))
def test_sweeps_back_to_back_and_gaps(simulate, seed, lag):
    rng = random.Random(seed)
    run(simulate, sweeps(rng, DEPTH, 40, lag=lag))


@pytest.mark.parametrize("lag", LAGS)
def test_linear_pass(simulate, lag):
    """The LEARN weight pass: every word in address order, written ``lag`` clocks behind."""
    rng = random.Random(9)
    ops = [{} for _ in range(DEPTH + lag)]
    for a in range(DEPTH):
        ops[a]["rd"] = a
        ops[a + lag]["wr"] = (a, rng.randrange(1 << WIDTH))
    run(simulate, ops + host(rng, DEPTH, 200))


@pytest.mark.parametrize("seed", range(3))
def test_host_and_sweeps(simulate, seed):
    rng = random.Random(100 + seed)
    ops = []
    for _ in range(6):
        ops += host(rng, DEPTH, 60) + sweeps(rng, DEPTH, 8)
    run(simulate, ops)


def test_odd_depth(simulate):
    rng = random.Random(5)
    run(simulate, host(rng, 37, 400), depth=37)


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("layers", [(8, 6, 3), (6, 4, 4, 3)])
def test_core_never_makes_a_hazard(simulate, layers, compact):
    """The core's own accesses (steps with eligibility, LEARN phases B-D, SAMPLE, host port), with
    GRAD/FEEDBACK in a PairedRAM behind the read-latency registers, in lock step with the golden
    model, the memory's hazard watched every clock."""
    config = Config(layers=layers, n_steps=10, input_window=6)
    rng = np.random.default_rng(3)
    # the iCE40 UltraPlus choice (banked elsewhere); compact there, registered in the tests too
    core = Core(config, grad_memory="paired", compact=compact)
    assert core.grads_paired
    seen, ticks = [], [0]

    async def bench(ctx):
        await lockstep(ctx, core, random_weights(config, rng, full_scale=0.02),
                       random_rasters(config, rng, 2), rng=random.Random(1),
                       feedback=random_feedback(config, rng), labels=[0, 2])

    async def watch(ctx):
        async for _, _, hazard in ctx.tick().sample(core.paired_memory.hazard):
            ticks[0] += 1
            if hazard:
                seen.append(hazard)

    simulate(core, bench, background=[watch])
    assert seen == [] and ticks[0] > 1000
