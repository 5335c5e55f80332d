"""Checkpoints (host/checkpoint.py) and training over a Board (host/training.py): round trip,
atomic writes, config refusal, LFSR bookkeeping, equality with golden.train, resume after Ctrl-C
and after a disconnect, an events file on the command line (the file itself:
test_samples.py)."""

import json

import numpy as np
import pytest

from plasticore.golden import lfsr
from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.golden.presets import OVERRIDES
from plasticore.golden.train import encode_images, train
from plasticore.host import checkpoint as ckpt
from plasticore.host.board import BoardDisconnected, GoldenBoard, LinkBoard, open_board
from plasticore.host.cli import main
from plasticore.host.emulator import Emulator, EmulatorPty
from plasticore.host.samples import PixelSamples
from plasticore.host.training import (LfsrLedger, TrainingInterrupted, draws_per_learn, epoch_order,
                                      lfsr_jump, train_on_board)

CONFIG = Config(layers=(64, 12, 10), n_steps=16, input_window=8)
#: faster rates from epoch 2 on, written to the board with RATES
SCHEDULED = CONFIG.replace(lr_schedule=[[2, 11, 5]])


def sets(data, n_train=24, n_test=12):
    return (PixelSamples(CONFIG, data.x_train[:n_train], data.y_train[:n_train]),
            PixelSamples(CONFIG, data.x_test[:n_test], data.y_test[:n_test]))


# --- checkpoint files ------------------------------------------------------------------------------------
def make_checkpoint(config=CONFIG, epoch=2, index=5):
    weights, feedback = Network.initial_weights(config, 1)
    order, state = epoch_order(1, epoch, 30)
    return ckpt.Checkpoint(config, weights, feedback, epoch=epoch, index=index, order=order,
                           rng_state=state, lfsr=(0xDEADBEEF, 7), meta={"history": [{"epoch": 1}]})


def test_round_trip(tmp_path):
    point = make_checkpoint()
    path = ckpt.save(tmp_path / "run.npz", point)
    back = ckpt.load(path, CONFIG)
    assert back.config == CONFIG and (back.epoch, back.index, back.lfsr) == (2, 5, (0xDEADBEEF, 7))
    assert all(np.array_equal(a, b) for a, b in zip(back.weights + back.feedback,
                                                     point.weights + point.feedback))
    assert np.array_equal(back.order, point.order) and back.meta == point.meta
    assert back.rng_state == json.loads(json.dumps(point.rng_state))
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]


def test_interrupted_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = ckpt.save(tmp_path / "run.npz", make_checkpoint(index=5))

    def broken(handle, **arrays):
        handle.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(path, make_checkpoint(index=9))
    monkeypatch.undo()
    assert ckpt.load(path).index == 5
    assert [p.name for p in tmp_path.iterdir()] == ["run.npz"]


def test_load_refuses_another_configuration_naming_both_hashes(tmp_path):
    path = ckpt.save(tmp_path / "run.npz", make_checkpoint())
    other = CONFIG.replace(lr_output_shift=9)
    with pytest.raises(ckpt.CheckpointError) as caught:
        ckpt.load(path, other)
    assert CONFIG.hash in str(caught.value) and other.hash in str(caught.value)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(ckpt.CheckpointError, match="unreadable"):
        ckpt.load(tmp_path / "junk.npz")
    with pytest.raises(ckpt.CheckpointError, match="does not exist"):
        ckpt.load(tmp_path / "none.npz")


# --- LFSR bookkeeping --------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [0, 1, 2, 31, 1000, 4736])
def test_lfsr_jump_equals_stepping(n):
    seed = 0x2545F491
    expected = int(lfsr.sequence([seed], n)[0, -1]) if n else seed
    from plasticore.host.training import _apply
    assert _apply(lfsr_jump(n), seed) == expected


def test_ledger_follows_the_network(digits):
    net = Network(CONFIG, seed=3)
    ledger = LfsrLedger(CONFIG, CONFIG.seed_perturb, CONFIG.seed_round)
    ledger.start_sample()                                  # the constructor's reset
    raster = encode_images(CONFIG, digits.x_train[:1])[0]
    for label in (1, 2):
        net.run(raster)
        net.learn([label])
        ledger.start_sample()
        ledger.learn()
    assert ledger.state == (int(net.lfsr_perturb[0]), int(net.lfsr_round[0]))
    assert draws_per_learn(CONFIG) == 64 * 12 + 12 * 10 + 10 * 12


