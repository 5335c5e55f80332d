"""Tonic-layout event data: events as a sensor records them, binned onto the chip's steps.

Tonic (and the event cameras and cochleas behind its datasets) gives each sample as a numpy
structured array with fields ``x``, ``t``, ``p`` and, for 2-D sensors, ``y``; ``t`` is in the
sensor's own unit (microseconds for N-MNIST, DVS Gesture, SHD) and ``p`` is the polarity, and a
``sensor_size`` ``(W, H, P)`` says how many addresses there are. This module takes that layout
as it is (Tonic itself is not needed, nor imported: it is GPL) and turns a sample into the chip's
events (``golden.encode.EVENT_DTYPE``: input address ``x``, step ``t``, ``p = 1``):

* input address ``(p * H + y) * W + x`` (Tonic's frame order ``[P, H, W]``, flattened), so the
  network has ``W * H * P`` inputs;
* step ``floor((t - t0) / time_window)`` with ``t0`` the sample's first event, when a
  ``time_window`` (in ``t``'s unit) is given: events past the chip's input window are dropped and
  counted; without one, each sample's span is stretched onto the input window:
  ``floor((t - t0) * window / (span + 1))`` for integer times (``span`` for real ones, the last
  event clipped into the window);
* several events of one address in one step make one spike (the chip takes at most one per input
  and step); :func:`bin_events` reports how many merged.

Every array is validated when it is loaded; an error names the file (or ``where``), the field, the
sample and the event.

An events file in Tonic layout is an ``.npz`` like the chip-layout events file
(``host.samples.EVENTS_LAYOUT``) plus ``sensor_size``: see :data:`TONIC_LAYOUT`.
``plasticore train --events FILE.npz`` reads either (``read_events`` looks for ``sensor_size``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plasticore.golden.encode import EVENT_DTYPE

from .samples import (EventSamples, EventsFile, check_split, load_npz, n_classes_of, read_splits,
                      save_npz, split_arrays)

__all__ = ["read_events", "TONIC_LAYOUT", "TonicEventsFile", "bin_events", "check_events", "read_tonic_events",
           "write_tonic_events", "from_tonic_dataset", "n_inputs_of"]

TONIC_LAYOUT = """\
An events file in Tonic layout is an .npz with, for each split S in (train, test):
  S_events  structured array with fields x, t, p and optionally y, as Tonic gives them (t in the
            sensor's unit, e.g. microseconds; p the polarity 0..P-1, or a bool): the events of
            every sample of the split, concatenated;
  S_index   int64 offsets, one more than samples: sample i is S_events[S_index[i]:S_index[i+1]];
  S_labels  int64 labels, one per sample;
  sensor_size  (W, H, P) as Tonic's sensor_size (H = 1 for a 1-D sensor without y);
and optionally time_window (a float scalar: one chip step in t's unit; default: each sample's
span is spread over the configuration's input window) and n_classes."""


def read_events(path) -> EventsFile:
    """Read an events file, in the chip's layout (``host.samples.EVENTS_LAYOUT``) or in Tonic's
    (with a ``sensor_size``: :func:`read_tonic_events`); raises ValueError naming the key, and
    for a bad event the file, the field and the sample (:meth:`EventsFile.check` checks the times
    against a configuration)."""
    path = Path(path)
    with load_npz(path) as data:
        if "sensor_size" in data.files:
            return read_tonic_events(path)
        parts = read_splits(data, path)
        for split in ("train", "test"):
            events = parts[f"{split}_events"]
            if events.dtype.names is None or not {"x", "t", "p"} <= set(events.dtype.names):
                raise ValueError(f"{split}_events in {path} must be a structured array with fields "
                                 f"x, t, p, not {events.dtype}")
        all_x = np.concatenate([parts["train_events"]["x"], parts["test_events"]["x"]])
        n_inputs = int(data["n_inputs"]) if "n_inputs" in data.files else int(all_x.max(initial=-1)) + 1
        n_classes = n_classes_of(data, parts, path)
    for split in ("train", "test"):
        check_split(path, split, parts[f"{split}_events"], parts[f"{split}_index"], n_inputs)
    return EventsFile(parts["train_events"], parts["train_index"].astype(np.int64),
                      parts["train_labels"].astype(np.int64), parts["test_events"],
                      parts["test_index"].astype(np.int64), parts["test_labels"].astype(np.int64),
                      n_inputs, n_classes, path.stem, str(path))


def n_inputs_of(sensor_size) -> int:
    """Inputs of the network for a sensor: ``W * H * P``."""
    width, height, polarities = _sensor(sensor_size, "sensor_size")
    return width * height * polarities


def _sensor(sensor_size, where: str) -> tuple[int, int, int]:
    size = tuple(int(v) for v in np.asarray(sensor_size).ravel())
    if len(size) == 2:  # (W, P) of a 1-D sensor
        size = (size[0], 1, size[1])
    if len(size) != 3 or min(size) < 1:
        raise ValueError(f"{where}: sensor_size must be (W, H, P) of positive integers, not {size}")
    return size


def check_events(events, sensor_size, where: str = "events", index=None) -> None:
    """Validate Tonic-layout events: a 1-D structured array with integer ``x`` (and ``y``) and
    ``p`` within the sensor, numeric finite ``t``. ``index`` (sample offsets) lets the error
    name the sample. Raises ValueError naming ``where``, the field, the sample and the event."""
    width, height, polarities = _sensor(sensor_size, where)
    events = np.asarray(events)
    names = events.dtype.names or ()
    missing = [f for f in ("x", "t", "p") if f not in names]
    if missing or events.ndim != 1:
        raise ValueError(f"{where}: events must be a 1-D structured array with fields x, t, p "
                         f"(and y for a 2-D sensor); got dtype {events.dtype}, shape {events.shape}")
    if "y" not in names and height != 1:
        raise ValueError(f"{where}: events have no field 'y' but sensor_size has height {height}")

    def locate(i: int) -> str:
        if index is None:
            return f"event {i}"
        sample = int(np.searchsorted(index, i, side="right")) - 1
        return f"sample {sample}, event {i - int(index[sample])}"

    for field, limit in (("x", width), ("y", height), ("p", polarities)):
        if field not in names:
            continue
        values = events[field]
        if values.dtype == np.bool_:
            values = values.astype(np.int64)
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{where}: field '{field}' must be integer, not {values.dtype}")
        bad = (values < 0) | (values >= limit)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"{where}: field '{field}' is {values[i]} at {locate(i)}, outside "
                             f"0..{limit - 1} (sensor_size {(width, height, polarities)})")
    t = events["t"]
    if not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise ValueError(f"{where}: field 't' must be numeric, not {t.dtype}")
    if np.issubdtype(t.dtype, np.floating) and not np.all(np.isfinite(t)):
        i = int(np.argmax(~np.isfinite(t)))
        raise ValueError(f"{where}: field 't' is {t[i]} at {locate(i)}")


def bin_events(events, sensor_size, window: int, *, time_window: float | None = None,
               where: str = "events") -> tuple[np.ndarray, dict]:
    """One sample's Tonic-layout events as chip events in steps ``0..window-1`` (see the module
    doc) and ``{"events", "spikes", "merged", "dropped"}`` counts."""
    check_events(events, sensor_size, where)
    width, height, polarities = _sensor(sensor_size, where)
    if not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"{where}: window must be a positive number of steps, not {window!r}")
    events = np.asarray(events)
    stats = {"events": len(events), "spikes": 0, "merged": 0, "dropped": 0}
    if not len(events):
        return np.empty(0, EVENT_DTYPE), stats
    t = events["t"]
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64) if "y" in events.dtype.names else np.zeros_like(x)
    p = events["p"].astype(np.int64)
    offset = t - t.min()
    if time_window is not None:
        if not time_window > 0:
            raise ValueError(f"{where}: time_window must be positive, not {time_window!r}")
        steps = np.floor(offset / time_window).astype(np.int64)
    else:
        span = offset.max()
        if np.issubdtype(t.dtype, np.integer):
            steps = (offset.astype(np.int64) * window) // (int(span) + 1)
        else:
            steps = np.floor(offset / span * window).astype(np.int64) if span > 0 \
                else np.zeros(len(t), np.int64)
            steps = np.minimum(steps, window - 1)
    keep = steps < window
    stats["dropped"] = int((~keep).sum())
    address = ((p * height + y) * width + x)[keep]
    steps = steps[keep]
    key = np.unique(steps * (width * height * polarities) + address)
    stats["spikes"] = len(key)
    stats["merged"] = int(keep.sum()) - len(key)
    out = np.empty(len(key), EVENT_DTYPE)
    out["t"], out["x"] = np.divmod(key, width * height * polarities)
    out["p"] = 1
    return out, stats


