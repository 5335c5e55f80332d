# amaranth: UnusedElaboratable=no
"""rtl.reciprocal against the spec 5.3 formula: edge cases, random values, timing, back-pressure."""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plasticore.golden.config import DECAY_FRAC, Config, Format
from plasticore.rtl.reciprocal import Reciprocal

from .streams import get, put

CONFIG = Config()
STATE, WEIGHT = CONFIG.state, CONFIG.weight
THETA = CONFIG.threshold_q
LATENCY = DECAY_FRAC + 1


def golden_r(c, theta_q):
    """``docs/spec.md`` 5.3, as ``golden/network.py`` computes it."""
    return min((theta_q << DECAY_FRAC) // max(c, theta_q), (1 << DECAY_FRAC) - 1)


EDGE_CASES = [
    (0, THETA), (-1, THETA), (THETA - 1, THETA),            # below theta: clamped, 0xFFFF
    (THETA, THETA), (THETA + 1, THETA), (2 * THETA, THETA),  # at and just above theta
    (3 * THETA - 1, THETA), (STATE.hi, THETA), (STATE.lo, THETA),
    (1, 1), (2, 1), (3, 1), (STATE.hi, 1), (STATE.lo, 1),    # theta = 1 LSB
    (WEIGHT.hi, WEIGHT.hi), (WEIGHT.hi + 1, WEIGHT.hi),      # largest theta
    (STATE.hi, WEIGHT.hi), (STATE.lo, WEIGHT.hi),
]


def run_pairs(simulate, pairs, *, config=CONFIG, stall=0.0, seed=0):
    """Push ``(c, theta_q)`` pairs through a Reciprocal and return its results in order. With
    ``stall`` > 0 both sides idle at random (probability ``stall`` per item) to exercise
    back-pressure."""
    dut = Reciprocal(config)
    rng = random.Random(seed)
    results = []

    async def source(ctx):
        for c, theta in pairs:
            while rng.random() < stall:
                await ctx.tick()
            ctx.set(dut.theta_q, theta)
            await put(ctx, dut.c, c)
            ctx.set(dut.theta_q, 0)  # must be sampled with c, not later

    async def sink(ctx):
        for _ in pairs:
            while rng.random() < stall:
                await ctx.tick().repeat(rng.randrange(1, 40))
            results.append(await get(ctx, dut.r))

    simulate(dut, source, sink)
    return results


def test_edge_cases(simulate):
    expected = [golden_r(c, theta) for c, theta in EDGE_CASES]
    assert expected[:5] == [0xFFFF] * 4 + [(THETA << 16) // (THETA + 1)]
    assert run_pairs(simulate, EDGE_CASES) == expected


@settings(max_examples=8, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(STATE.lo, STATE.hi), st.integers(1, WEIGHT.hi)),
                min_size=25, max_size=25))
def test_random_values(simulate, pairs):
    assert run_pairs(simulate, pairs) == [golden_r(c, theta) for c, theta in pairs]


def test_back_pressure(simulate):
    rng = random.Random(1)
    pairs = [(rng.randrange(-THETA, 40 * THETA), THETA) for _ in range(40)]
    got = run_pairs(simulate, pairs, stall=0.5, seed=2)
    assert got == [golden_r(c, theta) for c, theta in pairs]


def test_latency_and_throughput(simulate):
    """Back-to-back inputs into an always-ready sink: one result every LATENCY cycles, the first
    LATENCY cycles after the first input transfer."""
    dut = Reciprocal(CONFIG)
    values = [THETA, 5 * THETA, STATE.hi, -7]
    inputs, outputs = [], []

    async def testbench(ctx):
        ctx.set(dut.theta_q, THETA)
        ctx.set(dut.r.ready, 1)
        pending = list(values)
        for cycle in range(len(values) * LATENCY + 3):
            if pending:
                ctx.set(dut.c.valid, 1)
                ctx.set(dut.c.payload, pending[0])
            else:
                ctx.set(dut.c.valid, 0)
            _, _, c_ready, r_valid, r = await ctx.tick().sample(
                dut.c.ready, dut.r.valid, dut.r.payload)
            if pending and c_ready:
                inputs.append(cycle)
                pending.pop(0)
            if r_valid:
                outputs.append((cycle, r))

    simulate(dut, testbench)
    assert [r for _, r in outputs] == [golden_r(c, THETA) for c in values]
    assert inputs == [k * LATENCY for k in range(len(values))]
    assert [cycle for cycle, _ in outputs] == [k + LATENCY for k in inputs]


@pytest.mark.parametrize("state, weight", [(Format(10, 4), Format(8, 4)),
                                           (Format(32, 11), Format(16, 11))])
def test_other_widths(simulate, state, weight):
    # a 4-bit weight fraction puts the default hidden update shift past 31: the rate is not under test
    config = Config(state=state, weight=weight, threshold=1.0, lr_hidden_shift=12)
    theta = config.threshold_q
    pairs = [(c, theta) for c in (state.lo, -1, 0, theta, theta + 1, 3 * theta + 2, state.hi)]
    pairs += [(state.hi, weight.hi), (weight.hi + 1, weight.hi), (state.hi, 1)]
    assert run_pairs(simulate, pairs, config=config) == [golden_r(c, t) for c, t in pairs]


def test_config_is_required():
    with pytest.raises(TypeError, match="config must be a Config"):
        Reciprocal(24)
