"""Tests of the spike encoders: the exact TTFS formula, the rate code's statistics, events."""

import math

import numpy as np
import pytest

from plasticore.golden.encode import EVENT_DTYPE, from_events, rate, to_events, ttfs

HAND_PIXELS = np.array([[0, 1, 128, 254, 255]], dtype=np.uint8)
# floor((255 - p) * window / 256) worked by hand; None = no spike (pixel 0)
HAND_STEPS = {
    25: [None, 24, 12, 0, 0],  # 254*25/256 = 24.8, 127*25/256 = 12.4, 25/256 = 0.1
    16: [None, 15, 7, 0, 0],  # 254*16/256 = 15.9, 127*16/256 = 7.9, 16/256 = 0.06
}


def first_spike_steps(raster):
    """Step of each input's first spike in a (batch, n_steps, inputs) raster, -1 if silent."""
    return np.where(raster.any(axis=1), raster.argmax(axis=1), -1)


@pytest.mark.parametrize("window", [25, 16])
@pytest.mark.parametrize("extra_steps", [0, 7])
def test_ttfs_matches_hand_computed_steps(window, extra_steps):
    n_steps = window + extra_steps
    raster = ttfs(HAND_PIXELS, window=window, n_steps=n_steps)
    expected = np.zeros((1, n_steps, 5), dtype=bool)
    for column, step in enumerate(HAND_STEPS[window]):
        if step is not None:
            expected[0, step, column] = True
    assert raster.dtype == np.bool_
    np.testing.assert_array_equal(raster, expected)


def test_ttfs_one_spike_per_lit_input_inside_window_and_monotonic():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(40, 300), dtype=np.uint8)
    pixels[0, :256] = np.arange(256)  # every value at least once
    window = 20
    raster = ttfs(pixels, window=window, n_steps=30)
    counts = raster.sum(axis=1)
    np.testing.assert_array_equal(counts, (pixels > 0).astype(counts.dtype))
    assert not raster[:, window:, :].any()
    steps = first_spike_steps(raster)
    np.testing.assert_array_equal(
        steps[pixels > 0], ((255 - pixels[pixels > 0].astype(int)) * window) // 256
    )
    ramp_steps = steps[0, 1:256]  # pixels 1..255, ascending brightness
    assert np.all(np.diff(ramp_steps) <= 0), "a brighter pixel must not spike later"


def test_ttfs_rejects_too_few_steps_and_bad_pixels():
    with pytest.raises(ValueError, match=r"n_steps.*window.*n_steps=10.*window=16"):
        ttfs(HAND_PIXELS, window=16, n_steps=10)
    with pytest.raises(ValueError, match=r"window must be >= 1, got 0"):
        ttfs(HAND_PIXELS, window=0, n_steps=10)
    with pytest.raises(ValueError, match=r"pixels must lie in 0\.\.255, got 0\.\.300"):
        ttfs(np.array([[0, 300]]), window=4, n_steps=4)
    with pytest.raises(ValueError, match=r"pixels must be 2-D"):
        ttfs(np.zeros(5, dtype=np.uint8), window=4, n_steps=4)
    with pytest.raises(TypeError, match=r"pixels must be an integer array"):
        ttfs(np.zeros((1, 5)), window=4, n_steps=4)
    with pytest.raises(TypeError, match=r"window must be an int"):
        ttfs(HAND_PIXELS, window=2.5, n_steps=4)


def test_rate_mean_matches_probability_within_five_sigma():
    batch, n_steps, n_inputs, max_rate, pixel = 20, 50, 100, 0.3, 200
    pixels = np.full((batch, n_inputs), pixel, dtype=np.uint8)
    raster = rate(pixels, n_steps, max_rate, seed=3)
    assert raster.shape == (batch, n_steps, n_inputs) and raster.dtype == np.bool_
    probability = max_rate * pixel / 255
    trials = raster.size
    sigma = math.sqrt(probability * (1 - probability) / trials)
    assert abs(raster.mean() - probability) < 5 * sigma


