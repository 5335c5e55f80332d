"""The golden trainer's per-epoch checkpoint: a run stopped after an epoch and started again
from its checkpoint ends exactly as the uninterrupted run, every replica's weights, feedback,
LFSRs, flags and history equal; a checkpoint of another run is refused by name."""

import numpy as np
import pytest

from plasticore.golden import datasets
from plasticore.golden.resolve import resolve_config
from plasticore.golden.train import CheckpointMismatch, train

DIGITS = datasets.load("digits")


def _run(config, tmp_path=None, epochs=3, fixed=True, seeds=(0, 1)):
    return train(config, DIGITS, epochs=epochs, seeds=seeds, fixed=fixed, limit=40, test_limit=30,
                 progress=False, checkpoint=tmp_path)


@pytest.mark.parametrize("fixed", [True, False])
def test_a_run_resumed_from_its_epoch_checkpoint_ends_as_the_whole_run(tmp_path, fixed):
    # the digits preset: the chip's rule, a schedule that changes the rates in epoch... 4 and 5;
    # a schedule from epoch 2 so that the resumed epochs run at other rates than the first
    config = resolve_config("digits", settings=[("lr_schedule", [[2, 5, 9], [3, 6, 10]])])
    whole = _run(config, fixed=fixed)
    path = tmp_path / "run.npz"
    first = _run(config, path, epochs=1, fixed=fixed)
    assert len(first.history) == 1 and path.exists()
    resumed = _run(config, path, epochs=3, fixed=fixed)
    assert resumed.history == whole.history
    for a, b in zip(resumed.network.weights(), whole.network.weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(resumed.network.feedback, whole.network.feedback):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(resumed.network.lfsr_perturb, whole.network.lfsr_perturb)
    np.testing.assert_array_equal(resumed.network.lfsr_round, whole.network.lfsr_round)
    # a finished run's checkpoint: nothing left to train
    again = _run(config, path, epochs=3, fixed=fixed)
    assert again.history == whole.history


def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(tmp_path):
    config = resolve_config("digits")
    path = tmp_path / "run.npz"
    _run(config, path, epochs=1)
    with pytest.raises(CheckpointMismatch, match=r"seeds \[0, 1\] \(this run: \[0, 2\]\)"):
        _run(config, path, seeds=(0, 2))
    with pytest.raises(CheckpointMismatch, match="config_hash"):
        _run(config.replace(lr_output_shift=10), path)
