# amaranth: UnusedElaboratable=no
"""rtl.uart: divisor arithmetic, the TX waveform clock by clock, TX -> RX loopback, and the RX
driven from the testbench: +/- 2 % baud error, framing errors, overruns, glitches, latency."""

import math
import random

import pytest
from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore.rtl.uart import RX, TX, divisor

from .streams import check_rules, put_all, watchdog


def bits_of(byte, stop=1):
    """The 10 bits of a byte on the line: start, 8 data bits LSB first, stop."""
    return [0] + [(byte >> k) & 1 for k in range(8)] + [stop]


def line(bits, period, *, lead=3, tail=None):
    """The pin level in each clock for ``bits`` sent back to back at ``period`` clocks per bit
    (a float: a transmitter with another clock), after ``lead`` idle clocks."""
    tail = 2 * int(period) + 8 if tail is None else tail
    n = lead + math.ceil(len(bits) * period) + tail
    levels = []
    for c in range(n):
        k = math.floor((c - lead) / period)
        levels.append(bits[k] if 0 <= k < len(bits) else 1)
    return levels


def run_rx(simulate, d, levels, ready=lambda clock: 1):
    """Drive ``levels`` on an RX's pin, one per clock, with ``data.ready = ready(clock)``.
    Returns ``(bytes taken, clocks of overrun pulses, clocks of framing_error pulses, samples)``."""
    dut = RX(d)
    taken, overruns, framing, samples = [], [], [], []

    async def testbench(ctx):
        for clock, level in enumerate(levels):
            ctx.set(dut.rx, level)
            ctx.set(dut.data.ready, ready(clock))
            _, _, valid, rdy, byte, ov, fe = await ctx.tick().sample(
                dut.data.valid, dut.data.ready, dut.data.payload, dut.overrun, dut.framing_error)
            samples.append((valid, byte))
            if valid and rdy:
                taken.append(byte)
            if ov:
                overruns.append(clock)
            if fe:
                framing.append(clock)

    simulate(dut, testbench, background=[check_rules(dut.data)])
    return bytes(taken), overruns, framing, samples


# --- divisor --------------------------------------------------------------------------------

def test_divisor():
    assert divisor(12_000_000, 115_200) == 104      # 104.17 clocks: 0.16 % off
    assert divisor(25_000_000, 115_200) == 217
    assert divisor(1_000_000, 250_000) == 4
    with pytest.raises(ValueError, match=r"clk_hz=1000000 is too slow for baud=300000"):
        divisor(1_000_000, 300_000)                  # 3.33 clocks per bit
    with pytest.raises(ValueError, match=r"baud=210000 at clk_hz=1000000: divisor 5"):
        divisor(1_000_000, 210_000)                  # 4.76 -> 5: 200000 baud, 4.8 % off
    assert divisor(1_000_000, 204_000) == 5          # 1.96 % off: accepted
    with pytest.raises(ValueError, match="positive"):
        divisor(0, 9600)
    with pytest.raises(TypeError, match="baud must be an int"):
        divisor(12_000_000, 9600.0)


def test_divisor_rounding():
    assert divisor(1_000_000, 200_000) == 5
    with pytest.raises(ValueError, match=r"divisor 4 gives 250000.0 baud, 8.70 % off"):
        divisor(1_000_000, 230_000)                  # 4.35 rounds down to 4
    with pytest.raises(ValueError, match=r"divisor 5 gives 200000.0 baud, 10.00 % off"):
        divisor(1_000_000, 222_222)                  # 4.500009: rounds up


@pytest.mark.parametrize("cls", [RX, TX])
def test_bad_divisor(cls):
    with pytest.raises(ValueError, match="at least 4 clocks per bit, not 3"):
        cls(3)
    with pytest.raises(TypeError, match="divisor must be an int"):
        cls(4.0)
    with pytest.raises(TypeError, match="divisor must be an int"):
        cls(True)
    assert cls(4).divisor == 4


# --- TX -------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [4, 5])
def test_tx_waveform(simulate, d):
    """Back to back: every bit exactly ``d`` clocks, no gap between bytes, idle high after;
    ``ready`` exactly while idle and in the last clock of a stop bit."""
    data = [0x00, 0xFF, 0xA5, 0x3C]
    dut = TX(d)
    pin, readies, transfers = [], [], []

    async def testbench(ctx):
        ctx.set(dut.data.valid, 1)
        queue = list(data)
        ctx.set(dut.data.payload, queue[0])
        for clock in range(len(data) * 10 * d + 12):
            _, _, tx, valid, ready = await ctx.tick().sample(dut.tx, dut.data.valid,
                                                             dut.data.ready)
            pin.append(tx)
            readies.append(ready)
            if valid and ready:
                transfers.append(clock)
                queue.pop(0)
                if queue:
                    ctx.set(dut.data.payload, queue[0])
                else:
                    ctx.set(dut.data.valid, 0)

    simulate(dut, testbench)
    assert transfers == [k * 10 * d for k in range(len(data))]
    expected = [1] + [b for byte in data for b in bits_of(byte) for _ in range(d)]
    expected += [1] * (len(pin) - len(expected))
    assert pin == expected
    ready_clocks = {t for t in transfers} | set(range(len(data) * 10 * d, len(pin)))
    assert [c for c, r in enumerate(readies) if r] == sorted(ready_clocks)


# --- TX -> RX -------------------------------------------------------------------------------

