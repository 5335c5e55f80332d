"""The board side of the protocol in Python (host/emulator.py): every op, every error code, the
seq rules, the counters, and that a rejected frame changes no state."""

import numpy as np
import pytest
from cobs import cobs

from plasticore.golden.config import Config
from plasticore.golden.network import FLAG_NAMES, Network
from plasticore.chip import protocol as P
from plasticore.chip.boardspec import BoardSpec
from plasticore.host.emulator import Emulator, EmulatorPty
from plasticore.chip.protocol import ErrorCode, Frame, Op
from plasticore.rtl.core import Mem
from plasticore.chip.golden_view import golden_params, golden_words

SMALL = Config(layers=(12, 6, 3), n_steps=8, input_window=4)


class Client:
    """Sends frames to an emulator with the right seq (unless told otherwise)."""

    def __init__(self, emulator):
        self.emu = emulator
        self.reader = P.FrameReader()
        self.seq = 0

    def raw(self, wire: bytes):
        return self.reader.feed(self.emu.feed(wire))

    def send(self, op, body=b"", seq=None):
        seq = self.seq if seq is None else seq
        out = self.raw(P.encode_frame(seq, op, body))
        assert len(out) == 1, out
        self.seq = (seq + 1) & 0xFF
        return out[0]

    def ok(self, op, body=b""):
        reply = self.send(op, body)
        assert reply.op == op | 0x80, (reply, _error(reply))
        return reply.body

    def error(self, op, body=b"", seq=None):
        reply = self.send(op, body, seq)
        assert reply.op == Op.ERROR, reply
        return P.unpack_error(reply.body)

    def status(self):
        return P.Status.unpack(self.ok(Op.STATUS))


def _error(reply):
    return P.unpack_error(reply.body) if reply.op == Op.ERROR else None


def snapshot(emu):
    net = emu.net
    state = {"lfsr": (int(net.lfsr_perturb[0]), int(net.lfsr_round[0])), "step": net.step_index,
             "row": emu._row.copy(), "learned": emu.learned,
             "flags": {k: v.copy() for k, v in net.flags.items()}}
    for k, layer in enumerate(net.layers):
        for name in ("w", "trace_x", "trace_y", "a", "c", "grade_sum", "count", "last_step",
                     "grade_total", "perturbation", "ghat", "ehat"):
            state[f"{k}.{name}"] = np.array(getattr(layer, name)).copy()
    for k, fb in enumerate(net.feedback):
        state[f"fb{k}"] = fb.copy()
    return state


def assert_same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], dict):
            for name in a[key]:
                assert np.array_equal(a[key][name], b[key][name]), key
        else:
            assert np.array_equal(a[key], b[key]), key


def random_params(config, seed):
    return Network.initial_weights(config, seed)


@pytest.fixture
def emu():
    return Emulator(SMALL)


@pytest.fixture
def client(emu):
    client = Client(emu)
    client.ok(Op.IDENTIFY)
    return client


def write_params(client, config, weights, feedback):
    wb = client.emu.word_bytes
    flat_w = np.concatenate([w.ravel() for w in weights])
    flat_b = np.concatenate([b.ravel() for b in feedback])
    per = (P.MAX_BODY - 3) // wb
    for mem, flat, bits in ((Mem.WEIGHT, flat_w, config.weight.bits),
                            (Mem.FEEDBACK, flat_b, config.feedback.bits)):
        words = [int(v) & ((1 << bits) - 1) for v in flat]
        for start in range(0, len(words), per):
            client.ok(Op.WRITE, P.pack_write(mem.value, start, words[start:start + per], wb))


def sample_raster(config, seed):
    rng = np.random.default_rng(seed)
    raster = rng.random((config.n_steps, config.n_inputs)) < 0.3
    raster[config.input_window:] = False
    return raster


# --- IDENTIFY, seq -------------------------------------------------------------------------------------
def test_identify_any_seq_sets_expected_seq(emu):
    client = Client(emu)
    body = client.send(Op.IDENTIFY, seq=77)
    assert body.seq == 77 and body.op == Op.IDENTIFY | 0x80
    ident = P.Identity.unpack(body.body)
    assert ident == BoardSpec(SMALL).identity() and ident.board_hash == SMALL.board_hash
    assert ident.event_bytes == 1 and ident.layers == (12, 6, 3) and ident.rx_window == 1024
    assert client.seq == 78 and client.ok(Op.COUNTS) == bytes(3)