class TonicEventsFile(EventsFile):
    """An events file in Tonic layout: validated at load, binned per configuration
    (:meth:`samples` uses its ``input_window``)."""

    def __init__(self, *args, sensor_size, time_window=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.sensor_size, self.time_window = _sensor(sensor_size, self.name), time_window
        self.stats = {"events": 0, "spikes": 0, "merged": 0, "dropped": 0}

    def samples(self, config, split: str, limit: int | None = None) -> EventSamples:
        labels = getattr(self, f"{split}_labels")[:limit]
        raw, index = getattr(self, f"{split}_events"), getattr(self, f"{split}_index")
        binned, offsets = [], [0]
        for i in range(len(labels)):
            events, stats = bin_events(raw[index[i]:index[i + 1]], self.sensor_size,
                                       config.input_window, time_window=self.time_window,
                                       where=f"{self.name}: {split} sample {i}")
            for key, value in stats.items():
                self.stats[key] += value
            binned.append(events)
            offsets.append(offsets[-1] + len(events))
        events = np.concatenate(binned) if binned else np.empty(0, EVENT_DTYPE)
        return EventSamples(config, events, np.array(offsets, np.int64), labels)


def read_tonic_events(path) -> TonicEventsFile:
    """Read an events file in Tonic layout (:data:`TONIC_LAYOUT`), validating every field of every
    sample; errors name the file, the array, the field, the sample and the event."""
    path = Path(path)
    with load_npz(path) as data:
        if "sensor_size" not in data.files:
            raise ValueError(f"events file {path} has no 'sensor_size' array: not in Tonic layout")
        sensor = _sensor(data["sensor_size"], f"{path}: sensor_size")
        parts = read_splits(data, path)
        for split in ("train", "test"):
            check_events(parts[f"{split}_events"], sensor, f"{path}: {split}_events",
                         index=parts[f"{split}_index"])
        time_window = float(data["time_window"]) if "time_window" in data.files else None
        n_classes = n_classes_of(data, parts, path)
    if time_window is not None and not time_window > 0:
        raise ValueError(f"{path}: time_window must be positive, not {time_window}")
    return TonicEventsFile(parts["train_events"], parts["train_index"].astype(np.int64),
                           parts["train_labels"].astype(np.int64), parts["test_events"],
                           parts["test_index"].astype(np.int64),
                           parts["test_labels"].astype(np.int64),
                           n_inputs_of(sensor), n_classes, path.stem,
                           sensor_size=sensor, time_window=time_window)


def write_tonic_events(path, train, test, sensor_size, *, time_window: float | None = None,
                       n_classes: int | None = None) -> Path:
    """Write an events file in Tonic layout from ``train`` and ``test``: sequences of
    ``(events, label)`` with events as Tonic gives them (checked first)."""
    sensor = _sensor(sensor_size, str(path))
    train, test = list(train), list(test)
    for split, samples in (("train", train), ("test", test)):
        for i, (events, _) in enumerate(samples):
            check_events(np.asarray(events), sensor, f"{path}: {split} sample {i}")
    arrays = {"sensor_size": np.array(sensor, np.int64),
              **split_arrays(train, test, np.empty(0, [("x", np.int64), ("y", np.int64),
                                                       ("t", np.int64), ("p", np.int64)]))}
    if time_window is not None:
        arrays["time_window"] = np.array(float(time_window))
    if n_classes is not None:
        arrays["n_classes"] = np.array(n_classes)
    return save_npz(path, arrays)


def from_tonic_dataset(dataset, *, limit: int | None = None):
    """``(samples, sensor_size)`` from a Tonic dataset object, duck-typed (``len``, indexing giving
    ``(events, label)``, ``sensor_size``): the samples as a list of ``(events, label)`` for
    :func:`write_tonic_events`. Tonic need not be installed for this module; it is only read."""
    sensor = getattr(dataset, "sensor_size", None)
    if sensor is None:
        raise ValueError(f"{type(dataset).__name__} has no sensor_size: not a Tonic dataset")
    sensor = _sensor(sensor, f"{type(dataset).__name__}.sensor_size")
    count = len(dataset) if limit is None else min(limit, len(dataset))
    samples = []
    for i in range(count):
        events, label = dataset[i][:2]
        check_events(events, sensor, f"{type(dataset).__name__} sample {i}")
        samples.append((np.asarray(events), int(label)))
    return samples, sensor
