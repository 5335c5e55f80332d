"""The host codec of the link protocol (docs/protocol.md): framing, CRC, decoder recovery,
bodies, event codes."""

import numpy as np
import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from plasticore.golden.config import Config
from plasticore.chip import protocol as P
from plasticore.chip.protocol import ErrorCode, Frame, FrameError, FrameReader, Op

bodies = st.binary(max_size=P.MAX_BODY)
frames = st.tuples(st.integers(0, 255), st.integers(0, 255), bodies)


def test_crc_catalogue_check_value_and_residue():
    from amaranth.lib import crc

    assert P.crc16(b"123456789") == 0xD64E            # CRC-16/GENIBUS
    params = crc.catalog.CRC16_GENIBUS(data_width=8)
    assert params.compute(b"123456789") == 0xD64E and params.residue() == P.CRC_RESIDUE


def test_frame_layout_is_cobs_of_seq_op_length_body_crc_big_endian_then_zero():
    wire = P.encode_frame(7, Op.READ, b"\x00\x01\x02")
    assert wire[-1] == 0 and 0 not in wire[:-1]
    frame = cobs.decode(wire[:-1])
    assert frame[:6] == b"\x07\x03\x03\x00\x01\x02"
    assert frame[6:] == P.crc16(frame[:6]).to_bytes(2, "big")
    assert len(P.encode_frame(0, 0, bytes(P.MAX_BODY))) <= P.MAX_WIRE


# --- the class version 2 missed: bytes inserted, deleted or appended ---------------------------
@settings(max_examples=500)
@given(frames, st.data())
def test_inserted_deleted_or_appended_decoded_bytes_are_always_detected(frame, data):
    """Version 2 took a valid frame followed by zero bytes (0x01 bytes inserted before the
    delimiter on the wire) for a valid, different frame. Now the length byte and the CRC's final
    XOR make any change of the decoded length an error: never a frame."""
    decoded = bytearray(cobs.decode(P.encode_frame(*frame)[:-1]))
    kind = data.draw(st.sampled_from(["insert", "delete", "append_zeros", "append"]))
    if kind == "insert":
        at = data.draw(st.integers(0, len(decoded)))
        decoded[at:at] = data.draw(st.binary(min_size=1, max_size=8))
    elif kind == "delete":
        at = data.draw(st.integers(0, len(decoded) - 1))
        n = data.draw(st.integers(1, min(8, len(decoded) - at)))
        del decoded[at:at + n]
    elif kind == "append_zeros":
        decoded += bytes(data.draw(st.integers(1, 300)))
    else:
        decoded += data.draw(st.binary(min_size=1, max_size=8))
    out = FrameReader().feed(cobs.encode(bytes(decoded)) + b"\x00")
    assert len(out) == 1 and isinstance(out[0], FrameError), (kind, out)


@settings(max_examples=300)
@given(frames, st.data())
def test_wire_bytes_inserted_before_the_delimiter_are_detected(frame, data):
    """The wire form of the hole: 0x01 (or any non-zero) bytes inserted anywhere before 0x00."""
    wire = bytearray(P.encode_frame(*frame))
    at = data.draw(st.integers(1, len(wire) - 1))
    wire[at:at] = data.draw(st.binary(min_size=1, max_size=4).filter(lambda b: 0 not in b))
    out = FrameReader().feed(bytes(wire))
    assert len(out) == 1 and isinstance(out[0], FrameError), out


def test_version_2_hole_reproduction():
    """The issue's reproduction: WRITE of one word followed by two zero bytes."""
    body = P.pack_write(0, 5, [0x1234], 12)
    decoded = cobs.decode(P.encode_frame(3, Op.WRITE, body)[:-1]) + b"\x00\x00"
    out = FrameReader().feed(cobs.encode(decoded) + b"\x00")
    assert out[0].code in (ErrorCode.CRC, ErrorCode.LENGTH)
    # the same with version 2's framing is the accepted, different frame it was
    old = P.encode_v2_frame(3, Op.WRITE, body)
    longer = cobs.encode(cobs.decode(old[:-1]) + b"\x00\x00")
    assert P.decode_v2_frame(longer) is not None


def test_version_probe_framing():
    probe = P.encode_v2_frame(9, Op.IDENTIFY)
    assert cobs.decode(probe[:-1])[:2] == b"\x09\x01" and len(cobs.decode(probe[:-1])) == 4
    assert P.is_version_probe(probe[:-1])
    assert not P.is_version_probe(P.encode_frame(9, Op.IDENTIFY)[:-1])
    assert not P.is_version_probe(P.encode_v2_frame(9, Op.STATUS)[:-1])
    # a version 3 reader never takes a version 2 frame for a frame
    assert isinstance(FrameReader().feed(probe)[0], FrameError)


