"""The clocked network: fixed point tracks float64, saturation and the current clamp behave as the
spec says, feedback learning aligns, replicas equal single runs, stepping equals running."""

import numpy as np
import pytest

from plasticore.golden.config import DECAY_FRAC, Config, Format
from plasticore.golden.datasets import load
from plasticore.golden.network import Network
from plasticore.golden.train import _replica_network, encode_images, alignment, seed_config


@pytest.fixture(scope="module")
def digits():
    return load("digits")


def _float_twin(config, net_fixed):
    """A float network holding exactly the fixed network's weights and feedback, as reals."""
    weights = [layer.w / config.weight.one for layer in net_fixed.layers]
    feedback = [b / config.feedback.one for b in net_fixed.feedback]
    return Network(config, weights, feedback, fixed=False, batch=net_fixed.batch, seed=None)


def test_fixed_point_tracks_float_within_its_rounding_bound(digits):
    """Same weights, same inputs, one step at a time. The only error sources in A and C are the
    floor of each decay (< 1 LSB per step), so the error obeys e <- rho*e + 1 LSB and stays below
    1/(1 - rho) LSB for A and 1/(1 - rho_s) LSB for C. While a replica's spike history agrees
    with the float one, its states must be inside those bounds; a spike may differ only where the
    float membrane lies within the combined bound of the threshold."""
    cfg = Config(layers=(64, 32, 10))
    batch = 64
    fixed = Network(cfg, fixed=True, batch=batch, seed=3)
    flt = _float_twin(cfg, fixed)
    raster = encode_images(cfg, digits.x_test[:batch])
    fixed.reset()
    flt.reset()
    lsb = 1.0 / cfg.weight.one
    bound_a = lsb / (1 - cfg.rho) + lsb
    bound_c = lsb / (1 - cfg.rho_s) + lsb
    agree = np.ones(batch, bool)
    borderline_divergences = 0
    checked_states = 0
    for n in range(cfg.n_steps):
        previous = [(lf.a.copy(), lf.c.copy()) for lf in flt.layers]
        fixed.step(raster[:, n])
        flt.step(raster[:, n])
        for (a_prev, c_prev), lf, lq in zip(previous, flt.layers, fixed.layers):
            same = (lf.spikes == lq.spikes).all(axis=1)
            for b in np.nonzero(agree & ~same)[0]:
                # a spike may differ only where the float membrane was within the bound of theta
                i = np.nonzero(lf.spikes[b] != lq.spikes[b])[0]
                u_float = cfg.rho * a_prev[b, i] - cfg.rho_s * c_prev[b, i]
                assert np.all(np.abs(u_float - cfg.threshold) <= bound_a + bound_c), (n, b, u_float)
                borderline_divergences += 1
            agree &= same
            ok = agree
            err_a = np.abs(lq.a[ok] / cfg.weight.one - lf.a[ok])
            err_c = np.abs(lq.c[ok] / cfg.weight.one - lf.c[ok])
            assert err_a.max(initial=0) <= bound_a, (n, err_a.max())
            assert err_c.max(initial=0) <= bound_c, (n, err_c.max())
            checked_states += ok.sum()
    # the test must have checked most replicas through the whole window
    assert agree.mean() >= 0.8, agree.mean()
    assert checked_states > 0.8 * batch * cfg.n_steps * len(cfg.layers[1:])
    # and their eligibility: per spike, ghat's error is bounded by the eps error (trace floors,
    # < 1/(1-rho) + 1/(1-rho_s) trace LSBs, then one grad LSB for the shift), the product floor
    # (1 LSB), r's floor (2**-16 relative) and the e decay floor (1 LSB): < 4 grad LSB per spike,
    # compounded at most by the reset path's factor (1 + r) <= 2 per later spike -> we allow
    # 4 * 2**count LSB and check that the typical error is far smaller.
    for lf, lq in zip(flt.layers, fixed.layers):
        glsb = 1.0 / cfg.grad.one
        err = np.abs(lq.ghat[agree] / cfg.grad.one - lf.ghat[agree])
        allowed = 4 * glsb * 2.0 ** lq.count[agree][:, :, None]
        assert np.all(err <= allowed)
        assert np.median(err[lq.count[agree] > 0]) <= 4 * glsb


