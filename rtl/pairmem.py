"""A one-read one-write memory built from two single-port banks (even and odd addresses).

Why: the iCE40 UltraPlus has 30 small dual-port block RAMs (EBR, 4 kbit each) and four large
single-port SPRAMs (16k x 16 each). The core's ``GRAD`` memory (``ghat``/``ehat``, one 32-bit word
per synapse: 2368 x 32 for the digits network) would take 20 of the 30 EBRs; in SPRAM it takes
none. But the core reads one word and writes another in the same clock (the eligibility engine
and the ``LEARN`` weight pass: read ``a``, write ``a - 2``), which one single-port bank cannot do.

How: word ``a`` lives in bank ``a % 2`` at row ``a // 2``. A read fetches both banks (the pair
``a & ~1``, ``a | 1``); a read of the other word of that pair in the very next clock is served from
the banks' outputs and leaves both banks free. A write goes to its bank at once when the bank is
not fetching, else it is parked in a one-entry slot per bank and written the next clock the bank
is free (before a newer write to that bank). For a stream of consecutive reads that starts on an
even address, with writes trailing the reads, fetches fall on every other clock and the writes on
the clocks between: one read and one write per clock, no stall. The core's access patterns are
of that kind when every layer has an even number of inputs (rows and layer bases are even):
``Core`` uses this memory only then.

Semantics, equal to an ``amaranth.lib.memory`` read port without transparency plus a write port,
for every access sequence without a *hazard* (``hazard`` is high in the clock one happens; the
core never makes one, its tests check): ``rd.data`` holds, the clock after a read (``rd.en``), the
word as it was before that clock's write, and keeps it until the next read. Hazards: a read fetches
a row whose write is still parked, or a write finds its bank fetching and its slot full. (Patching
reads from the slots would cost about 150 logic cells on the iCE40 for a case that never occurs.)

The banks are ``SB_SPRAM256KA`` primitives on an iCE40 UltraPlus platform (``spram=True``), plain
``amaranth.lib.memory`` memories used single-port otherwise (simulation, other FPGAs).
"""

from amaranth import ClockSignal, Module, Mux, Shape, Signal, Value
from amaranth.hdl import Elaboratable, Instance
from amaranth.lib import memory

__all__ = ["PairedRAM", "SPRAM_DEPTH", "SPRAM_WIDTH"]

SPRAM_DEPTH, SPRAM_WIDTH = 16384, 16


class _Port:
    def __init__(self, depth, shape, name):
        self.addr = Signal(range(max(depth, 2)), name=f"{name}_addr")
        self.en = Signal(name=f"{name}_en")
        self.data = Signal(shape, name=f"{name}_data")