# --- training over a board ------------------------------------------------------------------------------
@pytest.mark.parametrize("config", [CONFIG, SCHEDULED], ids=["constant", "scheduled"])
def test_board_training_equals_golden_train(digits, config):
    golden = train(config, digits, epochs=2, seeds=[5], limit=24, test_limit=12, progress=False)
    train_set, test_set = sets(digits)
    with open_board("emulator", config) as board:
        result = train_on_board(board, config, train_set, test_set, epochs=2, seed=5, progress=False)
    assert result.history == golden.history
    assert [(h["lr_hidden_shift"], h["lr_output_shift"]) for h in result.history] == \
        [config.rates_at(1), config.rates_at(2)]
    for a, b in zip(result.network.weights() + result.network.feedback,
                    golden.network.weights() + golden.network.feedback):
        assert np.array_equal(a, b)


def test_a_schedule_changes_learning_from_its_epoch_on(digits):
    constant = train(CONFIG, digits, epochs=2, seeds=[5], limit=24, test_limit=12, progress=False)
    scheduled = train(SCHEDULED, digits, epochs=2, seeds=[5], limit=24, test_limit=12, progress=False)
    assert constant.history[0] == scheduled.history[0]
    assert not all(np.array_equal(a, b) for a, b in zip(constant.network.weights(),
                                                         scheduled.network.weights()))


class Interrupting(GoldenBoard):
    """Raises KeyboardInterrupt when sample number ``at`` is submitted."""

    def __init__(self, config, at):
        super().__init__(config)
        self.at, self.submitted = at, 0

    def stream_one(self, sample, on_result, *, hidden=False):
        if not hidden:
            self.submitted += 1
            if self.submitted == self.at:
                raise KeyboardInterrupt
        super().stream_one(sample, on_result, hidden=hidden)


@pytest.mark.parametrize("config", [CONFIG, SCHEDULED], ids=["constant", "scheduled"])
def test_resume_after_ctrl_c_ends_with_the_uninterrupted_weights(digits, tmp_path, config):
    """Scheduled: the run stops in epoch 2 and resumes on a board at power-up, whose rates are
    epoch 1's; the host must write epoch 2's before it learns again."""
    train_set, test_set = sets(digits)
    reference = train_on_board(GoldenBoard(config), config, train_set, test_set, epochs=2, seed=1,
                               progress=False)
    path = tmp_path / "run.npz"
    with pytest.raises(TrainingInterrupted) as caught:
        train_on_board(Interrupting(config, at=24 + 10), config, train_set, test_set, epochs=2,
                       seed=1, checkpoint_path=path, checkpoint_every=7, progress=False)
    assert (caught.value.epoch, caught.value.index, caught.value.checkpoint) == (2, 9, path)
    point = ckpt.load(path, config)
    assert (point.epoch, point.index) == (2, 9) and len(point.meta["history"]) == 1
    with open_board("emulator", config) as board:           # resume on another target
        result = train_on_board(board, config, train_set, test_set, epochs=2, seed=1,
                                checkpoint_path=path, checkpoint_every=7, resume=point,
                                progress=False)
    assert result.history == reference.history
    for a, b in zip(result.network.weights(), reference.network.weights()):
        assert np.array_equal(a, b)
    assert ckpt.load(path).epoch == 3


def test_resume_extends_a_finished_run(digits, tmp_path):
    train_set, test_set = sets(digits, 12, 6)
    path = tmp_path / "run.npz"
    train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=1, seed=2,
                   checkpoint_path=path, progress=False)
    longer = train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=2, seed=2,
                            resume=ckpt.load(path, CONFIG), progress=False)
    reference = train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=2, seed=2,
                               progress=False)
    assert longer.history == reference.history


