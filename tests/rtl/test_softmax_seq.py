# amaranth: UnusedElaboratable=no
"""rtl.softmax_seq (the sequenced core's softmax unit) against golden Network._softmax_errors
(spec 6.1), driven as rtl/seqcore.py drives it: the V_o for the sum, then one V_o a division."""

import random

import pytest

from plasticore.golden.config import ERROR_FRAC, EXP2_STEPS, EXP2_TABLE
from plasticore.rtl.softmax_seq import (EXP2_SHIFTED, SEQ_SOFTMAX_DIVIDE_CLOCKS,
                                        SequencedSoftmaxErrors)

from .test_softmax import CONFIG, ONE, OTHER_SIZES, STATE, edge_cases, golden_deltas, other_size_cases


def run_samples(simulate, samples, *, config=CONFIG):
    """Each ``(V vector, label)`` through one unit, back to back; the deltas of each sample (formed
    from the quotients as the core forms them) and the clocks between a load and its quotient."""
    dut = SequencedSoftmaxErrors(config)
    O = config.n_outputs
    results, waits = [], []

    async def bench(ctx):
        for vs, label in samples:
            ctx.set(dut.v_max, max(vs))
            for o in range(O):                      # A_V: the sum
                ctx.set(dut.v, vs[o])
                ctx.set(dut.add, 1)
                ctx.set(dut.first, o == 0)
                await ctx.tick()
            ctx.set(dut.add, 0)
            ctx.set(dut.first, 0)
            ctx.set(dut.v, vs[0])                   # A_E: the sum's last term, e_0 read
            await ctx.tick()
            deltas = []
            for o in range(O):                      # a load, then the quotient
                ctx.set(dut.load, 1)
                ctx.set(dut.v, vs[(o + 1) % O])     # the next division's e, read meanwhile
                await ctx.tick()
                ctx.set(dut.load, 0)
                clocks = 1
                while not ctx.get(dut.p_valid):
                    await ctx.tick()
                    clocks += 1
                waits.append(clocks)
                deltas.append(((o == label) << ERROR_FRAC) - ctx.get(dut.p))
            results.append(deltas)

    simulate(dut, bench)
    assert waits == [1 + SEQ_SOFTMAX_DIVIDE_CLOCKS] * (len(samples) * O)
    return results


def test_rom_is_the_table_shifted():
    assert len(EXP2_SHIFTED) == 16 * EXP2_STEPS
    for w in range(16):
        for p in range(EXP2_STEPS):
            assert EXP2_SHIFTED[w * EXP2_STEPS + p] == EXP2_TABLE[p] >> w
    # a whole part of 16 or more reads the last word: 0, as EXP2_TABLE[p] >> 16 is
    assert EXP2_SHIFTED[-1] == 0 and max(EXP2_TABLE) < 1 << 16


def test_edge_cases(simulate):
    cases = edge_cases(CONFIG)
    want = golden_deltas(CONFIG, [v for v, _ in cases], [lab for _, lab in cases])
    assert run_samples(simulate, cases) == want


def test_random_values(simulate):
    rng = random.Random(3)
    O = CONFIG.n_outputs
    cases = []
    for k in range(12):
        spread = [ONE, 4 * ONE, 20 * ONE, STATE.hi][k % 4]
        base = rng.randrange(STATE.lo + spread, STATE.hi - spread) if spread < STATE.hi else 0
        vs = [max(STATE.lo, min(STATE.hi, base + rng.randrange(-spread, spread + 1)))
              for _ in range(O)]
        cases.append((vs, rng.randrange(O)))
    want = golden_deltas(CONFIG, [v for v, _ in cases], [lab for _, lab in cases])
    assert run_samples(simulate, cases) == want


@pytest.mark.parametrize("layers, state", OTHER_SIZES)
def test_other_sizes(simulate, layers, state):
    config, cases = other_size_cases(layers, state)
    want = golden_deltas(config, [v for v, _ in cases], [lab for _, lab in cases])
    assert run_samples(simulate, cases, config=config) == want


def test_above_is_the_comparison(simulate):
    """``above`` (v > v_max): the core's V_max pass compares on the unit's subtractor."""
    dut = SequencedSoftmaxErrors(CONFIG)
    rng = random.Random(5)
    pairs = [(STATE.hi, STATE.lo), (STATE.lo, STATE.hi), (0, 0), (1, 0), (0, 1)]
    pairs += [(rng.randrange(STATE.lo, STATE.hi + 1), rng.randrange(STATE.lo, STATE.hi + 1))
              for _ in range(50)]

    async def bench(ctx):
        for v, v_max in pairs:
            ctx.set(dut.v, v)
            ctx.set(dut.v_max, v_max)
            assert ctx.get(dut.above) == (v > v_max), (v, v_max)

    simulate(dut, bench)


def test_config_is_required():
    with pytest.raises(TypeError, match="config must be a Config"):
        SequencedSoftmaxErrors(10)
