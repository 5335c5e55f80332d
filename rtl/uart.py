"""8N1 UART receiver and transmitter for the host <-> board link (``docs/protocol.md``).

Both run in the ``sync`` domain with a fixed ``divisor`` (clocks per bit, from :func:`divisor`):
8 data bits, least significant first, no parity, one stop bit. Bytes travel as
:mod:`amaranth.lib.stream` beats, so the receiver can feed a FIFO and the transmitter can be fed
by one (or by the COBS encoder, ``rtl/cobs.py``) without glue.

Timing (``D`` = divisor):

* :class:`TX` sends back to back: one byte every ``10 * D`` clocks while its ``data`` stream
  stays valid, with no idle time between a stop bit and the next start bit. The start bit appears
  on ``tx`` the clock after the byte is transferred.
* :class:`RX` raises ``data.valid`` ``D // 2 + 9 * D + 3`` clocks after the first clock edge
  that samples the start bit's low level on ``rx`` (2 synchroniser stages, the middle of the stop
  bit, the output register): about half a bit before the end of the stop bit.

Limits: ``D >= 4``. The receiver samples each bit once at its middle (no majority vote), so it
tolerates a transmitter whose bit period differs from ``D`` by a few per cent (+/- 2 % is tested
at ``D = 4`` and ``D = 16``); the error allowed shrinks as ``D`` does, since the middle of a bit is
only known to one clock.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

# the divisor rule is the board description's (the host computes it too)
from plasticore.chip.boardspec import MIN_DIVISOR, divisor

__all__ = ["divisor", "RX", "TX"]


class _Serial(wiring.Component):
    """A UART direction at ``divisor`` clocks per bit (at least 4, see :func:`divisor`)."""

    def __init__(self, divisor: int, signature: dict):
        if not isinstance(divisor, int) or isinstance(divisor, bool):
            raise TypeError(f"divisor must be an int (clocks per bit), not {divisor!r}")
        if divisor < MIN_DIVISOR:
            raise ValueError(f"divisor must be at least {MIN_DIVISOR} clocks per bit, not {divisor}")
        self._divisor = divisor
        super().__init__(signature)

    @property
    def divisor(self) -> int:
        return self._divisor


class RX(_Serial):
    """UART receiver, 8N1.

    The pin goes through a 2-stage :class:`~amaranth.lib.cdc.FFSynchronizer` (idle high). A low
    level starts a byte; the receiver re-checks it at the middle of the start bit (a shorter
    low glitch is ignored), samples the 8 data bits at their middles, then checks the stop bit at
    its middle and is ready for the next start edge right there, so back-to-back bytes from a
    transmitter with a slightly faster or slower clock are received.

    Latency: ``D // 2 + 9 * D + 3`` clocks from the first clock edge that samples the start bit
    on the pin to ``data.valid`` (see the module docstring). Throughput: one byte per ``10 * D``
    clocks (the line rate).

    ``data`` is a one-byte output register, with no further buffering: ``data.valid`` stays high
    until the byte is taken, and the sink must take it before the next byte completes (within
    ``10 * D`` clocks when bytes come back to back; put a FIFO behind the receiver).

    Attributes
    ----------
    rx : In(1)
        The pin, asynchronous to ``sync``; idle high.
    data : Out(stream.Signature(8))
        Received bytes.
    overrun : Out(1)
        One-cycle pulse (the clock after the stop bit's middle) when a byte completes while the
        previous one is still in ``data`` and not being taken in that clock: the new byte is
        dropped, the old one is kept.
    framing_error : Out(1)
        One-cycle pulse when the stop bit is 0 at its middle: the byte is dropped and the
        receiver waits for the line to go high again (so a break, a line held low, gives one
        pulse, not a stream of zero bytes).

    ``divisor``: clocks per bit (:class:`_Serial`).
    """

    def __init__(self, divisor: int):
        super().__init__(divisor, {
            "rx": In(1),
            "data": Out(stream.Signature(8)),
            "overrun": Out(1),
            "framing_error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self._divisor

        rx = Signal(init=1)
        m.submodules.sync_rx = FFSynchronizer(self.rx, rx, init=1)

        timer = Signal(range(d))     # clocks left until the next sampling point, minus one
        bit = Signal(range(8))       # data bit sampled next
        shreg = Signal(8)            # bits arrive LSB first: shift in at the top

        m.d.sync += [self.overrun.eq(0), self.framing_error.eq(0)]
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.If(timer != 0):
            m.d.sync += timer.eq(timer - 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer == 0):
                    with m.If(rx):
                        m.next = "IDLE"      # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer == 0):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), timer.eq(d - 1), bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer == 0):
                    with m.If(~rx):
                        m.d.sync += self.framing_error.eq(1)
                        m.next = "BREAK"
                    with m.Else():
                        with m.If(self.data.valid & ~self.data.ready):
                            m.d.sync += self.overrun.eq(1)
                        with m.Else():
                            m.d.sync += [self.data.valid.eq(1), self.data.payload.eq(shreg)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                with m.If(rx):
                    m.next = "IDLE"
        return m


class TX(_Serial):
    """UART transmitter, 8N1.

    A byte taken from ``data`` in clock ``t`` goes out as the start bit (0) in clocks
    ``t+1 .. t+D``, data bit ``k`` (LSB first) in clocks ``t+1+(k+1)*D ..``, and the stop bit (1)
    in clocks ``t+1+9*D .. t+10*D``. ``data.ready`` is high while the transmitter is idle and in
    the last clock of a stop bit (clock ``t+10*D``), so a byte that is valid then starts its start
    bit right after the stop bit: back to back, one byte per ``10 * D`` clocks, no idle gap.
    ``tx`` comes straight from a flip-flop (no glitches) and is high when idle.

    Latency: 1 clock from transfer to the start bit. Throughput: one byte per ``10 * D`` clocks.

    Attributes
    ----------
    data : In(stream.Signature(8))
        Bytes to send.
    tx : Out(1)
        The pin, idle high.

    ``divisor``: clocks per bit (:class:`_Serial`).
    """

    def __init__(self, divisor: int):
        super().__init__(divisor, {
            "data": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self._divisor

        shreg = Signal(10, init=(1 << 10) - 1)  # bit 0 is on the pin; ones shift in behind
        bits = Signal(range(11))                # bits not yet finished, the one on the pin included
        timer = Signal(range(d))                # clocks left in the current bit, minus one

        m.d.comb += [
            self.tx.eq(shreg[0]),
            self.data.ready.eq((bits == 0) | ((bits == 1) & (timer == 0))),
        ]
        with m.If(bits != 0):
            with m.If(timer == 0):
                m.d.sync += [shreg.eq(Cat(shreg[1:], 1)), bits.eq(bits - 1), timer.eq(d - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [shreg.eq(Cat(0, self.data.payload, 1)), bits.eq(10), timer.eq(d - 1)]
        return m
