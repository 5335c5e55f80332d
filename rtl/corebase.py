"""What every kind of core shares: the interface (ports and layouts), the memory map's Amaranth
side, and the pieces of the command sequencer that are the same in each (``docs/rtl.md``).

The kinds of core (``rtl/core.py``: pipelined, compact; ``rtl/seqcore.py``: sequenced) are
siblings: each is its cycle model (``chip/cycles.py``, which holds its memory map and latencies)
and this base, and has its own ``elaborate``.
"""

from types import SimpleNamespace

from amaranth import Cat, Module, Shape, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore.chip import memmap
from plasticore.chip.memmap import Field
from plasticore.golden.network import FLAG_NAMES

from .datapath import _bits
from .lfsr import LFSR

__all__ = ["CoreBase", "Cmd", "Mem", "Wires"]


class Wires(SimpleNamespace):
    """What the engines of a core's ``elaborate`` hand each other, by name: memory ports, shared
    registers, pipeline stages. Each engine method takes what it reads and puts what later
    engines read, so the names say where a signal comes from."""

    def take(self, names: str) -> tuple:
        return tuple(getattr(self, name) for name in names.split())

    def put(self, **values) -> None:
        vars(self).update(values)


def _circuit_enum(plain):
    """The plain enumeration ``plain`` (``chip/memmap.py``) as an Amaranth one of the same
    members: its signals are views (``Signal(Mem)``), its members equal the plain ones (same
    values and hashes), so that words keyed by either kind find each other."""
    namespace = enum.EnumType.__prepare__(plain.__name__, (enum.IntEnum,))
    for member in plain:
        namespace[member.name] = member.value
    cls = enum.EnumType(plain.__name__, (enum.IntEnum,), namespace, shape=Shape.cast(plain),
                        view_class=enum.EnumView)
    cls.__doc__, cls.__module__ = plain.__doc__, __name__
    return cls


#: the event commands and the access port's memory select, as the circuit uses them
Cmd = _circuit_enum(memmap.Cmd)
Mem = _circuit_enum(memmap.Mem)


def _struct(fields: "tuple[Field, ...]") -> data.StructLayout:
    """The Amaranth layout of a memory word of the memory map (``chip/memmap.py``)."""
    return data.StructLayout({f.name: signed(f.width) if f.signed else unsigned(f.width)
                              for f in fields})


