"""The cycle models of the kinds of core, in plain Python: clocks per ``STEP``, ``SAMPLE`` and
``LEARN`` as the RTL takes them (``docs/rtl.md``).

Each model is the :class:`~.memmap.MemoryMap` of its core plus the latencies its memories have and
the clocks its engines take; the RTL cores (``rtl/core.py``, ``rtl/seqcore.py``) inherit them, so
the latencies an elaboration uses and the ones the model counts are one definition. The lock-step
tests (``tests/rtl/test_core.py``, ``sim/tb_core.py``) assert every count against the circuit.
Throughput estimates (``boards/``, ``bench/rtl.py``) and the host use :func:`core_model` and
never import Amaranth.

* ``"pipelined"``: :class:`PipelinedCycles`, three engines side by side, memories with read
  registers (the ECP5 at 50 MHz);
* ``"compact"``: the same without the read registers (``compact=True``);
* ``"sequenced"``: :class:`SequencedCycles`, one datapath and one multiplier (the iCE40 UP5K).
"""

from __future__ import annotations

from plasticore.golden.config import DECAY_FRAC, ERROR_FRAC, Config

from .memmap import MemoryMap

__all__ = ["CORE_KINDS", "PipelinedCycles", "SequencedCycles", "core_model", "check_kind",
           "RECIPROCAL_CLOCKS", "SOFTMAX_DELTA_CLOCKS", "BANK_READ_LATENCY", "unsupported_rule"]

CORE_KINDS = ("pipelined", "compact", "sequenced")

#: clocks from a read of a banked memory to its data (``rtl/bankmem.py``: address and data
#: registered)
BANK_READ_LATENCY = 3

#: clocks from a reciprocal's start to its result being taken (rtl/reciprocal.py: 1 + 16, and
#: the clock that starts it)
RECIPROCAL_CLOCKS = DECAY_FRAC + 2

#: clocks the softmax error unit (rtl/softmax.py) spends on each delta_o once it has every V_o:
#: a load, one per quotient bit (ERROR_FRAC + 1), the transfer
SOFTMAX_DELTA_CLOCKS = ERROR_FRAC + 3


def check_kind(kind: str) -> None:
    if kind not in CORE_KINDS:
        raise ValueError(f"core kind must be one of {', '.join(CORE_KINDS)}, not {kind!r}")


def unsupported_rule(config: Config, kind: str) -> str | None:
    """What of ``config``'s learning rule a core of ``kind`` does not implement, as a phrase
    naming the field and value ("has no output_loss='hinge'"), or None when it implements it
    all. The cores refuse such a configuration at elaboration, the host a board of that kind."""
    check_kind(kind)    # every kind implements the same options (rtl/core.py, rtl/seqcore.py)
    if config.output_layer == "integrate":
        if config.output_loss != "softmax":
            return (f"has no output_loss={config.output_loss!r} (output_layer='integrate' "
                    f"takes 'softmax')")
        if not config.hidden_sizes:
            return (f"has no output_layer='integrate' without a hidden layer (its update uses "
                    f"the hidden counts n_i; layers {config.layers})")
    return None


def core_model(config: Config, kind: str = "pipelined") -> "PipelinedCycles | SequencedCycles":
    """The memory map and cycle model of a core of ``kind`` for ``config``."""
    check_kind(kind)
    if kind == "sequenced":
        return SequencedCycles(config)
    return PipelinedCycles(config, compact=kind == "compact")


