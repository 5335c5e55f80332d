"""Batched, event-driven float64 trainer of layered SFDFA networks (issue 24).

Every layer is the neuron of :mod:`plasticore.golden.event` (exact spike times in closed form,
several spikes per neuron, the local gradient of thesis Eq. 161/162 with the reset recursion of
Eq. 165, spike grades of Eqs. 144/145), run on a minibatch, with vectorised numpy and no numba.
``tests/baselines/test_event_net.py`` checks it equals ``golden.event.run_layer`` neuron for
neuron (spike times, grades, currents, per-spike and summed local gradients) and finite
differences.

How a layer is run fast (one sample at a time, each step vectorised over neurons and events):

* the input spikes of the sample are sorted as golden sorts them (by time, ties by synapse) and
  grouped by equal time (golden integrates a group at once and tests crossings only between
  groups);
* without resets, ``a`` and ``b`` after each group are cumulative sums of ``w_j exp(t_j/tau_s)``
  and ``w_j exp(t_j/tau)``, one ``cumsum`` over the events for all neurons at once; a neuron's own
  spikes only subtract ``theta exp(t_k/tau)`` from ``b`` for the rest of the window, a per-neuron
  offset;
* the first spike of every neuron is the first interval, over all (interval, neuron) pairs, in
  which ``golden.event.next_crossing`` (the very same function, same tolerances) reports an upward
  crossing; then only the neurons that fired are searched again, from their spike on, with their
  offset, until none fires (or a neuron reaches ``max_spikes``, the authors' spike buffer: it
  then stops for the rest of the window);
* the local gradient is computed only at spike times, over the inputs that spiked in the sample,
  spike level by spike level (all first spikes, then all second spikes, ...) because the reset
  path of spike ``k`` needs the gradients of spikes ``< k``.

Learning (thesis ch. 5 and the authors' public code, experiments/MNIST/train_fc.py): spike-count
error ``e_o = y_o - n_o`` (targets 15 / 3); the output layer's gradient is ``mean_b e_bo G_boi``
(``G`` the summed local gradient, in time units: ``-G`` stands for ``d n / d w``); a hidden
neuron's error is ``delta_i = sum_o B_io e_o`` and, per arm,

* ``sfdfa``: ``delta_i += beta (n_hat - mean_b n_bi)`` (thesis Eq. 166, regulariser added), ``B``
  learnt from zero by plain gradient descent (rate 1e-4) on the mean over the samples in which
  neuron ``i`` fired of ``B_io - d_o p_i`` (``d_o`` the sum of output ``o``'s spike grades, ``p_i``
  the Gaussian perturbation of neuron ``i``'s first spike);
* ``sfdfa-code``: ``delta_i = beta (n_hat - mean_b n_bi)`` only (the public code's
  ``LIFLayer.compute_avg_gradient`` overwrites the projected error); ``B`` learnt as above;
* ``dfa``: ``B`` fixed U(-1, 1), plus the regulariser;
* ``readout``: hidden layers frozen, only the output layer learns.

Every layer's gradient goes to Adam (3e-3, betas 0.9 / 0.999, eps 1e-8, one shared step count),
applied as ``W -= lr m_hat / (sqrt(v_hat) + eps)``, as the public code does. The feedback step is
taken before the weight step of the same batch (the public code's order).
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Sequence

import numpy as np

from plasticore.golden.event import GRADIENTS, MAX_WINDOW_OVER_TAU_S, next_crossing

__all__ = ["ARMS", "BACKENDS", "Eligibility", "EventSetting", "LayerOutput", "run_layer_batch", "EventNet", "encode_ttfs",
           "train", "evaluate", "linear_probe", "Adam"]

ARMS = ("sfdfa", "sfdfa-code", "dfa", "readout")


# --------------------------------------------------------------------------------------------
# one layer, one batch
# --------------------------------------------------------------------------------------------

@dataclass
class LayerOutput:
    """One layer's spikes over a batch. ``times`` (B, N, K) sorted per neuron, ``inf``-padded;
    ``grades`` (B, N, K) zero-padded; ``counts`` (B, N). With gradients: ``elig[b] = (neurons,
    inputs, G)``, ``G`` (len(neurons), len(inputs)) the summed local gradient of the neurons that
    fired, over the inputs that spiked (every other entry of the (N, J) gradient is zero). With
    ``detail``: ``details[b]`` holds per neuron the lists ``currents`` and ``spike_grads`` (each a
    full (J,) row), as golden's :class:`EventLayerResult`."""

    times: np.ndarray
    grades: np.ndarray
    counts: np.ndarray
    elig: list | None = None
    details: list | None = None

    def dense_grad(self, b: int, n_inputs: int) -> np.ndarray:
        """The (N, J) summed local gradient of sample ``b``."""
        out = np.zeros((self.counts.shape[1], n_inputs))
        neurons, inputs, g = self.elig.sample(b)
        out[np.ix_(neurons, inputs)] = g
        return out


