"""Fixtures of the host tests: the digits dataset and events files made from it."""

import pytest

from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.encode import to_events
from plasticore.golden.train import encode_images
from plasticore.host.samples import write_events


@pytest.fixture(scope="session")
def digits():
    return datasets.load("digits")


@pytest.fixture
def digit_events(digits):
    """``write(path, n_train, n_test, config=Config())``: an events file (host/samples.py) of the
    first digits of each split, TTFS-encoded with ``config``."""
    def write(path, n_train, n_test, config=Config()):
        train_r = encode_images(config, digits.x_train[:n_train])
        test_r = encode_images(config, digits.x_test[:n_test])
        return write_events(path, [(to_events(r), y) for r, y in zip(train_r, digits.y_train[:n_train])],
                            [(to_events(r), y) for r, y in zip(test_r, digits.y_test[:n_test])],
                            n_inputs=64, n_classes=10)
    return write
