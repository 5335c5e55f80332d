"""numba kernels of baselines/event_net.py (optional: ``pip install numba``, the ``research``
extra). One layer, one batch: golden/event.py's algorithm itself, event by event and neuron by
neuron, compiled, so that its arithmetic is golden's in the same order:

* per group of equal input times: every neuron is tested for crossings in ``(t_last, t_group]``
  (golden's ``fire_until``, with :func:`next_crossing` below, golden's function for one neuron),
  then the group's inputs are integrated (``a``, ``b``, the grade sum ``s``, the traces ``f``,
  ``h``);
* at a spike: the local gradient over the inputs that spiked in the sample (golden's eligibility,
  reset path ``R``), the reset of ``b``, the grade (``s + p`` on the first spike), ``s = 0``.

A cheap test skips the exact crossing test where it cannot fire: not rising (``a, b > 0`` and
``b**2 > 4 a theta``, golden's condition bit for bit), or the rising root's ``z`` clearly below
``exp(-t_next/tau)`` (the crossing lies after ``t_next``: margin 1e-9 relative, far above the
rounding of ``log``). Everything else goes through the exact test.

Samples run in parallel (``prange``) when numba has several threads; each writes its own slices.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from plasticore.golden.event import CROSSING_TOLERANCE

__all__ = ["layer_kernel", "accumulate_grad"]

_TOL = CROSSING_TOLERANCE


@njit(cache=True, inline="always")
def next_crossing(a, b, t_last, t_next, tau, theta):
    """golden.event.next_crossing for one neuron: (fires, t_spike, z_root, root_disc)."""
    disc = b * b - 4.0 * a * theta
    if not (a > 0.0 and b > 0.0 and disc > 0.0):
        return False, 0.0, 0.0, 0.0
    root_disc = math.sqrt(disc)
    z_root = (b + root_disc) / (2.0 * a)
    t_root = -tau * math.log(z_root)
    if not t_root <= t_next:
        return False, 0.0, 0.0, 0.0
    z_last = math.exp(-t_last / tau)
    slow = b * z_last
    fast = a * z_last * z_last
    scale = abs(slow) + abs(fast) + theta
    already_above = slow - fast >= theta - _TOL * scale
    just_missed = t_root >= t_last - _TOL * max(abs(t_last), tau)
    if not (t_root > t_last or already_above or just_missed):
        return False, 0.0, 0.0, 0.0
    return True, max(t_root, t_last), z_root, root_disc


@njit(cache=True, parallel=True)
def layer_kernel(wt, ev_t, ev_src, ev_col, ev_d, n_ev, pert, tau, theta, window, exact,
                 max_spikes, need_grad, out_t, out_d, out_cur, counts, n_cols, g_off, g_buf,
                 row_neuron, n_rows, detail, sg_off, sg_buf):
    """One layer over a batch. ``wt`` (J, N); per sample ``b``: ``n_ev[b]`` events sorted as golden
    sorts them, ``ev_t``, ``ev_src`` (input index), ``ev_col`` (column of the input among the
    sample's ``n_cols[b]`` inputs that spiked), ``ev_d`` (grade); ``pert`` (B, N) (zeros: none).
    Writes ``out_t``/``out_d``/``out_cur`` (B, N, max_spikes), ``counts`` (B, N); with
    ``need_grad`` the summed gradient rows of the neurons that fired, ``g_buf[g_off[b] + r *
    n_cols[b] + c]`` for row ``r`` (neuron ``row_neuron[b, r]``, ``n_rows[b]`` rows); with
    ``detail`` every spike's gradient row at ``sg_buf[sg_off[b] + (i * max_spikes + k) *
    n_cols[b] + c]``."""
    n_batch = ev_t.shape[0]
    n_neurons = wt.shape[1]
    tau_s = tau / 2.0
    for bi in prange(n_batch):
        nc = n_cols[bi]
        a = np.zeros(n_neurons)
        b = np.zeros(n_neurons)
        s = np.zeros(n_neurons)
        t_last = np.zeros(n_neurons)
        f = np.zeros(nc)
        h = np.zeros(nc)
        row_of = np.full(n_neurons, -1, dtype=np.int64)
        rows_used = 0
        reset_path = np.empty((n_neurons if need_grad else 0, nc))
        go = g_off[bi]
        ne = n_ev[bi]
        start = 0
        while True:
            # the next group boundary (or the end of the window)
            if start < ne:
                t_next = ev_t[bi, start]
            else:
                t_next = window
            z_next = math.exp(-t_next / tau)
            # fire_until(t_next)
            for i in range(n_neurons):
                while counts[bi, i] < max_spikes:
                    ai = a[i]
                    bb = b[i]
                    disc = bb * bb - 4.0 * ai * theta
                    if not (ai > 0.0 and bb > 0.0 and disc > 0.0):
                        break
                    if (bb + math.sqrt(disc)) / (2.0 * ai) < z_next * (1.0 - 1e-9):
                        break
                    fires, t, z, x = next_crossing(ai, bb, t_last[i], t_next, tau, theta)
                    if not fires:
                        break
                    k = counts[bi, i]
                    current = ai * z * z
                    if need_grad or detail:
                        den = x * z if exact else current
                        if need_grad:
                            r = row_of[i]
                            if r < 0:
                                r = rows_used
                                row_of[i] = r
                                row_neuron[bi, r] = i
                                rows_used += 1
                                for c in range(nc):
                                    reset_path[i, c] = 0.0
                                    g_buf[go + r * nc + c] = 0.0
                        et = math.exp(t / tau)
                        zz = z * z
                        for c in range(nc):
                            rp = reset_path[i, c] if need_grad else 0.0
                            elig = h[c] * z - f[c] * zz - (theta / tau) * rp * z
                            g = -tau * elig / den
                            if need_grad:
                                reset_path[i, c] = rp + et * g
                                g_buf[go + r * nc + c] += g
                            if detail:
                                sg_buf[sg_off[bi] + (i * max_spikes + k) * nc + c] = g
                    b[i] -= theta * math.exp(t / tau)
                    t_last[i] = t
                    out_t[bi, i, k] = t
                    out_d[bi, i, k] = s[i] + pert[bi, i] if k == 0 else s[i]
                    out_cur[bi, i, k] = current
                    s[i] = 0.0
                    counts[bi, i] = k + 1
            if start >= ne:
                break
            # integrate the group at t_next
            stop = start
            while stop < ne and ev_t[bi, stop] == t_next:
                stop += 1
            e_fast = math.exp(t_next / tau_s)
            e_slow = math.exp(t_next / tau)
            for e in range(start, stop):
                j = ev_src[bi, e]
                d = ev_d[bi, e]
                for i in range(n_neurons):
                    w = wt[j, i]
                    a[i] += w * e_fast
                    b[i] += w * e_slow
                    s[i] += w * d
                c = ev_col[bi, e]
                f[c] += e_fast
                h[c] += e_slow
            for i in range(n_neurons):
                t_last[i] = t_next
            start = stop
        n_rows[bi] = rows_used


@njit(cache=True)
def accumulate_grad(grad, delta, g_off, g_buf, row_neuron, n_rows, cols, n_cols):
    """``grad[i, cols[b, c]] += delta[b, i] * G_b[i, c]`` over every sample and fired neuron."""
    for bi in range(delta.shape[0]):
        nc = n_cols[bi]
        go = g_off[bi]
        for r in range(n_rows[bi]):
            i = row_neuron[bi, r]
            dl = delta[bi, i]
            if dl == 0.0:
                continue
            for c in range(nc):
                grad[i, cols[bi, c]] += dl * g_buf[go + r * nc + c]