def _sample_events(times: np.ndarray, grades: np.ndarray | None):
    """A sample's input spikes in golden's order (time, then synapse, then spike index)."""
    n_in, k = times.shape
    flat = times.ravel()
    idx = np.flatnonzero(np.isfinite(flat))
    idx = idx[np.argsort(flat[idx], kind="stable")]
    ev_d = None if grades is None else grades.ravel()[idx]
    return flat[idx], idx // k, ev_d


def _crossings(a_g, b_g, t_lo, t_hi, *, tau, theta, max_spikes):
    """All spikes of one sample. ``a_g``, ``b_g``: (G, N) state after each input group without
    resets; the interval after group ``g`` is ``(t_lo[g], t_hi[g]]``. Returns per spike (sorted by
    neuron, then time): neuron, group, time, root z, root discriminant x, spike index k."""
    n_groups, n_neurons = a_g.shape
    offset = np.zeros(n_neurons)           # theta sum_k exp(t_k/tau): the resets in b
    t_last = np.zeros(n_neurons)
    g_cur = np.zeros(n_neurons, dtype=np.int64)
    count = np.zeros(n_neurons, dtype=np.int64)
    out = []
    active = np.arange(n_neurons)
    first = True
    g_index = np.arange(n_groups)
    while active.size:
        if first:
            a, b = a_g.T, b_g.T
        else:
            a = a_g[:, active].T
            b = b_g[:, active].T - offset[active, None]
        cand = (b > 0.0) & (a > 0.0)
        cand &= b * b - 4.0 * a * theta > 0.0   # as next_crossing, bit for bit
        if not first:
            cand &= g_index[None, :] >= g_cur[active, None]
        rows, groups = np.nonzero(cand)
        if rows.size == 0:
            break
        neurons = active[rows]
        tl = t_lo[groups]
        if not first:
            same = groups == g_cur[neurons]
            tl = np.where(same, t_last[neurons], tl)
        fires, t_spike, z_root, root_disc = next_crossing(
            a[rows, groups], b[rows, groups], tl, t_hi[groups], tau=tau, theta=theta)
        sel = np.flatnonzero(fires)
        if sel.size == 0:
            break
        # np.nonzero is row-major: the first firing entry of each row is its earliest group
        _, first_of_row = np.unique(rows[sel], return_index=True)
        sel = sel[first_of_row]
        neurons, groups = neurons[sel], groups[sel]
        t = t_spike[sel]
        out.append((neurons, groups, t, z_root[sel], root_disc[sel], count[neurons].copy()))
        offset[neurons] += theta * np.exp(t / tau)
        t_last[neurons] = t
        g_cur[neurons] = groups
        count[neurons] += 1
        active = neurons if max_spikes is None else neurons[count[neurons] < max_spikes]
        first = False
    if not out:
        e = np.empty(0)
        ei = np.empty(0, dtype=np.int64)
        return ei, ei, e, e, e, ei
    cols = [np.concatenate(c) for c in zip(*out)]
    order = np.lexsort((cols[5], cols[0]))
    return tuple(c[order] for c in cols)


try:  # the compiled kernels (optional: the ``research`` extra)
    from . import event_kernels as _kernels
except ImportError:  # pragma: no cover - exercised where numba is absent
    _kernels = None

BACKENDS = ("auto", "numba", "numpy")


class Eligibility:
    """The summed local gradients of one layer over a batch, for the neurons that fired and the
    inputs that spiked (every other entry is zero)."""

    def __init__(self, per_sample=None, compact=None):
        self.per_sample = per_sample      # numpy backend: [(neurons, inputs, G)] per sample
        self.compact = compact            # numba backend: the kernel's buffers

    def weight_grad(self, delta: np.ndarray, shape) -> np.ndarray:
        """``sum_b delta[b, i] G_b[i, j]`` (not divided by the batch size)."""
        grad = np.zeros(shape)
        if self.compact is not None:
            c = self.compact
            _kernels.accumulate_grad(grad, np.ascontiguousarray(delta, dtype=np.float64),
                                     c["g_off"], c["g_buf"], c["row_neuron"], c["n_rows"],
                                     c["cols"], c["n_cols"])
            return grad
        for b, (neurons, inputs, g) in enumerate(self.per_sample):
            if neurons.size:
                grad[np.ix_(neurons, inputs)] += delta[b, neurons][:, None] * g
        return grad

    def sample(self, b: int):
        """``(neurons, inputs, G)`` of sample ``b``."""
        if self.compact is None:
            return self.per_sample[b]
        c = self.compact
        nc, nr = int(c["n_cols"][b]), int(c["n_rows"][b])
        g = c["g_buf"][c["g_off"][b]:c["g_off"][b] + nr * nc].reshape(nr, nc)
        return c["row_neuron"][b, :nr], c["cols"][b, :nc], g


