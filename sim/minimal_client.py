"""A minimal client of the Plasticore link protocol, version 3, written from ``docs/protocol.md``'s
tables alone: it imports nothing of ``plasticore`` (no ``host.protocol``), so that it checks the
document against the board rather than the codec against itself.

The scripts are coroutines over one function the caller provides::

    async def transact(wire: bytes, replies: int | None) -> list[bytes]

which sends ``wire`` and returns the COBS chunks (without their ``0x00``) of the next ``replies``
reply frames, or, with ``replies=None``, of every reply until the line has been quiet for a while.
``tests/host/test_conformance.py`` runs them against ``host.emulator`` in-process and
``sim/tb_top.py`` against the RTL through its UART pins, on Icarus and Verilator:

* :func:`conformance`: every op and error of sections 1, 3 and 4 as the document states them,
  driven from IDENTIFY's fields (no probing), the inserted/appended-byte class included;
* :func:`flood_and_recover`: requests sent far past ``rx_window`` (the board loses bytes), then
  the recovery of section 4 (send again from the SEQ error's expected seq), counted in round
  trips, and every word read back (no silent corruption).
"""

from __future__ import annotations

import binascii
import random
import struct

# --- section 1: framing -------------------------------------------------------------------------
MAX_BODY = 252
MIN_FRAME, MAX_FRAME = 5, 257
OPS = {"IDENTIFY": 0x01, "RESET": 0x02, "READ": 0x03, "WRITE": 0x04, "EVENTS": 0x05, "LEARN": 0x06,
       "COUNTS": 0x07, "STATUS": 0x08, "SEEDS": 0x09, "CLEAR": 0x0A, "RATES": 0x0B}
ERROR_OP = 0xFF
ERRORS = {1: "CRC", 2: "COBS", 3: "LENGTH", 4: "OP", 5: "ARG", 6: "SEQ", 7: "STATE"}
MEMS = ("WEIGHT", "STATE", "TRACE", "PERTURB", "GRAD", "FEEDBACK")
STATUS_FIELDS = ("flags", "step", "frames", "events", "samples", "learns", "crc_errors",
                 "cobs_errors", "length_errors", "op_errors", "arg_errors", "seq_errors",
                 "state_errors", "rx_overruns", "rx_framing")


def crc(data: bytes) -> int:
    """CRC-16/GENIBUS: CCITT-FALSE with final XOR 0xFFFF."""
    return binascii.crc_hqx(bytes(data), 0xFFFF) ^ 0xFFFF


def cobs_encode(data: bytes) -> bytes:
    out, block = bytearray(), bytearray()
    for byte in data:
        if byte == 0:
            out += bytes([len(block) + 1]) + block
            block.clear()
        else:
            block.append(byte)
            if len(block) == 254:
                out += b"\xff" + block
                block.clear()
    return bytes(out + bytes([len(block) + 1]) + block)


def cobs_decode(chunk: bytes) -> bytes | None:
    out, k = bytearray(), 0
    while k < len(chunk):
        code = chunk[k]
        if code == 0 or k + code > len(chunk):
            return None
        out += chunk[k + 1:k + code]
        k += code
        if code < 0xFF and k < len(chunk):
            out.append(0)
    return bytes(out)


def frame(seq: int, op: int, body: bytes = b"") -> bytes:
    raw = bytes([seq & 0xFF, op, len(body)]) + bytes(body)
    return cobs_encode(raw + crc(raw).to_bytes(2, "big")) + b"\x00"


def probe(seq: int) -> bytes:
    """The version probe (section 1.1): IDENTIFY in version 2's framing."""
    raw = bytes([seq & 0xFF, OPS["IDENTIFY"]])
    return cobs_encode(raw + binascii.crc_hqx(raw, 0xFFFF).to_bytes(2, "big")) + b"\x00"


