# amaranth: UnusedElaboratable=no
"""Issue 23's rule in the sequenced core (rtl/seqcore.py) in lock step with golden.network: the
surrogate eligibility (spec 5.2), the integrate output layer (5.5) and its softmax errors and
updates (6.1, 6.3, 6.4); every state word after every step, weights, feedback and LFSRs after
every LEARN, and the clocks of every STEP and LEARN against SequencedCycles."""

import random

import numpy as np
import pytest

from plasticore.golden.config import Config, Format
from plasticore.golden.network import Network
from plasticore.rtl.seqcore import SequencedCore

from .coredrv import lockstep
from .test_core import random_feedback, random_rasters, random_weights

#: the winning configuration's rule options (experiments/configs/surrogate-softmax.json)
RULE = dict(output_layer="integrate", output_loss="softmax", eligibility="surrogate",
            surrogate_width=0.5, rate_reg_shift=None, lr_hidden_shift=6, lr_output_shift=9)


@pytest.fixture
def gates(monkeypatch):
    """The neurons the golden model's surrogate gate opens, one list per hidden layer and step."""
    record = []
    original = Network._surrogate_updates

    def spy(self, layer, membrane, theta):
        open_ = np.abs(membrane[0] - theta) <= self.config.surrogate_width_q
        record.append([int(i) for i in np.nonzero(open_)[0]])
        return original(self, layer, membrane, theta)

    monkeypatch.setattr(Network, "_surrogate_updates", spy)
    return record


def lockstep_run(simulate, config, weights, rasters, gates, labels=None, feedback=None, seed=0):
    """Lock step with the golden model; the clocks of every STEP and LEARN checked against
    SequencedCycles (with the gates the golden model opened). Returns (net, step stats,
    learn clocks)."""
    core = SequencedCore(config)
    stats, learn_stats, out = [], [], {}

    async def bench(ctx):
        out["net"] = await lockstep(ctx, core, weights, rasters, rng=random.Random(seed),
                                    stats=stats, feedback=feedback, labels=labels,
                                    learn_stats=learn_stats)

    simulate(core, bench)
    model = SequencedCore.model(config)
    H = len(config.hidden_sizes)
    surrogate = config.eligibility == "surrogate"
    assert len(gates) == (H * len(stats) if surrogate else 0)
    for s, (listed, cycles, spikers) in enumerate(stats):
        gated = gates[s * H:(s + 1) * H] + [[]] if surrogate else None
        assert cycles == model.step_cycles(listed, spikers, gated), (s, listed, spikers, gated)
    assert learn_stats == [model.learn_cycles()] * len(learn_stats), learn_stats
    return out["net"], stats, learn_stats


@pytest.mark.parametrize("layers", [(8, 6, 3), (8, 6, 5, 3)])
def test_surrogate_spiking_output(simulate, gates, layers):
    """The surrogate eligibility with the thesis's spiking output layer: run and learn."""
    config = Config(layers=layers, n_steps=12, input_window=8, eligibility="surrogate")
    rng = np.random.default_rng(20 + len(layers))
    net, _, _ = lockstep_run(simulate, config, random_weights(config, rng, full_scale=0.02),
                             random_rasters(config, rng, 3), gates,
                             labels=rng.integers(0, 3, size=3).tolist(),
                             feedback=random_feedback(config, rng))
    assert sum(map(len, gates)) > 0


@pytest.mark.parametrize("eligibility", ["spike_time", "surrogate"])
def test_integrate_output_run(simulate, gates, eligibility):
    """The integrate output layer, running only (no LEARN): V_o and S_o, no traces."""
    config = Config(layers=(8, 6, 5, 3), n_steps=12, input_window=8, output_layer="integrate",
                    eligibility=eligibility, lr_hidden_shift=6)
    rng = np.random.default_rng(30)
    net, _, _ = lockstep_run(simulate, config, random_weights(config, rng, full_scale=0.02),
                             random_rasters(config, rng, 2), gates)
    assert (net.layers[-1].a != 0).any() and (net.layers[-1].grade_sum != 0).any()


def test_refusals():
    """What the sequenced core does not implement is refused by name."""
    with pytest.raises(ValueError, match="output_loss='hinge'"):
        SequencedCore(Config(layers=(8, 6, 3), output_layer="integrate", output_loss="hinge"))
    with pytest.raises(ValueError, match="output_layer='integrate' needs a hidden layer"):
        SequencedCore(Config(layers=(8, 3), output_layer="integrate", rule="readout",
                             lr_hidden_shift=6))


@pytest.mark.parametrize("layers", [(8, 6, 3), (8, 6, 5, 3)])
@pytest.mark.parametrize("rates", [(6, 9), (0, 0)])
def test_new_rule_learns(simulate, gates, layers, rates):
    """Issue 23's rule (integrate + softmax + surrogate, the winning configuration's options) on
    one and two hidden layers: three samples, each followed by LEARN; at its rates, and at the
    fastest ones (every weight and feedback word moves)."""
    config = Config(layers=layers, n_steps=12, input_window=8,
                    **{**RULE, "lr_hidden_shift": rates[0], "lr_output_shift": rates[1]})
    rng = np.random.default_rng(40 + len(layers))
    weights = random_weights(config, rng, full_scale=0.02)
    net, _, learn_clocks = lockstep_run(
        simulate, config, weights, random_rasters(config, rng, 3), gates,
        labels=rng.integers(0, config.n_outputs, size=3).tolist(),
        feedback=random_feedback(config, rng))
    assert sum(map(len, gates)) > 0 and len(learn_clocks) == 3
    if rates == (0, 0):
        assert all((layer.w[0] != w).any() for layer, w in zip(net.layers, weights))


@pytest.mark.parametrize("eligibility", ["spike_time", "surrogate"])
def test_integrate_softmax_options(simulate, gates, eligibility):
    """The integrate output with the softmax and the rate regulariser on (its shift takes
    ERROR_FRAC), with either eligibility; a LEARN without a sample in between, and a sample
    without a LEARN."""
    config = Config(layers=(8, 6, 3), n_steps=12, input_window=8, output_layer="integrate",
                    eligibility=eligibility, rate_reg_shift=1, lr_hidden_shift=2, lr_output_shift=1)
    rng = np.random.default_rng(50)
    lockstep_run(simulate, config, random_weights(config, rng, full_scale=0.05),
                 random_rasters(config, rng, 3), gates, labels=[2, None, 0],
                 feedback=random_feedback(config, rng))


def test_new_rule_saturation(simulate, gates):
    """Narrow state, grad, grade, weight and feedback formats and zero rate shifts under the new
    rule: V_o, S_o, ghat, weights and feedback all clip; values and flags match."""
    config = Config(layers=(8, 6, 3), n_steps=12, input_window=8, state=Format(18, 11),
                    grad=Format(8, 6), grade=Format(10, 8), feedback=Format(10, 8),
                    **{**RULE, "lr_hidden_shift": 0, "lr_output_shift": 0, "surrogate_width": 2.0},
                    feedback_shift=0, init_feedback=1.0)
    rng = np.random.default_rng(60)
    weights = random_weights(config, rng, full_scale=0.4)
    weights[1][:, :] = config.weight.hi
    weights[1][0, :] = config.weight.lo
    rasters = random_rasters(config, rng, 3, rate=0.7)
    net, _, _ = lockstep_run(simulate, config, weights, rasters, gates, labels=[0, 1, 2],
                             feedback=random_feedback(config, rng, scale=200))
    flags = net.flags
    assert all(flags[name][0] for name in ("state", "grad", "grade", "weight", "feedback")), flags
