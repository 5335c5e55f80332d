"""What a board trains on: labelled samples as rasters, and the chip's events file.

:class:`PixelSamples` TTFS-encode images with the configuration's window; :class:`EventSamples`
bin events (``golden.encode.from_events``). An events file (:data:`EVENTS_LAYOUT`) holds both
splits of an event dataset; ``host.events.read_events`` reads it, in this layout or Tonic's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plasticore.golden import encode
from plasticore.golden.config import Config
from plasticore.golden.train import encode_images

__all__ = ["Samples", "PixelSamples", "EventSamples", "EventsFile", "EVENTS_LAYOUT", "write_events",
           "check_split", "load_npz", "read_splits", "n_classes_of", "split_arrays", "save_npz"]


# --- data ------------------------------------------------------------------------------------------------
class Samples:
    """A labelled set of samples as rasters (n_steps, n_inputs), encoded on demand."""

    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def raster(self, i: int) -> np.ndarray:
        raise NotImplementedError


class PixelSamples(Samples):
    """uint8 pixel rows, TTFS-encoded with the configuration's window."""

    def __init__(self, config: Config, pixels: np.ndarray, labels: np.ndarray):
        self.config, self.pixels, self.labels = config, pixels, np.asarray(labels, dtype=np.int64)

    def raster(self, i):
        return encode_images(self.config, self.pixels[i:i + 1])[0]


class EventSamples(Samples):
    """Tonic-style events (fields x, t, p), all samples concatenated; sample ``i`` is
    ``events[index[i]:index[i + 1]]``."""

    def __init__(self, config: Config, events: np.ndarray, index: np.ndarray, labels: np.ndarray):
        self.config, self.events, self.index = config, events, np.asarray(index, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.index) != len(self.labels) + 1:
            raise ValueError(f"{len(self.labels)} labels need {len(self.labels) + 1} offsets, "
                             f"not {len(self.index)}")

    def raster(self, i):
        return encode.from_events(self.events[self.index[i]:self.index[i + 1]],
                                  self.config.n_steps, self.config.n_inputs)


@dataclass
class EventsFile:
    """The contents of an events file (see :func:`read_events`)."""

    train_events: np.ndarray
    train_index: np.ndarray
    train_labels: np.ndarray
    test_events: np.ndarray
    test_index: np.ndarray
    test_labels: np.ndarray
    n_inputs: int
    n_classes: int
    name: str

    path: str = ""

    def check(self, config: Config) -> None:
        """Check every event of both splits against ``config`` (``t`` below its ``n_steps``, ``x``
        below its ``n_inputs``, one event per (t, x) and sample): ValueError naming the file, the
        split's field and the sample, before any training starts. (A file in Tonic layout, with
        a ``sensor_size``, holds raw sensor events, validated and binned by ``host/events.py``.)"""
        if getattr(self, "sensor_size", None) is not None:
            return
        for split in ("train", "test"):
            check_split(self.path or self.name, split, getattr(self, f"{split}_events"),
                         getattr(self, f"{split}_index"), config.n_inputs, config.n_steps)

    def samples(self, config: Config, split: str, limit: int | None = None) -> EventSamples:
        """The first ``limit`` (default all) samples of ``split`` ("train" or "test")."""
        labels = getattr(self, f"{split}_labels")[:limit]
        return EventSamples(config, getattr(self, f"{split}_events"),
                            getattr(self, f"{split}_index")[:len(labels) + 1], labels)


EVENTS_LAYOUT = """\
An events file is an .npz with, for each split S in (train, test):
  S_events  structured array with integer fields x (input), t (time step) and p (polarity, 1):
            the events of every sample of the split, concatenated (Tonic's layout, one sample
            after the other);
  S_index   int64 offsets, one more than samples: sample i is S_events[S_index[i]:S_index[i+1]];
  S_labels  int64 labels, one per sample (0..n_classes-1);
and optionally the int scalars n_inputs and n_classes (default: max x + 1, max label + 1).
Events must fall in the configuration's n_steps; a (t, x) pair may occur once per sample.
With a sensor_size array the file is in Tonic layout instead: raw x, y, t, p as Tonic gives
them, binned onto the steps at load (host/events.py, TONIC_LAYOUT)."""


