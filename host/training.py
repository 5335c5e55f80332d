"""On-chip training over a :class:`~plasticore.host.board.Board`: one sample at a time, learning
on the board, as ``plasticore train --target sim|serial:PORT`` runs it.

Every choice follows :func:`plasticore.golden.train.train` for one seed, so that a board run and
the golden run of the same seed are the same computation (bit for bit on a correct board):

* initial weights ``Network.initial_weights(config, seed)`` written to the board, LFSR seeds of
  ``golden.train.seed_config(config, seed)`` loaded with SEEDS, then RESET (the golden trainer's
  network draws one set of perturbations when it is built; RESET draws the same);
* the sample order of epoch ``e``: ``default_rng([seed, 1])`` for the first epoch,
  ``default_rng([seed, 1, e - 1])`` after, a permutation of the training set;
* TTFS encoding (``golden.train.encode_images``); the running train accuracy counts the
  predictions (most output spikes, ties to the lowest index) made before each update;
* each epoch starts with RATES: the learning-rate shifts ``config.rates_at(epoch)`` (the
  schedule ``config.lr_schedule``; the golden trainer switches its network's rates at the same
  point);
* after each epoch the test set runs without learning (COUNTS) and the hidden counts are read
  back for the spike rate. Evaluation samples draw perturbations on the board, the golden
  evaluation does not: the host follows both LFSRs (:class:`LfsrLedger`) and reloads them after
  the evaluation, and clears the sticky flags the evaluation raised.

Checkpoints (``host/checkpoint.py``) are written every ``checkpoint_every`` samples and at the
end of every epoch; they hold the LFSR states, so a resumed run continues exactly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plasticore.golden import encode, lfsr
from plasticore.golden.config import Config
from plasticore.golden.network import FLAG_NAMES, Network
from plasticore.golden.train import TrainResult, alignment, encode_images, seed_config

from . import checkpoint as ckpt
from .board import Board, LinkError

__all__ = ["Samples", "PixelSamples", "EventSamples", "EventsFile", "read_events", "write_events",
           "LfsrLedger", "lfsr_jump", "epoch_order", "train_on_board", "TrainingInterrupted",
           "draws_per_learn"]


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
            _check_split(self.path or self.name, split, getattr(self, f"{split}_events"),
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


def _check_split(path, split: str, events, index, n_inputs: int, n_steps: int | None = None):
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


def read_events(path) -> EventsFile:
    """Read an events file (layout: :data:`EVENTS_LAYOUT`, or Tonic's with a ``sensor_size``:
    ``host.events.read_tonic_events``); raises ValueError naming the key, and for a bad event the
    file, the field and the sample (:meth:`EventsFile.check` checks the times against a
    configuration)."""
    path = Path(path)
    with load_npz(path) as data:
        if "sensor_size" in data.files:  # raw events as Tonic gives them: host/events.py bins them
            from .events import read_tonic_events
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
        _check_split(path, split, parts[f"{split}_events"], parts[f"{split}_index"], n_inputs)
    return EventsFile(parts["train_events"], parts["train_index"].astype(np.int64),
                      parts["train_labels"].astype(np.int64), parts["test_events"],
                      parts["test_index"].astype(np.int64), parts["test_labels"].astype(np.int64),
                      n_inputs, n_classes, path.stem, str(path))


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


# --- LFSR bookkeeping ----------------------------------------------------------------------------------
def _apply(columns, state: int) -> int:
    out = 0
    c = 0
    while state:
        if state & 1:
            out ^= columns[c]
        state >>= 1
        c += 1
    return out


def lfsr_jump(n: int) -> tuple[int, ...]:
    """The linear map "advance the LFSR by n draws" as its 32 columns (images of 1 << c)."""
    result = tuple(1 << c for c in range(32))
    power = tuple(lfsr.step(1 << c) for c in range(32))
    while n:
        if n & 1:
            result = tuple(_apply(power, col) for col in result)
        power = tuple(_apply(power, col) for col in power)
        n >>= 1
    return result


def draws_per_learn(config: Config) -> int:
    """Draws of the rounding LFSR in one end-of-sample learning sequence (spec 6)."""
    sizes = config.layers
    weights = [sizes[k + 1] * sizes[k] for k in range(len(sizes) - 1)]
    n = weights[-1]
    if config.learns_hidden:
        n += sum(weights[:-1])
    if config.learns_feedback:
        n += config.n_outputs * sum(config.hidden_sizes)
    return n


class LfsrLedger:
    """The host's copy of the board's two LFSR states, advanced as samples start and learn."""

    def __init__(self, config: Config, perturb: int, round_: int):
        self.perturb, self.round = int(perturb), int(round_)
        self._start = lfsr_jump(sum(config.hidden_sizes))
        self._learn = lfsr_jump(draws_per_learn(config))

    def start_sample(self) -> None:
        self.perturb = _apply(self._start, self.perturb)

    def learn(self) -> None:
        self.round = _apply(self._learn, self.round)

    @property
    def state(self) -> tuple[int, int]:
        return self.perturb, self.round


def epoch_order(seed: int, epoch: int, n: int) -> tuple[np.ndarray, dict]:
    """The sample order of ``epoch`` (1-based) and the generator state that drew it, as
    :func:`plasticore.golden.train.train` draws them."""
    rng = np.random.default_rng([seed, 1] if epoch == 1 else [seed, 1, epoch - 1])
    state = rng.bit_generator.state
    return rng.permutation(n), state


# --- training -----------------------------------------------------------------------------------------
class TrainingInterrupted(Exception):
    """Ctrl-C: the run stopped after a consistent state; ``checkpoint`` holds it (or None)."""

    def __init__(self, checkpoint: Path | None, epoch: int, index: int):
        self.checkpoint, self.epoch, self.index = checkpoint, epoch, index
        where = f"written to {checkpoint}" if checkpoint else "not written (no --checkpoint path)"
        super().__init__(f"interrupted in epoch {epoch} after {index} samples; checkpoint {where}")


class _Run:
    """The mutable state of a board run (what a checkpoint saves)."""

    def __init__(self, board: Board, config: Config, train: Samples, test: Samples, *, epochs, seed,
                 checkpoint_path, checkpoint_every, progress, meta):
        self.board, self.config, self.train, self.test = board, config, train, test
        self.epochs, self.seed = epochs, seed
        self.checkpoint_path = Path(checkpoint_path) if checkpoint_path else None
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.meta = dict(meta or {})
        self.history: list[dict] = []
        self.epoch, self.index, self.correct = 1, 0, 0
        self.order, self.rng_state = None, None
        self.flags = 0
        self.train_seconds, self.train_samples = 0.0, 0
        self.ledger: LfsrLedger | None = None
        self.bar = None

    # --- start / resume ----------------------------------------------------------------------------
    def start(self):
        cfg, board = self.config, self.board
        weights, feedback = Network.initial_weights(cfg, self.seed)
        seeded = seed_config(cfg, self.seed)
        board.write_params(weights, feedback)
        board.seeds(seeded.seed_perturb, seeded.seed_round)
        board.reset()                         # clears flags and counters, draws perturbations
        self.ledger = LfsrLedger(cfg, seeded.seed_perturb, seeded.seed_round)
        self.ledger.start_sample()
        self.order, self.rng_state = epoch_order(self.seed, 1, len(self.train))

    def resume(self, point: ckpt.Checkpoint):
        meta = point.meta
        here = {"seed": self.seed, "n_train": len(self.train), "n_test": len(self.test)}
        for key, value in here.items():
            if key in meta and meta[key] != value:
                raise ckpt.CheckpointError(f"the checkpoint was written by a run with {key} = "
                                           f"{meta[key]}; this run has {key} = {value}")
        board = self.board
        board.reset()
        board.write_params(point.weights, point.feedback)
        board.seeds(*point.lfsr)
        self.ledger = LfsrLedger(self.config, *point.lfsr)
        self.epoch, self.index = point.epoch, point.index
        self.order, self.rng_state = point.order, point.rng_state
        if self.order is None or len(self.order) != len(self.train):
            self.order, self.rng_state = epoch_order(self.seed, self.epoch, len(self.train))
        self.correct = int(meta.get("correct", 0))
        self.flags = int(meta.get("flags", 0))
        self.history = list(meta.get("history", []))
        self.train_seconds = float(meta.get("train_seconds", 0.0))
        self.train_samples = int(meta.get("train_samples", 0))

    def save(self):
        if self.checkpoint_path is None:
            return None
        weights, feedback = self.board.read_params()
        meta = {**self.meta, "seed": self.seed, "n_train": len(self.train), "n_test": len(self.test),
                "correct": self.correct, "flags": self.flags, "history": self.history,
                "train_seconds": self.train_seconds, "train_samples": self.train_samples,
                "epochs": self.epochs}
        return ckpt.save(self.checkpoint_path, ckpt.Checkpoint(
            self.config, weights, feedback, epoch=self.epoch, index=self.index, order=self.order,
            rng_state=self.rng_state, lfsr=self.ledger.state, meta=meta))

    # --- one epoch ------------------------------------------------------------------------------------
    def _learned(self, label):
        def done(counts, _hidden):
            self.correct += int(np.argmax(counts) == label)
            self.index += 1
            self.ledger.start_sample()
            self.ledger.learn()
            if self.bar is not None:
                self.bar.update(1)
        return done

    def train_epoch(self):
        from tqdm import tqdm

        n = len(self.train)
        # the epoch's learning rates (config.lr_schedule), also after a resume mid-epoch
        self.board.rates(*self.config.rates_at(self.epoch))
        self.bar = tqdm(total=n, initial=self.index, desc=f"epoch {self.epoch}/{self.epochs}",
                        unit="sample", disable=not self.progress, dynamic_ncols=True,
                        mininterval=0.5)
        try:
            while self.index < n:
                stop = n
                if self.checkpoint_every:
                    stop = min(n, (self.index // self.checkpoint_every + 1) * self.checkpoint_every)
                started, before = time.perf_counter(), self.index
                samples = ((self.train.raster(i), int(self.train.labels[i]))
                           for i in self.order[self.index:stop])
                labels = iter(self.train.labels[self.order[self.index:stop]].tolist())
                for sample in samples:
                    self.board.stream_one(sample, self._learned(next(labels)))
                    if self.progress and self.index:
                        self.bar.set_postfix(acc=f"{self.correct / max(self.index, 1):.3f}",
                                             refresh=False)
                self.board.drain()
                self.train_seconds += time.perf_counter() - started
                self.train_samples += self.index - before
                if self.index < n:
                    self.save()
        finally:
            self.bar.close()
            self.bar = None

    def evaluate(self) -> tuple[float, float]:
        """Test accuracy and hidden spikes per neuron and sample, on the board."""
        cfg, board = self.config, self.board
        before = board.status().flags
        correct, hidden, seen = 0, 0, 0
        labels = self.test.labels

        def done(counts, hidden_counts):
            nonlocal correct, hidden, seen
            correct += int(np.argmax(counts) == labels[seen])
            hidden += int(hidden_counts.sum())
            seen += 1

        board.stream(((self.test.raster(i), None) for i in range(len(self.test))), done, hidden=True)
        after = board.status().flags
        if after & ~before:
            board.clear_flags(after & ~before)
        board.seeds(*self.ledger.state)       # the evaluation drew perturbations
        n_hidden = max(sum(cfg.hidden_sizes), 1)
        n = len(self.test)
        return correct / n if n else 0.0, hidden / (n * n_hidden) if n else 0.0

    def end_epoch(self):
        # any request lost or refused on the way shows up here, not as a silently worse run
        self.flags |= self.board.check_counters().flags
        weights, feedback = self.board.read_params()
        test_acc, hidden_rate = self.evaluate()
        n = len(self.train)
        lr_hidden, lr_output = self.config.rates_at(self.epoch)
        entry = {
            "epoch": self.epoch,
            "train_accuracy": [self.correct / n],
            "test_accuracy": [float(test_acc)],
            "hidden_spikes_per_neuron": [float(hidden_rate)],
            "feedback_alignment": [alignment(feedback[-1], weights[-1])] if feedback else [],
            "overflow": {name: [True] for k, name in enumerate(FLAG_NAMES) if self.flags >> k & 1},
            "lr_hidden_shift": lr_hidden,
            "lr_output_shift": lr_output,
        }
        self.history.append(entry)
        if self.progress:
            from tqdm import tqdm
            tqdm.write(f"epoch {self.epoch}: train {round(entry['train_accuracy'][0], 3)} "
                       f"test {round(test_acc, 3)} hidden spikes/neuron {round(hidden_rate, 2)}")
        self.epoch += 1
        self.index, self.correct = 0, 0
        self.order, self.rng_state = epoch_order(self.seed, self.epoch, n)
        self.save()
        return entry


def train_on_board(board: Board, config: Config, train: Samples, test: Samples, *, epochs: int,
                   seed: int = 0, checkpoint_path=None, checkpoint_every: int | None = None,
                   resume: ckpt.Checkpoint | None = None, progress: bool = True, meta: dict | None = None,
                   on_epoch=None) -> TrainResult:
    """Train on ``board`` for ``epochs`` epochs (counted from the start of the run, also when
    resuming). Returns a :class:`~plasticore.golden.train.TrainResult` with one seed, whose
    network holds the final parameters read back from the board.

    Raises :class:`TrainingInterrupted` on Ctrl-C after finishing the requests in flight and
    writing a checkpoint; link errors (:class:`~plasticore.host.board.BoardDisconnected` ...)
    propagate, the last periodic checkpoint stays as it was."""
    if config.n_inputs != board.config.n_inputs or config.board_hash != board.config.board_hash:
        raise ValueError("the board was opened for another configuration")
    run = _Run(board, config, train, test, epochs=epochs, seed=seed, checkpoint_path=checkpoint_path,
               checkpoint_every=checkpoint_every, progress=progress, meta=meta)
    if resume is not None:
        run.resume(resume)
    else:
        run.start()
    try:
        while run.epoch <= epochs:
            run.train_epoch()
            entry = run.end_epoch()
            if on_epoch:
                on_epoch(entry)
    except KeyboardInterrupt:
        written = None
        try:
            board.drain()                     # the board runs what it received; count it
            written = run.save()
        except (LinkError, KeyboardInterrupt):
            pass
        raise TrainingInterrupted(written, run.epoch, run.index) from None
    weights, feedback = board.read_params()
    network = Network(config, weights, feedback, fixed=True, batch=1, seed=None)
    result = TrainResult(config, [seed], True, history=run.history, network=network)
    result.samples_per_second = run.train_samples / run.train_seconds if run.train_seconds else 0.0
    return result