class _Loopback(wiring.Component):
    def __init__(self, d):
        self.tx, self.rx = TX(d), RX(d)
        super().__init__({"i": In(stream.Signature(8)), "o": Out(stream.Signature(8)),
                          "errors": Out(2)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx, m.submodules.rx = self.tx, self.rx
        wiring.connect(m, wiring.flipped(self.i), self.tx.data)
        wiring.connect(m, self.rx.data, wiring.flipped(self.o))
        m.d.comb += [self.rx.rx.eq(self.tx.tx),
                     self.errors.eq(self.rx.overrun | (self.rx.framing_error << 1))]
        return m


@pytest.mark.parametrize("d", [4, 5, 16])
def test_loopback(simulate, d):
    rng = random.Random(d)
    data = [0x00, 0xFF, 0x55] + [rng.randrange(256) for _ in range(17 if d < 16 else 7)]
    dut = _Loopback(d)
    received = []

    async def source(ctx):
        await put_all(ctx, dut.i, data)

    async def sink(ctx):
        ctx.set(dut.o.ready, 1)
        while len(received) < len(data):
            _, _, valid, byte, errors = await ctx.tick().sample(dut.o.valid, dut.o.payload,
                                                                dut.errors)
            assert errors == 0
            if valid:
                received.append(byte)
        finished[0] = True

    finished = [False]
    simulate(dut, source, sink, watchdog(12 * d * len(data) + 50, finished))
    assert received == data


# --- RX -------------------------------------------------------------------------------------

@pytest.mark.parametrize("d", [4, 16])
@pytest.mark.parametrize("skew", [0.98, 1.02])
def test_rx_baud_tolerance(simulate, d, skew):
    """A transmitter 2 % fast or slow, bytes back to back (the receiver re-aligns on each start
    edge; the worst case is the stop bit, 9.5 bits after it)."""
    rng = random.Random(int(d * skew * 100))
    data = bytes([0x00, 0xFF, 0x55, 0xAA] + [rng.randrange(256) for _ in range(6)])
    bits = [b for byte in data for b in bits_of(byte)]
    taken, overruns, framing, _ = run_rx(simulate, d, line(bits, d * skew))
    assert taken == data
    assert overruns == framing == []


def test_rx_latency(simulate):
    """``data.valid`` rises D // 2 + 9 * D + 3 clocks after the first clock edge that sees the
    start bit on the pin."""
    d = 6
    levels = line(bits_of(0x96), d, lead=5)
    _, _, _, samples = run_rx(simulate, d, levels, ready=lambda clock: 0)
    first_valid = [valid for valid, _ in samples].index(1)
    assert first_valid - 5 == d // 2 + 9 * d + 3
    assert samples[first_valid][1] == 0x96
    assert all(valid for valid, _ in samples[first_valid:])  # held until taken


def test_rx_framing_error(simulate):
    """A stop bit of 0 gives one framing_error pulse and no byte; then a break (line low for
    three more bits) gives nothing more; the next byte after the line is idle again is fine."""
    d = 8
    bits = bits_of(0x42) + bits_of(0x81, stop=0) + [0] * 3 + [1, 1] + bits_of(0x7E)
    levels = line(bits, d)
    taken, overruns, framing, _ = run_rx(simulate, d, levels)
    assert taken == bytes([0x42, 0x7E])
    assert overruns == []
    stop_middle = 3 + (10 + 9) * d + d // 2          # the bad stop bit's middle on the pin
    assert framing == [stop_middle + 3]               # 2 synchroniser stages + 1 register


def test_rx_framing_error_back_to_back(simulate):
    """Stop bit 0 with the next start bit right behind it: the receiver waits for the line to go
    high before it looks for a start bit again. Here the next byte is 0xFF, so the line goes
    high at its first data bit and stays high: 0xFF is lost (its start bit was taken for part of
    a break), and the byte after it, back to back, is received."""
    d = 5
    bits = bits_of(0x11, stop=0) + bits_of(0xFF) + bits_of(0x33)
    taken, overruns, framing, _ = run_rx(simulate, d, line(bits, d))
    assert taken == b"\x33"
    assert overruns == []
    assert framing == [3 + 9 * d + d // 2 + 3]


def test_rx_overrun(simulate):
    """With ``data.ready`` low, the first byte stays in ``data``; the next two complete, pulse
    ``overrun`` for one clock each and are dropped. Taken at last, the first byte comes out;
    a later byte is received normally."""
    d = 4
    bits = bits_of(0xA1) + bits_of(0xB2) + bits_of(0xC3) + [1] * 4 + bits_of(0xD4)
    levels = line(bits, d)
    release = 3 + 30 * d + 2  # after the third byte, before the fourth completes
    taken, overruns, framing, samples = run_rx(simulate, d, levels,
                                                 ready=lambda clock: int(clock >= release))
    assert taken == bytes([0xA1, 0xD4])
    stop_middles = [3 + (10 * k + 9) * d + d // 2 + 3 for k in (1, 2)]
    assert overruns == stop_middles
    assert framing == []


def test_rx_taken_as_next_completes(simulate):
    """The old byte taken in the very clock the next one completes: no overrun, both arrive."""
    d = 4
    bits = bits_of(0x5C) + bits_of(0xC5)
    complete = 3 + 19 * d + d // 2 + 2   # the clock edge at the second stop bit's middle
    taken, overruns, _, _ = run_rx(simulate, d, line(bits, d),
                                   ready=lambda clock: int(clock in (complete, complete + 3)))
    assert taken == bytes([0x5C, 0xC5])
    assert overruns == []


def test_rx_glitch(simulate):
    """A low pulse shorter than half a bit is not a start bit."""
    d = 16
    levels = [1] * 4 + [0] * (d // 2 - 2) + [1] * (2 * d) + line(bits_of(0x5A), d)
    taken, overruns, framing, _ = run_rx(simulate, d, levels)
    assert taken == b"\x5a"
    assert overruns == framing == []
