#!/usr/bin/env python
"""Our ``bptt`` rule next to snnTorch's BPTT on the same network (issue 6: "checked against an
established library ... accuracy within noise; relative speed reported").

    nice -n 19 python bench/snntorch_ref.py                        # digits, seeds 0-4, 6 epochs
    nice -n 19 python bench/snntorch_ref.py --seeds 0 --epochs 1 --limit 200 --out /tmp/x   # smoke

Per seed, in one process and in turn: ``baselines.train.train_rule("bptt", ..., align=False)`` and
``baselines.snntorch_ref.train_snntorch(variant, ...)`` for each of ``--variants`` with the same
settings (digits 64-64-10, all 1,437 training / 360 test samples, Adam batch 16, output lr and lr
decay from bench/baselines.py's defaults, hidden lr ``LR_HIDDEN["bptt"]``). The variants
(docs/baselines.md, "snnTorch BPTT reference"): ``snntorch-golden-reset`` is our network op for op
(variant b), ``snntorch-native-reset`` uses snnTorch's own subtractive, detached reset (variant a).

Writes ``--out`` (default docs/results/snntorch/): snntorch_ref.json (every run with per-epoch
history and timings, the command, the machine), snntorch_ref.md (the table) and accuracy.png
(test accuracy per epoch, mean ± std over seeds). Results are saved after every run; ``--resume``
skips runs already in the JSON with the same settings.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import datetime
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from plasticore.baselines.snntorch_ref import VARIANTS, train_snntorch
from plasticore.baselines.train import train_rule
from plasticore.golden import datasets

# bench/baselines.py, beside this script (the first entry of sys.path), as a module: its
# defaults, LR_HIDDEN and config_for are the protocol
import baselines as BB

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = BB.parse_args([])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--limit", type=int, default=None, help="training samples (default all)")
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--variants", default="snntorch-golden-reset,snntorch-native-reset")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--report-only", action="store_true", help="rewrite the table and plot from the JSON")
    ap.add_argument("--lockstep-steps", type=int, default=90,
                    help="minibatches of the lockstep comparison of our bptt and the golden-reset variant (0: skip)")
    ap.add_argument("--speed-reps", type=int, default=7,
                    help="repetitions of the interleaved speed probe (0: skip it)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "snntorch"))
    return ap.parse_args(argv)


def speed_probe(cfg, data, variants, reps, batches=10, batch=16):
    """Forward + backward time per sample of each implementation on the same ``batches``
    minibatches (no optimiser step), the implementations interleaved within every repetition so
    that a shared machine's load hits them alike; min and median over ``reps``."""
    from plasticore.baselines.rules import count_loss, gradients
    from plasticore.baselines.snntorch_ref import SnnTorchNet
    from plasticore.baselines.train import initial_weights, make_state, raster_of

    weights, feedback = initial_weights(cfg, 0)
    state = make_state("bptt", cfg, 0, feedback)
    work = [(raster_of(cfg, data.x_train[i * batch:(i + 1) * batch]),
             torch.tensor(np.array(data.y_train[i * batch:(i + 1) * batch], dtype=np.int64)))
            for i in range(batches)]
    nets = {v: SnnTorchNet(cfg, weights, reset=VARIANTS[v][0], units=VARIANTS[v][1]) for v in variants}

    def ours():
        for raster, labels in work:
            gradients("bptt", weights, raster, labels, state)

    def theirs(net):
        def run():
            for raster, labels in work:
                params = list(net.weights)
                torch.autograd.grad(count_loss(cfg, net(raster)[-1].sum(1), labels), params)
        return run

    impls = {"bptt": ours, **{v: theirs(n) for v, n in nets.items()}}
    times = {k: [] for k in impls}
    for f in impls.values():  # warm-up
        f()
    for _ in range(reps):
        for k, f in impls.items():
            t0 = time.perf_counter()
            f()
            times[k].append((time.perf_counter() - t0) / (batches * batch))
    return {"reps": reps, "samples": batches * batch, "seconds_per_sample": times}


