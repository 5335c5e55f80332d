"""The board-independent top level: a Plasticore core behind its serial link.

::

    rx pin ─► uart.RX ─► FIFO (rx_window bytes) ─► cobs.Decoder ─► Link ─► cobs.Encoder ─► uart.TX ─► tx pin
                                                                    │
                                                                   Core

Board top levels (``boards/``) put this on their USB-UART pins and LEDs; the simulated board
(``host/simboard.py``) compiles it with Verilator and moves bytes between a pseudo-terminal and
its pins. The receive FIFO is the flow-control window of the protocol (``docs/protocol.md``,
section 2): the host never has more unanswered bytes in flight than it holds.
"""

from __future__ import annotations

from amaranth import Cat, Module, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from plasticore.chip.boardspec import BoardSpec
from plasticore.golden.config import Config

from . import cobs, uart
from .link import Link

__all__ = ["Top"]


class Top(wiring.Component):
    """Core, protocol engine, COBS framing and UART.

    Attributes
    ----------
    rx : In(1)
        UART receive pin (idle high).
    tx : Out(1)
        UART transmit pin (idle high).
    leds : Out(3)
        Heartbeat (about 1 Hz), learning (the learning sequence runs), error (an error reply
        or an overflow flag since the last ``RESET``).
    idle : Out(1)
        The engine waits for a request and the receive FIFO is empty. A simulator that also
        sees both UART lines quiet for two byte times may sleep until the host sends.

    Parameters
    ----------
    spec : BoardSpec
        The board (``chip/boardspec.py``): the network, the kind of core, the clock the top
        level runs at (the UART divisor and the heartbeat), the baud rate (refused when the
        clock cannot make it within 2 %) and the receive FIFO's bytes.
    """

    def __init__(self, spec: BoardSpec):
        if not isinstance(spec, BoardSpec):
            raise TypeError(f"spec must be a chip.boardspec.BoardSpec, not {spec!r}")
        self.spec = spec
        self.link = Link(spec)
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(3), "idle": Out(1)})

    @property
    def config(self) -> Config:
        return self.link.config

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        m.submodules.uart_rx = rx = uart.RX(spec.baud_divisor)
        m.submodules.uart_tx = tx = uart.TX(spec.baud_divisor)
        m.submodules.rx_fifo = rx_fifo = fifo.SyncFIFOBuffered(width=8, depth=spec.rx_window)
        m.submodules.decoder = decoder = cobs.Decoder()
        m.submodules.encoder = encoder = cobs.Encoder()
        m.submodules.link = link = self.link

        m.d.comb += rx.rx.eq(self.rx)
        wiring.connect(m, rx.data, rx_fifo.w_stream)
        wiring.connect(m, rx_fifo.r_stream, decoder.i)
        wiring.connect(m, decoder.o, link.rx)
        # the link's reply bytes through a register on their way to the encoder (timing: the
        # byte multiplexers of the link and the encoder's block logic do not fit one 24 MHz clock
        # on a full UP5K); one byte per two clocks, far above any UART's rate
        held = Signal(link.tx.payload.shape())
        full = Signal()
        m.d.comb += [link.tx.ready.eq(~full), encoder.i.valid.eq(full), encoder.i.payload.eq(held)]
        with m.If(link.tx.valid & ~full):
            m.d.sync += [held.eq(link.tx.payload), full.eq(1)]
        with m.Elif(encoder.i.ready):
            m.d.sync += full.eq(0)
        wiring.connect(m, encoder.o, tx.data)
        m.d.comb += [self.tx.eq(tx.tx),
                     link.rx_overrun.eq(rx.overrun), link.rx_framing.eq(rx.framing_error)]

        heartbeat = Signal(range(max(2, spec.clk_hz // 2)))
        beat = Signal()
        m.d.sync += heartbeat.eq(heartbeat + 1)
        with m.If(heartbeat == max(1, spec.clk_hz // 2 - 1)):
            m.d.sync += [heartbeat.eq(0), beat.eq(~beat)]
        m.d.comb += [self.leds.eq(Cat(beat, link.learning, link.error)),
                     self.idle.eq(link.idle & (rx_fifo.level == 0))]
        return m