def check_split(path, split: str, events, index, n_inputs: int, n_steps: int | None = None):
    """ValueError naming the file, ``split``'s field and the sample (and the event in it) of the
    first event out of range, with a polarity other than 1, or repeated in its sample."""
    index = np.asarray(index, dtype=np.int64)

    def where(k):
        sample = int(np.searchsorted(index, k, side="right")) - 1
        return f"sample {sample} (event {k - int(index[sample])} of it, {split}_events[{k}])"

    for field in ("x", "t", "p"):
        if not np.issubdtype(events[field].dtype, np.integer):
            raise ValueError(f"events file {path}: field {field!r} of {split}_events must be "
                             f"integer, not {events[field].dtype}")
    limits = (("x", n_inputs, "n_inputs"), ("t", n_steps, "n_steps"))
    for field, limit, name in limits:
        values = events[field]
        bad = values < 0 if limit is None else (values < 0) | (values >= limit)
        if bad.any():
            k = int(np.argmax(bad))
            span = "negative" if limit is None else f"outside 0..{limit - 1} ({name} = {limit})"
            raise ValueError(f"events file {path}: field {field!r} of {split}_events is "
                             f"{int(values[k])} in {where(k)}: {span}")
    bad = events["p"] != 1
    if bad.any():
        k = int(np.argmax(bad))
        raise ValueError(f"events file {path}: field 'p' of {split}_events is {int(events['p'][k])} "
                         f"in {where(k)}: only polarity 1 (a spike) is allowed")
    if n_steps is not None and len(events):
        sample = np.repeat(np.arange(len(index) - 1), np.diff(index))
        key = (sample * n_steps + events["t"].astype(np.int64)) * n_inputs + events["x"].astype(np.int64)
        order = np.argsort(key, kind="stable")
        repeated = np.flatnonzero(np.diff(key[order]) == 0)
        if repeated.size:
            k = int(order[repeated[0] + 1])
            raise ValueError(f"events file {path}: fields 't', 'x' of {split}_events repeat "
                             f"({int(events['t'][k])}, {int(events['x'][k])}) in {where(k)}: a "
                             f"sample holds at most one spike per input and step")


def load_npz(path: Path):
    """``np.load`` of an events file; a file numpy cannot read is a ValueError naming it."""
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ValueError(f"cannot read events file {path}: {error}") from None


def read_splits(data, path: Path) -> dict:
    """The ``{split}_events``, ``{split}_index`` and ``{split}_labels`` arrays of both splits of
    an open events file, the index checked against the events and labels (the events' fields
    are the layout's to check)."""
    parts = {}
    for split in ("train", "test"):
        for key in ("events", "index", "labels"):
            name = f"{split}_{key}"
            if name not in data.files:
                raise ValueError(f"events file {path} has no {name!r} array "
                                 f"(it holds {', '.join(data.files)})")
            parts[name] = data[name]
        events, index = parts[f"{split}_events"], parts[f"{split}_index"]
        labels = parts[f"{split}_labels"]
        if len(index) != len(labels) + 1 or (len(index) and (
                index[0] != 0 or index[-1] != len(events) or np.any(np.diff(index) < 0))):
            raise ValueError(f"{split}_index in {path} must hold {len(labels) + 1} ascending "
                             f"offsets from 0 to {len(events)}")
    return parts


def n_classes_of(data, parts: dict, path: Path) -> int:
    """The file's ``n_classes`` (else one more than its largest label), every label checked."""
    all_y = np.concatenate([parts["train_labels"], parts["test_labels"]]).astype(np.int64)
    n_classes = int(data["n_classes"]) if "n_classes" in data.files else int(all_y.max(initial=-1)) + 1
    if len(all_y) and (all_y.min() < 0 or all_y.max() >= n_classes):
        raise ValueError(f"labels in {path} fall outside 0..{n_classes - 1}")
    return n_classes


def split_arrays(train, test, empty) -> dict:
    """The arrays of an events file's two splits from sequences of ``(events, label)``;
    ``empty`` is the events array of a split without samples."""
    arrays = {}
    for split, samples in (("train", train), ("test", test)):
        samples = list(samples)
        events = [np.asarray(e) for e, _ in samples]
        arrays[f"{split}_events"] = np.concatenate(events) if events else empty
        arrays[f"{split}_index"] = np.concatenate([[0], np.cumsum([len(e) for e in events])]).astype(np.int64)
        arrays[f"{split}_labels"] = np.array([int(y) for _, y in samples], dtype=np.int64)
    return arrays


def save_npz(path, arrays: dict) -> Path:
    path = Path(path)
    with open(path, "wb") as handle:     # a file object: np.savez adds no ".npz" to the name
        np.savez(handle, **arrays)
    return path


def write_events(path, train, test, *, n_inputs: int | None = None,
                 n_classes: int | None = None) -> Path:
    """Write an events file from ``train`` and ``test``: sequences of ``(events, label)`` with
    events as ``golden.encode.to_events`` makes them."""
    arrays = split_arrays(train, test, np.empty(0, encode.EVENT_DTYPE))
    if n_inputs is not None:
        arrays["n_inputs"] = np.array(n_inputs)
    if n_classes is not None:
        arrays["n_classes"] = np.array(n_classes)
    return save_npz(path, arrays)
