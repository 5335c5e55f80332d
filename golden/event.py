"""Continuous-time, event-driven float64 reference of one SFDFA layer (thesis Alg. 6, fixed).

This is the exact model the clocked golden model converges to as ``dt -> 0``: exact spike times
in closed form, several spikes per neuron, the local gradients of thesis Eqs. 161/162 with the
reset path of Eq. 165, and the spike grades of Eqs. 144/145. Time is in the units of ``tau``.

Neuron (current-based LIF, rest 0, threshold ``theta`` = reset size ``Delta_theta``, synaptic time
constant ``tau_s = tau / 2``). With ``z = exp(-t/tau)``, so that ``z**2 = exp(-t/tau_s)``::

    u(t) = b z - a z**2
    input spike of synapse j (weight w_j) at t_j:   a += w_j exp(t_j/tau_s),  b += w_j exp(t_j/tau)
    own spike at t_k:                               b -= theta exp(t_k/tau)

An input spike leaves ``u`` continuous (it adds ``w_j (z - z**2) = 0`` at ``t_j``); only the current
``I(t) = a z**2`` jumps. A spike is the first ``t`` in ``(t_last, t_next]`` with ``u(t) = theta``
crossing upward, ``t_last`` the neuron's last event (input or own spike) and ``t_next`` the next
input time or the end of the window. ``u = theta`` is ``a z**2 - b z + theta = 0``; the upward
crossing (``z`` falls as ``t`` grows) is the larger root::

    z_k = (b + x) / (2 a),   x = sqrt(b**2 - 4 a theta),   t_k = tau ln(2a / (b + x))

which needs ``a > 0``, ``b > 0`` and ``x > 0`` (otherwise ``u`` never rises through ``theta``);
``b + x`` has no cancellation. At the crossing ``I - theta = x z_k`` (thesis Eq. 159), so
``du/dt = (I - theta)/tau = x z_k/tau > 0``, and the exact gradient's denominator is formed as
``x z_k``, not as the cancelling difference ``a z_k**2 - theta``. After a spike the neuron is
tested again before the next input: it may fire several times between two input events.

Local gradient of spike ``k`` w.r.t. ``w_j`` (thesis Eqs. 161-165), ``t = t_k``::

    eps_j(t) = sum_{t_j^z < t} [exp(-(t - t_j^z)/tau) - exp(-(t - t_j^z)/tau_s)]
    E_j(t)   = sum_{k' < k} exp(-(t - t_k')/tau) g_j^{k'}          (reset path)
    e_j      = eps_j(t) - (theta/tau) E_j(t)
    g_j^k    = -tau e_j / (I - theta)    gradient="exact"   (Eq. 161: the true d t_k / d w_j)
    g_j^k    = -tau e_j / I              gradient="bounded" (Eq. 162: |g| <= tau |e_j| / theta)
    G_j      = sum_k g_j^k

``E`` collects the same kind of ``g`` as the model is configured with. It is kept in absolute time
as ``R_j = sum_{k'} exp(t_k'/tau) g_j^{k'}`` (``E_j = R_j z``), like ``a`` and ``b``; ``eps`` is
``h_j z - f_j z**2`` with the input traces ``f_j = sum exp(t_j^z/tau_s)`` and
``h_j = sum exp(t_j^z/tau)`` (thesis Alg. 6's ``f`` and ``h``; its line 15 folds ``R`` into ``h``).

Grades: an input spike of synapse ``j`` with grade ``d`` does ``s += w_j d``; the neuron's spike
emits ``d = s + p`` on its first spike (``p`` its perturbation) and ``d = s`` after, then ``s = 0``.

Inputs at the same time as a crossing are integrated after it (the interval is closed on the
right). Their ``eps`` is 0 there and ``u`` is continuous, so only ``I`` at that spike depends on it.

Thesis typos fixed here (thesis = seeds/004, section 5.3 and chapter 3):

* Alg. 6 lines 4-5 multiply the traces (``f_j <- f_j exp(t_j/tau_s)``); they add.
* Alg. 6 lines 9-10 skip the spike computation *if* the neuron fires; the test is inverted.
* Alg. 6 computes at most one output spike per input event; a neuron may fire several times
  before the next input, so the crossing test loops.
* Alg. 6 never resets ``s``; the text after Eq. 145 does, at each post-synaptic spike.
* Alg. 6 never increments its spike count ``k``, so line 17 would add ``p`` to every spike; ``p``
  goes on the first spike only (the text before Eq. 144).
* Eqs. 65-67 swap ``a`` and ``b`` (``a`` with ``exp(t/tau)``, the reset term in ``b`` with
  ``exp(t/tau_s)``) and the sign of the last line of Eq. 65; Eq. 68 and Alg. 6 need the
  definitions above, ``u = b z - a z**2``.
* Eq. 155's reset sum has ``Theta(t_i^z - t_i^k)`` (future spikes); it is ``Theta(t_i^k - t_i^z)``
  (past spikes), as in Eq. 157.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np

__all__ = ["EventLayerResult", "GRADIENTS", "CROSSING_TOLERANCE", "next_crossing", "run_layer",
           "run_network"]

GRADIENTS = ("exact", "bounded")

#: ``a`` grows like ``exp(t/tau_s)`` and ``b**2`` like ``exp(2t/tau)``: keep both far from float64
#: overflow (``exp(709)``), with room for weights and sums of many spikes.
MAX_WINDOW_OVER_TAU_S = 300.0

#: relative rounding allowance of the crossing test (:func:`next_crossing`): about 4,500 ulps of
#: float64, far above the rounding of ``u = b z - a z**2`` and of the root's time, far below any
#: physical difference of the model
CROSSING_TOLERANCE = 1e-12


@dataclass
class EventLayerResult:
    """Spikes and SFDFA quantities of one layer over one window (lists are indexed by neuron)."""

    spike_times: list[np.ndarray]    # per neuron: float64 sorted spike times
    spike_grades: list[np.ndarray]   # per neuron: grade d of each spike
    grad: np.ndarray                 # (N, J): accumulated local gradient G = sum_k g^k (time units)
    spike_grads: list[np.ndarray]    # per neuron: (K_i, J) per-spike local gradients g^k
    currents: list[np.ndarray]       # per neuron: current I = a exp(-t/tau_s) at each spike


def next_crossing(a, b, t_last, t_next, *, tau: float, theta: float):
    """Per neuron, the first upward crossing of ``theta`` in ``(t_last, t_next]``.

    Returns ``(fires, t_spike, z_root, root_disc)``: a bool mask, the spike time, the root
    ``z_k = exp(-t_k/tau)`` and ``x = sqrt(b**2 - 4 a theta)`` (meaningful where ``fires``).

    ``u(t_last) < theta`` holds in exact arithmetic (``u`` is reset to 0 at a spike and is
    continuous at inputs), so a root at or before ``t_last`` is a crossing of the past. Rounding
    can break it only when a crossing falls within rounding of an input time: the crossing was
    then missed in the previous interval (its root landed just after the input), and now its root
    lands just before ``t_last`` while ``u(t_last)`` rounds to just below ``theta``. Such a
    neuron fires at once, at ``t_last``: it is found within rounding of ``theta``
    (:data:`CROSSING_TOLERANCE` times the magnitude of the two terms of ``u``, whose difference
    cancels) or its rising root within rounding of ``t_last``. Without the tolerance the spike
    was lost, and the neuron never fired again (its crossing lay in the past for good).
    """
    disc = b * b - 4.0 * a * theta
    rising = (a > 0.0) & (b > 0.0) & (disc > 0.0)
    root_disc = np.sqrt(np.where(rising, disc, 0.0))
    z_root = (np.where(rising, b, 1.0) + root_disc) / (2.0 * np.where(rising, a, 1.0))
    t_root = -tau * np.log(z_root)
    z_last = np.exp(-t_last / tau)
    slow, fast = b * z_last, a * z_last * z_last
    scale = np.abs(slow) + np.abs(fast) + theta
    already_above = slow - fast >= theta - CROSSING_TOLERANCE * scale
    just_missed = t_root >= t_last - CROSSING_TOLERANCE * np.maximum(np.abs(t_last), tau)
    fires = rising & (t_root <= t_next) & ((t_root > t_last) | already_above | just_missed)
    return fires, np.maximum(t_root, t_last), z_root, root_disc


def _check_times(name: str, times: Sequence[np.ndarray], count: int, window: float):
    if len(times) != count:
        raise ValueError(f"{name} has {len(times)} entries, the weights have {count} inputs")
    arrays = [np.asarray(t, dtype=np.float64).reshape(-1) for t in times]
    for j, t in enumerate(arrays):
        if t.size and (np.any(np.diff(t) < 0) or t[0] < 0 or t[-1] > window):
            raise ValueError(f"{name}[{j}] must be sorted and within [0, window = {window}]")
    return arrays


def run_layer(weights, input_times: Sequence[np.ndarray], *, tau: float, theta: float,
              window: float, gradient: Literal["exact", "bounded"] = "bounded",
              input_grades: Sequence[np.ndarray] | None = None,
              perturbation: np.ndarray | None = None) -> EventLayerResult:
    """Run one layer of ``N`` neurons over ``[0, window]`` on the input spike trains.

    ``weights``: (N, J). ``input_times``: J sorted arrays of spike times in ``[0, window]``.
    ``input_grades``: J arrays like ``input_times`` (default all zero). ``perturbation``: (N,)
    added to each neuron's first spike grade (default zero). ``gradient`` picks the denominator
    ``I - theta`` (exact) or ``I`` (bounded), also inside the reset path.
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"weights must be (N, J), not shape {weights.shape}")
    n_neurons, n_inputs = weights.shape
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, not {gradient!r}")
    for name, value in (("tau", tau), ("theta", theta), ("window", window)):
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, not {value!r}")
    tau_s = tau / 2.0
    if window / tau_s > MAX_WINDOW_OVER_TAU_S:
        raise ValueError(f"window / tau_s = {window / tau_s:g} exceeds {MAX_WINDOW_OVER_TAU_S:g}: "
                         f"the absolute-time factors exp(t/tau_s) would overflow")
    input_times = _check_times("input_times", input_times, n_inputs, window)
    if input_grades is None:
        input_grades = [np.zeros_like(t) for t in input_times]
    input_grades = [np.asarray(d, dtype=np.float64).reshape(-1) for d in input_grades]
    if len(input_grades) != n_inputs or any(d.shape != t.shape
                                            for d, t in zip(input_grades, input_times)):
        raise ValueError("input_grades must have one grade per input spike, like input_times")
    perturbation = (np.zeros(n_neurons) if perturbation is None
                    else np.asarray(perturbation, dtype=np.float64))
    if perturbation.shape != (n_neurons,):
        raise ValueError(f"perturbation must have shape ({n_neurons},), not {perturbation.shape}")

    event_times = np.concatenate(input_times + [np.empty(0)])
    event_synapses = np.concatenate([np.full(t.size, j) for j, t in enumerate(input_times)]
                                    + [np.empty(0, dtype=np.int64)])
    event_grades = np.concatenate(input_grades + [np.empty(0)])
    order = np.argsort(event_times, kind="stable")
    event_times, event_synapses, event_grades = (event_times[order], event_synapses[order],
                                                 event_grades[order])

    a = np.zeros(n_neurons)                      # sum w exp(t_j/tau_s)
    b = np.zeros(n_neurons)                      # sum w exp(t_j/tau) - theta sum exp(t_k/tau)
    grade_sum = np.zeros(n_neurons)              # s
    trace_fast = np.zeros(n_inputs)              # f_j = sum exp(t_j/tau_s)
    trace_slow = np.zeros(n_inputs)              # h_j = sum exp(t_j/tau)
    reset_path = np.zeros((n_neurons, n_inputs))  # R_ij = sum_k exp(t_k/tau) g_ij^k
    t_last = np.zeros(n_neurons)
    times, grades, grads, currents = ([[] for _ in range(n_neurons)] for _ in range(4))

    def fire_until(t_next: float):
        while True:
            fires, t_spike, z_root, root_disc = next_crossing(a, b, t_last, t_next,
                                                              tau=tau, theta=theta)
            spiking = np.flatnonzero(fires)
            if spiking.size == 0:
                return
            t = t_spike[spiking]
            z = z_root[spiking]
            current = a[spiking] * z * z
            eligibility = (trace_slow * z[:, None] - trace_fast * (z * z)[:, None]
                           - (theta / tau) * reset_path[spiking] * z[:, None])
            denominator = root_disc[spiking] * z if gradient == "exact" else current
            g = -tau * eligibility / denominator[:, None]
            reset_path[spiking] += np.exp(t / tau)[:, None] * g
            b[spiking] -= theta * np.exp(t / tau)
            t_last[spiking] = t
            for row, i in enumerate(spiking):
                first = not times[i]
                grades[i].append(grade_sum[i] + (perturbation[i] if first else 0.0))
                times[i].append(t[row])
                grads[i].append(g[row])
                currents[i].append(current[row])
            grade_sum[spiking] = 0.0

    boundaries = np.flatnonzero(np.diff(event_times, prepend=-np.inf, append=np.inf))
    for start, stop in zip(boundaries[:-1], boundaries[1:]):
        t_event = event_times[start]
        fire_until(t_event)
        for synapse, grade in zip(event_synapses[start:stop], event_grades[start:stop]):
            a += weights[:, synapse] * np.exp(t_event / tau_s)
            b += weights[:, synapse] * np.exp(t_event / tau)
            grade_sum += weights[:, synapse] * grade
            trace_fast[synapse] += np.exp(t_event / tau_s)
            trace_slow[synapse] += np.exp(t_event / tau)
        t_last[:] = t_event
    fire_until(window)

    spike_grads = [np.array(g, dtype=np.float64).reshape(-1, n_inputs) for g in grads]
    return EventLayerResult(
        spike_times=[np.array(t, dtype=np.float64) for t in times],
        spike_grades=[np.array(d, dtype=np.float64) for d in grades],
        grad=np.array([g.sum(axis=0) for g in spike_grads]).reshape(n_neurons, n_inputs),
        spike_grads=spike_grads,
        currents=[np.array(c, dtype=np.float64) for c in currents],
    )


