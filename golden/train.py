"""Training and evaluation on the golden model: per-sample online learning, as the chip does it.

Several seeds train side by side as replicas of one :class:`~plasticore.golden.network.Network`
(one numpy pass serves them all); replica ``r`` is exactly the single run of
:func:`seed_config` ``(config, seeds[r])`` with initial weights from ``seeds[r]`` and its own
sample order, so any replica can be reproduced alone, on the golden model or on the hardware.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import encode
from .config import Config
from .datasets import Dataset
from .network import Network

__all__ = ["seed_config", "TrainResult", "train", "evaluate", "encode_images", "alignment",
           "CheckpointMismatch"]


def seed_config(config: Config, seed: int) -> Config:
    """The configuration of seed ``seed``: LFSR seeds derived from it (never zero)."""
    mix = np.random.default_rng([seed, 0x5EED]).integers(1, 1 << 32, size=2, dtype=np.uint64)
    return config.replace(seed_perturb=int(mix[0]), seed_round=int(mix[1]))


def encode_images(config: Config, pixels: np.ndarray) -> np.ndarray:
    """Time-to-first-spike rasters (B, n_steps, inputs) for uint8 pixel rows."""
    return encode.ttfs(pixels, config.input_window, config.n_steps)


def alignment(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine between two arrays taken as flat vectors."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm else 0.0


@dataclass
class TrainResult:
    config: Config
    seeds: list[int]
    fixed: bool
    history: list[dict] = field(default_factory=list)   # one entry per epoch, lists per seed
    network: Network | None = None
    samples_per_second: float = 0.0

    def summary(self) -> dict:
        """Final and best-epoch accuracies, mean and std over seeds."""
        final = np.array(self.history[-1]["test_accuracy"])
        tests = np.array([h["test_accuracy"] for h in self.history])  # (epochs, seeds)
        best = tests.max(axis=0)
        train_final = np.array(self.history[-1]["train_accuracy"])
        return {
            "test_accuracy": float(final.mean()), "test_accuracy_std": float(final.std()),
            "best_test_accuracy": float(best.mean()), "best_test_accuracy_std": float(best.std()),
            "train_accuracy": float(train_final.mean()),
            "test_accuracy_per_seed": final.tolist(),
            "best_epoch_per_seed": (tests.argmax(axis=0) + 1).tolist(),
        }


def replica(arrays, r: int) -> list[np.ndarray]:
    """Replica ``r`` of a network's per-layer arrays (an array shared by all replicas, leading
    dimension 1, serves every ``r``)."""
    return [a[r] if a.shape[0] > 1 else a[0] for a in arrays]


def layer_counts(config: Config, weights, feedback, pixels: np.ndarray, *, fixed: bool = True,
                 chunk: int = 500) -> list[np.ndarray]:
    """Spike counts of every layer for every image, one (images, neurons) array per layer; for an
    integrate output layer (``output_layer = "integrate"``) the last array is V_o, its score.

    Inference only, one replica's ``weights``/``feedback``; the images run in chunks that share
    the weights, as a batch of replicas of one network."""
    parts = []
    for start in range(0, len(pixels), chunk):
        x = pixels[start:start + chunk]
        probe = Network(config, weights, feedback, fixed=fixed, batch=len(x), seed=None,
                        eligibility=False)
        counts = probe.run(encode_images(config, x)).counts
        if config.output_layer == "integrate":
            counts[-1] = probe.layers[-1].a.copy()
        parts.append(counts)
    return [np.concatenate([part[k] for part in parts]) for k in range(len(config.layers) - 1)]


def hidden_counts(config: Config, weights, feedback, pixels: np.ndarray, *, fixed: bool = True,
                  chunk: int = 500) -> np.ndarray:
    """Spike counts of every hidden neuron for every image, (images, hidden neurons), int:
    :func:`layer_counts` without the output layer, hidden layers side by side."""
    counts = layer_counts(config, weights, feedback, pixels, fixed=fixed, chunk=chunk)
    return np.concatenate(counts[:-1], axis=1).astype(np.int64)


def linear_probe(train_features, y_train, test_features, y_test, *, max_iter: int = 1000,
                 allow_unconverged: bool = False) -> float:
    """Test accuracy of a multinomial logistic regression (scikit-learn, the ``test`` extra) fitted
    on standardised training features: what any linear readout of the features allows.
    ``allow_unconverged`` silences scikit-learn's ConvergenceWarning (a probe capped at
    ``max_iter`` iterations on purpose)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
    with warnings.catch_warnings():
        if allow_unconverged:
            warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_features, y_train)
    return float(model.score(test_features, y_test))