def parse(chunk: bytes) -> tuple[int, int, bytes]:
    """``(seq, op, body)`` of a reply; AssertionError when it is not a good version 3 frame."""
    data = cobs_decode(chunk)
    assert data is not None and MIN_FRAME <= len(data) <= MAX_FRAME, chunk.hex()
    assert crc(data[:-2]) == int.from_bytes(data[-2:], "big"), f"CRC of reply {data.hex()}"
    assert data[2] == len(data) - 5, f"length byte of reply {data.hex()}"
    return data[0], data[1], data[3:-2]


def error_of(reply) -> tuple[str, int, int] | None:
    seq, op, body = reply
    if op != ERROR_OP:
        return None
    assert len(body) == 4
    code, req_op, detail = struct.unpack("<BBH", body)
    return ERRORS[code], req_op, detail


# --- section 3: IDENTIFY and STATUS, from their tables --------------------------------------------
def identify(body: bytes) -> dict:
    n = body[32]
    assert len(body) == 62 + 2 * n, len(body)
    ident = dict(zip(("magic", "version", "core_hash", "board_hash", "clk_hz", "baud_divisor",
                      "rx_window", "data_width", "addr_width", "event_bytes", "n_sizes"),
                     struct.unpack_from("<4sB8s8sIHHBBBB", body)))
    at = 33
    ident["layers"] = struct.unpack_from(f"<{n}H", body, at)
    at += 2 * n
    ident["n_steps"], = struct.unpack_from("<H", body, at)
    ident["depth"] = dict(zip(MEMS, struct.unpack_from("<6H", body, at + 2)))
    ident["width"] = dict(zip(MEMS, body[at + 14:at + 20]))
    h_lo, h_hi, o_lo, o_hi = body[at + 20:at + 24]
    ident["lr_hidden"], ident["lr_output"] = (h_lo, h_hi), (o_lo, o_hi)
    (ident["max_read"], ident["max_write"], ident["max_events"], ident["first_seq"],
     ident["writable"]) = body[at + 24:at + 29]
    ident["word_bytes"] = (ident["data_width"] + 7) // 8
    return ident


def status(body: bytes) -> dict:
    assert len(body) == 37
    return dict(zip(STATUS_FIELDS, struct.unpack("<HB4I9H", body)))


class Client:
    """Numbered requests over ``transact``."""

    def __init__(self, transact, seq: int = 0):
        self.transact, self.seq = transact, seq
        self.ident: dict = {}
        self.round_trips = 0

    def next_seq(self) -> int:
        seq, self.seq = self.seq, (self.seq + 1) & 0xFF
        return seq

    async def raw(self, wire: bytes, replies: int | None = 1):
        self.round_trips += 1
        return await self.transact(wire, replies)

    async def call(self, name: str, body: bytes = b"", *, error: str | None = None, seq=None):
        seq = self.next_seq() if seq is None else seq
        chunks = await self.raw(frame(seq, OPS[name], body))
        assert len(chunks) == 1, chunks
        reply = parse(chunks[0])
        assert reply[0] == seq, (name, reply)
        got = error_of(reply)
        if error is None:
            assert reply[1] == OPS[name] | 0x80, (name, got)
            return reply[2]
        assert got is not None and got[0] == error, (name, error, got)
        return got

    def words(self, body: bytes) -> list[int]:
        wb = self.ident["word_bytes"]
        return [int.from_bytes(body[k:k + wb], "little") for k in range(0, len(body), wb)]

    def pack(self, words) -> bytes:
        return b"".join(int(w).to_bytes(self.ident["word_bytes"], "little") for w in words)


def sample_code(ident):
    return (1 << (8 * ident["event_bytes"])) - 2


def codes(ident, values) -> bytes:
    return b"".join(int(v).to_bytes(ident["event_bytes"], "little") for v in values)


