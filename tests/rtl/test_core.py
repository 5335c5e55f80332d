# amaranth: UnusedElaboratable=no
"""rtl.core (the inference engine) in lock step with golden.network (fixed=True): every state
word, the perturbations and the flags compared after the reset and after every step."""

import random

import numpy as np
import pytest

from plasticore.golden.config import Config, Format
from plasticore.rtl.core import Cmd, Core

from .coredrv import command, lockstep

SMALL = Config(layers=(8, 6, 3), n_steps=12, input_window=8)


def random_weights(config, rng, full_scale=0.1):
    """Uniform words over the whole weight format, a fraction of them at its extremes."""
    fmt, out = config.weight, []
    for k in range(len(config.layers) - 1):
        w = rng.integers(fmt.lo, fmt.hi + 1, size=(config.layers[k + 1], config.layers[k]))
        ends = rng.random(w.shape) < full_scale
        w[ends] = rng.choice([fmt.lo, fmt.hi], size=int(ends.sum()))
        out.append(w)
    return out


def random_rasters(config, rng, samples, rate=0.4):
    return [rng.random((config.n_steps, config.n_inputs)) < rate for _ in range(samples)]


def run(simulate, config, weights, rasters, seed=0, stats=None):
    core = Core(config)

    async def bench(ctx):
        await lockstep(ctx, core, weights, rasters, rng=random.Random(seed), stats=stats)

    simulate(core, bench)
    return stats


def test_random_small(simulate):
    rng = np.random.default_rng(1)
    run(simulate, SMALL, random_weights(SMALL, rng), random_rasters(SMALL, rng, 2))


def test_random_deep(simulate):
    """Two hidden layers: the spike lists ping-pong between both banks."""
    config = Config(layers=(8, 6, 5, 3), n_steps=10, input_window=6)
    rng = np.random.default_rng(2)
    run(simulate, config, random_weights(config, rng), random_rasters(config, rng, 2))


def test_readout_only_and_tiny_layers(simulate):
    """One weight layer (no hidden neurons, no perturbations), and a one-neuron hidden layer."""
    rng = np.random.default_rng(3)
    config = Config(layers=(5, 3), n_steps=8, input_window=4, rule="readout")
    run(simulate, config, random_weights(config, rng), random_rasters(config, rng, 2))
    config = Config(layers=(3, 1, 2), n_steps=8, input_window=4)
    run(simulate, config, [np.full((1, 3), 4000), np.array([[2000], [-3000]])],
        random_rasters(config, rng, 2, rate=0.6))


NARROW = Config(layers=(8, 6, 3), n_steps=12, input_window=8, state=Format(18, 11),
                trace=Format(14, 12, False), grade=Format(10, 8), count_bits=3,
                target_true=7, target_false=1)


def test_saturation_flags(simulate):
    """Narrow formats: state, trace, grade and count all clip; values and flags match."""
    rng = np.random.default_rng(4)
    weights = random_weights(NARROW, rng, full_scale=0.5)
    weights[0][1] = NARROW.weight.hi                      # hidden neuron 1 fires every step
    rasters = random_rasters(NARROW, rng, 2, rate=0.7)
    rasters[0][:, 0] = True                               # input 0 spikes every step
    net = {}

    async def bench(ctx):
        net["golden"] = await lockstep(ctx, core, weights, rasters, rng=random.Random(4))

    core = Core(NARROW)
    simulate(core, bench)
    flags = net["golden"].flags
    assert all(flags[name][0] for name in ("state", "trace", "grade", "count")), flags


def test_directed(simulate):
    """A silent neuron (negative weights), a neuron firing every step, every input spiking in
    every step (the largest list), several layers firing in one step, back-to-back samples."""
    config = SMALL
    w1 = np.zeros((6, 8), np.int64)
    w1[0] = -3000                                         # never fires
    w1[1] = config.weight.hi                              # fires every step once charged
    w1[2:] = np.random.default_rng(5).integers(-2000, 3000, size=(4, 8))
    w2 = np.full((3, 6), 1500)
    w2[2] = -config.weight.hi
    full = np.ones((config.n_steps, config.n_inputs), bool)
    quiet = np.zeros_like(full)
    quiet[0] = True
    stats = run(simulate, config, [w1, w2], [full, quiet, full], stats=[])
    assert len(stats) == 3 * config.n_steps


def test_cycles_per_step(simulate):
    """Clocks per step follow docs/rtl.md: one clock per synaptic operation once two or more
    inputs spike, plus a fixed per-layer overhead."""
    config = Config(layers=(16, 8, 4), n_steps=6, input_window=6)
    rng = np.random.default_rng(6)
    stats = run(simulate, config, random_weights(config, rng),
                random_rasters(config, rng, 1, rate=0.5), stats=[])
    for listed, cycles in stats:
        expected = expected_cycles(config, listed)
        assert cycles == expected, (listed, cycles, expected)


def expected_cycles(config, listed):
    """The model of docs/rtl.md: 1 + sum over layers of max(N * max(K, 2) + 4, J + 2)."""
    sizes = config.layers
    return 1 + sum(max(sizes[k + 1] * max(K, 2) + 4, sizes[k] + 2) for k, K in enumerate(listed))
