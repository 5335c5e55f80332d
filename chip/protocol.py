"""The host's codec of the Plasticore link protocol, version 3 (``docs/protocol.md``).

Framing: ``COBS(seq | op | length | body | crc16) 0x00`` with ``length`` the body's length (u8)
and CRC-16/GENIBUS (CCITT polynomial, init 0xFFFF, final XOR 0xFFFF; big-endian) over
``seq | op | length | body``; every other integer is little-endian. The length byte and the
final XOR make every inserted, deleted or appended byte an error (version 2's CRC without final
XOR accepted a valid frame followed by zero bytes). This module holds everything both ends
agree on and nothing that talks to a port:

* :class:`Op`, :class:`ErrorCode`, the limits (:data:`MAX_BODY`, :data:`MAX_WIRE`);
* :func:`encode_frame` and the incremental :class:`FrameReader` (feed bytes, get
  :class:`Frame` or :class:`FrameError` items; it never raises on garbage and resynchronises at
  the next ``0x00``);
* pack/unpack helpers of every request and reply body, the :class:`Identity` (IDENTIFY) and
  :class:`Status` (STATUS) replies;
* the version probe (:func:`encode_v2_frame`, :func:`decode_v2_frame`): an IDENTIFY in version
  2's framing, which boards of version 2 and 3 answer in that framing with the head of their
  IDENTIFY, so that a host and a board of different versions refuse each other by version;
* the event codes of a sample (:func:`sample_codes`) and their split into EVENTS frames
  (:func:`event_frames`).

The board side (``host/emulator.py``, ``rtl/link.py``) uses the same helpers where it can.
"""

from __future__ import annotations

import binascii
import enum
import struct
from dataclasses import dataclass, field

import numpy as np
from cobs import cobs

from plasticore.golden.network import FLAG_NAMES

__all__ = [
    "VERSION", "MAGIC", "MAX_BODY", "MAX_FRAME", "MAX_WIRE", "REPLY", "Op", "ErrorCode",
    "crc16", "CRC_RESIDUE", "MIN_FRAME", "cobs_decode", "encode_v2_frame", "decode_v2_frame",
    "is_version_probe", "probe_reply_bytes", "FIRST_SEQ", "MEM_NAMES", "WRITABLE",
    "max_read_words", "max_write_words", "encode_frame", "decode_frame", "Frame", "FrameError", "FrameReader",
    "Identity", "Status", "STATUS_COUNTERS", "STATUS_BYTES", "event_bytes", "sample_code", "step_code",
    "sample_codes", "pack_codes", "unpack_codes", "event_frames", "word_bytes",
    "pack_read", "unpack_read", "pack_write", "unpack_write", "pack_words", "unpack_words",
    "pack_seeds", "unpack_seeds", "pack_error", "unpack_error", "ProtocolError",
]

VERSION = 3
MAGIC = b"PLCO"
#: longest body of a frame; a frame is ``seq | op | length | body | crc``: MIN_FRAME..MAX_FRAME
MAX_BODY = 252
MIN_FRAME = 5
MAX_FRAME = MAX_BODY + MIN_FRAME
#: longest wire form of a frame: COBS adds one byte per 254 (two for 257 bytes), plus the 0x00
MAX_WIRE = MAX_FRAME + 2 + 1
#: the sequence number a board expects at power-up
FIRST_SEQ = 0
#: a reply to request op X has op X | REPLY
REPLY = 0x80


class Op(enum.IntEnum):
    IDENTIFY = 0x01
    RESET = 0x02
    READ = 0x03
    WRITE = 0x04
    EVENTS = 0x05
    LEARN = 0x06
    COUNTS = 0x07
    STATUS = 0x08
    SEEDS = 0x09
    CLEAR = 0x0A
    RATES = 0x0B   #: version 2: the learning rates, written between epochs
    ERROR = 0xFF   #: the op of an error reply