def run_layer_batch(weights, times, grades=None, *, tau: float, theta: float, window: float,
                    gradient: Literal["exact", "bounded"] = "bounded", max_spikes: int | None = None,
                    perturbation: np.ndarray | None = None, need_grad: bool = True,
                    detail: bool = False, weights_t: np.ndarray | None = None,
                    backend: str = "auto") -> LayerOutput:
    """Run one layer of ``N`` neurons on a batch over ``[0, window]``.

    ``weights`` (N, J); ``times`` (B, J, K) input spike times, sorted per input, ``inf``-padded;
    ``grades`` like ``times`` (None: all zero); ``perturbation`` (B, N) added to each neuron's
    first spike grade. ``gradient``, ``tau``, ``theta``: as ``golden.event.run_layer``.
    ``max_spikes``: a neuron stops after that many spikes (None: no limit, as golden).
    ``weights_t``: ``weights.T`` as a C-contiguous array, if the caller already has one.
    ``backend``: ``"numba"`` (compiled kernels), ``"numpy"`` (vectorised, slower) or ``"auto"``
    (numba where installed).
    """
    weights = np.asarray(weights, dtype=np.float64)
    n_neurons, n_inputs = weights.shape
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 3 or times.shape[1] != n_inputs:
        raise ValueError(f"times must be (B, {n_inputs}, K), not {times.shape}")
    if gradient not in GRADIENTS:
        raise ValueError(f"gradient must be one of {GRADIENTS}, not {gradient!r}")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, not {backend!r}")
    if backend == "numba" and _kernels is None:
        raise ImportError("backend='numba' needs numba (pip install numba)")
    tau_s = tau / 2.0
    if window / tau_s > MAX_WINDOW_OVER_TAU_S:
        raise ValueError("window / tau_s too large: exp(t/tau_s) would overflow")
    finite = times[np.isfinite(times)]
    if finite.size and (finite.min() < 0 or finite.max() > window):
        raise ValueError(f"input spike times must lie within [0, window = {window}]")
    wt = np.ascontiguousarray(weights.T) if weights_t is None else weights_t
    if backend != "numpy" and _kernels is not None:
        return _run_layer_numba(wt, times, grades, perturbation, tau=tau, theta=theta,
                                window=window, gradient=gradient, max_spikes=max_spikes,
                                need_grad=need_grad or detail, detail=detail)
    n_batch = times.shape[0]
    per_sample = []
    elig = [] if need_grad else None
    details = [] if detail else None
    k_out = 0
    for b in range(n_batch):
        ev_t, ev_src, ev_d = _sample_events(times[b], None if grades is None else grades[b])
        res = _run_sample(wt, ev_t, ev_src, ev_d, n_neurons, n_inputs,
                          None if perturbation is None else perturbation[b],
                          tau=tau, tau_s=tau_s, theta=theta, window=window, gradient=gradient,
                          max_spikes=max_spikes, need_grad=need_grad, detail=detail)
        per_sample.append(res)
        if res["neuron"].size:
            k_out = max(k_out, int(res["k"].max()) + 1)
        if need_grad:
            elig.append(res["elig"])
        if detail:
            details.append(res["detail"])
    out_t = np.full((n_batch, n_neurons, max(k_out, 1)), np.inf)
    out_d = np.zeros((n_batch, n_neurons, max(k_out, 1)))
    counts = np.zeros((n_batch, n_neurons), dtype=np.int64)
    for b, res in enumerate(per_sample):
        out_t[b, res["neuron"], res["k"]] = res["t"]
        out_d[b, res["neuron"], res["k"]] = res["grade"]
        np.add.at(counts[b], res["neuron"], 1)
    return LayerOutput(out_t, out_d, counts, None if elig is None else Eligibility(elig), details)


def _batch_events(times, grades):
    """Every sample's input spikes in golden's order, padded: times, inputs, columns (index among
    the sample's inputs that spiked), grades, counts, and the inputs that spiked."""
    n_batch, n_inputs, k = times.shape
    flat = times.reshape(n_batch, n_inputs * k)
    order = np.argsort(flat, axis=1, kind="stable")
    n_ev = np.isfinite(flat).sum(axis=1)
    e_max = max(int(n_ev.max(initial=0)), 1)
    order = order[:, :e_max]
    ev_t = np.take_along_axis(flat, order, axis=1)
    ev_src = order // k
    ev_d = (np.zeros(ev_t.shape) if grades is None else
            np.take_along_axis(np.asarray(grades, dtype=np.float64).reshape(n_batch, -1), order,
                               axis=1))
    active = np.isfinite(times).any(axis=2)
    n_cols = active.sum(axis=1)
    col_of = np.cumsum(active, axis=1) - 1
    ev_col = np.take_along_axis(col_of, ev_src, axis=1)
    cols = np.argsort(~active, axis=1, kind="stable")[:, :max(int(n_cols.max(initial=0)), 1)]
    return (np.ascontiguousarray(ev_t), np.ascontiguousarray(ev_src), np.ascontiguousarray(ev_col),
            np.ascontiguousarray(ev_d), n_ev, np.ascontiguousarray(cols), n_cols)


