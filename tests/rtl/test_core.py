# amaranth: UnusedElaboratable=no
"""rtl.core (the pipelined core, with and without read registers) and rtl.seqcore (the sequenced
core) in lock step with golden.network (fixed=True): every state word, the perturbations and the
flags compared after the reset and after every step; weights, feedback and LFSRs after every
LEARN; each kind's cycle model."""

import random

import numpy as np
import pytest

from plasticore.golden.config import Config, Format
from plasticore.rtl.core import Core
from plasticore.rtl.kinds import CORE_KINDS as KINDS
from plasticore.rtl.kinds import core_model, make_core
from plasticore.rtl.seqcore import SequencedCore

from .coredrv import lockstep

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


def check_sequenced_cycles(config, stats, learn_stats):
    """The sequenced core's cycle model against the clocks it took (the pipelined cores'
    models have tests of their own below)."""
    model = SequencedCore.model(config)
    for listed, cycles, spikers in stats:
        assert cycles == model.step_cycles(listed, spikers), (listed, spikers, cycles)
    assert learn_stats == [model.learn_cycles()] * len(learn_stats), learn_stats


def run(simulate, config, weights, rasters, seed=0, stats=None, compact=False, kind=None):
    kind = kind or ("compact" if compact else "pipelined")
    core = make_core(config, kind)
    if stats is None and kind == "sequenced":
        stats = []

    async def bench(ctx):
        await lockstep(ctx, core, weights, rasters, rng=random.Random(seed), stats=stats)

    simulate(core, bench)
    if kind == "sequenced":
        check_sequenced_cycles(config, stats, [])
    return stats


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_random_small(simulate, kind):
    rng = np.random.default_rng(1)
    run(simulate, SMALL, random_weights(SMALL, rng), random_rasters(SMALL, rng, 2), kind=kind)


@pytest.mark.parametrize("kind", KINDS)
def test_random_deep(simulate, kind):
    """Two hidden layers: the spike lists ping-pong between both banks; every kind of core."""
    config = Config(layers=(8, 6, 5, 3), n_steps=10, input_window=6)
    rng = np.random.default_rng(2)
    run(simulate, config, random_weights(config, rng), random_rasters(config, rng, 2), kind=kind)


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_readout_only_and_tiny_layers(simulate, kind):
    """One weight layer (no hidden neurons, no perturbations), and a one-neuron hidden layer."""
    rng = np.random.default_rng(3)
    config = Config(layers=(5, 3), n_steps=8, input_window=4, rule="readout")
    run(simulate, config, random_weights(config, rng), random_rasters(config, rng, 2), kind=kind)
    config = Config(layers=(3, 1, 2), n_steps=8, input_window=4)
    run(simulate, config, [np.full((1, 3), 4000), np.array([[2000], [-3000]])],
        random_rasters(config, rng, 2, rate=0.6), kind=kind)


NARROW = Config(layers=(8, 6, 3), n_steps=12, input_window=8, state=Format(18, 11),
                trace=Format(14, 12, False), grade=Format(10, 8), count_bits=3,
                target_true=7, target_false=1)


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_saturation_flags(simulate, kind):
    """Narrow formats: state, trace, grade and count all clip; values and flags match."""
    rng = np.random.default_rng(4)
    weights = random_weights(NARROW, rng, full_scale=0.5)
    weights[0][1] = NARROW.weight.hi                      # hidden neuron 1 fires every step
    rasters = random_rasters(NARROW, rng, 2, rate=0.7)
    rasters[0][:, 0] = True                               # input 0 spikes every step
    net = {}

    async def bench(ctx):
        net["golden"] = await lockstep(ctx, core, weights, rasters, rng=random.Random(4))

    core = make_core(NARROW, kind)
    simulate(core, bench)
    flags = net["golden"].flags
    assert all(flags[name][0] for name in ("state", "trace", "grade", "count")), flags


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_directed(simulate, kind):
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
    stats = run(simulate, config, [w1, w2], [full, quiet, full], stats=[], kind=kind)
    assert len(stats) == 3 * config.n_steps


