"""The core's memory map, in plain Python: what the access port addresses and what each word holds.

Every kind of core (``rtl/core.py``, ``rtl/seqcore.py``) builds its memories and its access port
from a :class:`MemoryMap`, and the host (``host/board.py``, ``host/emulator.py``) reads and writes
words through the same one, so the host talks to a board without importing Amaranth. Word layouts
are lists of fields, lowest bits first, as ``amaranth.lib.data.StructLayout`` lays out the same
fields (the RTL builds its layouts from :attr:`MemoryMap.fields`).
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from plasticore.golden.config import Config
from plasticore.golden.network import FLAG_NAMES

__all__ = ["Cmd", "Mem", "Field", "MemoryMap", "address_bits", "flags_word"]


class Cmd(enum.IntEnum):
    """Command of an input event (the core's ``events`` stream)."""
    SPIKE = 0   #: input ``addr`` spikes in the coming step
    STEP = 1    #: end of the step's input events: run the step
    SAMPLE = 2  #: start a sample: clear the state, draw the perturbations (spec 4.1)
    LEARN = 3   #: end of sample: the learning sequence of spec 6, label ``addr``


class Mem(enum.IntEnum):
    """Memory selected by the access port."""
    WEIGHT = 0   #: one weight per synapse, layers concatenated, row-major (neuron, input)
    STATE = 1    #: one word per neuron (layers concatenated): ``fields[Mem.STATE]``
    TRACE = 2    #: one word per layer input (layers' inputs concatenated): ``fields[Mem.TRACE]``
    PERTURB = 3  #: one bit per hidden neuron: 1 for p = +1.0, 0 for -1.0 (read only)
    GRAD = 4     #: one word per synapse (addressed like WEIGHT): ``fields[Mem.GRAD]`` {ghat, ehat}
    #: one word per (output, hidden) pair, hidden layers concatenated, row-major (o, i)
    FEEDBACK = 5


class Field(NamedTuple):
    """One field of a memory word: ``width`` bits at ``offset``, two's complement if ``signed``."""
    name: str
    width: int
    signed: bool
    offset: int


def address_bits(n: int) -> int:
    """Bits of an index below ``n`` (at least 1)."""
    return max(1, (n - 1).bit_length())


def _fields(*spec) -> tuple[Field, ...]:
    out, offset = [], 0
    for name, width, signed in spec:
        out.append(Field(name, width, signed, offset))
        offset += width
    return tuple(out)


def flags_word(net) -> int:
    """The sticky overflow flags of a golden network (replica 0) as the core's status word
    (bit k = ``FLAG_NAMES[k]``)."""
    return sum(int(net.flags[name][0]) << k for k, name in enumerate(FLAG_NAMES))


class MemoryMap:
    """The memories of a core for a :class:`Config`: their bases, depths and word layouts
    (``docs/rtl.md``, "Memory map"; ``docs/spec.md`` section 9 for the fields)."""

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        self._config = cfg = config
        sizes = cfg.layers
        self.n_layers = len(sizes) - 1
        self.neuron_base = [sum(sizes[1:1 + k]) for k in range(self.n_layers)]
        self.trace_base = [sum(sizes[:k]) for k in range(self.n_layers)]
        self.weight_base = [sum(sizes[q + 1] * sizes[q] for q in range(k))
                            for k in range(self.n_layers)]
        self.n_neurons = sum(sizes[1:])
        self.n_traces = sum(sizes[:-1])
        self.n_weights = sum(sizes[k + 1] * sizes[k] for k in range(self.n_layers))
        self.n_hidden = sum(cfg.hidden_sizes)
        self.max_inputs = max(sizes[:-1])
        self.max_neurons = max(sizes[1:])
        hs = cfg.hidden_sizes
        self.feedback_base = [sum(cfg.n_outputs * hs[q] for q in range(k)) for k in range(len(hs))]
        self.n_feedback = cfg.n_outputs * sum(hs)
        #: the fields of the words of STATE, TRACE and GRAD (WEIGHT, FEEDBACK: one signed integer;
        #: PERTURB: one bit)
        self.fields = {
            Mem.STATE: _fields(("a", cfg.state.bits, True), ("c", cfg.state.bits, True),
                               ("grade_sum", cfg.grade.bits, True),
                               ("grade_total", cfg.grade.bits, True),
                               ("count", cfg.count_bits, False),
                               ("last_step", cfg.step_bits, False)),
            Mem.TRACE: _fields(("x", cfg.trace.bits, False), ("y", cfg.trace.bits, False)),
            Mem.GRAD: _fields(("ghat", cfg.grad.bits, True),
                              *((("ehat", cfg.grad.bits, True),) if cfg.reset_path else ())),
        }
        self.data_width = max(cfg.weight.bits, cfg.feedback.bits,
                              *(self.word_size(mem) for mem in self.fields))
        self.addr_width = address_bits(max(self.n_weights, self.n_neurons, self.n_traces,
                                           self.n_hidden, self.n_feedback, 2))

    @property
    def config(self) -> Config:
        return self._config

    @property
    def depths(self) -> dict:
        """Words of each memory the access port reaches (PERTURB: at least one)."""
        return {Mem.WEIGHT: self.n_weights, Mem.STATE: self.n_neurons, Mem.TRACE: self.n_traces,
                Mem.PERTURB: max(1, self.n_hidden), Mem.GRAD: self.n_weights,
                Mem.FEEDBACK: self.n_feedback}

    def word_size(self, mem: Mem) -> int:
        """Bits of a word of ``mem``."""
        if mem in self.fields:
            return sum(f.width for f in self.fields[mem])
        cfg = self._config
        return {Mem.WEIGHT: cfg.weight.bits, Mem.FEEDBACK: cfg.feedback.bits}.get(mem, 1)

    def field(self, mem: Mem, name: str) -> Field:
        """The field ``name`` of a word of ``mem``."""
        return next(f for f in self.fields[mem] if f.name == name)

    def decode(self, mem: Mem, raw: int):
        """The fields of a raw access word as a dict of ints (signed where the field is); WEIGHT,
        FEEDBACK (signed) and PERTURB as one int."""
        fields = self.fields.get(mem)
        if fields is None:
            bits = self.word_size(mem)
            raw &= (1 << bits) - 1
            return raw - (1 << bits) if mem != Mem.PERTURB and raw >> (bits - 1) else raw
        out = {}
        for f in fields:
            v = (raw >> f.offset) & ((1 << f.width) - 1)
            out[f.name] = v - (1 << f.width) if f.signed and v >> (f.width - 1) else v
        return out

    def encode(self, mem: Mem, value) -> int:
        """A raw access word from an int (weights, feedback) or a dict of fields (state, trace,
        grad)."""
        fields = self.fields.get(mem)
        if fields is None:
            return int(value) & ((1 << self.word_size(mem)) - 1)
        raw = 0
        for f in fields:
            raw |= (int(value.get(f.name, 0)) & ((1 << f.width) - 1)) << f.offset
        return raw