def test_wrong_seq_is_rejected_without_advancing_and_identify_resyncs(client):
    assert client.error(Op.COUNTS, seq=5) == (ErrorCode.SEQ, Op.COUNTS, 1)
    assert client.error(Op.COUNTS, seq=6) == (ErrorCode.SEQ, Op.COUNTS, 1)
    client.seq = 1
    client.ok(Op.COUNTS)
    client.send(Op.RESET, seq=200)
    assert client.error(Op.COUNTS, seq=0) == (ErrorCode.SEQ, Op.COUNTS, 201)
    client.seq = 201
    assert client.status().seq_errors == 1       # RESET cleared the two before


def test_seq_wraps_modulo_256(client):
    for _ in range(300):
        client.ok(Op.COUNTS)
    assert client.status().frames == 301          # STATUS does not count itself


def test_bad_crc_garbage_and_recovery(client, emu):
    before = snapshot(emu)
    wire = bytearray(cobs.decode(P.encode_frame(client.seq, Op.CLEAR, b"\xff\x00")[:-1]))
    wire[-1] ^= 1
    out = client.raw(cobs.encode(bytes(wire)) + b"\x00")
    assert out[0].seq == client.seq and P.unpack_error(out[0].body) == (ErrorCode.CRC, Op.CLEAR, 0)
    out = client.raw(b"\x00\x00garbage\x13\x37\x00")
    assert [P.unpack_error(f.body)[0] for f in out] == [ErrorCode.COBS]
    out = client.raw(b"\x02\x01\x00")                  # decodes to 1 byte: too short
    assert P.unpack_error(out[0].body) == (ErrorCode.LENGTH, 0, 1)      # detail: the frame's length
    # version 2's hole: the frame followed by zero bytes (0x01 inserted before the delimiter)
    for extra in (1, 2, 7):
        decoded = cobs.decode(P.encode_frame(client.seq, Op.WRITE,
                                             P.pack_write(0, 0, [5], emu.word_bytes))[:-1])
        out = client.raw(cobs.encode(decoded + bytes(extra)) + b"\x00")
        assert P.unpack_error(out[0].body)[0] in (ErrorCode.CRC, ErrorCode.LENGTH)
    # a frame whose length byte disagrees with its length (CRC correct): LENGTH
    frame = bytes((client.seq, Op.STATUS, 1))
    out = client.raw(cobs.encode(frame + P.crc16(frame).to_bytes(2, "big")) + b"\x00")
    assert P.unpack_error(out[0].body) == (ErrorCode.LENGTH, Op.STATUS, 5)
    assert_same(before, snapshot(emu))
    status = client.status()                           # the seq did not advance
    assert (status.crc_errors, status.cobs_errors, status.length_errors) == (4, 1, 2)


def test_unknown_and_reply_ops_are_op_errors_that_advance_the_seq(client):
    assert client.error(0x0C) == (ErrorCode.OP, 0x0C, 0)
    assert client.error(0x81) == (ErrorCode.OP, 0x81, 0)
    assert client.error(0xFF, b"\x01\x02\x03\x04") == (ErrorCode.OP, 0xFF, 0)
    assert client.status().op_errors == 3


@pytest.mark.parametrize("op, body", [
    (Op.IDENTIFY, b"x"), (Op.RESET, b"x"), (Op.READ, b"\x00\x00\x00"), (Op.WRITE, b"\x00\x00\x00"),
    (Op.WRITE, bytes(3 + 13)), (Op.EVENTS, b""), (Op.LEARN, b""), (Op.LEARN, b"\x00\x00"),
    (Op.COUNTS, b"\x00"), (Op.STATUS, b"\x00"), (Op.SEEDS, bytes(7)), (Op.CLEAR, b"\x00"),
    (Op.RATES, b"\x0f"), (Op.RATES, b"\x0f\x07\x00"),
])
def test_body_length_wrong_for_the_op_is_length_and_advances(client, op, body):
    """An intact frame (CRC and length byte good) whose body is wrong for its op: LENGTH with the
    frame's length, and the seq advances (IDENTIFY and RESET resynchronise even so)."""
    assert client.error(op, body) == (ErrorCode.LENGTH, op, len(body) + 5)
    assert client.status().length_errors == 1


