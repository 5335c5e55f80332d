# amaranth: UnusedElaboratable=no
"""rtl.layer (decay, threshold and reset sweep) against the spec formulas and golden.network."""

import random

import numpy as np
import pytest

from plasticore.golden.config import DECAY_FRAC, Config
from plasticore.golden.network import Network
from plasticore.rtl.layer import Layer

CONFIG = Config()
STATE, THETA = CONFIG.state, CONFIG.threshold_q


def spec_sweep(a, c, theta=THETA, config=CONFIG):
    """Spec 5 steps 1-2 and the reset: (stored a, stored c, spiking neurons)."""
    a_d = [(x * config.rho_q) >> DECAY_FRAC for x in a]
    c_d = [(x * config.rho_s_q) >> DECAY_FRAC for x in c]
    spikes = [i for i in range(len(a)) if a_d[i] - c_d[i] >= theta]
    return [x - theta * (i in spikes) for i, x in enumerate(a_d)], c_d, spikes


async def load(ctx, dut, a, c):
    ctx.set(dut.write.en, 1)
    for i, (x, y) in enumerate(zip(a, c)):
        ctx.set(dut.write.addr, i)
        ctx.set(dut.write.data, {"a": int(x), "c": int(y)})
        await ctx.tick()
    ctx.set(dut.write.en, 0)


async def dump(ctx, dut):
    a, c = [], []
    ctx.set(dut.read.en, 1)
    for i in range(dut.neurons):
        ctx.set(dut.read.addr, i)
        await ctx.tick()
        word = ctx.get(dut.read.data)
        a.append(word.a)
        c.append(word.c)
    return a, c


async def sweep(ctx, dut, theta=THETA, stall=0.0, rng=None):
    """Run one sweep; returns the (neuron, c) events and the number of busy cycles."""
    ctx.set(dut.theta_q, theta)
    ctx.set(dut.start, 1)
    await ctx.tick()
    ctx.set(dut.start, 0)
    events, cycles = [], 0
    while ctx.get(dut.busy):
        ready = not (rng and rng.random() < stall)
        ctx.set(dut.spikes.ready, ready)
        _, _, valid, payload = await ctx.tick().sample(dut.spikes.valid, dut.spikes.payload)
        cycles += 1
        if valid and ready:
            events.append((payload.neuron, payload.c))
    ctx.set(dut.spikes.ready, 0)
    return events, cycles


def test_edge_cases(simulate):
    """Extremes of the state format and the threshold met exactly, missed by one LSB."""
    exact = (THETA << DECAY_FRAC) // CONFIG.rho_q + 8  # a' - 0 close to theta; adjusted below
    a = [STATE.hi, STATE.lo, 0, -1, STATE.hi, STATE.lo, exact, exact, exact, 1]
    c = [STATE.lo, STATE.hi, 0, -1, STATE.hi, STATE.lo, 0, 0, 0, 1]
    # find words whose decayed difference is exactly theta, theta - 1 and theta + 1
    for slot, target in ((6, THETA), (7, THETA - 1), (8, THETA + 1)):
        while (a[slot] * CONFIG.rho_q) >> DECAY_FRAC > target:
            a[slot] -= 1
        while (a[slot] * CONFIG.rho_q) >> DECAY_FRAC < target:
            a[slot] += 1
    expected_a, expected_c, expected_spikes = spec_sweep(a, c)
    assert 6 in expected_spikes and 7 not in expected_spikes and 8 in expected_spikes
    dut = Layer(CONFIG, neurons=len(a))
    out = {}

    async def testbench(ctx):
        await load(ctx, dut, a, c)
        out["events"], out["cycles"] = await sweep(ctx, dut)
        out["state"] = await dump(ctx, dut)

    simulate(dut, testbench)
    assert out["state"] == (expected_a, expected_c)
    assert out["events"] == [(i, expected_c[i]) for i in expected_spikes]
    assert out["cycles"] == len(a) + 1


def golden_window(config, n_driven, n_compared, seed=0):
    """A golden run: random input spikes for ``n_driven`` steps, then silence. Returns the first
    layer's (a, c) after the driven steps and, for each silent step, (a, c, spiking neurons)."""
    net = Network(config, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(n_driven):
        net.step(rng.random((1, config.n_inputs)) < 0.3)
    hidden = net.layers[0]
    start = (hidden.a[0].tolist(), hidden.c[0].tolist())
    steps = []
    for _ in range(n_compared):
        net.step(np.zeros((1, config.n_inputs), bool))
        steps.append((hidden.a[0].tolist(), hidden.c[0].tolist(),
                      np.flatnonzero(hidden.spikes[0]).tolist()))
    return start, steps


@pytest.mark.parametrize("stall", [0.0, 0.5])
def test_matches_golden_network(simulate, stall):
    """The first hidden layer of golden.network, step after step, once its inputs fall silent
    (integration is not in this block yet, so silent steps are where the two must agree)."""
    (a0, c0), steps = golden_window(CONFIG, n_driven=CONFIG.input_window, n_compared=15)
    assert sum(len(s) for *_, s in steps) >= 10, "the vector must make the layer spike"
    dut = Layer(CONFIG, neurons=CONFIG.hidden_sizes[0])
    rng = random.Random(3)
    seen = []

    async def testbench(ctx):
        await load(ctx, dut, a0, c0)
        for _ in steps:
            events, _ = await sweep(ctx, dut, stall=stall, rng=rng)
            seen.append((await dump(ctx, dut), events))

    simulate(dut, testbench)
    for n, ((a, c, spikes), ((rtl_a, rtl_c), events)) in enumerate(zip(steps, seen)):
        assert (rtl_a, rtl_c) == (a, c), f"state differs after silent step {n}"
        assert events == [(i, c[i]) for i in spikes], f"spikes differ at silent step {n}"


def test_start_ignored_while_busy_and_back_pressure_holds_event(simulate):
    a = [4 * THETA] * 3
    c = [0] * 3
    dut = Layer(CONFIG, neurons=3)
    log = []

    async def testbench(ctx):
        await load(ctx, dut, a, c)
        ctx.set(dut.theta_q, THETA)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 1)             # held high: must not restart the sweep
        for _ in range(5):
            await ctx.tick()
            log.append((ctx.get(dut.spikes.valid), ctx.get(dut.spikes.payload.neuron)))
        ctx.set(dut.start, 0)
        ctx.set(dut.spikes.ready, 1)
        while ctx.get(dut.busy):
            await ctx.tick()
        log.append(await dump(ctx, dut))

    simulate(dut, testbench)
    assert log[:5] == [(1, 0)] * 5, "the first event waits, unchanged, for ready"
    expected_a, expected_c, _ = spec_sweep(a, c)
    assert log[5] == (expected_a, expected_c), "exactly one sweep ran"


@pytest.mark.parametrize("neurons", [0, -1, 2.0, True])
def test_neurons_must_be_positive(neurons):
    with pytest.raises(TypeError, match="neurons must be a positive integer"):
        Layer(CONFIG, neurons=neurons)
