#!/usr/bin/env python
"""Issue 7, step 1: the thesis's SFDFA setting, in float, on the clocked torch network.

Each *row* is one training setting; in each row the script trains SFDFA, its readout-only control
(hidden layer frozen), DFA and BPTT from the same seeds (same initial weights, same sample order)
and reports test accuracy, the paired per-seed SFDFA - readout difference and the hidden activity.
Rows: ``anchor`` (the protocol of docs/baselines.md, unchanged), ``thesis`` (the thesis's / the
authors' public code's setting as a whole, below) and ``thesis`` with one group of settings put
back to the anchor's (``-time``, ``-threshold``, ``-loss``, ``-init``, ``-optim``, ``-feedback``,
``-reg``), plus ``thesis-regonly`` (the public code's actual hidden signal: the regulariser alone).

The thesis setting (thesis 004 sec. 3.6, 5.4; Florian-BACHO/SFDFA experiments/MNIST/train_fc.py):

* tau_s = 130 ms, tau = 2 tau_s; TTFS over 100 ms in a 200 ms simulation. Clocked at dt = 2 ms:
  tau_s = 65 steps, tau = 130, input window 50 steps, n_steps 100.
* thresholds: the public code's ``THRESHOLD_HAT`` 0.2 (hidden) / 0.7 (output) are divided by tau
  (in seconds) before use (``c = theta / tau`` in ``LIFLayer``; the membrane there is
  ``sum w [exp(-s/tau) - exp(-s/tau_s)]``, the same kernel as ours), so in our units the thresholds
  are 0.2 / 0.26 = 0.769 and 0.7 / 0.26 = 2.692.
* per-layer thresholds are implemented exactly by scaling: a layer with threshold theta and weights
  W spikes exactly as a layer with threshold 1 and weights W / theta (A, C are linear in W and the
  reset subtracts theta). The parameters are W (thesis units, U(-1, 1) at the start); the forward
  pass uses W / theta_k; gradients are taken with respect to W (chain rule: a factor 1 / theta_k).
* spike-count MSE, 0.5 sum_o (n_o - y_o)^2, targets 15 / 3; argmax of counts.
* U(-1, 1) initial weights in both layers; Adam (0.9, 0.999, 1e-8), lr 3e-3 for every layer and
  rule, batch 50, no decay.
* SFDFA feedback: B from zero (the public code's default for the hidden layer), Gaussian
  perturbations N(0, 1), plain gradient descent with rate 1e-4 on the mean over the samples in
  which the hidden neuron fired: B <- B - 1e-4 * mean_{b: n_bi > 0} (B - D_b p_bi). DFA: B fixed
  U(-1, 1) (the project's feedback init).
* rate regulariser, thesis eq. 166 (beta sum_i (E_x[n_i] - n_hat)^2, E_x from the batch), beta 0.1,
  n_hat 0.2 spikes per neuron per sample: delta_i += beta (mean_b n_bi - n_hat) added to the
  hidden learning signal. The public code *replaces* the hidden signal by this term (LIFLayer:
  ``neuron_errors = zeros_like(neuron_errors) + reg (target - mean_fr)``); row ``thesis-regonly``
  runs that.
* local gradient: the golden model's bounded local gradient (r = theta / max(C, theta)), i.e. the
  clocked form of the thesis's eq. 162, which differs from eq. 162 by a constant factor per layer.

Usage::

    nice -n 19 python experiments/thesis_setting.py --dataset digits --seeds 0,1,2 --epochs 6 \
        --rows anchor,thesis --rules sfdfa,readout,dfa,bptt

Writes one JSON per row into docs/results/learning/thesis/ (``<dataset>_<row>.json``: settings,
per-seed per-epoch histories) and prints the table. ``--table`` only prints it from the JSONs.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from plasticore.baselines.lif import Dynamics, simulate
from plasticore.baselines.train import cosine, initial_weights, minibatches, raster_of
from plasticore.golden.config import Config

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "results" / "learning" / "thesis"
RULES = ("sfdfa", "readout", "dfa", "bptt")


@dataclass(frozen=True)
class Setting:
    """One training setting (a row). Times in steps; thresholds in units of the kernel
    ``exp(-s/tau) - exp(-s/tau_s)`` (peak 0.25 per unit weight)."""

    n_steps: int = 50
    input_window: int = 25
    tau_s: float = 5.0
    theta_hidden: float = 1.0
    theta_output: float = 1.0
    loss: str = "huber"              # "huber" (delta = clip) or "mse"
    clip: int | None = 4             # huber delta / error clip (None with mse)
    target_true: int = 16
    target_false: int = 4
    init_hidden: float = 4.0
    init_output: float = 1.0
    batch: int = 16
    lr_output: float = 3e-2
    lr_hidden: float = 1e-3          # local rules
    lr_hidden_bptt: float = 3e-2
    lr_decay: float = 0.9
    feedback_init: str = "uniform"   # "uniform" U(-1, 1) or "zero" (SFDFA only; DFA always uniform)
    feedback_update: str = "golden"  # "golden": B += a sum_b fired (Dp - B); "thesis": GD on active mean
    feedback_rate: float = 2.0 ** -8
    perturbation: str = "rademacher"  # or "gaussian"
    reg: str | None = None           # None, "add" (thesis eq. 166), "only" (public code: replaces)
    reg_beta: float = 0.0
    reg_target: float = 0.0
    slope: float = 5.0

    @property
    def tau(self) -> float:
        return 2 * self.tau_s

    @property
    def thetas(self):
        return (self.theta_hidden, self.theta_output)

    def config(self, layers) -> Config:
        """The golden Config of the dynamics (threshold 1: per-layer thresholds by scaling)."""
        return Config(layers=tuple(layers), n_steps=self.n_steps, input_window=self.input_window,
                      tau=self.tau, tau_s=self.tau_s, threshold=1.0, target_true=self.target_true,
                      target_false=self.target_false, error_clip=self.clip if self.loss == "huber" else None,
                      init_hidden=self.init_hidden, init_output=self.init_output, rate_reg_shift=None)


ANCHOR = Setting()
TAU_SECONDS = 0.260
THESIS = Setting(n_steps=100, input_window=50, tau_s=65.0,
                 theta_hidden=0.2 / TAU_SECONDS, theta_output=0.7 / TAU_SECONDS,
                 loss="mse", clip=None, target_true=15, target_false=3,
                 init_hidden=1.0, init_output=1.0,
                 batch=50, lr_output=3e-3, lr_hidden=3e-3, lr_hidden_bptt=3e-3, lr_decay=1.0,
                 feedback_init="zero", feedback_update="thesis", feedback_rate=1e-4, perturbation="gaussian",
                 reg="add", reg_beta=0.1, reg_target=0.2)

#: groups of fields that a walk-back row puts back to the anchor's values
GROUPS = {
    "time": ("n_steps", "input_window", "tau_s"),
    "threshold": ("theta_hidden", "theta_output"),
    "loss": ("loss", "clip", "target_true", "target_false"),
    "init": ("init_hidden", "init_output"),
    "optim": ("batch", "lr_output", "lr_hidden", "lr_hidden_bptt", "lr_decay"),
    "feedback": ("feedback_init", "feedback_update", "feedback_rate", "perturbation"),
    "reg": ("reg", "reg_beta", "reg_target"),
}


def anchor_for(dataset: str) -> Setting:
    """The anchor of a dataset: MNIST-like data use ``init_hidden`` 1.5 (golden/presets.py)."""
    return ANCHOR if dataset == "digits" else dataclasses.replace(ANCHOR, init_hidden=1.5)


def row_setting(name: str, dataset: str = "digits") -> Setting:
    """``anchor``, ``thesis``, ``thesis-regonly``, ``thesis-<group>[+<group>...]`` (those groups
    back to the anchor's values), ``anchor+<group>[+...]`` (those groups set to the thesis's)."""
    ANCHOR = anchor_for(dataset)  # noqa: N806
    if name == "anchor":
        return ANCHOR
    if name == "thesis":
        return THESIS
    if name == "thesis-regonly":
        return dataclasses.replace(THESIS, reg="only")
    for base, other, prefix in ((THESIS, ANCHOR, "thesis-"), (ANCHOR, THESIS, "anchor+")):
        if name.startswith(prefix):
            fields = {}
            for g in name[len(prefix):].split("+"):
                if g not in GROUPS:
                    raise ValueError(f"unknown group {g!r} in row {name!r}; groups: {', '.join(GROUPS)}")
                fields.update({f: getattr(other, f) for f in GROUPS[g]})
            return dataclasses.replace(base, **fields)
    raise ValueError(f"unknown row {name!r}")


# ---------------------------------------------------------------------------------------------
# the network with per-layer thresholds

def scaled(weights, st: Setting):
    """Weights as the threshold-1 simulator sees them: W_k / theta_k."""
    th = st.thetas
    L = len(weights)
    return [w / (th[0] if k < L - 1 else th[1]) for k, w in enumerate(weights)]


def layer_theta(st: Setting, k: int, L: int) -> float:
    return st.theta_hidden if k < L - 1 else st.theta_output


def dynamics(st: Setting) -> Dynamics:
    return Dynamics(math.exp(-1.0 / st.tau), math.exp(-1.0 / st.tau_s), 1.0, True)


def targets(st: Setting, labels, n_out: int, dtype):
    y = torch.full((len(labels), n_out), float(st.target_false), dtype=dtype)
    y[torch.arange(len(labels)), labels] = float(st.target_true)
    return y


def output_error(st: Setting, counts_out, labels):
    """dL/dn_o: MSE -> n - y; Huber(delta = clip) -> clip(n - y, +-clip)."""
    e = counts_out - targets(st, labels, counts_out.shape[1], counts_out.dtype)
    if st.loss == "mse":
        return e
    return e.clamp(-st.clip, st.clip)


def count_loss(st: Setting, counts_out, labels):
    y = targets(st, labels, counts_out.shape[1], counts_out.dtype)
    if st.loss == "mse":
        return 0.5 * ((counts_out - y) ** 2).sum() / len(labels)
    return F.huber_loss(counts_out, y, delta=float(st.clip), reduction="sum") / len(labels)


def reg_signal(st: Setting, counts_hidden):
    """delta_i of the rate regulariser, per sample: beta (mean_b n_bi - n_hat) (same for all b)."""
    mean = counts_hidden.mean(0, keepdim=True)
    return (st.reg_beta * (mean - st.reg_target)).expand_as(counts_hidden)


@dataclass
class State:
    feedback: list
    generator: torch.Generator
    stats: dict


def gradients(rule, weights, raster, labels, st: Setting, state: State, *, learn_feedback=True):
    """Gradient estimates with respect to the parameters W (thesis units), and the output counts."""
    L = len(weights)
    dyn = dynamics(st)
    if rule == "bptt":
        params = [w.detach().requires_grad_(True) for w in weights]
        counts = simulate(scaled(params, st), raster, dyn, slope=st.slope).counts
        loss = count_loss(st, counts[-1], labels)
        if st.reg is not None:  # thesis eq. 166 with the batch mean; its gradient is reg_signal's
            for c in counts[:-1]:
                loss = loss + 0.5 * st.reg_beta * ((c.mean(0) - st.reg_target) ** 2).sum()
        return list(torch.autograd.grad(loss, params)), counts[-1].detach()
    B = len(labels)
    p = None
    if rule == "sfdfa":
        if st.perturbation == "gaussian":
            p = [torch.randn((B, w.shape[0]), generator=state.generator, dtype=w.dtype) for w in weights[:-1]]
        else:
            p = [torch.randint(0, 2, (B, w.shape[0]), generator=state.generator).to(w.dtype) * 2 - 1
                 for w in weights[:-1]]
    with torch.no_grad():
        tr = simulate(scaled([w.detach() for w in weights], st), raster, dyn, track=True, perturbation=p,
                      ghat_layers=[L - 1] if rule == "readout" else None)
        counts = tr.counts
        e = output_error(st, counts[-1], labels)
        grads = []
        for k in range(L - 1):
            if rule == "readout":
                grads.append(None)
                continue
            err = e @ state.feedback[k]
            if st.reg == "only":
                delta = reg_signal(st, counts[k])
            elif st.reg == "add":
                reg = reg_signal(st, counts[k])
                delta = err + reg
                state.stats.setdefault("abs_err_signal", []).append(float(err.abs().mean()))
                state.stats.setdefault("abs_reg_signal", []).append(float(reg.abs().mean()))
            else:
                delta = err
            grads.append(-torch.einsum("bi,bij->ij", delta, tr.ghat[k]) / (B * layer_theta(st, k, L)))
        grads.append(-torch.einsum("bi,bij->ij", e, tr.ghat[-1]) / (B * st.theta_output))
        if rule == "sfdfa" and learn_feedback:
            update_feedback(st, state, tr.grade_total, p, counts)
    return grads, counts[-1]


def update_feedback(st: Setting, state: State, D, p, counts):
    for k in range(len(p)):
        fb = state.feedback[k]
        fired = (counts[k] > 0).to(fb.dtype)                          # (B, N)
        diff = fired[:, None, :] * (D[:, :, None] * p[k][:, None, :] - fb[None])   # (B, O, N)
        if st.feedback_update == "golden":
            state.feedback[k] = fb + st.feedback_rate * diff.sum(0)
        else:  # public code: GD on the mean over the samples in which neuron i fired
            n_active = fired.sum(0).clamp(min=1.0)                     # (N,)
            state.feedback[k] = fb + st.feedback_rate * diff.sum(0) / n_active[None, :]


# ---------------------------------------------------------------------------------------------
# training

def initial_state(rule, cfg: Config, st: Setting, seed: int, dtype=torch.float32):
    weights, feedback = initial_weights(cfg, seed, dtype)
    if rule == "sfdfa" and st.feedback_init == "zero":
        feedback = [torch.zeros_like(f) for f in feedback]
    gen = torch.Generator().manual_seed(int(seed) * 7919 + 11)
    return weights, State(feedback, gen, {})


@torch.no_grad()
def evaluate(st: Setting, weights, pixels, labels, chunk=500):
    dyn = dynamics(st)
    cfg_like = _RasterCfg(st)
    correct, hidden, out_spikes, n_hidden = 0, 0.0, 0.0, 0
    silent = None
    for s in range(0, len(labels), chunk):
        counts = simulate(scaled(weights, st), raster_of(cfg_like, pixels[s:s + chunk]), dyn).counts
        correct += int((counts[-1].argmax(1).numpy() == labels[s:s + chunk]).sum())
        hidden += float(sum(c.sum() for c in counts[:-1]))
        out_spikes += float(counts[-1].sum())
        n_hidden = sum(c.shape[1] for c in counts[:-1])
        fired = torch.cat([(c > 0).any(0) for c in counts[:-1]])
        silent = fired if silent is None else silent | fired
    n = len(labels)
    return {"test_accuracy": correct / n, "hidden_spikes_per_neuron": hidden / (n * n_hidden),
            "output_spikes_per_neuron": out_spikes / (n * weights[-1].shape[0]),
            "silent_hidden_fraction": float(1.0 - silent.float().mean())}


@dataclass(frozen=True)
class _RasterCfg:
    st: Setting

    @property
    def input_window(self):
        return self.st.input_window

    @property
    def n_steps(self):
        return self.st.n_steps


def train(rule, st: Setting, data, *, seed, epochs, limit=None, test_limit=None, probe=64, log=print):
    layers = (data.x_train.shape[1], HIDDEN[data.name], 10)
    cfg = st.config(layers)
    x_tr, y_tr = data.x_train[:limit], data.y_train[:limit]
    x_te, y_te = data.x_test[:test_limit], data.y_test[:test_limit]
    weights, state = initial_state(rule, cfg, st, seed)
    params = [torch.nn.Parameter(w) for w in weights]
    lr_h = 0.0 if rule == "readout" else (st.lr_hidden_bptt if rule == "bptt" else st.lr_hidden)
    opt = torch.optim.Adam([{"params": params[:-1], "lr": lr_h}, {"params": params[-1:], "lr": st.lr_output}])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=st.lr_decay)
    rc = _RasterCfg(st)
    probe_raster = raster_of(rc, x_tr[:probe])
    probe_labels = torch.tensor(np.array(y_tr[:probe], dtype=np.int64))
    history = []

    def align():
        if rule in ("sfdfa", "dfa"):
            w = [p.detach() for p in params]
            ref, _ = gradients("bptt", w, probe_raster, probe_labels, st, state)
            est, _ = gradients(rule, w, probe_raster, probe_labels, st, state, learn_feedback=False)
            return [cosine(g, r) for g, r in zip(est, ref)]
        return None

    first = evaluate(st, [p.detach() for p in params], x_te, y_te)
    history.append({"epoch": 0, **first, "cosine_with_bptt": align()})
    log(f"  {rule} seed {seed} epoch 0: test {first['test_accuracy']:.3f} "
        f"hidden spk/n {first['hidden_spikes_per_neuron']:.2f} out spk/n {first['output_spikes_per_neuron']:.2f}")
    n = len(y_tr)
    t_train = 0.0
    for epoch in range(1, epochs + 1):
        correct = 0
        state.stats.clear()
        t0 = time.perf_counter()
        for raster, labels in minibatches(rc, x_tr, y_tr, seed=seed, epoch=epoch, batch=st.batch):
            grads, counts = gradients(rule, [p.detach() for p in params], raster, labels, st, state)
            correct += int((counts.argmax(1) == labels).sum())
            for p, g in zip(params, grads):
                p.grad = None if g is None else g.to(p.dtype)
            opt.step()
        t_train += time.perf_counter() - t0
        sched.step()
        ev = evaluate(st, [p.detach() for p in params], x_te, y_te)
        h = {"epoch": epoch, "train_accuracy": correct / n, **ev, "cosine_with_bptt": align()}
        if rule == "sfdfa":
            h["feedback_cosine_with_output_weights"] = [cosine(state.feedback[k], params[-1].detach())
                                                        for k in range(len(state.feedback))]
        for key, vals in state.stats.items():
            h[key] = float(np.mean(vals))
        history.append(h)
        extra = ""
        if h["cosine_with_bptt"] is not None:
            extra += f" cos {np.round(h['cosine_with_bptt'], 2).tolist()}"
        if "abs_reg_signal" in h:
            extra += f" |eB| {h['abs_err_signal']:.3g} |reg| {h['abs_reg_signal']:.3g}"
        log(f"  {rule} seed {seed} epoch {epoch}: train {correct / n:.3f} test {ev['test_accuracy']:.3f} "
            f"hidden spk/n {ev['hidden_spikes_per_neuron']:.2f} silent {ev['silent_hidden_fraction']:.2f} "
            f"out spk/n {ev['output_spikes_per_neuron']:.2f}{extra}")
    return {"rule": rule, "seed": seed, "history": history,
            "test_accuracy": history[-1]["test_accuracy"],
            "hidden_spikes_per_neuron": history[-1]["hidden_spikes_per_neuron"],
            "train_seconds": t_train, "seconds_per_sample": t_train / (n * epochs)}


HIDDEN = {"digits": 64, "mnist": 128, "fashion-mnist": 128}


class _Data:
    def __init__(self, name, ds):
        self.name = name
        self.x_train, self.y_train, self.x_test, self.y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test


# ---------------------------------------------------------------------------------------------
# reporting

#: groups whose fields the readout control never reads (hidden layer frozen: no feedback, no
#: hidden signal): a row that changes only these shares the readout runs of the row it came from
HIDDEN_ONLY = {"feedback_init", "feedback_update", "feedback_rate", "perturbation", "reg", "reg_beta",
               "reg_target", "lr_hidden", "lr_hidden_bptt"}


def shared_readout(row, others):
    """Readout runs of another row whose setting differs from ``row``'s only in HIDDEN_ONLY fields
    (bit-identical computation), with that row's name; ``(None, [])`` if there is none."""
    for name, other in others.items():
        runs = [r for r in other["runs"] if r["rule"] == "readout"]
        if not runs or other["epochs"] != row["epochs"] or other["limit"] != row["limit"] \
                or other["test_limit"] != row["test_limit"] or other["layers"] != row["layers"]:
            continue
        diff = {k for k in row["setting"] if row["setting"][k] != other["setting"].get(k)}
        if diff <= HIDDEN_ONLY:
            return name, runs
    return None, []