@pytest.mark.parametrize("compact", [False, True])
def test_cycles_per_step(simulate, compact):
    """Clocks per step follow docs/rtl.md: the neuron loop at one synaptic operation per clock
    once two or more inputs spike, the trace pass, and the eligibility engine (one reciprocal per
    spiking neuron, then one synapse per clock) -- the model of ``expected_cycles``. The runs
    include steps in which a layer's eligibility updates overlap the next layer, and (two hidden
    layers) steps in which a layer waits for the eps bank of the layer two before it. The
    ``compact`` core (no read registers) has its own latencies in the same model."""
    seen = {"overlap": 0, "bank_wait": 0}
    for config, seed in ((Config(layers=(16, 8, 4), n_steps=6, input_window=6), 6),
                         (Config(layers=(40, 8, 4), n_steps=6, input_window=6), 7),
                         (Config(layers=(16, 12, 2, 3), n_steps=6, input_window=6), 8)):
        rng = np.random.default_rng(seed)
        stats = run(simulate, config, random_weights(config, rng),
                    random_rasters(config, rng, 1, rate=0.5), stats=[], compact=compact)
        assert any(spikers[0] for _, _, spikers in stats)
        for listed, cycles, spikers in stats:
            expected = expected_cycles(config, listed, spikers, compact)
            assert cycles == expected, (listed, spikers, cycles, expected)
            layers = Core.model(config, compact=compact).step_timing(listed, spikers)["layers"]
            for before, after in zip(layers, layers[1:]):
                seen["overlap"] += (before["elig_end"] or 0) > after["start"]
                seen["bank_wait"] += after["start"] > before["start"] + max(before["loop"], before["trace"])
    assert seen["overlap"] and seen["bank_wait"], seen


def expected_cycles(config, listed, spikers, compact=False):
    """The model of docs/rtl.md (``Core.step_timing``): layers run their neuron loop and trace
    pass one after the other; the eligibility engine trails them and may overlap the next layer."""
    return Core.model(config, compact=compact).step_cycles(listed, spikers)


# --- learning (spec 6) ---------------------------------------------------------------------------

def random_feedback(config, rng, scale=4096):
    return [rng.integers(-scale, scale + 1, size=(config.n_outputs, h)) for h in config.hidden_sizes]


def learn(simulate, config, weights, rasters, labels, feedback=None, seed=0, learn_stats=None,
          compact=False, kind=None):
    kind = kind or ("compact" if compact else "pipelined")
    core = make_core(config, kind)
    out, stats = {}, []
    if learn_stats is None and kind == "sequenced":
        learn_stats = []

    async def bench(ctx):
        out["net"] = await lockstep(ctx, core, weights, rasters, rng=random.Random(seed), stats=stats,
                                    feedback=feedback, labels=labels, learn_stats=learn_stats)

    simulate(core, bench)
    if kind == "sequenced":
        check_sequenced_cycles(config, stats, learn_stats)
    return out["net"]


@pytest.mark.parametrize("layers", [(8, 6, 3), (8, 6, 5, 3)])
@pytest.mark.parametrize("rule", ["sfdfa", "dfa", "readout"])
@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_learn_rules(simulate, layers, rule, kind):
    """Every rule on one and two hidden layers: three back-to-back samples, each followed by LEARN;
    ghat/ehat after every step, weights/feedback/LFSRs after every LEARN."""
    config = Config(layers=layers, n_steps=12, input_window=8, rule=rule)
    rng = np.random.default_rng(10 + len(layers))
    stats = []
    net = learn(simulate, config, random_weights(config, rng, full_scale=0.02), random_rasters(config, rng, 3),
                rng.integers(0, config.n_outputs, size=3).tolist(), random_feedback(config, rng),
                learn_stats=stats, kind=kind)
    assert any((layer.ghat != 0).any() for layer in net.layers)
    assert stats == [core_model(config, kind).learn_cycles()] * 3, stats


def test_learn_compact(simulate):
    """The compact core (the iCE40's: no read registers) learns bit for bit like the golden model,
    in its own cycle count, a few clocks per phase fewer than the registered core's."""
    config = Config(layers=(8, 6, 5, 3), n_steps=12, input_window=8)
    rng = np.random.default_rng(12)
    stats = []
    learn(simulate, config, random_weights(config, rng, full_scale=0.02), random_rasters(config, rng, 3),
          rng.integers(0, config.n_outputs, size=3).tolist(), random_feedback(config, rng),
          learn_stats=stats, compact=True)
    compact = Core.model(config, compact=True).learn_cycles()
    assert stats == [compact] * 3, stats
    assert compact < Core.model(config).learn_cycles()


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_learn_readout_only_layer(simulate, kind):
    """No hidden layer at all (readout on (5, 3)): output weights only, no feedback."""
    config = Config(layers=(5, 3), n_steps=8, input_window=4, rule="readout", lr_output_shift=2)
    rng = np.random.default_rng(12)
    learn(simulate, config, [rng.integers(-3000, 6000, size=(3, 5))],
          random_rasters(config, rng, 3, rate=0.5), [0, 2, 1], kind=kind)


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_learn_reset_path_off_no_regulariser_no_clip(simulate, kind):
    config = Config(layers=(8, 6, 3), n_steps=12, input_window=8, reset_path=False, rate_reg_shift=None,
                    error_clip=None)
    rng = np.random.default_rng(13)
    learn(simulate, config, random_weights(config, rng, full_scale=0.02), random_rasters(config, rng, 2),
          [1, 0], random_feedback(config, rng), kind=kind)


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_learn_zero_error(simulate, kind):
    """Targets equal to the counts (silent outputs, targets 0) and no rate regulariser: every
    delta is 0, so no weight moves, yet the rounding LFSR advances once per word; the feedback
    still decays towards D_o p_i = 0 where hidden neurons fired (the golden model does that)."""
    config = Config(layers=(8, 6, 3), n_steps=12, input_window=8, target_true=0, target_false=0,
                    rate_reg_shift=None)
    rng = np.random.default_rng(14)
    w1 = rng.integers(500, 4000, size=(6, 8))
    w2 = np.full((3, 6), -4000)
    fb = random_feedback(config, rng)
    net = learn(simulate, config, [w1, w2], random_rasters(config, rng, 2), [1, 2], fb, kind=kind)
    assert (net.layers[0].w[0] == w1).all() and (net.layers[1].w[0] == w2).all()
    assert (net.layers[0].count > 0).any() and (net.feedback[0][0] != fb[0]).any()