def _run_layer_numba(wt, times, grades, perturbation, *, tau, theta, window, gradient, max_spikes,
                     need_grad, detail):
    n_batch = times.shape[0]
    n_inputs, n_neurons = wt.shape
    ev_t, ev_src, ev_col, ev_d, n_ev, cols, n_cols = _batch_events(times, grades)
    pert = (np.zeros((n_batch, n_neurons)) if perturbation is None
            else np.ascontiguousarray(perturbation, dtype=np.float64))
    cap = max_spikes if max_spikes is not None else 64
    while True:
        out_t = np.full((n_batch, n_neurons, cap), np.inf)
        out_d = np.zeros((n_batch, n_neurons, cap))
        out_cur = np.zeros((n_batch, n_neurons, cap))
        counts = np.zeros((n_batch, n_neurons), dtype=np.int64)
        g_off = np.zeros(n_batch, dtype=np.int64)
        if need_grad:
            g_off[1:] = np.cumsum(n_neurons * n_cols)[:-1]
            g_buf = np.empty(int(n_neurons * n_cols.sum()))
        else:
            g_buf = np.empty(0)
        sg_off = np.zeros(n_batch, dtype=np.int64)
        if detail:
            sg_off[1:] = np.cumsum(n_neurons * cap * n_cols)[:-1]
            sg_buf = np.zeros(int(n_neurons * cap * n_cols.sum()))
        else:
            sg_buf = np.empty(0)
        row_neuron = np.zeros((n_batch, n_neurons), dtype=np.int64)
        n_rows = np.zeros(n_batch, dtype=np.int64)
        _kernels.layer_kernel(wt, ev_t, ev_src, ev_col, ev_d, n_ev, pert, float(tau),
                              float(theta), float(window), gradient == "exact", int(cap),
                              bool(need_grad), out_t, out_d, out_cur, counts, n_cols, g_off,
                              g_buf, row_neuron, n_rows, bool(detail), sg_off, sg_buf)
        if max_spikes is not None or counts.max(initial=0) < cap:
            break
        cap *= 4                                   # no limit asked: run again with room
    k_out = max(int(counts.max(initial=0)), 1)
    elig = None
    if need_grad:
        elig = Eligibility(compact={"g_off": g_off, "g_buf": g_buf, "row_neuron": row_neuron,
                                    "n_rows": n_rows, "cols": cols, "n_cols": n_cols})
    details = None
    if detail:
        details = []
        for b in range(n_batch):
            nc = int(n_cols[b])
            sg = sg_buf[sg_off[b]:sg_off[b] + n_neurons * cap * nc].reshape(n_neurons, cap, nc)
            currents, spike_grads = [], []
            for i in range(n_neurons):
                k = int(counts[b, i])
                currents.append(list(out_cur[b, i, :k]))
                rows = np.zeros((k, n_inputs))
                rows[:, cols[b, :nc]] = sg[i, :k]
                spike_grads.append(list(rows))
            details.append({"currents": currents, "spike_grads": spike_grads})
    return LayerOutput(np.ascontiguousarray(out_t[:, :, :k_out]),
                       np.ascontiguousarray(out_d[:, :, :k_out]), counts, elig, details)


