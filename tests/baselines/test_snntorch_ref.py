"""snnTorch's BPTT on our network (baselines/snntorch_ref.py) as an outside check of the ``bptt``
rule: the golden-reset variant has our spikes and our gradients; the native-reset variant is a
slightly different network (snnTorch's reset), close but not equal. Digits net 64-64-10, fast."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("snntorch")

from plasticore.baselines import lif, rules
from plasticore.baselines.snntorch_ref import SnnTorchNet, train_snntorch
from plasticore.baselines.train import cosine, initial_weights, make_state, raster_of, train_rule
from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.presets import THESIS_DIGITS, dataset_fields

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


@pytest.fixture(scope="module")
def cfg():
    # the spiking output layer and spike-time rule snnTorch mirrors: the thesis form
    return Config(**{**dataset_fields("digits"), **THESIS_DIGITS})


def _first(s):
    """First spike step per (sample, neuron), -1 if none."""
    return torch.where(s.sum(1) > 0, s.argmax(1), -1)


@pytest.mark.parametrize("dtype,seed", [(torch.float64, 0), (torch.float32, 3)])
def test_golden_reset_forward_equals_simulate(cfg, digits, dtype, seed):
    """Variant (b): every spike of every layer equal to ours (random = golden initial weights,
    digits training samples), with snnTorch doing the dynamics."""
    w, _ = initial_weights(cfg, seed, dtype=dtype)
    raster = raster_of(cfg, digits.x_train[100 * seed:100 * seed + 100])
    ours = lif.simulate(w, raster, lif.Dynamics.from_config(cfg)).spikes
    with torch.no_grad():
        theirs = SnnTorchNet(cfg, w, reset="golden", dtype=dtype)(raster)
    assert sum(float(s.sum()) for s in ours[1:]) > 1000
    for a, b in zip(ours, theirs):
        torch.testing.assert_close(b, a, rtol=0, atol=0)


def test_native_reset_forward_is_close(cfg, digits):
    """Variant (a), snnTorch's own reset (theta after the decay, 1/rho = 1.105 times ours): the
    hidden layer's first spikes are identical (the reset acts only after a spike); after that the
    trains drift apart. Tolerance from the measurement on golden initial weights, digits: >= 95 %
    equal (sample, step, neuron) bins in the hidden layer, >= 88 % in the output layer (measured
    96.6-97.3 % / 91-94 %), and not 100 % (the reset does differ)."""
    w, _ = initial_weights(cfg, 2, dtype=torch.float64)
    raster = raster_of(cfg, digits.x_train[:200])
    ours = lif.simulate(w, raster, lif.Dynamics.from_config(cfg)).spikes
    with torch.no_grad():
        theirs = SnnTorchNet(cfg, w, reset="native", dtype=torch.float64)(raster)
    torch.testing.assert_close(_first(theirs[0]), _first(ours[0]), rtol=0, atol=0)
    equal = [float((a == b).double().mean()) for a, b in zip(ours, theirs)]
    assert equal[0] >= 0.95 and equal[1] >= 0.88, equal
    assert min(equal) < 1.0, equal


@pytest.mark.parametrize("seed", [0, 1])
def test_golden_reset_gradients_equal_bptt(cfg, digits, seed):
    """One minibatch: snnTorch's autograd through Synaptic + fast_sigmoid(5) in membrane units
    gives our bptt gradients (rules.gradients). Tolerance 1e-6 of the largest entry, float32
    level: snnTorch 1.0.0's FastSigmoid returns ``(x > 0).float()``, so even in a float64 net the
    gradient through every spike is float32 (measured: <= 4e-9 of the max here)."""
    w, fb = initial_weights(cfg, seed, dtype=torch.float64)
    raster = raster_of(cfg, digits.x_train[16 * seed:16 * seed + 16])
    labels = torch.tensor(digits.y_train[16 * seed:16 * seed + 16].astype(np.int64))
    ref, counts = rules.gradients("bptt", w, raster, labels, make_state("bptt", cfg, seed, fb))
    net = SnnTorchNet(cfg, w, reset="golden", units="membrane", dtype=torch.float64)
    out = net(raster)[-1].sum(1)
    torch.testing.assert_close(out, counts, rtol=0, atol=0)
    grads = torch.autograd.grad(rules.count_loss(cfg, out, labels), list(net.weights))
    for g, r in zip(grads, ref):
        assert r.abs().max() > 1e-3
        torch.testing.assert_close(g, r, rtol=0, atol=1e-6 * float(r.abs().max()))


def test_current_units_scale_each_surrogate(cfg, digits):
    """Why the unit-current mapping (thr = theta / (rho - rho_s), slope 5 (rho - rho_s)) cannot give
    our gradients: d mem / d u = 1 / c (c = rho - rho_s) multiplies every surrogate factor. With
    the detached native reset every path into layer k crosses L - k spikes, so the gradient is
    exactly c^-(L-k) times the membrane-unit one; with the golden reset (gradient through the
    reset) the paths differ in length and the direction changes. (Tolerance float32, as above.)"""
    w, _ = initial_weights(cfg, 0, dtype=torch.float64)
    raster = raster_of(cfg, digits.x_train[:16])
    labels = torch.tensor(digits.y_train[:16].astype(np.int64))
    c = cfg.rho - cfg.rho_s

    def grads(reset, units):
        net = SnnTorchNet(cfg, w, reset=reset, units=units, dtype=torch.float64)
        return torch.autograd.grad(rules.count_loss(cfg, net(raster)[-1].sum(1), labels), list(net.weights))

    mem, cur = grads("native", "membrane"), grads("native", "current")
    L = len(w)
    for k, (a, b) in enumerate(zip(mem, cur)):
        torch.testing.assert_close(b * c ** (L - k), a, rtol=0, atol=1e-6 * float(a.abs().max()))
    gold_mem, gold_cur = grads("golden", "membrane"), grads("golden", "current")
    assert cosine(gold_cur[0], gold_mem[0]) < 0.5


def test_training_steps_match_train_rule(cfg, digits):
    """Two epochs on 32 samples with train_rule's protocol: the golden-reset variant retraces our
    bptt run (same train/test accuracy and hidden rate every epoch)."""
    kw = dict(seed=1, epochs=2, batch=16, lr=3e-2, lr_hidden=3e-2, lr_decay=0.9, limit=32,
              test_limit=40, log=lambda m: None)
    ours = train_rule("bptt", cfg, digits, align=False, **kw)
    theirs = train_snntorch("snntorch-golden-reset", cfg, digits, **kw)
    for a, b in zip(ours["history"], theirs["history"]):
        for key in ("train_accuracy", "test_accuracy", "hidden_spikes_per_neuron"):
            assert a[key] == b[key], (key, a, b)
        assert b["test_accuracy_golden_simulate"] == b["test_accuracy"]


def test_norse_kernel_first_spikes(cfg, digits):
    """Norse 1.1.0 (optional: not in the project's venv; `pip install --target DIR norse==1.1.0 nir
    nirtorch h5py` and DIR on PYTHONPATH): its Euler LIF with dt * tau_inv = 1 - exp(-1/tau) has
    our kernel exactly (one step ahead, like snnTorch, v = 1.105 u for a unit current), but it
    resets to a value (v_reset), not by subtraction, and its SuperSpike ignores ``alpha`` (slope 1
    on its own v). With the current gain chosen so that v = 5 u and v_th = 5 theta (the surrogate
    then has our value), the hidden layer's first spikes are ours; after a spike the nets differ
    (measured on golden initial weights, 200 digits: 96-97 % / 90-94 % equal bins, spike counts
    84-85 % / 65-68 % of ours, hidden / output)."""
    pytest.importorskip("norse")
    from norse.torch.functional.lif import LIFFeedForwardState, LIFParameters, lif_feed_forward_step

    rho, rho_s, theta = cfg.rho, cfg.rho_s, cfg.threshold
    k = 5.0
    gain = k * (rho - rho_s) / (1 - rho)
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    p = LIFParameters(tau_syn_inv=t(1 - rho_s), tau_mem_inv=t(1 - rho), v_leak=t(0.0),
                      v_th=t(k * theta), v_reset=t(0.0), method="super", alpha=t(100.0))
    w, _ = initial_weights(cfg, 0, dtype=torch.float64)
    raster = raster_of(cfg, digits.x_train[:100]).double()
    ours = lif.simulate(w, raster, lif.Dynamics.from_config(cfg)).spikes[0]
    B, T, _ = raster.shape
    state = LIFFeedForwardState(v=torch.zeros(B, w[0].shape[0], dtype=torch.float64),
                                i=torch.zeros(B, w[0].shape[0], dtype=torch.float64))
    out = []
    for n in range(T - 1):
        z, state = lif_feed_forward_step(gain * raster[:, n] @ w[0].T, state, p, dt=1.0)
        out.append(z)
    theirs = torch.cat([torch.zeros(B, 1, w[0].shape[0], dtype=torch.float64), torch.stack(out, 1)], 1)
    fired = _first(ours) >= 0
    assert fired.sum() > 1000
    torch.testing.assert_close(_first(theirs)[fired], _first(ours)[fired], rtol=0, atol=0)
    assert 0.7 < float(theirs.sum() / ours.sum()) < 0.95  # reset to 0 drops the overshoot