# --- the conformance script ------------------------------------------------------------------------
async def conformance(transact, *, rng_seed: int = 3, huge: bool = True) -> dict:
    """Every statement of sections 1, 3 and 4 a client relies on; returns counts of what ran.
    ``huge``: also send a 66,300-byte frame (LENGTH's saturating detail; slow through a UART)."""
    rng = random.Random(rng_seed)
    c = Client(transact)
    checks = 0

    # 1.1 the version probe, in version 2's framing: the head of IDENTIFY, version 3
    chunks = await c.raw(b"\x00" + probe(40))
    data = cobs_decode(chunks[0])
    assert binascii.crc_hqx(data, 0xFFFF) == 0 and data[:2] == bytes([40, 0x81])
    assert data[2:6] == b"PLCO" and data[6] == 3
    n = data[2 + 32]
    assert len(data) - 4 == 33 + 2 * n
    c.seq = 41                                      # the probe set the expected seq
    ident = c.ident = identify(await c.call("IDENTIFY"))
    assert ident["magic"] == b"PLCO" and ident["version"] == 3
    assert data[2:-2] == (await c.call("IDENTIFY"))[:33 + 2 * n]
    wb, depth, width = ident["word_bytes"], ident["depth"], ident["width"]
    assert ident["max_read"] == MAX_BODY // wb and ident["max_write"] == (MAX_BODY - 3) // wb
    assert ident["max_events"] == MAX_BODY // ident["event_bytes"] and ident["first_seq"] == 0
    assert ident["writable"] == 0b110111
    checks += 8

    # RESET: any seq, sets the expected seq; counters cleared, RESET counts itself
    await c.call("RESET", seq=200)
    c.seq = 201
    st = status(await c.call("STATUS"))
    assert st["frames"] == 1 and st["crc_errors"] == 0
    checks += 1

    # READ/WRITE: the largest bursts, every writable memory, bits above a width ignored
    for k, mem in enumerate(MEMS):
        d = depth[mem]
        count = min(d, ident["max_write"])
        addr = rng.randrange(0, d - count + 1)
        mask = (1 << width[mem]) - 1
        words = [rng.getrandbits(8 * wb) for _ in range(count)]
        body = struct.pack("<BH", k, addr) + c.pack(words)
        if ident["writable"] >> k & 1:
            await c.call("WRITE", body)
            got = c.words(await c.call("READ", struct.pack("<BHB", k, addr, count)))
            assert got == [w & mask for w in words], mem
        else:
            assert (await c.call("WRITE", body, error="STATE"))[2] == 0
        checks += 1
    top = min(depth["WEIGHT"], ident["max_read"])
    assert len(await c.call("READ", struct.pack("<BHB", 0, 0, top))) == top * wb
    assert (await c.call("READ", struct.pack("<BHB", 0, 0, ident["max_read"] + 1),
                         error="ARG"))[2] == 3
    assert (await c.call("READ", struct.pack("<BHB", 0, depth["WEIGHT"], 1), error="ARG"))[2] == 1
    assert (await c.call("READ", struct.pack("<BHB", 6, 0, 1), error="ARG"))[2] == 0
    too_big = struct.pack("<BH", 0, 0) + bytes(wb * (ident["max_write"] + 1))
    if len(too_big) <= 255:                         # a length byte can say it; no frame holds it
        chunks = await c.raw(frame(c.seq, OPS["WRITE"], too_big))
        assert error_of(parse(chunks[0]))[0] == "LENGTH"      # a frame error: the seq stays
    checks += 5

    # a sample: SAMPLE, spikes, STEPs; COUNTS mid-sample; READ/WRITE mid-sample; LEARN
    sc, step = sample_code(ident), sample_code(ident) + 1
    first = [sc] + rng.sample(range(ident["layers"][0]), 3) + [step]
    assert (await c.call("EVENTS", codes(ident, first)))[0] == 1
    assert len(await c.call("COUNTS")) == ident["layers"][-1]          # mid-sample: allowed
    await c.call("READ", struct.pack("<BHB", 1, 0, 1))                  # mid-sample: allowed
    rest = [step] * (ident["n_steps"] - 1)
    assert (await c.call("EVENTS", codes(ident, rest)))[0] == ident["n_steps"] & 0xFF
    assert (await c.call("EVENTS", codes(ident, [step]), error="STATE"))[2] == 0
    assert (await c.call("LEARN", bytes([ident["layers"][-1]]), error="ARG"))
    assert len(await c.call("LEARN", b"\x00")) == ident["layers"][-1]
    await c.call("LEARN", b"\x00", error="STATE")
    assert (await c.call("EVENTS", codes(ident, [sc, 0, 0]), error="STATE"))[2] == 2
    assert (await c.call("EVENTS", codes(ident, [sc])))[0] == 0       # a fresh sample
    checks += 9

    # RATES: read without writing; the ranges of IDENTIFY; ARG details 0 then 1
    rates = await c.call("RATES")
    assert len(rates) == 2
    (h_lo, h_hi), (o_lo, o_hi) = ident["lr_hidden"], ident["lr_output"]
    assert await c.call("RATES", bytes([h_hi, o_lo])) == bytes([h_hi, o_lo])
    assert (await c.call("RATES", bytes([h_hi + 1, o_lo]), error="ARG"))[2] == 0
    assert (await c.call("RATES", bytes([h_lo, o_hi + 1]), error="ARG"))[2] == 1
    assert await c.call("RATES") == bytes([h_hi, o_lo])
    await c.call("RATES", rates)
    checks += 5

    # SEEDS, CLEAR
    await c.call("SEEDS", struct.pack("<II", 0xACE1, 0xBEEF))
    assert (await c.call("SEEDS", struct.pack("<II", 0, 1), error="ARG"))[2] == 0
    assert (await c.call("SEEDS", struct.pack("<II", 1, 0), error="ARG"))[2] == 4
    await c.call("CLEAR", b"\xff\xff")
    checks += 4

    # section 4: which errors advance the expected seq
    assert (await c.call("STATUS", seq=c.seq + 7, error="SEQ"))[2] == c.seq      # no advance
    await c.call("STATUS")
    assert (await c.call("LEARN", b"", error="LENGTH"))[2] == 5     # intact frame: advances
    await c.call("STATUS")
    assert (await c.call("IDENTIFY", b"xy", seq=90, error="LENGTH"))[2] == 7     # resynchronises
    c.seq = 91
    await c.call("STATUS")
    op_err = parse((await c.raw(frame(c.next_seq(), 0x42)))[0])
    assert error_of(op_err)[0] == "OP"                              # advances
    await c.call("STATUS")
    checks += 6

    # section 1/4: frame errors do not advance; the inserted/appended-byte class
    good = cobs_decode(frame(c.seq, OPS["WRITE"], struct.pack("<BH", 0, 0) + c.pack([5]))[:-1])
    mutations = []
    for extra in range(1, 4):
        mutations.append(good + bytes(extra))                       # version 2's hole
        mutations.append(good[:-2] + bytes([1] * extra) + good[-2:])
    for _ in range(20):
        at = rng.randrange(len(good) + 1)
        mutations.append(good[:at] + bytes([rng.randrange(256)]) + good[at:])
        at = rng.randrange(len(good))
        mutations.append(good[:at] + good[at + 1:])
    before = c.words(await c.call("READ", struct.pack("<BHB", 0, 0, 1)))
    for bad in mutations:
        chunks = await c.raw(cobs_encode(bad) + b"\x00")
        assert len(chunks) == 1
        err = error_of(parse(chunks[0]))
        assert err is not None and err[0] in ("CRC", "LENGTH", "COBS"), err
    assert c.words(await c.call("READ", struct.pack("<BHB", 0, 0, 1))) == before   # the seq stayed
    # every frame error is counted: none was executed
    st = status(await c.call("STATUS"))
    checks += len(mutations)
    if huge:                                        # LENGTH's detail saturates at 65,535
        chunks = await c.raw(cobs_encode(bytes(range(1, 256)) * 260) + b"\x00")
        assert error_of(parse(chunks[0])) == ("LENGTH", 2, 65535)
        await c.call("STATUS")
        checks += 1
    return {"checks": checks, "mutations": len(mutations), "round_trips": c.round_trips,
            "crc_errors": st["crc_errors"], "length_errors": st["length_errors"]}