class ErrorCode(enum.IntEnum):
    CRC = 1
    COBS = 2
    LENGTH = 3
    OP = 4
    ARG = 5
    SEQ = 6
    STATE = 7


class ProtocolError(ValueError):
    """A reply body that does not parse (wrong length, bad magic...)."""


# --- framing ----------------------------------------------------------------------------------------
def crc16(data: bytes) -> int:
    """CRC-16/GENIBUS (poly 0x1021, init 0xFFFF, no reflection, final XOR 0xFFFF; check value
    0xD64E): ``amaranth.lib.crc.catalog.CRC16_GENIBUS``."""
    return binascii.crc_hqx(bytes(data), 0xFFFF) ^ 0xFFFF


#: the CRC register (before the final XOR) after a whole valid frame, its CRC included: the
#: residue of CRC-16/GENIBUS (``binascii.crc_hqx(frame, 0xFFFF)``)
CRC_RESIDUE = 0x1D0F


def encode_frame(seq: int, op: int, body: bytes = b"") -> bytes:
    """The wire form of one frame: ``COBS(seq | op | length | body | crc) 0x00``."""
    body = bytes(body)
    if len(body) > MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes exceeds MAX_BODY = {MAX_BODY}")
    if not (0 <= seq <= 0xFF and 0 <= op <= 0xFF):
        raise ValueError(f"seq and op are bytes, not {seq!r}, {op!r}")
    frame = bytes((seq, op, len(body))) + body
    frame += crc16(frame).to_bytes(2, "big")
    return cobs.encode(frame) + b"\x00"


# --- version 2 framing: the version probe -------------------------------------------------------
def encode_v2_frame(seq: int, op: int, body: bytes = b"") -> bytes:
    """A frame in version 2's framing, ``COBS(seq | op | body | crc) 0x00`` with
    CRC-16/CCITT-FALSE (no final XOR). A host sends ``encode_v2_frame(seq, Op.IDENTIFY)`` to
    learn a board's version whatever it is (protocol section 1.1)."""
    frame = bytes((seq, op)) + bytes(body)
    frame += binascii.crc_hqx(frame, 0xFFFF).to_bytes(2, "big")
    return cobs.encode(frame) + b"\x00"


def decode_v2_frame(chunk: bytes) -> Frame | None:
    """A wire chunk (without its 0x00) in version 2's framing, or None when it is not one."""
    data, ok = cobs_decode(chunk)
    if not ok or not 4 <= len(data) <= MAX_BODY + 4 or binascii.crc_hqx(data, 0xFFFF) != 0:
        return None
    return Frame(data[0], data[1], data[2:-2])


def is_version_probe(chunk: bytes) -> bool:
    """Whether a wire chunk is an IDENTIFY in version 2's framing (4 decoded bytes)."""
    frame = decode_v2_frame(chunk)
    return frame is not None and frame.op == Op.IDENTIFY and not frame.body


def cobs_decode(chunk: bytes) -> tuple[bytes, bool]:
    """COBS-decode one wire chunk (without its 0x00): ``(data, ok)``.

    ``ok`` is False when a code byte points past the chunk's end (or the chunk holds a zero); the
    data is then the partial decoding: every byte up to the end, with the zeros the code bytes
    before it imply. The board takes a bad frame's ``seq`` and ``op`` from it."""
    chunk = bytes(chunk)
    try:
        return cobs.decode(chunk), True
    except cobs.DecodeError:
        pass
    out = bytearray()
    k = 0
    while k < len(chunk):
        code = chunk[k]
        if code == 0:
            break
        block = chunk[k + 1:k + code]
        out += block
        k += code
        if len(block) < code - 1:
            break
        if code < 0xFF and k < len(chunk):
            out.append(0)
    return bytes(out), False


@dataclass(frozen=True)
class Frame:
    """A frame that passed COBS, length and CRC checks."""

    seq: int
    op: int
    body: bytes


