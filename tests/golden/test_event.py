"""Tests of the event-driven float reference (plasticore.golden.event): exact spike times, the
exact local gradient against finite differences, the bounded gradient, the grades, and the
convergence of the clocked float model to it as dt -> 0."""

import numpy as np
import pytest

from plasticore.golden.event import next_crossing, run_layer, run_network

TAU, THETA, WINDOW = 10.0, 1.0, 50.0
TAU_S = TAU / 2


def random_inputs(rng, n_inputs, *, max_spikes=4, last=35.0):
    """Per input, 2..max_spikes sorted spike times uniform in [0, last]."""
    return [np.sort(rng.uniform(0.0, last, size=rng.integers(2, max_spikes + 1)))
            for _ in range(n_inputs)]


def psp(t, t_in):
    """Thesis Eq. 62 kernel of the input spikes t_in, evaluated at times t (0 before each spike)."""
    lag = np.subtract.outer(np.atleast_1d(t), t_in)
    kernel = np.exp(-lag / TAU) - np.exp(-lag / TAU_S)
    return np.where(lag > 0, kernel, 0.0).sum(axis=-1)


def membrane(t, w_row, inputs, spikes):
    """SRM membrane (thesis Eq. 62) of one neuron at times t, resets of spikes strictly before t."""
    t = np.atleast_1d(t)
    u = sum(w * psp(t, t_in) for w, t_in in zip(w_row, inputs))
    lag = np.subtract.outer(t, spikes)
    return u - THETA * np.where(lag > 0, np.exp(-lag / TAU), 0.0).sum(axis=-1)


# --- spike times ---------------------------------------------------------------------------------

def test_spike_times_are_the_threshold_crossings_of_the_srm_membrane():
    rng = np.random.default_rng(11)
    inputs = random_inputs(rng, 8)
    weights = rng.uniform(-0.5, 2.5, size=(20, 8))
    result = run_layer(weights, inputs, tau=TAU, theta=THETA, window=WINDOW)
    grid = np.linspace(0.0, WINDOW, 20001)
    assert sum(t.size >= 3 for t in result.spike_times) >= 10
    for w_row, spikes in zip(weights, result.spike_times):
        # at each spike, the membrane built from independent kernel sums is at threshold: the
        # closed form agrees with Eq. 62 to float64 rounding of O(10) summed terms (1e-12)
        np.testing.assert_allclose(membrane(spikes, w_row, inputs, spikes), THETA, atol=1e-12)
        # and nowhere on a fine grid above it: no crossing was missed (the loop fires every spike
        # before the next input). 1e-12 absorbs rounding at grid points next to a spike.
        assert membrane(grid, w_row, inputs, spikes).max() <= THETA + 1e-12


def test_next_crossing_fires_only_on_a_rising_crossing_inside_the_interval():
    one = np.ones(1)
    # one input of weight 8 at t = 0: u = 8 (z - z^2) crosses 1 upward at z = (8 + sqrt(32)) / 16
    a, b = 8.0 * one, 8.0 * one
    t_up = -TAU * np.log((8.0 + np.sqrt(32.0)) / 16.0)
    fires, t_spike, _, _ = next_crossing(a, b, 0 * one, WINDOW, tau=TAU, theta=THETA)
    assert fires[0] and t_spike[0] == pytest.approx(t_up, rel=1e-14)  # float64 closed form
    # the crossing lies after the end of the interval: no spike yet
    assert not next_crossing(a, b, 0 * one, 0.9 * t_up, tau=TAU, theta=THETA)[0][0]
    # seen from after the downward crossing, the rising root is in the past: no spike
    assert not next_crossing(a, b, 40.0 * one, WINDOW, tau=TAU, theta=THETA)[0][0]
    # a neuron found above threshold (a crossing missed by rounding at an input time) fires at once
    t_inside = 2.0 * t_up
    fires, t_spike, _, _ = next_crossing(a, b, t_inside * one, WINDOW, tau=TAU, theta=THETA)
    assert fires[0] and t_spike[0] == t_inside
    # inhibitory current (a <= 0) or a peak below threshold (negative discriminant): never
    assert not next_crossing(-a, b, 0 * one, WINDOW, tau=TAU, theta=THETA)[0][0]
    assert not next_crossing(3.0 * one, 3.0 * one, 0 * one, WINDOW, tau=TAU, theta=THETA)[0][0]


