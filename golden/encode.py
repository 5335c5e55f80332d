"""Spike encoders: uint8 pixels to boolean spike rasters over discrete time steps.

Batched rasters are indexed ``[sample, step, input]``; a single sample's raster is
``[step, input]``. ``ttfs`` is the time-to-first-spike code the network is trained with;
``rate`` is a Bernoulli rate code kept for comparison. ``to_events``/``from_events`` convert a
single sample's raster to and from Tonic-style event arrays (fields ``x``, ``t``, ``p``).
"""

from __future__ import annotations

import numbers

import numpy as np

#: Tonic-style event record: input address ``x``, time step ``t``, polarity ``p`` (always 1).
EVENT_DTYPE = np.dtype([("x", np.int64), ("t", np.int64), ("p", np.int8)])

PIXEL_MAX = 255


def ttfs(pixels: np.ndarray, window: int, n_steps: int) -> np.ndarray:
    """Time-to-first-spike code: brighter pixels spike earlier, each input spikes at most once.

    A pixel ``p`` (0..255) spikes once, at step ``floor((255 - p) * window / 256)``, if ``p > 0``
    and never if ``p == 0``. So 255 spikes at step 0 and 1 at ``floor(254 * window / 256)``:
    every spike falls in steps ``[0, window)``, and steps ``window..n_steps-1`` carry no input.
    The formula is part of the specification: the hardware encoder must match it exactly.

    ``pixels``: integer array (batch, inputs) with values 0..255. Returns bool
    (batch, n_steps, inputs). Raises ValueError if ``n_steps < window``.
    """
    pixels = _checked_pixels(pixels)
    window = _checked_int("window", window, minimum=1)
    n_steps = _checked_int("n_steps", n_steps, minimum=1)
    if n_steps < window:
        raise ValueError(f"n_steps must be >= window, got n_steps={n_steps} < window={window}")
    spike_step = (PIXEL_MAX - pixels.astype(np.int64)) * window // (PIXEL_MAX + 1)
    steps = np.arange(n_steps)[None, :, None]
    return (steps == spike_step[:, None, :]) & (pixels > 0)[:, None, :]


def rate(pixels: np.ndarray, n_steps: int, max_rate: float, seed: int) -> np.ndarray:
    """Bernoulli rate code: each input spikes at each step with probability ``max_rate * p / 255``.

    Draws come from ``numpy.random.default_rng(seed)``, so the raster is a deterministic function
    of its arguments. ``pixels``: integer array (batch, inputs) with values 0..255;
    ``max_rate`` in [0, 1]. Returns bool (batch, n_steps, inputs).
    """
    pixels = _checked_pixels(pixels)
    n_steps = _checked_int("n_steps", n_steps, minimum=1)
    seed = _checked_int("seed", seed, minimum=0)
    if isinstance(max_rate, bool) or not isinstance(max_rate, numbers.Real):
        raise TypeError(f"max_rate must be a real number, got {type(max_rate).__name__}")
    if not 0.0 <= max_rate <= 1.0:
        raise ValueError(f"max_rate must lie in [0, 1], got {max_rate}")
    probability = max_rate * pixels / PIXEL_MAX
    draws = np.random.default_rng(seed).random((len(pixels), n_steps, pixels.shape[1]))
    return draws < probability[:, None, :]


def to_events(raster: np.ndarray) -> np.ndarray:
    """Convert one sample's bool raster (n_steps, n_inputs) to events sorted by ``t`` then ``x``."""
    raster = np.asarray(raster)
    if raster.dtype != np.bool_ or raster.ndim != 2:
        raise ValueError(
            f"raster must be a bool array of shape (n_steps, n_inputs), "
            f"got {raster.dtype} {raster.shape}"
        )
    steps, inputs = np.nonzero(raster)  # C order: sorted by step, then input
    events = np.empty(len(steps), dtype=EVENT_DTYPE)
    events["x"] = inputs
    events["t"] = steps
    events["p"] = 1
    return events


def from_events(events: np.ndarray, n_steps: int, n_inputs: int) -> np.ndarray:
    """Convert events (fields ``x``, ``t``, ``p``) back to a bool raster (n_steps, n_inputs).

    Exact inverse of :func:`to_events`. Raises ValueError naming the field and the offending value
    for addresses or steps outside ``[0, n_inputs)`` / ``[0, n_steps)``, for a polarity other than
    1, and for duplicate (t, x) events, which a raster cannot represent.
    """
    n_steps = _checked_int("n_steps", n_steps, minimum=1)
    n_inputs = _checked_int("n_inputs", n_inputs, minimum=1)
    events = np.asarray(events)
    missing = [field for field in ("x", "t", "p") if field not in (events.dtype.names or ())]
    if missing or events.ndim != 1:
        raise ValueError(
            f"events must be a 1-D structured array with fields x, t, p; "
            f"got dtype {events.dtype}, shape {events.shape}"
        )
    for field, limit_name, limit in (("x", "n_inputs", n_inputs), ("t", "n_steps", n_steps)):
        values = events[field]
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"events field '{field}' must be integer, got {values.dtype}")
        out_of_range = (values < 0) | (values >= limit)
        if out_of_range.any():
            index = int(np.argmax(out_of_range))
            raise ValueError(
                f"events field '{field}' has value {values[index]} at index {index}, "
                f"outside [0, {limit_name}={limit})"
            )
    wrong_polarity = events["p"] != 1
    if wrong_polarity.any():
        index = int(np.argmax(wrong_polarity))
        raise ValueError(
            f"events field 'p' has value {events['p'][index]} at index {index}; "
            "only polarity 1 (a spike) is allowed"
        )
    raster = np.zeros((n_steps, n_inputs), dtype=bool)
    raster[events["t"], events["x"]] = True
    if np.count_nonzero(raster) != len(events):
        raise ValueError(
            f"events hold {len(events) - np.count_nonzero(raster)} duplicate (t, x) pairs; "
            "a raster holds at most one spike per input and step"
        )
    return raster


def _checked_pixels(pixels: np.ndarray) -> np.ndarray:
    """Return ``pixels`` as an array after checking it is integer, 2-D and within 0..255."""
    pixels = np.asarray(pixels)
    if not np.issubdtype(pixels.dtype, np.integer):
        raise TypeError(f"pixels must be an integer array (uint8 0..255), got {pixels.dtype}")
    if pixels.ndim != 2:
        raise ValueError(
            f"pixels must be 2-D (batch, inputs), got shape {pixels.shape}; "
            "use pixels[None] for a single sample"
        )
    if pixels.dtype != np.uint8 and pixels.size and (pixels.min() < 0 or pixels.max() > PIXEL_MAX):
        raise ValueError(
            f"pixels must lie in 0..{PIXEL_MAX}, got {pixels.min()}..{pixels.max()}"
        )
    return pixels


def _checked_int(name: str, value: int, *, minimum: int) -> int:
    """Return ``value`` as an int after checking it is an integer (not bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
