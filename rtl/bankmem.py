"""A one-read one-write memory split into banks, with a register behind every bank.

Why: on the ECP5 the core's large memories are long cascades of block RAMs (WEIGHT for the
(196, 128, 10) network: 26,368 words in 26 DP16KD; GRAD and FEEDBACK: 54). A read of such a
memory is the block RAM's clock-to-out (5.6-5.8 ns) followed by the routing of a multiplexer tree
across the die (6-14 ns); with a multiplier behind it in the same clock it ran at 37.5 MHz. Here
every bank's output is registered next to its block RAM, and the bank multiplexer has a clock and
a register of its own: the paths are block RAM -> register, register -> multiplexer -> register
and register -> multiplier, each well inside 20 ns (50 MHz).

Semantics, those of an ``amaranth.lib.memory`` read port without transparency plus a write
port, delayed: the word read in clock ``t`` (``rd.en``), as it was before that clock's write,
is on ``rd.data`` from clock ``t + LATENCY`` on and stays there until the next read's word
replaces it. Reads may be issued every clock.
"""

from amaranth import Module, Shape, Signal
from amaranth.hdl import Elaboratable
from amaranth.lib import memory

from plasticore.chip.cycles import BANK_READ_LATENCY

from .pairmem import _Port          # the same port bundle (addr, en, data)

__all__ = ["BankedRAM", "LATENCY", "BANK_DEPTH"]

#: clocks from a read to its data: the block RAM, the bank registers, the bank multiplexer's
#: register (the cycle models count it, ``chip/cycles.py``)
LATENCY = BANK_READ_LATENCY
#: words per bank: one DP16KD (ECP5) in its 1024 x 18 mode (four iCE40 EBRs at 16 bits)
BANK_DEPTH = 1024


class BankedRAM(Elaboratable):
    """``depth`` words of ``shape`` in banks of ``bank_depth``: ``rd`` (``addr``, ``en``,
    ``data``, read latency :data:`LATENCY`) and ``wr`` (``addr``, ``en``, ``data``)."""

    def __init__(self, *, shape, depth, bank_depth=BANK_DEPTH):
        if depth < 1 or bank_depth < 1:
            raise ValueError(f"depth {depth} and bank_depth {bank_depth} must be positive")
        self.shape, self.depth = shape, depth
        self.width = Shape.cast(shape).width
        self.bank_depth = min(bank_depth, depth)
        self.n_banks = -(-depth // self.bank_depth)
        self.rd = _Port(depth, shape, "rd")
        self.wr = _Port(depth, shape, "wr")

    def elaborate(self, platform):
        m = Module()
        n, D, W = self.n_banks, self.bank_depth, self.width
        row_bits = max(1, (D - 1).bit_length())
        bank_of = (lambda a: a >> row_bits) if D == 1 << row_bits else (lambda a: a // D)
        row_of = (lambda a: a[:row_bits]) if D == 1 << row_bits else (lambda a: a % D)

        en1, en2 = Signal(), Signal()                    # a read's data in the banks / registers
        sel1 = Signal(range(max(n, 2)))
        sel2 = Signal(range(max(n, 2)))
        m.d.sync += [en1.eq(self.rd.en), en2.eq(en1)]
        with m.If(self.rd.en):
            m.d.sync += sel1.eq(bank_of(self.rd.addr))
        with m.If(en1):
            m.d.sync += sel2.eq(sel1)
        held = []
        for b in range(n):
            mem = memory.Memory(shape=W, depth=max(D, 2), init=[])
            m.submodules[f"bank{b}"] = mem
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [rd.addr.eq(row_of(self.rd.addr)), rd.en.eq(self.rd.en),
                         wr.addr.eq(row_of(self.wr.addr)), wr.data.eq(self.wr.data),
                         wr.en.eq(self.wr.en & (bank_of(self.wr.addr) == b))]
            reg = Signal(W, name=f"bank{b}_q")          # next to the block RAM
            with m.If(en1):
                m.d.sync += reg.eq(rd.data)
            held.append(reg)
        out = Signal(W)
        with m.If(en2):
            with m.Switch(sel2):
                for b, reg in enumerate(held):
                    with m.Case(b):
                        m.d.sync += out.eq(reg)
        m.d.comb += self.rd.data.eq(out)
        return m
