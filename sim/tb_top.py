"""cocotb testbench of ``rtl.top`` (run by ``sim/test_top.py``): the whole board side (UART,
receive FIFO, COBS, protocol engine, core) driven through its UART pins and compared byte for
byte with ``host.emulator.Emulator``, the protocol's Python reference over the golden model.

* ``link_matches_emulator``: every op, bursts of back-to-back frames within the window, learning
  samples, then misuse: random garbage, corrupted CRCs, truncated and oversized frames, wrong
  sequence numbers, unknown ops, commands at the wrong time, random mutations of valid frames.
  After the misuse the whole parameter memory is read back: nothing was corrupted. Protocol 3's
  additions too: the version probe, the inserted/deleted/appended-byte class (version 2's hole:
  a valid frame followed by zero bytes was another valid frame), IDENTIFY with a wrong body, a
  RATES read.
* ``conformance``: ``sim/minimal_client.py``'s conformance script, a client written from
  ``docs/protocol.md``'s tables alone, through the pins.
* ``flood_and_recover``: a flood far past ``rx_window`` (the board loses bytes: ``rx_overruns``),
  the recovery of protocol section 4 (send again from the SEQ error's expected seq) in two round
  trips, and every word read back.

The pins are driven and sampled with timers (one callback per bit, not per clock).
Environment: ``PLASTICORE_CONFIG`` (JSON), ``PLASTICORE_DIVISOR``, ``PLASTICORE_WINDOW``,
``PLASTICORE_FUZZ`` (mutated frames, default 40).
"""

import os
import random

import cocotb
import minimal_client
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, Timer

from plasticore.chip.boardspec import DEFAULT_CLK_HZ, RX_WINDOW, BoardSpec
from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.chip import protocol as P
from plasticore.host.emulator import Emulator
from plasticore.rtl.core import Core, Mem

CONFIG = Config.from_json(os.environ["PLASTICORE_CONFIG"])
DIVISOR = int(os.environ.get("PLASTICORE_DIVISOR", "4"))
WINDOW = int(os.environ.get("PLASTICORE_WINDOW", str(RX_WINDOW)))
FUZZ = int(os.environ.get("PLASTICORE_FUZZ", "40"))
CLK_HZ = int(os.environ.get("PLASTICORE_CLK_HZ", str(DEFAULT_CLK_HZ)))
PERIOD_NS = 10


