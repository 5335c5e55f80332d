"""experiments/rate_control.py: off, it is the golden model; on, each term is what it says (§22)."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from plasticore.golden import datasets
from plasticore.golden import train as golden_train
from plasticore.golden.network import Network
from plasticore.golden.resolve import resolve_config

from expkit import load_script

pytest.importorskip("sklearn")

rc = load_script(Path(__file__).resolve().parents[2] / "experiments" / "rate_control.py")


def _pair(network_class, *, fixed, config=None):
    """The golden network and ``network_class``, same weights, one digit run through both."""
    config = config or resolve_config("digits", rule="sfdfa")
    w, b = Network.initial_weights(config, 0, fixed=fixed)
    nets = [cls(config, [x.copy() for x in w], [x.copy() for x in b], fixed=fixed, seed=0)
            for cls in (Network, network_class)]
    data = datasets.load("digits")
    raster = golden_train.encode_images(config, data.x_train[:1])
    for net in nets:
        net.run(raster)
    return nets, raster, int(data.y_train[0])


def test_both_off_is_the_golden_trainer():
    config = resolve_config("digits", rule="sfdfa")
    data = datasets.load("digits")
    kwargs = dict(epochs=1, seeds=[0, 1], limit=60, test_limit=30, progress=False)
    plain = golden_train.train(config, data, **kwargs)
    subclass = golden_train.train(config, data, network_class=rc.rate_control_network(), **kwargs)
    assert subclass.history == plain.history
    for a, b in zip(plain.network.weights() + plain.network.feedback,
                    subclass.network.weights() + subclass.network.feedback):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fixed", [False, True])
def test_silent_lift_raises_the_silent_neurons_active_inputs_only(fixed):
    lift = 11 if fixed else 9        # fixed: exactly one LSB of s16.11, whatever the rounding draw
    (plain, lifted), raster, label = _pair(rc.rate_control_network(silent_lift=lift), fixed=fixed)
    hidden = plain.layers[0]
    silent, active = hidden.count[0] == 0, raster[0].any(axis=0)
    assert silent.any() and (~silent).any() and active.any() and (~active).any()
    plain.learn([label])
    lifted.learn([label])
    expected = np.outer(silent, active) * (1 if fixed else 2.0 ** -lift)
    np.testing.assert_array_equal(lifted.layers[0].w[0] - plain.layers[0].w[0], expected)
    # the output layer's update comes before the lift: untouched
    np.testing.assert_array_equal(lifted.layers[1].w, plain.layers[1].w)


def test_running_rate_replaces_the_per_sample_shortfall():
    config = replace(resolve_config("digits", rule="sfdfa"), rate_reg_shift=1, rate_target=2)
    network = rc.rate_control_network(running_rate=3)
    (plain, running), raster, label = _pair(network, fixed=False, config=config)
    count = plain.layers[0].count[0].astype(float)
    delta_out = plain.output_errors([label])
    # first sample: the running mean starts at the target, so the regulariser is silent
    eb = plain.hidden_errors(delta_out)[0] - (2 - count) * 0.5
    np.testing.assert_allclose(running.hidden_errors(delta_out)[0], eb)
    running.learn([label])
    np.testing.assert_allclose(running.running[0][0], 2 + (count - 2) / 8)
    # fixed point: the same running mean in the feedback format, floor-shifted
    (_, fixed_net), _, _ = _pair(network, fixed=True, config=config)
    fixed_net.learn([label])
    one = 1 << config.feedback.frac
    np.testing.assert_array_equal(fixed_net.running[0][0],
                                  2 * one + (((fixed_net.layers[0].count[0] - 2) * one) >> 3))


@pytest.mark.parametrize("option", ["--running-rate", "--silent-lift"])
def test_a_shift_out_of_range_is_refused_by_name(option, capsys):
    with pytest.raises(SystemExit):
        rc.build_parser().parse_args([option, "31"])
    assert f"argument {option}" in capsys.readouterr().err
