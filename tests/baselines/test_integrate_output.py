"""The integrate output layer of the torch BPTT baseline (golden ``output_layer = "integrate"``,
docs/spec.md 5.5, 6.1): V equals sum_i w_oi n_i of the hidden counts and the golden float model's
V, the base-2 softmax loss has the golden delta as its negative gradient, and BPTT's gradient
reaches the hidden weights through the surrogate (explicit chain rule; finite differences with a
smooth spike). Tiny nets, fast."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from plasticore.baselines import lif, rules
from plasticore.baselines.train import initial_weights, make_state, raster_of
from plasticore.golden.config import Config
from plasticore.golden.network import Network

torch.set_num_threads(1)


#: the integrate output's update shifts (experiments/configs/surrogate-softmax.json); the golden
#: Config refuses the thesis-form defaults with it, and the torch baselines do not read them
SHIFTS = dict(lr_hidden_shift=6, lr_output_shift=9)


def _config(**kw):
    return Config(layers=(16, 12, 4), n_steps=20, input_window=10, init_hidden=2.0,
                  output_layer="integrate", output_loss="softmax", **SHIFTS, **kw)


def test_dynamics_reads_output_layer():
    assert not lif.Dynamics.from_config(Config(layers=(16, 12, 4))).integrate_output
    assert lif.Dynamics.from_config(_config()).integrate_output


def test_potential_is_weighted_hidden_counts_and_matches_golden(random_pixels):
    """V_o = sum_i w_oi n_i from the hidden counts (hidden spikes unchanged by the output kind),
    and equal to the golden float model's V (its output layer's ``a``) on the same weights."""
    cfg = _config()
    weights, feedback = initial_weights(cfg, 2, dtype=torch.float64)
    px = random_pixels(5, 16, 1)
    raster = raster_of(cfg, px)
    dyn = lif.Dynamics.from_config(cfg)
    tr = lif.simulate(weights, raster, dyn)
    n = tr.spikes[0].sum(1)
    assert n.sum() > 10
    torch.testing.assert_close(tr.potential, n @ weights[1].T, rtol=0, atol=1e-12)
    torch.testing.assert_close(tr.output, tr.potential)
    assert tr.spikes[-1].shape == (5, cfg.n_steps, 4) and tr.spikes[-1].sum() == 0
    spiking = lif.simulate(weights, raster, dyn.replace_output(False))
    torch.testing.assert_close(spiking.spikes[0], tr.spikes[0])
    net = Network(cfg, [np.broadcast_to(w.numpy(), (5,) + tuple(w.shape)) for w in weights],
                  [b.numpy() for b in feedback], fixed=False, batch=5, seed=None)
    net.run(raster.numpy())
    np.testing.assert_allclose(tr.potential.numpy(), net.layers[-1].a, atol=1e-9)


def test_softmax_loss_gradient_is_golden_delta():
    """-dL/dV of the base-2 softmax cross-entropy is the golden float delta y - 2**V / sum 2**V;
    the hinge's is the golden hinge delta (counts of violators)."""
    v = torch.tensor([[0.7, 2.0, -1.0, 1.5], [3.0, 0.0, 2.9, -4.0]], dtype=torch.float64,
                     requires_grad=True)
    labels = torch.tensor([3, 0])
    (g,) = torch.autograd.grad(rules.integrate_loss(_config(), v, labels), [v])
    e = 2.0 ** v.detach()
    delta = torch.nn.functional.one_hot(labels, 4) - e / e.sum(1, keepdim=True)
    torch.testing.assert_close(-g * len(labels), delta)
    loss = rules.integrate_loss(_config(), v, labels)
    torch.testing.assert_close(loss, -torch.log2(e[[0, 1], labels] / e.sum(1)).mean())
    (g,) = torch.autograd.grad(rules.integrate_loss(_config().replace(output_loss="hinge"), v, labels), [v])
    hinge = torch.tensor([[-1, -1, 0, 2], [1, 0, -1, 0]], dtype=torch.float64)
    torch.testing.assert_close(-g * len(labels), hinge)


def test_bptt_gradient_reaches_hidden_through_surrogate(random_pixels):
    """rules.gradients('bptt') with an integrate output equals the chain rule written out:
    dL/dV = p - y (base 2, p = 2**V / sum), output grad (p - y)^T n / B, hidden grad the gradient
    of sum_i g_i n_i with g = (p - y) W_o through the surrogate spike; nonzero in the hidden layer."""
    cfg = _config()
    weights, feedback = initial_weights(cfg, 0, dtype=torch.float64)
    state = make_state("bptt", cfg, 0, feedback, dtype=torch.float64)
    raster = raster_of(cfg, random_pixels(6, 16, 3))
    labels = torch.tensor([0, 1, 2, 3, 0, 1])
    grads, v = rules.gradients("bptt", weights, raster, labels, state)
    wh = weights[0].clone().requires_grad_(True)
    tr = lif.simulate([wh, weights[1]], raster, state.dynamics, slope=state.slope)
    n = tr.spikes[0].sum(1)
    torch.testing.assert_close(v, (n @ weights[1].T).detach())
    e = 2.0 ** (v - v.max(1, keepdim=True).values)
    err = e / e.sum(1, keepdim=True) - torch.nn.functional.one_hot(labels, 4)   # dL/dV * B
    torch.testing.assert_close(grads[1], err.T @ n.detach() / len(labels))
    (manual,) = torch.autograd.grad(((err @ weights[1]) * n).sum() / len(labels), [wh])
    torch.testing.assert_close(grads[0], manual)
    assert grads[0].abs().max() > 1e-4


def test_bptt_integrate_equals_finite_differences(random_pixels):
    """With a smooth spike the autograd gradient of the base-2 softmax loss on V equals central
    differences, in the hidden and the output layer."""
    cfg = Config(layers=(6, 5, 3), n_steps=12, input_window=6, output_layer="integrate", **SHIFTS)
    dyn = lif.Dynamics.from_config(cfg)
    raster = raster_of(cfg, random_pixels(3, 6, 2)).double()
    rng = np.random.default_rng(0)
    ws = [torch.tensor(rng.uniform(-1.5, 2.5, (5, 6))), torch.tensor(rng.uniform(-1, 1, (3, 5)))]
    labels = torch.tensor([0, 2, 1])

    def loss(weights):
        tr = lif.simulate(weights, raster, dyn, spike="sigmoid", width=0.3)
        return rules.integrate_loss(cfg, tr.potential, labels)

    params = [w.clone().requires_grad_(True) for w in ws]
    grads = torch.autograd.grad(loss(params), params)
    h = 1e-6
    for k in range(2):
        for idx in [(0, 0), (1, 2), (2, 4), (0, 1)]:
            plus = [w.clone() for w in ws]
            minus = [w.clone() for w in ws]
            plus[k][idx] += h
            minus[k][idx] -= h
            fd = (loss(plus) - loss(minus)).item() / (2 * h)
            assert abs(fd - grads[k][idx].item()) < 1e-6 * max(1.0, abs(fd)), (k, idx, fd)
    assert grads[0].abs().max() > 1e-3
    assert math.isfinite(loss(ws).item())


def test_other_rules_refuse_integrate_output(random_pixels):
    cfg = _config()
    weights, feedback = initial_weights(cfg, 0)
    state = make_state("dfa", cfg, 0, feedback)
    with pytest.raises(ValueError, match="integrate"):
        rules.gradients("dfa", weights, raster_of(cfg, random_pixels(2, 16)), torch.tensor([0, 1]), state)