@pytest.mark.parametrize("op", [Op.IDENTIFY, Op.RESET])
def test_identify_or_reset_with_a_wrong_body_resynchronise(client, op):
    assert client.error(op, b"xy", seq=140) == (ErrorCode.LENGTH, op, 7)
    assert client.seq == 141 and client.ok(Op.COUNTS) == bytes(3)


def test_version_probe_is_answered_in_version_2_framing_with_the_head(emu):
    """A version 2 host sends IDENTIFY in its framing and reads the head of the answer with its
    own layout (33 bytes and the layer sizes), checking the version: it finds 3 and refuses."""
    import binascii
    import struct

    out = emu.feed(P.encode_v2_frame(40, Op.IDENTIFY))
    data = cobs.decode(out[:-1])
    assert binascii.crc_hqx(data, 0xFFFF) == 0                # version 2's CRC check
    seq, op, body = data[0], data[1], data[2:-2]
    assert (seq, op) == (40, Op.IDENTIFY | 0x80)
    magic, version, *_, n_sizes = struct.unpack_from("<4sB8s8sIHHBBBB", body)
    assert len(body) == 33 + 2 * n_sizes == P.probe_reply_bytes(3)   # version 2's exact size
    assert (magic, version) == (b"PLCO", 3)
    client = Client(emu)
    client.seq = 41                                           # the probe set the expected seq
    assert client.ok(Op.COUNTS) == bytes(3)


def test_rates_with_an_empty_body_reads_the_rates_in_force(client):
    assert P.unpack_rates(client.ok(Op.RATES)) == (SMALL.lr_hidden_shift, SMALL.lr_output_shift)
    assert P.unpack_rates(client.ok(Op.RATES, P.pack_rates(11, 5))) == (11, 5)
    assert P.unpack_rates(client.ok(Op.RATES)) == (11, 5)


# --- READ / WRITE -------------------------------------------------------------------------------------------
def test_write_then_read_every_memory_and_the_network_sees_it(client, emu):
    config = SMALL
    weights, feedback = random_params(config, 3)
    write_params(client, config, weights, feedback)
    for k, w in enumerate(weights):
        assert np.array_equal(emu.net.layers[k].w[0], w)
    assert np.array_equal(emu.net.feedback[0][0], feedback[0])
    expected = golden_params(emu.core, Network(config, weights, feedback, seed=None))
    for (mem, addr), value in expected.items():
        raw = P.unpack_words(client.ok(Op.READ, P.pack_read(mem.value, addr, 1)), emu.word_bytes)[0]
        assert emu.core.decode(mem, raw) == value
    rng = np.random.default_rng(1)
    for mem in (Mem.STATE, Mem.TRACE, Mem.GRAD):
        depth = emu.memory.depth(mem)
        words = [int(rng.integers(0, 1 << 62)) << 34 | int(rng.integers(0, 1 << 34))
                 for _ in range(depth)]
        words = [emu.core.encode(mem, emu.core.decode(mem, w)) for w in words]   # field bits only
        per = (P.MAX_BODY - 3) // emu.word_bytes
        for start in range(0, depth, per):
            client.ok(Op.WRITE, P.pack_write(mem.value, start, words[start:start + per], emu.word_bytes))
        read = []
        for start in range(0, depth, 21):
            count = min(21, depth - start)
            read += P.unpack_words(client.ok(Op.READ, P.pack_read(mem.value, start, count)),
                                   emu.word_bytes)
        assert read == words
    view = golden_words(emu.core, emu.net)
    for (mem, addr), value in view.items():
        if mem != Mem.PERTURB:
            assert emu.core.decode(mem, emu.memory.read(mem, addr)) == value


def test_reads_match_the_golden_view_after_a_sample(client, emu):
    weights, feedback = random_params(SMALL, 5)
    write_params(client, SMALL, weights, feedback)
    codes = P.sample_codes(sample_raster(SMALL, 0), 1)
    client.ok(Op.EVENTS, P.pack_codes(codes, 1))
    client.ok(Op.LEARN, b"\x01")
    view = {**golden_words(emu.core, emu.net), **golden_params(emu.core, emu.net)}
    for (mem, addr), value in view.items():
        raw = P.unpack_words(client.ok(Op.READ, P.pack_read(mem.value, addr, 1)), emu.word_bytes)[0]
        assert emu.core.decode(mem, raw) == value, (mem, addr)


