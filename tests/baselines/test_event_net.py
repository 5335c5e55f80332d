"""The batched event-driven trainer (baselines/event_net.py) equals the continuous-time reference
golden/event.py neuron for neuron, matches finite differences, and resumes exactly. Small, fast."""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import pytest

from plasticore.baselines import event_net as en
from plasticore.golden import event as ge

TAU, WINDOW = 0.26, 0.2

try:
    import numba
    numba.set_num_threads(1)
    HAVE_NUMBA = True
except ImportError:
    HAVE_NUMBA = False

#: the vectorised numpy backend always; the numba kernels where numba is installed
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not HAVE_NUMBA, reason="numba not installed (the research extra)"))]


def _inputs(rng, n_batch, n_inputs, max_spikes=3, quantum=None):
    """Per-sample lists of sorted spike trains; ``quantum`` rounds times (equal-time groups)."""
    out = []
    for _ in range(n_batch):
        sample = []
        for _ in range(n_inputs):
            n = rng.integers(0, max_spikes + 1)
            t = np.sort(rng.uniform(0, 0.15, n))
            if quantum:
                t = np.round(t / quantum) * quantum
            sample.append(t)
        out.append(sample)
    return out


def _compare(result, golden, b, n_inputs, *, rtol=1e-9, atol=1e-11):
    n = len(golden.spike_times)
    for i in range(n):
        k = golden.spike_times[i].size
        assert result.counts[b, i] == k, (b, i)
        np.testing.assert_allclose(result.times[b, i, :k], golden.spike_times[i], rtol=rtol,
                                   atol=atol)
        assert np.all(np.isinf(result.times[b, i, k:]))
        np.testing.assert_allclose(result.grades[b, i, :k], golden.spike_grades[i], rtol=rtol,
                                   atol=atol)
        if result.details is not None:
            det = result.details[b]
            np.testing.assert_allclose(det["currents"][i], golden.currents[i], rtol=rtol)
            got = np.array(det["spike_grads"][i]).reshape(-1, n_inputs)
            np.testing.assert_allclose(got, golden.spike_grads[i], rtol=rtol,
                                       atol=atol * max(1.0, np.abs(golden.spike_grads[i]).max(
                                           initial=0.0)))
    if result.elig is not None:
        dense = result.dense_grad(b, n_inputs)
        scale = max(1.0, np.abs(golden.grad).max())
        np.testing.assert_allclose(dense, golden.grad, rtol=rtol, atol=atol * scale)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("gradient", ["bounded", "exact"])
