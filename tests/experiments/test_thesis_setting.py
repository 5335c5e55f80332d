"""experiments/thesis_setting.py: the wrapper does what docs/learning.md section 9 says it does."""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from expkit import load_script

torch = pytest.importorskip("torch")

from plasticore.baselines import rules
from plasticore.golden.config import Config

ts = load_script(Path(__file__).resolve().parents[2] / "experiments" / "thesis_setting.py")


def _net(seed=0, sizes=(6, 5, 3), T=24, scale=(1.5, 1.2)):
    g = torch.Generator().manual_seed(seed)
    w = [(torch.rand(sizes[k + 1], sizes[k], generator=g, dtype=torch.float64) * 2 - 1) * scale[k]
         for k in range(len(sizes) - 1)]
    raster = torch.rand(4, T, sizes[0], generator=g, dtype=torch.float64) < 0.15
    return w, raster


def _reference(weights, raster, thetas, rho, rho_s):
    """The clocked LIF with a threshold per layer, written out in numpy (A, C, reset by theta_k)."""
    x = raster.numpy().astype(float)
    w = [wk.numpy() for wk in weights]
    B, T, _ = x.shape
    a = [np.zeros((B, wk.shape[0])) for wk in w]
    c = [np.zeros((B, wk.shape[0])) for wk in w]
    out = [np.zeros((B, T, wk.shape[0])) for wk in w]
    for n in range(T):
        inp = x[:, n]
        for k, wk in enumerate(w):
            a[k] *= rho
            c[k] *= rho_s
            s = (a[k] - c[k] - thetas[k] >= 0).astype(float)
            a[k] -= thetas[k] * s
            d = inp @ wk.T
            a[k] += d
            c[k] += d
            out[k][:, n] = s
            inp = s
    return out


def test_per_layer_thresholds_by_scaling_are_exact():
    st = dataclasses.replace(ts.ANCHOR, theta_hidden=0.2 / 0.26, theta_output=0.7 / 0.26, tau_s=6.5)
    w, raster = _net(scale=(1.0, 1.0))
    spikes = ts.simulate(ts.scaled(w, st), raster, ts.dynamics(st)).spikes
    ref = _reference(w, raster, st.thetas, math.exp(-1 / st.tau), math.exp(-1 / st.tau_s))
    assert sum(float(s.sum()) for s in spikes) > 5           # the test exercises spikes
    for s, r in zip(spikes, ref):
        np.testing.assert_array_equal(s.numpy(), r)


def test_anchor_row_equals_the_baselines_rules():
    """Threshold 1, Huber clip 4, no regulariser: the wrapper is rules.gradients."""
    st = ts.ANCHOR
    w, raster = _net(scale=(3.0, 1.5))
    labels = torch.tensor([0, 1, 2, 1])
    cfg = Config(layers=(6, 5, 3), n_steps=24, input_window=12, tau=st.tau, tau_s=st.tau_s, rate_reg_shift=None)
    fb = [torch.rand(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2 - 1]
    for rule in ("bptt", "dfa", "readout"):
        mine, _ = ts.gradients(rule, w, raster, labels, st, ts.State([f.clone() for f in fb], None, {}))
        ref, _ = rules.gradients(rule, w, raster, labels, rules.RuleState(cfg, feedback=[f.clone() for f in fb]))
        for a, b in zip(mine, ref):
            if b is None:
                assert a is None
            else:
                torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_mse_loss_and_threshold_chain_rule():
    """MSE = rules' unclipped loss; with thresholds, dL/dW = (1/theta) dL/dW' on W' = W / theta."""
    st = dataclasses.replace(ts.ANCHOR, loss="mse", clip=None, theta_hidden=0.8, theta_output=2.5,
                             target_true=15, target_false=3)
    w, raster = _net(scale=(3.0, 6.0))
    labels = torch.tensor([0, 1, 2, 1])
    cfg = Config(layers=(6, 5, 3), n_steps=24, input_window=12, tau=st.tau, tau_s=st.tau_s, error_clip=None,
                 target_true=15, target_false=3, rate_reg_shift=None)
    fb = [torch.rand(3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(4)) * 2 - 1]
    w_scaled = ts.scaled(w, st)
    for rule in ("bptt", "dfa"):
        mine, _ = ts.gradients(rule, w, raster, labels, st, ts.State([f.clone() for f in fb], None, {}))
        ref, _ = rules.gradients(rule, w_scaled, raster, labels, rules.RuleState(cfg, feedback=[f.clone() for f in fb]))
        for a, b, th in zip(mine, ref, st.thetas):
            assert float(b.abs().sum()) > 0
            torch.testing.assert_close(a, b / th, rtol=1e-10, atol=1e-12)


def test_regulariser_gradient_and_feedback_update():
    st = ts.THESIS
    counts = torch.tensor([[0.0, 1.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    loss = 0.5 * st.reg_beta * ((counts.mean(0) - st.reg_target) ** 2).sum()
    (g,) = torch.autograd.grad(loss, counts)
    # BPTT's loss term and the local rules' signal are the same thing (up to the batch mean 1/B)
    torch.testing.assert_close(g, ts.reg_signal(st, counts.detach()) / 2)
    # public-code feedback step: B <- B + alpha * mean over active samples of (D p - B)
    D = torch.tensor([[1.0, -2.0], [0.5, 4.0]])
    p = [torch.tensor([[1.0, -1.0, 0.3], [2.0, 0.5, -1.0]])]
    state = ts.State([torch.zeros(2, 3)], None, {})
    ts.update_feedback(st, state, D, p, [counts.detach(), None])
    fired = (counts.detach() > 0).float()
    expect = torch.zeros(2, 3)
    for i in range(3):
        act = [b for b in range(2) if fired[b, i]]
        expect[:, i] = st.feedback_rate * sum(D[b] * p[0][b, i] for b in act) / max(len(act), 1)
    torch.testing.assert_close(state.feedback[0], expect)
