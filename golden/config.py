"""The one configuration that the golden model, the RTL elaboration and the host all read.

A :class:`Config` fixes the network (layer sizes), the neuron (time constants, threshold), the
window, every fixed-point format, the learning rule and its constants, and the LFSR seeds. It is
frozen, validates itself on construction (an impossible configuration raises
:class:`ConfigError` naming the field and the limit), serialises to JSON and has a stable hash.

Two hashes are kept apart on purpose:

* :attr:`Config.core_hash` covers what changes the circuit (sizes and formats). A bitstream carries
  it, and the host refuses a board whose core hash differs from its own configuration's.
* :attr:`Config.hash` covers everything, learning constants and seeds included: it names a run.

Every real-valued constant is turned into an integer here, once (the ``*_q`` properties); the
golden model and the RTL use only those integers. ``docs/spec.md`` is the prose form of this file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["Config", "ConfigError", "Format", "RULES", "PERTURBATIONS", "RATE_FIELDS",
           "OUTPUT_LAYERS", "OUTPUT_LOSSES", "ELIGIBILITIES", "ERROR_FRAC", "EXP2_TABLE"]

RULES = ("sfdfa", "dfa", "readout")
#: the output layer: spiking LIF neurons with a count error (the thesis), or integrate-only
#: neurons (V_o = sum_i w_oi n_i: no leak, threshold or reset) with a multiclass hinge error
OUTPUT_LAYERS = ("spiking", "integrate")
#: the error of an integrate output layer: a base-2 softmax (cross-entropy) or a multiclass hinge
OUTPUT_LOSSES = ("softmax", "hinge")
#: fraction bits of a softmax output error delta_o = y_o - p_o (spec 6.1)
ERROR_FRAC = 10
#: the base-2 exponential of the softmax: 2**(-k/64) for k = 0..63 as u0.15 words
EXP2_STEPS = 64
EXP2_TABLE = tuple(round((1 << 15) * 2.0 ** (-k / EXP2_STEPS)) for k in range(EXP2_STEPS))
#: the hidden local gradient: the thesis's spike-time gradient (reciprocal, reset path), or a
#: membrane-gated surrogate (eps summed over the steps where |u - theta| <= surrogate_width)
ELIGIBILITIES = ("spike_time", "surrogate")
#: the learning-rate shifts a host may change at run time (RATES), in the order RATES carries them
RATE_FIELDS = ("lr_hidden_shift", "lr_output_shift")
PERTURBATIONS = ("rademacher", "gaussian")

#: Fraction bits of the decay constants and of the reciprocal ``r = theta / C'``.
DECAY_FRAC = 16


class ConfigError(ValueError):
    """An impossible configuration; the message names the field and the limit."""


@dataclass(frozen=True)
class Format:
    """A two's-complement (``signed``) or unsigned fixed-point word: ``bits`` wide, ``frac``
    fraction bits. The value of an integer ``q`` is ``q / 2**frac``."""

    bits: int
    frac: int
    signed: bool = True

    @property
    def lo(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def hi(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    @property
    def one(self) -> int:
        return 1 << self.frac

    def quantize(self, value: float) -> int:
        """Round a real to the nearest representable word, refusing what does not fit."""
        q = round(value * self.one)
        if not self.lo <= q <= self.hi:
            raise ConfigError(f"{value!r} does not fit {self}")
        return q

    def __str__(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.bits}.{self.frac}"


def _positive_int(name: str, value, limit: int | None = None):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    if limit is not None and value > limit:
        raise ConfigError(f"{name} = {value} exceeds its limit {limit}")


@dataclass(frozen=True)
class Config:
    """Everything that defines a Plasticore core and a training run on it.

    Time is counted in steps of the core's clock-driven time step; ``tau`` and ``tau_s`` are in
    steps. Real-valued quantities (threshold, initial weight scales) are in units of the neuron's
    membrane potential, where the threshold is typically 1.
    """

    # --- network ---------------------------------------------------------------------------
    #: inputs, hidden layer sizes..., outputs. At least one hidden layer for SFDFA/DFA.
    layers: tuple[int, ...] = (64, 64, 10)
    #: time steps per sample (the run window); input spikes fall in the first ``input_window``.
    n_steps: int = 50
    input_window: int = 25
    #: width of the step counter (the hardware's ``n_steps`` register and last-spike stamps).
    step_bits: int = 8

    # --- neuron -----------------------------------------------------------------------------
    tau: float = 10.0
    tau_s: float = 5.0
    threshold: float = 1.0

    # --- fixed-point formats (see docs/spec.md, "Formats") ----------------------------------
    weight: Format = field(default_factory=lambda: Format(16, 11))       # w_ij, theta
    state: Format = field(default_factory=lambda: Format(24, 11))        # A_i, C_i (frac = weight)
    trace: Format = field(default_factory=lambda: Format(16, 12, False))  # X_j, Y_j
    #: s16.9 (+-64): at s16.10 the output layer's ghat saturated in the readout control and cost
    #: it 1.6-3.6 points against float (docs/learning.md section 15)
    grad: Format = field(default_factory=lambda: Format(16, 9))          # eps_j, ehat_ij, ghat_ij
    grade: Format = field(default_factory=lambda: Format(16, 8))         # S_i, d, D_o
    feedback: Format = field(default_factory=lambda: Format(16, 12))     # B_oi
    count_bits: int = 8                                                  # spike counts n_i

    # --- learning ---------------------------------------------------------------------------
    rule: Literal["sfdfa", "dfa", "readout"] = "sfdfa"
    #: learning rates are powers of two: eta = 2**-shift
    lr_hidden_shift: int = 15
    lr_output_shift: int = 7
    #: learning rates that change between epochs: ``(epoch, lr_hidden_shift, lr_output_shift)``
    #: entries, each in force from that epoch (2, 3, ...; ascending) on; epoch 1 and any epoch
    #: before the first entry use the two fields above. The host writes them to a board between
    #: epochs (``RATES``, docs/protocol.md): they are run-time fields, not baked into a bitstream
    lr_schedule: tuple[tuple[int, int, int], ...] = ()
    #: feedback learning rate alpha = 2**-feedback_shift (SFDFA only)
    feedback_shift: int = 8
    #: spike-count targets per sample: the label's output neuron and the others
    target_true: int = 16
    target_false: int = 4
    #: output errors are clipped to +-error_clip before use (None: unclipped). A neuron far over
    #: its target otherwise gets an update that grows with the square of its spike count.
    error_clip: int | None = 4
    #: local rate regulariser on hidden neurons: delta_i += 2**-rate_reg_shift * (rate_target - n_i);
    #: ``None`` switches it off
    rate_reg_shift: int | None = 1
    rate_target: int = 2
    #: keep the reset path of the eligibility trace (per-synapse ehat); False drops ehat
    reset_path: bool = True
    perturbation: Literal["rademacher", "gaussian"] = "rademacher"
    #: the output layer and its error (spec 6): ``spiking`` with the count error above (the
    #: thesis), or ``integrate`` (V_o = sum_i w_oi n_i) with a multiclass hinge error of margin
    #: ``hinge_margin``: the error of a linear readout, and no silent output (docs/learning.md 24)
    output_layer: Literal["spiking", "integrate"] = "spiking"
    #: the integrate layer's error: ``softmax`` (base 2) or ``hinge`` (margin ``hinge_margin``)
    output_loss: Literal["softmax", "hinge"] = "softmax"
    hinge_margin: float = 1.0
    #: the hidden eligibility (spec 5): the thesis's ``spike_time`` gradient, or a ``surrogate``
    #: that adds -eps_j at every step where |u_i - theta| <= surrogate_width * theta, spike or
    #: not, so a neuron below threshold still learns (e-prop / eRBP style; docs/learning.md 24)
    eligibility: Literal["spike_time", "surrogate"] = "spike_time"
    surrogate_width: float = 0.5

    # --- initial weights (host-side, numpy; not part of the circuit) -------------------------
    init_hidden: float = 4.0
    init_output: float = 1.0
    #: mean of the initial output weights; > 0 keeps every output neuron firing at the start (a
    #: silent output neuron gets no gradient and never learns back; see docs/learning.md)
    init_output_offset: float = 0.0
    init_feedback: float = 1.0

    # --- LFSR seeds (32-bit, non-zero) ------------------------------------------------------
    seed_perturb: int = 0x1BADB002
    seed_round: int = 0x2545F491

    def __post_init__(self):
        if isinstance(self.layers, list):
            object.__setattr__(self, "layers", tuple(self.layers))
        if isinstance(self.lr_schedule, (list, tuple)):
            object.__setattr__(self, "lr_schedule", tuple(
                tuple(entry) if isinstance(entry, (list, tuple)) else entry for entry in self.lr_schedule))
        for name in ("weight", "state", "trace", "grad", "grade", "feedback"):
            value = getattr(self, name)
            if isinstance(value, dict):
                try:
                    object.__setattr__(self, name, Format(**value))
                except TypeError as error:
                    raise ConfigError(f"{name} must have the fields bits, frac, signed: {error}") from None
        # reals are stored as floats so that tau=20 and tau=20.0 hash alike
        for name in ("tau", "tau_s", "threshold", "init_hidden", "init_output", "init_output_offset",
                     "init_feedback", "hinge_margin", "surrogate_width"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        self._validate()

    # ----------------------------------------------------------------------------------------
    def _validate(self):
        if not isinstance(self.layers, tuple) or len(self.layers) < 2:
            raise ConfigError(f"layers must list at least inputs and outputs, not {self.layers!r}")
        for k, size in enumerate(self.layers):
            _positive_int(f"layers[{k}]", size, limit=1 << 16)
        if self.rule not in RULES:
            raise ConfigError(f"rule must be one of {RULES}, not {self.rule!r}")
        if self.rule != "readout" and len(self.layers) < 3:
            raise ConfigError(f"rule {self.rule!r} needs at least one hidden layer; layers = {self.layers}")
        if self.perturbation not in PERTURBATIONS:
            raise ConfigError(f"perturbation must be one of {PERTURBATIONS}, not {self.perturbation!r}")

        if self.output_layer not in OUTPUT_LAYERS:
            raise ConfigError(f"output_layer must be one of {OUTPUT_LAYERS}, not {self.output_layer!r}")
        if self.output_loss not in OUTPUT_LOSSES:
            raise ConfigError(f"output_loss must be one of {OUTPUT_LOSSES}, not {self.output_loss!r}")
        if self.eligibility not in ELIGIBILITIES:
            raise ConfigError(f"eligibility must be one of {ELIGIBILITIES}, not {self.eligibility!r}")
        for name in ("hinge_margin", "surrogate_width"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value <= 0:
                raise ConfigError(f"{name} must be a positive finite number, not {value!r}")

        _positive_int("step_bits", self.step_bits, limit=16)
        _positive_int("n_steps", self.n_steps)
        _positive_int("input_window", self.input_window)
        if self.n_steps > (1 << self.step_bits) - 1:
            raise ConfigError(
                f"n_steps = {self.n_steps} exceeds the step counter: step_bits = {self.step_bits} "
                f"counts to {(1 << self.step_bits) - 1}")
        if self.input_window > self.n_steps:
            raise ConfigError(f"input_window = {self.input_window} exceeds n_steps = {self.n_steps}")

        for name in ("tau", "tau_s", "threshold"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"{name} must be a positive finite number, not {value!r}")
        if not math.isclose(self.tau, 2 * self.tau_s, rel_tol=1e-12):
            raise ConfigError(f"tau must equal 2 * tau_s (the closed form needs it): "
                              f"tau = {self.tau}, tau_s = {self.tau_s}")
        if self.tau < 1:
            raise ConfigError(f"tau = {self.tau} steps is below the limit of 1 step")

        for name in ("weight", "state", "trace", "grad", "grade", "feedback"):
            fmt = getattr(self, name)
            if not isinstance(fmt, Format):
                raise ConfigError(f"{name} must be a Format, not {fmt!r}")
            if not 2 <= fmt.bits <= 32:
                raise ConfigError(f"{name}.bits = {fmt.bits} is outside 2..32")
            if not 0 <= fmt.frac < fmt.bits + 16:
                raise ConfigError(f"{name}.frac = {fmt.frac} is outside 0..{fmt.bits + 15}")
        if self.trace.signed:
            raise ConfigError("trace must be unsigned: traces are sums of decaying spikes")
        if not (self.weight.signed and self.state.signed and self.grad.signed
                and self.grade.signed and self.feedback.signed):
            raise ConfigError("weight, state, grad, grade and feedback formats must be signed")
        if self.state.frac != self.weight.frac:
            raise ConfigError(f"state.frac = {self.state.frac} must equal weight.frac = "
                              f"{self.weight.frac}: weights are added to the neuron state as they are")
        if self.state.bits < self.weight.bits + 2:
            raise ConfigError(f"state.bits = {self.state.bits} must be at least weight.bits + 2 = "
                              f"{self.weight.bits + 2}")
        if self.trace.frac < self.grad.frac:
            raise ConfigError(f"trace.frac = {self.trace.frac} must be >= grad.frac = {self.grad.frac}: "
                              f"eps is formed by shifting the trace difference right")
        if self.feedback.frac < self.grade.frac:
            raise ConfigError(f"feedback.frac = {self.feedback.frac} must be >= grade.frac = "
                              f"{self.grade.frac}: D_o is shifted left into the feedback format")
        if self.trace.one > self.trace.hi:
            raise ConfigError(f"trace format {self.trace} cannot hold one spike (1.0)")
        if self.grade.one > self.grade.hi:
            raise ConfigError(f"grade format {self.grade} cannot hold a perturbation of 1.0")
        _positive_int("count_bits", self.count_bits, limit=16)
        if self.target_true >= (1 << self.count_bits) or self.target_false >= (1 << self.count_bits):
            raise ConfigError(f"targets ({self.target_true}, {self.target_false}) exceed the spike "
                              f"counter: count_bits = {self.count_bits}")
        if not 0 <= self.target_false <= self.target_true:
            raise ConfigError(f"targets must satisfy 0 <= target_false <= target_true, not "
                              f"({self.target_false}, {self.target_true})")
        if not 0 <= self.rate_target < (1 << self.count_bits):
            raise ConfigError(f"rate_target = {self.rate_target} is outside 0..{(1 << self.count_bits) - 1}")

        if self.error_clip is not None and (not isinstance(self.error_clip, int) or self.error_clip < 1):
            raise ConfigError(f"error_clip must be None or a positive integer, not {self.error_clip!r}")
        for name in ("lr_hidden_shift", "lr_output_shift", "feedback_shift"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 <= value <= 24:
                raise ConfigError(f"{name} must be an integer in 0..24, not {value!r}")
        if self.rate_reg_shift is not None and (
                not isinstance(self.rate_reg_shift, int) or not 0 <= self.rate_reg_shift <= self.feedback.frac):
            raise ConfigError(f"rate_reg_shift must be None or an integer in 0..feedback.frac "
                              f"({self.feedback.frac}), not {self.rate_reg_shift!r}")
        if not isinstance(self.init_output_offset, (int, float)) or not math.isfinite(self.init_output_offset):
            raise ConfigError(f"init_output_offset must be a finite number, not {self.init_output_offset!r}")
        if abs(self.init_output_offset) + self.init_output >= -self.weight.lo / self.weight.one:
            raise ConfigError(f"init_output_offset +- init_output exceeds the weight format {self.weight}")
        for name in ("init_hidden", "init_output", "init_feedback"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ConfigError(f"{name} must be a non-negative number, not {value!r}")
        if self.init_hidden >= -self.weight.lo / self.weight.one or \
                self.init_output >= -self.weight.lo / self.weight.one:
            raise ConfigError(f"initial weight scales exceed the weight format {self.weight} "
                              f"(range +-{-self.weight.lo / self.weight.one})")
        if self.init_feedback >= -self.feedback.lo / self.feedback.one:
            raise ConfigError(f"init_feedback = {self.init_feedback} exceeds the feedback format {self.feedback}")
        for name in ("seed_perturb", "seed_round"):
            value = getattr(self, name)
            if not isinstance(value, int) or not 0 < value < (1 << 32):
                raise ConfigError(f"{name} must be a non-zero 32-bit integer, not {value!r}")
        bad = self.first_bad_rate(self.lr_hidden_shift, self.lr_output_shift)
        if bad is not None:
            name = RATE_FIELDS[bad]
            lo, hi = self.lr_shift_range(name)
            raise ConfigError(f"{name} = {getattr(self, name)} makes the update shift "
                              f"{getattr(self, name) + self.update_offset(name)}, outside 0..31 "
                              f"(the rounding LFSR supplies 32 bits): {name} must be in {lo}..{hi}")
        self._validate_schedule()
        # a threshold that does not fit the weight format cannot be compared with the state
        if self.weight.quantize(self.threshold) < 1:
            raise ConfigError(f"threshold = {self.threshold} rounds to 0 in the weight format {self.weight}")

    def _validate_schedule(self):
        if not isinstance(self.lr_schedule, tuple):
            raise ConfigError(f"lr_schedule must be a list of [epoch, lr_hidden_shift, lr_output_shift] "
                              f"entries, not {self.lr_schedule!r}")
        previous = 1
        for k, entry in enumerate(self.lr_schedule):
            if not (isinstance(entry, tuple) and len(entry) == 3
                    and all(isinstance(v, int) and not isinstance(v, bool) for v in entry)):
                raise ConfigError(f"lr_schedule[{k}] = {entry!r} must be three integers "
                                  f"[epoch, lr_hidden_shift, lr_output_shift]")
            epoch = entry[0]
            if epoch <= previous:
                raise ConfigError(f"lr_schedule[{k}]: epoch {epoch} must be after epoch {previous} "
                                  f"(entries start at epoch 2 and ascend)")
            previous = epoch
            bad = self.first_bad_rate(*entry[1:])
            if bad is not None:
                name = RATE_FIELDS[bad]
                lo, hi = self.lr_shift_range(name)
                raise ConfigError(f"lr_schedule[{k}]: {name} = {entry[1 + bad]} is outside {lo}..{hi} "
                                  f"(the update shift must stay in 0..31)")

    @property
    def error_frac(self) -> int:
        """Fraction bits of the output error delta_o: ERROR_FRAC for the softmax, else 0."""
        return ERROR_FRAC if self.output_layer == "integrate" and self.output_loss == "softmax" else 0

    def update_offset(self, name: str) -> int:
        """What the fixed-point alignment adds to a learning-rate shift (spec 2)."""
        if name == "lr_hidden_shift":
            return self.feedback.frac + self.grad.frac - self.weight.frac + self.error_frac
        if name == "lr_output_shift":
            # integrate: the product delta_o * n_i is taken into weight words first
            if self.output_layer == "integrate":
                return self.error_frac
            return self.grad.frac - self.weight.frac
        raise KeyError(name)

    def lr_shift_range(self, name: str) -> tuple[int, int]:
        """The values ``name`` (``lr_hidden_shift`` or ``lr_output_shift``) may take with these
        formats: its update shift must lie in 0..31, and a board's ``RATES`` request carries it
        as one byte; and it is at most 24, like every shift of this class. The same range holds
        for the schedule and for what a board accepts."""
        offset = self.update_offset(name)
        return max(0, -offset), min(24, 31 - offset)

    def first_bad_rate(self, lr_hidden_shift, lr_output_shift) -> int | None:
        """Index in ``RATE_FIELDS`` of the first rate outside :meth:`lr_shift_range` (or not an
        integer), None when both are good: the one check of the configuration, its schedule,
        the host's ``Board.rates`` and the board's ``RATES`` (ARG detail)."""
        for k, (name, value) in enumerate(zip(RATE_FIELDS, (lr_hidden_shift, lr_output_shift))):
            lo, hi = self.lr_shift_range(name)
            if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
                return k
        return None

    def rates_at(self, epoch: int) -> tuple[int, int]:
        """``(lr_hidden_shift, lr_output_shift)`` in force in ``epoch`` (1-based)."""
        rates = (self.lr_hidden_shift, self.lr_output_shift)
        for start, hidden, output in self.lr_schedule:
            if start <= epoch:
                rates = (hidden, output)
        return rates

    def at_epoch(self, epoch: int) -> "Config":
        """This configuration with the learning rates of ``epoch`` in the two rate fields (the
        schedule itself kept): what the golden model runs that epoch with."""
        hidden, output = self.rates_at(epoch)
        if (hidden, output) == (self.lr_hidden_shift, self.lr_output_shift):
            return self
        return self.replace(lr_hidden_shift=hidden, lr_output_shift=output)

    # --- derived integers (the only numbers the fixed-point model and the RTL use) ------------
    @property
    def n_inputs(self) -> int:
        return self.layers[0]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1]

    @property
    def hidden_sizes(self) -> tuple[int, ...]:
        return self.layers[1:-1]

    @property
    def rho(self) -> float:
        return math.exp(-1.0 / self.tau)

    @property
    def rho_s(self) -> float:
        return math.exp(-1.0 / self.tau_s)

    @property
    def rho_q(self) -> int:
        """Membrane decay per step, unsigned 0.16."""
        return round(self.rho * (1 << DECAY_FRAC))

    @property
    def rho_s_q(self) -> int:
        """Synaptic decay per step, unsigned 0.16 (``rho_s = rho**2`` in exact arithmetic)."""
        return round(self.rho_s * (1 << DECAY_FRAC))

    @property
    def rho_pow_q(self) -> tuple[int, ...]:
        """``rho**k`` for k = 0..n_steps, unsigned 0.16 saturated at 0xFFFF: the lazy decay table
        of ehat. Entry 0 is 0xFFFF, not 1.0: a neuron cannot spike twice in one step, so it is
        never used."""
        top = (1 << DECAY_FRAC) - 1
        return tuple(min(top, round(self.rho ** k * (1 << DECAY_FRAC))) for k in range(self.n_steps + 1))

    @property
    def threshold_q(self) -> int:
        return self.weight.quantize(self.threshold)

    @property
    def hinge_margin_q(self) -> int:
        """The hinge margin in state words (V_o shares the state format)."""
        return self.state.quantize(self.hinge_margin)

    @property
    def surrogate_width_q(self) -> int:
        """Half-width of the surrogate gate around theta, in state words."""
        return self.state.quantize(self.surrogate_width * self.threshold)

    @property
    def hidden_update_shift(self) -> int:
        """Right shift taking delta_i * ghat_ij (feedback.frac + grad.frac) to a weight step."""
        return self.update_offset("lr_hidden_shift") + self.lr_hidden_shift

    @property
    def output_update_shift(self) -> int:
        """Right shift taking delta_o * ghat_oi (grad.frac) to a weight step; for an integrate
        output layer, taking delta_o * n_i (an integer, written in weight words) to one."""
        return self.update_offset("lr_output_shift") + self.lr_output_shift

    @property
    def learns_hidden(self) -> bool:
        return self.rule in ("sfdfa", "dfa")

    @property
    def learns_feedback(self) -> bool:
        return self.rule == "sfdfa"

    # --- serialisation ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict) -> "Config":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown configuration field(s): {', '.join(unknown)}")
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> "Config":
        return cls.from_dict(json.loads(text))

    def replace(self, **changes) -> "Config":
        return dataclasses.replace(self, **changes)

    CORE_FIELDS = ("layers", "n_steps", "step_bits", "tau", "tau_s", "threshold", "weight", "state",
                   "trace", "grad", "grade", "feedback", "count_bits", "reset_path", "output_layer",
                   "output_loss", "eligibility")

    @property
    def hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the canonical JSON of every field."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]

    #: set at run time by the host (LFSR seeds through the SEEDS command, initial weights through
    #: memory writes, learning rates through RATES): not baked into a bitstream
    RUNTIME_FIELDS = ("seed_perturb", "seed_round", "init_hidden", "init_output",
                      "init_output_offset", "init_feedback", "lr_hidden_shift", "lr_output_shift",
                      "lr_schedule")

    @property
    def board_hash(self) -> str:
        """Hash of every field a bitstream bakes in (all but ``RUNTIME_FIELDS``); a board reports
        it (docs/protocol.md, IDENTIFY) and the host refuses a board whose hash differs."""
        fields = {k: v for k, v in self.to_dict().items() if k not in self.RUNTIME_FIELDS}
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def core_hash(self) -> str:
        """Hash of the fields that change the circuit; a bitstream reports it."""
        core = {name: self.to_dict()[name] for name in self.CORE_FIELDS}
        return hashlib.sha256(json.dumps(core, sort_keys=True).encode()).hexdigest()[:16]