def evaluate(network: Network, pixels: np.ndarray, labels: np.ndarray, *, chunk: int = 500):
    """Test accuracy and mean hidden spikes per neuron of every replica of ``network``.

    Runs each replica's weights over all samples in chunks (:func:`layer_counts`); no learning,
    no change to ``network``. Returns (accuracy (R,), hidden_rate (R,)).
    """
    config = network.config
    replicas = network.batch
    correct = np.zeros(replicas)
    hidden_spikes = np.zeros(replicas)
    weights = network.weights()
    for r in range(replicas):
        counts = layer_counts(config, replica(weights, r), replica(network.feedback, r), pixels,
                              fixed=network.fixed, chunk=chunk)
        correct[r] = (np.argmax(counts[-1], axis=1) == labels).sum()
        hidden_spikes[r] = sum(c.sum() for c in counts[:-1])
    n_hidden = max(sum(config.hidden_sizes), 1)
    return correct / len(labels), hidden_spikes / (len(labels) * n_hidden)


def _replica_network(config: Config, seeds: list[int], fixed: bool,
                     network_class: type[Network] = Network) -> Network:
    inits = [Network.initial_weights(config, s, fixed=fixed) for s in seeds]
    weights = [np.stack([w[k] for w, _ in inits]) for k in range(len(config.layers) - 1)]
    feedback = [np.stack([b[k] for _, b in inits]) for k in range(len(config.hidden_sizes))]
    net = network_class(config, weights, feedback, fixed=fixed, batch=len(seeds), seed=None)
    for r, s in enumerate(seeds):
        cfg = seed_config(config, s)
        net.lfsr_perturb[r], net.lfsr_round[r] = cfg.seed_perturb, cfg.seed_round
    net.reset()
    return net


class CheckpointMismatch(ValueError):
    """An epoch checkpoint written by another run (configuration, seeds, arithmetic, limits)."""


def _run_identity(config: Config, data: Dataset, seeds, fixed, n_train, n_test, network_class):
    return {"config_hash": config.hash, "dataset": data.name, "seeds": list(seeds),
            "fixed": bool(fixed), "n_train": int(n_train), "n_test": int(n_test),
            "network_class": network_class.__qualname__}


def _save_epoch(path: Path, net: Network, identity: dict, history: list, total_time: float):
    """Everything the next epoch depends on: weights, feedback, both LFSRs of every replica,
    the sticky flags, the float model's Gaussian generator; the history so far. Sample orders
    are functions of (seed, epoch), and every other state is per sample (``Network.reset``)."""
    arrays = {f"w{k}": w for k, w in enumerate(net.weights())}
    arrays.update({f"b{k}": b for k, b in enumerate(net.feedback)})
    arrays.update({f"flag_{name}": v for name, v in net.flags.items()})
    meta = {**identity, "history": history, "total_time": total_time,
            "gauss": net._gauss.bit_generator.state}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as handle:
        np.savez(handle, lfsr_perturb=net.lfsr_perturb, lfsr_round=net.lfsr_round,
                 meta=np.array(json.dumps(meta)), **arrays)
    tmp.replace(path)                  # a run killed while writing keeps the last whole epoch


def _load_epoch(path: Path, net: Network, identity: dict) -> tuple[list, float]:
    with np.load(path, allow_pickle=False) as saved:
        meta = json.loads(str(saved["meta"]))
        differ = [f"{key} {meta.get(key)!r} (this run: {value!r})" for key, value in identity.items()
                  if meta.get(key) != value]
        if differ:
            raise CheckpointMismatch(f"checkpoint {path} was written by another run: "
                                     + "; ".join(differ))
        for k, layer in enumerate(net.layers):
            layer.w[...] = saved[f"w{k}"]
        for k, b in enumerate(net.feedback):
            b[...] = saved[f"b{k}"]
        for name in net.flags:
            net.flags[name][...] = saved[f"flag_{name}"]
        net.lfsr_perturb = saved["lfsr_perturb"].copy()
        net.lfsr_round = saved["lfsr_round"].copy()
    net._gauss.bit_generator.state = meta["gauss"]
    return meta["history"], meta["total_time"]


