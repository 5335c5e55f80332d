"""Figures of a training run, written as PNG files with matplotlib's Agg backend (no display).

:func:`write_all` writes the four figures of ``plasticore train --plots DIR``:

``accuracy.png``
    train (running) and test accuracy per epoch, one thin line per seed, the mean in bold;
``raster.png``
    the spikes of one test sample through the trained network of the first seed: input, hidden
    and output rasters stacked, with the label and the predicted class in the title;
``alignment.png``
    cosine between the (last) feedback matrix and the output weights per epoch;
``hidden_rate.png``
    mean hidden spikes per neuron and test sample, per epoch.

Each figure also has its own function taking plain data (history lists, spike rasters), so it can
be drawn from a results JSON without rerunning anything.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: never open a window, never need a display

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

__all__ = ["write_all", "accuracy_plot", "alignment_plot", "hidden_rate_plot", "raster_plot",
           "sample_raster"]

DPI = 120
SEED_STYLE = {"linewidth": 0.9, "alpha": 0.45, "marker": "o", "markersize": 3}
MEAN_STYLE = {"linewidth": 2.6, "marker": "o", "markersize": 6}


def _per_seed(history: list[dict], key: str) -> np.ndarray:
    """(epochs, seeds) array of a per-seed history entry; (epochs, 0) when absent or empty."""
    rows = [list(h.get(key) or []) for h in history]
    width = min((len(r) for r in rows), default=0)
    return np.array([r[:width] for r in rows], dtype=float).reshape(len(rows), width)


def _epochs(history: list[dict]) -> np.ndarray:
    return np.array([h.get("epoch", k + 1) for k, h in enumerate(history)])


def _seed_lines(ax, epochs, values, color, name, seeds=None):
    """Thin per-seed lines (only when there are several seeds) and the bold mean."""
    n_seeds = values.shape[1]
    if n_seeds > 1:
        for s in range(n_seeds):
            ax.plot(epochs, values[:, s], color=color, **SEED_STYLE,
                    label=f"{name}, per seed" if s == 0 else None)
    label = f"{name}, mean of {n_seeds} seeds" if n_seeds > 1 else (
        f"{name} (seed {seeds[0]})" if seeds else name)
    ax.plot(epochs, values.mean(axis=1), color=color, **MEAN_STYLE, label=label)


def _legend(ax):
    """Legend outside the axes, on the right, so it never hides a curve."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", borderaxespad=0)


def _finish(fig, ax, path: Path, *, xlabel="epoch", integer_x=True):
    ax.set_xlabel(xlabel)
    if integer_x:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def accuracy_plot(history: list[dict], path, *, title: str = "", seeds=None,
                  n_classes: int | None = None) -> Path:
    """Train and test accuracy per epoch (one line per seed, mean bold)."""
    epochs = _epochs(history)
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    _seed_lines(ax, epochs, _per_seed(history, "train_accuracy"), "tab:blue", "train (running)", seeds)
    _seed_lines(ax, epochs, _per_seed(history, "test_accuracy"), "tab:orange", "test", seeds)
    if n_classes:
        ax.axhline(1 / n_classes, color="gray", linestyle=":", linewidth=1, label="chance")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"Accuracy per epoch\n{title}" if title else "Accuracy per epoch")
    _legend(ax)
    return _finish(fig, ax, path)


def _nothing_to_plot(fig, ax, path, why: str) -> Path:
    """A panel that says why it is empty, instead of an empty axis."""
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center", fontsize=12,
            color="dimgray")
    ax.set_xticks([])
    ax.set_yticks([])
    return _finish(fig, ax, path, integer_x=False)


def _history_panel(history: list[dict], key: str, head: str, title: str, ylabel: str):
    """(epochs, per-seed values of ``key``, figure, axis) of a per-epoch panel, titled."""
    epochs = _epochs(history)
    values = _per_seed(history, key)
    fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
    ax.set_title(f"{head}\n{title}" if title else head)
    ax.set_ylabel(ylabel)
    return epochs, values, fig, ax


def alignment_plot(history: list[dict], path, *, title: str = "", rule: str = "sfdfa",
                   seeds=None) -> Path:
    """Cosine between the feedback matrix B and the output weights W per epoch."""
    epochs, values, fig, ax = _history_panel(history, "feedback_alignment",
                                             "Feedback alignment: cos(B, W_out)", title,
                                             "cosine between feedback and output weights")
    if rule == "readout" or values.shape[1] == 0:
        why = ("no feedback: the readout rule trains only the output layer" if rule == "readout"
               else "no feedback: the network has no hidden layer")
        return _nothing_to_plot(fig, ax, path, why)
    _seed_lines(ax, epochs, values, "tab:green", f"cos(B, W) [{rule}]", seeds)
    ax.axhline(0, color="gray", linestyle=":", linewidth=1, label="orthogonal (0)")
    low, high = min(values.min(), 0.0), max(values.max(), 0.0)
    margin = max(0.05, 0.1 * (high - low))
    ax.set_ylim(max(-1.0, low - margin), min(1.0, high + margin))
    _legend(ax)
    return _finish(fig, ax, path)


