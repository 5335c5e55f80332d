# amaranth: UnusedElaboratable=no
"""rtl.link (the protocol engine with its core) on Amaranth's simulator, fed decoded frames
directly (no UART, no COBS: those have their own tests, and sim/ runs the whole top level):
every op, the checks, and a learning sample whose weights equal the golden model's."""

import binascii

import numpy as np
import pytest

from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.golden.train import seed_config
from plasticore.rtl.core import Mem
from plasticore.chip.golden_view import golden_params
from plasticore.chip.boardspec import BoardSpec
from plasticore.chip.memmap import MemoryMap
from plasticore.chip.protocol import REPLY, ErrorCode as Error, Identity, Op
from plasticore.rtl.link import Link

from .streams import get, put

SMALL = Config(layers=(8, 6, 3), n_steps=6, input_window=4)


def crc(data):
    """CRC-16/GENIBUS (protocol 3)."""
    return binascii.crc_hqx(bytes(data), 0xFFFF) ^ 0xFFFF


def frame(seq, op, body=b""):
    raw = bytes([seq, op, len(body) & 0xFF]) + bytes(body)
    return raw + crc(raw).to_bytes(2, "big")


def parse(reply):
    assert crc(reply[:-2]) == int.from_bytes(reply[-2:], "big"), reply.hex()
    assert reply[2] == len(reply) - 5, reply.hex()
    return reply[0], reply[1], reply[3:-2]


async def send(ctx, link, decoded, error=False):
    for byte in decoded:
        await put(ctx, link.rx, {"data": byte, "end": 0, "error": 0})
    await put(ctx, link.rx, {"data": 0, "end": 1, "error": int(error)})


async def receive(ctx, link):
    out = []
    while True:
        beat = await get(ctx, link.tx)
        out.append(int(beat.data))
        if beat.last:
            return bytes(out)


class Session:
    """Numbered requests against a Link inside an amaranth.sim testbench."""

    def __init__(self, ctx, link):
        self.ctx, self.link, self.seq = ctx, link, 0
        self.wb = link.word_bytes

    async def raw(self, decoded, error=False):
        await send(self.ctx, self.link, decoded, error)
        return parse(await receive(self.ctx, self.link))

    async def request(self, op, body=b"", *, expect_error=None):
        seq, rop, rbody = await self.raw(frame(self.seq, op, body))
        assert seq == self.seq
        if expect_error is None:
            assert rop == op | REPLY, f"op {op}: error reply {rbody.hex()}"
        else:
            assert rop == Op.ERROR and rbody[0] == expect_error, (rop, rbody.hex())
        self.seq = (self.seq + 1) & 0xFF
        return rbody

    async def write(self, mem, addr, words):
        per = 252 // self.wb - 1
        for start in range(0, len(words), per):
            chunk = words[start:start + per]
            body = bytes([mem]) + (addr + start).to_bytes(2, "little")
            body += b"".join(int(w).to_bytes(self.wb, "little") for w in chunk)
            await self.request(Op.WRITE, body)

    async def read(self, mem, addr, count):
        words, per = [], 252 // self.wb
        for start in range(0, count, per):
            n = min(per, count - start)
            body = await self.request(Op.READ, bytes([mem]) + (addr + start).to_bytes(2, "little")
                                      + bytes([n]))
            words += [int.from_bytes(body[k:k + self.wb], "little") for k in range(0, len(body), self.wb)]
        return words


def codes(raster):
    out = [254]
    for row in raster:
        out += [int(j) for j in np.nonzero(row)[0]] + [255]
    return bytes(out)