@pytest.mark.parametrize("quantum", [None, 0.01])
@pytest.mark.parametrize("graded", [False, True])
def test_layer_equals_golden(gradient, quantum, graded, backend):
    """Spike times, grades, currents, per-spike and summed local gradients of a small random
    layer equal golden.event.run_layer's, sample by sample (several spikes per input and per
    neuron, equal input times, input grades and perturbations)."""
    rng = np.random.default_rng([3, quantum is None, graded])
    n_batch, n_in, n_out, theta = 4, 10, 7, 0.3
    w = rng.uniform(-0.6, 1.4, (n_out, n_in))
    trains = _inputs(rng, n_batch, n_in, quantum=quantum)
    grades = [[rng.standard_normal(t.size) for t in s] for s in trains] if graded else None
    pert = rng.standard_normal((n_batch, n_out)) if graded else None
    times = en.spike_trains(trains)
    grade_arr = None
    if graded:
        grade_arr = np.zeros_like(times)
        for b, s in enumerate(grades):
            for j, d in enumerate(s):
                grade_arr[b, j, :d.size] = d
    res = en.run_layer_batch(w, times, grade_arr, tau=TAU, theta=theta, window=WINDOW,
                             gradient=gradient, perturbation=pert, detail=True, backend=backend)
    multi = 0
    for b in range(n_batch):
        gold = ge.run_layer(w, trains[b], tau=TAU, theta=theta, window=WINDOW, gradient=gradient,
                            input_grades=None if grades is None else grades[b],
                            perturbation=None if pert is None else pert[b])
        _compare(res, gold, b, n_in)
        multi += sum(t.size > 1 for t in gold.spike_times)
    assert multi >= 3, "the test needs neurons that fire several times"


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_equals_golden_with_grades(backend):
    """A 3-layer stack (two hidden layers with perturbations, grades carried downstream) equals
    golden.event.run_network layer by layer."""
    rng = np.random.default_rng(11)
    sizes, theta = (12, 9, 6, 3), 0.25
    setting = en.EventSetting(hidden=sizes[1:-1], theta_hat=(theta * TAU, theta * TAU),
                              max_spikes=None, tau_s=TAU / 2, window=WINDOW)
    net = en.EventNet(sizes, setting, "sfdfa", seed=0, backend=backend)
    net.weights = [rng.uniform(-0.5, 1.5, w.shape) for w in net.weights]
    trains = _inputs(rng, 3, sizes[0], max_spikes=2, quantum=0.005)
    perts = [rng.standard_normal((3, n)) for n in sizes[1:-1]]
    outs = net.forward(en.spike_trains(trains), perturbations=perts, need_grad=True)
    for b in range(3):
        gold = ge.run_network(net.weights, trains[b], tau=TAU, theta=theta, window=WINDOW,
                              perturbations=[p[b] for p in perts])
        for layer, g in enumerate(gold):
            _compare(outs[layer], g, b, sizes[layer])
    assert outs[-1].counts.sum() > 0 and np.abs(outs[-1].grades).sum() > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_spikes_keeps_the_first_spikes(backend):
    rng = np.random.default_rng(5)
    w = rng.uniform(0.5, 2.0, (5, 8))
    times = en.spike_trains(_inputs(rng, 3, 8, max_spikes=3))
    free = en.run_layer_batch(w, times, tau=TAU, theta=0.2, window=WINDOW, backend=backend)
    capped = en.run_layer_batch(w, times, tau=TAU, theta=0.2, window=WINDOW, max_spikes=2,
                                backend=backend)
    assert free.counts.max() > 2
    np.testing.assert_array_equal(capped.counts, np.minimum(free.counts, 2))
    np.testing.assert_array_equal(capped.times[:, :, :2], free.times[:, :, :2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_gradient_matches_finite_differences(backend):
    """With gradient="exact", G_ij = sum_k d t_k / d w_ij: central differences of the sum of a
    neuron's spike times (reset path included: several spikes per neuron)."""
    rng = np.random.default_rng(2)
    n_in, n_out, theta = 8, 4, 0.3
    w = rng.uniform(-0.3, 1.5, (n_out, n_in))
    trains = _inputs(rng, 1, n_in, max_spikes=2)
    times = en.spike_trains(trains)
    res = en.run_layer_batch(w, times, tau=TAU, theta=theta, window=WINDOW, gradient="exact",
                             backend=backend)
    grad = res.dense_grad(0, n_in)
    eps = 1e-7
    checked = 0
    for i in range(n_out):
        if res.counts[0, i] < 1:
            continue
        for j in range(n_in):
            sums = []
            for sign in (1, -1):
                w2 = w.copy()
                w2[i, j] += sign * eps
                r = en.run_layer_batch(w2, times, tau=TAU, theta=theta, window=WINDOW,
                                       need_grad=False, backend=backend)
                if r.counts[0, i] != res.counts[0, i]:
                    break
                sums.append(r.times[0, i, :r.counts[0, i]].sum())
            if len(sums) < 2:
                continue
            fd = (sums[0] - sums[1]) / (2 * eps)
            np.testing.assert_allclose(grad[i, j], fd, rtol=1e-5, atol=1e-7)
            checked += 1
    assert checked >= 10 and res.counts.max() >= 2


def test_bounded_gradient_is_the_exact_one_with_current_denominator():
    """For a first spike (no reset path) bounded / exact = (I - theta) / I, thesis Eq. 162."""
    rng = np.random.default_rng(8)
    w = rng.uniform(0.0, 1.5, (4, 6))
    times = en.spike_trains(_inputs(rng, 1, 6, max_spikes=1))
    kw = dict(tau=TAU, theta=0.3, window=WINDOW, max_spikes=1, detail=True)
    exact = en.run_layer_batch(w, times, gradient="exact", **kw)
    bounded = en.run_layer_batch(w, times, gradient="bounded", **kw)
    for i in range(4):
        if exact.counts[0, i]:
            current = exact.details[0]["currents"][i][0]
            np.testing.assert_allclose(bounded.dense_grad(0, 6)[i],
                                       exact.dense_grad(0, 6)[i] * (current - 0.3) / current,
                                       rtol=1e-9, atol=1e-14)


def _tiny_data():
    from types import SimpleNamespace

    rng = np.random.default_rng(4)
    px = rng.integers(0, 256, (36, 20)).astype(np.uint8)
    px[rng.random(px.shape) < 0.4] = 0
    y = np.arange(36) % 3
    return SimpleNamespace(x_train=px[:24], y_train=y[:24], x_test=px[24:], y_test=y[24:])


SMALL = en.EventSetting(hidden=(16,), theta_hat=(0.1, 0.3), batch=6, init=2.0)


@pytest.mark.parametrize("arm", en.ARMS)
def test_training_changes_what_the_arm_trains(arm):
    data = _tiny_data()
    res = en.train(data, arm=arm, seed=1, epochs=1, setting=SMALL, probe="none", log=None)
    net0 = en.EventNet(res["net"].sizes, SMALL, arm, 1)
    net = res["net"]
    assert not np.array_equal(net.weights[-1], net0.weights[-1])
    assert np.array_equal(net.weights[0], net0.weights[0]) == (arm == "readout")
    learnt_feedback = arm in ("sfdfa", "sfdfa-code")
    assert np.array_equal(net.feedback[0], net0.feedback[0]) != learnt_feedback
    assert res["history"][0]["test_accuracy"] >= 0


def test_resume_equals_uninterrupted(tmp_path):
    """Stopped after epoch 1 and started again from its checkpoint, a run ends with the same
    weights, feedback, Adam state and history as the uninterrupted run."""
    data = _tiny_data()
    kw = dict(arm="sfdfa", seed=2, epochs=2, setting=SMALL, probe="none", log=None)
    full = en.train(data, out_dir=tmp_path / "full", **kw)
    en.train(data, out_dir=tmp_path / "cut", stop_after_epoch=1, **kw)
    assert (tmp_path / "cut" / "epoch_001.json").exists()
    assert not (tmp_path / "cut" / "epoch_002.json").exists()
    resumed = en.train(data, out_dir=tmp_path / "cut", **kw)
    for key, value in full["net"].state().items():
        np.testing.assert_array_equal(resumed["net"].state()[key], value, err_msg=key)
    strip = ("train_seconds", "samples_per_second", "test_seconds")
    assert ([{k: v for k, v in r.items() if k not in strip} for r in full["history"]]
            == [{k: v for k, v in r.items() if k not in strip} for r in resumed["history"]])


@pytest.mark.skipif(not HAVE_NUMBA, reason="numba not installed (the research extra)")
@pytest.mark.parametrize("arm", ["sfdfa", "dfa"])
def test_backends_train_alike(arm):
    """One epoch on tiny data: the numpy path and the numba kernels end with the same weights and
    feedback (to float rounding: their sums run in different orders)."""
    data = _tiny_data()
    kw = dict(arm=arm, seed=3, epochs=1, setting=SMALL, probe="none", log=None)
    nets = [en.train(data, backend=b, **kw)["net"] for b in ("numpy", "numba")]
    for key, value in nets[0].state().items():
        np.testing.assert_allclose(nets[1].state()[key], value, rtol=1e-7, atol=1e-9, err_msg=key)
