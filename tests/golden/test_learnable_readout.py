"""The integrate output layer, its hinge error and the surrogate hidden eligibility (spec 5.2, 5.5,
6.1, 6.3): each term equals a direct computation from recorded state, in fixed point and in float,
and the thesis-form defaults are untouched."""

import numpy as np
import pytest

from plasticore.golden.config import Config, ConfigError
from plasticore.golden.datasets import load
from plasticore.golden.network import Network
from plasticore.golden.train import encode_images

RULE = dict(layers=(64, 24, 10), output_layer="integrate", eligibility="surrogate",
            rate_reg_shift=None, init_hidden=4.0, init_output=0.5, lr_hidden_shift=6,
            lr_output_shift=9)


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def _run_recording(net, raster):
    """Run one window step by step; record, per step, each layer's membrane after the decay (the
    one the threshold and the gate see) and the first layer's eps (its input traces after the
    decay)."""
    cfg = net.config
    net.reset()
    membranes, eps, hidden_spikes = [], [], []
    for n in range(cfg.n_steps):
        hidden = net.layers[0]
        if net.fixed:
            a = (hidden.a * cfg.rho_q) >> 16
            c = (hidden.c * cfg.rho_s_q) >> 16
            x = (hidden.trace_x * cfg.rho_q) >> 16
            y = (hidden.trace_y * cfg.rho_s_q) >> 16
            eps.append((x - y) >> (cfg.trace.frac - cfg.grad.frac))
        else:
            a, c = hidden.a * cfg.rho, hidden.c * cfg.rho_s
            eps.append(hidden.trace_x * cfg.rho - hidden.trace_y * cfg.rho_s)
        membranes.append(a - c)
        net.step(raster[:, n])
        hidden_spikes.append(net.layers[0].spikes.copy())
    return np.stack(membranes, 1), np.stack(eps, 1), np.stack(hidden_spikes, 1)


@pytest.mark.parametrize("fixed", [True, False])
def test_surrogate_ghat_is_minus_eps_summed_over_the_gated_steps(digits, fixed):
    cfg = Config(**RULE)
    net = Network(cfg, fixed=fixed, batch=8, seed=1)
    raster = encode_images(cfg, digits.x_train[:8])
    membrane, eps, _ = _run_recording(net, raster)
    theta = cfg.threshold_q if fixed else cfg.threshold
    width = cfg.surrogate_width_q if fixed else cfg.surrogate_width
    gate = np.abs(membrane - theta) <= width                      # (B, T, N)
    expected = -np.einsum("btn,btj->bnj", gate.astype(eps.dtype), eps)
    assert gate.sum() > 0 and (gate.sum(axis=(0, 1)) > 0).sum() > cfg.layers[1] // 2
    if fixed:
        assert np.array_equal(net.layers[0].ghat, np.clip(expected, cfg.grad.lo, cfg.grad.hi))
    else:
        np.testing.assert_allclose(net.layers[0].ghat, expected, rtol=1e-12, atol=1e-12)
    # the thesis's reset-path trace is not used by the surrogate
    assert not net.layers[0].ehat.any()


@pytest.mark.parametrize("fixed", [True, False])
def test_integrate_output_sums_the_weights_of_the_hidden_spikes(digits, fixed):
    cfg = Config(**RULE)
    net = Network(cfg, fixed=fixed, batch=8, seed=2)
    raster = encode_images(cfg, digits.x_train[:8])
    _, _, spikes = _run_recording(net, raster)
    counts = spikes.sum(axis=1)
    out = net.layers[-1]
    expected = np.einsum("bi,boi->bo", counts, np.broadcast_to(out.w, (8,) + out.w.shape[1:]))
    np.testing.assert_array_equal(out.a, expected) if fixed else np.testing.assert_allclose(out.a, expected)
    assert not out.count.any() and not out.c.any()
    assert np.array_equal(net.predict(), np.argmax(out.a, axis=1))
    # D_o: the grade of each hidden neuron's first spike (its perturbation) through w_oi
    fired = counts > 0
    if fixed:
        products = (out.w * (net.layers[0].perturbation * fired)[:, None, :]) >> cfg.weight.frac
        assert np.array_equal(out.grade_sum, products.sum(axis=2))
    else:
        np.testing.assert_allclose(out.grade_sum, np.einsum("boi,bi->bo", np.broadcast_to(
            out.w, (8,) + out.w.shape[1:]), net.layers[0].perturbation * fired))


