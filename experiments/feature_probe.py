"""Does a learning rule improve the hidden layer's features? A linear probe before and after (issue 7).

The chip's readout-only control answers "what does the output layer learn on a frozen random
layer, the chip's way". This script asks the cleaner question underneath: how good are the hidden
layer's features for *any* linear readout, before and after training? For each seed it

1. trains the network as ``plasticore train`` does (``golden.train.train``: same configuration,
   presets, sample order, per-sample learning);
2. runs the training and test images through the hidden layer twice, with the seed's initial
   (random) hidden weights and with the trained ones, no learning, and keeps each hidden
   neuron's spike count per image;
3. fits a multinomial logistic regression (scikit-learn, standardised counts) on the training
   images' counts and scores it on the test images' counts.

"random probe" is what the frozen random layer allows, "trained probe" what the learnt layer
allows, "chip" the accuracy of the network's own spiking output layer after training.
docs/learning.md section 0 used the same probe on the random layer only.

Usage (from the repository root)::

    .venv/bin/python experiments/feature_probe.py --dataset mnist --rule sfdfa --epochs 1 \
        --seeds 0,1,2 --json docs/results/learning/probe_mnist_sfdfa.json --plot probe.png
    .venv/bin/python experiments/feature_probe.py --from-json RESULTS.json --plot probe.png
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from plasticore.golden import datasets
from plasticore.golden import train as golden_train
from plasticore.golden.network import Network
from plasticore.golden.resolve import resolve_config
from plasticore.host import cli

from expkit import experiment_parser


hidden_counts = golden_train.hidden_counts
probe_accuracy = golden_train.linear_probe


def run(args, argv, network_class=Network) -> dict:
    config = resolve_config(args.dataset, hidden=args.hidden_size, settings=args.settings,
                                rule=args.rule)
    data = datasets.load(args.dataset)
    x_train, y_train = data.x_train[:args.limit], data.y_train[:args.limit]
    x_test, y_test = data.x_test[:args.test_limit], data.y_test[:args.test_limit]
    fixed = not args.float
    started = time.perf_counter()
    result = golden_train.train(config, data, epochs=args.epochs, seeds=args.seeds, fixed=fixed,
                                limit=args.limit, test_limit=args.test_limit,
                                progress=not args.quiet, network_class=network_class,
                                checkpoint=args.checkpoint)
    net = result.network
    trained_w, trained_b = net.weights(), net.feedback
    per_seed = []
    for r, seed in enumerate(args.seeds):
        initial_w, initial_b = Network.initial_weights(config, seed, fixed=fixed)
        row = {"seed": seed, "chip_test_accuracy": result.history[-1]["test_accuracy"][r]}
        trained = golden_train.replica(trained_w, r), golden_train.replica(trained_b, r)
        for name, (w, b) in (("random", (initial_w, initial_b)), ("trained", trained)):
            f_train = hidden_counts(config, w, b, x_train, fixed=fixed)
            f_test = hidden_counts(config, w, b, x_test, fixed=fixed)
            row[f"{name}_probe_accuracy"] = probe_accuracy(f_train, y_train, f_test, y_test)
            row[f"{name}_hidden_spikes_per_neuron"] = float(f_test.mean())
            row[f"{name}_silent_fraction"] = float((f_train.sum(axis=0) == 0).mean())
        row["probe_gain"] = row["trained_probe_accuracy"] - row["random_probe_accuracy"]
        per_seed.append(row)
        if not args.quiet:
            print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k != "seed"),
                  flush=True)
    elapsed = time.perf_counter() - started

    def stats(key):
        values = np.array([row[key] for row in per_seed])
        return {"mean": float(values.mean()), "std": float(values.std()), "per_seed": values.tolist()}

    keys = ("chip_test_accuracy", "random_probe_accuracy", "trained_probe_accuracy", "probe_gain",
            "random_hidden_spikes_per_neuron", "trained_hidden_spikes_per_neuron",
            "random_silent_fraction", "trained_silent_fraction")
    return {
        "dataset": args.dataset, "rule": config.rule, "fixed_point": fixed, "epochs": args.epochs,
        "seeds": args.seeds, "n_train": len(y_train), "n_test": len(y_test),
        "summary": {k: stats(k) for k in keys}, "per_seed": per_seed,
        "history": result.history, "config": config.to_dict(),
        "elapsed_seconds": elapsed,
        "command": ["python", "experiments/feature_probe.py", *argv],
    }


def probe_plot(record: dict, path) -> Path:
    """Per seed: the chip's test accuracy and the two probes' (a results record of :func:`run`)."""
    from plasticore.host import plots   # sets the Agg backend before pyplot

    plt = plots.plt
    rows = record["per_seed"]
    bars = (("chip_test_accuracy", "chip (spiking output layer)", "tab:gray"),
            ("random_probe_accuracy", "probe, random layer", "tab:blue"),
            ("trained_probe_accuracy", f"probe, {record['rule']}-trained layer", "tab:orange"))
    x = np.arange(len(rows))
    width = 0.8 / len(bars)
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    for k, (key, label, color) in enumerate(bars):
        values = [100 * row[key] for row in rows]
        ax.bar(x + (k - 1) * width, values, width, label=label, color=color)
    every = [100 * row[key] for row in rows for key, _, _ in bars]
    ax.set_ylim(max(0.0, min(every) - 5), min(100.0, max(every) + 2))
    ax.set_xticks(x, [f"seed {row['seed']}" for row in rows])
    ax.set_ylabel("test accuracy %")
    layers = "-".join(str(n) for n in record["config"]["layers"])
    ax.set_title(f"{record['dataset']} {layers}, {record['epochs']} epoch(s): linear probe of the "
                 "hidden spike counts", fontsize="medium")
    plots._legend(ax)
    fig.tight_layout()
    return plots._finish(fig, ax, path, xlabel="", integer_x=False)


def report(record: dict, args) -> None:
    """Write the results file and plot the options ask for, and print the summary."""
    if args.json:
        cli._write_json(args.json, record)
    if args.plot:
        print(f"wrote {probe_plot(record, args.plot)}")
    for key, value in record["summary"].items():
        print(f"{key:34s} {value['mean']:.4f} +- {value['std']:.4f}  {np.round(value['per_seed'], 4).tolist()}")


def build_parser():
    p = experiment_parser(__doc__.split("\n\n")[0], epochs=1)
    p.add_argument("--plot", type=Path, metavar="PNG", help="write the per-seed bar chart here")
    p.add_argument("--checkpoint", type=Path, metavar="NPZ",
                   help="written after every epoch; an existing one is continued (same run)")
    p.add_argument("--from-json", type=Path, metavar="FILE",
                   help="redraw --plot from a results file of this script instead of training")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.from_json:
        if not args.plot:
            raise SystemExit("--from-json needs --plot PNG")
        print(f"wrote {probe_plot(json.loads(args.from_json.read_text()), args.plot)}")
        return 0
    report(run(args, argv), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
