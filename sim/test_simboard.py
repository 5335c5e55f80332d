"""The simulated board end to end: the Verilated top level (UART, protocol engine, core) on a real
pseudo-terminal, driven by the same host code as a real board (``LinkBoard`` over pyserial).

* online training on digits over the link ends with weights and feedback read back over the link
  equal to the in-process golden board's, bit for bit, and the same history as ``golden.train``,
  with the learning rates changed by ``RATES`` between the epochs;
* the board going away mid-run (its process killed) is reported as a disconnect naming the port,
  and the last periodic checkpoint stays valid;
* a board built for another configuration is refused by its hash before anything is written.

Builds (cached in ``~/.cache/plasticore/simboard``) take about a minute each the first time.
"""

import os
import signal

import numpy as np
import pytest
import serial

from plasticore.chip.boardspec import REFERENCE_KIND, SIMULATED_KIND, BoardSpec
from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.host import checkpoint as ckpt
from plasticore.host.board import BoardDisconnected, BoardMismatch, GoldenBoard, LinkBoard
from plasticore.host.simboard import DEFAULT_BAUD, SimulatedBoard
from plasticore.host.samples import PixelSamples
from plasticore.host.training import train_on_board

# the digits network with a smaller hidden layer: a quicker build, the same circuit otherwise;
# faster learning rates from epoch 2 on, so that the two-epoch run crosses a RATES request
CONFIG = Config(layers=(64, 16, 10), lr_schedule=[[2, 13, 6]])


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


def sets(data, n_train=24, n_test=12):
    return (PixelSamples(CONFIG, data.x_train[:n_train], data.y_train[:n_train]),
            PixelSamples(CONFIG, data.x_test[:n_test], data.y_test[:n_test]))


def test_training_over_the_link_equals_the_golden_board(digits):
    train_set, test_set = sets(digits)
    reference = train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=2, seed=1,
                               progress=False)
    with SimulatedBoard(CONFIG) as sim:
        board = LinkBoard(serial.Serial(sim.port, timeout=10), CONFIG)
        result = train_on_board(board, CONFIG, train_set, test_set, epochs=2, seed=1, progress=False)
        weights, feedback = board.read_params()
        status = board.status()
        board.close()
    assert result.history == reference.history
    ref_w, ref_b = reference.network.weights(), reference.network.feedback
    for k, w in enumerate(weights):
        np.testing.assert_array_equal(w, np.asarray(ref_w[k])[0], err_msg=f"weights of layer {k}")
    for k, b in enumerate(feedback):
        np.testing.assert_array_equal(b, np.asarray(ref_b[k])[0], err_msg=f"feedback {k}")
    assert status.errors == 0 and status.rx_overruns == 0 and status.rx_framing == 0
    assert sim.stats()["cycles"] > 0


#: issue 23's rule on the same network: integrate + softmax + surrogate, the readout control's
#: rates (experiments/configs/surrogate-softmax.json), one step slower from epoch 2 (RATES)
NEW_RULE = Config(layers=(64, 16, 10), output_layer="integrate", output_loss="softmax",
                  eligibility="surrogate", surrogate_width=0.5, rate_reg_shift=None,
                  init_output=0.0, lr_hidden_shift=6, lr_output_shift=9, lr_schedule=[[2, 7, 10]])


@pytest.mark.parametrize("kind", [SIMULATED_KIND, REFERENCE_KIND])
def test_new_rule_training_over_the_link_equals_the_golden_board(digits, kind):
    """The new rule over the link: the board scores by V_o (read from STATE behind each sample)
    and ends with the golden board's weights, feedback and history, bit for bit; on the kind of
    core the simulated board runs (``make train``) and on the ULX3S's (pipelined)."""
    train_set = PixelSamples(NEW_RULE, digits.x_train[:24], digits.y_train[:24])
    test_set = PixelSamples(NEW_RULE, digits.x_test[:12], digits.y_test[:12])
    reference = train_on_board(GoldenBoard(NEW_RULE), NEW_RULE, train_set, test_set, epochs=2,
                               seed=1, progress=False)
    with SimulatedBoard(BoardSpec(NEW_RULE, core=kind, baud=DEFAULT_BAUD)) as sim:
        board = LinkBoard(serial.Serial(sim.port, timeout=10), NEW_RULE)
        result = train_on_board(board, NEW_RULE, train_set, test_set, epochs=2, seed=1,
                                progress=False)
        weights, feedback = board.read_params()
        board.close()
    assert board.core_kind == kind
    assert result.history == reference.history
    ref_w, ref_b = reference.network.weights(), reference.network.feedback
    for k, w in enumerate(weights):
        np.testing.assert_array_equal(w, np.asarray(ref_w[k])[0], err_msg=f"weights of layer {k}")
    for k, b in enumerate(feedback):
        np.testing.assert_array_equal(b, np.asarray(ref_b[k])[0], err_msg=f"feedback {k}")
    assert (weights[1] != 0).any()


