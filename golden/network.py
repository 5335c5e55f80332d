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

import functools
from dataclasses import dataclass, field

import numpy as np

from . import lfsr
from .config import DECAY_FRAC, ERROR_FRAC, EXP2_STEPS, EXP2_TABLE, Config, Format

__all__ = ["Network", "Layer", "Record", "FLAG_NAMES", "reciprocal", "weights_as_floats",
           "weights_as_words"]

#: sticky overflow flags, one per saturating quantity (the RTL's status register has the same)
FLAG_NAMES = ("state", "trace", "grad", "grade", "count", "weight", "feedback")

#: the window path's grade products of several steps at once up to this many elements
_GRADE_BLOCK = 1 << 20
#: the window path sums D_i with one scatter-add where no partial sum can saturate (False: always
#: by rounds; the tests take both)
_SCATTER_SUMS = True


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

    #: fixed point only: :meth:`run` takes the whole window layer by layer and :meth:`learn`
    #: updates only the words whose update is not zero (``_run_window``, ``_update_weights``);
    #: the same words as stepping (tests/golden/test_fast_golden.py). False: the step-by-step
    #: reference path.
    fast: bool = True

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
        self._spike_counters(layer, n, bb, ii)

    def _spike_counters(self, layer: Layer, n: int, bb, ii):
        """The grades and counters of the spiking neurons (bb, ii) at step n (spec 5.3)."""
        cfg = self.config
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
            if self.fixed and self.fast:
                return self._run_window(raster)
        out = [np.zeros((self.batch, self.config.n_steps, layer.n_neurons), bool) for layer in self.layers]
        for n in range(self.config.n_steps):
            for k, s in enumerate(self.step(raster[:, n])):
                out[k][:, n] = s
        return Record(out)

    # --- the window at once (fixed point) -------------------------------------------------------
    def _run_window(self, raster: np.ndarray) -> Record:
        """:meth:`run` from a reset state, every word the same as stepping (:meth:`step`).

        Layers are feed-forward and nothing couples them within a step (the flags are sticky
        ORs; no draw is taken while running), so each layer runs the whole window before the next
        one, from its input layer's recorded spikes and grades. Within a layer: only the inputs
        that spike at least once (in some replica) get traces, eps and eligibility columns
        (elsewhere they stay exactly zero), the synaptic drive of every step comes from one
        matrix product, and the surrogate eligibility is one product of the gate and eps rasters
        when no partial sum can reach the grad format's bounds."""
        in_spikes, in_grades = raster, None
        out = []
        for layer in self.layers:
            if layer is self.layers[-1] and self.config.output_layer == "integrate":
                self._window_integrate(layer, in_spikes, in_grades)
                spikes = np.zeros((self.batch, self.config.n_steps, layer.n_neurons), bool)
                grades = None
            else:
                spikes, grades = self._window_layer(layer, in_spikes, in_grades)
            out.append(spikes)
            in_spikes, in_grades = spikes, grades
        self.step_index = self.config.n_steps
        return Record(out)

    def _window_drive(self, layer: Layer, spikes: np.ndarray, cols: np.ndarray, steps: np.ndarray):
        """sum_j w_ij s_j(n) for the steps ``steps``, (B, len(steps), N) int64; exact (integer
        words summed in float64, as in :meth:`_synaptic_sum`)."""
        if not len(steps):
            return np.zeros((self.batch, 0, layer.n_neurons), np.int64)
        s = spikes[:, steps][:, :, cols].astype(np.float64)          # (B, Ts, Ja)
        w = layer.w[:, :, cols].astype(np.float64)                    # (B|1, N, Ja)
        if w.shape[0] == 1:
            total = (s.reshape(-1, len(cols)) @ w[0].T).reshape(s.shape[0], len(steps), -1)
        else:
            total = np.matmul(s, w.transpose(0, 2, 1))
        return np.rint(total).astype(np.int64)

    def _window_grade_step(self, layer: Layer, grades: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """:meth:`_grade_sum` of one step over the input columns ``cols`` (the others carry no
        grade): each product floored to the grade format, then summed."""
        w = layer.w[:, :, cols]
        return ((w * grades[:, cols][:, None, :]) >> self.config.weight.frac).sum(axis=2)

    def _window_grade_steps(self, layer: Layer, grades: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """:meth:`_window_grade_step` of several steps, grades (B, K, J) -> (B, K, N)."""
        B, K, N = grades.shape[0], grades.shape[1], layer.n_neurons
        if B * K * N * len(cols) > _GRADE_BLOCK:              # a bounded temporary
            return np.stack([self._window_grade_step(layer, grades[:, k], cols) for k in range(K)], axis=1)
        w = layer.w[:, None, :, cols]                           # (B|1, 1, N, Ja)
        g = grades[:, :, None, cols]                            # (B, K, 1, Ja)
        return ((w * g) >> self.config.weight.frac).sum(axis=3)

    def _window_traces(self, layer: Layer, spikes: np.ndarray, cols: np.ndarray, want_eps: bool):
        """The input traces of the columns ``cols`` through the window (decay, then the step's
        spikes, saturated); the final traces go to the layer. Returns eps of every step, (B, T,
        Ja), from the traces after the decay and before the step's spikes (None if not wanted)."""
        cfg = self.config
        B, T = self.batch, cfg.n_steps
        s = spikes[:, :, cols]
        one = cfg.trace.one
        shift = cfg.trace.frac - cfg.grad.frac
        if not s.any() or s.sum(axis=1).max() == 1:
            return self._window_single_spike_traces(layer, s, cols, want_eps)
        if s.sum(axis=1).max() * one <= cfg.trace.hi:
            return self._window_unsaturated_traces(layer, s, cols, want_eps)
        x = np.zeros((B, len(cols)), np.int64)
        y = np.zeros((B, len(cols)), np.int64)
        any_in = s.any(axis=(0, 2))
        eps = np.empty((B, T, len(cols)), np.int64) if want_eps else None
        for n in range(T):
            x = (x * cfg.rho_q) >> DECAY_FRAC
            y = (y * cfg.rho_s_q) >> DECAY_FRAC
            if want_eps:
                eps[:, n] = (x - y) >> shift
            if any_in[n]:
                x = self._sat(x + one * s[:, n], cfg.trace, "trace")
                y = self._sat(y + one * s[:, n], cfg.trace, "trace")
        layer.trace_x[:, cols] = x
        layer.trace_y[:, cols] = y
        return eps

    def _window_unsaturated_traces(self, layer: Layer, s: np.ndarray, cols, want_eps: bool):
        """:meth:`_window_traces` when no trace can saturate (a trace never exceeds ``one``
        times its input's spikes so far): X and Y as one (2, B, Ja) array, no clipping."""
        cfg = self.config
        B, T = self.batch, cfg.n_steps
        xy = np.zeros((2, B, len(cols)), np.int64)
        decay = np.array([cfg.rho_q, cfg.rho_s_q], np.int64)[:, None, None]
        add = s.astype(np.int64) * cfg.trace.one                # (B, T, Ja)
        any_in = s.any(axis=(0, 2))
        shift = cfg.trace.frac - cfg.grad.frac
        eps = np.empty((B, T, len(cols)), np.int64) if want_eps else None
        for n in range(T):
            np.multiply(xy, decay, out=xy)
            np.right_shift(xy, DECAY_FRAC, out=xy)
            if want_eps:
                np.right_shift(np.subtract(xy[0], xy[1], out=eps[:, n]), shift, out=eps[:, n])
            if any_in[n]:
                xy += add[:, n]
        layer.trace_x[:, cols] = xy[0]
        layer.trace_y[:, cols] = xy[1]
        return eps

    def _window_single_spike_traces(self, layer: Layer, s: np.ndarray, cols, want_eps: bool):
        """:meth:`_window_traces` when every input spikes at most once in the window (TTFS): a
        trace is 0 up to its input's spike, ``one`` right after it (0 + one fits the format, no
        saturation) and then the same floored decay sequence for every input, so the traces and
        eps of every step are lookups in one kernel per trace, by steps since the spike."""
        cfg = self.config
        T = cfg.n_steps
        kx_end, ky_end, k_eps = _trace_kernels(T, cfg.trace.one, cfg.rho_q, cfg.rho_s_q,
                                               cfg.trace.frac - cfg.grad.frac)
        fired = s.any(axis=1)                                   # (B, Ja)
        t_spike = np.where(fired, np.argmax(s, axis=1), T)      # (B, Ja); T: never fired
        after_last = T - 1 - t_spike                            # -1 (never fired): index of 0
        layer.trace_x[:, cols] = kx_end[after_last]
        layer.trace_y[:, cols] = ky_end[after_last]
        if not want_eps:
            return None
        # steps since the spike at the decay of step n: 1, 2, ... after it; 0 (eps 0) up to it
        since = np.arange(T)[None, :, None] - t_spike[:, None, :]
        return k_eps[np.maximum(since, 0)]

    def _window_layer(self, layer: Layer, in_spikes: np.ndarray, in_grades):
        """One layer of LIF neurons through the window (:meth:`_step_layer` at every step).
        Returns its spikes and grades, (B, T, N) each."""
        cfg = self.config
        B, N = self.batch, layer.n_neurons
        cols = np.flatnonzero(in_spikes.any(axis=(0, 1)))
        surrogate = (cfg.eligibility == "surrogate" and self.tracks_eligibility
                     and layer is not self.layers[-1])
        spike_time = self.tracks_eligibility and cfg.eligibility == "spike_time"
        eps = self._window_traces(layer, in_spikes, cols, surrogate or spike_time)
        in_steps = np.flatnonzero(in_spikes[:, :, cols].any(axis=(0, 2)))
        drive = self._window_drive(layer, in_spikes, cols, in_steps)
        # |A| and |C| never exceed the sum of |drive| plus one theta per step (a decay never
        # grows a magnitude): within the state format, saturation cannot act
        bound = np.abs(drive).sum(axis=1).max(initial=0) + cfg.n_steps * cfg.threshold_q
        # the grade sums S_i of the inputs' grades: |S| never exceeds the sum of |increments|
        inc = None
        g_steps = (np.zeros(0, np.intp) if in_grades is None
                   else in_steps[in_grades[:, in_steps].any(axis=(0, 2))])
        if len(g_steps):
            incs = self._window_grade_steps(layer, in_grades[:, g_steps], cols)
            inc = np.zeros((B, cfg.n_steps, N), np.int64)
            inc[:, g_steps] = incs
            grade_bound = np.abs(incs).sum(axis=1).max(initial=0)
        if (bound <= min(cfg.state.hi, -cfg.state.lo)
                and (inc is None or grade_bound <= min(cfg.grade.hi, -cfg.grade.lo))):
            spikes, grades, gates, currents, events = self._window_neurons_unsaturated(
                layer, drive, in_steps, inc, surrogate, spike_time)
            ghat, ehat = (self._window_spike_time_rounds(events, currents, eps, N)
                          if spike_time else (None, None))
        else:
            ghat = np.zeros((B, N, len(cols)), np.int64) if spike_time else None
            ehat = np.zeros((B, N, len(cols)), np.int64) if spike_time else None
            spikes, grades, gates = self._window_neurons_general(
                layer, drive, in_steps, in_grades, cols, eps, surrogate, ghat, ehat)
        if spike_time and (ghat.any() or ehat.any()):
            self._eligibility_written = True
            layer.ghat[:, :, cols] = ghat
            layer.ehat[:, :, cols] = ehat
        if surrogate and gates.any():
            self._eligibility_written = True
            layer.ghat[:, :, cols] = self._window_surrogate(gates, eps)
        return spikes, grades

    def _window_neurons_unsaturated(self, layer: Layer, drive, in_steps, inc, surrogate: bool,
                                    spike_time: bool):
        """The neurons of a layer whose state and grade sums cannot saturate: the step loop
        holds only the membrane (decay, threshold, reset, drive); the counters and grades follow
        from the spike raster afterwards. ``inc`` (B, T, N) holds the grade-sum increments of
        each step (None: no input grades); S at a spike of step n is the sum of the increments
        from the neuron's previous spike's step (whose own increment comes after its reset) to
        n - 1. Returns spikes and grades (B, T, N), the surrogate gates (B, T, N) or None, the
        currents C after each step's decay (B, T, N) or None, and the spike events
        (:meth:`_spike_events`)."""
        cfg = self.config
        B, T, N = self.batch, cfg.n_steps, layer.n_neurons
        theta, width = cfg.threshold_q, cfg.surrogate_width_q
        rho_q, rho_s_q = cfg.rho_q, cfg.rho_s_q
        spikes = np.zeros((B, T, N), bool)
        gates = None
        currents = np.zeros((B, T, N), np.int64) if spike_time else None
        drive_at = {int(n): k for k, n in enumerate(in_steps)}
        # A and C as one (2, B, N) array: one multiply and shift decay both, one add drives both
        ac = np.stack([layer.a, layer.c]).astype(np.int64)
        a, c = ac[0], ac[1]
        decay = np.array([rho_q, rho_s_q], np.int64)[:, None, None]
        membranes = np.empty((B, T, N), np.int64) if surrogate else None
        scratch = np.empty((B, N), np.int64)
        for n in range(T):
            np.multiply(ac, decay, out=ac)
            np.right_shift(ac, DECAY_FRAC, out=ac)
            membrane = np.subtract(a, c, out=membranes[:, n] if surrogate else scratch)
            s = np.greater_equal(membrane, theta, out=spikes[:, n])
            if spike_time:
                currents[:, n] = c
            np.subtract(a, theta, out=a, where=s)
            k = drive_at.get(n)
            if k is not None:
                ac += drive[:, k]
        if surrogate:
            gates = np.abs(membranes - theta) <= width
        layer.a, layer.c = a.copy(), c.copy()
        # counters: n_i saturates at count_max, the flag rises at a spike on a full counter
        total = spikes.sum(axis=1)
        count_max = (1 << cfg.count_bits) - 1
        self.flags["count"] |= (total > count_max).any(axis=1)
        fired = total > 0
        layer.count[...] = np.minimum(total, count_max)
        layer.last_step[...] = np.where(fired, T - 1 - np.argmax(spikes[:, ::-1], axis=1), 0)
        # grades: sat(S + p_i on the first spike) at each spike, D_i = sat(D_i + grade)
        events = self._spike_events(spikes)
        bb, nn, ii, rank, prev = events
        grades = np.zeros((B, T, N), self.dtype)
        if inc is None:
            before = np.zeros(len(bb), np.int64)
        else:
            # prefix[:, n] = sum of inc over steps 0..n-1
            prefix = np.zeros((B, T + 1, N), np.int64)
            np.cumsum(inc, axis=1, out=prefix[:, 1:])
            before = prefix[bb, nn, ii] - prefix[bb, prev, ii]
            layer.grade_sum[...] = prefix[:, T] - np.take_along_axis(
                prefix, layer.last_step[:, None, :], axis=1)[:, 0]
        grade = self._sat(before + np.where(rank == 0, layer.perturbation[bb, ii], 0),
                          cfg.grade, "grade", bb)
        grades[bb, nn, ii] = grade
        spread = np.zeros((B, N), np.int64)
        np.add.at(spread, (bb, ii), np.abs(grade))
        if _SCATTER_SUMS and spread.max(initial=0) <= min(cfg.grade.hi, -cfg.grade.lo):
            np.add.at(layer.grade_total, (bb, ii), grade)        # no partial sum can saturate
        else:
            for k in range(int(rank.max(initial=-1)) + 1):
                sel = rank == k
                b, i = bb[sel], ii[sel]
                layer.grade_total[b, i] = self._sat(layer.grade_total[b, i] + grade[sel],
                                                    cfg.grade, "grade", b)
        layer.spikes = spikes[:, -1].copy()
        layer.grades = grades[:, -1].copy()
        return spikes, grades, gates, currents, events

    @staticmethod
    def _spike_events(spikes: np.ndarray):
        """The spikes of a raster (B, T, N) as events ``(bb, nn, ii, rank, prev)`` in step order:
        replica, step, neuron, the spike's rank on its neuron (0 for the first) and the step of
        the neuron's previous spike (0 before the first, as ``last_step``)."""
        bb, nn, ii = np.nonzero(spikes)
        rank = np.cumsum(spikes, axis=1)[bb, nn, ii] - 1
        order = np.lexsort((nn, ii, bb))
        ob, oi, on = bb[order], ii[order], nn[order]
        prev_sorted = np.zeros(len(bb), np.int64)
        same = (ob[1:] == ob[:-1]) & (oi[1:] == oi[:-1])
        prev_sorted[1:] = np.where(same, on[:-1], 0)
        prev = np.empty_like(prev_sorted)
        prev[order] = prev_sorted
        return bb, nn, ii, rank, prev

    def _window_spike_time_rounds(self, events, currents, eps, n_neurons: int):
        """The spike-time eligibility (:meth:`_eligibility_updates`) of a whole window from its
        spike events: round k updates, for every neuron with a (k+1)-th spike, its row of ghat
        and ehat (B, N, Ja) exactly as that spike's step would; rows are independent, so only
        each row's own order matters. Returns (ghat, ehat)."""
        cfg = self.config
        bb, nn, ii, rank, prev = events
        ghat = np.zeros((eps.shape[0], n_neurons, eps.shape[2]), np.int64)
        ehat = np.zeros_like(ghat)
        if not len(bb):
            return ghat, ehat
        for k in range(int(rank.max()) + 1):
            sel = rank == k
            b, i, n = bb[sel], ii[sel], nn[sel]
            r = reciprocal(currents[b, n, i], cfg.threshold_q)
            e_rows = eps[b, n]
            if cfg.reset_path:
                rho_pow = self._rho_pow_q[n - prev[sel]]
                e = (ehat[b, i] * rho_pow[:, None]) >> DECAY_FRAC
            else:
                e = np.zeros_like(e_rows)
            g = (r[:, None] * (e - e_rows)) >> DECAY_FRAC
            ghat[b, i] = self._sat(ghat[b, i] + g, cfg.grad, "grad", b)
            if cfg.reset_path:
                ehat[b, i] = self._sat(e + g, cfg.grad, "grad", b)
        return ghat, ehat

    def _window_neurons_general(self, layer: Layer, drive, in_steps, in_grades, cols, eps,
                                surrogate: bool, ghat, ehat):
        """The neurons of a layer step by step with every saturation and the grade sums of
        their inputs' grades (:meth:`_step_layer`). Returns spikes, grades and the surrogate
        gates (B, T, N) (None without the surrogate)."""
        cfg = self.config
        B, T, N = self.batch, cfg.n_steps, layer.n_neurons
        theta, width = cfg.threshold_q, cfg.surrogate_width_q
        rho_q, rho_s_q = cfg.rho_q, cfg.rho_s_q
        drive_at = {int(n): k for k, n in enumerate(in_steps)}
        grade_steps = set() if in_grades is None else set(np.flatnonzero(in_grades.any(axis=(0, 2))).tolist())
        gates = np.zeros((B, T, N), bool) if surrogate else None
        spikes_out = np.zeros((B, T, N), bool)
        grades_out = np.zeros((B, T, N), self.dtype)
        a, c = layer.a, layer.c
        for n in range(T):
            a = (a * rho_q) >> DECAY_FRAC
            c = (c * rho_s_q) >> DECAY_FRAC
            membrane = a - c
            spikes = membrane >= theta
            if surrogate:
                gates[:, n] = np.abs(membrane - theta) <= width
            if spikes.any():
                bb, ii = np.nonzero(spikes)
                if ghat is not None:
                    self._window_spike_time(layer, n, bb, ii, c, eps[:, n], ghat, ehat)
                layer.grades = grades_out[:, n]
                self._spike_counters(layer, n, bb, ii)
                a = a - theta * spikes
                spikes_out[:, n] = spikes
            k = drive_at.get(n)
            if k is not None:
                a = a + drive[:, k]
                c = c + drive[:, k]
                if n in grade_steps:
                    layer.grade_sum = self._sat(layer.grade_sum + self._window_grade_step(
                        layer, in_grades[:, n], cols), cfg.grade, "grade")
            a = self._sat(a, cfg.state, "state")
            c = self._sat(c, cfg.state, "state")
        layer.a, layer.c = a, c
        layer.spikes = spikes_out[:, -1].copy()
        layer.grades = grades_out[:, -1].copy()
        return spikes_out, grades_out, gates

    def _window_spike_time(self, layer: Layer, n: int, bb, ii, current, eps, ghat, ehat):
        """:meth:`_eligibility_updates` on the active columns: ``ghat``, ``ehat`` (B, N, Ja)."""
        cfg = self.config
        r = reciprocal(current[bb, ii], cfg.threshold_q)
        eps = eps[bb]
        if cfg.reset_path:
            rho_pow = self._rho_pow_q[n - layer.last_step[bb, ii]]
            e = (ehat[bb, ii] * rho_pow[:, None]) >> DECAY_FRAC
        else:
            e = np.zeros_like(eps)
        g = (r[:, None] * (e - eps)) >> DECAY_FRAC
        ghat[bb, ii] = self._sat(ghat[bb, ii] + g, cfg.grad, "grad", bb)
        if cfg.reset_path:
            ehat[bb, ii] = self._sat(e + g, cfg.grad, "grad", bb)

    def _window_surrogate(self, gates: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """ghat of the surrogate eligibility, (B, N, Ja): ``sat(ghat - eps_j)`` at every gated
        step (:meth:`_surrogate_updates`). When no partial sum can leave the grad format (sum of
        |eps_j| over the window within it) saturation never acts and ghat is minus the product
        of the gate and eps rasters, exact in float64 (integers far below 2**53)."""
        fmt = self.config.grad
        bound = min(fmt.hi, -fmt.lo)
        if np.abs(eps).sum(axis=1).max(initial=0) <= bound:
            total = np.matmul(gates.transpose(0, 2, 1).astype(np.float64), eps.astype(np.float64))
            return -np.rint(total).astype(np.int64)
        B, T, N = gates.shape
        ghat = np.zeros((B, N, eps.shape[2]), np.int64)
        for n in range(T):
            bb, ii = np.nonzero(gates[:, n])
            if len(bb):
                ghat[bb, ii] = self._sat(ghat[bb, ii] - eps[bb, n], fmt, "grad", bb)
        return ghat

    def _window_integrate(self, layer: Layer, in_spikes: np.ndarray, in_grades):
        """:meth:`_integrate_output` at every step: V_o and S_o are running sums, saturated at
        every step; when no partial sum leaves the format, the last one is the value."""
        cfg = self.config
        layer.spikes = np.zeros_like(layer.spikes)
        cols = np.flatnonzero(in_spikes.any(axis=(0, 1)))
        steps = np.flatnonzero(in_spikes[:, :, cols].any(axis=(0, 2)))
        if not len(steps):
            return
        drive = self._window_drive(layer, in_spikes, cols, steps)
        layer.a = self._window_running_sum(layer.a, drive, cfg.state, "state")
        if in_grades is not None:
            g_steps = steps[in_grades[:, steps].any(axis=(0, 2))]
            if len(g_steps):
                incs = self._window_grade_steps(layer, in_grades[:, g_steps], cols)
                layer.grade_sum = self._window_running_sum(layer.grade_sum, incs, cfg.grade, "grade")

    def _window_running_sum(self, start: np.ndarray, incs: np.ndarray, fmt: Format, flag: str):
        """``x = sat(x + inc)`` for the increments ``incs`` (B, K, N) in order, from ``start``."""
        partial = start[:, None, :] + np.cumsum(incs, axis=1)
        if partial.min() >= fmt.lo and partial.max() <= fmt.hi:
            return partial[:, -1]
        x = start
        for k in range(incs.shape[1]):
            x = self._sat(x + incs[:, k], fmt, flag)
        return x

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
        if self.fixed and self.fast:
            # columns where ghat is 0 for every neuron and replica update nothing
            cols = np.flatnonzero(layer.ghat.any(axis=(0, 1)))
            self._update_nonzero(layer, -(delta[:, :, None] * layer.ghat[:, :, cols]), cols, shift)
            return
        product = -(delta[:, :, None] * layer.ghat)
        draws = self._draw_round(product[0].size) if self.fixed else None
        step = self._round_shift(product, shift, draws)
        layer.w = self._sat(np.broadcast_to(layer.w, product.shape) + step, self.config.weight, "weight")
        layer.w_float = None

    def _update_nonzero(self, layer: Layer, product: np.ndarray, cols: np.ndarray, shift: int):
        """The fixed-point ``w <- sat(w + round_shift(product))`` of :meth:`_update_weights`, for
        ``product`` given on the columns ``cols`` (zero on the others), touching only those
        columns. A zero product rounds to a zero step whatever its draw (the noise is below
        2**shift), but still consumes that draw: the rounding register jumps over the whole
        matrix (its state at the start of every row: lfsr.row_states), and only the draws of the
        columns ``cols`` are formed (lfsr.draws_block): the same draw per word, row-major, as
        the full update."""
        B, N, J = product.shape[:2] + layer.w.shape[2:]
        starts = lfsr.row_states(self.lfsr_round, N, J)
        self.lfsr_round = starts[:, -1].copy()
        w = layer.w.copy() if layer.w.shape[0] == B else np.repeat(layer.w, B, axis=0)
        if len(cols):
            draws = lfsr.draws_block(starts[:, :N], cols, J)           # (B, N, Ja)
            step = self._round_shift(product, shift, draws)
            w[:, :, cols] = self._sat(w[:, :, cols] + step, self.config.weight, "weight")
        layer.w = w
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


@functools.lru_cache(maxsize=16)
def _trace_kernels(n_steps: int, one: int, rho_q: int, rho_s_q: int, eps_shift: int):
    """A lone input spike's traces X and Y, ``k`` steps after the step that integrated it
    (``one`` at k = 0, then floored decays), for k = 0..n_steps-1, and a 0 appended (index -1:
    an input that never fired); and eps at the decay of the step ``k`` steps after the spike
    (k = 1..n_steps), with eps = 0 at index 0 (the spike's own step and every step before)."""
    kx, ky = [one], [one]
    for _ in range(n_steps):
        kx.append((kx[-1] * rho_q) >> DECAY_FRAC)
        ky.append((ky[-1] * rho_s_q) >> DECAY_FRAC)
    kx, ky = np.array(kx, np.int64), np.array(ky, np.int64)
    k_eps = np.zeros(n_steps + 1, np.int64)
    k_eps[1:] = (kx[1:] - ky[1:]) >> eps_shift
    out = np.append(kx[:n_steps], 0), np.append(ky[:n_steps], 0), k_eps
    for a in out:
        a.setflags(write=False)
    return out


def _quantize(x: np.ndarray, fmt: Format) -> np.ndarray:
    return np.clip(np.rint(x * fmt.one), fmt.lo, fmt.hi).astype(np.int64)