def test_several_spikes_between_two_input_events():
    # one strong input: the neuron fires a burst with no other input event in between
    result = run_layer([[20.0]], [np.array([0.0])], tau=TAU, theta=THETA, window=WINDOW)
    assert result.spike_times[0].size >= 5
    assert np.all(np.diff(result.spike_times[0]) > 0)


# --- local gradients -----------------------------------------------------------------------------

FD_STEP = 1e-6          # absolute step on weights of size O(1): a relative step of ~1e-6
MIN_MARGIN = 0.05       # skip spikes with (I - theta)/theta below this (near-critical)
MIN_INPUT_GAP = 1e-3    # skip spikes this close to an input time (d t_k/d w jumps there)


def test_exact_local_gradient_equals_finite_differences_of_the_spike_times():
    """Every spike k of every neuron: the model's exact g_j^k (with the reset path through the
    earlier spikes) is the true derivative d t_k / d w_j of the closed-form spike times."""
    checked_neurons = checked_spikes = 0
    worst = 0.0
    for n_inputs in range(5, 11):
        rng = np.random.default_rng(100 + n_inputs)
        inputs = random_inputs(rng, n_inputs)
        weights = rng.uniform(-0.5, 2.5, size=(12, n_inputs))
        base = run_layer(weights, inputs, tau=TAU, theta=THETA, window=WINDOW, gradient="exact")
        counts = np.array([t.size for t in base.spike_times])
        usable = counts >= 3
        finite_diff = [np.zeros((k, n_inputs)) for k in counts]
        # neurons are independent: shifting column j moves w_ij of every neuron at once
        for j in range(n_inputs):
            for sign in (1.0, -1.0):
                shifted = weights.copy()
                shifted[:, j] += sign * FD_STEP
                run = run_layer(shifted, inputs, tau=TAU, theta=THETA, window=WINDOW)
                for i, times in enumerate(run.spike_times):
                    if times.size != counts[i]:
                        usable[i] = False  # a spike appears or vanishes within +-h
                    else:
                        finite_diff[i][:, j] += sign * times / (2 * FD_STEP)
        input_times = np.concatenate(inputs)
        for i in np.flatnonzero(usable):
            if np.min(base.currents[i] - THETA) < MIN_MARGIN * THETA:
                continue
            if np.min(np.abs(np.subtract.outer(base.spike_times[i], input_times))) < MIN_INPUT_GAP:
                continue
            g = base.spike_grads[i]
            # per spike, relative to its largest component (components of inputs that have not
            # spiked yet are exactly 0 in both). Central differences: truncation h^2 t'''/6 ~ 1e-12
            # relative; rounding: spike times carry ~1e-15 * 50 absolute error, amplified at most
            # 1/MIN_MARGIN = 20 by the crossing's slope, over 2h = 2e-6: ~1e-8 absolute, up to
            # ~1e-7 relative on the smallest spike gradients (|g| ~ 0.1). Measured worst: 8e-8
            # over 64 neurons and 546 spikes; 1e-5 leaves two orders of magnitude.
            error = np.max(np.abs(finite_diff[i] - g), axis=1) / np.max(np.abs(g), axis=1)
            worst = max(worst, error.max())
            checked_neurons += 1
            checked_spikes += g.shape[0]
    assert checked_neurons >= 20, checked_neurons
    assert checked_spikes >= 150, checked_spikes
    assert worst <= 1e-5, worst