LEARN_NARROW = Config(layers=(8, 6, 3), n_steps=12, input_window=8, grad=Format(8, 10),
                      feedback=Format(10, 8), lr_hidden_shift=0, lr_output_shift=1, feedback_shift=0,
                      init_feedback=1.0)


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_learn_saturation_flags(simulate, kind):
    """Narrow grad and feedback formats, zero learning-rate shifts: ghat/ehat, weights and
    feedback all clip; values and flags match after every step and every LEARN."""
    config = LEARN_NARROW
    rng = np.random.default_rng(15)
    weights = random_weights(config, rng, full_scale=0.3)
    weights[0][1] = config.weight.hi
    weights[1][:, 1] = config.weight.hi
    net = learn(simulate, config, weights, random_rasters(config, rng, 3, rate=0.6), [0, 1, 2],
                random_feedback(config, rng, scale=200), kind=kind)
    flags = net.flags
    assert all(flags[name][0] for name in ("grad", "weight", "feedback")), flags


@pytest.mark.parametrize("kind", ["pipelined", "sequenced"])
def test_current_clamp_and_inference_samples(simulate, kind):
    """A spike whose current c' is below theta (negative: an inhibitory input after an
    excitatory one), so the reciprocal clamps to r = 0xFFFF; samples without LEARN in between
    (the SAMPLE reset clears ghat/ehat left by the eligibility engine)."""
    config = SMALL
    w1 = np.zeros((6, 8), np.int64)
    w1[:, :4] = config.weight.hi                       # excitatory: a large u
    w1[:3, 4:] = config.weight.lo                      # inhibitory: then c < 0 while u stays
    w1[3:, 4:] = -8000
    w2 = np.full((3, 6), 3000)
    raster = np.zeros((config.n_steps, config.n_inputs), bool)
    raster[0, :4] = True
    raster[1, 4:] = True
    # the golden model sees a spike with c' < theta
    from .coredrv import make_network
    probe = make_network(config, [w1, w2])
    clamped = False
    for row in raster:
        c_dec = (probe.layers[0].c * config.rho_s_q) >> 16
        probe.step(row[None])
        clamped |= bool((probe.layers[0].spikes & (c_dec < config.threshold_q)).any())
    assert clamped
    rng = np.random.default_rng(16)
    learn(simulate, config, [w1, w2], [raster, random_rasters(config, rng, 1)[0], raster, raster],
          [None, 1, None, 0], random_feedback(config, rng), kind=kind)


def test_grad_memory_choice_and_refusals():
    """GRAD/FEEDBACK: banked in simulation and on the ECP5, the SPRAM pair on an iCE40
    UltraPlus when every layer's input count is even; a bad choice is refused by name."""
    even, odd = Config(layers=(8, 6, 3)), Config(layers=(7, 6, 3))
    assert Core.model(even).grad_memory() == "banked"
    assert Core.model(even).grad_memory("LFE5U-85F") == "banked"
    assert Core.model(even).grad_memory("iCE40UP5K") == "paired"
    assert Core.model(odd).grad_memory("iCE40UP5K") == "banked"
    with pytest.raises(ValueError, match="grad_memory must be"):
        Core(even, grad_memory="spram")
    with pytest.raises(ValueError, match="even input count.*layers \\(7, 6, 3\\)"):
        Core(odd, grad_memory="paired")


# --- issue 23's rule: integrate output, softmax error, surrogate eligibility ----------------------

NEW_RULE = dict(output_layer="integrate", output_loss="softmax", eligibility="surrogate",
                surrogate_width=0.5, rate_reg_shift=None, lr_hidden_shift=6, lr_output_shift=9)