def train(config: Config, data: Dataset, *, epochs: int, seeds=(0,), fixed: bool = True,
          limit: int | None = None, test_limit: int | None = None, progress: bool = True,
          on_epoch=None, network_class: type[Network] = Network,
          checkpoint: str | Path | None = None) -> TrainResult:
    """Train one replica per seed for ``epochs`` passes over the (limited) training set.

    Every sample: run the window, learn from its label (end-of-sample sequence), next sample.
    ``train_accuracy`` of an epoch is the running accuracy of the predictions made while
    learning (before each sample's update); ``test_accuracy`` is measured after the epoch.
    Each epoch runs with the learning rates ``config.rates_at(epoch)`` (``config.lr_schedule``),
    recorded in its history entry. ``network_class`` lets an experiment train a subclass of the
    golden ``Network`` (``experiments/rate_control.py``); the chip's rule is ``Network`` itself.

    ``checkpoint``: a file written after every epoch (atomically); if it exists when the run
    starts, the run continues after its last epoch and ends as the uninterrupted run would, to
    the last bit (it must have been written by the same configuration, data, seeds, arithmetic
    and limits: :class:`CheckpointMismatch` otherwise). ``epochs`` counts from the start.
    """
    from tqdm import tqdm

    seeds = list(seeds)
    x_train, y_train = data.x_train[:limit], data.y_train[:limit]
    x_test, y_test = data.x_test[:test_limit], data.y_test[:test_limit]
    if config.n_inputs != x_train.shape[1] or config.n_outputs < data.n_classes:
        raise ValueError(f"config layers {config.layers} do not fit dataset {data.name!r}: "
                         f"{x_train.shape[1]} inputs, {data.n_classes} classes")
    net = _replica_network(config, seeds, fixed, network_class)
    result = TrainResult(config, seeds, fixed, network=net)
    n = len(y_train)
    total_time = 0.0
    identity = _run_identity(config, data, seeds, fixed, n, len(y_test), network_class)
    checkpoint = Path(checkpoint) if checkpoint is not None else None
    if checkpoint is not None and checkpoint.exists():
        result.history, total_time = _load_epoch(checkpoint, net, identity)
        if progress and result.history:
            tqdm.write(f"resuming {checkpoint} after epoch {len(result.history)}")
    rows = np.arange(len(seeds))
    for epoch in range(len(result.history) + 1, epochs + 1):
        # sample orders: epoch 1 by (seed, 1), epoch e > 1 by (seed, 1, e - 1)
        orders = [np.random.default_rng([s, 1] if epoch == 1 else [s, 1, epoch - 1]).permutation(n)
                  for s in seeds]
        # the schedule's rates for this epoch; on a board the host writes them with RATES
        net.config = config.at_epoch(epoch)
        correct = np.zeros(len(seeds))
        started = time.perf_counter()
        bar = tqdm(range(n), desc=f"epoch {epoch}/{epochs}", unit="sample", disable=not progress,
                   dynamic_ncols=True, mininterval=0.5)
        for k in bar:
            idx = np.array([order[k] for order in orders])
            net.run(encode_images(config, x_train[idx]))
            correct += net.predict() == y_train[idx]
            net.learn(y_train[idx])
            if k % 50 == 49:
                bar.set_postfix(acc=f"{correct.mean() / (k + 1):.3f}")
        bar.close()
        total_time += time.perf_counter() - started
        test_acc, hidden_rate = evaluate(net, x_test, y_test)
        entry = {
            "epoch": epoch,
            "train_accuracy": (correct / n).tolist(),
            "test_accuracy": test_acc.tolist(),
            "hidden_spikes_per_neuron": hidden_rate.tolist(),
            "feedback_alignment": [alignment(net.feedback[-1][r], net.layers[-1].w[r])
                                   for r in rows] if net.feedback else [],
            "overflow": {k: v.tolist() for k, v in net.flags.items() if v.any()},
            "lr_hidden_shift": net.config.lr_hidden_shift,
            "lr_output_shift": net.config.lr_output_shift,
        }
        result.history.append(entry)
        if checkpoint is not None:
            _save_epoch(checkpoint, net, identity, result.history, total_time)
        if on_epoch:
            on_epoch(entry)
        if progress:
            tqdm.write(f"epoch {epoch}: train {np.round(entry['train_accuracy'], 3).tolist()} "
                       f"test {np.round(test_acc, 3).tolist()} "
                       f"hidden spikes/neuron {np.round(hidden_rate, 2).tolist()}")
    result.samples_per_second = n * len(result.history) * len(seeds) / total_time if total_time else 0.0
    return result
