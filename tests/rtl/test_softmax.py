# amaranth: UnusedElaboratable=no
"""rtl.softmax against golden Network._softmax_errors (spec 6.1): edge cases, random V vectors,
back-pressure, timing."""

import random

import numpy as np
import pytest

from plasticore.golden.config import ERROR_FRAC, Config
from plasticore.golden.network import Network
from plasticore.rtl.softmax import SOFTMAX_DIVIDE_CLOCKS, SOFTMAX_LOAD_CLOCKS, SoftmaxErrors

from .streams import get_n, put_all

CONFIG = Config(layers=(4, 6, 10), output_layer="integrate", output_loss="softmax",
                eligibility="surrogate", rate_reg_shift=None, lr_hidden_shift=6, lr_output_shift=9)
STATE = CONFIG.state
ONE = STATE.one


def golden_deltas(config, vs, labels):
    """``Network._softmax_errors`` of one replica per row of ``vs``."""
    net = Network(config, batch=len(vs), seed=0)
    net.layers[-1].a = np.asarray(vs, dtype=np.int64)
    return net._softmax_errors(np.asarray(labels)).tolist()


def run_samples(simulate, samples, *, config=CONFIG, stall=0.0, seed=0):
    """Stream each ``(V vector, label)`` through one SoftmaxErrors, back to back; return the
    deltas of each sample."""
    dut = SoftmaxErrors(config)
    rng = random.Random(seed)
    O = config.n_outputs
    results = []

    async def source(ctx):
        for vs, label in samples:
            ctx.set(dut.v_max, max(vs))
            ctx.set(dut.label, label)
            await put_all(ctx, dut.v, vs, rng=rng, stall=stall)

    async def sink(ctx):
        for _ in samples:
            results.append(await get_n(ctx, dut.delta, O, rng=rng, stall=stall))

    simulate(dut, source, sink)
    return results


def edge_cases(config):
    O, st = config.n_outputs, config.state
    one = st.one
    return [
        ([0] * O, 0),                                         # all equal
        ([5 * one] * O, O - 1),
        ([st.hi] + [st.lo] * (O - 1), 0),                     # one far above, saturated extremes
        ([st.lo] * (O - 1) + [st.hi], 3 % O),
        ([st.hi] * O, 1 % O),
        ([st.lo] * O, 2 % O),
        ([k * 17 * one for k in range(O)], 0),                # differences beyond 16 whole units
        ([16 * one * k // 2 + (k & 1) for k in range(O)], O - 1),
        ([-(16 * one) + 1, 0] + [-(16 * one)] * (O - 2), 0),  # whole = 15 and 16 around the cap
        ([one - 1, 0, 1, one // 64, one // 64 - 1] + [2] * (O - 5), 4),
    ]


def test_edge_cases(simulate):
    cases = edge_cases(CONFIG)
    want = golden_deltas(CONFIG, [v for v, _ in cases], [lab for _, lab in cases])
    assert run_samples(simulate, cases) == want
    # all equal: each gets 1/O; one far above: the label gets all of it
    assert want[0][0] == (1 << ERROR_FRAC) - (1 << ERROR_FRAC) // CONFIG.n_outputs
    assert want[2] == [0] * CONFIG.n_outputs


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


def test_back_pressure(simulate):
    rng = random.Random(5)
    O = CONFIG.n_outputs
    cases = [([rng.randrange(-3 * ONE, 3 * ONE) for _ in range(O)], rng.randrange(O))
             for _ in range(6)]
    want = golden_deltas(CONFIG, [v for v, _ in cases], [lab for _, lab in cases])
    assert run_samples(simulate, cases, stall=0.5, seed=7) == want


#: (layers, state format) of other networks: one output, no hidden layer, wider and narrower states
OTHER_SIZES = [((3, 2), None), ((3, 4, 3), None), ((2, 3, 1), None), ((3, 4, 5), (20, 4)),
               ((3, 4, 7), (32, 11))]


def other_size_cases(layers, state):
    """The configuration of an ``OTHER_SIZES`` row and its samples: random V vectors over the
    whole state range and near zero, and all V at the top."""
    from plasticore.golden.config import Format
    extra = {} if state is None else {"state": Format(*state), "lr_hidden_shift": 0,
                                      "weight": Format(state[0] - 4, state[1])}
    rule = {"rule": "readout"} if len(layers) == 2 else {}
    config = CONFIG.replace(layers=layers, **rule, **extra)
    st, O = config.state, config.n_outputs
    rng = random.Random(11)
    cases = [([rng.randrange(st.lo, st.hi + 1) for _ in range(O)], rng.randrange(O))
             for _ in range(3)]
    cases += [([rng.randrange(-2 * st.one, 2 * st.one) for _ in range(O)], rng.randrange(O))
              for _ in range(3)]
    cases += [([st.hi] * O, O - 1)]
    return config, cases


@pytest.mark.parametrize("layers, state", OTHER_SIZES)
def test_other_sizes(simulate, layers, state):
    config, cases = other_size_cases(layers, state)
    want = golden_deltas(config, [v for v, _ in cases], [lab for _, lab in cases])
    assert run_samples(simulate, cases, config=config) == want


def test_timing(simulate):
    """V one per clock; then each delta LOAD + DIVIDE clocks after the previous transfer."""
    dut = SoftmaxErrors(CONFIG)
    O = CONFIG.n_outputs
    vs = [k * ONE // 3 for k in range(O)]
    v_taken, d_taken = [], []

    async def testbench(ctx):
        ctx.set(dut.v_max, max(vs))
        ctx.set(dut.label, 2)
        ctx.set(dut.delta.ready, 1)
        pending = list(vs)
        for cycle in range(O + O * (SOFTMAX_LOAD_CLOCKS + SOFTMAX_DIVIDE_CLOCKS + 1) + 5):
            ctx.set(dut.v.valid, bool(pending))
            if pending:
                ctx.set(dut.v.payload, pending[0])
            _, _, v_ready, d_valid = await ctx.tick().sample(dut.v.ready, dut.delta.valid)
            if pending and v_ready:
                v_taken.append(cycle)
                pending.pop(0)
            if d_valid:
                d_taken.append(cycle)

    simulate(dut, testbench)
    assert v_taken == list(range(O))
    per = SOFTMAX_LOAD_CLOCKS + SOFTMAX_DIVIDE_CLOCKS + 1
    assert d_taken == [O - 1 + per * (k + 1) for k in range(O)]


def test_config_is_required():
    with pytest.raises(TypeError, match="config must be a Config"):
        SoftmaxErrors(10)