def _run_sample(wt, ev_t, ev_src, ev_d, n_neurons, n_inputs, perturbation, *, tau, tau_s, theta,
                window, gradient, max_spikes, need_grad, detail):
    empty_i = np.empty(0, dtype=np.int64)
    res = {"neuron": empty_i, "k": empty_i, "t": np.empty(0), "grade": np.empty(0),
           "elig": (empty_i, empty_i, np.zeros((0, 0))),
           "detail": {"currents": [[] for _ in range(n_neurons)],
                      "spike_grads": [[] for _ in range(n_neurons)]} if detail else None}
    if ev_t.size == 0:
        return res
    if ev_t[0] < 0 or ev_t[-1] > window:
        raise ValueError(f"input spike times must lie within [0, window = {window}]")
    e_fast = np.exp(ev_t / tau_s)
    e_slow = np.exp(ev_t / tau)
    w_ev = wt[ev_src]                                   # (E, N)
    boundary = np.flatnonzero(np.diff(ev_t)) + 1
    stops = np.append(boundary, ev_t.size)              # one past each group's last event
    t_lo = ev_t[stops - 1]
    t_hi = np.append(t_lo[1:], window)
    a_g = np.cumsum(w_ev * e_fast[:, None], axis=0)[stops - 1]
    b_g = np.cumsum(w_ev * e_slow[:, None], axis=0)[stops - 1]
    neuron, group, t, z, x, k = _crossings(a_g, b_g, t_lo, t_hi, tau=tau, theta=theta,
                                           max_spikes=max_spikes)
    if neuron.size == 0:
        return res
    # grades: s accumulates w d since the neuron's last spike (Eq. 145); p on the first spike
    if ev_d is None:
        grade = np.zeros(neuron.size)
    else:
        d_g = np.cumsum(w_ev * ev_d[:, None], axis=0)[stops - 1]
        now = d_g[group, neuron]
        prev_same = np.r_[False, neuron[1:] == neuron[:-1]]
        before = np.zeros(neuron.size)
        before[prev_same] = d_g[group[np.flatnonzero(prev_same) - 1], neuron[prev_same]]
        grade = np.where(prev_same, now - before, now)
    if perturbation is not None:
        grade = np.where(k == 0, grade + perturbation[neuron], grade)
    res.update(neuron=neuron, k=k, t=t, grade=grade)
    if not (need_grad or detail):
        return res

    current = a_g[group, neuron] * z * z
    denominator = x * z if gradient == "exact" else current
    # traces f, h of the inputs that spiked, after each group holding a spike
    inputs, ev_col = np.unique(ev_src, return_inverse=True)
    n_cols = inputs.size
    spike_groups, seg_of_spike = np.unique(group, return_inverse=True)
    seg_of_event = np.searchsorted(stops[spike_groups], np.arange(ev_t.size), side="right")
    keep = seg_of_event < spike_groups.size
    flat = seg_of_event[keep] * n_cols + ev_col[keep]
    size = spike_groups.size * n_cols
    f = np.cumsum(np.bincount(flat, e_fast[keep], size).reshape(-1, n_cols), axis=0)
    h = np.cumsum(np.bincount(flat, e_slow[keep], size).reshape(-1, n_cols), axis=0)
    fired, row_of_spike = np.unique(neuron, return_inverse=True)
    reset_path = np.zeros((fired.size, n_cols))
    g_sum = np.zeros((fired.size, n_cols))
    grads_k = np.zeros((neuron.size, n_cols)) if detail else None
    for level in range(int(k.max()) + 1):
        sel = np.flatnonzero(k == level)
        rows = row_of_spike[sel]
        zz = z[sel][:, None]
        seg = seg_of_spike[sel]
        eligibility = (h[seg] * zz - f[seg] * (zz * zz)
                       - (theta / tau) * reset_path[rows] * zz)
        g = -tau * eligibility / denominator[sel][:, None]
        reset_path[rows] += np.exp(t[sel] / tau)[:, None] * g
        g_sum[rows] += g
        if detail:
            grads_k[sel] = g
    res["elig"] = (fired, inputs, g_sum)
    if detail:
        for s in range(neuron.size):
            row = np.zeros(n_inputs)
            row[inputs] = grads_k[s]
            res["detail"]["spike_grads"][neuron[s]].append(row)
            res["detail"]["currents"][neuron[s]].append(current[s])
    return res


