"""The clocked SFDFA network: the fixed-point golden model and its float64 twin.

One class, two arithmetics. With ``fixed=True`` every state is an ``int64`` array holding the
words of ``docs/spec.md`` (formats from :class:`~plasticore.golden.config.Config`), every product is
floored by an arithmetic shift, every store saturates, and random bits come from the two LFSRs of
:mod:`plasticore.golden.lfsr`: this is the contract the RTL meets bit for bit. With ``fixed=False``
the same equations run in float64 without rounding or saturation (learning rates are the same
powers of two, stochastic rounding becomes exact scaling): the clocked float reference.

Arrays lead with a batch axis ``B`` of independent replicas: each replica is one network (its own
weights, feedback, LFSR states) running one sample. Weights of shape ``(1, N, J)`` are shared by
all replicas (evaluation of one network on B samples); learning needs one set per replica.

The order of one time step ``n`` (spec, "Time step"), layer by layer from the first hidden layer
to the output layer:

1. decay the layer's neuron state (A by rho, C by rho_s) and its input traces (X by rho, Y by rho_s);
2. threshold: neuron i spikes when ``A - C >= theta`` (at most one spike per neuron and step);
3. for every spiking neuron: the local-gradient update of all its synapses, its grade, its
   counters, then ``A -= theta``;
4. integrate the layer's input spikes of step n (the previous layer's spikes of step 3, or the
   input events): ``A += w``, ``C += w``, ``S += w*d`` and ``X += 1``, ``Y += 1``.

Inputs integrated at step n change ``A`` and ``C`` by the same amount, so they do not move the
membrane ``u = A - C`` before step n+1: the threshold test can run before integration, and the
current used in the local gradient is the one *before* the step's inputs (the causal choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import lfsr
from .config import DECAY_FRAC, ERROR_FRAC, EXP2_STEPS, EXP2_TABLE, Config, Format

__all__ = ["Network", "Layer", "Record", "FLAG_NAMES", "reciprocal", "weights_as_floats",
           "weights_as_words"]

#: sticky overflow flags, one per saturating quantity (the RTL's status register has the same)
FLAG_NAMES = ("state", "trace", "grad", "grade", "count", "weight", "feedback")


def reciprocal(current_q, theta_q: int):
    """r = theta / max(C, theta) as unsigned 0.16 words (spec 5.3): integer floor division of
    ``theta_q << 16`` by the clamped current, saturated at 0xFFFF (r = 1 does not fit)."""
    clamped = np.maximum(current_q, theta_q)
    return np.minimum((theta_q << DECAY_FRAC) // clamped, (1 << DECAY_FRAC) - 1)


@dataclass
class Layer:
    """The state of one layer of neurons and of the synapses that feed it.

    Shapes: ``B`` replicas, ``N`` neurons, ``J`` inputs (the previous layer's neurons).
    """

    w: np.ndarray        # (B|1, N, J) weights
    trace_x: np.ndarray  # (B, J)  X_j, slow input trace (decay rho)
    trace_y: np.ndarray  # (B, J)  Y_j, fast input trace (decay rho_s)
    a: np.ndarray        # (B, N)  A_i = membrane + C_i
    c: np.ndarray        # (B, N)  C_i, synaptic current
    grade_sum: np.ndarray  # (B, N) S_i, grade accumulator
    count: np.ndarray    # (B, N)  n_i, spikes in this sample
    last_step: np.ndarray  # (B, N) step of the latest spike (0 before the first)
    grade_total: np.ndarray  # (B, N) D_i, sum of emitted grades (read for output neurons)
    perturbation: np.ndarray  # (B, N) p_i (0 for the output layer)
    ghat: np.ndarray     # (B, N, J) accumulated scaled local gradient
    ehat: np.ndarray     # (B, N, J) reset-path trace (lazily decayed)
    spikes: np.ndarray   # (B, N) spikes of the current step
    grades: np.ndarray   # (B, N) grades of the current step's spikes (0 where no spike)
    w_float: np.ndarray | None = field(default=None, repr=False)  # float64 copy for exact matmul

    @property
    def n_neurons(self) -> int:
        return self.a.shape[1]

    @property
    def n_inputs(self) -> int:
        return self.trace_x.shape[1]


@dataclass
class Record:
    """What :meth:`Network.run` observed: spike rasters per layer, (B, n_steps, N) bool."""

    spikes: list[np.ndarray]

    @property
    def counts(self) -> list[np.ndarray]:
        return [s.sum(axis=1) for s in self.spikes]


class Network:
    """A feed-forward SNN of current-based LIF layers learning with SFDFA, DFA or readout-only.

    Parameters
    ----------
    config:
        The configuration (sizes, formats, constants, rule, seeds).
    weights:
        One array per layer, ``(N, J)`` shared or ``(B, N, J)`` per replica: integer words when
        ``fixed``, reals otherwise. ``None`` draws them with :meth:`initial_weights` from ``seed``.
    feedback:
        One array per hidden layer, ``(O, N)`` or ``(B, O, N)``. ``None`` draws them from ``seed``.
    fixed:
        Fixed-point golden model (True) or clocked float64 reference (False).
    batch:
        Number of replicas B.
    seed:
        Seed of the host-side initial weights (numpy); ``None`` requires weights and feedback.
    eligibility:
        Track the eligibility state (ghat, ehat). False is inference only: the spikes are the
        same, the two (B, N, J) arrays per layer stay zero and are never touched, which is what
        makes evaluating a large batch cheap (see :attr:`tracks_eligibility`).
    """

    def __init__(self, config: Config, weights=None, feedback=None, *, fixed: bool = True,
                 batch: int = 1, seed: int | None = 0, eligibility: bool = True):
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a positive integer, not {batch!r}")
        if fixed and config.perturbation == "gaussian":
            raise ValueError("perturbation 'gaussian' exists only in the float model (fixed=False)")
        self.config = config
        #: the lazy decay table of ehat, an index per spike (a Config property builds a tuple)
        self._rho_pow_q = np.asarray(config.rho_pow_q, dtype=np.int64)
        self.fixed = fixed
        self.batch = batch
        self.dtype = np.int64 if fixed else np.float64
        if weights is None or (feedback is None and len(config.layers) > 2):
            if seed is None:
                raise ValueError("weights and feedback must be given when seed is None")
            init_w, init_b = self.initial_weights(config, seed, fixed=fixed)
            weights = init_w if weights is None else weights
            feedback = init_b if feedback is None else feedback
        self.layers = [self._make_layer(k, w) for k, w in enumerate(self._check_weights(weights))]
        self.feedback = self._check_feedback(feedback or [])
        self.lfsr_perturb = np.full(batch, config.seed_perturb, dtype=np.uint32)
        self.lfsr_round = np.full(batch, config.seed_round, dtype=np.uint32)
        self._gauss = np.random.default_rng(config.seed_perturb)
        self.flags = {name: np.zeros(batch, dtype=bool) for name in FLAG_NAMES}
        #: False skips the eligibility (ghat, ehat) work: inference only, spikes unchanged
        self.tracks_eligibility = eligibility
        # reset() clears ghat and ehat only after they were written: zeroing them touches every
        # page of two (B, N, J) arrays, 800 MB for a 500-sample MNIST evaluation batch (the
        # layers below start as fresh zeros)
        self._eligibility_written = False
        self.step_index = 0
        self.reset()

    # --- construction -----------------------------------------------------------------------
    @staticmethod
    def initial_weights(config: Config, seed: int, *, fixed: bool = True):
        """Uniform initial weights and feedback (host-side, numpy ``default_rng(seed)``).

        Hidden layers ``init_hidden * U(-1, 1)``, the output layer
        ``init_output_offset + init_output * U(-1, 1)``, the
        feedback ``init_feedback * U(-1, 1)``; quantised to the nearest word when ``fixed``.
        """
        rng = np.random.default_rng(seed)
        sizes = config.layers
        weights, feedback = [], []
        for k in range(1, len(sizes)):
            is_output = k == len(sizes) - 1
            scale = config.init_output if is_output else config.init_hidden
            offset = config.init_output_offset if is_output else 0.0
            weights.append(offset + rng.uniform(-scale, scale, size=(sizes[k], sizes[k - 1])))
        for n_hidden in config.hidden_sizes:
            feedback.append(rng.uniform(-config.init_feedback, config.init_feedback,
                                        size=(config.n_outputs, n_hidden)))
        if fixed:
            weights = [_quantize(w, config.weight) for w in weights]
            feedback = [_quantize(b, config.feedback) for b in feedback]
        return weights, feedback

    def _check_weights(self, weights):
        sizes = self.config.layers
        if len(weights) != len(sizes) - 1:
            raise ValueError(f"expected {len(sizes) - 1} weight arrays for layers {sizes}, got {len(weights)}")
        checked = []
        for k, w in enumerate(weights):
            w = np.array(w, dtype=self.dtype)
            if w.ndim == 2:
                w = w[None]
            if w.shape[1:] != (sizes[k + 1], sizes[k]) or w.shape[0] not in (1, self.batch):
                raise ValueError(f"weights[{k}] has shape {w.shape}; expected ({sizes[k + 1]}, {sizes[k]}) "
                                 f"or ({self.batch}, {sizes[k + 1]}, {sizes[k]})")
            if self.fixed:
                self._check_range(f"weights[{k}]", w, self.config.weight)
            checked.append(w)
        return checked

    def _check_feedback(self, feedback):
        hidden = self.config.hidden_sizes
        if len(feedback) != len(hidden):
            raise ValueError(f"expected {len(hidden)} feedback arrays, got {len(feedback)}")
        checked = []
        for k, b in enumerate(feedback):
            b = np.array(b, dtype=self.dtype)
            if b.ndim == 2:
                b = b[None]
            b = np.broadcast_to(b, (self.batch,) + b.shape[1:]).copy()
            if b.shape[1:] != (self.config.n_outputs, hidden[k]):
                raise ValueError(f"feedback[{k}] has shape {b.shape}; expected "
                                 f"({self.config.n_outputs}, {hidden[k]})")
            if self.fixed:
                self._check_range(f"feedback[{k}]", b, self.config.feedback)
            checked.append(b)
        return checked

    @staticmethod
    def _check_range(name, array, fmt: Format):
        if array.size and (array.min() < fmt.lo or array.max() > fmt.hi):
            raise ValueError(f"{name} holds values outside the {fmt} range {fmt.lo}..{fmt.hi}")

    def _make_layer(self, k: int, w: np.ndarray) -> Layer:
        B, (N, J) = self.batch, w.shape[1:]
        zeros = lambda *shape: np.zeros(shape, dtype=self.dtype)  # noqa: E731
        return Layer(w=w, trace_x=zeros(B, J), trace_y=zeros(B, J), a=zeros(B, N), c=zeros(B, N),
                     grade_sum=zeros(B, N), count=np.zeros((B, N), np.int64),
                     last_step=np.zeros((B, N), np.int64), grade_total=zeros(B, N),
                     perturbation=zeros(B, N), ghat=zeros(B, N, J), ehat=zeros(B, N, J),
                     spikes=np.zeros((B, N), bool), grades=zeros(B, N))

    # --- arithmetic ---------------------------------------------------------------------------
    def _sat(self, x, fmt: Format, flag: str, replicas=None):
        """Saturate to the format (fixed) and raise the sticky flag of the replicas that clipped.

        ``x`` leads with the replica axis, or, when ``replicas`` is given, with one row per entry
        of ``replicas`` (the replica index of each row, as for the spiking neurons)."""
        if not self.fixed:
            return x
        # two reductions decide the common case (nothing to clip) at half the cost of clipping
        if x.size == 0 or (x.min() >= fmt.lo and x.max() <= fmt.hi):
            return x
        clipped = np.minimum(np.maximum(x, fmt.lo), fmt.hi)  # np.clip: same, 2x the overhead
        rows = (clipped != x).reshape(len(x), -1).any(axis=1)
        self.flags[flag][(np.arange(self.batch) if replicas is None else replicas)[rows]] = True
        return clipped

    def _decay(self, x, decay_q: int, decay: float):
        if self.fixed:
            return (x * decay_q) >> DECAY_FRAC
        return x * decay

    def _round_shift(self, x, shift: int, draws):
        """x / 2**shift: stochastic rounding with LFSR draws (fixed), exact scaling (float).

        Fixed: ``(x + (draw & (2**shift - 1))) >> shift``, unbiased for any x.
        """
        if not self.fixed:
            return x * 2.0 ** -shift
        if shift == 0:
            return x
        noise = (draws & np.uint32((1 << shift) - 1)).astype(np.int64).reshape(x.shape)
        return (x + noise) >> shift

    def _draw_round(self, n: int) -> np.ndarray:
        """The next n draws of every replica's rounding LFSR, (B, n); advances the registers."""
        draws = lfsr.sequence(self.lfsr_round, n)
        self.lfsr_round = draws[:, -1].copy()
        return draws

    # --- sample life cycle ------------------------------------------------------------------
    def reset(self):
        """Clear every per-sample state and draw the hidden perturbations of the next sample."""
        cfg = self.config
        for layer in self.layers:
            for name in ("trace_x", "trace_y", "a", "c", "grade_sum", "count", "last_step",
                         "grade_total", "grades", "perturbation"):
                getattr(layer, name)[...] = 0
            if self._eligibility_written:
                layer.ghat[...] = 0
                layer.ehat[...] = 0
            layer.spikes[...] = False
        self._eligibility_written = False
        n_hidden = sum(cfg.hidden_sizes)
        if cfg.perturbation == "gaussian":
            values = self._gauss.standard_normal((self.batch, n_hidden))
        else:
            draws = lfsr.sequence(self.lfsr_perturb, n_hidden)
            self.lfsr_perturb = draws[:, -1].copy() if n_hidden else self.lfsr_perturb
            values = np.where(draws & np.uint32(1), 1, -1)
            values = values * cfg.grade.one if self.fixed else values.astype(np.float64)
        offset = 0
        for layer in self.layers[:-1]:
            layer.perturbation[...] = values[:, offset:offset + layer.n_neurons]
            offset += layer.n_neurons
        self.step_index = 0

    def step(self, input_spikes: np.ndarray) -> list[np.ndarray]:
        """Advance every replica by one time step; returns each layer's spikes, (B, N) bool."""
        cfg = self.config
        n = self.step_index
        if n >= cfg.n_steps:
            raise RuntimeError(f"step {n} is past the window of n_steps = {cfg.n_steps}; call reset()")
        spikes = np.asarray(input_spikes, dtype=bool)
        if spikes.shape != (self.batch, cfg.n_inputs):
            raise ValueError(f"input spikes have shape {spikes.shape}; expected ({self.batch}, {cfg.n_inputs})")
        grades = np.zeros(spikes.shape, dtype=self.dtype)
        for layer in self.layers:
            self._step_layer(layer, n, spikes, grades)
            spikes, grades = layer.spikes, layer.grades
        self.step_index = n + 1
        return [layer.spikes for layer in self.layers]

    def _step_layer(self, layer: Layer, n: int, in_spikes: np.ndarray, in_grades: np.ndarray):
        cfg, fixed = self.config, self.fixed
        if layer is self.layers[-1] and cfg.output_layer == "integrate":
            self._integrate_output(layer, in_spikes, in_grades)
            return
        theta = cfg.threshold_q if fixed else cfg.threshold
        # 1. decay
        a = self._decay(layer.a, cfg.rho_q, cfg.rho)
        c = self._decay(layer.c, cfg.rho_s_q, cfg.rho_s)
        layer.trace_x = self._decay(layer.trace_x, cfg.rho_q, cfg.rho)
        layer.trace_y = self._decay(layer.trace_y, cfg.rho_s_q, cfg.rho_s)
        # 2. threshold (and the surrogate gate, from the same membrane)
        spikes = (a - c) >= theta
        layer.spikes = spikes
        layer.grades = np.zeros_like(layer.grades)
        if cfg.eligibility == "surrogate" and self.tracks_eligibility and layer is not self.layers[-1]:
            self._surrogate_updates(layer, a - c, theta)
        # 3. spikes: local gradients, grades, counters, reset
        if spikes.any():
            self._spike_updates(layer, n, spikes, c)
            a = a - theta * spikes
        # 4. integrate this step's input spikes
        if in_spikes.any():
            drive = self._synaptic_sum(layer, in_spikes)
            a = a + drive
            c = c + drive
            if in_grades.any():
                layer.grade_sum = self._sat(layer.grade_sum + self._grade_sum(layer, in_grades),
                                            cfg.grade, "grade")
            one = cfg.trace.one if fixed else 1.0
            layer.trace_x = self._sat(layer.trace_x + one * in_spikes, cfg.trace, "trace")
            layer.trace_y = self._sat(layer.trace_y + one * in_spikes, cfg.trace, "trace")
        layer.a = self._sat(a, cfg.state, "state")
        layer.c = self._sat(c, cfg.state, "state")

    def _integrate_output(self, layer: Layer, in_spikes: np.ndarray, in_grades: np.ndarray):
        """Spec 5.5, an integrate-only output layer: ``V_o = a_o += sum_i w_oi s_i`` with no
        decay, threshold or reset, and the grades ``S_o += sum_i w_oi d_i`` (D_o at the end)."""
        cfg = self.config
        layer.spikes = np.zeros_like(layer.spikes)
        if in_spikes.any():
            layer.a = self._sat(layer.a + self._synaptic_sum(layer, in_spikes), cfg.state, "state")
            if in_grades.any():
                layer.grade_sum = self._sat(layer.grade_sum + self._grade_sum(layer, in_grades),
                                            cfg.grade, "grade")

    def _surrogate_updates(self, layer: Layer, membrane: np.ndarray, theta):
        """Spec 5.2, the surrogate eligibility: ``ghat_ij = sat(ghat_ij - eps_j)`` for every
        synapse of every neuron whose membrane lies within ``surrogate_width`` of theta."""
        cfg = self.config
        width = cfg.surrogate_width_q if self.fixed else cfg.surrogate_width * cfg.threshold
        gate = np.abs(membrane - theta) <= width
        if not gate.any():
            return
        self._eligibility_written = True
        bb, ii = np.nonzero(gate)
        eps = layer.trace_x[bb] - layer.trace_y[bb]
        if self.fixed:
            eps = eps >> (cfg.trace.frac - cfg.grad.frac)
        layer.ghat[bb, ii] = self._sat(layer.ghat[bb, ii] - eps, cfg.grad, "grad", bb)

    def _synaptic_sum(self, layer: Layer, in_spikes: np.ndarray) -> np.ndarray:
        """sum_j w_ij s_j for every neuron, exact: integer words summed in float64 are exact
        below 2**53 (16-bit weights times 2**16 inputs at most), and BLAS makes it fast."""
        if layer.w_float is None:
            layer.w_float = layer.w.astype(np.float64)
        s = in_spikes.astype(np.float64)
        if layer.w_float.shape[0] == 1:
            total = s @ layer.w_float[0].T
        else:
            total = np.matmul(layer.w_float, s[:, :, None])[:, :, 0]
        return np.rint(total).astype(np.int64) if self.fixed else total

    def _grade_sum(self, layer: Layer, in_grades: np.ndarray) -> np.ndarray:
        """sum_j w_ij d_j over the input spikes; each product floored to the grade format."""
        if self.fixed:
            products = (layer.w * in_grades[:, None, :]) >> self.config.weight.frac
            return products.sum(axis=2)
        return np.einsum("bij,bj->bi", np.broadcast_to(layer.w, layer.ghat.shape), in_grades)

    def _spike_updates(self, layer: Layer, n: int, spikes: np.ndarray, current: np.ndarray):
        """Spec 5.3 for every spiking neuron: eligibility, grade, counters (the reset of A is
        applied by the caller)."""
        cfg = self.config
        bb, ii = np.nonzero(spikes)
        if self.tracks_eligibility and cfg.eligibility == "spike_time":
            self._eligibility_written = True
            self._eligibility_updates(layer, n, bb, ii, current)
        # grades: S plus the perturbation on the neuron's first spike; then S = 0
        first = layer.count[bb, ii] == 0
        grade = layer.grade_sum[bb, ii] + np.where(first, layer.perturbation[bb, ii], 0)
        grade = self._sat(grade, cfg.grade, "grade", bb)
        layer.grades[bb, ii] = grade
        layer.grade_sum[bb, ii] = 0
        layer.grade_total[bb, ii] = self._sat(layer.grade_total[bb, ii] + grade, cfg.grade, "grade", bb)
        count_max = (1 << cfg.count_bits) - 1
        full = layer.count[bb, ii] >= count_max
        self.flags["count"][bb[full]] = True
        layer.count[bb, ii] = np.minimum(layer.count[bb, ii] + 1, count_max)
        layer.last_step[bb, ii] = n

    def _eligibility_updates(self, layer: Layer, n: int, bb, ii, current: np.ndarray):
        """ghat += r * (ehat - eps) and ehat = decayed ehat + that, for every synapse of the
        spiking neurons (bb, ii); r = theta / max(C, theta)."""
        cfg, fixed = self.config, self.fixed
        if fixed:
            r = reciprocal(current[bb, ii], cfg.threshold_q)
            eps = (layer.trace_x[bb] - layer.trace_y[bb]) >> (cfg.trace.frac - cfg.grad.frac)
        else:
            r = cfg.threshold / np.maximum(current[bb, ii], cfg.threshold)
            eps = layer.trace_x[bb] - layer.trace_y[bb]
        # reset-path trace, decayed lazily from the neuron's previous spike
        if cfg.reset_path:
            elapsed = n - layer.last_step[bb, ii]
            if fixed:
                rho_pow = self._rho_pow_q[elapsed]
                ehat = (layer.ehat[bb, ii] * rho_pow[:, None]) >> DECAY_FRAC
            else:
                ehat = layer.ehat[bb, ii] * (cfg.rho ** elapsed)[:, None]
        else:
            ehat = np.zeros_like(eps)
        diff = ehat - eps
        ghat = (r[:, None] * diff) >> DECAY_FRAC if fixed else r[:, None] * diff
        layer.ghat[bb, ii] = self._sat(layer.ghat[bb, ii] + ghat, cfg.grad, "grad", bb)
        if cfg.reset_path:
            layer.ehat[bb, ii] = self._sat(ehat + ghat, cfg.grad, "grad", bb)

    def run(self, raster: np.ndarray, *, reset: bool = True) -> Record:
        """Run a whole window; ``raster`` is (B, n_steps, n_inputs) bool (or (n_steps, n_inputs)
        when B = 1)."""
        raster = np.asarray(raster, dtype=bool)
        if raster.ndim == 2:
            raster = raster[None]
        expected = (self.batch, self.config.n_steps, self.config.n_inputs)
        if raster.shape != expected:
            raise ValueError(f"raster has shape {raster.shape}; expected {expected}")
        if reset:
            self.reset()
        out = [np.zeros((self.batch, self.config.n_steps, layer.n_neurons), bool) for layer in self.layers]
        for n in range(self.config.n_steps):
            for k, s in enumerate(self.step(raster[:, n])):
                out[k][:, n] = s
        return Record(out)

    # --- end of sample ------------------------------------------------------------------------
    def output_errors(self, labels) -> np.ndarray:
        """delta_o = target - n_o (integers), targets from the labels, clipped to +-error_clip."""
        cfg = self.config
        labels = np.asarray(labels).reshape(self.batch)
        if labels.min() < 0 or labels.max() >= cfg.n_outputs:
            raise ValueError(f"labels must lie in 0..{cfg.n_outputs - 1}, got {labels.min()}..{labels.max()}")
        if cfg.output_layer == "integrate":
            return self._hinge_errors(labels) if cfg.output_loss == "hinge" else self._softmax_errors(labels)
        target = np.full((self.batch, cfg.n_outputs), cfg.target_false, dtype=np.int64)
        target[np.arange(self.batch), labels] = cfg.target_true
        delta = target - self.layers[-1].count
        if cfg.error_clip is not None:
            delta = np.clip(delta, -cfg.error_clip, cfg.error_clip)
        return delta

    def _softmax_errors(self, labels: np.ndarray) -> np.ndarray:
        """Spec 6.1, the base-2 softmax: ``delta_o = y_o - 2**(V_o - V_max) / sum_k 2**(V_k -
        V_max)``; fixed point: the exponential from a 64-entry table and a right shift, the
        probability by floor division, delta in ERROR_FRAC fraction bits."""
        cfg = self.config
        v = self.layers[-1].a
        target = np.zeros(v.shape, np.int64)
        target[np.arange(self.batch), labels] = 1
        if not self.fixed:
            e = 2.0 ** (v - v.max(axis=1, keepdims=True))
            return target - e / e.sum(axis=1, keepdims=True)
        below = v.max(axis=1, keepdims=True) - v                      # >= 0, state words
        whole = np.minimum(below >> cfg.state.frac, 16)
        part = (below & (cfg.state.one - 1)) * EXP2_STEPS >> cfg.state.frac
        e = np.asarray(EXP2_TABLE, np.int64)[part] >> whole
        p = (e << ERROR_FRAC) // e.sum(axis=1, keepdims=True)
        return (target << ERROR_FRAC) - p

    def _hinge_errors(self, labels: np.ndarray) -> np.ndarray:
        """Spec 6.1, the multiclass hinge on V: every other output o with
        ``V_o - V_label + margin > 0`` gets delta_o = -1 and the label +1 for each of them."""
        cfg = self.config
        v = self.layers[-1].a
        rows = np.arange(self.batch)
        margin = cfg.hinge_margin_q if self.fixed else cfg.hinge_margin
        violates = (v - v[rows, labels][:, None] + margin) > 0
        violates[rows, labels] = False
        delta = -violates.astype(np.int64)
        delta[rows, labels] = violates.sum(axis=1)
        return delta

    def hidden_errors(self, delta_out: np.ndarray) -> list[np.ndarray]:
        """delta_i = sum_o B_oi delta_o (+ rate regulariser), in the feedback format, exact."""
        cfg = self.config
        errors = []
        for layer, fb in zip(self.layers[:-1], self.feedback):
            delta = np.einsum("boi,bo->bi", fb, delta_out.astype(self.dtype))
            if cfg.rate_reg_shift is not None:
                shortfall = cfg.rate_target - layer.count
                delta = delta + (shortfall << (cfg.feedback.frac + cfg.error_frac - cfg.rate_reg_shift) if self.fixed
                                 else shortfall * 2.0 ** -cfg.rate_reg_shift)
            errors.append(delta)
        return errors

    def learn(self, labels) -> np.ndarray:
        """The end-of-sample learning sequence (spec, "End of sample"); returns delta_o.

        Order: errors (with the feedback as it was), hidden weights (first hidden layer first),
        output weights, then feedback (SFDFA). Every updated word consumes one draw of the
        rounding LFSR, row-major (neuron, then input), in that order.
        """
        cfg = self.config
        if any(layer.w.shape[0] != self.batch for layer in self.layers) and self.batch > 1:
            raise ValueError("learning needs one set of weights per replica; pass (B, N, J) weights")
        delta_out = self.output_errors(labels)
        if cfg.learns_hidden:
            for layer, delta in zip(self.layers[:-1], self.hidden_errors(delta_out)):
                self._update_weights(layer, delta, cfg.hidden_update_shift if self.fixed
                                     else cfg.lr_hidden_shift)
        out_delta = delta_out if self.fixed else delta_out.astype(np.float64)
        if cfg.output_layer == "integrate":
            self._update_integrate_output(out_delta)
        else:
            self._update_weights(self.layers[-1], out_delta, cfg.output_update_shift if self.fixed
                                 else cfg.lr_output_shift)
        if cfg.learns_feedback:
            self._update_feedback(delta_out)
        return delta_out

    def _update_weights(self, layer: Layer, delta: np.ndarray, shift: int):
        """w <- w - eta * delta_i * ghat_ij, eta = 2**-lr_shift, stochastically rounded.

        ``shift`` is the whole right shift: in fixed point the learning-rate shift plus the
        format alignment of the product (Config.*_update_shift); in float the learning-rate
        shift alone, since the product is already a real number."""
        product = -(delta[:, :, None] * layer.ghat)
        draws = self._draw_round(product[0].size) if self.fixed else None
        step = self._round_shift(product, shift, draws)
        layer.w = self._sat(np.broadcast_to(layer.w, product.shape) + step, self.config.weight, "weight")
        layer.w_float = None

    def _update_integrate_output(self, delta_out: np.ndarray):
        """Spec 6.3, integrate outputs: ``w_oi <- w_oi + eta * delta_o * n_i`` (the eligibility of
        V_o is the hidden count n_i), stochastically rounded like every weight update."""
        cfg, layer = self.config, self.layers[-1]
        counts = self.layers[-2].count
        product = delta_out[:, :, None] * counts[:, None, :]
        if self.fixed:
            product = product << cfg.weight.frac          # delta (error_frac) * n to weight words
            draws = self._draw_round(product[0].size)
            step = self._round_shift(product, cfg.output_update_shift, draws)
        else:
            step = self._round_shift(product.astype(np.float64), cfg.lr_output_shift, None)
        layer.w = self._sat(np.broadcast_to(layer.w, product.shape) + step, cfg.weight, "weight")
        layer.w_float = None

    def _update_feedback(self, delta_out: np.ndarray):
        """B_oi <- B_oi + alpha * (D_o p_i - B_oi) for hidden neurons that fired (SFDFA)."""
        cfg = self.config
        out = self.layers[-1]
        # D_o: the grades a spiking output emitted, or what an integrating one accumulated
        grade_total = out.grade_sum if cfg.output_layer == "integrate" else out.grade_total
        for layer, k in zip(self.layers[:-1], range(len(self.feedback))):
            fb = self.feedback[k]
            p_sign = layer.perturbation / (cfg.grade.one if self.fixed else 1.0)
            if self.fixed:
                p_sign = p_sign.astype(np.int64)
                target = (grade_total[:, :, None] * p_sign[:, None, :]) << (cfg.feedback.frac - cfg.grade.frac)
                draws = self._draw_round(fb[0].size)
            else:
                target = grade_total[:, :, None] * p_sign[:, None, :]
                draws = None
            step = self._round_shift(target - fb, cfg.feedback_shift, draws)
            fired = (layer.count > 0)[:, None, :]
            self.feedback[k] = self._sat(np.where(fired, fb + step, fb), cfg.feedback, "feedback")

    # --- convenience ----------------------------------------------------------------------------
    def weights(self) -> list[np.ndarray]:
        return [layer.w for layer in self.layers]

    def predict(self) -> np.ndarray:
        """The class of each replica's last sample: the output neuron with the most spikes (the
        largest V_o for integrate outputs); a tie goes to the lowest index (so a silent output
        layer answers class 0)."""
        out = self.layers[-1]
        return np.argmax(out.a if self.config.output_layer == "integrate" else out.count, axis=1)


def weights_as_floats(config: Config, words) -> list[np.ndarray]:
    """Weight words (the chip's, the fixed-point model's: one integer array per layer) as the
    reals they stand for, ``word / 2**weight.frac`` (what the float model takes)."""
    return [np.asarray(w, dtype=np.float64) / config.weight.one for w in words]


def weights_as_words(config: Config, floats, *, saturate: bool = False) -> list[np.ndarray]:
    """Reals as weight words, rounded to the nearest (``np.rint``: halves to even). A value
    outside the weight format raises ``ValueError`` naming the layer, unless ``saturate``."""
    words = []
    for k, w in enumerate(floats):
        q = np.rint(np.asarray(w, dtype=np.float64) * config.weight.one)
        fmt = config.weight
        if not saturate and q.size and (q.min() < fmt.lo or q.max() > fmt.hi):
            raise ValueError(f"weights[{k}] span {q.min() / fmt.one:g}..{q.max() / fmt.one:g}, "
                             f"outside the weight format {fmt} ({fmt.lo / fmt.one:g}.."
                             f"{fmt.hi / fmt.one:g})")
        words.append(np.clip(q, fmt.lo, fmt.hi).astype(np.int64))
    return words


def _quantize(x: np.ndarray, fmt: Format) -> np.ndarray:
    return np.clip(np.rint(x * fmt.one), fmt.lo, fmt.hi).astype(np.int64)