@dataclass(frozen=True)
class FrameError:
    """A frame that failed a check: ``code`` is CRC, COBS or LENGTH; ``seq``/``op`` are the bytes
    as received (0 when the frame was too short to have them); ``length`` is the decoded frame's
    length (seq, op, length byte, body and crc); ``raw`` the wire chunk without its 0x00
    (possibly truncated)."""

    code: ErrorCode
    seq: int
    op: int
    length: int
    raw: bytes = field(repr=False, compare=False, default=b"")

    @property
    def detail(self) -> int:
        """The error reply's detail: for LENGTH the decoded frame's length in bytes, saturating
        at 0xFFFF (a frame of 65,535 bytes or more reports 65,535); 0 otherwise."""
        if self.code == ErrorCode.LENGTH:
            return min(self.length, 0xFFFF)
        return 0


def decode_frame(chunk: bytes, length: int | None = None) -> Frame | FrameError:
    """Check and decode one wire chunk (without its 0x00), in this order (``rtl/link.py`` checks
    in the same order):

    1. COBS: a code byte pointing past the chunk's end;
    2. length of the decoded frame: MIN_FRAME..MAX_FRAME bytes (LENGTH);
    3. CRC (the register after the whole frame is :data:`CRC_RESIDUE`);
    4. the frame's length byte against the decoded length (LENGTH).

    ``seq`` and ``op`` of an error are the first two (partially) decoded bytes, 0 when absent.
    ``length`` is the chunk's real length when ``chunk`` holds only its first bytes (a reader
    keeps a bounded prefix of a runaway chunk): such a chunk is a LENGTH error, its decoded length
    estimated as ``length - 1``."""
    data, ok = cobs_decode(chunk)
    seq = data[0] if len(data) > 0 else 0
    op = data[1] if len(data) > 1 else 0
    if length is not None and length > len(chunk):
        return FrameError(ErrorCode.LENGTH, seq, op, length - 1, bytes(chunk))
    if not ok:
        return FrameError(ErrorCode.COBS, seq, op, len(data), bytes(chunk))
    if not MIN_FRAME <= len(data) <= MAX_FRAME:
        return FrameError(ErrorCode.LENGTH, seq, op, len(data), bytes(chunk))
    if binascii.crc_hqx(data, 0xFFFF) != CRC_RESIDUE:
        return FrameError(ErrorCode.CRC, seq, op, len(data), bytes(chunk))
    if data[2] + MIN_FRAME != len(data):
        return FrameError(ErrorCode.LENGTH, seq, op, len(data), bytes(chunk))
    return Frame(seq, op, data[3:-2])


class FrameReader:
    """Incremental decoder: :meth:`feed` bytes, get the frames (and frame errors) completed by
    them, in order. Empty chunks (``0x00 0x00``) are skipped. Never raises on garbage; a chunk
    longer than ``limit`` bytes is kept truncated and reported as a LENGTH error at its 0x00."""

    def __init__(self, limit: int = 4 * MAX_WIRE):
        self.limit = limit
        self._chunk = bytearray()
        self._length = 0

    @property
    def pending(self) -> int:
        """Bytes of the frame being received (not yet ended by 0x00)."""
        return self._length

    def feed(self, data: bytes) -> list[Frame | FrameError]:
        out = []
        data = bytes(data)
        start = 0
        while True:
            end = data.find(b"\x00", start)
            piece = data[start:] if end < 0 else data[start:end]
            room = self.limit - len(self._chunk)
            self._chunk += piece[:max(room, 0)]
            self._length += len(piece)
            if end < 0:
                return out
            if self._length:
                out.append(decode_frame(bytes(self._chunk), self._length))
            self._chunk.clear()
            self._length = 0
            start = end + 1

    def reset(self) -> None:
        """Forget a half-received frame."""
        self._chunk.clear()
        self._length = 0