def check_pipelined_cycles(config, kind, stats, learn_stats):
    """Every step's and every LEARN's clocks against the pipelined model of ``kind``."""
    model = core_model(config, kind)
    for listed, cycles, queued in stats:
        assert cycles == model.step_cycles(listed, queued), (listed, queued, cycles)
    assert learn_stats == [model.learn_cycles()] * len(learn_stats), learn_stats


def learn_new_rule(simulate, config, kind, seed, samples=3, rate=0.4, weights=None, feedback=None):
    rng = np.random.default_rng(seed)
    if weights is None:
        weights = random_weights(config, rng, full_scale=0.02)
    if feedback is None:
        feedback = random_feedback(config, rng)
    core = make_core(config, kind)
    out, stats, learn_stats = {}, [], []
    labels = rng.integers(0, config.n_outputs, size=samples).tolist()

    async def bench(ctx):
        rasters = random_rasters(config, rng, samples, rate=rate)
        out["net"] = await lockstep(ctx, core, weights, rasters, rng=random.Random(seed),
                                    stats=stats, feedback=feedback, labels=labels,
                                    learn_stats=learn_stats)

    simulate(core, bench)
    check_pipelined_cycles(config, kind, stats, learn_stats)
    return out["net"], stats


@pytest.mark.parametrize("layers", [(8, 6, 3), (8, 6, 5, 3)])
@pytest.mark.parametrize("kind", ["pipelined", "compact"])
def test_new_rule_learn(simulate, layers, kind):
    """integrate + softmax + surrogate on one and two hidden layers: three samples, each followed
    by LEARN; every state word (ghat of the gated neurons, V_o = a_o, S_o) after every step,
    weights, feedback and LFSRs after every LEARN; step and learn clocks as the model says."""
    config = Config(layers=layers, n_steps=12, input_window=8, **NEW_RULE)
    net, stats = learn_new_rule(simulate, config, kind, seed=30 + len(layers))
    assert any((layer.ghat != 0).any() for layer in net.layers[:-1])
    assert any(sum(map(len, queued)) for _, _, queued in stats)
    assert (net.layers[-1].a != 0).any() or (net.layers[-1].grade_sum != 0).any()


@pytest.mark.parametrize("kind", ["pipelined", "compact"])
def test_new_rule_with_regulariser_and_reset_path_off(simulate, kind):
    """The rate regulariser (its shift takes ERROR_FRAC more) and no ehat field in GRAD."""
    config = Config(layers=(8, 6, 3), n_steps=12, input_window=8,
                    **{**NEW_RULE, "rate_reg_shift": 1, "reset_path": False})
    learn_new_rule(simulate, config, kind, seed=41, samples=2)


@pytest.mark.parametrize("kind", ["pipelined", "compact"])
def test_new_rule_saturation_flags(simulate, kind):
    """Narrow state, grade and grad formats, zero learning-rate shifts: V_o, S_o, ghat, weights
    and feedback clip; values and flags match after every step and LEARN."""
    config = Config(layers=(8, 6, 3), n_steps=12, input_window=8, state=Format(18, 11),
                    grade=Format(10, 8), grad=Format(8, 9), feedback=Format(10, 8),
                    **{**NEW_RULE, "lr_hidden_shift": 0, "lr_output_shift": 0}, feedback_shift=0)
    rng = np.random.default_rng(42)
    weights = random_weights(config, rng, full_scale=0.5)
    weights[0][1] = config.weight.hi                      # hidden neuron 1 fires every step
    weights[1][:, 1] = config.weight.hi                   # drives V_o to the state's top
    net, _ = learn_new_rule(simulate, config, kind, seed=42, rate=0.7, weights=weights,
                            feedback=random_feedback(config, rng, scale=200))
    flags = net.flags
    assert all(flags[name][0] for name in ("state", "grad", "grade", "weight")), flags


@pytest.mark.parametrize("options", [dict(eligibility="surrogate"),
                                     dict(output_layer="integrate", rate_reg_shift=None,
                                          lr_hidden_shift=6, lr_output_shift=9)])
def test_rule_halves(simulate, options):
    """Each half of the new rule alone: the surrogate eligibility with a spiking output (whose
    ghat stays 0), an integrate + softmax output with the spike-time eligibility."""
    config = Config(layers=(8, 6, 3), n_steps=12, input_window=8, **options)
    learn_new_rule(simulate, config, "pipelined", seed=43, samples=2)


def test_new_rule_refusals():
    """What the pipelined and compact cores do not build is refused by name."""
    with pytest.raises(ValueError, match="output_loss='hinge'"):
        Core(Config(layers=(8, 6, 3), output_layer="integrate", output_loss="hinge"))
    with pytest.raises(ValueError, match="no output_layer=.integrate. without a hidden layer"):
        Core(Config(layers=(8, 3), rule="readout", output_layer="integrate", lr_hidden_shift=6))
    assert Core.model(Config(layers=(8, 6, 3), **NEW_RULE)).learn_cycles() > 0