def lockstep(cfg, data, variant="snntorch-golden-reset", seed=0, steps=90, batch=16):
    """Our bptt and the snnTorch variant updated side by side on the same minibatches (epoch 1's
    order, Adam as train_rule): per step, the largest weight difference and whether the two
    forward passes gave the same output counts. Where float32 rounding first flips a spike."""
    from plasticore.baselines.rules import count_loss, gradients
    from plasticore.baselines.snntorch_ref import SnnTorchNet
    from plasticore.baselines.train import initial_weights, make_state, minibatches

    weights, feedback = initial_weights(cfg, seed)
    state = make_state("bptt", cfg, seed, feedback)
    ours = [torch.nn.Parameter(w.clone()) for w in weights]
    net = SnnTorchNet(cfg, weights, reset=VARIANTS[variant][0], units=VARIANTS[variant][1])
    lr, lr_h = DEFAULTS.lr, BB.LR_HIDDEN["bptt"]
    opts = [torch.optim.Adam([{"params": ps[:-1], "lr": lr_h}, {"params": ps[-1:], "lr": lr}])
            for ps in (ours, list(net.weights))]
    rows = []
    batches = minibatches(cfg, data.x_train, data.y_train, seed=seed, epoch=1, batch=batch)
    for i, (raster, labels) in zip(range(steps), batches):
        g, c_ours = gradients("bptt", [p.detach() for p in ours], raster, labels, state)
        for p, gg in zip(ours, g):
            p.grad = gg
        c_snn = net(raster)[-1].sum(1)
        opts[1].zero_grad(set_to_none=True)
        count_loss(cfg, c_snn, labels).backward()
        gdiff = max(float((p.grad - gg).abs().max() / gg.abs().max()) for p, gg in zip(net.weights, g))
        for o in opts:
            o.step()
        wdiff = max(float((a - b).detach().abs().max()) for a, b in zip(ours, net.weights))
        rows.append({"step": i + 1, "same_counts": bool(torch.equal(c_ours, c_snn.detach())),
                     "grad_rel_diff": gdiff, "weight_max_diff": wdiff})
    return {"variant": variant, "seed": seed, "steps": rows}