def summarise(row, others=None):
    by = {}
    runs = list(row["runs"])
    if others and not any(r["rule"] == "readout" for r in runs):
        name, shared = shared_readout(row, others)
        if shared:
            runs += shared
            row["readout_from"] = name
    for r in runs:
        by.setdefault(r["rule"], {})[r["seed"]] = r
    out = {}
    for rule, runs in by.items():
        acc = np.array([runs[s]["test_accuracy"] for s in sorted(runs)]) * 100
        out[rule] = {"mean": float(acc.mean()), "std": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0,
                     "spk": float(np.mean([runs[s]["hidden_spikes_per_neuron"] for s in runs])),
                     "seeds": sorted(runs)}
    if "sfdfa" in by and "readout" in by:
        seeds = sorted(set(by["sfdfa"]) & set(by["readout"]))
        d = np.array([by["sfdfa"][s]["test_accuracy"] - by["readout"][s]["test_accuracy"] for s in seeds]) * 100
        out["paired"] = {"mean": float(d.mean()), "std": float(d.std(ddof=1)) if len(d) > 1 else 0.0,
                         "per_seed": d.round(2).tolist()}
    return out


def fmt(s, rule):
    if rule not in s:
        return "-"
    return f"{s[rule]['mean']:.1f} ± {s[rule]['std']:.1f}"


