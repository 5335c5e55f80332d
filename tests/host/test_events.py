"""Tonic-layout events (host/events.py): binning onto the chip's steps, validation that names the
file, field, sample and event, events files in Tonic layout, a duck-typed Tonic dataset, and
``plasticore train --events`` on such a file."""

import json

import numpy as np
import pytest

from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.encode import from_events
from plasticore.host.cli import main
from plasticore.host.events import (bin_events, check_events, from_tonic_dataset, n_inputs_of,
                                    read_tonic_events, write_tonic_events)
from plasticore.host.events import read_events

TONIC_2D = np.dtype([("x", np.int16), ("y", np.int16), ("t", np.int64), ("p", np.int8)])
TONIC_1D = np.dtype([("x", np.int16), ("t", np.float64), ("p", bool)])


def tonic(rows, dtype=TONIC_2D):
    return np.array([tuple(r) for r in rows], dtype=dtype)


def test_time_window_bins_addresses_in_tonics_frame_order():
    events = tonic([(1, 0, 1000, 0), (2, 1, 1500, 1), (1, 0, 1900, 0), (0, 2, 5100, 1),
                    (3, 2, 99000, 0)])
    out, stats = bin_events(events, (4, 3, 2), window=25, time_window=1000.0)
    # address (p*H + y)*W + x; step floor((t - t0) / 1000)
    assert out["t"].tolist() == [0, 0, 4] and out["x"].tolist() == [1, 18, 20]
    assert np.all(out["p"] == 1)
    assert stats == {"events": 5, "spikes": 3, "merged": 1, "dropped": 1}
    raster = from_events(out, 50, n_inputs_of((4, 3, 2)))
    assert raster.sum() == 3


def test_without_time_window_each_sample_spans_the_input_window():
    events = tonic([(0, 0, 10_000, 0), (1, 0, 10_500, 0), (2, 0, 310_000, 1)])
    out, stats = bin_events(events, (3, 1, 2), window=25)
    assert out["t"].min() == 0 and out["t"].max() == 24 and stats["dropped"] == 0
    floats = tonic([(0, 0.0, False), (1, 0.25, True), (2, 1.0, True)], TONIC_1D)
    out, _ = bin_events(floats, (3, 2), window=4)   # a 1-D sensor: (W, P)
    assert out["t"].tolist() == [0, 1, 3] and out["x"].tolist() == [0, 4, 5]


def test_validation_names_where_field_sample_and_event():
    events = tonic([(1, 0, 0, 0), (9, 0, 5, 1), (0, 0, 7, 0)])
    index = np.array([0, 1, 3])
    with pytest.raises(ValueError, match=r"f\.npz: train_events: field 'x' is 9 at sample 1, "
                                         r"event 0, outside 0\.\.3"):
        check_events(events, (4, 3, 2), "f.npz: train_events", index=index)
    with pytest.raises(ValueError, match="field 'p' is 3 at event 0"):
        check_events(tonic([(0, 0, 0, 3)]), (4, 3, 2))
    with pytest.raises(ValueError, match="no field 'y' but sensor_size has height 3"):
        check_events(tonic([(0, 0.0, True)], TONIC_1D), (4, 3, 2))
    with pytest.raises(ValueError, match=r"field 't' is nan at event 1"):
        check_events(tonic([(0, 0.0, True), (1, np.nan, False)], TONIC_1D), (4, 2))
    with pytest.raises(ValueError, match="fields x, t, p"):
        check_events(np.zeros(3), (4, 3, 2))


def digit_events(pixels, rng):
    """Digits as a made-up event sensor (8x8, 2 polarities, microseconds): a pixel fires once,
    brighter earlier, with a random polarity and jitter (not sorted: Tonic's need not be)."""
    rows = []
    for k in np.flatnonzero(pixels):
        y, x = divmod(int(k), 8)
        rows.append((x, y, (255 - int(pixels[k])) * 40 + int(rng.integers(0, 30)), int(rng.integers(0, 2))))
    return tonic(rows)


@pytest.fixture(scope="module")
def tonic_file(tmp_path_factory):
    data = datasets.load("digits")
    rng = np.random.default_rng(0)
    train = [(digit_events(x, rng), y) for x, y in zip(data.x_train[:40], data.y_train[:40])]
    test = [(digit_events(x, rng), y) for x, y in zip(data.x_test[:20], data.y_test[:20])]
    path = tmp_path_factory.mktemp("tonic") / "digits-dvs.npz"
    return write_tonic_events(path, train, test, (8, 8, 2), time_window=400.0, n_classes=10)


def test_events_file_in_tonic_layout_is_binned_per_configuration(tonic_file):
    events = read_events(tonic_file)
    assert events.n_inputs == 128 and events.n_classes == 10 and events.sensor_size == (8, 8, 2)
    config = Config(layers=(128, 32, 10))
    samples = events.samples(config, "train", 5)
    raster = samples.raster(0)
    assert raster.shape == (config.n_steps, 128) and raster[config.input_window:].sum() == 0
    assert raster.sum() > 0 and events.stats["spikes"] > 0


def test_bad_file_names_file_field_and_sample(tonic_file, tmp_path):
    with np.load(tonic_file) as data:
        arrays = dict(data)
    arrays["test_events"]["y"][arrays["test_index"][3] + 2] = 8
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=rf"{bad}: test_events: field 'y' is 8 at sample 3, event 2"):
        read_tonic_events(bad)


def test_a_duck_typed_tonic_dataset():
    class FakeTonicDataset:          # what tonic.datasets.* look like: len, [i], sensor_size
        sensor_size = (8, 8, 2)

        def __init__(self):
            rng = np.random.default_rng(1)
            data = datasets.load("digits")
            self.items = [(digit_events(x, rng), int(y)) for x, y in zip(data.x_test[:6], data.y_test[:6])]

        def __len__(self):
            return len(self.items)

        def __getitem__(self, i):
            return self.items[i]

    samples, sensor = from_tonic_dataset(FakeTonicDataset(), limit=4)
    assert len(samples) == 4 and sensor == (8, 8, 2)
    with pytest.raises(ValueError, match="no sensor_size: not a Tonic dataset"):
        from_tonic_dataset([1, 2])


def test_command_line_trains_on_a_tonic_layout_file(tonic_file, tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["train", "--events", str(tonic_file), "--epochs", "1", "--quiet",
                 "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["config"]["layers"][0] == 128 and record["n_train"] == 40
    assert "digits-dvs" in capsys.readouterr().out