# --- IDENTIFY ------------------------------------------------------------------------------------------
#: the head of IDENTIFY, the same in versions 2 and 3 (a version 2 host reads a version 3 board's
#: answer to the version probe with it): magic, version, core_hash, board_hash, clk_hz,
#: baud_divisor, rx_window, data_width, addr_width, event_bytes, n_sizes; the layer sizes follow
_IDENTITY_HEAD = struct.Struct("<4sB8s8sIHHBBBB")
#: version 3's tail after the layer sizes: n_steps, the six memories' depths (words) and word
#: widths (bits; MEM_NAMES order), the ranges of lr_hidden_shift and lr_output_shift, the
#: largest READ and WRITE (words) and EVENTS (codes), the sequence number expected at power-up,
#: the writable memories (bit k = MEM_NAMES[k])
_IDENTITY_TAIL = struct.Struct("<H6H6BBBBBBBBBB")
#: the access-port memories, by their READ/WRITE ``mem`` byte (``rtl.core.Mem``)
MEM_NAMES = ("WEIGHT", "STATE", "TRACE", "PERTURB", "GRAD", "FEEDBACK")
#: every memory but PERTURB may be written
WRITABLE = 0b110111


def probe_reply_bytes(n_sizes: int) -> int:
    """Bytes of the IDENTIFY head a board answers the version probe with."""
    return _IDENTITY_HEAD.size + 2 * n_sizes


def word_bytes(data_width: int) -> int:
    """Bytes of one access-port word."""
    return (data_width + 7) // 8


def event_bytes(n_inputs: int) -> int:
    """The fewest bytes holding ``n_inputs + 2`` codes (inputs, SAMPLE, STEP)."""
    k = 1
    while (1 << (8 * k)) < n_inputs + 2:
        k += 1
    return k


def max_read_words(data_width: int) -> int:
    """The most words one READ may ask for: ``MAX_BODY // word_bytes``."""
    return MAX_BODY // word_bytes(data_width)


def max_write_words(data_width: int) -> int:
    """The most words one WRITE may carry: ``(MAX_BODY - 3) // word_bytes``."""
    return (MAX_BODY - 3) // word_bytes(data_width)


