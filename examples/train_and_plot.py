#!/usr/bin/env python
"""Train SFDFA on digits in the golden model from Python, then plot test accuracy per epoch.

    python examples/train_and_plot.py                       # 5 epochs on all 1,437 digits
    python examples/train_and_plot.py --epochs 2 --limit 200 --out /tmp/acc.png

The golden model is the chip's arithmetic, bit for bit; it runs in this process.
"""

import argparse

import matplotlib

matplotlib.use("Agg")  # files only, no window
import matplotlib.pyplot as plt

import plasticore as pc


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="training samples (default all)")
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--seeds", default="0,1", help="seeds trained side by side")
    parser.add_argument("--out", default="accuracy.png")
    args = parser.parse_args(argv)

    config = pc.configure("digits", rule="sfdfa")        # the digits preset: 64-128-10
    seeds = [int(s) for s in args.seeds.split(",")]
    result = pc.train(config, "digits", epochs=args.epochs, seeds=seeds, limit=args.limit,
                      test_limit=args.test_limit)
    summary = result.summary()
    print(f"layers {list(config.layers)}, rule {config.rule}: test accuracy "
          f"{summary['test_accuracy']:.3f} +- {summary['test_accuracy_std']:.3f} over seeds {seeds}")

    # the final weights of seed 0, as words (what the chip holds) and as reals
    words = pc.weights(result, replica=0)
    floats = pc.weights(result, replica=0, as_floats=True)
    print(f"output weights: words {words[-1].dtype} in {words[-1].min()}..{words[-1].max()}, "
          f"reals {floats[-1].min():.3f}..{floats[-1].max():.3f}")
    accuracy, rate = pc.evaluate(config, words, "digits", test_limit=args.test_limit)
    print(f"re-evaluated seed 0: {accuracy:.3f}, {rate:.2f} hidden spikes per neuron")

    epochs = range(1, len(result.history) + 1)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for k, seed in enumerate(seeds):
        ax.plot(epochs, [h["test_accuracy"][k] for h in result.history], marker="o",
                label=f"seed {seed}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy")
    ax.set_title("digits, SFDFA, golden model")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"plot: {args.out}")
    return summary


if __name__ == "__main__":
    main()