def test_disconnect_leaves_the_last_periodic_checkpoint_intact(digits, tmp_path):
    class Unplugged(Emulator):
        def feed(self, data):
            out = super().feed(data)
            if self.status.learns >= 17:
                self.hang_up()
            return out

    train_set, test_set = sets(digits)
    path = tmp_path / "run.npz"
    with EmulatorPty(Unplugged(CONFIG)) as pty:
        import serial
        board = LinkBoard(serial.Serial(pty.port, timeout=2), CONFIG)
        with pytest.raises(BoardDisconnected) as caught:
            train_on_board(board, CONFIG, train_set, test_set, epochs=1, seed=0,
                           checkpoint_path=path, checkpoint_every=8, progress=False)
        board.close()
    assert pty.port in str(caught.value)
    point = ckpt.load(path, CONFIG)
    assert (point.epoch, point.index) == (1, 16)
    # resuming from it on the golden board finishes like an uninterrupted run
    reference = train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=1, seed=0,
                               progress=False)
    resumed = train_on_board(GoldenBoard(CONFIG), CONFIG, train_set, test_set, epochs=1, seed=0,
                             resume=point, progress=False)
    assert resumed.history == reference.history


# --- an events file on the command line ------------------------------------------------------------------------
SMALL = ["--epochs", "1", "--limit", "20", "--test-limit", "10", "--quiet", "--hidden", "12",
         "--set", "n_steps=16", "--set", "input_window=8"]


def test_cli_events_on_the_emulator_equals_the_dataset_on_golden(digit_events, tmp_path):
    path = digit_events(tmp_path / "ev.npz", 20, 10, CONFIG)
    # an events file has no dataset preset, so the digits preset's fields are given to both
    preset = tmp_path / "preset.json"
    preset.write_text(json.dumps(OVERRIDES["digits"]))
    common = ["--epochs", "1", "--quiet", "--hidden", "12", "--set", "n_steps=16", "--set",
              "input_window=8", "--config", str(preset)]
    assert main(["train", "--events", str(path), "--target", "emulator", *common,
                 "--json", str(tmp_path / "ev.json"), "--plots", str(tmp_path / "plots")]) == 0
    assert main(["train", "--dataset", "digits", "--limit", "20", "--test-limit", "10", *common,
                 "--json", str(tmp_path / "golden.json")]) == 0
    ev, golden = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("ev", "golden"))
    assert ev["history"] == golden["history"] and ev["target"] == "emulator"
    assert ev["config_hash"] == golden["config_hash"]
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == \
        ["accuracy.png", "alignment.png", "hidden_rate.png", "raster.png"]


def test_cli_ctrl_c_writes_a_checkpoint_and_exits_130(tmp_path, capsys, monkeypatch):
    from plasticore.host import board as board_module

    calls = {"n": 0}
    original = board_module.GoldenBoard.stream_one

    def interrupt(self, sample, on_result, *, hidden=False):
        calls["n"] += 1
        if calls["n"] == 13:
            raise KeyboardInterrupt
        return original(self, sample, on_result, hidden=hidden)

    monkeypatch.setattr(board_module.GoldenBoard, "stream_one", interrupt)
    path = tmp_path / "run.npz"
    code = main(["train", "--dataset", "digits", *SMALL, "--checkpoint", str(path)])
    err = capsys.readouterr().err
    assert code == 130 and f"--resume {path}" in err and "after 12 samples" in err
    monkeypatch.undo()
    assert ckpt.load(path).index == 12
    assert main(["train", "--dataset", "digits", *SMALL, "--resume", str(path),
                 "--json", str(tmp_path / "resumed.json")]) == 0
    assert main(["train", "--dataset", "digits", *SMALL, "--checkpoint", str(tmp_path / "b.npz"),
                 "--json", str(tmp_path / "whole.json")]) == 0
    resumed, whole = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("resumed", "whole"))
    assert resumed["history"] == whole["history"] and resumed["resumed_from"] == str(path)
    err = capsys.readouterr().err
    assert main(["train", "--dataset", "digits", *SMALL, "--seed", "4", "--resume", str(path)]) == 2
    assert "seed" in capsys.readouterr().err


def test_cli_disconnect_exits_3_naming_the_port_and_the_checkpoint(tmp_path, capsys, monkeypatch):
    class Unplugged(Emulator):
        def feed(self, data):
            out = super().feed(data)
            if self.status.learns >= 15:
                self.hang_up()
            return out

    monkeypatch.setattr("plasticore.host.emulator.Emulator", Unplugged)
    path = tmp_path / "run.npz"
    code = main(["train", "--dataset", "digits", *SMALL, "--target", "emulator",
                 "--checkpoint", str(path), "--checkpoint-every", "5"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "lost the board on /dev/pts/" in err and f"the last checkpoint {path}" in err
    assert "Traceback" not in err
    assert ckpt.load(path).index == 10          # the 15th reply never came: 10 is the last
