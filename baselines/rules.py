"""The learning rules on the clocked LIF network: each turns a batch into one weight-gradient
estimate per layer (the update is ``-lr`` times it, through the optimiser).

Notation (docs/baselines.md): ``n_k`` the spike counts of layer k over the window, ``y`` the count
targets (``target_true`` for the label, ``target_false`` otherwise), ``e = clip(n_out - y, +-c)``
the output error (the derivative of the Huber spike-count loss with ``delta = c = error_clip``;
plain MSE when ``error_clip`` is None), ``B_k`` (O, N_k) a feedback matrix, ``delta_k`` (B, N_k)
the learning signal of layer k. Every rule but BPTT and readout forms

    grad W_k = (1/B) sum_b delta_k[b] (x) local_k[b]

with a *local* factor ``local_k = d n_k / d W_k`` taken either through the surrogate inside the
layer only (its inputs detached; with ``detach_reset`` the e-prop eligibility
``sum_n psi_i[n] eps_j[n]``), or from the golden model's exact local gradient ``-ghat``.

| rule     | signal delta_k (hidden)            | local factor                         |
|----------|------------------------------------|--------------------------------------|
| bptt     | full backpropagation through time  | surrogate, whole graph                |
| readout  | none (hidden frozen)               | output: -ghat                         |
| dfa      | e B_k (fixed random)               | -ghat (exact, bounded)                |
| sfdfa    | e B_k, B_k learned from grades     | -ghat (exact, bounded)                |
| dfa-sg   | e B_k (fixed random)               | surrogate, layer-local through time   |
| eprop    | e B_k (random feedback)            | eligibility (reset detached)          |
| drtp     | -c onehot(label) B_k (target)      | surrogate, layer-local through time   |
| etlp     | -c onehot(label) B_k (target)      | eligibility (reset detached)          |
| decolle  | clip(n_k G_k^T - y, +-c) G_k       | eligibility (reset detached)          |

The output layer uses ``e`` with the rule's local factor (BPTT: the full graph).

Integrate output (golden ``Config.output_layer = "integrate"``, docs/spec.md 5.5 and 6.1): the
output layer only sums its inputs, ``V_o = sum_i w_oi n_i``, and the loss is on ``V``
(:func:`integrate_loss`): ``output_loss = "softmax"`` the base-2 softmax cross-entropy of the chip
(``-log2 softmax_2(V)_y``, whose gradient in V is ``p - onehot(y)`` with ``p = 2**V / sum 2**V``
times ln 2), ``"hinge"`` the multiclass hinge ``sum_{o != y} max(0, V_o - V_y + margin)``. Only
``bptt`` supports it here (the ceiling of issue 23); the other rules refuse it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .lif import Dynamics, simulate

__all__ = ["RULES", "FEEDBACK_RULES", "RuleState", "targets", "output_error", "gradients", "rule_info",
           "integrate_loss"]

RULES = ("bptt", "readout", "dfa", "sfdfa", "dfa-sg", "eprop", "drtp", "etlp", "decolle")
#: rules whose hidden learning signal goes through a feedback matrix B_k (O, N_k)
FEEDBACK_RULES = ("dfa", "sfdfa", "dfa-sg", "eprop", "drtp", "etlp")

#: (uses the exact golden local gradient, detach_reset for the surrogate-local rules)
_LOCAL = {"readout": ("ghat", None), "dfa": ("ghat", None), "sfdfa": ("ghat", None),
          "dfa-sg": ("surrogate", False), "eprop": ("surrogate", True),
          "drtp": ("surrogate", False), "etlp": ("surrogate", True), "decolle": ("surrogate", True)}


def rule_info(rule: str) -> dict:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; known: {', '.join(RULES)}")
    kind, detach = _LOCAL.get(rule, ("bptt", False))
    return {"local": kind, "detach_reset": detach}


@dataclass
class RuleState:
    """Everything a rule keeps besides the forward weights."""

    config: object                       # golden Config (dynamics, targets, clip)
    feedback: list = field(default_factory=list)   # B_k (O, N_k): dfa, sfdfa, dfa-sg, eprop, drtp, etlp
    readouts: list = field(default_factory=list)   # G_k (O, N_k): decolle
    slope: float = 5.0                   # surrogate slope
    feedback_rate: float = 2.0 ** -8     # SFDFA alpha per sample (the golden model's feedback_shift 8)
    rate_reg: float | None = None        # optional: delta_i += rate_reg * (n_i - rate_target)
    generator: torch.Generator | None = None  # draws of the SFDFA perturbations

    @property
    def dynamics(self) -> Dynamics:
        return Dynamics.from_config(self.config)


def targets(config, labels: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    y = torch.full((len(labels), config.n_outputs), float(config.target_false), dtype=dtype)
    y[torch.arange(len(labels)), labels] = float(config.target_true)
    return y


def output_error(config, counts_out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    e = counts_out - targets(config, labels, counts_out.dtype)
    c = config.error_clip
    return e if c is None else e.clamp(-c, c)


def count_loss(config, counts_out, labels):
    """Huber (delta = error_clip) or MSE spike-count loss, summed over outputs, mean over batch."""
    y = targets(config, labels, counts_out.dtype)
    if config.error_clip is None:
        return 0.5 * ((counts_out - y) ** 2).sum() / len(labels)
    return F.huber_loss(counts_out, y, delta=float(config.error_clip), reduction="sum") / len(labels)


def integrate_loss(config, v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Loss of an integrate output layer on ``V`` (B, O), mean over the batch: the base-2 softmax
    cross-entropy in bits (``output_loss = "softmax"``) or the multiclass hinge (``"hinge"``,
    margin ``hinge_margin``), the losses whose negative gradients are the golden ``delta_o``."""
    if config.output_loss == "softmax":
        return F.cross_entropy(v * math.log(2.0), labels) / math.log(2.0)
    if config.output_loss == "hinge":
        vy = v.gather(1, labels[:, None])
        viol = torch.relu(v - vy + float(config.hinge_margin))
        viol = viol * (1 - F.one_hot(labels, v.shape[1]).to(v.dtype))
        return viol.sum() / len(labels)
    raise ValueError(f"unknown output_loss {config.output_loss!r}")