@pytest.mark.parametrize("body, detail", [
    (P.pack_read(6, 0, 1), 0),
    (P.pack_read(Mem.STATE.value, 9, 1), 1),              # 9 neurons: 0..8
    (P.pack_read(Mem.WEIGHT.value, 0, 0), 3),
    (P.pack_read(Mem.WEIGHT.value, 0, 22), 3),            # 252 // 12 = 21 words at most
    (P.pack_read(Mem.PERTURB.value, 4, 3), 1),            # 6 hidden neurons
])
def test_read_arguments_out_of_range(client, emu, body, detail):
    before = snapshot(emu)
    assert client.error(Op.READ, body) == (ErrorCode.ARG, Op.READ, detail)
    assert_same(before, snapshot(emu))
    assert client.status().arg_errors == 1


def test_write_arguments_and_perturb(client, emu):
    wb = emu.word_bytes
    before = snapshot(emu)
    assert client.error(Op.WRITE, P.pack_write(7, 0, [1], wb)) == (ErrorCode.ARG, Op.WRITE, 0)
    assert client.error(Op.WRITE, P.pack_write(Mem.TRACE.value, 18, [1], wb)) == \
        (ErrorCode.ARG, Op.WRITE, 1)
    assert client.error(Op.WRITE, P.pack_write(Mem.TRACE.value, 16, [1, 2, 3], wb)) == \
        (ErrorCode.ARG, Op.WRITE, 1)
    assert client.error(Op.WRITE, P.pack_write(Mem.PERTURB.value, 0, [1], wb)) == \
        (ErrorCode.STATE, Op.WRITE, 0)
    assert_same(before, snapshot(emu))
    status = client.status()
    assert (status.arg_errors, status.state_errors, status.frames) == (3, 1, 1)


# --- EVENTS, LEARN, COUNTS ----------------------------------------------------------------------------------
def test_samples_over_the_protocol_equal_the_golden_network(client, emu):
    config = SMALL
    weights, feedback = random_params(config, 7)
    write_params(client, config, weights, feedback)
    client.ok(Op.SEEDS, P.pack_seeds(0x1234, 0x5678))
    net = Network(config, weights, feedback, seed=None)
    net.lfsr_perturb[0], net.lfsr_round[0] = 0x1234, 0x5678
    for k in range(6):
        raster = sample_raster(config, k)
        codes = P.sample_codes(raster, 1)
        steps = [client.ok(Op.EVENTS, body)[0] for body in (P.pack_codes(codes[:9], 1),
                                                            P.pack_codes(codes[9:], 1))]
        assert steps[-1] == config.n_steps
        counts = client.ok(Op.LEARN if k % 3 else Op.COUNTS, bytes([k % 3]) if k % 3 else b"")
        net.run(raster)
        assert list(counts) == net.layers[-1].count[0].tolist()
        if k % 3:
            net.learn([k % 3])
    for k in range(2):
        assert np.array_equal(emu.net.layers[k].w, net.layers[k].w)
    assert np.array_equal(emu.net.feedback[0], net.feedback[0])
    assert int(emu.net.lfsr_round[0]) == int(net.lfsr_round[0])
    status = client.status()
    assert (status.samples, status.learns, status.step) == (6, 4, config.n_steps)
    assert status.events == sum(int(sample_raster(config, k).sum()) for k in range(6))