def hidden_rate_plot(history: list[dict], path, *, title: str = "", rate_target=None,
                     seeds=None) -> Path:
    """Mean hidden spikes per neuron and test sample, per epoch."""
    epochs, values, fig, ax = _history_panel(history, "hidden_spikes_per_neuron",
                                             "Hidden activity on the test set", title,
                                             "spikes per hidden neuron per sample")
    if values.shape[1] == 0:
        return _nothing_to_plot(fig, ax, path, "no hidden layer")
    _seed_lines(ax, epochs, values, "tab:purple", "hidden rate", seeds)
    if rate_target is not None:
        ax.axhline(rate_target, color="gray", linestyle="--", linewidth=1,
                   label=f"rate target ({rate_target})")
    ax.set_ylim(bottom=0)
    _legend(ax)
    return _finish(fig, ax, path)


def sample_raster(network, config, pixels: np.ndarray, *, replica: int = 0):
    """Run one sample (uint8 pixel row) through replica ``replica`` of ``network`` without
    learning; returns the rasters [input, hidden..., output], each (n_steps, N) bool."""
    from plasticore.golden.network import Network
    from plasticore.golden import train

    probe = Network(config, train.replica(network.weights(), replica),
                    train.replica(network.feedback, replica), fixed=network.fixed, batch=1, seed=None)
    encoded = train.encode_images(config, np.asarray(pixels, dtype=np.uint8).reshape(1, -1))
    record = probe.run(encoded)
    return [encoded[0]] + [s[0] for s in record.spikes]


def raster_plot(rasters: list[np.ndarray], path, *, label: int | None = None, title: str = "",
                input_window: int | None = None) -> Path:
    """Stacked spike rasters (input, hidden..., output) of one sample; x = time step."""
    n_steps = rasters[0].shape[0]
    names = ["input"] + [f"hidden {k}" if len(rasters) > 3 else "hidden"
                         for k in range(1, len(rasters) - 1)] + ["output"]
    sizes = [r.shape[1] for r in rasters]
    ratios = [max(1.2, min(4.0, n / 16)) for n in sizes]
    fig, axes = plt.subplots(len(rasters), 1, sharex=True, figsize=(8, 1.6 + 1.3 * sum(ratios)),
                             height_ratios=ratios, layout="constrained")
    counts = rasters[-1].sum(axis=0)
    predicted = int(np.argmax(counts))
    for ax, raster, name, size in zip(axes, rasters, names, sizes):
        steps, neurons = np.nonzero(raster)
        marker = max(3.0, min(8.0, 200 / max(size, 1)))
        ax.plot(steps, neurons, "|", color="black", markersize=marker, markeredgewidth=1.0)
        ax.set_ylim(-0.5, size - 0.5)
        ax.set_ylabel(f"{name}\n({size} neurons)" if name != "input" else f"input\n({size} pixels)")
        ax.text(1.0, 1.0, f"{len(steps)} spike{'' if len(steps) == 1 else 's'}", transform=ax.transAxes, ha="right", va="bottom",
                fontsize="small", color="dimgray")
        if input_window is not None and input_window < n_steps:
            ax.axvline(input_window - 0.5, color="tab:blue", linestyle=":", linewidth=1)
        ax.grid(True, axis="x", alpha=0.3)
    out = axes[-1]
    out.set_yticks(range(sizes[-1]))
    out.tick_params(axis="y", labelsize="small")
    if label is not None and 0 <= label < sizes[-1]:
        out.axhspan(label - 0.5, label + 0.5, color="tab:green", alpha=0.2, label=f"label {label}")
    if predicted != label:
        out.axhspan(predicted - 0.5, predicted + 0.5, color="tab:red", alpha=0.15,
                    label=f"predicted {predicted}")
    if input_window is not None and input_window < n_steps:
        axes[0].axvline(input_window - 0.5, color="tab:blue", linestyle=":", linewidth=1,
                        label=f"end of input window ({input_window})")
        axes[0].legend(loc="upper right", fontsize="x-small")
    out.legend(loc="upper right", fontsize="x-small")
    out.set_xlim(-0.5, n_steps - 0.5)
    out.set_xlabel("time step")
    verdict = "correct" if predicted == label else "wrong"
    if not counts.any():
        verdict += ", no output spike: ties go to class 0"
    head = (f"label {label}, predicted {predicted} ({verdict}); "
            f"output spike counts {counts.astype(int).tolist()}")
    fig.suptitle(f"{title}\n{head}" if title else head, fontsize="medium")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def write_all(result, data, outdir, *, title: str = "", test_index: int = 0) -> list[Path]:
    """Write accuracy.png, raster.png, alignment.png and hidden_rate.png into ``outdir``.

    ``result`` is a :class:`~plasticore.golden.train.TrainResult` (with its network), ``data`` the
    dataset it was trained on; the raster shows test sample ``test_index`` through seed 0's net.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    config, history, seeds = result.config, result.history, list(result.seeds)
    rate_target = config.rate_target if config.rate_reg_shift is not None else None
    written = [
        accuracy_plot(history, outdir / "accuracy.png", title=title, seeds=seeds,
                      n_classes=data.n_classes),
    ]
    rasters = sample_raster(result.network, config, data.x_test[test_index])
    label = int(data.y_test[test_index])
    raster_title = f"{title}: test sample {test_index}, seed {seeds[0]}" if title else \
        f"test sample {test_index}, seed {seeds[0]}"
    written.append(raster_plot(rasters, outdir / "raster.png", label=label, title=raster_title,
                               input_window=config.input_window))
    written.append(alignment_plot(history, outdir / "alignment.png", title=title, rule=config.rule,
                                  seeds=seeds))
    written.append(hidden_rate_plot(history, outdir / "hidden_rate.png", title=title,
                                    rate_target=rate_target, seeds=seeds))
    return written
