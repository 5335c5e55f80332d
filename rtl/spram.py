"""A single-port memory: one address, a read or a write per clock.

Why: the iCE40 UltraPlus's four SPRAMs (16k x 16 each, single port) hold 128 times the words of
one of its block RAMs. A core that does one access per clock on a memory (``rtl/seqcore.py``)
can keep its synapses there. On other platforms and in simulation the same ports are a plain
``amaranth.lib.memory`` memory with its read and write port on one address.

Semantics: ``rdata`` holds, the clock after a read (``en`` high, ``we`` low), the word at
``addr``; it keeps it until the next read (an SPRAM whose ``CHIPSELECT`` is low keeps its output).
A write (``en`` and ``we`` high) stores ``wdata`` at ``addr``.
"""

from amaranth import ClockSignal, Module, Shape, Signal
from amaranth.hdl import Elaboratable, Instance
from amaranth.lib import memory

__all__ = ["SinglePortRAM", "SPRAM_DEPTH", "SPRAM_WIDTH"]

SPRAM_DEPTH, SPRAM_WIDTH = 16384, 16


class SinglePortRAM(Elaboratable):
    """``depth`` words of ``width`` bits; ``spram`` builds it from ``SB_SPRAM256KA`` primitives
    (``ceil(width / 16)`` side by side), which needs ``depth <= 16384``."""

    def __init__(self, *, width: int, depth: int, spram: bool = False):
        if spram and depth > SPRAM_DEPTH:
            raise ValueError(f"{depth} words do not fit an SPRAM of {SPRAM_DEPTH}")
        self.width, self.depth, self.spram = width, depth, spram
        self.addr = Signal(range(max(depth, 2)))
        self.en = Signal()
        self.we = Signal()
        self.wdata = Signal(width)
        self.rdata = Signal(width)

    @property
    def n_spram(self) -> int:
        """SPRAM primitives used."""
        return -(-self.width // SPRAM_WIDTH) if self.spram else 0

    def elaborate(self, platform):
        m = Module()
        if self.spram:
            for k in range(0, self.width, SPRAM_WIDTH):
                n = min(SPRAM_WIDTH, self.width - k)
                din, dout = Signal(SPRAM_WIDTH), Signal(SPRAM_WIDTH)
                m.d.comb += [din.eq(self.wdata[k:k + n]), self.rdata[k:k + n].eq(dout[:n])]
                m.submodules[f"spram{k // SPRAM_WIDTH}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=self.addr, i_DATAIN=din, i_MASKWREN=0b1111, i_WREN=self.we,
                    i_CHIPSELECT=self.en, i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0,
                    i_POWEROFF=1, o_DATAOUT=dout)
        else:
            m.submodules.mem = mem = memory.Memory(shape=Shape.cast(self.width), depth=max(self.depth, 2),
                                                   init=[])
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [rd.addr.eq(self.addr), rd.en.eq(self.en & ~self.we),
                         wr.addr.eq(self.addr), wr.en.eq(self.en & self.we), wr.data.eq(self.wdata),
                         self.rdata.eq(rd.data)]
        return m