def gradients(rule: str, weights: list, raster: torch.Tensor, labels: torch.Tensor,
              state: RuleState, *, learn_feedback: bool = True):
    """One gradient estimate per layer for the batch (list of tensors shaped like ``weights``;
    ``None`` for a frozen layer) and the output the class is read from (the output counts, or V
    of an integrate output layer).

    For SFDFA, ``learn_feedback`` also applies the feedback update of the batch to ``state``.
    """
    info = rule_info(rule)
    cfg = state.config
    dyn = state.dynamics
    L = len(weights)
    if dyn.integrate_output and info["local"] != "bptt":
        raise ValueError(f"rule {rule!r} does not support output_layer='integrate' in the torch "
                         "baselines (bptt only)")
    if info["local"] == "bptt":
        params = [w.detach().requires_grad_(True) for w in weights]
        tr = simulate(params, raster, dyn, slope=state.slope)
        if dyn.integrate_output:
            loss = integrate_loss(cfg, tr.potential, labels)
        else:
            loss = count_loss(cfg, tr.counts[-1], labels)
        grads = torch.autograd.grad(loss, params)
        return list(grads), tr.output.detach()
    if info["local"] == "ghat":
        return _ghat_rule(rule, weights, raster, labels, state, learn_feedback)
    params = [w.detach().requires_grad_(True) for w in weights]
    tr = simulate(params, raster, dyn, slope=state.slope, detach_inputs=True,
                  detach_reset=info["detach_reset"])
    counts = tr.counts
    with torch.no_grad():
        e = output_error(cfg, counts[-1], labels)
        deltas = []
        for k in range(L - 1):
            deltas.append(_hidden_signal(rule, k, e, counts[k], labels, state))
        deltas.append(e)
    pseudo = sum((d * n).sum() for d, n in zip(deltas, counts)) / len(labels)
    grads = torch.autograd.grad(pseudo, params)
    return list(grads), counts[-1].detach()


def _hidden_signal(rule, k, e, n_k, labels, state: RuleState):
    cfg = state.config
    c = float(cfg.error_clip or 1)
    if rule in ("dfa-sg", "eprop"):
        delta = e @ state.feedback[k]
    elif rule in ("drtp", "etlp"):
        onehot = F.one_hot(labels, cfg.n_outputs).to(e.dtype)
        delta = -c * onehot @ state.feedback[k]
    elif rule == "decolle":
        G = state.readouts[k]
        local = n_k @ G.T - targets(cfg, labels, e.dtype)
        if cfg.error_clip is not None:
            local = local.clamp(-c, c)
        delta = local @ G
    else:  # pragma: no cover
        raise ValueError(rule)
    if state.rate_reg is not None:
        delta = delta + state.rate_reg * (n_k - cfg.rate_target)
    return delta


def _ghat_rule(rule, weights, raster, labels, state: RuleState, learn_feedback: bool):
    cfg = state.config
    B = len(labels)
    p = None
    if rule == "sfdfa":
        p = [torch.randint(0, 2, (B, w.shape[0]), generator=state.generator).to(w.dtype) * 2 - 1
             for w in weights[:-1]]
    with torch.no_grad():
        tr = simulate([w.detach() for w in weights], raster, state.dynamics, track=True,
                      perturbation=p, ghat_layers=[len(weights) - 1] if rule == "readout" else None)
        counts = tr.counts
        e = output_error(cfg, counts[-1], labels)
        grads = []
        for k in range(len(weights) - 1):
            if rule == "readout":
                grads.append(None)
                continue
            delta = e @ state.feedback[k]
            if state.rate_reg is not None:
                delta = delta + state.rate_reg * (counts[k] - cfg.rate_target)
            grads.append(-torch.einsum("bi,bij->ij", delta, tr.ghat[k]) / B)
        grads.append(-torch.einsum("bi,bij->ij", e, tr.ghat[-1]) / B)
        if rule == "sfdfa" and learn_feedback:
            D = tr.grade_total  # (B, O)
            for k in range(len(weights) - 1):
                fb = state.feedback[k]
                fired = (counts[k] > 0).to(fb.dtype)                     # (B, N)
                target = D[:, :, None] * p[k][:, None, :]                  # (B, O, N)
                step = (fired[:, None, :] * (target - fb[None])).sum(0)
                state.feedback[k] = fb + state.feedback_rate * step
    return grads, counts[-1]