def spike_trains(times_list: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """(B, J, K) ``inf``-padded array from per-sample lists of per-input spike-time arrays."""
    k = max([1] + [len(t) for sample in times_list for t in sample])
    out = np.full((len(times_list), len(times_list[0]), k), np.inf)
    for b, sample in enumerate(times_list):
        for j, t in enumerate(sample):
            out[b, j, :len(t)] = t
    return out


# --------------------------------------------------------------------------------------------
# the setting, encoding, network and learning
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EventSetting:
    """The authors' MNIST setting (Florian-BACHO/SFDFA experiments/MNIST/train_fc.py), times in
    seconds. ``theta_hat`` are the code's THRESHOLD_HAT; the membrane thresholds are
    ``theta_hat / tau`` (0.769 / 2.692)."""

    hidden: tuple[int, ...] = (800,)
    tau_s: float = 0.130
    window: float = 0.200
    input_window: float = 0.100
    theta_hat: tuple[float, ...] = (0.2, 0.7)     # hidden layers..., output
    max_spikes: int = 30
    gradient: str = "bounded"
    init: float = 1.0                             # U(-init, init), every layer
    target_true: float = 15.0
    target_false: float = 3.0
    lr: float = 3e-3
    batch: int = 50
    feedback_lr: float = 1e-4
    reg_beta: float = 0.1
    reg_target: float = 0.2
    adam_betas: tuple[float, float] = (0.9, 0.999)
    adam_eps: float = 1e-8

    @property
    def tau(self) -> float:
        return 2.0 * self.tau_s

    def thetas(self, n_layers: int) -> list[float]:
        """Membrane thresholds per layer: ``theta_hat[l] / tau`` for hidden layer ``l`` (the first
        one's for hidden layers beyond the list), ``theta_hat[-1] / tau`` for the output."""
        hidden = list(self.theta_hat[:-1]) or [self.theta_hat[0]]
        hats = [hidden[min(l, len(hidden) - 1)] for l in range(n_layers - 1)] + [self.theta_hat[-1]]
        return [h / self.tau for h in hats]

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def encode_ttfs(pixels: np.ndarray, input_window: float) -> np.ndarray:
    """TTFS: ``t = input_window (1 - p/255)``, ``p = 0`` no spike. (B, 784) uint8 -> (B, 784, 1)."""
    p = np.asarray(pixels, dtype=np.float64)
    t = input_window * (1.0 - p / 255.0)
    t[p == 0] = np.inf
    return t[:, :, None]


class Adam:
    """Adam as the public code's AdamOptimizer (one step count for every parameter)."""

    def __init__(self, shapes, lr, betas=(0.9, 0.999), eps=1e-8):
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m = [np.zeros(s) for s in shapes]
        self.v = [np.zeros(s) for s in shapes]
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        b1, b2 = self.betas
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            m_hat = m / (1 - b1 ** self.t)
            v_hat = v / (1 - b2 ** self.t)
            p -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class EventNet:
    """A feed-forward stack of event-driven LIF layers with one direct feedback matrix per hidden
    layer (shape (N_l, n_outputs)). ``arm`` in :data:`ARMS`."""

    def __init__(self, sizes: Sequence[int], setting: EventSetting, arm: str, seed: int,
                 backend: str = "auto"):
        self.backend = backend
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {ARMS}, not {arm!r}")
        self.sizes = tuple(int(s) for s in sizes)
        self.setting, self.arm, self.seed = setting, arm, int(seed)
        rng = np.random.default_rng([seed, 0])
        s = setting
        self.weights = [rng.uniform(-s.init, s.init, (n_out, n_in))
                        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:])]
        n_o = self.sizes[-1]
        if arm == "dfa":
            self.feedback = [rng.uniform(-1.0, 1.0, (n, n_o)) for n in self.sizes[1:-1]]
        else:
            self.feedback = [np.zeros((n, n_o)) for n in self.sizes[1:-1]]
        self.thetas = s.thetas(len(self.weights))
        self.optim = Adam([w.shape for w in self.trainable], s.lr, s.adam_betas, s.adam_eps)

    @property
    def trainable(self):
        return self.weights[-1:] if self.arm == "readout" else self.weights

    # state for checkpoints
    def state(self) -> dict:
        out = {f"w{i}": w for i, w in enumerate(self.weights)}
        out.update({f"b{i}": b for i, b in enumerate(self.feedback)})
        out.update({f"m{i}": m for i, m in enumerate(self.optim.m)})
        out.update({f"v{i}": v for i, v in enumerate(self.optim.v)})
        out["adam_t"] = np.array(self.optim.t)
        return out

    def load_state(self, state) -> None:
        for i in range(len(self.weights)):
            self.weights[i] = np.array(state[f"w{i}"], dtype=np.float64)
        for i in range(len(self.feedback)):
            self.feedback[i] = np.array(state[f"b{i}"], dtype=np.float64)
        for i in range(len(self.optim.m)):
            self.optim.m[i] = np.array(state[f"m{i}"], dtype=np.float64)
            self.optim.v[i] = np.array(state[f"v{i}"], dtype=np.float64)
        self.optim.t = int(state["adam_t"])

    def forward(self, times, *, perturbations=None, need_grad=False) -> list[LayerOutput]:
        s = self.setting
        outs, grades = [], None
        n_hidden = len(self.weights) - 1
        for layer, w in enumerate(self.weights):
            trainable = need_grad and (self.arm != "readout" or layer == n_hidden)
            pert = perturbations[layer] if (perturbations is not None and layer < n_hidden) else None
            out = run_layer_batch(w, times, grades, tau=s.tau, theta=self.thetas[layer],
                                  window=s.window, gradient=s.gradient, max_spikes=s.max_spikes,
                                  perturbation=pert, need_grad=trainable, backend=self.backend)
            outs.append(out)
            times, grades = out.times, (out.grades if perturbations is not None else None)
        return outs

    def train_batch(self, times, labels, rng: np.random.Generator) -> dict:
        s = self.setting
        n_batch = times.shape[0]
        sfdfa = self.arm in ("sfdfa", "sfdfa-code")
        perts = ([rng.standard_normal((n_batch, n)) for n in self.sizes[1:-1]] if sfdfa else None)
        outs = self.forward(times, perturbations=perts, need_grad=True)
        counts = outs[-1].counts.astype(np.float64)
        targets = np.full(counts.shape, s.target_false)
        targets[np.arange(n_batch), labels] = s.target_true
        error = targets - counts                                   # e_o = y_o - n_o
        if sfdfa:                                                  # feedback first (public code)
            d_out = outs[-1].grades.sum(axis=2)                    # (B, O)
            for layer, fb in enumerate(self.feedback):
                active = (outs[layer].counts > 0).astype(np.float64)      # (B, N)
                est = (d_out[:, None, :] * perts[layer][:, :, None])      # (B, N, O)
                grad_b = (active[:, :, None] * (fb[None] - est)).sum(axis=0)
                grad_b /= np.maximum(1.0, active.sum(axis=0))[:, None]
                fb -= s.feedback_lr * grad_b
        deltas = []
        for layer in range(len(self.weights) - 1):
            rate = outs[layer].counts.mean(axis=0)
            reg = s.reg_beta * (s.reg_target - rate)
            if self.arm == "sfdfa-code":
                deltas.append(np.broadcast_to(reg, (n_batch, rate.size)))
            else:
                deltas.append(error @ self.feedback[layer].T + reg)
        deltas.append(error)
        grads = []
        first = len(self.weights) - len(self.trainable)
        for layer in range(first, len(self.weights)):
            g = outs[layer].elig.weight_grad(deltas[layer], self.weights[layer].shape)
            grads.append(g / n_batch)
        self.optim.step(self.trainable, grads)
        loss = 0.5 * (error ** 2).sum(axis=1)
        return {"loss": float(loss.mean()),
                "correct": int((np.argmax(counts, axis=1) == labels).sum()),
                "hidden_rate": [float(o.counts.mean()) for o in outs[:-1]],
                "output_rate": float(counts.mean())}

    def predict_counts(self, times):
        outs = self.forward(times)
        return [o.counts for o in outs]