def test_hinge_errors_follow_the_margin():
    cfg = Config(**RULE, output_loss="hinge")
    net = Network(cfg, fixed=True, batch=3, seed=0)
    m = cfg.hinge_margin_q
    v = np.zeros((3, 10), np.int64)
    v[0, 3] = 10 * m                       # label 3 wins by far: no error
    v[1, 2], v[1, 5] = m, m                # label 2 ties with 5: 5 violates, and so does every
    v[2] = -m                              # output within the margin of the label
    v[2, 7] = 0
    net.layers[-1].a = v
    delta = net.output_errors(np.array([3, 2, 0]))
    assert not delta[0].any()
    expected1 = np.zeros(10, np.int64)
    expected1[5], expected1[2] = -1, 1
    assert np.array_equal(delta[1], expected1)
    # label 0 at -m: the others at -m violate (0 + m > 0), 7 at 0 violates too
    assert delta[2, 0] == 9 and (delta[2, 1:] == -1).all()


def test_softmax_errors_track_the_exact_base_2_softmax():
    """Fixed point: the table's 6 fraction bits of the exponent (2**(1/64) = 1.1 %) and the floor
    of the division bound the error of each delta_o; the errors sum to about zero."""
    cfg = Config(**RULE)
    rng = np.random.default_rng(0)
    batch = 64
    fixed = Network(cfg, fixed=True, batch=batch, seed=0)
    flt = Network(cfg, fixed=False, batch=batch, seed=0)
    v = rng.integers(-12 * cfg.state.one, 12 * cfg.state.one, size=(batch, 10))
    v[0] = 0                                                   # all tied
    v[1, :] = -20 * cfg.state.one                              # one far ahead, the rest below 2**-16
    v[1, 4] = 0
    fixed.layers[-1].a, flt.layers[-1].a = v, v / cfg.state.one
    labels = rng.integers(0, 10, size=batch)
    labels[1] = 4
    dq, df = fixed.output_errors(labels), flt.output_errors(labels)
    one = 1 << cfg.error_frac
    assert dq.dtype == np.int64 and cfg.error_frac == 10
    assert np.all(np.abs(dq / one - df) <= 0.012 * np.abs(df - (np.arange(10) == labels[:, None])) + 2 / one)
    assert np.all(np.abs(dq.sum(axis=1)) <= 10)                # floors: at most 1 LSB per output
    assert np.array_equal(dq[0], (np.arange(10) == labels[0]) * one - one // 10)
    assert dq[1, 4] == 0 and not dq[1].any()
    np.testing.assert_allclose(df.sum(axis=1), 0, atol=1e-12)


@pytest.mark.parametrize("fixed", [True, False])
@pytest.mark.parametrize("loss", ["softmax", "hinge"])
def test_integrate_output_update_is_delta_times_the_hidden_count(digits, fixed, loss):
    cfg = Config(**RULE, output_loss=loss)
    init_w, init_b = Network.initial_weights(cfg, 4, fixed=fixed)
    weights = [np.stack([w] * 4) for w in init_w]
    net = Network(cfg, weights, [np.stack([b] * 4) for b in init_b], fixed=fixed, batch=4, seed=None)
    raster = encode_images(cfg, digits.x_train[:4])
    net.run(raster)
    counts = net.layers[0].count.copy()
    w_before = net.layers[-1].w.copy()
    labels = digits.y_train[:4]
    delta = net.output_errors(labels)
    lfsr_before = net.lfsr_round.copy()
    net.learn(labels)
    product = delta[:, :, None] * counts[:, None, :]
    if fixed:
        # the hidden update consumes its draws first; the output step then is a stochastic
        # rounding of product * 2**(frac - shift): within one LSB of the exact value
        exact = product * 2.0 ** (cfg.weight.frac - cfg.output_update_shift)
        step = net.layers[-1].w - w_before
        assert np.all(np.abs(step - exact) < 1)
        assert not np.array_equal(net.lfsr_round, lfsr_before)
    else:
        np.testing.assert_allclose(net.layers[-1].w - w_before, product * 2.0 ** -cfg.lr_output_shift,
                                   rtol=1e-6, atol=1e-15)
    assert np.abs(delta).sum() > 0


def test_the_thesis_form_stays_the_default():
    cfg = Config()
    assert (cfg.output_layer, cfg.eligibility) == ("spiking", "spike_time")
    assert cfg.output_update_shift == cfg.grad.frac - cfg.weight.frac + cfg.lr_output_shift
    rule = Config(**RULE)
    assert rule.output_update_shift == rule.lr_output_shift + 10
    assert rule.replace(output_loss="hinge").output_update_shift == rule.lr_output_shift
    assert rule.core_hash != Config(layers=RULE["layers"]).core_hash


@pytest.mark.parametrize("field,value,needle", [
    ("output_layer", "softmax", "output_layer must be one of"),
    ("eligibility", "box", "eligibility must be one of"),
    ("output_loss", "mse", "output_loss must be one of"),
    ("hinge_margin", 0, "hinge_margin must be a positive"),
    ("surrogate_width", -0.5, "surrogate_width must be a positive"),
])
def test_bad_rule_fields_are_refused_by_name(field, value, needle):
    with pytest.raises(ConfigError, match=needle):
        Config(**{**RULE, field: value})
