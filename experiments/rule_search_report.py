"""Table and figure of the rule-search runs (experiments/rule_search.py JSONs), grouped by arm.

An arm is every option of a run but its seed; the table gives each arm's final and best test
accuracy (mean ± std over seeds, per seed in brackets), the probe, the hidden activity and the
feedback alignment; the figure draws test accuracy per epoch, one line per run.

    python experiments/rule_search_report.py docs/results/learning/search/full \
        --plot docs/results/learning/plots/rule_search.png
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

#: options that do not define an arm (the seed, where the output goes)
NOT_ARM = ("seed", "json", "probe")


def load(folder: Path) -> list[dict]:
    runs = []
    for path in sorted(folder.glob("*.json")):
        record = json.loads(path.read_text())
        if "history" not in record or "args" not in record:
            raise ValueError(f"{path} is not a rule_search result (no 'history' or 'args')")
        record["name"] = path.stem
        runs.append(record)
    if not runs:
        raise FileNotFoundError(f"no rule_search JSON files in {folder}")
    return runs


def arm_of(record: dict) -> str:
    a = record["args"]
    parts = [a["dataset"], f"{a['hidden']}h", a["feedback"]]
    if a["feedback"] != "none":
        parts.append(a["eligibility"])
        if a["eligibility"] == "surrogate" and (a["sg_shape"], a["sg_width"]) != ("box", 0.5):
            parts.append(f"{a['sg_shape']} {a['sg_width']}")
        parts.append(f"lr_h 2^{np.log2(a['lr_hidden']):.0f}")
    parts.append(a["loss"] if a["loss"] != "softmax" or a["temperature"] == 1.0
                 else f"softmax T {a['temperature']:.2f}")
    if a.get("bias"):
        parts.append("bias")
    parts.append(f"lr_o 2^{np.log2(a['lr_output']):.0f}")
    if a.get("limit"):
        parts.append(f"{a['limit']} samples")
    parts.append(f"{len(record['history'])} ep")
    return " ".join(parts)


def fmt(values) -> str:
    values = 100 * np.asarray(values, float)
    each = ", ".join(f"{v:.1f}" for v in values)
    if len(values) == 1:
        return f"{values[0]:.1f}"
    return f"{values.mean():.1f} ± {values.std():.1f} ({each})"


def table(runs: list[dict]) -> str:
    arms: dict[str, list[dict]] = {}
    for record in runs:
        arms.setdefault(arm_of(record), []).append(record)
    lines = ["| arm | seeds | final test % | best-epoch test % | probe % | spk/n | align |",
             "|---|---|---|---|---|---|---|"]
    for arm, records in arms.items():
        records.sort(key=lambda r: r["args"]["seed"])
        final = [r["history"][-1]["test_accuracy"] for r in records]
        best = [max(h["test_accuracy"] for h in r["history"]) for r in records]
        probes = [r["probe"] for r in records if "probe" in r]
        spk = np.mean([r["history"][-1]["spikes_per_neuron"] for r in records])
        align = np.mean([r["history"][-1]["alignment"] for r in records])
        seeds = ",".join(str(r["args"]["seed"]) for r in records)
        lines.append(f"| {arm} | {seeds} | {fmt(final)} | {fmt(best)} | "
                     f"{fmt(probes) if probes else '-'} | {spk:.2f} | {align:.2f} |")
    return "\n".join(lines)


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {}
    for record in runs:
        arm = arm_of(record)
        colour = colours.setdefault(arm, f"C{len(colours) % 10}")
        epochs = [h["epoch"] for h in record["history"]]
        acc = [100 * h["test_accuracy"] for h in record["history"]]
        ax.plot(epochs, acc, "o-", color=colour, alpha=0.8,
                label=arm if record["args"]["seed"] == min(
                    r["args"]["seed"] for r in runs if arm_of(r) == arm) else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel("MNIST test accuracy %")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("rule search (float prototype), one line per seed")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("folder", type=Path)
    p.add_argument("--plot", type=Path)
    args = p.parse_args(argv)
    runs = load(args.folder)
    print(table(runs))
    if args.plot:
        plot(runs, args.plot)
        print(f"figure: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