class PipelinedCycles(MemoryMap):
    """The pipelined core's memory map and cycle model (``rtl/core.py``); ``compact=True``: the
    same core without the read registers, every memory answering the clock after a read."""

    #: clocks from a read of WEIGHT, GRAD or FEEDBACK to its data (rtl/bankmem.py), and the
    #: clocks that adds to the pipelines that read them; host access reads have this latency
    #: (1 and 0 for a ``compact`` core)
    READ_LATENCY = BANK_READ_LATENCY
    READ_DELAY = BANK_READ_LATENCY - 1
    #: whether ``access.rdata`` keeps a read's word until the next read (it does not here: the
    #: read registers move on every clock)
    READ_HOLDS = False
    #: clocks from a read of STATE, TRACE/errors or PERTURB to its data: their block RAMs' output
    #: registered once (timing: a small block RAM far from the multiplier it feeds)
    SMALL_READ_LATENCY = 2
    #: clocks from a read of the spike lists to the entry, registered once (timing: the entry's
    #: input index forms the weight address, which fans out to every WEIGHT bank)
    LIST_READ_LATENCY = 2

    def __init__(self, config: Config, *, compact: bool = False):
        if not isinstance(compact, bool):
            raise TypeError(f"compact must be a bool, not {compact!r}")
        super().__init__(config)
        self.compact = compact
        #: the kind of core (``CORE_KINDS``)
        self.kind = "compact" if compact else "pipelined"
        if compact:
            self.READ_LATENCY, self.READ_DELAY = 1, 0
            self.SMALL_READ_LATENCY = self.LIST_READ_LATENCY = 1
        #: clocks from a spike's detection to the start of its reciprocal (queue) and from the
        #: last synapse update issued to the layer switch (drain); only their sum is observable
        self.ELIG_QUEUE = 1 + self.LIST_READ_LATENCY + self.READ_DELAY
        #: clocks from a queued neuron's start to its synapse loop: the reciprocal's, or none
        #: for the surrogate eligibility (spec 5.2), whose queue head starts the loop itself
        self.ELIG_START = 0 if config.eligibility == "surrogate" else RECIPROCAL_CLOCKS - 1
        self.ELIG_DRAIN = 4 + self.READ_DELAY
        sizes = config.layers
        #: TRACE holds two inputs per word (the trace pass does two per clock); each layer's
        #: inputs start a word of their own, so a layer with an odd input count leaves one lane
        #: unused. Host addresses stay ``trace_base[l] + j`` (the core translates them)
        self.trace_words = [(sizes[k] + 1) // 2 for k in range(self.n_layers)]
        self.trace_word_base = [sum(self.trace_words[:k]) for k in range(self.n_layers)]
        self.n_trace_words = sum(self.trace_words)
        #: words of the per-layer marks and eps memories (two inputs each)
        self.half_inputs = (self.max_inputs + 1) // 2
        #: eps banks (layer parity), so that a layer's eligibility overlaps the next layer
        self.eps_banks = 2 if self.n_layers > 1 else 1
        #: neurons waiting for the eligibility engine: a layer's and the next one's at most
        self.elig_queue_depth = max(2, max(sizes[k + 1] + (sizes[k + 2] if k + 2 < len(sizes) else 0)
                                           for k in range(self.n_layers)))

    def step_timing(self, listed, spikers) -> dict:
        """Clocks of one step with ``listed[k]`` spiking inputs and the neurons ``spikers[k]``
        (ascending) of layer ``k`` queued for the eligibility engine (the spiking ones; with the
        surrogate eligibility the gated hidden ones, spec 5.2): ``{"clocks", "layers"}``,
        ``clocks`` from the
        transfer of ``STEP`` to ``done``, and per layer ``{"start", "loop", "trace",
        "elig_start", "elig_end", "updates"}`` (times from the transfer + 1; ``elig_*`` None
        when no neuron of the layer spiked). Layer k+1 starts when layer k's neuron loop and
        trace pass are done and no neuron of layer k-1 waits for the eligibility engine (their
        eps bank is the one layer k+1 writes); the step ends when every layer is done and the
        engine has drained. The engine serves the neurons of all layers in order: a reciprocal
        starts when the neuron's spike is queued and the previous result has been taken, and a
        result is taken when the synapse loop of the previous neuron (over its layer's inputs)
        ends (docs/rtl.md)."""
        cfg = self._config
        t = 0
        handoff, run_inputs = None, 0       # the last reciprocal result taken, its synapse count
        bank_end = [0, 0]                   # when each eps bank's queued neurons are written back
        layers = []
        for k, K in enumerate(listed):
            n, j = cfg.layers[k + 1], cfg.layers[k]
            tokens = max(K, 1)
            loop = n * tokens + 3 + self.LIST_READ_LATENCY + self.READ_DELAY
            trace = self.trace_words[k] + 1 + self.SMALL_READ_LATENCY
            first = end = None
            for i in spikers[k]:            # the queue is in neuron order
                start = t + (i + 1) * tokens + 1 + self.ELIG_QUEUE      # the reciprocal starts
                if handoff is not None:
                    start = max(start, handoff)
                handoff = max(start + self.ELIG_START,
                              handoff + run_inputs if handoff is not None else 0)
                run_inputs = j
                first = handoff if first is None else first
            if first is not None:
                end = bank_end[k % 2] = handoff + j + self.ELIG_DRAIN
            layers.append({"start": t, "loop": loop, "trace": trace, "elig_start": first,
                           "elig_end": end, "updates": len(spikers[k]) * j})
            if k + 1 < len(listed):
                t = max(t + max(loop, trace), bank_end[(k + 1) % 2])
            else:
                t = max(t + max(loop, trace), *bank_end)
        return {"clocks": 1 + t, "layers": layers}

    def step_cycles(self, listed, spikers) -> int:
        """Clocks from the transfer of ``STEP`` to ``done`` (:meth:`step_timing`)."""
        return self.step_timing(listed, spikers)["clocks"]

    @property
    def clear_words(self) -> int:
        """Addresses ``SAMPLE`` visits with a clean ``GRAD``: state words, trace words (two
        inputs each), marks words and one perturbation draw per hidden neuron, in parallel."""
        return max(self.n_neurons, self.n_trace_words, self.half_inputs, self.n_hidden)

    def sample_cycles(self, grad_dirty: bool = False) -> int:
        """Clocks from the transfer of ``SAMPLE`` to ``done``: the ``CLEAR`` state visits
        ``0 .. clear_words`` (``n_weights`` when ``GRAD`` is dirty, i.e. not after a ``LEARN``
        of rule ``sfdfa``/``dfa``) plus the transfer clock."""
        return max(self.clear_words, self.n_weights if grad_dirty else 0) + 2

    def learn_cycles(self, lr_hidden_shift: int | None = None, lr_output_shift: int | None = None) -> int:
        """Clocks from the transfer of ``LEARN`` to ``done`` (independent of the data and of the
        learning rates, which the signature takes for the other kinds of core)."""
        cfg, X = self._config, self.READ_DELAY
        O, S = cfg.n_outputs, self.SMALL_READ_LATENCY
        if cfg.output_layer == "integrate":
            # phase A: a V_max pass, a pass streaming V_o to the softmax unit, its deltas
            clocks = 2 * (O + S) + O * SOFTMAX_DELTA_CLOCKS + 1
        else:
            clocks = O + S + 1                                           # phase A + switch
        if cfg.learns_hidden:
            clocks += self.n_hidden * cfg.n_outputs + 1 + 1 + X            # phase B
        words = self.n_weights if cfg.learns_hidden else self.n_weights - self.weight_base[-1]
        clocks += words + 2 + 1 + X                                      # phase C
        if cfg.learns_feedback:
            clocks += self.n_feedback + 1 + 1 + X                        # phase D
        return clocks


class SequencedCycles(MemoryMap):
    """The sequenced core's memory map and cycle model (``rtl/seqcore.py``): every memory answers
    the clock after a read (``READ_LATENCY`` 1)."""

    READ_LATENCY = 1
    #: ``access.rdata`` keeps a read's word until the next read (the link sends it from there)
    READ_HOLDS = True
    READ_DELAY = 0
    SMALL_READ_LATENCY = 1
    LIST_READ_LATENCY = 1
    compact = True
    kind = "sequenced"
    #: clocks per delta_o of the softmax unit (rtl/softmax_seq.py): ERROR_FRAC + 1 quotient
    #: bits, the clock that writes it and loads the next
    SOFTMAX_CLOCKS = ERROR_FRAC + 2

    @property
    def spike_time(self) -> bool:
        """The thesis's spike-time eligibility (the reciprocal unit); else the surrogate's."""
        return self._config.eligibility == "spike_time"

    @property
    def integrate(self) -> bool:
        """An integrate output layer (spec 5.5): no trace pass, no decay, threshold or reset."""
        return self._config.output_layer == "integrate"

    def sample_cycles(self, grad_dirty: bool = False) -> int:
        """Clocks from the transfer of ``SAMPLE`` to ``done``: the clear visits ``0 ..
        clear_words`` (``n_weights`` when ``GRAD`` is dirty) plus the transfer clock."""
        return max(self.clear_words, self.n_weights if grad_dirty else 0) + 2

    def step_timing(self, listed, spikers, gated=None) -> dict:
        """Clocks of one step, ``listed[k]`` spiking inputs and spiking neurons ``spikers[k]`` of
        layer ``k`` (with the surrogate eligibility, ``gated[k]`` the neurons its gate opened;
        none when not given): ``{"clocks", "layers"}`` with per layer ``{"start", "trace",
        "loop", "elig", "updates"}`` (clocks from the transfer + 1; ``elig``: the loop's clocks
        spent on reciprocals and eligibility updates, of which there are ``updates``). A spiking
        neuron's eligibility takes the reciprocal and 4 clocks per synapse, a gated neuron's
        surrogate update 2 per synapse and one more; an integrate output layer has no trace pass
        and 2 clocks less per neuron (no decays, no threshold)."""
        cfg = self._config
        t, layers = 0, []
        for k, K in enumerate(listed):
            n, j = cfg.layers[k + 1], cfg.layers[k]
            if self.integrate and k == len(listed) - 1:
                trace, elig, updates, per_neuron = 1, 0, 0, 3
            elif self.spike_time:
                trace, per_neuron = 1 + 2 * j, 5
                elig = len(spikers[k]) * (RECIPROCAL_CLOCKS + 4 * j)
                updates = len(spikers[k]) * j
            else:
                trace, per_neuron = 1 + 2 * j, 5
                n_gated = len(gated[k]) if gated is not None else 0
                elig, updates = n_gated * (2 * j + 1), n_gated * j
            loop = 1 + n * (per_neuron + 2 * K) + elig
            layers.append({"start": t, "trace": trace, "loop": loop, "elig": elig,
                           "updates": updates})
            t += trace + loop
        return {"clocks": t + 1, "layers": layers}

    def step_cycles(self, listed, spikers, gated=None) -> int:
        return self.step_timing(listed, spikers, gated)["clocks"]

    @property
    def clear_words(self) -> int:
        """Addresses ``SAMPLE`` visits with a clean ``GRAD``."""
        return max(self.n_neurons, self.n_traces, self.max_inputs, self.n_hidden)

    def learn_cycles(self, lr_hidden_shift: int | None = None, lr_output_shift: int | None = None) -> int:
        """Clocks from the transfer of ``LEARN`` to ``done``, at the learning rates given (the
        configuration's by default): phase C shifts each update by its layer's ``k``, 4 bits per
        clock and then 1."""
        cfg, O = self._config, self._config.n_outputs
        rates = {"lr_hidden_shift": lr_hidden_shift, "lr_output_shift": lr_output_shift}
        k = {name: cfg.update_offset(name) + (getattr(cfg, name) if v is None else v)
             for name, v in rates.items()}
        per_word = {name: 5 + v // 4 + v % 4 for name, v in k.items()}
        if self.integrate:     # phase A: V_max, V_o into the softmax unit's sum, its last
            # term, the first load, delta_o out
            clocks = 3 + 2 * O + self.SOFTMAX_CLOCKS * O
        else:
            clocks = 1 + O                                         # phase A
        if cfg.learns_hidden:
            clocks += self.n_hidden * (2 * O + 1)                  # phase B
            clocks += self.weight_base[-1] * per_word["lr_hidden_shift"]      # phase C
        clocks += (self.n_weights - self.weight_base[-1]) * per_word["lr_output_shift"]
        if cfg.learns_feedback:
            clocks += 4 * self.n_feedback                          # phase D
        return clocks + 1
