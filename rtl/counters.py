"""Event counters kept in a block RAM, for the link's ``STATUS`` reply (``docs/protocol.md``).

Why: eleven counters of 32 and 16 bits as registers cost a logic cell per bit (the adder, the
carry and the flip-flop) and a 30-byte multiplexer to send them, about 400 of the iCE40 UP5K's
5,280 cells. Counting is slow work (a frame, a sample, an input event every few clocks at most):
a byte-wide block RAM and a small state machine do it.

How: the counters are unsigned, little-endian and side by side in a byte memory, in the order and
widths of the reply. A one-clock strobe on ``bump[k]`` marks counter ``k`` pending; the machine
serves pending counters lowest first, reading a byte and writing it back plus one, carrying into
the next byte when it wraps (2 clocks, 2 more per carried byte). ``clear`` zeroes every byte (one
per clock). ``busy`` is high while anything is pending or under way.

Reading: ``addr`` selects a byte; ``data`` holds it from the next clock on, and ``data_valid``
(with ``data_addr``) says the word on ``data`` is the byte at ``data_addr`` and no update was under
way when it was read. A caller reads while it does not bump: a counter bumped twice before it is
served counts once (the link waits for ``busy`` low between input events, the fastest of its
counters).
"""

from amaranth import Array, Const, Module, Signal
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Counters"]


class Counters(wiring.Component):
    """Counters of ``widths`` bytes each (``widths[k]`` for counter ``k``), wrapping."""

    def __init__(self, widths):
        widths = tuple(int(w) for w in widths)
        if not widths or any(w < 1 for w in widths):
            raise ValueError(f"widths must be one or more positive byte counts, not {widths!r}")
        self.widths = widths
        self.bases = tuple(sum(widths[:k]) for k in range(len(widths)))
        self.n_bytes = sum(widths)
        super().__init__({
            "bump": In(len(widths)), "clear": In(1), "busy": Out(1),
            "addr": In(range(self.n_bytes)), "data": Out(8),
            "data_valid": Out(1), "data_addr": Out(range(self.n_bytes)),
        })

    def elaborate(self, platform):
        m = Module()
        n, nb = len(self.widths), self.n_bytes
        m.submodules.mem = mem = memory.Memory(shape=8, depth=nb, init=[0] * nb)
        rd, wr = mem.read_port(), mem.write_port()
        m.d.comb += self.data.eq(rd.data)

        pending = Signal(n)
        serve = Signal(n)                  # the counter taken this clock (one-hot), if any
        addr = Signal(range(nb))
        left = Signal(range(max(self.widths) + 1))
        bases = Array(Const(b, range(nb)) for b in self.bases)
        widths = Array(Const(w, range(max(self.widths) + 1)) for w in self.widths)
        m.d.sync += pending.eq((pending & ~serve) | self.bump)

        idle = Signal()
        m.d.comb += [self.busy.eq(~idle | pending.any()), rd.addr.eq(self.addr), rd.en.eq(1)]
        m.d.sync += [self.data_valid.eq(idle & ~pending.any() & ~self.clear),
                     self.data_addr.eq(self.addr)]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += idle.eq(1)
                with m.If(self.clear):
                    m.d.sync += [addr.eq(0), pending.eq(0)]
                    m.next = "CLEAR"
                with m.Elif(pending.any()):
                    k = Signal(range(n))
                    for j in reversed(range(n)):        # the lowest pending counter
                        with m.If(pending[j]):
                            m.d.comb += k.eq(j)
                    m.d.comb += serve.eq(1 << k)
                    m.d.sync += [addr.eq(bases[k]), left.eq(widths[k])]
                    m.next = "READ"
            with m.State("READ"):
                m.d.comb += rd.addr.eq(addr)
                m.next = "ADD"
            with m.State("ADD"):              # +1; carry into the next byte when it wraps
                m.d.comb += [wr.en.eq(1), wr.addr.eq(addr), wr.data.eq(rd.data + 1)]
                with m.If((rd.data == 0xFF) & (left != 1)):
                    m.d.sync += [addr.eq(addr + 1), left.eq(left - 1)]
                    m.next = "READ"
                with m.Else():
                    m.next = "IDLE"
            with m.State("CLEAR"):
                m.d.comb += [wr.en.eq(1), wr.addr.eq(addr), wr.data.eq(0)]
                m.d.sync += [addr.eq(addr + 1), pending.eq(0)]
                with m.If(addr == nb - 1):
                    m.next = "IDLE"
        return m
