"""The Python API: a small surface over the golden model, the host and the boards.

Everything here is also reachable as ``plasticore.<name>`` (imported on first use, so ``import
plasticore`` stays light). A session::

    import plasticore as pc

    config = pc.configure("digits", rule="sfdfa")           # the dataset's preset, then fields
    result = pc.train(config, "digits", epochs=2, limit=500) # the golden model, in process
    print(result.summary()["test_accuracy"])
    words = pc.weights(result)                               # int64 words, one array per layer
    floats = pc.weights(result, as_floats=True)              # the reals they stand for
    print(pc.evaluate(config, words, "digits"))              # (accuracy, hidden spikes/neuron)

    with pc.open_board("emulator", config) as board:         # or "sim", "serial:/dev/ttyUSB1"
        result = pc.train_on_board(board, config, "digits", epochs=1, limit=100)

    graph = pc.to_nir(config, words)                         # needs the [nir] extra

Configuration: :func:`configure` resolves exactly as ``plasticore train`` does (defaults, the
dataset's preset, a JSON file, field overrides, the rule). Weights: the chip and the
fixed-point model hold integer words ``w_q``, standing for ``w_q / 2**config.weight.frac``;
:func:`weights_as_floats` and :func:`weights_as_words` convert. Boards: :func:`open_board` gives
a :class:`~plasticore.host.board.Board` (``read_params``/``write_params``, ``run_sample``, ...)
for ``golden`` (in process), ``emulator`` (the protocol's Python reference on a pseudo-terminal),
``sim`` (the Verilated RTL; the [sim] extra) or ``serial:PORT[@BAUD]`` (a real board);
:func:`board_config` is the configuration a board's default bitstream carries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from plasticore.golden.config import Config, ConfigError
from plasticore.golden.datasets import Dataset
from plasticore.golden.network import Network, weights_as_floats, weights_as_words
from plasticore.golden.train import TrainResult

__all__ = ["Config", "ConfigError", "Dataset", "Network", "TrainResult", "configure",
           "load_dataset", "train", "evaluate", "weights", "weights_as_floats", "weights_as_words",
           "open_board", "train_on_board", "board_config", "to_nir", "from_nir", "read_events"]


def configure(dataset: str | None = None, *, hidden: int | None = None, rule: str | None = None,
              config_file=None, shape: tuple[int, int] | None = None, **fields) -> Config:
    """The configuration of a run, resolved as ``plasticore train`` resolves it: Config defaults,
    ``dataset``'s preset (layers and rates; ``hidden`` neurons), ``config_file`` (JSON, possibly
    partial, or a results file), ``fields`` (``tau=20.0``, ``weight={"bits": 18}``), ``rule``.
    ``shape`` = (inputs, classes) sets the layers for data that is not a named dataset."""
    from plasticore.host.cli import resolve_config

    settings = list(fields.items())
    return resolve_config(dataset, hidden=hidden, config_file=config_file, settings=settings,
                          rule=rule, shape=shape)


def load_dataset(name: str, *, seed: int = 0) -> Dataset:
    """A verified dataset by name: ``digits``, ``mnist``, ``mnist14``, ``fashion-mnist``
    (``golden/datasets.py``; cached in ``$PLASTICORE_DATA``)."""
    from plasticore.golden import datasets

    return datasets.load(name, seed=seed)


def _dataset(data) -> Dataset:
    return load_dataset(data) if isinstance(data, str) else data


def train(config: Config, data, *, epochs: int = 1, seeds=(0,), fixed: bool = True,
          limit: int | None = None, test_limit: int | None = None,
          progress: bool = False) -> TrainResult:
    """Train on the golden model in process (one replica per seed, sample by sample as the chip
    learns; ``fixed=False`` runs the float64 twin). ``data`` is a :class:`Dataset` or its name.
    The result has ``history`` (per epoch), ``summary()`` and ``network``."""
    from plasticore.golden.train import train as golden_train

    return golden_train(config, _dataset(data), epochs=epochs, seeds=list(seeds), fixed=fixed,
                        limit=limit, test_limit=test_limit, progress=progress)


def weights(result_or_network, *, replica: int = 0, as_floats: bool = False) -> list[np.ndarray]:
    """The weights of a trained network (a :class:`TrainResult`, a :class:`Network` or a
    :class:`~plasticore.host.board.Board`), one ``(N, J)`` array per layer: words (int64) of
    replica ``replica``, or the reals they stand for with ``as_floats``."""
    target = getattr(result_or_network, "network", None) or result_or_network
    if hasattr(target, "read_params"):              # a Board
        words, config = target.read_params()[0], target.config
    else:
        config = target.config
        words = [w[replica] if w.shape[0] > 1 else w[0] for w in target.weights()]
        if not target.fixed:
            return [np.array(w) for w in words] if as_floats else weights_as_words(config, words)
    return weights_as_floats(config, words) if as_floats else [np.array(w) for w in words]


def evaluate(config: Config, weights, data, *, fixed: bool = True,
             test_limit: int | None = None) -> tuple[float, float]:
    """Test accuracy and hidden spikes per neuron of ``weights`` (words when ``fixed``, else
    floats; floats are quantised for ``fixed``) on ``data``'s test set, without learning."""
    from plasticore.golden.train import layer_counts

    data = _dataset(data)
    arrays = [np.asarray(w) for w in weights]
    if fixed and not all(np.issubdtype(w.dtype, np.integer) for w in arrays):
        arrays = weights_as_words(config, arrays)
    elif not fixed and all(np.issubdtype(w.dtype, np.integer) for w in arrays):
        arrays = weights_as_floats(config, arrays)
    feedback = [np.zeros((config.n_outputs, n), dtype=np.int64 if fixed else np.float64)
                for n in config.hidden_sizes]
    x, y = data.x_test[:test_limit], data.y_test[:test_limit]
    counts = layer_counts(config, arrays, feedback, x, fixed=fixed)
    accuracy = float(np.mean(np.argmax(counts[-1], axis=1) == y))
    hidden = sum(float(c.sum()) for c in counts[:-1]) / (len(y) * max(sum(config.hidden_sizes), 1))
    return accuracy, hidden