def table(dataset, rows):
    lines = ["| row | sfdfa | readout | dfa | bptt | sfdfa − readout, paired (per seed) | hidden spk/n sfdfa / readout |",
             "|---|---|---|---|---|---|---|"]
    loaded = {}
    for path in sorted(OUT.glob(f"{dataset}_*.json")):
        loaded[path.stem[len(dataset) + 1:]] = json.loads(path.read_text())
    for name in rows:
        if name not in loaded:
            continue
        row = loaded[name]
        s = summarise(row, {k: v for k, v in loaded.items() if k != name})
        if row.get("readout_from"):
            name = f"{name} (readout: {row['readout_from']} row)"
        p = s.get("paired")
        ptxt = f"{p['mean']:+.1f} ± {p['std']:.1f} ({', '.join(f'{x:+.1f}' for x in p['per_seed'])})" if p else "-"
        spk = " / ".join(f"{s[r]['spk']:.2f}" if r in s else "-" for r in ("sfdfa", "readout"))
        lines.append(f"| {name} | {fmt(s, 'sfdfa')} | {fmt(s, 'readout')} | {fmt(s, 'dfa')} | {fmt(s, 'bptt')} "
                     f"| {ptxt} | {spk} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="digits", choices=tuple(HIDDEN))
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--rows", default="anchor,thesis")
    ap.add_argument("--rules", default=",".join(RULES))
    ap.add_argument("--limit", type=int, default=None, help="training samples (default all)")
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--hidden", type=int, default=None, help="hidden width (default 64 digits, 128 MNIST)")
    ap.add_argument("--out", default=None, help="output directory (default docs/results/learning/thesis)")
    ap.add_argument("--tag", default="", help="suffix of the JSON names")
    ap.add_argument("--table", action="store_true", help="only print the table from the JSONs")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    global OUT
    if args.out is not None:
        OUT = Path(args.out)
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [r for r in args.rows.split(",") if r]
    ds_name = args.dataset + (f"_{args.tag}" if args.tag else "")
    if args.table:
        print(table(ds_name, rows))
        return
    from plasticore.golden import datasets
    if args.hidden is not None:
        HIDDEN[args.dataset] = args.hidden
    data = _Data(args.dataset, datasets.load(args.dataset))
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in rows:
        st = row_setting(name, args.dataset)
        path = OUT / f"{ds_name}_{name}.json"
        row = {"dataset": args.dataset, "row": name, "setting": dataclasses.asdict(st),
               "layers": [data.x_train.shape[1], HIDDEN[args.dataset], 10],
               "epochs": args.epochs, "seeds": seeds, "limit": args.limit, "test_limit": args.test_limit,
               "n_train": len(data.y_train[:args.limit]), "n_test": len(data.y_test[:args.test_limit]),
               "command": "python " + " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
               "runs": []}
        if path.exists():
            old = json.loads(path.read_text())
            if old["setting"] == row["setting"] and old["epochs"] == args.epochs and old["limit"] == args.limit:
                row["runs"] = old["runs"]
        t0 = time.perf_counter()
        for rule in args.rules.split(","):
            for seed in seeds:
                if any(r["rule"] == rule and r["seed"] == seed for r in row["runs"]):
                    continue
                print(f"[{name}] {args.dataset} {rule} seed {seed}", flush=True)
                r = train(rule, st, data, seed=seed, epochs=args.epochs, limit=args.limit,
                          test_limit=args.test_limit, log=lambda s: print(s, flush=True))
                row["runs"].append(r)
                path.write_text(json.dumps(row, indent=1))
                print(f"  -> {r['test_accuracy'] * 100:.1f} % ({r['train_seconds']:.0f} s train, "
                      f"{time.perf_counter() - t0:.0f} s in this row)", flush=True)
        path.write_text(json.dumps(row, indent=1))
    print(table(ds_name, rows))


if __name__ == "__main__":
    main()