def test_rate_is_seeded_and_respects_extremes():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(4, 64), dtype=np.uint8)
    np.testing.assert_array_equal(rate(pixels, 10, 0.5, seed=7), rate(pixels, 10, 0.5, seed=7))
    assert not np.array_equal(rate(pixels, 10, 0.5, seed=7), rate(pixels, 10, 0.5, seed=8))
    assert not rate(np.zeros((2, 8), dtype=np.uint8), 10, 1.0, seed=0).any()
    assert rate(np.full((2, 8), 255, dtype=np.uint8), 10, 1.0, seed=0).all()
    assert not rate(pixels, 10, 0.0, seed=0).any()


def test_rate_rejects_bad_arguments():
    pixels = np.zeros((1, 4), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"max_rate must lie in \[0, 1\], got 1.5"):
        rate(pixels, 10, 1.5, seed=0)
    with pytest.raises(ValueError, match=r"n_steps must be >= 1, got 0"):
        rate(pixels, 0, 0.5, seed=0)
    with pytest.raises(ValueError, match=r"seed must be >= 0, got -1"):
        rate(pixels, 10, 0.5, seed=-1)
    with pytest.raises(TypeError, match=r"seed must be an int"):
        rate(pixels, 10, 0.5, seed=None)


def test_events_round_trip_sorted_by_t_then_x():
    rng = np.random.default_rng(5)
    raster = rng.random((30, 50)) < 0.1
    events = to_events(raster)
    assert events.dtype == EVENT_DTYPE
    assert len(events) == raster.sum()
    assert np.all(events["p"] == 1)
    order = np.lexsort((events["x"], events["t"]))
    np.testing.assert_array_equal(order, np.arange(len(events)))
    np.testing.assert_array_equal(from_events(events, 30, 50), raster)
    empty = np.zeros((4, 3), dtype=bool)
    np.testing.assert_array_equal(from_events(to_events(empty), 4, 3), empty)


def test_events_from_ttfs_raster_round_trip():
    raster = ttfs(HAND_PIXELS, window=25, n_steps=25)[0]
    events = to_events(raster)
    np.testing.assert_array_equal(events["t"], [0, 0, 12, 24])
    np.testing.assert_array_equal(events["x"], [3, 4, 2, 1])
    np.testing.assert_array_equal(from_events(events, 25, 5), raster)


def make_events(x, t, p=1):
    events = np.zeros(len(x), dtype=EVENT_DTYPE)
    events["x"], events["t"], events["p"] = x, t, p
    return events


@pytest.mark.parametrize(
    ("x", "t", "p", "message"),
    [
        ([0, 10], [0, 1], 1, r"field 'x' has value 10 at index 1, outside \[0, n_inputs=10\)"),
        ([0, 1], [0, 5], 1, r"field 't' has value 5 at index 1, outside \[0, n_steps=5\)"),
        ([-1, 1], [0, 1], 1, r"field 'x' has value -1 at index 0"),
        ([1, 1], [0, -2], 1, r"field 't' has value -2 at index 1"),
        ([1, 2], [0, 1], [1, 0], r"field 'p' has value 0 at index 1"),
        ([3, 3], [2, 2], 1, r"1 duplicate \(t, x\) pairs"),
    ],
)
def test_from_events_rejects_bad_events(x, t, p, message):
    with pytest.raises(ValueError, match=message):
        from_events(make_events(x, t, p), n_steps=5, n_inputs=10)


def test_event_conversions_reject_bad_shapes():
    with pytest.raises(ValueError, match=r"raster must be a bool array"):
        to_events(np.zeros((2, 3, 4), dtype=bool))
    with pytest.raises(ValueError, match=r"fields x, t, p"):
        from_events(np.zeros(3, dtype=[("x", int), ("t", int)]), 5, 5)
    with pytest.raises(ValueError, match=r"n_inputs must be >= 1, got 0"):
        from_events(make_events([], []), 5, 0)