def run_network(weights: Sequence[np.ndarray], input_times: Sequence[np.ndarray], *, tau: float,
                theta: float, window: float, gradient: Literal["exact", "bounded"] = "bounded",
                perturbations: Sequence[np.ndarray] | None = None) -> list[EventLayerResult]:
    """Run a feed-forward stack, layer by layer: layer ``l`` reads layer ``l-1``'s spike times and
    grades. ``weights[l]``: (N_l, N_{l-1}). Network inputs carry grade 0. ``perturbations``: one
    (N_l,) array per HIDDEN layer (``len(weights) - 1`` of them; default zero); the output layer
    adds none."""
    n_hidden = len(weights) - 1
    if perturbations is None:
        perturbations = [None] * n_hidden
    if len(perturbations) != n_hidden:
        raise ValueError(f"perturbations needs one entry per hidden layer ({n_hidden}), "
                         f"not {len(perturbations)}")
    results = []
    layer_times, layer_grades = list(input_times), None
    for layer, layer_weights in enumerate(weights):
        result = run_layer(layer_weights, layer_times, tau=tau, theta=theta, window=window,
                           gradient=gradient, input_grades=layer_grades,
                           perturbation=perturbations[layer] if layer < n_hidden else None)
        results.append(result)
        layer_times, layer_grades = result.spike_times, result.spike_grades
    return results