# --------------------------------------------------------------------------------------------
# evaluation, probe, training loop with checkpoints
# --------------------------------------------------------------------------------------------

def evaluate(net: EventNet, pixels, labels, *, chunk: int = 100, keep_hidden: bool = False):
    """Accuracy (argmax of output counts, ties to the lowest index), loss, hidden rates; with
    ``keep_hidden`` also the first hidden layer's counts (for the probe)."""
    s = net.setting
    correct, loss, rates, hidden = 0, 0.0, [], []
    silent = None
    for start in range(0, len(labels), chunk):
        px, y = pixels[start:start + chunk], labels[start:start + chunk]
        counts = net.predict_counts(encode_ttfs(px, s.input_window))
        out = counts[-1].astype(np.float64)
        targets = np.full(out.shape, s.target_false)
        targets[np.arange(len(y)), y] = s.target_true
        loss += float(0.5 * ((targets - out) ** 2).sum())
        correct += int((np.argmax(out, axis=1) == y).sum())
        rates.append([c.sum(axis=0) for c in counts[:-1]])
        fired = [c.sum(axis=0) > 0 for c in counts[:-1]]
        silent = fired if silent is None else [a | f for a, f in zip(silent, fired)]
        if keep_hidden:
            hidden.append(counts[0])
    n = len(labels)
    per_layer = [sum(r[i] for r in rates) / n for i in range(len(rates[0]))] if rates else []
    out = {"accuracy": correct / n, "loss": loss / n,
           "hidden_rate": [float(r.mean()) for r in per_layer],
           "hidden_silent_fraction": [float(1.0 - f.mean()) for f in silent or []]}
    if keep_hidden:
        out["hidden_counts"] = np.concatenate(hidden)
    return out


def linear_probe(train_features, y_train, test_features, y_test, max_iter: int = 300) -> float:
    """The golden package's linear probe (``golden.train.linear_probe``), capped at ``max_iter``
    iterations: test accuracy."""
    from plasticore.golden.train import linear_probe as probe

    return probe(train_features, y_train, test_features, y_test, max_iter=max_iter,
                 allow_unconverged=True)