def test_rates_change_the_learning_rates_like_the_golden_networks_config(client, emu):
    """RATES between samples: the board learns from then on as a golden network whose config has
    those rates; the reply echoes them; RESET keeps them; out-of-range rates are ARG and change
    nothing."""
    config = SMALL
    weights, feedback = random_params(config, 3)
    write_params(client, config, weights, feedback)
    assert client.ok(Op.RATES, P.pack_rates(config.lr_hidden_shift, config.lr_output_shift)) == \
        P.pack_rates(config.lr_hidden_shift, config.lr_output_shift)   # power-up: the config's
    net = Network(config, weights, feedback, seed=None)
    net.lfsr_perturb[0], net.lfsr_round[0] = (int(emu.net.lfsr_perturb[0]), int(emu.net.lfsr_round[0]))
    rates = [None, (9, 4), None, (21, 24), (0, 2)]
    for k, change in enumerate(rates):
        if change:
            assert client.ok(Op.RATES, P.pack_rates(*change)) == P.pack_rates(*change)
            net.config = net.config.replace(lr_hidden_shift=change[0], lr_output_shift=change[1])
        client.ok(Op.EVENTS, P.pack_codes(P.sample_codes(sample_raster(config, k), 1), 1))
        client.ok(Op.LEARN, bytes([k % 3]))
        net.run(sample_raster(config, k))
        net.learn([k % 3])
        for q in range(2):
            assert np.array_equal(emu.net.layers[q].w, net.layers[q].w), (k, q)
    client.ok(Op.RESET)
    assert (emu.net.config.lr_hidden_shift, emu.net.config.lr_output_shift) == (0, 2)
    before = snapshot(emu)
    assert client.error(Op.RATES, P.pack_rates(22, 7)) == (ErrorCode.ARG, Op.RATES, 0)
    assert client.error(Op.RATES, P.pack_rates(15, 1)) == (ErrorCode.ARG, Op.RATES, 1)
    assert client.error(Op.RATES, P.pack_rates(15, 25)) == (ErrorCode.ARG, Op.RATES, 1)
    assert_same(before, snapshot(emu))
    assert (emu.net.config.lr_hidden_shift, emu.net.config.lr_output_shift) == (0, 2)
    assert client.status().arg_errors == 3


def test_events_step_reply_and_a_step_split_across_frames(client):
    assert client.ok(Op.EVENTS, bytes([254, 1, 2])) == b"\x00"
    assert client.ok(Op.EVENTS, bytes([3, 255, 4])) == b"\x01"
    assert client.error(Op.EVENTS, bytes([1, 4])) == (ErrorCode.STATE, Op.EVENTS, 1)
    assert client.error(Op.EVENTS, bytes([5, 255, 2, 2])) == (ErrorCode.STATE, Op.EVENTS, 3)
    assert client.ok(Op.EVENTS, bytes([5, 255, 2, 255])) == b"\x03"


@pytest.mark.parametrize("codes, error", [
    ([254, 1, 1], (ErrorCode.STATE, 2)),                      # duplicate spike in one step
    ([254] + [255] * 9, (ErrorCode.STATE, 9)),                # a ninth STEP (n_steps = 8)
    ([254] + [255] * 8 + [3], (ErrorCode.STATE, 9)),          # a spike after the last STEP
    ([254, 1, 12], (ErrorCode.ARG, 2)),                       # not an input, not SAMPLE/STEP
    ([254, 1, 253], (ErrorCode.ARG, 2)),
    ([254, 1, 253, 1, 1], (ErrorCode.ARG, 2)),                # the first offender decides
    ([254, 1, 1, 13], (ErrorCode.STATE, 2)),
])
def test_bad_events_frames_change_nothing(client, emu, codes, error):
    client.ok(Op.EVENTS, bytes([254, 5, 255, 6]))
    before = snapshot(emu)
    code, op, detail = client.error(Op.EVENTS, bytes(codes))
    assert (code, detail) == error and op == Op.EVENTS
    assert_same(before, snapshot(emu))
    status = client.status()
    assert (status.samples, status.events, status.step) == (1, 2, 1)


def test_events_with_two_byte_codes():
    config = Config(layers=(300, 4, 2), n_steps=4, input_window=2)
    emu = Emulator(config)
    client = Client(emu)
    assert P.Identity.unpack(client.ok(Op.IDENTIFY)).event_bytes == 2
    assert client.ok(Op.EVENTS, P.pack_codes([65534, 299, 0, 65535], 2)) == b"\x01"
    assert client.error(Op.EVENTS, P.pack_codes([300], 2)) == (ErrorCode.ARG, Op.EVENTS, 0)
    assert client.error(Op.EVENTS, b"\x01\x00\x02") == (ErrorCode.LENGTH, Op.EVENTS, 3 + 5)