@dataclass(frozen=True)
class Identity:
    """The IDENTIFY reply: everything a client needs to drive the board (protocol section 3)."""

    core_hash: str           #: 16 hex digits
    board_hash: str          #: 16 hex digits
    clk_hz: int
    baud_divisor: int
    rx_window: int
    data_width: int
    addr_width: int
    event_bytes: int
    layers: tuple[int, ...]
    n_steps: int = 0
    #: words of each memory, in MEM_NAMES order
    depths: tuple[int, ...] = (0, 0, 0, 0, 0, 0)
    #: bits of each memory's word (the low bits of an access-port word), in MEM_NAMES order
    widths: tuple[int, ...] = (0, 0, 0, 0, 0, 0)
    lr_hidden_range: tuple[int, int] = (0, 0)
    lr_output_range: tuple[int, int] = (0, 0)
    first_seq: int = FIRST_SEQ
    writable: int = WRITABLE
    magic: bytes = MAGIC
    version: int = VERSION

    @classmethod
    def of(cls, config, core, *, clk_hz: int, baud_divisor: int, rx_window: int,
           board_hash: str | None = None) -> "Identity":
        """The identity of a board built for ``config`` around ``core`` (a core, its cycle model
        or a ``chip.memmap.MemoryMap``: its ``depths``, ``word_size``, ``data_width`` and
        ``addr_width``); ``board_hash`` is ``chip.boardspec.board_hash`` of the board's kind of
        core (default: the reference kind's, ``config.board_hash``)."""
        mems = tuple(core.depths)          # WEIGHT, STATE, TRACE, PERTURB, GRAD, FEEDBACK
        return cls(core_hash=config.core_hash, board_hash=board_hash or config.board_hash,
                   clk_hz=clk_hz, baud_divisor=baud_divisor, rx_window=rx_window,
                   data_width=core.data_width, addr_width=core.addr_width,
                   event_bytes=event_bytes(config.n_inputs), layers=tuple(config.layers),
                   n_steps=config.n_steps, depths=tuple(core.depths[m] for m in mems),
                   widths=tuple(core.word_size(m) for m in mems),
                   lr_hidden_range=tuple(config.lr_shift_range("lr_hidden_shift")),
                   lr_output_range=tuple(config.lr_shift_range("lr_output_shift")))

    @property
    def word_bytes(self) -> int:
        return word_bytes(self.data_width)

    @property
    def n_inputs(self) -> int:
        return self.layers[0]

    @property
    def n_outputs(self) -> int:
        return self.layers[-1]

    @property
    def max_read(self) -> int:
        """The most words of one READ."""
        return max_read_words(self.data_width)

    @property
    def max_write(self) -> int:
        """The most words of one WRITE."""
        return max_write_words(self.data_width)

    @property
    def max_events(self) -> int:
        """The most event codes of one EVENTS frame."""
        return MAX_BODY // self.event_bytes

    def depth(self, mem) -> int:
        return self.depths[int(getattr(mem, "value", mem))]

    @property
    def baud(self) -> float:
        return self.clk_hz / self.baud_divisor if self.baud_divisor else 0.0

    def pack(self) -> bytes:
        head = _IDENTITY_HEAD.pack(self.magic, self.version, bytes.fromhex(self.core_hash),
                                   bytes.fromhex(self.board_hash), self.clk_hz, self.baud_divisor,
                                   self.rx_window, self.data_width, self.addr_width,
                                   self.event_bytes, len(self.layers))
        tail = _IDENTITY_TAIL.pack(self.n_steps, *self.depths, *self.widths, *self.lr_hidden_range,
                                   *self.lr_output_range, self.max_read, self.max_write,
                                   self.max_events, self.first_seq, self.writable)
        return head + struct.pack(f"<{len(self.layers)}H", *self.layers) + tail

    @classmethod
    def unpack(cls, body: bytes) -> "Identity":
        if len(body) < _IDENTITY_HEAD.size:
            raise ProtocolError(f"IDENTIFY reply of {len(body)} bytes is shorter than "
                                f"{_IDENTITY_HEAD.size}")
        (magic, version, core, board, clk_hz, divisor, window, data_width, addr_width, ev,
         n_sizes) = _IDENTITY_HEAD.unpack_from(body)
        if magic != MAGIC or version != VERSION:
            # another version's layout: only the head is known
            return cls(core.hex(), board.hex(), clk_hz, divisor, window, data_width, addr_width,
                       ev, (), magic=magic, version=version)
        size = _IDENTITY_HEAD.size + 2 * n_sizes + _IDENTITY_TAIL.size
        if len(body) != size:
            raise ProtocolError(f"IDENTIFY reply of {len(body)} bytes; {size} expected with "
                                f"{n_sizes} layer sizes")
        layers = struct.unpack_from(f"<{n_sizes}H", body, _IDENTITY_HEAD.size)
        (n_steps, *rest) = _IDENTITY_TAIL.unpack_from(body, _IDENTITY_HEAD.size + 2 * n_sizes)
        depths, widths = tuple(rest[:6]), tuple(rest[6:12])
        h_lo, h_hi, o_lo, o_hi, max_read, max_write, max_events, first_seq, writable = rest[12:]
        ident = cls(core.hex(), board.hex(), clk_hz, divisor, window, data_width, addr_width, ev,
                    tuple(layers), n_steps=n_steps, depths=depths, widths=widths,
                    lr_hidden_range=(h_lo, h_hi),
                    lr_output_range=(o_lo, o_hi), first_seq=first_seq, writable=writable)
        if (max_read, max_write, max_events) != (ident.max_read, ident.max_write, ident.max_events):
            raise ProtocolError(f"IDENTIFY reply's bursts (READ {max_read}, WRITE {max_write}, "
                                f"EVENTS {max_events}) disagree with its word and code sizes")
        return ident

    @classmethod
    def unpack_probe(cls, body: bytes) -> tuple[bytes, int]:
        """``(magic, version)`` of a board's answer to the version probe (the IDENTIFY head)."""
        if len(body) < 5:
            raise ProtocolError(f"version probe answered with {len(body)} bytes")
        return bytes(body[:4]), body[4]


