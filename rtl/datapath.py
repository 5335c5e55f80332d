"""Datapath pieces both kinds of core use (``rtl/core.py``, ``rtl/seqcore.py``): saturation
(spec 1, ``sat``), per-layer constant tables, read-latency delay lines and shared memory ports."""

from types import SimpleNamespace

from amaranth import Array, Cat, Const, Mux, Shape, Signal, Value

from plasticore.chip.memmap import address_bits

__all__ = ["_sat", "_sat_bits", "_table", "_bits", "_delay_line", "_delayed", "_Port", "_share"]


def _sat(x, fmt):
    """(x clipped to fmt, clipped?) -- spec 1, ``sat``: two comparisons (the pipelined core; the
    ECP5's carry chains make them fast: with ``_sat_bits`` instead the ULX3S build missed 50 MHz)."""
    over, under = x > fmt.hi, x < fmt.lo
    return Mux(over, fmt.hi, Mux(under, fmt.lo, x)), over | under


def _sat_bits(x, fmt):
    """The same as ``_sat``, decided from the bits of ``x`` above the format instead of
    comparisons with ``fmt.lo``/``fmt.hi``: no carry chains (the sequenced core; iCE40 area)."""
    x = Value.cast(x)
    signed_x = x.shape().signed
    if signed_x and not fmt.signed and len(x) <= fmt.bits:
        # sign-extended to one bit above the format, where its sign bit is checked
        x = Cat(x, *[x[-1]] * (fmt.bits + 1 - len(x))).as_signed()
    n = fmt.bits - (1 if fmt.signed else 0)
    if len(x) <= n or (len(x) == fmt.bits and signed_x == fmt.signed):
        return x, Const(0)
    top = x[n:]                         # a signed x: its sign bit is the top bit of ``top``
    if fmt.signed and signed_x:
        fits = ~top.any() | top.all()
    else:
        fits = ~top.any()
    low = x[:fmt.bits].as_signed() if fmt.signed else x[:fmt.bits]
    clipped = Mux(x[-1], fmt.lo, fmt.hi) if signed_x else fmt.hi
    return Mux(fits, low, clipped), ~fits


def _table(values):
    """A ROM of integers, indexed by a signal (``_table(values)[index]``): per-layer constants."""
    return Array(Const(v, range(max(values) + 1)) for v in values)


def _bits(n):
    """Bits of an index below ``n`` (at least 1)."""
    return address_bits(n)


def _delay_line(m, first, n, name):
    """``[first, q2, ..., q(n+1)]``: ``first`` and ``n`` registers of its shape, each one clock
    behind the one before (a pipeline's stages while a read of a large memory is under way)."""
    stages = [first]
    for k in range(n):
        q = Signal(first.shape(), name=f"{name}{k + 2}")
        m.d.sync += q.eq(stages[-1])
        stages.append(q)
    return stages


def _delayed(m, port, n, name):
    """``port`` (``addr``, ``en``, ``data``) with its read data ``n`` clocks later, held like
    ``port``'s until the next read's."""
    en = Signal(name=f"{name}_en1")
    m.d.sync += en.eq(port.en)
    out = port.data
    for k in range(n):
        q = Signal(port.data.shape(), name=f"{name}_q{k + 2}")
        nxt = Signal(name=f"{name}_en{k + 2}")
        with m.If(en):
            m.d.sync += q.eq(out)
        m.d.sync += nxt.eq(en)
        out, en = q, nxt
    return SimpleNamespace(addr=port.addr, en=port.en, data=out)


class _Port:
    """A memory port of one user of a shared memory (``_share``)."""

    def __init__(self, depth, shape, lanes=1):
        self.addr = Signal(range(max(depth, 2)))
        self.en = Signal()
        self.data = Signal(shape)
        #: lanes written (a memory with a write granularity): all unless a user narrows it
        self.lanes = Signal(lanes, init=(1 << lanes) - 1)


def _share(m, rd, wr, width, *users):
    """Drive the read port ``rd`` and write port ``wr`` of one memory from ``users``
    ``(read, write, base)``, each at its own address range (``base`` + addr) and never two in the
    same clock (they run in different phases)."""
    m.d.comb += [rd.en.eq(0), wr.en.eq(0)]
    for u_rd, u_wr, base in users:
        m.d.comb += u_rd.data.eq(Value.cast(rd.data)[:Shape.cast(u_rd.data.shape()).width])
        with m.If(u_rd.en):
            m.d.comb += [rd.en.eq(1), rd.addr.eq(u_rd.addr + base)]
        with m.If(u_wr.en):
            m.d.comb += [wr.en.eq(u_wr.lanes), wr.addr.eq(u_wr.addr + base),
                         wr.data.eq(Value.cast(u_wr.data))]
