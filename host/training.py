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
from pathlib import Path

import numpy as np

from plasticore.golden import lfsr
from plasticore.golden.config import Config
from plasticore.golden.network import FLAG_NAMES, Network
from plasticore.golden.train import TrainResult, alignment, seed_config

from . import checkpoint as ckpt
from .board import Board, LinkError
from .samples import Samples

__all__ = ["LfsrLedger", "lfsr_jump", "epoch_order", "train_on_board", "TrainingInterrupted",
           "draws_per_learn"]


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