@pytest.mark.parametrize("gradient", ["exact", "bounded"])
def test_spike_gradient_is_eq_161_162_with_the_reset_path_of_eq_165(gradient):
    """Recompute every g^k from the thesis's sums (not the model's traces): e_j = eps_j -
    (theta/tau) sum_{k'<k} exp(-(t_k - t_k')/tau) g_j^{k'}, g = -tau e / (I - theta) or / I."""
    rng = np.random.default_rng(5)
    inputs = random_inputs(rng, 6)
    weights = rng.uniform(-0.5, 2.5, size=(10, 6))
    result = run_layer(weights, inputs, tau=TAU, theta=THETA, window=WINDOW, gradient=gradient)
    assert sum(t.size >= 3 for t in result.spike_times) >= 5
    for w_row, times, grads, currents in zip(weights, result.spike_times, result.spike_grads,
                                             result.currents):
        # the current is the synaptic current of Eq. 164, sum_j w_j sum_z exp(-(t - t_j^z)/tau_s)
        lags = [np.subtract.outer(times, t_in) for t_in in inputs]
        current = sum(w * np.where(lag > 0, np.exp(-lag / TAU_S), 0.0).sum(axis=1)
                      for w, lag in zip(w_row, lags))
        # float64 sums of O(10) terms of size O(1) in a different order: 1e-12
        np.testing.assert_allclose(currents, current, rtol=1e-12, atol=1e-12)
        for k, t in enumerate(times):
            eps = np.array([psp(t, t_in)[0] for t_in in inputs])
            reset = (np.exp(-(t - times[:k]) / TAU)[:, None] * grads[:k]).sum(axis=0)
            e = eps - THETA / TAU * reset
            denominator = currents[k] - THETA if gradient == "exact" else currents[k]
            # the model forms I - theta as x z (no cancellation); with I - theta >= 0.01 here the
            # two forms differ by ~1e-16 * I / (I - theta) < 1e-13; 1e-9 covers g's propagation
            # through up to 20 earlier spikes
            np.testing.assert_allclose(grads[k], -TAU * e / denominator, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(result.grad, [g.sum(axis=0) for g in result.spike_grads],
                               rtol=1e-15, atol=0)


def test_bounded_gradient_is_the_exact_one_times_margin_over_current_on_first_spikes():
    rng = np.random.default_rng(6)
    inputs = random_inputs(rng, 8)
    weights = rng.uniform(-0.5, 2.5, size=(30, 8))
    exact = run_layer(weights, inputs, tau=TAU, theta=THETA, window=WINDOW, gradient="exact")
    bounded = run_layer(weights, inputs, tau=TAU, theta=THETA, window=WINDOW, gradient="bounded")
    fired = 0
    for i in range(30):
        # the gradient kind changes nothing in the dynamics: bit-identical spikes and currents
        np.testing.assert_array_equal(exact.spike_times[i], bounded.spike_times[i])
        np.testing.assert_array_equal(exact.currents[i], bounded.currents[i])
        if exact.spike_times[i].size == 0:
            continue
        fired += 1
        current = exact.currents[i][0]
        # first spike, no reset path: g_bounded = g_exact (I - theta) / I. The exact form uses
        # x z for I - theta, equal to a z^2 - theta up to 1e-16 * I / (I - theta): 1e-10 holds
        # for margins (I - theta)/I above 1e-5
        assert (current - THETA) / current > 1e-5
        np.testing.assert_allclose(bounded.spike_grads[i][0],
                                   exact.spike_grads[i][0] * (current - THETA) / current,
                                   rtol=1e-10, atol=1e-14)
    assert fired >= 20


@pytest.mark.parametrize("excess", [1e-2, 1e-4, 1e-6, 1e-8])
def test_bounded_gradient_stays_bounded_at_a_critical_point(excess):
    """One input at t = 0 with w = 4 theta (1 + excess): u = w (z - z^2) peaks at w/4, just
    above threshold. I - theta ~ 2 theta sqrt(excess) -> 0: the exact g diverges like
    tau / (8 theta sqrt(excess)) (eps ~ 1/4 at the crossing), the bounded one stays below
    tau |e| / theta."""
    weight = 4.0 * THETA * (1.0 + excess)
    inputs = [np.array([0.0])]
    exact = run_layer([[weight]], inputs, tau=TAU, theta=THETA, window=WINDOW, gradient="exact")
    bounded = run_layer([[weight]], inputs, tau=TAU, theta=THETA, window=WINDOW,
                        gradient="bounded")
    (t_spike,) = exact.spike_times[0]
    eps = psp(t_spike, inputs[0])[0]
    g_exact, g_bounded = exact.spike_grads[0][0, 0], bounded.spike_grads[0][0, 0]
    assert abs(g_bounded) <= TAU * abs(eps) / THETA
    # relative corrections to the asymptote are O(sqrt(excess)) <= 0.1 for excess <= 1e-2
    assert abs(g_exact) * np.sqrt(excess) == pytest.approx(TAU / (8 * THETA), rel=0.15)
    assert abs(g_exact) > abs(g_bounded) / (2 * np.sqrt(excess))


# --- grades ---------------------------------------------------------------------------------------

def expected_grades(w_row, input_times, input_grades, spike_times, perturbation):
    """Grade of each spike from its definition: the weighted input grades that arrived since the
    previous spike (inclusive: inputs at a spike's time are integrated after it), plus p on the
    first spike."""
    grades = []
    previous = -np.inf
    for k, t in enumerate(spike_times):
        s = sum(w * d[(times >= previous) & (times < t)].sum()
                for w, times, d in zip(w_row, input_times, input_grades))
        grades.append(s + (perturbation if k == 0 else 0.0))
        previous = t
    return np.array(grades)


def test_grades_carry_the_perturbations_of_causal_hidden_first_spikes():
    rng = np.random.default_rng(21)
    n_in, n_hidden, n_out = 8, 12, 4
    weights = [rng.uniform(-0.5, 2.5, size=(n_hidden, n_in)),
               rng.uniform(-0.5, 1.5, size=(n_out, n_hidden))]
    inputs = random_inputs(rng, n_in)
    p = rng.standard_normal(n_hidden)
    hidden, output = run_network(weights, inputs, tau=TAU, theta=THETA, window=WINDOW,
                                 gradient="bounded", perturbations=[p])
    # hidden layer: input grades are 0, so the first spike carries p_i exactly and the others 0
    for i in range(n_hidden):
        if hidden.spike_times[i].size:
            assert hidden.spike_grades[i][0] == p[i]
            assert np.all(hidden.spike_grades[i][1:] == 0.0)
    first_hidden = np.array([t[0] if t.size else np.inf for t in hidden.spike_times])
    several, late_hidden = 0, 0
    for o in range(n_out):
        times, grades = output.spike_times[o], output.spike_grades[o]
        if times.size == 0:
            continue
        several += times.size >= 2
        late_hidden += np.sum(np.isfinite(first_hidden) & (first_hidden > times[0]))
        # tolerance: the same products summed in a different order, |w p| <= ~10 terms: 1e-12
        causal = first_hidden < times[0]
        assert grades[0] == pytest.approx(np.sum(weights[1][o, causal] * p[causal]), abs=1e-12)
        np.testing.assert_allclose(
            grades, expected_grades(weights[1][o], hidden.spike_times, hidden.spike_grades, times,
                                    0.0), rtol=0, atol=1e-12)
        # D_o: s resets at each spike, so the output's grades add up to the perturbations of the
        # hidden neurons whose first spike came before its LAST spike (only causal paths count)
        causal_any = first_hidden < times[-1]
        assert grades.sum() == pytest.approx(np.sum(weights[1][o, causal_any] * p[causal_any]),
                                             abs=1e-12)
    assert several >= 2 and late_hidden >= 1  # the causality cut and the reset were exercised


def test_grades_accumulate_weighted_input_grades_and_reset_at_each_spike():
    rng = np.random.default_rng(22)
    inputs = random_inputs(rng, 6)
    input_grades = [rng.standard_normal(t.size) for t in inputs]
    weights = rng.uniform(-0.5, 2.5, size=(10, 6))
    p = rng.standard_normal(10)
    result = run_layer(weights, inputs, tau=TAU, theta=THETA, window=WINDOW,
                       input_grades=input_grades, perturbation=p)
    assert sum(t.size >= 3 for t in result.spike_times) >= 5
    for i in range(10):
        # same products, different summation order: 1e-12 (sums of ~20 terms of size ~3)
        np.testing.assert_allclose(
            result.spike_grades[i],
            expected_grades(weights[i], inputs, input_grades, result.spike_times[i], p[i]),
            rtol=0, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: run_layer([[1.0]], [np.array([2.0, 1.0])], tau=TAU, theta=THETA, window=WINDOW),
     "sorted"),
    (lambda: run_layer([[1.0]], [np.array([60.0])], tau=TAU, theta=THETA, window=WINDOW),
     "within"),
    (lambda: run_layer([[1.0]], [], tau=TAU, theta=THETA, window=WINDOW), "entries"),
    (lambda: run_layer([[1.0]], [np.array([1.0])], tau=TAU, theta=THETA, window=WINDOW,
                       gradient="clipped"), "gradient"),
    (lambda: run_layer([[1.0]], [np.array([1.0])], tau=TAU, theta=THETA, window=WINDOW,
                       input_grades=[np.zeros(2)]), "one grade per input spike"),
    (lambda: run_layer([[1.0]], [np.array([1.0])], tau=TAU, theta=THETA, window=WINDOW,
                       perturbation=np.zeros(2)), "perturbation"),
    (lambda: run_layer([[1.0]], [np.array([1.0])], tau=1.0, theta=THETA, window=WINDOW * 10),
     "overflow"),
    (lambda: run_network([np.ones((2, 1)), np.ones((1, 2))], [np.array([1.0])], tau=TAU,
                         theta=THETA, window=WINDOW, perturbations=[]), "hidden layer"),
])
def test_bad_arguments_are_refused(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- the clocked float model converges to this one -----------------------------------------------

DTS = (0.5, 0.25, 0.125, 0.0625)


def run_clocked(weights, inputs, dt):
    """The clocked float model on the same layer; spike times n * dt and Ghat."""
    from plasticore.golden.config import Config
    from plasticore.golden.network import Network

    n_neurons, n_inputs = weights.shape
    n_steps = round(WINDOW / dt)
    cfg = Config(layers=(n_inputs, n_neurons), rule="readout", tau=TAU / dt, tau_s=TAU / (2 * dt),
                 n_steps=n_steps, input_window=n_steps, threshold=THETA, step_bits=16)
    net = Network(cfg, weights=[weights], fixed=False, batch=1)
    raster = np.zeros((1, n_steps, n_inputs), dtype=bool)
    for j, times in enumerate(inputs):
        raster[0, np.round(times / dt).astype(int), j] = True
    spikes = net.run(raster).spikes[-1][0]
    return [np.flatnonzero(spikes[:, i]) * dt for i in range(n_neurons)], net.layers[-1].ghat[0]


def test_clocked_float_model_converges_to_the_event_model():
    rng = np.random.default_rng(0)
    n_inputs, n_neurons = 10, 100
    # input times on the coarsest grid (0.5): exact on every grid
    inputs = [np.sort(rng.choice(np.arange(0.0, 30.5, 0.5), size=rng.integers(1, 4),
                                 replace=False)) for _ in range(n_inputs)]
    weights = rng.uniform(0.0, 1.5, size=(n_neurons, n_inputs))
    event = run_layer(weights, inputs, tau=TAU, theta=THETA, window=WINDOW, gradient="bounded")
    counts = np.array([t.size for t in event.spike_times])
    clocked = {dt: run_clocked(weights, inputs, dt) for dt in DTS}

    # first spikes: the clocked membrane at n dt IS the exact one (decays are exact powers), so
    # the first spike is found at the first grid point at or after the crossing: late by [0, dt).
    # 1e-9 absorbs float64 rounding of a crossing that lands on a grid point.
    for dt, (times, _) in clocked.items():
        for i in np.flatnonzero(counts):
            if times[i].size == counts[i]:
                assert -1e-9 <= times[i][0] - event.spike_times[i][0] < dt + 1e-9

    # compare neurons with several spikes whose count agrees at every dt (a crossing that is
    # over between two grid points, or is pushed past the window, changes the count)
    agree = np.array([all(clocked[dt][0][i].size == counts[i] for dt in DTS)
                      for i in range(n_neurons)])
    keep = np.flatnonzero(agree & (counts >= 3))
    assert keep.size >= 60, keep.size
    time_error, grad_error = [], []
    target = event.grad[keep] * THETA / TAU          # Ghat = G theta / tau
    for dt in DTS:
        times, ghat = clocked[dt]
        time_error.append(max(np.max(np.abs(times[i] - event.spike_times[i])) for i in keep))
        relative = (np.linalg.norm(ghat[keep] - target, axis=1)
                    / np.linalg.norm(target, axis=1))
        grad_error.append(relative.mean())
    time_error, grad_error = np.array(time_error), np.array(grad_error)
    # measured (this draw): max |t_clocked - t| = 4.1, 4.4, 3.7, 3.8 dt; mean relative
    # |Ghat - G theta/tau| = 0.22, 0.22, 0.26, 0.25 per unit dt: first-order convergence of both
    assert np.all(np.diff(time_error) < 0), time_error
    assert np.all(np.diff(grad_error) < 0), grad_error
    # Later spikes are late by more than dt: a reset applied delta late leaves the membrane
    # lower by theta delta / tau, which delays the next crossing by delta * d t_k / d t_k' =
    # delta theta exp(-(t_k - t_k')/tau) / (I_k - theta) (thesis Eq. 87), more than delta on
    # slow crossings. Measured 2.4..8.8 dt over 20 draws; this draw stays below 5 dt.
    assert np.all(time_error < 5 * np.array(DTS)), time_error / DTS
    # G: the clocked gradient is the bounded one at the late step: eps and I moved by O(dt), so
    # 0.5 per unit dt (2x the measured constant). The MAX over neurons is not monotone: an input
    # that arrives between the true crossing and the step where the clocked model sees it is
    # already in the clocked current, an O(1) error on that spike with probability O(dt).
    assert np.all(grad_error < 0.5 * np.array(DTS)), grad_error / DTS


# --- an input within rounding of a threshold crossing (issue 26) -----------------------------------
def _crossing_time(w0, tau=10.0, theta=1.0):
    """The exact first crossing of one input of weight ``w0`` at t = 0 (a = b = w0)."""
    z = (w0 + np.sqrt(w0 * w0 - 4.0 * w0 * theta)) / (2.0 * w0)
    return -tau * np.log(z)


def test_an_input_at_a_threshold_crossing_does_not_lose_the_spike():
    """The reproduction: u reaches 1.17 theta at t = 9.3 without a reset, yet no spike came."""
    result = run_layer([[4.394871794871795, 0.5]], [np.array([0.0]), np.array([4.3097749389390945])],
                       tau=10, theta=1, window=60)
    assert len(result.spike_times[0]) >= 1
    assert abs(result.spike_times[0][0] - _crossing_time(4.394871794871795)) < 1e-9


def test_inputs_within_ulps_of_a_crossing_sweep():
    """Second inputs (excitatory and inhibitory) within +-20 ulps of the first input's crossing,
    over 13 first weights: the spike at the crossing is always there, at the crossing's time, and
    the neuron still fires at a strong input later (version 1 lost the spike in 22 of 1,040
    excitatory cases and the neuron never fired again)."""
    lost, cases = [], 0
    for w0 in np.linspace(4.1, 6.0, 13):
        tc = _crossing_time(w0)
        for w1 in (0.5, 2.0, -0.5):
            for k in range(-20, 21):
                t1 = tc + k * np.spacing(tc)
                result = run_layer([[w0, w1, 30.0]], [np.array([0.0]), np.array([t1]), np.array([40.0])],
                                   tau=10, theta=1, window=60)
                times = result.spike_times[0]
                cases += 1
                at_crossing = len(times) >= 1 and abs(times[0] - tc) < 1e-9 * tc
                # an inhibitory input at or before the crossing may prevent it (either is right
                # within rounding of the input's time); at or after it, the spike is there
                must = w1 > 0 or k > 0
                if (must and not at_crossing) or not (len(times) and times[-1] >= 40.0):
                    lost.append((w0, w1, k, times.tolist()))
    assert cases == 13 * 3 * 41 and not lost, lost[:5]
