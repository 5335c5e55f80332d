"""The clocked LIF network of the golden model, in torch: one forward pass shared by every rule.

The forward dynamics are those of :class:`plasticore.golden.network.Network` with ``fixed=False``
(docs/spec.md, "Time step"): per step ``n`` and layer, from the first hidden layer to the output,

1. decay ``A <- rho A``, ``C <- rho_s C`` (and the input traces ``X``, ``Y``);
2. threshold: ``s_i[n] = H(A_i - C_i - theta)``;
3. reset ``A_i <- A_i - theta s_i[n]`` (plus, when tracked, the golden local gradient and grades);
4. integrate this step's input spikes: ``A += W s_in[n]``, ``C += W s_in[n]``.

``u = A - C`` is the membrane, the difference of the two exponential kernels of the current-based
LIF with ``tau = 2 tau_s``. A layer's input at step ``n`` is the previous layer's spikes of the
same step, so they reach its threshold test at ``n + 1``.

Differentiation. ``H`` is replaced in the backward pass by a surrogate derivative (SuperSpike's
fast sigmoid ``1 / (1 + slope |v|)**2``); ``spike="sigmoid"`` makes the forward pass itself
smooth (``sigmoid(v / width)``), which is what the finite-difference test differentiates. Two
switches produce the local rules' gradients from the same graph:

* ``detach_inputs``: a layer's input spikes are constants, so the gradient of a layer's spike
  counts reaches only that layer's weights (the layer-local, through-time gradient);
* ``detach_reset``: the reset term carries no gradient, so ``d u_i[n] / d w_ij = eps_j[n]``, the
  PSP trace ``X_j - Y_j`` of the input: with both switches on, the gradient of a layer's counts is
  e-prop's eligibility ``sum_n psi_i[n] eps_j[n]`` (``psi`` the surrogate derivative).

Output layer. With ``Dynamics.integrate_output`` (the golden ``Config.output_layer =
"integrate"``, docs/spec.md 5.5) the last layer has no decay, threshold or reset: it only sums its
input spikes over the window, so ``V_o = sum_i w_oi n_i`` with ``n_i`` the last hidden layer's
counts (spikes of the last step included, as the golden model integrates them in that step).
:attr:`Trace.potential` holds ``V`` (B, O) and ``spikes[-1]`` is all zeros; gradients reach the
hidden weights through ``n_i`` and so through the surrogate. ``Trace.output`` is what the class is
read from: ``V`` for an integrate output, the output counts otherwise.

``track=True`` also runs, without autograd, the golden model's exact local gradient (``ghat``,
``ehat``, ``r = theta / max(C, theta)``) and SFDFA's grades (``S``, ``D``, the perturbation ``p``),
with the same operations and the same order as ``golden.network`` in float.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

__all__ = ["Dynamics", "SpikeFn", "simulate", "Trace"]


@dataclass(frozen=True)
class Dynamics:
    """The neuron constants the forward pass reads (from a golden ``Config``)."""

    rho: float
    rho_s: float
    threshold: float
    reset_path: bool = True
    #: the output layer only integrates (``V_o = sum_i w_oi n_i``; golden ``output_layer``)
    integrate_output: bool = False

    @classmethod
    def from_config(cls, config) -> "Dynamics":
        return cls(config.rho, config.rho_s, config.threshold, config.reset_path,
                   getattr(config, "output_layer", "spiking") == "integrate")

    def replace_output(self, integrate: bool) -> "Dynamics":
        return dataclasses.replace(self, integrate_output=integrate)


class SpikeFn(torch.autograd.Function):
    """Heaviside forward (``v >= 0``), fast-sigmoid surrogate backward."""

    @staticmethod
    def forward(ctx, v, slope: float):
        ctx.save_for_backward(v)
        ctx.slope = slope
        return (v >= 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * v.abs()) ** 2, None


@dataclass
class Trace:
    """What :func:`simulate` returns. ``spikes[k]`` is (B, T, N_k); the rest only when tracked."""

    spikes: list
    ghat: list | None = None          # (B, N_k, J_k) golden local gradient (approx. -d n_i / d w_ij)
    grade_total: torch.Tensor | None = None  # (B, O) D_o, directional derivative of output counts
    perturbation: list | None = None  # (B, N_k) p_i of the hidden layers
    potential: torch.Tensor | None = None  # (B, O) V of an integrate output layer

    @property
    def counts(self) -> list:
        return [s.sum(dim=1) for s in self.spikes]

    @property
    def output(self) -> torch.Tensor:
        """(B, O): what the class is read from, V (integrate output) or the output counts."""
        return self.potential if self.potential is not None else self.spikes[-1].sum(dim=1)


def simulate(weights, raster, dyn: Dynamics, *, spike: str = "surrogate", slope: float = 5.0,
             width: float = 0.1, detach_inputs: bool = False, detach_reset: bool = False,
             track: bool = False, perturbation=None, ghat_layers=None) -> Trace:
    """Run the clocked network over a window.

    ``weights``: list of (N_k, J_k) tensors; ``raster``: (B, T, I) spikes (bool or float).
    ``perturbation``: list of (B, N_k) tensors for the hidden layers (grades; ``track`` only);
    ``None`` gives zeros. ``ghat_layers``: indices of the layers whose local gradient is tracked
    (default all; the grades are always tracked); the others report zeros.
    """
    if dyn.integrate_output:
        if track:
            raise NotImplementedError("track=True is the spiking output's golden bookkeeping")
        if len(weights) < 2:
            raise ValueError("an integrate output layer needs at least one hidden layer")
        tr = simulate(weights[:-1], raster, dyn.replace_output(False), spike=spike, slope=slope,
                      width=width, detach_inputs=detach_inputs, detach_reset=detach_reset)
        hidden = tr.spikes[-1]
        n = (hidden.detach() if detach_inputs else hidden).sum(dim=1)
        B, T, _ = hidden.shape
        silent = torch.zeros(B, T, weights[-1].shape[0], dtype=hidden.dtype)
        return Trace(tr.spikes + [silent], potential=n @ weights[-1].T)
    dtype = weights[0].dtype
    x = raster.to(dtype)
    B, T, _ = x.shape
    rho, rho_s, theta = dyn.rho, dyn.rho_s, dyn.threshold
    L = len(weights)
    sizes = [w.shape[0] for w in weights]
    zeros = lambda *s: torch.zeros(*s, dtype=dtype)  # noqa: E731
    a = [zeros(B, n) for n in sizes]
    c = [zeros(B, n) for n in sizes]
    drive0 = x @ weights[0].T  # (B, T, N_0): the first layer's input does not depend on the state
    out = [[] for _ in range(L)]
    if spike == "surrogate":
        fire = lambda v: SpikeFn.apply(v, slope)  # noqa: E731
    elif spike == "sigmoid":
        fire = lambda v: torch.sigmoid(v / width)  # noqa: E731
    else:
        raise ValueError(f"spike must be 'surrogate' or 'sigmoid', not {spike!r}")
    if track:
        tr = _Tracker(weights, B, dyn, perturbation,
                      range(L) if ghat_layers is None else ghat_layers)
    for n in range(T):
        prev = None
        for k in range(L):
            a[k] = a[k] * rho
            c[k] = c[k] * rho_s
            s = fire(a[k] - c[k] - theta)
            if track:
                tr.spike_updates(k, n, s.detach() > 0.5, c[k].detach())
            a[k] = a[k] - theta * (s.detach() if detach_reset else s)
            if k == 0:
                d = drive0[:, n]
                inp = x[:, n]
            else:
                inp = prev.detach() if detach_inputs else prev
                d = inp @ weights[k].T
            a[k] = a[k] + d
            c[k] = c[k] + d
            if track:
                tr.integrate(k, inp.detach())
            out[k].append(s)
            prev = s
    spikes = [torch.stack(o, dim=1) for o in out]
    if not track:
        return Trace(spikes)
    return Trace(spikes, tr.ghat, tr.grade_total[-1], tr.p)


class _Tracker:
    """Golden-model bookkeeping (float): local gradient ghat/ehat and SFDFA grades."""

    def __init__(self, weights, B, dyn: Dynamics, perturbation, ghat_layers):
        self.w = [w.detach() for w in weights]
        self.ghat_layers = set(ghat_layers)
        self.dyn = dyn
        dtype = self.w[0].dtype
        z = lambda *s: torch.zeros(*s, dtype=dtype)  # noqa: E731
        self.tx = [z(B, w.shape[1]) for w in self.w]
        self.ty = [z(B, w.shape[1]) for w in self.w]
        self.ghat = [z(B, *w.shape) for w in self.w]
        self.ehat = [z(B, *w.shape) for w in self.w]
        self.last = [torch.zeros(B, w.shape[0], dtype=torch.long) for w in self.w]
        self.count = [torch.zeros(B, w.shape[0], dtype=torch.long) for w in self.w]
        self.gsum = [z(B, w.shape[0]) for w in self.w]
        self.grade_total = [z(B, w.shape[0]) for w in self.w]
        self.grades = [z(B, w.shape[0]) for w in self.w]
        L = len(self.w)
        if perturbation is None:
            perturbation = [z(B, w.shape[0]) for w in self.w[:-1]]
        self.p = [p.to(dtype) for p in perturbation]
        self.p_all = self.p + [z(B, self.w[-1].shape[0])]
        assert len(self.p) == L - 1

    def spike_updates(self, k, n, s, current):
        dyn = self.dyn
        self.tx[k] = self.tx[k] * dyn.rho
        self.ty[k] = self.ty[k] * dyn.rho_s
        grades = torch.zeros_like(self.grades[k])
        if s.any():
            bb, ii = torch.nonzero(s, as_tuple=True)
            if k in self.ghat_layers:
                self._eligibility(k, n, bb, ii, current)
            first = self.count[k][bb, ii] == 0
            grade = self.gsum[k][bb, ii] + torch.where(first, self.p_all[k][bb, ii], 0.0)
            grades[bb, ii] = grade
            self.gsum[k][bb, ii] = 0.0
            self.grade_total[k][bb, ii] += grade
            self.count[k][bb, ii] += 1
            self.last[k][bb, ii] = n
        self.grades[k] = grades

    def _eligibility(self, k, n, bb, ii, current):
        dyn = self.dyn
        r = dyn.threshold / torch.clamp(current[bb, ii], min=dyn.threshold)
        eps = self.tx[k].index_select(0, bb) - self.ty[k].index_select(0, bb)
        n_neurons = self.ghat[k].shape[1]
        rows = bb * n_neurons + ii                       # one row per spiking (replica, neuron)
        ghat = self.ghat[k].view(-1, eps.shape[1])
        ehat_all = self.ehat[k].view(-1, eps.shape[1])
        if dyn.reset_path:
            elapsed = (n - self.last[k][bb, ii]).to(eps.dtype)
            ehat = ehat_all.index_select(0, rows) * (dyn.rho ** elapsed)[:, None]
        else:
            ehat = torch.zeros_like(eps)
        g = r[:, None] * (ehat - eps)
        ghat.index_add_(0, rows, g)
        if dyn.reset_path:
            ehat_all.index_copy_(0, rows, ehat + g)

    def integrate(self, k, inp):
        self.tx[k] = self.tx[k] + inp
        self.ty[k] = self.ty[k] + inp
        if k > 0:
            in_grades = self.grades[k - 1]
            if in_grades.any():
                self.gsum[k] = self.gsum[k] + in_grades @ self.w[k].T
