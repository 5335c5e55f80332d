"""The neuron state of one layer and its per-step sweep (``docs/spec.md``, section 5, steps 1-2).

Every time step visits the layer's neurons in order and, for neuron ``i``, computes::

    a' = decay(a, rho_q)          c' = decay(c, rho_s_q)        # decay(x, k) = (x * k) >> 16
    spike = (a' - c' >= theta_q)                              # exact, no saturation
    store a' - theta_q * spike, c'

The reset ``-theta_q`` of step 3 is applied here rather than by the integrator of step 4, because
the subtraction cannot leave the state format: ``a' - c' >= theta_q`` gives
``a' - theta_q >= c' >= state.lo``, and ``a' <= a`` in magnitude. So the stored words are exact
and the one saturating store per step remains the integrator's ``sat(stored + drive, state)``,
as the spec asks. Spiking neurons leave as events carrying ``c'``, which the reciprocal needs.

Not here yet: the input traces' decay (step 1), the spike updates (step 3) and the integration
(step 4), the per-sample clear.
"""

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore.golden.config import DECAY_FRAC, Config

__all__ = ["Layer"]


class Layer(wiring.Component):
    """Per-neuron state memory (``a``, ``c``) with the decay and threshold sweep of a time step.

    The state lives in one :class:`~amaranth.lib.memory.Memory` of ``neurons`` words, each an
    ``{a, c}`` struct of two state-format fields (48 bits by default: one block RAM word).

    Operation: a ``start`` pulse while ``busy`` is low runs one sweep over neurons
    ``0 .. neurons-1``; ``start`` is ignored while ``busy``. Each neuron's decayed state is
    written back and, when it spikes, an event ``{neuron, c}`` is offered on ``spikes`` in
    neuron order. While ``busy`` is low the memory belongs to the ``read`` and ``write`` ports
    (host access, tests, the integrator); the read port is not transparent (a read in the cycle
    of a write to the same address returns the old word).

    Timing: a synchronous read, then one combinational stage (two multipliers, a subtractor, a
    comparator) into the write port. ``busy`` rises the cycle after ``start`` and stays high for
    ``neurons + 1`` cycles plus one per cycle that a pending spike event waits for ``ready``
    (back-pressure stalls the whole sweep; nothing is lost). Throughput: one neuron per cycle.

    Parameters
    ----------
    config : Config
        Widths (``state``, ``weight``) and the decay constants ``rho_q``, ``rho_s_q``.
    neurons : int
        Number of neurons in the layer.

    Attributes
    ----------
    theta_q : In(signed(weight.bits))
        The threshold register (positive).
    start : In(1)
        Start a sweep.
    busy : Out(1)
        A sweep is running.
    spikes : Out(stream.Signature(spike_layout))
        One event per spiking neuron: ``neuron`` (its index) and ``c`` (its decayed current).
    read : Out(memory.ReadPort.Signature(...))
        State read port (``en``, ``addr``, ``data`` of layout ``neuron_layout``) while idle.
    write : Out(memory.WritePort.Signature(...))
        State write port while idle.
    """

    def __init__(self, config: Config, *, neurons: int):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        if not isinstance(neurons, int) or isinstance(neurons, bool) or neurons < 1:
            raise TypeError(f"neurons must be a positive integer, not {neurons!r}")
        self._config = config
        self._neurons = neurons
        state = signed(config.state.bits)
        self._neuron_layout = data.StructLayout({"a": state, "c": state})
        self._spike_layout = data.StructLayout({"neuron": range(neurons), "c": state})
        addr_width = max(1, (neurons - 1).bit_length())
        super().__init__({
            "theta_q": In(signed(config.weight.bits)),
            "start": In(1),
            "busy": Out(1),
            "spikes": Out(stream.Signature(self._spike_layout)),
            "read": Out(memory.ReadPort.Signature(addr_width=addr_width,
                                                  shape=self._neuron_layout)),
            "write": Out(memory.WritePort.Signature(addr_width=addr_width,
                                                    shape=self._neuron_layout)),
        })

    @property
    def config(self) -> Config:
        return self._config

    @property
    def neurons(self) -> int:
        return self._neurons

    @property
    def neuron_layout(self) -> data.StructLayout:
        """Layout of one memory word: ``a`` and ``c``, signed state format."""
        return self._neuron_layout

    @property
    def spike_layout(self) -> data.StructLayout:
        """Layout of a spike event: ``neuron`` index and decayed current ``c``."""
        return self._spike_layout

    def elaborate(self, platform):
        m = Module()
        cfg, last = self._config, self._neurons - 1

        m.submodules.memory = mem = memory.Memory(shape=self._neuron_layout, depth=self._neurons,
                                                  init=[])
        rd = mem.read_port()
        wr = mem.write_port()

        running = Signal()                       # reads still to issue
        loaded = Signal()                        # rd.data holds neuron `index`
        addr = Signal(range(self._neurons))      # next neuron to read
        index = Signal(range(self._neurons))
        m.d.comb += self.busy.eq(running | loaded)

        # the datapath, on the word just read
        a_decayed = Signal(signed(cfg.state.bits))
        c_decayed = Signal(signed(cfg.state.bits))
        spike = Signal()
        m.d.comb += [
            a_decayed.eq((rd.data.a * cfg.rho_q) >> DECAY_FRAC),
            c_decayed.eq((rd.data.c * cfg.rho_s_q) >> DECAY_FRAC),
            spike.eq(a_decayed - c_decayed >= self.theta_q),
        ]
        stall = loaded & spike & ~self.spikes.ready

        m.d.comb += [
            self.spikes.valid.eq(loaded & spike),
            self.spikes.payload.neuron.eq(index),
            self.spikes.payload.c.eq(c_decayed),
            self.read.data.eq(rd.data),
        ]
        with m.If(self.busy):
            m.d.comb += [
                rd.addr.eq(addr),
                rd.en.eq(~stall),                # hold the word (and the event) while stalled
                wr.addr.eq(index),
                wr.data.a.eq(a_decayed - (self.theta_q * spike)),
                wr.data.c.eq(c_decayed),
                wr.en.eq(loaded & ~stall),
            ]
        with m.Else():
            m.d.comb += [
                rd.addr.eq(self.read.addr),
                rd.en.eq(self.read.en),
                wr.addr.eq(self.write.addr),
                wr.data.eq(self.write.data),
                wr.en.eq(self.write.en),
            ]

        with m.If(~self.busy):
            with m.If(self.start):
                m.d.sync += [running.eq(1), addr.eq(0)]
        with m.Elif(~stall):
            m.d.sync += loaded.eq(running)
            with m.If(running):
                m.d.sync += [index.eq(addr), addr.eq(addr + 1)]
                with m.If(addr == last):
                    m.d.sync += running.eq(0)
        return m