# --- flood and recover ----------------------------------------------------------------------------
async def flood_and_recover(transact, *, pairs: int = 70, rng_seed: int = 5) -> dict:
    """Send ``pairs`` x (WRITE of one WEIGHT word, READ of ``max_read`` words) at once, far past
    ``rx_window``: the board loses bytes. Then recover as section 4 says (send again from the
    expected seq of the first SEQ error, or from the request after the last one answered), and read
    every word back. Returns what happened: requests lost, round trips until the lost request
    executed, silent corruptions (0), lock-ups (0: the board always answered)."""
    rng = random.Random(rng_seed)
    c = Client(transact)
    await c.raw(b"\x00" + probe(0))
    c.seq = 1
    ident = c.ident = identify(await c.call("IDENTIFY"))
    await c.call("RESET")
    mask = (1 << ident["width"]["WEIGHT"]) - 1
    values = [rng.getrandbits(ident["width"]["WEIGHT"]) & mask for _ in range(pairs)]
    requests = []                                   # (seq, wire) in order
    for k, value in enumerate(values):
        addr = k % ident["depth"]["WEIGHT"]
        requests.append(frame(c.next_seq(), OPS["WRITE"], struct.pack("<BH", 0, addr) + c.pack([value])))
        requests.append(frame(c.next_seq(), OPS["READ"], struct.pack("<BHB", 0, 0, ident["max_read"])))
    first_seq = (c.seq - len(requests)) & 0xFF
    flood = b"".join(requests)
    assert len(flood) > 2 * ident["rx_window"]
    replies = [parse(ch) for ch in await c.raw(flood, None)]       # round trip 1
    answered = 0                                    # requests executed in order
    for reply in replies:
        if answered < len(requests) and reply[0] == (first_seq + answered) & 0xFF \
                and reply[1] != ERROR_OP:
            answered += 1
        else:
            break
    errors = [error_of(r) for r in replies if r[1] == ERROR_OP]
    seq_errors = [e for e in errors if e[0] == "SEQ"]
    expected = (first_seq + answered) & 0xFF
    assert all(e[2] == expected for e in seq_errors), (expected, seq_errors[:3])
    lost_at = answered
    # round trip 2 on: send again from the expected seq, window by window
    recovery_trips = 0
    k = lost_at
    lost_executed_in = None
    flushed = 0
    while k < len(requests):
        # the first burst starts with 0x00: the board may hold half a frame from the flood,
        # which it then answers with a frame error (skipped)
        burst, n = (b"\x00", 0) if recovery_trips == 0 else (b"", 0)
        while k + n < len(requests) and len(burst) + len(requests[k + n]) <= ident["rx_window"]:
            burst += requests[k + n]
            n += 1
        got = [parse(ch) for ch in await c.raw(burst, n if recovery_trips else None)]
        while len(got) > n and got[0][1] == ERROR_OP and error_of(got[0])[0] in ("CRC", "COBS",
                                                                                 "LENGTH"):
            got.pop(0)
            flushed += 1
        assert len(got) == n, (len(got), n)
        recovery_trips += 1
        for j, reply in enumerate(got):
            assert reply[0] == (first_seq + k + j) & 0xFF and reply[1] != ERROR_OP, error_of(reply)
        if lost_executed_in is None:
            lost_executed_in = 1 + recovery_trips
        k += n
    c.seq = (first_seq + len(requests)) & 0xFF
    st = status(await c.call("STATUS"))
    # no silent corruption: every word as written (and the rest of the memory as before: 0)
    final = {}
    for k, value in enumerate(values):
        final[k % ident["depth"]["WEIGHT"]] = value
    back = []
    for addr in range(0, len(final), ident["max_read"]):
        count = min(ident["max_read"], len(final) - addr)
        back += c.words(await c.call("READ", struct.pack("<BHB", 0, addr, count)))
    corruptions = sum(b != final[a] for a, b in enumerate(back))
    return {"requests": len(requests), "flood_bytes": len(flood), "lost_from": lost_at,
            "replies_to_flood": len(replies), "seq_errors": len(seq_errors),
            "frame_errors": len([e for e in errors if e[0] != "SEQ"]),
            "rx_overruns": st["rx_overruns"], "round_trips_to_recover": lost_executed_in or 1,
            "recovery_bursts": recovery_trips, "half_frames_flushed": flushed,
            "silent_corruptions": corruptions}