class PairedRAM(Elaboratable):
    """``depth`` words of ``shape``: ``rd`` (``addr``, ``en``, ``data``) and ``wr`` (``addr``,
    ``en``, ``data``), like ``memory.Memory(...).read_port()`` / ``.write_port()``.

    ``spram`` selects SB_SPRAM256KA banks (iCE40 UltraPlus): ``ceil(width / 16)`` per bank.
    """

    def __init__(self, *, shape, depth, spram=False):
        self.shape, self.depth, self.spram = shape, depth, spram
        self.width = Shape.cast(shape).width
        self.half = (depth + 1) // 2
        if spram and self.half > SPRAM_DEPTH:
            raise ValueError(f"{depth} words do not fit two SPRAM banks of {SPRAM_DEPTH}")
        self.rd = _Port(depth, shape, "rd")
        self.wr = _Port(depth, shape, "wr")

    @property
    def n_spram(self) -> int:
        """SPRAM primitives used (both banks)."""
        return 2 * -(-self.width // SPRAM_WIDTH) if self.spram else 0

    def _bank(self, m, b, addr, we, wdata):
        """One single-port bank: returns its read data (valid the clock after a read)."""
        dout = Signal(self.width, name=f"bank{b}_dout")
        if self.spram:
            for k in range(0, self.width, SPRAM_WIDTH):
                n = min(SPRAM_WIDTH, self.width - k)
                din, dout_k = Signal(SPRAM_WIDTH), Signal(SPRAM_WIDTH)
                m.d.comb += [din.eq(wdata[k:k + n]), dout[k:k + n].eq(dout_k[:n])]
                m.submodules[f"spram{b}_{k // SPRAM_WIDTH}"] = Instance(
                    "SB_SPRAM256KA",
                    i_ADDRESS=addr, i_DATAIN=din, i_MASKWREN=0b1111, i_WREN=we,
                    i_CHIPSELECT=1, i_CLOCK=ClockSignal("sync"), i_STANDBY=0, i_SLEEP=0, i_POWEROFF=1,
                    o_DATAOUT=dout_k)
        else:
            mem = memory.Memory(shape=self.width, depth=max(self.half, 2), init=[])
            m.submodules[f"bank{b}"] = mem
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [rd.addr.eq(addr), rd.en.eq(~we), wr.addr.eq(addr), wr.en.eq(we),
                         wr.data.eq(wdata), dout.eq(rd.data)]
        return dout

    def elaborate(self, platform):
        m = Module()
        W, rows = self.width, range(max(self.half, 2))
        rp, rb = self.rd.addr >> 1, self.rd.addr[0]
        wp, wb = self.wr.addr >> 1, self.wr.addr[0]
        wdata = Value.cast(self.wr.data)

        fresh, fb = Signal(), Signal()             # the banks' outputs hold the pair fetched last
        hv, hp = Signal(), Signal(rows)            # ... and it is still current (no write since)
        pv = [Signal(name=f"pend{b}_valid") for b in range(2)]  # one parked write per bank
        pa = [Signal(rows, name=f"pend{b}_row") for b in range(2)]
        pd = [Signal(W, name=f"pend{b}_data") for b in range(2)]
        rreg = Signal(W)                           # rd.data after the fresh clock

        hit = fresh & hv & (hp == rp)
        fetch = self.rd.en & ~hit
        #: a read fetches a row with a parked write, or a write finds its bank busy and its slot
        #: full: outside the contract (the core never does either); for tests, never synthesised
        self.hazard = Signal()
        dout = []
        for b in range(2):
            addr, we, bdata = Signal(rows, name=f"bank{b}_addr"), Signal(name=f"bank{b}_we"), \
                Signal(W, name=f"bank{b}_wdata")
            inc = self.wr.en & (wb == b)
            with m.If(fetch):
                m.d.comb += addr.eq(rp)
                with m.If(pv[b] & ((pa[b] == rp) | inc)):
                    m.d.comb += self.hazard.eq(1)
                with m.If(inc):                     # the bank is busy: park the write
                    m.d.sync += [pv[b].eq(1), pa[b].eq(wp), pd[b].eq(wdata)]
            with m.Elif(pv[b]):                     # free: the older, parked write first
                m.d.comb += [addr.eq(pa[b]), we.eq(1), bdata.eq(pd[b])]
                with m.If(inc):
                    m.d.sync += [pa[b].eq(wp), pd[b].eq(wdata)]
                with m.Else():
                    m.d.sync += pv[b].eq(0)
            with m.Elif(inc):
                m.d.comb += [addr.eq(wp), we.eq(1), bdata.eq(wdata)]
            dout.append(self._bank(m, b, addr, we, bdata))

        m.d.sync += fresh.eq(fetch)
        with m.If(fetch):
            m.d.sync += [fb.eq(rb), hp.eq(rp), hv.eq(~(self.wr.en & (wp == rp)))]
        with m.Elif(self.wr.en & (wp == hp)):
            m.d.sync += hv.eq(0)
        fetched = Mux(fb, dout[1], dout[0])
        m.d.comb += self.rd.data.eq(Mux(fresh, fetched, rreg))
        with m.If(self.rd.en & hit):               # the other word of the pair, from the banks
            m.d.sync += rreg.eq(Mux(rb, dout[1], dout[0]))
        with m.Elif(fresh):
            m.d.sync += rreg.eq(fetched)
        return m