def report(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    names = ["bptt"] + [v for v in VARIANTS if any(r["rule"] == v for r in runs)]
    ours = {r["seed"]: r for r in runs if r["rule"] == "bptt"}
    s = results["settings"]
    lines = ["# snnTorch BPTT vs our `bptt` on the same network", "",
             "Commands (in this order): "
             + "; ".join(f"`{c}`" for c in results.get("commands", [results.get("command")])) + ". "
             + results["machine"], "",
             f"{s['dataset']}, layers {tuple(s['layers'])}, {s['n_train']} train / {s['n_test']} test, "
             f"{s['epochs']} epochs, Adam batch {s['batch']}, output lr {s['lr']}, hidden lr {s['lr_hidden']}, "
             f"lr x{s['lr_decay']} per epoch, surrogate slope {s['slope']} (ours). Same initial weights, "
             "sample order, TTFS raster, Huber count loss and evaluation for every row. Test % after the "
             "last epoch, mean ± std over seeds (ddof 0); paired: per-seed difference to our bptt; "
             "identical: epochs whose train %, test % and hidden spikes/neuron equal ours exactly; "
             "µs/sample: training wall time per sample; ratio: snnTorch / ours, same seeds, same process "
             "(runs interleaved per seed). Machine shared with other jobs (nice 19, one torch thread). "
             "See docs/baselines.md, \"snnTorch BPTT reference\".", "",
             "| implementation | seeds | test % | best-epoch % | train % | hidden spk/n | paired Δ test (points) | epochs identical to ours | µs/sample | time ratio vs ours |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for name in names:
        rr = sorted([r for r in runs if r["rule"] == name], key=lambda r: r["seed"])
        if not rr:
            continue
        tests = [r["test_accuracy"] for r in rr]
        us = np.mean([r["seconds_per_sample"] for r in rr]) * 1e6
        train = np.mean([r["history"][-1]["train_accuracy"] for r in rr]) * 100
        spk = np.mean([r["history"][-1]["hidden_spikes_per_neuron"] for r in rr])
        if name == "bptt":
            paired = same = ratio = "-"
            entry = {}
        else:
            pr = [(r, ours[r["seed"]]) for r in rr if r["seed"] in ours]
            d = [(a["test_accuracy"] - b["test_accuracy"]) * 100 for a, b in pr]
            paired = f"{np.mean(d):+.1f} ± {np.std(d):.1f}"
            keys = ("train_accuracy", "test_accuracy", "hidden_spikes_per_neuron")
            eq = sum(all(ha[k] == hb[k] for k in keys) for a, b in pr
                     for ha, hb in zip(a["history"], b["history"]))
            same = f"{eq} / {sum(len(a['history']) for a, _ in pr)}"
            rat = [a["seconds_per_sample"] / b["seconds_per_sample"] for a, b in pr]
            ratio = f"{np.mean(rat):.2f} ± {np.std(rat):.2f}"
            entry = {"paired_diff_points": d, "time_ratio": rat, "epochs_identical": eq}
        summary[name] = {"test_accuracy": tests, "us_per_sample": us, **entry}
        lines.append(f"| {name} | {len(rr)} | {BB._ms(tests)} | {BB._ms([r['best_test_accuracy'] for r in rr])} | "
                     f"{train:.1f} | {spk:.2f} | {paired} | {same} | {us:.0f} | {ratio} |")
    lines.append("")
    gold = [(r["rule"], r["seed"], h["epoch"], h["test_accuracy"], h.get("test_accuracy_golden_simulate"))
            for r in runs if r["rule"] != "bptt" for h in r["history"]]
    agree = [g for g in gold if g[4] is not None]
    for name in names[1:]:
        a = [g for g in agree if g[0] == name]
        if a:
            n_eq = sum(g[3] == g[4] for g in a)
            lines.append(f"- {name}: its trained weights evaluated by our `simulate` give the same test "
                         f"accuracy as its own snnTorch forward pass at {n_eq} / {len(a)} checkpoints "
                         f"(max difference {max(abs(g[3] - g[4]) for g in a) * 100:.1f} points).")
    lines.append("")
    sp = results.get("speed")
    if sp:
        t = {k: np.asarray(v) for k, v in sp["seconds_per_sample"].items()}
        lines += [f"Speed probe (forward + backward only, {sp['samples']} training samples in batches of "
                  f"16, the implementations interleaved, {sp['reps']} repetitions; µs/sample min / median; "
                  "ratio of the medians and of the minima to ours):", "",
                  "| implementation | µs/sample min | median | ratio (median) | ratio (min) |", "|---|---|---|---|---|"]
        for k, v in t.items():
            lines.append(f"| {k} | {v.min() * 1e6:.0f} | {np.median(v) * 1e6:.0f} | "
                         f"{np.median(v) / np.median(t['bptt']):.2f} | {v.min() / t['bptt'].min():.2f} |")
        lines.append("")
    ls = results.get("lockstep")
    if ls:
        rows = ls["steps"]
        bad = [r for r in rows if not r["same_counts"]]
        first = bad[0]["step"] if bad else None
        close = next((r["step"] - 1 for r in rows if r["weight_max_diff"] > 1e-5), len(rows))
        lines += [f"Lockstep ({ls['variant']}, seed {ls['seed']}, the first {len(rows)} minibatches of epoch 1, "
                  "both updated by Adam from the same weights on the same batches): gradients of step 1 "
                  f"equal to {rows[0]['grad_rel_diff']:.1e} of the largest entry (float32 rounding); "
                  f"weights within 1e-5 of each other for the first {close} steps; "
                  + (f"output counts identical for the first {first - 1} steps, first difference at step "
                     f"{first} ({len(bad)} of {len(rows)} steps differ); " if bad else
                     f"output counts identical at all {len(rows)} steps; ")
                  + f"largest weight difference after {len(rows)} steps {rows[-1]['weight_max_diff']:.1e} "
                  "(a likely amplifier, not isolated: Adam divides by the root of the second moment, so "
                  "entries whose gradient is ~0 turn rounding noise into steps of up to lr).", ""]
    results["summary"] = summary
    (out / "snntorch_ref.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, name in enumerate(names):
        rr = [r for r in runs if r["rule"] == name]
        if not rr:
            continue
        acc = np.array([[h["test_accuracy"] for h in r["history"]] for r in rr]) * 100
        ep = np.arange(1, acc.shape[1] + 1)
        ax.plot(ep, acc.mean(0), marker="os^"[i % 3], ms=4, ls=["-", "--", ":"][i % 3],
                label=f"{name} ({len(rr)} seeds)", color=f"C{i}")
        ax.fill_between(ep, acc.mean(0) - acc.std(0), acc.mean(0) + acc.std(0), alpha=0.12, color=f"C{i}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy %")
    ax.set_title(f"{s['dataset']}: BPTT, ours vs snnTorch (mean ± std over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "snntorch_ref.json"
    if args.report_only:
        results = json.loads(path.read_text())
        report(results, out)
        path.write_text(json.dumps(results, indent=1))
        return
    results = json.loads(path.read_text()) if (args.resume and path.exists()) else {"runs": []}
    cfg = BB.config_for(args.dataset)
    data = datasets.load(args.dataset)
    settings = {"dataset": args.dataset, "layers": list(cfg.layers), "epochs": args.epochs,
                "limit": args.limit, "test_limit": args.test_limit, "batch": DEFAULTS.batch,
                "lr": DEFAULTS.lr, "lr_hidden": BB.LR_HIDDEN["bptt"], "lr_decay": DEFAULTS.lr_decay,
                "slope": DEFAULTS.slope, "n_train": len(data.y_train[:args.limit]),
                "n_test": len(data.y_test[:args.test_limit])}
    if results.get("settings") not in (None, settings):
        sys.exit(f"{path} holds runs with other settings; use another --out or drop --resume")
    results["settings"] = settings
    cmd = "nice -n 19 python bench/snntorch_ref.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    results["commands"] = [c for c in results.get("commands", [results.get("command")]) if c] + [cmd]
    results["machine"] = (f"{os.cpu_count()} CPU(s), {platform.platform()}, torch {torch.__version__}, "
                          f"snntorch {__import__('snntorch').__version__}, "
                          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    common = dict(epochs=args.epochs, batch=settings["batch"], lr=settings["lr"],
                  lr_hidden=settings["lr_hidden"], lr_decay=settings["lr_decay"], limit=args.limit,
                  test_limit=args.test_limit, slope=settings["slope"], log=lambda m: print(m, flush=True))
    started = time.time()
    for seed in [int(s) for s in args.seeds.split(",")]:
        for name in ["bptt"] + [v for v in args.variants.split(",") if v]:
            if any(r["rule"] == name and r["seed"] == seed for r in results["runs"]):
                continue
            print(f"{args.dataset} {name} seed {seed} ({args.epochs} epochs)", flush=True)
            if name == "bptt":
                r = train_rule("bptt", cfg, data, seed=seed, align=False, **common)
                r.pop("weights", None)
                r.pop("alignment", None)
            else:
                r = train_snntorch(name, cfg, data, seed=seed, **common)
            print(f"  {name} seed {seed}: test {r['test_accuracy']:.3f}, "
                  f"{r['seconds_per_sample'] * 1e6:.0f} µs/sample", flush=True)
            results["runs"].append(r)
            path.write_text(json.dumps(results, indent=1))
    if args.lockstep_steps:
        print("lockstep", flush=True)
        results["lockstep"] = lockstep(cfg, data, steps=args.lockstep_steps)
    if args.speed_reps:
        print("speed probe", flush=True)
        results["speed"] = speed_probe(cfg, data, [v for v in args.variants.split(",") if v], args.speed_reps)
    results["wall_seconds"] = results.get("wall_seconds", 0.0) + time.time() - started
    report(results, out)
    path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