def open_board(target: str, config: Config, *, timeout: float | None = 10.0, **options):
    """A :class:`~plasticore.host.board.Board` for ``target`` (``golden``, ``emulator``, ``sim``,
    ``serial:PORT[@BAUD]``) checked against ``config`` (a board built for another configuration
    raises ``BoardMismatch``). Use it as a context manager, or ``close()`` it."""
    from plasticore.host.board import open_board as host_open_board

    return host_open_board(target, config, timeout=timeout, **options)


def train_on_board(board, config: Config, data, *, epochs: int = 1, seed: int = 0,
                   limit: int | None = None, test_limit: int | None = None,
                   checkpoint=None, progress: bool = False) -> TrainResult:
    """Train on ``board`` sample by sample, learning on the chip, as ``plasticore train
    --target ...`` does (bit for bit the golden run of ``seed`` on a correct board). ``data``:
    a :class:`Dataset`, its name, or an events file from :func:`read_events`."""
    from plasticore.host.samples import PixelSamples
    from plasticore.host.training import train_on_board as host_train

    if hasattr(data, "samples"):                    # an events file
        train_set = data.samples(config, "train", limit)
        test_set = data.samples(config, "test", test_limit)
    else:
        data = _dataset(data)
        train_set = PixelSamples(config, data.x_train[:limit], data.y_train[:limit])
        test_set = PixelSamples(config, data.x_test[:test_limit], data.y_test[:test_limit])
    return host_train(board, config, train_set, test_set, epochs=epochs, seed=seed,
                      checkpoint_path=None if checkpoint is None else Path(checkpoint),
                      progress=progress)


def board_config(board: str, config_file=None) -> Config:
    """The configuration the default bitstream of ``board`` (``icebreaker``, ``ulx3s-85f``)
    carries, or the one ``plasticore build BOARD --config FILE`` builds."""
    from plasticore.boards.build import BOARDS
    from plasticore.boards.common import resolve

    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; known: {', '.join(sorted(BOARDS))}")
    return resolve(BOARDS[board], None if config_file is None else Path(config_file))


def to_nir(config: Config, weights, **options):
    """The network as a NIR graph (``plasticore.host.nir.to_nir``; the [nir] extra)."""
    from plasticore.host import nir

    return nir.to_nir(config, weights, **options)


def from_nir(graph, **options) -> tuple[Config, list[np.ndarray]]:
    """A configuration and float weights from a NIR graph the chip can run
    (``plasticore.host.nir.from_nir``)."""
    from plasticore.host import nir

    return nir.from_nir(graph, **options)


def read_events(path):
    """An events file, in the chip's layout or Tonic's (``host.events.read_events``)."""
    from plasticore.host.events import read_events as host_read_events

    return host_read_events(path)
