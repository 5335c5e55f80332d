"""The chip's events file (host/samples.py, read by host/events.py): round trip, and a bad event
refused at load or before training, naming the file, the field and the sample."""

import numpy as np
import pytest

from plasticore.golden.config import Config
from plasticore.host.cli import main
from plasticore.host.events import read_events
from plasticore.host.samples import PixelSamples


def test_events_file_round_trip(digits, digit_events, tmp_path):
    path = digit_events(tmp_path / "ev.npz", 5, 3)
    events = read_events(path)
    assert (events.n_inputs, events.n_classes, len(events.train_labels)) == (64, 10, 5)
    config = Config()
    samples = events.samples(config, "train")
    pixels = PixelSamples(config, digits.x_train[:5], digits.y_train[:5])
    for i in range(5):
        assert np.array_equal(samples.raster(i), pixels.raster(i))
    assert len(events.samples(config, "test", limit=2)) == 2
    np.savez(tmp_path / "bad.npz", train_events=np.zeros(3))
    with pytest.raises(ValueError, match="train_index"):
        read_events(tmp_path / "bad.npz")


@pytest.mark.parametrize("field, value, words", [
    ("x", 64, r"field 'x' of test_events is 64 in sample 1 \(event 2 of it"),
    ("x", -1, r"field 'x' of test_events is -1 in sample 1"),
    ("p", 0, r"field 'p' of test_events is 0 in sample 1 .*only polarity 1"),
    ("t", -3, r"field 't' of test_events is -3 in sample 1"),
])
def test_an_events_file_with_a_bad_event_fails_at_load_naming_file_field_and_sample(
        digit_events, tmp_path, field, value, words):
    path = digit_events(tmp_path / "ev.npz", 3, 3)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    k = int(arrays["test_index"][1]) + 2                  # the third event of test sample 1
    arrays["test_events"][field][k] = value
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=words) as caught:
        read_events(tmp_path / "bad.npz")
    assert "bad.npz" in str(caught.value)


def test_an_event_past_n_steps_fails_before_training_naming_file_field_and_sample(digit_events, tmp_path):
    path = digit_events(tmp_path / "ev.npz", 4, 2)
    events = read_events(path)
    k = int(events.train_index[3])
    last = int(max(events.train_events["t"].max(), events.test_events["t"].max()))
    assert last + 2 < 50
    events.train_events["t"][k] = last + 2                 # fine for 50 steps, not for last + 2
    events.check(Config())
    short = Config(n_steps=last + 2, input_window=min(Config().input_window, last + 2))
    with pytest.raises(ValueError, match=rf"ev.npz: field 't' of train_events is {last + 2} in "
                                         rf"sample 3 \(event 0 of it.*n_steps = {last + 2}"):
        events.check(short)
    events.train_events["t"][k] = events.train_events["t"][k + 1]
    events.train_events["x"][k] = events.train_events["x"][k + 1]
    with pytest.raises(ValueError, match=r"repeat .* in sample 3"):
        events.check(Config())
    # the command line says so before training, with the file's name
    np.savez(tmp_path / "late.npz", **{**{k: v for k, v in np.load(path).items()}})
    assert main(["train", "--events", str(tmp_path / "late.npz"), "--quiet", "--epochs", "1",
                 "--set", "n_steps=2", "--set", "input_window=1"]) != 0