def test_board_killed_mid_run_leaves_a_valid_checkpoint(digits, tmp_path):
    train_set, test_set = sets(digits, n_train=40)
    path = tmp_path / "run.npz"
    with SimulatedBoard(CONFIG) as sim:
        board = LinkBoard(serial.Serial(sim.port, timeout=5), CONFIG)

        streamed = []
        original = board.stream_one

        def counting(sample, on_result, **kw):      # pull the plug at the 20th sample
            streamed.append(1)
            if len(streamed) == 20:
                os.kill(sim.process.pid, signal.SIGKILL)
            return original(sample, on_result, **kw)

        board.stream_one = counting
        with pytest.raises(BoardDisconnected) as caught:
            train_on_board(board, CONFIG, train_set, test_set, epochs=1, seed=0,
                           checkpoint_path=path, checkpoint_every=8, progress=False)
        board.close()
    assert sim.port in str(caught.value)
    point = ckpt.load(path, CONFIG)
    assert point.epoch == 1 and point.index in (8, 16)
    # the checkpoint resumes on the golden board to the uninterrupted run's history
    reference = train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=1, seed=0,
                               progress=False)
    resumed = train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=1, seed=0,
                             resume=point, progress=False)
    assert resumed.history == reference.history


def test_a_board_built_for_another_configuration_is_refused():
    other = CONFIG.replace(error_clip=2)                                 # same circuit sizes
    with SimulatedBoard(CONFIG) as sim:
        with pytest.raises(BoardMismatch) as caught:
            LinkBoard(serial.Serial(sim.port, timeout=5), other)
    message = str(caught.value)
    assert sim.spec.board_hash in message and other.board_hash in message and sim.port in message


class _DropsOneWrite(serial.Serial):
    """A serial port whose write number ``drop`` (counted from 0) never reaches the board."""

    drop, writes = None, 0

    def write(self, data):
        self.writes += 1
        if self.writes - 1 == self.drop:
            return len(data)
        return super().write(data)


def test_a_lone_lost_request_is_recovered_by_the_rtl_in_two_round_trips(digits):
    """The Verilated board after a lone request lost whole (nothing behind it to draw a SEQ
    error): the host's probe after the timeout gets the RTL's SEQ error naming the lost seq, the
    request goes again, and the weights read back equal the golden board's."""
    train_set, _ = sets(digits, n_train=2)
    golden = GoldenBoard(CONFIG)
    with SimulatedBoard(CONFIG) as sim:
        port = _DropsOneWrite(sim.port)
        board = LinkBoard(port, CONFIG, timeout=2)
        for target in (golden, board):
            target.write_params(*Network.initial_weights(CONFIG, 0))
            target.reset()
        port.drop = port.writes                         # the RATES request below, lost whole
        assert board.rates(7, 10) == golden.rates(7, 10) == (7, 10)
        raster, label = train_set.raster(0), int(train_set.labels[0])
        golden.run_sample(raster, label)
        board.run_sample(raster, label)
        weights = board.read_params()[0]
        status = board.check_counters()
        board.close()
    # one probe (more only if a loaded machine made the board late)
    assert board.resent >= 1 and status.seq_errors == board.recovered["seq_errors"] >= 1
    assert status.learns == 1
    for k, w in enumerate(weights):
        np.testing.assert_array_equal(w, np.asarray(golden.read_params()[0][k]))