# --- STATUS ----------------------------------------------------------------------------------------------
#: the counters of a STATUS reply, in wire order: four u32, then nine u16
STATUS_COUNTERS = ("frames", "events", "samples", "learns", "crc_errors", "cobs_errors",
                   "length_errors", "op_errors", "arg_errors", "seq_errors", "state_errors",
                   "rx_overruns", "rx_framing")
_STATUS = struct.Struct("<HB4I9H")
#: bytes of a STATUS reply body
STATUS_BYTES = _STATUS.size
#: the error counter of each error code
ERROR_COUNTER = {ErrorCode.CRC: "crc_errors", ErrorCode.COBS: "cobs_errors",
                 ErrorCode.LENGTH: "length_errors", ErrorCode.OP: "op_errors",
                 ErrorCode.ARG: "arg_errors", ErrorCode.SEQ: "seq_errors",
                 ErrorCode.STATE: "state_errors"}


@dataclass
class Status:
    """The STATUS reply: sticky flags (bit k = ``FLAG_NAMES[k]``), the step, the counters."""

    flags: int = 0
    step: int = 0
    frames: int = 0
    events: int = 0
    samples: int = 0
    learns: int = 0
    crc_errors: int = 0
    cobs_errors: int = 0
    length_errors: int = 0
    op_errors: int = 0
    arg_errors: int = 0
    seq_errors: int = 0
    state_errors: int = 0
    rx_overruns: int = 0
    rx_framing: int = 0

    @property
    def flag_names(self) -> tuple[str, ...]:
        return tuple(name for k, name in enumerate(FLAG_NAMES) if self.flags >> k & 1)

    @property
    def errors(self) -> int:
        return sum(getattr(self, name) for name in STATUS_COUNTERS[4:])

    def pack(self) -> bytes:
        values = [getattr(self, name) for name in STATUS_COUNTERS]
        wrapped = [v & 0xFFFFFFFF for v in values[:4]] + [v & 0xFFFF for v in values[4:]]
        return _STATUS.pack(self.flags & 0xFFFF, self.step & 0xFF, *wrapped)

    @classmethod
    def unpack(cls, body: bytes) -> "Status":
        if len(body) != _STATUS.size:
            raise ProtocolError(f"STATUS reply of {len(body)} bytes; expected {_STATUS.size}")
        flags, step, *counters = _STATUS.unpack(body)
        return cls(flags, step, **dict(zip(STATUS_COUNTERS, counters)))


# --- READ / WRITE / SEEDS / RATES / error bodies --------------------------------------------------
def pack_read(mem: int, addr: int, count: int) -> bytes:
    return struct.pack("<BHB", int(mem), addr, count)


def unpack_read(body: bytes) -> tuple[int, int, int]:
    return struct.unpack("<BHB", body)


def pack_words(words, nbytes: int) -> bytes:
    return b"".join(int(w).to_bytes(nbytes, "little") for w in words)


def unpack_words(data: bytes, nbytes: int) -> list[int]:
    if len(data) % nbytes:
        raise ProtocolError(f"{len(data)} bytes are not whole words of {nbytes} bytes")
    return [int.from_bytes(data[k:k + nbytes], "little") for k in range(0, len(data), nbytes)]