def test_learn_state_and_label_errors(client, emu):
    assert client.error(Op.LEARN, b"\x00") == (ErrorCode.STATE, Op.LEARN, 0)   # before any STEP
    client.ok(Op.EVENTS, bytes([254] + [255] * 7))
    before = snapshot(emu)
    assert client.error(Op.LEARN, b"\x01") == (ErrorCode.STATE, Op.LEARN, 0)   # 7 of 8 STEPs
    assert client.error(Op.LEARN, b"\x03") == (ErrorCode.ARG, Op.LEARN, 0)     # 3 outputs
    assert_same(before, snapshot(emu))
    client.ok(Op.EVENTS, bytes([255]))
    assert client.ok(Op.LEARN, b"\x02") == bytes(3)
    before = snapshot(emu)
    assert client.error(Op.LEARN, b"\x02") == (ErrorCode.STATE, Op.LEARN, 0)   # twice
    assert_same(before, snapshot(emu))
    assert client.ok(Op.COUNTS) == bytes(3)
    status = client.status()
    assert (status.learns, status.state_errors, status.arg_errors) == (1, 3, 1)


# --- SEEDS, CLEAR, STATUS, RESET ----------------------------------------------------------------------------
def test_seeds(client, emu):
    client.ok(Op.SEEDS, P.pack_seeds(0xDEADBEEF, 0x12345678))
    assert (int(emu.net.lfsr_perturb[0]), int(emu.net.lfsr_round[0])) == (0xDEADBEEF, 0x12345678)
    before = snapshot(emu)
    assert client.error(Op.SEEDS, P.pack_seeds(0, 1)) == (ErrorCode.ARG, Op.SEEDS, 0)
    assert client.error(Op.SEEDS, P.pack_seeds(1, 0)) == (ErrorCode.ARG, Op.SEEDS, 4)
    assert_same(before, snapshot(emu))


def test_flags_clear_and_reset(client, emu):
    for name in ("state", "grad", "feedback"):
        emu.net.flags[name][0] = True
    status = client.status()
    assert status.flag_names == ("state", "grad", "feedback")
    client.ok(Op.CLEAR, (0b100 | 0x8000).to_bytes(2, "little"))
    assert client.status().flag_names == ("state", "feedback")
    client.error(Op.LEARN, b"\x00")
    client.send(Op.RESET, seq=9)
    client.seq = 10
    status = client.status()
    assert status.flags == 0 and status.frames == 1 and status.state_errors == 0   # the RESET
    assert FLAG_NAMES[0] == "state"


def test_reset_starts_a_fresh_sample_and_keeps_weights_and_lfsrs(client, emu):
    weights, feedback = random_params(SMALL, 2)
    write_params(client, SMALL, weights, feedback)
    client.ok(Op.EVENTS, bytes([254, 1, 2, 255, 3, 255]))
    perturb = int(emu.net.lfsr_perturb[0])
    client.send(Op.RESET, seq=0)
    assert emu.net.step_index == 0 and not emu._row.any()
    assert np.array_equal(emu.net.layers[0].w[0], weights[0])
    assert int(emu.net.lfsr_perturb[0]) != perturb       # the fresh sample drew perturbations
    assert emu.expected_seq == 1


def test_rx_overrun_is_counted(emu):
    client = Client(emu)
    frames = b"".join(P.encode_frame(k, Op.COUNTS) for k in range(200))      # 1200 bytes
    out = client.raw(frames)
    assert len(out) < 200
    client.seq = len(out)
    client.raw(b"\x00")                                # flush the truncated frame
    status = client.status()
    assert status.rx_overruns == len(frames) - 1024


def test_serve_on_a_pseudo_terminal():
    import serial

    with EmulatorPty(Emulator(SMALL)) as pty:
        port = serial.Serial(pty.port, timeout=2)
        port.write(b"\x00" + P.encode_frame(3, Op.IDENTIFY))
        reader, out = P.FrameReader(), []
        while not out:
            data = port.read(1)
            assert data, "no reply over the pty"
            out = reader.feed(data)
        assert out[0] == Frame(3, Op.IDENTIFY | 0x80, BoardSpec(SMALL).identity().pack())
        port.close()


def test_power_up_state_is_the_cores(emu):
    assert (int(emu.net.lfsr_perturb[0]), int(emu.net.lfsr_round[0])) == \
        (SMALL.seed_perturb, SMALL.seed_round)
    assert all(emu.memory.read(Mem.PERTURB, a) == 0 for a in range(6))   # p = -1.0
    assert emu.net.step_index == 0 and not emu.net.layers[0].w.any()
