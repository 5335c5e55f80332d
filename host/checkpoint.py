"""Training checkpoints: weights, feedback, configuration and progress in one ``.npz`` file.

A checkpoint holds everything needed to continue a run on any target exactly where it stopped:
the parameters (integer words), the configuration (JSON) and its hash, the epoch in progress and
the samples of it already learned, that epoch's sample order (and the state of the generator that
drew it), the two LFSR states the board must continue from, and free-form JSON (history so far,
running counts, the options of the run).

Files are written atomically (a temporary file in the same folder, flushed, then ``os.replace``):
an interrupted write never leaves a broken checkpoint, the previous one stays in place.
:func:`load` refuses a checkpoint written for another configuration, naming both hashes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from plasticore.golden.config import Config

__all__ = ["Checkpoint", "CheckpointError", "save", "load", "FORMAT"]

#: bumped when the file layout changes
FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint that cannot be used here (unreadable, another format, another config)."""


@dataclass
class Checkpoint:
    config: Config
    weights: list[np.ndarray]
    feedback: list[np.ndarray]
    #: the epoch in progress (1-based) and the samples of it already learned
    epoch: int = 1
    index: int = 0
    #: the sample order of that epoch (indices into the training set)
    order: np.ndarray | None = None
    #: numpy bit-generator state that drew ``order`` (JSON-able dict), for the record
    rng_state: dict | None = None
    #: LFSR states (perturb, round) the board continues from
    lfsr: tuple[int, int] = (0, 0)
    #: free-form JSON: history, running counts, options of the run
    meta: dict = field(default_factory=dict)

    @property
    def config_hash(self) -> str:
        return self.config.hash


def save(path, checkpoint: Checkpoint) -> Path:
    """Write ``checkpoint`` to ``path`` atomically; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {
        "format": FORMAT, "config": checkpoint.config.to_dict(), "config_hash": checkpoint.config.hash,
        "epoch": int(checkpoint.epoch), "index": int(checkpoint.index),
        "rng_state": checkpoint.rng_state, "lfsr": [int(v) for v in checkpoint.lfsr],
        "n_weights": len(checkpoint.weights), "n_feedback": len(checkpoint.feedback),
        "meta": checkpoint.meta,
    }
    arrays = {"header": np.array(json.dumps(header, default=_json_default))}
    for k, w in enumerate(checkpoint.weights):
        arrays[f"weights_{k}"] = np.asarray(w, dtype=np.int64)
    for k, b in enumerate(checkpoint.feedback):
        arrays[f"feedback_{k}"] = np.asarray(b, dtype=np.int64)
    if checkpoint.order is not None:
        arrays["order"] = np.asarray(checkpoint.order, dtype=np.int64)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        if temporary.exists():
            temporary.unlink()
    return path


def load(path, config: Config | None = None) -> Checkpoint:
    """Read a checkpoint; with ``config``, refuse one written for another configuration."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(str(data["header"]))
            weights = [data[f"weights_{k}"] for k in range(header["n_weights"])]
            feedback = [data[f"feedback_{k}"] for k in range(header["n_feedback"])]
            order = data["order"] if "order" in data.files else None
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
        raise CheckpointError(f"checkpoint {path} is unreadable: {error}") from None
    if header.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} has format {header.get('format')}; this version "
                              f"reads format {FORMAT}")
    stored = Config.from_dict(header["config"])
    if stored.hash != header["config_hash"]:
        raise CheckpointError(f"checkpoint {path}: its configuration hashes to {stored.hash}, not "
                              f"the recorded {header['config_hash']} (written by another version?)")
    if config is not None and config.hash != stored.hash:
        raise CheckpointError(
            f"checkpoint {path} was written for configuration {stored.hash}, but this run's "
            f"configuration is {config.hash}; resume with the configuration options of the "
            f"interrupted run")
    return Checkpoint(stored, weights, feedback, epoch=header["epoch"], index=header["index"],
                      order=order, rng_state=header.get("rng_state"),
                      lfsr=tuple(header["lfsr"]), meta=header.get("meta") or {})


def _json_default(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