def _save_npz_atomic(path: Path, **arrays) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def _write_json_atomic(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def train(data, *, arm: str, seed: int, epochs: int, setting: EventSetting = EventSetting(),
          out_dir: Path | None = None, train_limit: int | None = None,
          test_limit: int | None = None, probe: str = "last", probe_limit: int | None = None,
          log: Callable[[str], None] | None = print, log_every: int = 20,
          stop_after_epoch: int | None = None, backend: str = "auto") -> dict:
    """Train ``arm`` on ``data`` (``x_train``, ``y_train``, ``x_test``, ``y_test`` as uint8 pixels
    and labels). With ``out_dir``: a checkpoint after every epoch (``checkpoint.npz``), one JSON per
    epoch (``epoch_NNN.json``) and ``summary.json``; a run started again continues after its last
    finished epoch. Sample order of epoch ``e``: ``default_rng([seed, 1, e])``; perturbations:
    ``default_rng([seed, 2, e])``. ``probe``: ``"last"`` (linear probe of the first hidden layer
    after the last epoch, and of the initial layer), ``"every"`` (also after every epoch) or
    ``"none"``. ``stop_after_epoch`` (tests): return after that epoch as if interrupted."""
    x_train, y_train = data.x_train[:train_limit], data.y_train[:train_limit]
    x_test, y_test = data.x_test[:test_limit], data.y_test[:test_limit]
    sizes = (x_train.shape[1], *setting.hidden, int(max(data.y_train.max(), data.y_test.max())) + 1)
    net = EventNet(sizes, setting, arm, seed, backend=backend)
    say = log or (lambda _msg: None)
    history: list[dict] = []
    start_epoch = 0
    ckpt = json_dir = None
    probe_x = x_train[:probe_limit]
    probe_y = y_train[:probe_limit]
    meta = {"arm": arm, "seed": seed, "sizes": list(sizes), "setting": setting.to_json(),
            "train_samples": int(len(y_train)), "test_samples": int(len(y_test)),
            "epochs": epochs, "probe_train_samples": int(len(probe_y))}
    initial_probe = None
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        ckpt = out_dir / "checkpoint.npz"
        json_dir = out_dir
        if ckpt.exists():
            with np.load(ckpt) as state:
                net.load_state(state)
                start_epoch = int(state["epoch"]) + 1
            summary = json.loads((out_dir / "summary.json").read_text())
            history = summary["history"]
            initial_probe = summary.get("initial_probe")
            say(f"resuming {arm} seed {seed} after epoch {start_epoch - 1}")
    if probe != "none" and initial_probe is None and start_epoch == 0:
        initial_probe = _probe(net, probe_x, probe_y, x_test, y_test)
        say(f"initial layer: probe {100 * initial_probe['probe']:.2f} %, "
            f"hidden rate {initial_probe['hidden_rate_test']:.3f}")
    n_train = len(y_train)
    batch = setting.batch
    for epoch in range(start_epoch, epochs):
        order = np.random.default_rng([seed, 1, epoch]).permutation(n_train)
        rng = np.random.default_rng([seed, 2, epoch])
        t0 = time.perf_counter()
        loss_sum = correct = seen = 0
        rates = []
        n_batches = (n_train + batch - 1) // batch
        for i, start in enumerate(range(0, n_train, batch)):
            idx = order[start:start + batch]
            stats = net.train_batch(encode_ttfs(x_train[idx], setting.input_window),
                                    y_train[idx], rng)
            loss_sum += stats["loss"] * len(idx)
            correct += stats["correct"]
            seen += len(idx)
            rates.append(stats["hidden_rate"])
            if log and ((i + 1) % log_every == 0 or i + 1 == n_batches):
                el = time.perf_counter() - t0
                rate = seen / el
                say(f"epoch {epoch + 1}/{epochs} batch {i + 1}/{n_batches}: "
                    f"{rate:.0f} samples/s, ETA {(n_train - seen) / rate:.0f} s, "
                    f"train acc {100 * correct / seen:.2f} %, loss {loss_sum / seen:.3f}, "
                    f"hidden rate {np.mean(rates[-log_every:]):.3f}")
        train_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        test = evaluate(net, x_test, y_test)
        record = {"epoch": epoch + 1, "train_accuracy": correct / seen,
                  "train_loss": loss_sum / seen, "train_seconds": train_seconds,
                  "samples_per_second": seen / train_seconds,
                  "test_accuracy": test["accuracy"], "test_loss": test["loss"],
                  "test_hidden_rate": test["hidden_rate"],
                  "test_hidden_silent_fraction": test["hidden_silent_fraction"],
                  "test_seconds": time.perf_counter() - t1,
                  "feedback_norm": [float(np.linalg.norm(b)) for b in net.feedback]}
        if probe == "every" or (probe == "last" and epoch + 1 == epochs):
            record.update({f"{k}": v for k, v in _probe(net, probe_x, probe_y, x_test,
                                                         y_test).items()})
        history.append(record)
        say(f"epoch {epoch + 1}: test {100 * test['accuracy']:.2f} %, "
            f"hidden rate {test['hidden_rate']}, {record['samples_per_second']:.0f} samples/s"
            + (f", probe {100 * record['probe']:.2f} %" if "probe" in record else ""))
        if out_dir is not None:
            _write_json_atomic(json_dir / f"epoch_{epoch + 1:03d}.json", {**meta, **record})
            _save_npz_atomic(ckpt, epoch=np.array(epoch), **net.state())
            _write_json_atomic(out_dir / "summary.json", _summary(meta, history, initial_probe))
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch:
            break
    result = _summary(meta, history, initial_probe)
    result["net"] = net
    return result


def _probe(net, px_train, y_train, px_test, y_test) -> dict:
    tr = evaluate(net, px_train, y_train, keep_hidden=True)
    te = evaluate(net, px_test, y_test, keep_hidden=True)
    return {"probe": linear_probe(tr["hidden_counts"], y_train, te["hidden_counts"], y_test),
            "hidden_rate_test": te["hidden_rate"][0]}


def _summary(meta, history, initial_probe) -> dict:
    out = {**meta, "history": history, "initial_probe": initial_probe}
    if history:
        best = max(history, key=lambda r: r["test_accuracy"])
        out.update(best_epoch=best["epoch"], best_test_accuracy=best["test_accuracy"],
                   final_test_accuracy=history[-1]["test_accuracy"],
                   final_probe=history[-1].get("probe"))
    return out