def test_identify_reset_status_seeds(simulate):
    link = Link(BoardSpec(SMALL, baud=3_000_000))

    async def bench(ctx):
        s = Session(ctx, link)
        s.seq = 77                                   # IDENTIFY resynchronises at any seq
        body = await s.request(Op.IDENTIFY)
        # the board description's figures: 12 MHz, 3 Mbaud (4 clocks per bit), 1,024 bytes
        assert body == Identity.of(SMALL, MemoryMap(SMALL), board_hash=SMALL.board_hash,
                                   clk_hz=12_000_000, baud_divisor=4, rx_window=1024).pack()
        assert body[:5] == b"PLCO\x03" and body[5:13] == bytes.fromhex(SMALL.core_hash)
        # the version probe: IDENTIFY in version 2's framing, answered in it with the head
        probe = bytes([200, Op.IDENTIFY])
        await send(ctx, link, probe + binascii.crc_hqx(probe, 0xFFFF).to_bytes(2, "big"))
        reply = await receive(ctx, link)
        assert binascii.crc_hqx(reply, 0xFFFF) == 0 and reply[:2] == bytes([200, Op.IDENTIFY | REPLY])
        assert reply[2:-2] == body[:33 + 2 * len(SMALL.layers)]
        s.seq = 201                                  # the probe set the expected seq
        assert await s.request(Op.RATES) == bytes([SMALL.lr_hidden_shift, SMALL.lr_output_shift])
        await s.request(Op.SEEDS, (5).to_bytes(4, "little") + (9).to_bytes(4, "little"))
        assert ctx.get(link.core.perturb_state) == 5 and ctx.get(link.core.round_state) == 9
        await s.request(Op.SEEDS, bytes(8), expect_error=Error.ARG)
        # RATES: power-up rates are the configuration's; the reply echoes what is in force
        assert (ctx.get(link.core.rates_now.hidden), ctx.get(link.core.rates_now.output)) == \
            (SMALL.lr_hidden_shift, SMALL.lr_output_shift)
        assert await s.request(Op.RATES, bytes([21, 2])) == bytes([21, 2])
        assert await s.request(Op.RATES, bytes([22, 7]), expect_error=Error.ARG) == bytes([5, Op.RATES, 0, 0])
        assert await s.request(Op.RATES, bytes([3, 1]), expect_error=Error.ARG) == bytes([5, Op.RATES, 1, 0])
        assert await s.request(Op.RATES, bytes([3, 25]), expect_error=Error.ARG) == bytes([5, Op.RATES, 1, 0])
        await s.request(Op.RATES, bytes([3]), expect_error=Error.LENGTH)   # (advances the seq)
        assert (ctx.get(link.core.rates_now.hidden), ctx.get(link.core.rates_now.output)) == (21, 2)
        assert await s.request(Op.RATES) == bytes([21, 2])                 # read, no write
        status = await s.request(Op.STATUS)
        assert len(status) == 37
        frames, events = int.from_bytes(status[3:7], "little"), int.from_bytes(status[7:11], "little")
        assert (frames, events) == (6, 0)            # IDENTIFY, probe, RATES x3, SEEDS; not errors
        assert int.from_bytes(status[19 + 2 * 4:21 + 2 * 4], "little") == 4   # arg_errors
        await s.request(Op.RESET)
        status = await s.request(Op.STATUS)
        assert int.from_bytes(status[3:7], "little") == 1   # the RESET itself
        assert int.from_bytes(status[19:37], "little") == 0

    simulate(link, bench)


@pytest.mark.parametrize("kind", ["pipelined", "compact", "sequenced"])
def test_write_read_round_trip_and_address_checks(simulate, kind):
    """Every kind of core (``rtl/kinds.py``); the compact and sequenced cores' access port answers
    a clock after a read."""
    link = Link(BoardSpec(SMALL, core=kind, baud=3_000_000))
    core = link.core
    rng = np.random.default_rng(1)

    async def bench(ctx):
        s = Session(ctx, link)
        words = [core.encode(Mem.WEIGHT, int(v)) for v in rng.integers(-32768, 32768, core.n_weights)]
        await s.write(Mem.WEIGHT.value, 0, words)
        assert await s.read(Mem.WEIGHT.value, 0, core.n_weights) == words
        state = core.encode(Mem.STATE, {"a": -5, "c": 7, "count": 3, "last_step": 2})
        await s.write(Mem.STATE.value, core.n_neurons - 1, [state])
        assert await s.read(Mem.STATE.value, core.n_neurons - 1, 1) == [state]
        # out of range: the address, the count, the memory, a read-only memory
        at_end = bytes([Mem.WEIGHT.value]) + core.n_weights.to_bytes(2, "little")
        await s.request(Op.READ, at_end + b"\x01", expect_error=Error.ARG)
        await s.request(Op.READ, bytes([Mem.WEIGHT.value, 0, 0, 0]), expect_error=Error.ARG)
        await s.request(Op.READ, bytes([9, 0, 0, 1]), expect_error=Error.ARG)
        await s.request(Op.WRITE, bytes([Mem.PERTURB.value, 0, 0]) + bytes(s.wb), expect_error=Error.STATE)
        await s.request(Op.WRITE, bytes([Mem.WEIGHT.value, 0, 0]) + bytes(s.wb + 1),
                        expect_error=Error.LENGTH)    # (advances the seq: an intact frame)
        assert await s.read(Mem.WEIGHT.value, 0, core.n_weights) == words   # nothing changed

    simulate(link, bench)