class CoreBase(wiring.Component):
    """The ports of a Plasticore core. A subclass is also a cycle model (``chip/cycles.py``):
    the memory map's sizes, fields and latencies are set before :meth:`__init__` is called.

    Attributes
    ----------
    events : In(stream.Signature(event_layout))
        ``{cmd: Cmd, addr}``; taken (``ready``) only while idle.
    busy : Out(1)
        A step or a sample reset is running.
    done : Out(1)
        One-cycle pulse at the end of a step or a reset.
    step : Out(step_bits)
        Steps run since the last ``SAMPLE``.
    monitor : Out(monitor_layout)
        ``{valid, layer, neuron, step}``: one-cycle strobe per spike, in layer then neuron order.
        No back-pressure: a watcher must sample it every cycle.
    access : Out(access signature)
        Memory port for the host and the tests, idle only: ``mem`` (Mem), ``addr``, ``en``,
        ``we``, ``wdata``; ``rdata`` holds the word the cycle after a read (``en & ~we``).
    flags : Out(len(FLAG_NAMES))
        Sticky overflow flags (spec 8), bit ``k`` is ``FLAG_NAMES[k]``; ``flags_clear`` clears
        the flags whose bits are set.
    seed : In(32), seed_load : In(1)
        Writes the perturbation LFSR (spec 7).
    rates : In(rates_layout), rates_load : In(1)
        ``{hidden, output}``: writes the learning-rate shifts ``lr_hidden_shift`` and
        ``lr_output_shift`` (spec 6.3) used from the next ``LEARN`` on; values outside
        ``config.lr_shift_range`` are the caller's to refuse (the link answers ``ARG``). At
        power-up they are the configuration's. ``rates_now`` reads them back.
    """

    def __init__(self):
        cfg = self._config
        self.state_layout = _struct(self.fields[Mem.STATE])
        self.grad_layout = _struct(self.fields[Mem.GRAD])
        self.trace_layout = _struct(self.fields[Mem.TRACE])
        self.event_layout = data.StructLayout({"cmd": Cmd, "addr": unsigned(_bits(cfg.n_inputs))})
        self.rates_layout = data.StructLayout({"hidden": 8, "output": 8})
        self.monitor_layout = data.StructLayout({
            "valid": 1, "layer": unsigned(_bits(self.n_layers)),
            "neuron": unsigned(_bits(self.max_neurons)), "step": unsigned(cfg.step_bits)})
        access = wiring.Signature({
            "mem": Out(Mem), "addr": Out(self.addr_width), "en": Out(1), "we": Out(1),
            "wdata": Out(self.data_width), "rdata": In(self.data_width)})
        wiring.Component.__init__(self, {
            "events": In(stream.Signature(self.event_layout)),
            "busy": Out(1), "done": Out(1), "step": Out(cfg.step_bits),
            "monitor": Out(self.monitor_layout),
            "access": In(access),
            "flags": Out(len(FLAG_NAMES)), "flags_clear": In(len(FLAG_NAMES)),
            "seed": In(32), "seed_load": In(1),
            "round_seed": In(32), "round_seed_load": In(1),
            "perturb_state": Out(32), "round_state": Out(32),
            "rates": In(self.rates_layout), "rates_load": In(1), "rates_now": Out(self.rates_layout),
        })

    #: the names of the engine methods, in the order ``elaborate`` runs them (each subclass's)
    ENGINES = ()

    def elaborate(self, platform):
        """The sticky flags, then every engine of :attr:`ENGINES` in order: each takes the
        signals it reads from the ones before it and puts those later ones read (:class:`Wires`)."""
        m = Module()
        cfg = self._config
        flag = self._sticky_flags(m)
        e = Wires(platform=platform, cfg=cfg, L=self.n_layers, O=cfg.n_outputs, flag=flag)
        for engine in self.ENGINES:
            getattr(self, engine)(m, e)
        return m

    @classmethod
    def model(cls, config, **kwargs):
        """A core used only for its pure-Python side (memory map, ``encode``/``decode``, cycle
        model), never elaborated: Amaranth is told not to warn that it went unused. (Without the
        circuit, ``chip.cycles.core_model`` is the same model.)"""
        core = cls(config, **kwargs)
        core._MustUse__silence = True
        return core

    def _sticky_flags(self, m):
        """The overflow flags of spec 8: ``{name: raise}``, each raise a one-clock strobe that
        sets its sticky bit of ``flags`` until the host clears it."""
        flag = {name: Signal(name=f"raise_{name}") for name in FLAG_NAMES}
        flags = Signal(len(FLAG_NAMES))
        m.d.comb += self.flags.eq(flags)
        m.d.sync += flags.eq((flags & ~self.flags_clear) | Cat(flag[n] for n in FLAG_NAMES))
        return flag

    def _clear_step(self, m, lfsr, draw, clr, clr_end, grad_dirty):
        """One clock of ``SAMPLE``'s clear (the caller zeroes the memories at ``clr``): a
        perturbation draw per hidden neuron (spec 7, written the next clock through ``draw``),
        then ``done`` and a clean GRAD at ``clr_end``."""
        with m.If(clr < self.n_hidden):
            m.d.comb += lfsr.advance.eq(1)
            m.d.sync += [draw.valid.eq(1), draw.addr.eq(clr)]
        m.d.sync += clr.eq(clr + 1)
        with m.If(clr == clr_end):
            m.d.sync += [self.done.eq(1), grad_dirty.eq(0)]
            m.next = "IDLE"

    def _dispatch(self, m, ev, n_in, *, spike, step, sample, learn):
        """IDLE's command dispatch (docs/spec.md section 4), the same in every kind of core: SPIKE
        lists input ``ev.addr`` (``spike``: the writes to the spike list and the marks; at most
        ``n_inputs`` events per step), STEP, SAMPLE and LEARN start their sequences (``step``,
        ``sample``, ``learn``: the registers each sets and the state it goes to)."""
        with m.If(self.events.valid):
            with m.Switch(ev.cmd):
                with m.Case(Cmd.SPIKE):
                    with m.If(n_in < self._config.n_inputs):
                        m.d.comb += spike
                        m.d.sync += n_in.eq(n_in + 1)
                for cmd, (assignments, state) in ((Cmd.STEP, step), (Cmd.SAMPLE, sample),
                                                  (Cmd.LEARN, learn)):
                    with m.Case(cmd):
                        m.d.sync += assignments
                        m.next = state

    def _next_feedback_word(self, m, addr, i, o, layer, n_of):
        """Advance ``(addr, i, o, layer)`` to the next FEEDBACK word, row-major ``(o, i)`` per
        hidden layer of ``n_of`` neurons (spec 6.4, LEARN phase D); returns whether ``addr`` is
        the last word."""
        m.d.sync += [addr.eq(addr + 1), i.eq(i + 1)]
        with m.If(i == n_of - 1):
            m.d.sync += [i.eq(0), o.eq(o + 1)]
            with m.If(o == self._config.n_outputs - 1):
                m.d.sync += [o.eq(0), layer.eq(layer + 1)]
        return addr == self.n_feedback - 1

    def _random_bits(self, m):
        """The two LFSRs of spec 7 (``lfsr_perturb``, ``lfsr_round``) on the seed ports."""
        cfg = self._config
        m.submodules.lfsr = lfsr = LFSR(init=cfg.seed_perturb)
        m.d.comb += [lfsr.seed.eq(self.seed), lfsr.load.eq(self.seed_load),
                     self.perturb_state.eq(lfsr.value)]
        m.submodules.lfsr_round = rlfsr = LFSR(init=cfg.seed_round)
        m.d.comb += [rlfsr.seed.eq(self.round_seed), rlfsr.load.eq(self.round_seed_load),
                     self.round_state.eq(rlfsr.value)]
        return lfsr, rlfsr

    def _update_shifts(self, m):
        """The learning rates (spec 6.3), written by the host between samples, kept as the
        update shifts they give: ``(k_hid, k_out, new_hid, new_out)``, the last two the shifts
        being loaded (valid while ``rates_load``)."""
        cfg = self._config
        off_hid, off_out = cfg.update_offset("lr_hidden_shift"), cfg.update_offset("lr_output_shift")
        lr_hid = Signal(8, init=cfg.lr_hidden_shift)
        lr_out = Signal(8, init=cfg.lr_output_shift)
        k_hid = Signal(5, init=cfg.hidden_update_shift)
        k_out = Signal(5, init=cfg.output_update_shift)
        new_hid = (self.rates.hidden + off_hid)[:5]
        new_out = (self.rates.output + off_out)[:5]
        m.d.comb += [self.rates_now.hidden.eq(lr_hid), self.rates_now.output.eq(lr_out)]
        with m.If(self.rates_load):
            m.d.sync += [lr_hid.eq(self.rates.hidden), lr_out.eq(self.rates.output),
                         k_hid.eq(new_hid), k_out.eq(new_out)]
        return k_hid, k_out, new_hid, new_out