def test_encode_refuses_oversized_bodies():
    with pytest.raises(ValueError):
        P.encode_frame(0, 1, bytes(P.MAX_BODY + 1))


@given(frames)
def test_round_trip(frame):
    seq, op, body = frame
    assert FrameReader().feed(P.encode_frame(seq, op, body)) == [Frame(seq, op, body)]


@given(st.lists(frames, max_size=6), st.integers(1, 40))
def test_round_trip_in_arbitrary_chunks(items, chunk):
    wire = b"".join(P.encode_frame(*f) for f in items)
    reader, out = FrameReader(), []
    for k in range(0, len(wire), chunk):
        out += reader.feed(wire[k:k + chunk])
    assert out == [Frame(*f) for f in items]


@settings(max_examples=200)
@given(st.lists(st.one_of(frames.map(lambda f: ("frame", f)),
                          st.binary(min_size=1, max_size=300).map(lambda g: ("garbage", g))),
                max_size=8))
def test_garbage_between_frames_never_raises_and_every_frame_is_recovered(items):
    """Garbage followed by a 0x00 is one bad chunk at worst; every valid frame after a 0x00 is
    decoded."""
    wire, expected = b"", []
    for kind, item in items:
        if kind == "frame":
            wire += P.encode_frame(*item)
            expected.append(Frame(*item))
        else:
            wire += item + b"\x00"
    out = FrameReader().feed(wire)
    assert all(isinstance(item, (Frame, FrameError)) for item in out)
    good = [f for f in out if isinstance(f, Frame)]
    # garbage may decode to an accidental valid frame (CRC collision); the real ones all arrive
    it = iter(good)
    assert all(any(g == e for g in it) for e in expected)


def test_empty_chunks_are_ignored():
    wire = P.encode_frame(1, 2, b"x")
    assert FrameReader().feed(b"\x00\x00\x00" + wire + b"\x00") == [Frame(1, 2, b"x")]


def test_corrupted_frame_is_a_crc_error_with_its_seq_and_op():
    data = bytearray(cobs.decode(P.encode_frame(9, Op.LEARN, b"\x03")[:-1]))
    data[2] ^= 0x10
    out = FrameReader().feed(cobs.encode(bytes(data)) + b"\x00")
    assert out == [FrameError(ErrorCode.CRC, 9, Op.LEARN, 6)]
    assert out[0].detail == 0


@given(frames, st.integers(0, 300), st.integers(0, 7))
def test_single_bit_flip_is_always_detected(frame, position, bit):
    wire = bytearray(P.encode_frame(*frame))
    position %= len(wire) - 1
    wire[position] ^= 1 << bit
    out = FrameReader().feed(bytes(wire) + b"\x00")
    assert out != [Frame(*frame)]                  # never silently the same frame
    assert all(isinstance(item, (Frame, FrameError)) for item in out)


def test_truncated_frame_is_a_typed_error():
    wire = P.encode_frame(4, Op.WRITE, bytes(range(1, 40)))
    out = FrameReader().feed(wire[:10] + b"\x00")
    assert len(out) == 1 and isinstance(out[0], FrameError)
    assert out[0].code in (ErrorCode.CRC, ErrorCode.COBS)
    short = FrameReader().feed(cobs.encode(b"\x01\x02\x03") + b"\x00")
    assert short == [FrameError(ErrorCode.LENGTH, 1, 2, 3)] and short[0].detail == 3
    assert FrameReader().feed(b"\x05\x01\x02\x00")[0].code == ErrorCode.COBS


def test_oversized_frames_are_length_errors():
    data = b"\x01\x02" + (bytes(range(1, 100)) + b"\x00") * 2 + bytes(range(1, 57))
    assert len(data) == 258 and len(cobs.encode(data)) == 259          # decoded: 258 bytes
    out = FrameReader().feed(cobs.encode(data) + b"\x00")
    assert out[0].code == ErrorCode.LENGTH and out[0].detail == len(data)
    assert (out[0].seq, out[0].op) == (1, 2)
    long = b"\x01\x02" + bytes(range(1, 200)) + bytes(range(1, 60))   # wire 263 bytes
    out = FrameReader().feed(cobs.encode(long) + b"\x00")
    assert out[0].code == ErrorCode.LENGTH and out[0].detail == len(long)
    # the detail saturates: a frame of 65,535 decoded bytes or more reports 65,535
    huge = FrameReader(limit=1 << 20).feed(cobs.encode(bytes(range(1, 256)) * 300) + b"\x00")
    assert huge[0].code == ErrorCode.LENGTH and huge[0].detail == 0xFFFF
    runaway = FrameReader(limit=100)
    assert runaway.feed(b"\x07" * 5000) == []
    out = runaway.feed(b"\x00" + P.encode_frame(3, 4, b""))
    assert out[0].code == ErrorCode.LENGTH and out[0].detail == 5000 - 1
    assert out[1] == Frame(3, 4, b"")


