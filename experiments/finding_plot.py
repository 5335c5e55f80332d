"""The figure of docs/finding.md: does SFDFA's hidden learning pay on MNIST? (issue 7)

Left: per seed, the chip's test accuracy after one MNIST epoch for each rule and setting, minus
the readout-only control of the same seed and network (the hidden layer frozen at its random
start). Right: what the trained hidden layer allows a linear probe, minus what the random layer
allows (``experiments/feature_probe.py``). Both read the stored results in
``docs/results/learning/``; nothing is trained here.

Usage (from the repository root)::

    .venv/bin/python experiments/finding_plot.py --out docs/results/learning/plots/finding.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "learning"

#: (label, result files of the rule, result files of its readout control); files of several
#: seeds are concatenated in order, so the two lists must name the same seeds
ROWS = (
    ("DFA, 128 hidden\n(output 2^-8, control 2^-8)", ["probe_mnist60k_dfa.json"], ["mnist60k_readout_o8.json"]),
    ("SFDFA, 128 hidden\n(output 2^-8, control 2^-8)",
     ["probe_mnist60k_sfdfa.json", "mnist60k_sfdfa_o8_h17_s34.json"],
     ["mnist60k_readout_o8.json", "mnist60k_readout_o8_s34.json"]),
    ("SFDFA, 128 hidden\n(output 2^-9, control 2^-9)", ["mnist60k_sfdfa_o9.json"], ["mnist60k_readout_o9.json"]),
    ("SFDFA, 128 hidden\n(output 2^-10, control 2^-10)", ["mnist60k_sfdfa_o10.json"], ["mnist60k_readout_o10.json"]),
    ("SFDFA, regulariser x2\n(2^-8, control 2^-8)", ["probe_mnist60k_sfdfa_reg0.json"], ["mnist60k_readout_o8.json"]),
    ("SFDFA, running-mean reg. x2\n(2^-8, control 2^-8)", ["rc_mnist60k_sfdfa_rr6_reg0.json",
                                                          "rc_mnist60k_sfdfa_rr6_reg0_s34.json"],
     ["mnist60k_readout_o8.json", "mnist60k_readout_o8_s34.json"]),
    ("SFDFA, silent lift 2^-17\n(2^-8, control 2^-8)", ["rc_mnist60k_sfdfa_lift17.json"], ["mnist60k_readout_o8.json"]),
    ("SFDFA, silent lift 2^-17\n(2^-9, control 2^-9)", ["rc_mnist60k_sfdfa_lift17_o9.json"], ["mnist60k_readout_o9.json"]),
    ("SFDFA, 256 hidden\n(2^-9, control 2^-10)", ["probe_mnist60k_sfdfa_h256_o9.json"], ["mnist60k_readout_h256_o10.json"]),
    ("SFDFA, 256 hidden, running mean\n(2^-9, control 2^-10)", ["rc_mnist60k_sfdfa_h256_o9_rr6_reg0.json"],
     ["mnist60k_readout_h256_o10.json"]),
)


def chip_accuracy(record: dict) -> list[float]:
    """Final test accuracy per seed, in %, of a ``plasticore train`` or probe results file."""
    if isinstance(record.get("per_seed"), list):
        return [100 * row["chip_test_accuracy"] for row in record["per_seed"]]
    return [100 * a for a in record["history"][-1]["test_accuracy"]]


def probe_gain(record: dict) -> list[float] | None:
    if isinstance(record.get("per_seed"), list):
        return [100 * row["probe_gain"] for row in record["per_seed"]]
    return None


def gather(rows=ROWS, results: Path = RESULTS) -> list[dict]:
    """Per row: label, seeds, chip − control per seed, and the probe gain of the seeds whose
    file holds a probe (None when none does)."""
    out = []
    for label, files, controls in rows:
        missing = [f for f in (*files, *controls) if not (results / f).exists()]
        if missing:
            raise FileNotFoundError(f"{label!r}: no results file {', '.join(missing)} in {results}")
        records = [json.loads((results / f).read_text()) for f in files]
        control = [json.loads((results / f).read_text()) for f in controls]
        seeds = [s for r in records for s in r["seeds"]]
        control_seeds = [s for r in control for s in r["seeds"]]
        if seeds != control_seeds:
            raise ValueError(f"{label!r}: seeds {seeds} against the control's {control_seeds}")
        chip = np.concatenate([chip_accuracy(r) for r in records])
        base = np.concatenate([chip_accuracy(r) for r in control])
        gains = [probe_gain(r) for r in records]
        out.append({"label": label, "seeds": seeds, "margin": chip - base,
                    "probe_gain": np.concatenate([g for g in gains if g is not None])
                    if any(g is not None for g in gains) else None})
    return out


def plot(rows: list[dict], path) -> Path:
    from plasticore.host import plots   # sets the Agg backend before pyplot

    plt = plots.plt
    fig, axes = plt.subplots(1, 2, figsize=(12, 7), sharey=True, layout="constrained")
    y = np.arange(len(rows))[::-1]
    for ax, key, title in ((axes[0], "margin", "chip test accuracy − readout-only control (points)"),
                           (axes[1], "probe_gain", "linear probe: trained − random layer (points)")):
        for yi, row in zip(y, rows):
            values = row[key]
            if values is None:
                continue
            ax.scatter(values, np.full(len(values), yi), color="tab:blue", s=18, alpha=0.7)
            ax.errorbar(values.mean(), yi, xerr=values.std(), color="black", capsize=3, marker="|",
                        markersize=14)
        ax.axvline(0, color="gray", linewidth=1)
        if key == "margin":
            ax.axvline(1, color="tab:red", linestyle="--", linewidth=1, label="issue 7's 1-point line")
            ax.legend(loc="lower left", fontsize="small")
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("points")
        ax.grid(True, alpha=0.3)
    axes[0].set_yticks(y, [row["label"] for row in rows])
    fig.suptitle("MNIST, one epoch, fixed point, per-sample (dots: seeds; bar: mean ± std)",
                 fontsize="medium")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=plots.DPI)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "plots" / "finding.png")
    args = parser.parse_args(argv)
    rows = gather()
    for row in rows:
        gain = row["probe_gain"]
        print(f"{row['label']!r:45} seeds {row['seeds']}: margin {row['margin'].mean():+.2f} ± "
              f"{row['margin'].std():.2f}" + (f", probe gain {gain.mean():+.2f} ± {gain.std():.2f}"
                                              if gain is not None else ""))
    print(f"wrote {plot(rows, args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