class Pins:
    """The host's end of the UART: bytes out on ``rx``, bytes in from ``tx``."""

    def __init__(self, dut):
        self.dut = dut
        self.received = bytearray()
        dut.rx.value = 1

    async def send(self, data: bytes):
        for byte in data:
            for bit in [0] + [(byte >> k) & 1 for k in range(8)] + [1]:
                self.dut.rx.value = bit
                await Timer(DIVISOR * PERIOD_NS, unit="ns")

    async def listen(self):
        half = Timer(DIVISOR * PERIOD_NS // 2, unit="ns")
        while True:
            await FallingEdge(self.dut.tx)
            await half
            assert int(self.dut.tx.value) == 0, "glitch on tx"
            byte = 0
            for k in range(8):
                await Timer(DIVISOR * PERIOD_NS, unit="ns")
                byte |= int(self.dut.tx.value) << k
            await Timer(DIVISOR * PERIOD_NS, unit="ns")
            assert int(self.dut.tx.value) == 1, "stop bit of a reply byte is 0"
            self.received.append(byte)


class Bench:
    def __init__(self, dut):
        self.dut = dut
        self.pins = Pins(dut)
        self.emulator = Emulator(BoardSpec(CONFIG, clk_hz=CLK_HZ, baud=CLK_HZ // DIVISOR, rx_window=WINDOW))
        self.core = Core(CONFIG)
        self.seq = 0
        self.exchanges = 0

    async def exchange(self, wire: bytes, what: str):
        """Send ``wire``; the board's reply bytes must equal the emulator's."""
        expected = self.emulator.feed(wire)
        start = len(self.pins.received)
        await self.pins.send(wire)
        # the reply of the last frame needs the engine's time plus its own bytes on the wire
        wait_bytes = len(expected) + 4
        deadline = 20 * DIVISOR * PERIOD_NS * wait_bytes + 2_000_000
        waited = 0
        while len(self.pins.received) - start < len(expected) and waited < deadline:
            await Timer(20 * DIVISOR * PERIOD_NS, unit="ns")
            waited += 20 * DIVISOR * PERIOD_NS
        # a stray extra byte would show up at the start of the next exchange's reply
        await Timer(20 * DIVISOR * PERIOD_NS, unit="ns")
        got = bytes(self.pins.received[start:])
        assert got == expected, (f"{what}: the board answered\n  {got.hex()}\nthe emulator\n"
                                 f"  {expected.hex()}\n(request {wire.hex()})")
        self.exchanges += 1
        self.dut._log.debug(f"{what}: {len(got)} reply bytes as the emulator's")
        return [item for item in P.FrameReader().feed(got)]

    def frame(self, op, body=b"", seq=None):
        if seq is None:
            seq, self.seq = self.seq, (self.seq + 1) & 0xFF
        return P.encode_frame(seq, op, body)

    async def request(self, op, body=b"", what=None):
        replies = await self.exchange(self.frame(op, body), what or P.Op(op).name)
        return replies[-1]


def random_frames(bench, rng, count):
    """Valid requests of every kind, numbered in order."""
    wb = bench.emulator.word_bytes
    core, out = bench.core, []
    for _ in range(count):
        op = rng.choice([P.Op.READ, P.Op.WRITE, P.Op.STATUS, P.Op.COUNTS, P.Op.CLEAR, P.Op.IDENTIFY,
                         P.Op.RATES])
        if op == P.Op.READ:
            mem = rng.choice(list(Mem))
            depth = bench.emulator.memory.depth(mem)
            n = rng.randint(1, min(depth, P.MAX_BODY // wb))
            body = P.pack_read(int(mem.value), rng.randint(0, depth - n), n)
        elif op == P.Op.WRITE:
            mem = rng.choice([Mem.WEIGHT, Mem.FEEDBACK, Mem.STATE, Mem.TRACE, Mem.GRAD])
            depth = bench.emulator.memory.depth(mem)
            n = rng.randint(1, min(depth, (P.MAX_BODY - 3) // wb))
            words = [rng.getrandbits(8 * wb) & ((1 << core.data_width) - 1) for _ in range(n)]
            body = P.pack_write(int(mem.value), rng.randint(0, depth - n), words, wb)
        elif op == P.Op.CLEAR:
            body = rng.getrandbits(16).to_bytes(2, "little")
        elif op == P.Op.RATES:
            # each rate from one below its range to one above (ARG now and then)
            (h_lo, h_hi), (o_lo, o_hi) = (CONFIG.lr_shift_range(name)
                                          for name in ("lr_hidden_shift", "lr_output_shift"))
            body = P.pack_rates(rng.randint(max(h_lo - 1, 0), h_hi + 1), rng.randint(o_lo - 1, o_hi + 1))
        else:
            body = b""
        out.append(bench.frame(op, body))
    return out


@cocotb.test()
async def link_matches_emulator(dut):
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    bench = Bench(dut)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    cocotb.start_soon(bench.pins.listen())
    rng = random.Random(11)
    np_rng = np.random.default_rng(11)
    wb = bench.emulator.word_bytes
    eb = bench.emulator.event_bytes

    # -- every op once, then parameters in bursts (several frames back to back)
    await bench.request(P.Op.IDENTIFY)
    await bench.request(P.Op.RESET)
    await bench.request(P.Op.SEEDS, P.pack_seeds(CONFIG.seed_perturb, CONFIG.seed_round))
    weights, feedback = Network.initial_weights(CONFIG, 5)
    words = [bench.core.encode(Mem.WEIGHT, int(v)) for w in weights for v in np.ravel(w)]
    fb_words = [bench.core.encode(Mem.FEEDBACK, int(v)) for b in feedback for v in np.ravel(b)]
    per = (P.MAX_BODY - 3) // wb
    burst = b""
    for mem, values in ((Mem.WEIGHT, words), (Mem.FEEDBACK, fb_words)):
        for k in range(0, len(values), per):
            burst += bench.frame(P.Op.WRITE, P.pack_write(int(mem.value), k, values[k:k + per], wb))
            if len(burst) > WINDOW // 2:
                await bench.exchange(burst, "WRITE burst")
                burst = b""
    if burst:
        await bench.exchange(burst, "WRITE burst")

    # -- learning samples: EVENTS, LEARN, COUNTS, STATUS
    for k in range(3):
        if k == 1:                        # other learning rates from the second sample on
            await bench.request(P.Op.RATES, P.pack_rates(11, 5))
        raster = np_rng.random((CONFIG.n_steps, CONFIG.n_inputs)) < 0.3
        for body in P.event_frames(P.sample_codes(raster, eb), eb):
            await bench.request(P.Op.EVENTS, body, f"sample {k} EVENTS")
        await bench.request(P.Op.LEARN, bytes([k % CONFIG.n_outputs]), f"sample {k} LEARN")
        await bench.request(P.Op.COUNTS)
        await bench.request(P.Op.STATUS)

    # -- random valid requests, pipelined within the window
    burst = b""
    for wire in random_frames(bench, rng, 30):
        if len(burst) + len(wire) > WINDOW - 8:
            await bench.exchange(burst, "random burst")
            burst = b""
        burst += wire
    await bench.exchange(burst, "random burst")

    # -- misuse
    corrupted = bytearray(bench.frame(P.Op.STATUS))
    corrupted[2] ^= 0x10 if corrupted[2] ^ 0x10 else 0x11
    await bench.exchange(bytes(corrupted), "corrupted CRC")
    await bench.exchange(b"\x00\x00\x01\x00", "empty chunks")
    await bench.exchange(bytes(rng.getrandbits(8) for _ in range(200)) + b"\x00", "garbage")
    truncated = bench.frame(P.Op.STATUS)[:3]
    await bench.exchange(truncated + bench.frame(P.Op.STATUS), "truncated frame, then a good one")
    await bench.exchange(P.cobs.encode(bytes(300)) + b"\x00", "oversized frame")
    await bench.exchange(P.encode_frame((bench.seq + 9) & 0xFF, P.Op.STATUS), "wrong seq")
    await bench.exchange(bench.frame(P.Op.STATUS), "recovered")
    await bench.exchange(bench.frame(0x33), "unknown op")
    await bench.exchange(bench.frame(P.Op.LEARN, b"\x00"), "LEARN twice")
    await bench.exchange(bench.frame(P.Op.EVENTS, P.pack_codes([P.step_code(eb)], eb)), "STEP after the last")
    await bench.exchange(bench.frame(P.Op.EVENTS, P.pack_codes([P.sample_code(eb), 1, 1], eb)),
                         "duplicate spike")
    await bench.exchange(bench.frame(P.Op.WRITE, P.pack_write(int(Mem.PERTURB.value), 0, [1], wb)),
                         "write PERTURB")
    await bench.exchange(bench.frame(P.Op.READ, P.pack_read(7, 0, 1)), "bad memory")
    await bench.exchange(bench.frame(P.Op.RATES, P.pack_rates(22, 7)), "hidden rate out of range")
    await bench.exchange(bench.frame(P.Op.RATES, P.pack_rates(15, 1)), "output rate out of range")
    # -- protocol 3: the version probe, a RATES read, IDENTIFY with a wrong body (resynchronises)
    await bench.exchange(P.encode_v2_frame(bench.seq, P.Op.IDENTIFY), "version probe")
    bench.seq = (bench.seq + 1) & 0xFF
    await bench.request(P.Op.RATES, b"", "RATES read")
    await bench.exchange(P.encode_frame(99, P.Op.IDENTIFY, b"xy"), "IDENTIFY with a body")
    bench.seq = 100
    await bench.request(P.Op.STATUS)
    # -- the inserted/deleted/appended-byte class: never a frame, answered like the emulator
    for k in range(FUZZ):
        wire = random_frames(bench, rng, 1)[0]
        decoded = bytearray(P.cobs.decode(wire[:-1]))
        kind = k % 4
        if kind == 0:                     # version 2's hole: zero bytes appended
            decoded += bytes(rng.randint(1, 3))
        elif kind == 1:
            at = rng.randrange(len(decoded) + 1)
            decoded[at:at] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3)))
        elif kind == 2:
            at = rng.randrange(len(decoded))
            del decoded[at:at + rng.randint(1, 2)]
        else:
            decoded += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 3)))
        replies = await bench.exchange(P.cobs.encode(bytes(decoded)) + b"\x00", f"inserted {k}")
        assert replies and all(isinstance(r, P.Frame) and r.op == P.Op.ERROR for r in replies)
        bench.seq = (bench.seq - 1) & 0xFF            # a frame error does not advance the seq
    await bench.request(P.Op.STATUS)
    for k in range(FUZZ):                 # random mutations of valid frames
        wire = bytearray(random_frames(bench, rng, 1)[0])
        for _ in range(rng.randint(1, 3)):
            wire[rng.randrange(len(wire))] = rng.getrandbits(8)
        if wire[-1] != 0:
            wire += b"\x00"
        await bench.exchange(bytes(wire), f"mutation {k}")
        if rng.random() < 0.3:            # resynchronise as a host would
            await bench.exchange(bench.frame(P.Op.IDENTIFY), f"resync {k}")

    # -- nothing corrupted: every parameter word and the status, as the emulator has them
    await bench.exchange(bench.frame(P.Op.RESET), "RESET")
    for mem in (Mem.WEIGHT, Mem.FEEDBACK):
        depth = bench.emulator.memory.depth(mem)
        per = P.MAX_BODY // wb
        for k in range(0, depth, per):
            await bench.request(P.Op.READ, P.pack_read(int(mem.value), k, min(per, depth - k)))
    await bench.request(P.Op.STATUS)
    dut._log.info(f"{bench.exchanges} exchanges equal to the emulator's, byte for byte")


# --- a client written from docs/protocol.md alone, through the pins ----------------------------------
async def start(dut):
    Clock(dut.clk, PERIOD_NS, unit="ns").start()
    bench = Bench(dut)
    dut.rst.value = 1
    await ClockCycles(dut.clk, 4)
    dut.rst.value = 0
    cocotb.start_soon(bench.pins.listen())
    return bench


def pins_transact(bench, quiet_bytes=400):
    """``minimal_client``'s transact over the UART pins: send, then wait for ``replies`` reply
    frames (or, with None, until the line has been quiet for ``quiet_bytes`` byte times)."""
    byte_ns = 10 * DIVISOR * PERIOD_NS

    async def transact(wire, replies):
        start_at = len(bench.pins.received)
        await bench.pins.send(wire)
        if replies is None:
            seen, idle = len(bench.pins.received), 0
            while idle < quiet_bytes:
                await Timer(20 * byte_ns, unit="ns")
                idle = idle + 20 if len(bench.pins.received) == seen else 0
                seen = len(bench.pins.received)
        else:
            waited, limit = 0, 400 * (replies + 4)
            while bench.pins.received[start_at:].count(0) < replies:
                assert waited < limit, f"no reply within {limit} byte times (lock-up?)"
                await Timer(20 * byte_ns, unit="ns")
                waited += 20
            await Timer(20 * byte_ns, unit="ns")      # nothing more may follow
        got = bytes(bench.pins.received[start_at:])
        chunks = [c for c in got.split(b"\x00") if c]
        if replies is not None:
            assert len(chunks) == replies and got.endswith(b"\x00"), got.hex()
        return chunks
    return transact


@cocotb.test()
async def conformance(dut):
    bench = await start(dut)
    result = await minimal_client.conformance(pins_transact(bench), huge=False)
    dut._log.info(f"conformance: {result}")
    assert result["mutations"] == 46


@cocotb.test()
async def flood_and_recover(dut):
    bench = await start(dut)
    result = await minimal_client.flood_and_recover(pins_transact(bench))
    dut._log.info(f"flood_and_recover: {result}")
    assert result["rx_overruns"] > 0 and result["lost_from"] < result["requests"]
    assert result["round_trips_to_recover"] == 2 and result["silent_corruptions"] == 0