def pack_write(mem: int, addr: int, words, nbytes: int) -> bytes:
    return struct.pack("<BH", int(mem), addr) + pack_words(words, nbytes)


def unpack_write(body: bytes, nbytes: int) -> tuple[int, int, list[int]]:
    mem, addr = struct.unpack_from("<BH", body)
    return mem, addr, unpack_words(body[3:], nbytes)


def pack_seeds(perturb: int, round_: int) -> bytes:
    return struct.pack("<II", perturb, round_)


def unpack_seeds(body: bytes) -> tuple[int, int]:
    return struct.unpack("<II", body)


def pack_rates(lr_hidden_shift: int, lr_output_shift: int) -> bytes:
    return struct.pack("<BB", lr_hidden_shift, lr_output_shift)


def unpack_rates(body: bytes) -> tuple[int, int]:
    """The rates of a RATES request (2 bytes) or reply."""
    if len(body) != 2:
        raise ProtocolError(f"RATES body of {len(body)} bytes; expected 2")
    return struct.unpack("<BB", body)


def pack_error(code: int, op: int, detail: int) -> bytes:
    return struct.pack("<BBH", code, op, detail)


def unpack_error(body: bytes) -> tuple[int, int, int]:
    if len(body) != 4:
        raise ProtocolError(f"error reply of {len(body)} bytes; expected 4")
    return struct.unpack("<BBH", body)


# --- events --------------------------------------------------------------------------------------------
def sample_code(nbytes: int) -> int:
    """The SAMPLE code: ``2**(8 * event_bytes) - 2``."""
    return (1 << (8 * nbytes)) - 2


def step_code(nbytes: int) -> int:
    """The STEP code: ``2**(8 * event_bytes) - 1``."""
    return (1 << (8 * nbytes)) - 1


def sample_codes(raster: np.ndarray, nbytes: int) -> np.ndarray:
    """Event codes of one sample from its boolean raster (n_steps, n_inputs): ``SAMPLE``, the
    spikes of step 0 in ascending input order, ``STEP``, the spikes of step 1, ``STEP``, ...
    (one STEP per row). Returns int64 codes."""
    raster = np.asarray(raster, dtype=bool)
    if raster.ndim != 2:
        raise ValueError(f"raster must be (n_steps, n_inputs), not shape {raster.shape}")
    n_steps = raster.shape[0]
    steps, inputs = np.nonzero(raster)           # sorted by step, then input
    per_step = np.bincount(steps, minlength=n_steps)
    out = np.empty(1 + len(inputs) + n_steps, dtype=np.int64)
    out[0] = sample_code(nbytes)
    out[1 + np.arange(len(inputs)) + steps] = inputs
    out[1 + np.cumsum(per_step) + np.arange(n_steps)] = step_code(nbytes)
    return out


def pack_codes(codes, nbytes: int) -> bytes:
    """Codes as little-endian unsigned integers of ``nbytes`` bytes each."""
    codes = np.asarray(codes, dtype=np.int64)
    if codes.size and (codes.min() < 0 or codes.max() >> (8 * nbytes)):
        raise ValueError(f"event codes do not fit {nbytes} bytes")
    as_bytes = codes.astype("<u8").view(np.uint8).reshape(-1, 8)[:, :nbytes]
    return as_bytes.tobytes()


def unpack_codes(data: bytes, nbytes: int) -> list[int]:
    if len(data) % nbytes:
        raise ProtocolError(f"{len(data)} bytes are not whole event codes of {nbytes} bytes")
    if nbytes == 1:
        return list(data)
    return unpack_words(data, nbytes)


def event_frames(codes, nbytes: int) -> list[bytes]:
    """EVENTS bodies of at most MAX_BODY bytes holding ``codes`` in order."""
    data = pack_codes(codes, nbytes)
    per_frame = (MAX_BODY // nbytes) * nbytes
    return [data[k:k + per_frame] for k in range(0, len(data), per_frame)]