@given(st.binary(max_size=600))
def test_decoder_never_raises_on_garbage(garbage):
    reader = FrameReader()
    out = reader.feed(garbage) + reader.feed(b"\x00")
    assert all(isinstance(item, (Frame, FrameError)) for item in out)
    assert reader.feed(P.encode_frame(1, 1)) == [Frame(1, 1, b"")]


# --- bodies ---------------------------------------------------------------------------------------
def test_identity_round_trip_and_size():
    config = Config()
    from plasticore.chip.memmap import Mem, MemoryMap

    core = MemoryMap(config)
    ident = P.Identity.of(config, core, clk_hz=12_000_000, baud_divisor=104, rx_window=1024)
    body = ident.pack()
    assert body[:5] == b"PLCO\x03" and body[5:13] == bytes.fromhex(config.core_hash)
    assert len(body) == 33 + 2 * 3 + 29 and P.probe_reply_bytes(3) == 39
    assert P.Identity.unpack(body) == ident
    assert ident.word_bytes == 12 and ident.n_outputs == 10 and ident.n_steps == config.n_steps
    assert ident.depth(Mem.WEIGHT) == core.n_weights and ident.depth(Mem.FEEDBACK) == core.n_feedback
    assert ident.max_read == 21 and ident.max_write == 20 and ident.max_events == 252
    assert ident.lr_hidden_range == config.lr_shift_range("lr_hidden_shift")
    assert ident.first_seq == 0 and ident.writable == 0b110111
    assert ident.widths == (config.weight.bits, 96, 32, 1, 32, config.feedback.bits)
    with pytest.raises(P.ProtocolError):
        P.Identity.unpack(body[:-1])


@given(st.lists(st.integers(0, 0xFFFF), min_size=15, max_size=15))
def test_status_round_trip(values):
    status = P.Status(values[0], values[1] & 0xFF, *values[2:])
    body = status.pack()
    assert len(body) == 37
    assert P.Status.unpack(body) == status


def test_status_flag_names():
    assert P.Status(flags=0b1000001).flag_names == ("state", "feedback")


@given(st.integers(0, 5), st.integers(0, 0xFFFF), st.lists(st.integers(0, (1 << 96) - 1), min_size=1,
                                                          max_size=20))
def test_read_write_seeds_error_bodies_round_trip(mem, addr, words):
    assert P.unpack_read(P.pack_read(mem, addr, len(words))) == (mem, addr, len(words))
    assert P.unpack_write(P.pack_write(mem, addr, words, 12), 12) == (mem, addr, words)
    assert P.unpack_seeds(P.pack_seeds(addr + 1, 0xFFFFFFFF)) == (addr + 1, 0xFFFFFFFF)
    assert P.unpack_error(P.pack_error(7, 5, addr)) == (7, 5, addr)


# --- events -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_inputs, nbytes", [(1, 1), (254, 1), (255, 2), (784, 2), (65534, 2),
                                              (65535, 3)])
def test_event_bytes(n_inputs, nbytes):
    assert P.event_bytes(n_inputs) == nbytes


@given(st.integers(1, 12), st.integers(1, 300), st.integers(0, 2**32 - 1), st.floats(0, 1))
def test_sample_codes_layout(n_steps, n_inputs, seed, density):
    nbytes = P.event_bytes(n_inputs)
    raster = np.random.default_rng(seed).random((n_steps, n_inputs)) < density
    codes = P.sample_codes(raster, nbytes)
    expected = [P.sample_code(nbytes)]
    for row in raster:
        expected += np.flatnonzero(row).tolist() + [P.step_code(nbytes)]
    assert codes.tolist() == expected
    bodies = P.event_frames(codes, nbytes)
    assert all(0 < len(b) <= P.MAX_BODY and len(b) % nbytes == 0 for b in bodies)
    assert sum((P.unpack_codes(b, nbytes) for b in bodies), []) == expected


def test_a_ttfs_digit_fits_one_events_frame():
    from plasticore.golden import datasets
    from plasticore.golden.train import encode_images

    data = datasets.load("digits")
    raster = encode_images(Config(), data.x_train[:1])[0]
    codes = P.sample_codes(raster, 1)
    assert len(codes) <= P.MAX_BODY and len(P.event_frames(codes, 1)) == 1