def test_clamp_sets_the_reciprocal_to_its_maximum_below_threshold_current():
    """A spike with C below theta uses C' = theta: r = 0xFFFF, and g = (r * (e - eps)) >> 16."""
    cfg = Config(layers=(4, 3), rule="readout", reset_path=False)
    net = Network(cfg, [np.zeros((3, 4), np.int64)], fixed=True, seed=None)
    layer = net.layers[0]
    theta = cfg.threshold_q
    # neuron 0: C far below theta (clamped); neuron 1: C = 4 theta (r = 1/4); neuron 2: silent
    c_after_decay = np.array([theta // 8, 4 * theta, 0])
    a_after_decay = c_after_decay + np.array([theta, theta + 5, theta - 1])
    # pre-decay values that decay to the values above exactly: invert by search on the floor
    for i in range(3):
        layer.c[0, i] = _predecay(c_after_decay[i], cfg.rho_s_q)
        layer.a[0, i] = _predecay(a_after_decay[i], cfg.rho_q)
    eps_words = np.array([0, 100, 2**12, 5 * 2**12 + 3])  # trace words, X - Y
    layer.trace_x[0] = _predecay_vec(eps_words + 2**13, cfg.rho_q)
    layer.trace_y[0] = _predecay_vec(np.full(4, 2**13), cfg.rho_s_q)
    net.step(np.zeros((1, 4), bool))
    assert layer.spikes[0].tolist() == [True, True, False]
    # no input spikes this step: the stored traces are the decayed ones the spike used
    eps = (layer.trace_x[0] - layer.trace_y[0]) >> (cfg.trace.frac - cfg.grad.frac)
    r0 = 0xFFFF
    r1 = (theta << DECAY_FRAC) // (4 * theta)
    assert layer.ghat[0, 0].tolist() == ((r0 * (0 - eps)) >> 16).tolist()
    assert layer.ghat[0, 1].tolist() == ((r1 * (0 - eps)) >> 16).tolist()
    assert layer.ghat[0, 2].tolist() == [0, 0, 0, 0]
    assert np.all(layer.ghat[0, 0] <= 0) and layer.ghat[0, 0, 3] < layer.ghat[0, 1, 3]


def _predecay(target: int, k: int) -> int:
    """An x with (x * k) >> 16 == target (exists for every target: k < 2**16)."""
    x = (target << 16) // k
    while (x * k) >> 16 < target:
        x += 1
    while (x * k) >> 16 > target:
        x -= 1
    assert (x * k) >> 16 == target
    return x


def _predecay_vec(targets, k):
    return np.array([_predecay(int(t), k) for t in targets])


def test_state_saturates_and_raises_its_flag():
    cfg = Config(layers=(64, 4, 2), weight=Format(16, 11), state=Format(18, 11))
    w = [np.full((4, 64), cfg.weight.hi), np.zeros((2, 4), np.int64)]
    net = Network(cfg, w, [np.zeros((2, 4), np.int64)], fixed=True, seed=None)
    net.step(np.ones((1, 64), bool))
    # 64 * 32767 far exceeds the s18 maximum: A and C stop at it
    assert net.layers[0].c[0].tolist() == [cfg.state.hi] * 4
    assert net.layers[0].a[0].tolist() == [cfg.state.hi] * 4
    assert net.flags["state"][0] and not net.flags["trace"][0]


def test_trace_and_count_saturate():
    cfg = Config(layers=(2, 3, 2), trace=Format(8, 5, False), grad=Format(16, 5), count_bits=2, lr_output_shift=8,
                 target_true=3, target_false=1)
    w = [np.full((3, 2), 6 * cfg.weight.one), np.zeros((2, 3), np.int64)]
    net = Network(cfg, w, [np.zeros((2, 3), np.int64)], fixed=True, seed=None)
    for _ in range(40):
        net.step(np.ones((1, 2), bool))
    # an input spiking every step drives X towards 1/(1-rho) = 10.5, beyond u8.5's 7.97
    assert net.layers[0].trace_x[0].tolist() == [cfg.trace.hi] * 2
    assert net.flags["trace"][0]
    # strongly driven neurons fire often: the 2-bit counter stops at 3
    assert net.layers[0].count[0].tolist() == [3, 3, 3]
    assert net.flags["count"][0]


def test_weights_saturate_under_a_huge_learning_rate(digits):
    cfg = Config(rule="readout", lr_output_shift=0, weight=Format(12, 8), state=Format(20, 8),
                 init_hidden=4.0, init_output=1.0)
    net = Network(cfg, fixed=True, seed=0)
    for k in range(30):
        net.run(encode_images(cfg, digits.x_train[k:k + 1]))
        net.learn(digits.y_train[k:k + 1])
    w = net.layers[-1].w
    assert w.min() >= cfg.weight.lo and w.max() <= cfg.weight.hi
    assert (w == cfg.weight.lo).any() or (w == cfg.weight.hi).any()
    assert net.flags["weight"][0]


def test_stochastic_rounding_is_unbiased():
    net = Network(Config(rule="readout", layers=(4, 2)), [np.zeros((2, 4), np.int64)], fixed=True, seed=None)
    x = np.full((1, 20000), 5, dtype=np.int64)  # 5 / 2**4 = 0.3125
    rounded = net._round_shift(x, 4, net._draw_round(x.size))
    assert set(np.unique(rounded)) == {0, 1}
    # binomial: mean 0.3125, sd of the mean sqrt(.3125*.6875/20000) = 0.0033; 5 sd
    assert abs(rounded.mean() - 0.3125) < 5 * 0.0033


def test_feedback_learning_aligns_feedback_with_output_weights(digits):
    """SFDFA's feedback moves towards the (causal) output weights; DFA's stays random."""
    cfg = Config(layers=(64, 32, 10), feedback_shift=6, init_feedback=0.5, lr_output_shift=9,
                 lr_hidden_shift=12)
    results = {}
    for rule in ("sfdfa", "dfa"):
        net = _replica_network(cfg.replace(rule=rule), [0], fixed=True)
        for k in range(600):
            net.run(encode_images(cfg, digits.x_train[k:k + 1]))
            net.learn(digits.y_train[k:k + 1])
        results[rule] = alignment(net.feedback[0][0], net.layers[-1].w[0])
    # measured (seed 0): sfdfa 0.44 after 200 samples, 0.58 after 600, 0.61 after 800; dfa ~0.
    # B converges to the *causal* output weight w_oi * P(i's spike precedes o's), not w_oi, so
    # the cosine with w stays below 1; "well above DFA's random feedback" is the claim tested.
    assert results["sfdfa"] > 0.45, results
    assert abs(results["dfa"]) < 0.2, results


def test_replicas_equal_single_runs(digits):
    cfg = Config()
    seeds = [4, 9]
    batched = _replica_network(cfg, seeds, fixed=True)
    singles = [_replica_network(cfg, [s], fixed=True) for s in seeds]
    for k in range(12):
        idx = np.array([k, 40 + k])
        batched.run(encode_images(cfg, digits.x_train[idx]))
        batched.learn(digits.y_train[idx])
        for r, net in enumerate(singles):
            net.run(encode_images(cfg, digits.x_train[idx[r:r + 1]]))
            net.learn(digits.y_train[idx[r:r + 1]])
    for r, net in enumerate(singles):
        for lb, ls in zip(batched.layers, net.layers):
            assert np.array_equal(lb.w[r], ls.w[0])
        assert np.array_equal(batched.feedback[0][r], net.feedback[0][0])
        assert batched.lfsr_round[r] == net.lfsr_round[0]
    assert batched.lfsr_round[0] != batched.lfsr_round[1]
    # replica r starts from seed_config(cfg, seeds[r])'s LFSR seeds
    fresh = _replica_network(cfg, seeds, fixed=True)
    assert fresh.lfsr_round[1] == seed_config(cfg, seeds[1]).seed_round


def test_run_equals_step_by_step(digits):
    cfg = Config()
    raster = encode_images(cfg, digits.x_test[:3])
    a = Network(cfg, fixed=True, batch=3, seed=2)
    b = Network(cfg, fixed=True, batch=3, seed=2)
    record = a.run(raster)
    b.reset()
    for n in range(cfg.n_steps):
        spikes = b.step(raster[:, n])
        for k, s in enumerate(spikes):
            assert np.array_equal(record.spikes[k][:, n], s)
    for la, lb in zip(a.layers, b.layers):
        for name in ("a", "c", "ghat", "ehat", "grade_total", "count", "trace_x"):
            assert np.array_equal(getattr(la, name), getattr(lb, name)), name
    with pytest.raises(RuntimeError, match="past the window"):
        b.step(raster[:, 0])


def test_bad_inputs_are_refused_by_name():
    cfg = Config(layers=(64, 32, 10))
    with pytest.raises(ValueError, match=r"weights\[0\] has shape"):
        Network(cfg, [np.zeros((3, 3)), np.zeros((10, 32))], [np.zeros((10, 32))])
    with pytest.raises(ValueError, match=r"weights\[1\] holds values outside"):
        Network(cfg, [np.zeros((32, 64), np.int64), np.full((10, 32), 1 << 20)], [np.zeros((10, 32))])
    with pytest.raises(ValueError, match="gaussian"):
        Network(cfg.replace(perturbation="gaussian"), fixed=True)
    net = Network(cfg, fixed=True, seed=0)
    with pytest.raises(ValueError, match="labels must lie in 0..9"):
        net.learn([10])
    with pytest.raises(ValueError, match="raster has shape"):
        net.run(np.zeros((1, 10, 64), bool))


def test_spike_level_saturation_flags_only_the_replicas_that_clipped():
    net = Network(Config(rule="readout", layers=(4, 2)), [np.zeros((2, 4), np.int64)], fixed=True,
                  batch=3, seed=None)
    rows = np.array([[0, 99], [1, 2]])  # one row per spiking neuron, of replicas 2 and 0
    out = net._sat(rows, Format(4, 0), "grad", replicas=np.array([2, 0]))
    assert out.tolist() == [[0, 7], [1, 2]]
    assert net.flags["grad"].tolist() == [False, False, True]


def test_inference_without_eligibility_gives_the_same_spikes(digits):
    cfg = Config()
    raster = encode_images(cfg, digits.x_test[:8])
    full = Network(cfg, fixed=True, batch=8, seed=1)
    fast = Network(cfg, fixed=True, batch=8, seed=1)
    fast.tracks_eligibility = False
    for a, b in zip(full.run(raster).spikes, fast.run(raster).spikes):
        assert np.array_equal(a, b)
    assert not fast.layers[0].ghat.any() and full.layers[0].ghat.any()
    spared = Network(cfg, fixed=True, batch=8, seed=1, eligibility=False)
    assert np.array_equal(spared.run(raster).spikes[-1], full.run(raster).spikes[-1])
    assert not spared.layers[0].ghat.any() and not spared.layers[-1].ehat.any()


def test_reset_clears_eligibility_written_before_tracking_stopped(digits):
    # reset() skips zeroing ghat/ehat when nothing wrote them; switching tracking off after a
    # learning run must still leave the next sample with clean eligibility state
    cfg = Config()
    net = Network(cfg, fixed=True, batch=2, seed=3)
    net.run(encode_images(cfg, digits.x_test[:2]))
    assert net.layers[0].ghat.any() and net.layers[0].ehat.any()
    net.tracks_eligibility = False
    net.reset()
    assert not any(layer.ghat.any() or layer.ehat.any() for layer in net.layers)


@pytest.mark.parametrize("rule", ["sfdfa", "dfa", "readout"])
def test_one_learning_step_moves_fixed_and_float_weights_alike(digits, rule):
    """The same sample and weights: the fixed-point update (stochastically rounded) must equal
    the float update to within its rounding: per word |dw_fixed - dw_float| < 1 LSB plus the
    float/fixed ghat difference times delta*eta (bounded by the tracking test), so we check the
    mean absolute update agrees to 5 % and the correlation is near 1 - this catches a wrong
    learning-rate scale or sign in either model."""
    cfg = Config(rule=rule, lr_hidden_shift=4, lr_output_shift=4, feedback_shift=2)
    fixed = Network(cfg, fixed=True, seed=5)
    flt = _float_twin(cfg, fixed)
    raster = encode_images(cfg, digits.x_train[:1])
    for net in (fixed, flt):
        net.run(raster)
    before_fixed = [layer.w.copy() / cfg.weight.one for layer in fixed.layers]
    before_float = [layer.w.copy() for layer in flt.layers]
    fb_fixed, fb_float = fixed.feedback[0].copy() / cfg.feedback.one, flt.feedback[0].copy()
    fixed.learn(digits.y_train[:1])
    flt.learn(digits.y_train[:1])
    learned = {"sfdfa": (0, 1), "dfa": (0, 1), "readout": (1,)}[rule]
    for k, (lq, lf) in enumerate(zip(fixed.layers, flt.layers)):
        dq = lq.w / cfg.weight.one - before_fixed[k]
        df = lf.w - before_float[k]
        if k not in learned:
            assert not dq.any() and not df.any()
            continue
        assert np.abs(df).mean() > 0, "the float update must not vanish"
        assert np.abs(dq).mean() == pytest.approx(np.abs(df).mean(), rel=0.05)
        assert np.corrcoef(dq.ravel(), df.ravel())[0, 1] > 0.99
    dbq = fixed.feedback[0] / cfg.feedback.one - fb_fixed
    dbf = flt.feedback[0] - fb_float
    if rule == "sfdfa":
        assert np.abs(dbq).mean() == pytest.approx(np.abs(dbf).mean(), rel=0.05)
    else:
        assert not dbq.any() and not dbf.any()