def test_frame_errors_change_nothing_and_the_link_recovers(simulate):
    link = Link(BoardSpec(SMALL, baud=3_000_000))

    async def bench(ctx):
        s = Session(ctx, link)
        await s.request(Op.RESET)
        bad = bytearray(frame(s.seq, Op.STATUS))
        bad[-1] ^= 0x40
        seq, op, body = await s.raw(bytes(bad))
        assert (op, body[0]) == (Op.ERROR, Error.CRC)
        seq, op, body = await s.raw(b"\x01\x02", error=True)            # malformed COBS
        assert (op, body[0]) == (Op.ERROR, Error.COBS)
        seq, op, body = await s.raw(b"\x07\x08\x09")                     # too short
        assert (op, body[0], body[2]) == (Op.ERROR, Error.LENGTH, 3)
        seq, op, body = await s.raw(frame(s.seq, Op.EVENTS, bytes(253)))  # too long
        assert (op, body[0], int.from_bytes(body[2:4], "little")) == (Op.ERROR, Error.LENGTH, 258)
        # version 2's hole: a valid frame followed by zero bytes, and a wrong length byte
        seq, op, body = await s.raw(frame(s.seq, Op.EVENTS, bytes([254, 3])) + bytes(2))
        assert (op, body[0]) == (Op.ERROR, Error.CRC)
        wrong = bytes([s.seq, Op.EVENTS, 3, 254, 3])
        seq, op, body = await s.raw(wrong + crc(wrong).to_bytes(2, "big"))
        assert (op, body[0], body[2]) == (Op.ERROR, Error.LENGTH, 7)
        seq, op, body = await s.raw(frame(s.seq + 5, Op.STATUS))
        assert (op, body[0], body[2]) == (Op.ERROR, Error.SEQ, s.seq)
        await s.request(0x42, expect_error=Error.OP)
        # events: a code out of range, a duplicate spike, one STEP too many, LEARN too early
        await s.request(Op.EVENTS, bytes([0, 1, 255, 200]), expect_error=Error.ARG)
        await s.request(Op.EVENTS, bytes([3, 3, 255]), expect_error=Error.STATE)
        # a step split over frames: a repeat in the next frame is refused, the refused frame
        # changes nothing (its 6 is new again), a STEP ends the step
        assert (await s.request(Op.EVENTS, bytes([254, 5])))[0] == 0
        await s.request(Op.EVENTS, bytes([6, 5, 255]), expect_error=Error.STATE)
        assert (await s.request(Op.EVENTS, bytes([6, 255, 5])))[0] == 1
        assert (await s.request(Op.EVENTS, bytes([254, 3, 255])))[0] == 1
        await s.request(Op.LEARN, b"\x01", expect_error=Error.STATE)
        await s.request(Op.EVENTS, bytes([255] * (SMALL.n_steps)), expect_error=Error.STATE)
        assert (await s.request(Op.EVENTS, bytes([255] * (SMALL.n_steps - 1))))[0] == SMALL.n_steps
        await s.request(Op.LEARN, b"\x03", expect_error=Error.ARG)
        assert len(await s.request(Op.LEARN, b"\x01")) == SMALL.n_outputs
        await s.request(Op.LEARN, b"\x01", expect_error=Error.STATE)
        status = await s.request(Op.STATUS)
        errors = [int.from_bytes(status[k:k + 2], "little") for k in range(19, 37, 2)]
        assert errors == [2, 1, 3, 1, 2, 1, 5, 0, 0]

    simulate(link, bench)


@pytest.mark.parametrize("rule, kind", [("sfdfa", "pipelined"), ("dfa", "pipelined"),
                                        ("sfdfa", "compact"), ("sfdfa", "sequenced")])
def test_learning_samples_equal_the_golden_model(simulate, rule, kind):
    config = seed_config(SMALL.replace(rule=rule), 3)
    link = Link(BoardSpec(config, core=kind, baud=3_000_000))
    core = link.core
    rng = np.random.default_rng(7)
    weights, feedback = Network.initial_weights(config, 3)
    net = Network(config, weights, feedback, fixed=True, seed=None)
    rasters = [rng.random((config.n_steps, config.n_inputs)) < 0.3 for _ in range(4)]
    labels = [0, 2, 1, 2]
    # learning rates written before samples 1 and 3 (RATES), and the golden network's config with
    # them; sample 3: the hidden rate at the bottom of its range (0: update shift 10), a slow
    # output rate (22: shift 20)
    rates = {1: (11, 5), 3: (0, 22)}

    async def bench(ctx):
        s = Session(ctx, link)
        await s.request(Op.RESET)
        await s.request(Op.SEEDS, config.seed_perturb.to_bytes(4, "little")
                        + config.seed_round.to_bytes(4, "little"))
        params = golden_params(core, net)
        for mem in (Mem.WEIGHT, Mem.FEEDBACK):
            keys = sorted(a for (m, a) in params if m == mem)
            await s.write(mem.value, 0, [core.encode(mem, params[(mem, a)]) for a in keys])
        for k, (raster, label) in enumerate(zip(rasters, labels)):
            if k in rates:
                assert await s.request(Op.RATES, bytes(rates[k])) == bytes(rates[k])
                net.config = net.config.replace(lr_hidden_shift=rates[k][0], lr_output_shift=rates[k][1])
            if k:
                net.reset()
            else:
                net.lfsr_perturb[:] = config.seed_perturb     # the board drew after SEEDS
                net.reset()
            net.run(raster[None], reset=False)
            assert (await s.request(Op.EVENTS, codes(raster)))[0] == config.n_steps
            counts = await s.request(Op.LEARN, bytes([label]))
            assert list(counts) == [int(c) for c in net.layers[-1].count[0]]
            net.learn([label])
            want = golden_params(core, net)
            for mem in (Mem.WEIGHT, Mem.FEEDBACK):
                keys = sorted(a for (m, a) in want if m == mem)
                got = [core.decode(mem, w) for w in await s.read(mem.value, 0, len(keys))]
                assert got == [want[(mem, a)] for a in keys], f"{mem.name} after sample {k}"
        status = await s.request(Op.STATUS)
        assert int.from_bytes(status[11:15], "little") == 4                 # samples
        assert int.from_bytes(status[7:11], "little") == int(sum(r.sum() for r in rasters))

    simulate(link, bench)
