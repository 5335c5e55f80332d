"""The Python API (plasticore/api.py, re-exported lazily by plasticore)."""

import subprocess
import sys

import numpy as np
import pytest

import plasticore as pc


def test_import_plasticore_is_light():
    code = ("import sys, plasticore; assert 'plasticore.golden' not in sys.modules; "
            "assert callable(plasticore.configure); assert 'plasticore.golden' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        pc.nonsense  # noqa: B018


def test_configure_resolves_like_the_command_line():
    from plasticore.host.cli import resolve_config

    assert pc.configure("digits") == resolve_config("digits")
    config = pc.configure("mnist", rule="readout", hidden=64, tau=20.0, tau_s=10.0)
    assert config.layers == (784, 64, 10) and config.rule == "readout" and config.tau == 20.0
    assert config.lr_output_shift == 11                      # the preset for readout on MNIST
    assert pc.configure(shape=(128, 4), hidden=8).layers == (128, 8, 4)
    with pytest.raises(pc.ConfigError, match="unknown configuration field"):
        pc.configure("digits", nonsense=1)


def test_train_weights_and_evaluate_agree():
    config = pc.configure(shape=(64, 10), hidden=16)
    result = pc.train(config, "digits", epochs=1, seeds=(0, 1), limit=60, test_limit=40)
    assert len(result.history) == 1
    words = pc.weights(result, replica=1)
    floats = pc.weights(result, replica=1, as_floats=True)
    assert words[0].dtype == np.int64 and words[0].shape == (16, 64)
    np.testing.assert_array_equal(pc.weights_as_words(config, floats)[0], words[0])
    accuracy, _ = pc.evaluate(config, words, "digits", test_limit=40)
    assert accuracy == pytest.approx(result.history[-1]["test_accuracy"][1])
    assert pc.evaluate(config, floats, "digits", test_limit=40)[0] == accuracy  # quantised back


def test_board_api_on_the_golden_board():
    config = pc.configure(shape=(64, 10), hidden=16)
    with pc.open_board("golden", config) as board:
        result = pc.train_on_board(board, config, "digits", limit=20, test_limit=10)
        read_back = pc.weights(board)
    golden = pc.train(config, "digits", epochs=1, limit=20, test_limit=10)
    for a, b in zip(read_back, pc.weights(golden)):
        np.testing.assert_array_equal(a, b)
    assert result.history[-1]["test_accuracy"] == golden.history[-1]["test_accuracy"]
