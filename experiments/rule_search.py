"""A fast float prototype of the clocked network for the accuracy search (issue 23).

It runs the same neuron as :class:`plasticore.golden.network.Network` in float (decay, threshold,
reset, integrate, in that order; TTFS inputs), written for speed on one sample at a time: the
membrane of a layer driven only by input spikes is a matrix product with a fixed kernel, so only
the reset recursion loops over steps. On top of it, the rule is assembled from options, one change
at a time against the same code:

* output layer: ``integrate`` (V_o = sum_i w_oi n_i + b_o, no threshold, no reset) with a
  ``softmax`` (base e), ``hinge`` (multiclass, margin) or ``mse`` error on V;
* hidden eligibility: ``spike`` (the thesis's spike-time gradient, ghat with the reset path, as the
  golden model computes it), ``surrogate`` (a membrane-gated pseudo-derivative: e_ij = sum_n
  psi(u_i[n]) eps_j[n], psi a boxcar or triangle around theta, as in e-prop / eRBP);
* feedback: ``sfdfa`` (learnt from grades: B_oi += alpha (D_o p_i - B_oi) on neurons that
  fired), ``dfa`` (fixed random), ``none`` (readout: the hidden layer frozen);
* rate regulariser on or off, per-neuron normalisation, learning rates.

Every run writes a JSON with per-epoch test accuracy and the hidden layer's activity, and a
checkpoint per epoch so that a run killed mid-way resumes. This is research code: the winning
rule goes into the fixed-point golden model, the spec and the RTL.

Usage (one seed, one arm)::

    python experiments/rule_search.py --hidden 256 --epochs 3 --seed 0 --feedback sfdfa \
        --eligibility surrogate --json docs/results/learning/search/x.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from plasticore.golden import datasets, encode


def kernels(n_steps: int, tau: float, tau_s: float):
    """K_u[n, m] = rho^(n-m) - rho_s^(n-m) and K_c[n, m] = rho_s^(n-m) for m < n (else 0): the
    membrane and current at step n (after its decay) of a unit input integrated at step m."""
    rho, rho_s = math.exp(-1 / tau), math.exp(-1 / tau_s)
    lag = np.arange(n_steps)[:, None] - np.arange(n_steps)[None, :]
    past = lag > 0
    k_u = np.where(past, rho ** lag - rho_s ** lag, 0.0)
    k_c = np.where(past, rho_s ** lag, 0.0)
    return k_u.astype(np.float32), k_c.astype(np.float32), rho


class Prototype:
    def __init__(self, args, n_inputs: int, n_classes: int, seed: int):
        self.args = args
        rng = np.random.default_rng(seed)
        self.rng = rng
        h = args.hidden
        self.w_h = (args.init_hidden * rng.uniform(-1, 1, (h, n_inputs))).astype(np.float32)
        self.w_o = (args.init_output * rng.uniform(-1, 1, (n_classes, h))).astype(np.float32)
        self.b_o = np.zeros(n_classes, np.float32)
        if args.feedback == "sfdfa":
            self.fb = np.zeros((n_classes, h), np.float32) if args.feedback_from_zero else \
                rng.uniform(-1, 1, (n_classes, h)).astype(np.float32)
        else:
            self.fb = rng.uniform(-1, 1, (n_classes, h)).astype(np.float32)
        self.k_u, self.k_c, self.rho = kernels(args.n_steps, args.tau, args.tau_s)
        self.theta = args.threshold
        self.n_classes = n_classes
        # per-neuron running mean of |update| (normalisation option)
        self.norm_h = np.ones(h, np.float32)

    # --- forward ---------------------------------------------------------------------------
    def hidden(self, raster_steps, active):
        """One sample: raster_steps (T, A) float of the active inputs. Returns counts (N,),
        membrane u (T, N), current c (T, N), spikes (T, N) bool, eps (T, A)."""
        d = raster_steps @ self.w_h[:, active].T             # (T, N) drive integrated at step m
        u_free = self.k_u @ d
        cur = self.k_c @ d
        T, N = d.shape
        spikes = np.zeros((T, N), bool)
        u = np.empty_like(u_free)
        reset = np.zeros(N, np.float32)
        for n in range(T):
            u[n] = u_free[n] - reset
            s = u[n] >= self.theta
            spikes[n] = s
            reset = self.rho * (reset + self.theta * s)
        eps = self.k_u @ raster_steps
        return spikes.sum(0).astype(np.float32), u, cur, spikes, eps

    def hidden_batch(self, rasters):
        """Counts only, for evaluation: rasters (B, T, J) float32."""
        B, T, J = rasters.shape
        d = (rasters.reshape(B * T, J) @ self.w_h.T).reshape(B, T, -1)
        u_free = np.matmul(self.k_u[None], d)
        N = d.shape[2]
        reset = np.zeros((B, N), np.float32)
        counts = np.zeros((B, N), np.float32)
        for n in range(T):
            s = (u_free[:, n] - reset) >= self.theta
            counts += s
            reset = self.rho * (reset + self.theta * s)
        return counts

    def output(self, counts):
        return counts @ self.w_o.T + self.b_o

    # --- errors ----------------------------------------------------------------------------
    def output_error(self, v, label):
        """dL/dV for one sample (positive: V too high)."""
        a = self.args
        y = np.zeros(self.n_classes, np.float32)
        y[label] = 1
        if a.loss == "softmax":
            z = (v - v.max()) / a.temperature
            p = np.exp(z)
            p /= p.sum()
            return (p - y).astype(np.float32)
        if a.loss == "hinge":
            delta = np.zeros(self.n_classes, np.float32)
            viol = (v - v[label] + a.margin > 0)
            viol[label] = False
            delta[viol] = 1.0
            delta[label] = -viol.sum()
            return delta
        if a.loss == "mse":
            target = np.where(y > 0, a.target_true, a.target_false)
            return np.clip(v - target, -a.error_clip, a.error_clip).astype(np.float32)
        raise ValueError(a.loss)

    # --- learning --------------------------------------------------------------------------
    def learn(self, raster_steps, active, label, lr_h, lr_o):
        a = self.args
        counts, u, cur, spikes, eps = self.hidden(raster_steps, active)
        v = self.output(counts)
        delta_o = self.output_error(v, label)
        fired = counts > 0
        # hidden
        if a.feedback != "none":
            delta_h = delta_o @ self.fb                                     # (N,)
            if a.rate_reg > 0:
                delta_h = delta_h + a.rate_reg * (counts - a.rate_target)
            elig = self.eligibility(u, cur, spikes, eps)                     # (N, A)
            upd = delta_h[:, None] * elig
            if a.normalise:
                mag = np.abs(upd).mean(axis=1) + 1e-12
                self.norm_h = 0.999 * self.norm_h + 0.001 * mag
                upd = upd / self.norm_h[:, None] * a.norm_scale
            self.w_h[:, active] -= lr_h * upd
            if a.clip_weight:
                np.clip(self.w_h, -a.clip_weight, a.clip_weight, out=self.w_h)
        # output
        self.w_o -= lr_o * delta_o[:, None] * counts[None, :]
        if a.bias:
            self.b_o -= lr_o * delta_o * a.bias_input
        # feedback (SFDFA): perturbation p on each hidden neuron's first spike; the integrating
        # output's directional derivative is D_o = sum_i w_oi p_i over the neurons that fired
        if a.feedback == "sfdfa":
            p = self.rng.choice(np.array([-1.0, 1.0], np.float32), size=counts.shape)
            d_o = self.w_o @ (p * fired)
            step = a.alpha * (d_o[:, None] * p[None, :] - self.fb)
            self.fb += np.where(fired[None, :], step, 0)
        return v

    def eligibility(self, u, cur, spikes, eps):
        a = self.args
        if a.eligibility == "surrogate":
            x = (u - self.theta) / (self.theta * a.sg_width)
            if a.sg_shape == "box":
                psi = (np.abs(x) <= 1).astype(np.float32)
            else:
                psi = np.maximum(0, 1 - np.abs(x)).astype(np.float32)
            if a.sg_floor > 0:
                psi = np.maximum(psi, a.sg_floor * (u > 0))
            return psi.T @ eps                                              # (N, A)
        if a.eligibility == "spike":
            # -ghat: the thesis's d t_spike/dw sign flipped to d n/dw (more weight, earlier/more)
            T, N = spikes.shape
            ghat = np.zeros((N, eps.shape[1]), np.float32)
            ehat = np.zeros_like(ghat)
            last = np.zeros(N, np.int64)
            for n in np.nonzero(spikes.any(1))[0]:
                ii = np.nonzero(spikes[n])[0]
                r = self.theta / np.maximum(cur[n, ii], self.theta)
                eh = ehat[ii] * (self.rho ** (n - last[ii]))[:, None]
                g = r[:, None] * (eh - eps[n][None, :])
                ghat[ii] += g
                ehat[ii] = eh + g
                last[ii] = n
            return -ghat
        raise ValueError(a.eligibility)


def rasters_of(pixels, args):
    return encode.ttfs(pixels, args.input_window, args.n_steps)


def evaluate(model, pixels, labels, args, chunk=1000):
    correct, counts_all = 0, []
    for s in range(0, len(pixels), chunk):
        r = rasters_of(pixels[s:s + chunk], args).astype(np.float32)
        counts = model.hidden_batch(r)
        v = counts @ model.w_o.T + model.b_o
        correct += int((v.argmax(1) == labels[s:s + chunk]).sum())
        counts_all.append(counts)
    counts = np.concatenate(counts_all)
    return correct / len(pixels), counts


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="mnist")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--n-steps", type=int, default=50)
    p.add_argument("--input-window", type=int, default=25)
    p.add_argument("--tau", type=float, default=10.0)
    p.add_argument("--tau-s", type=float, default=5.0)
    p.add_argument("--threshold", type=float, default=1.0)
    p.add_argument("--init-hidden", type=float, default=1.5)
    p.add_argument("--init-output", type=float, default=0.0)
    p.add_argument("--feedback", choices=["sfdfa", "dfa", "none"], default="sfdfa")
    p.add_argument("--feedback-from-zero", action="store_true")
    p.add_argument("--alpha", type=float, default=2 ** -8)
    p.add_argument("--eligibility", choices=["spike", "surrogate"], default="surrogate")
    p.add_argument("--sg-shape", choices=["box", "tri"], default="box")
    p.add_argument("--sg-width", type=float, default=0.5)
    p.add_argument("--sg-floor", type=float, default=0.0)
    p.add_argument("--loss", choices=["softmax", "hinge", "mse"], default="softmax")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--margin", type=float, default=1.0)
    p.add_argument("--target-true", type=float, default=8.0)
    p.add_argument("--target-false", type=float, default=0.0)
    p.add_argument("--error-clip", type=float, default=4.0)
    p.add_argument("--bias", action="store_true")
    p.add_argument("--bias-input", type=float, default=1.0)
    p.add_argument("--lr-hidden", type=float, default=2 ** -10)
    p.add_argument("--lr-output", type=float, default=2 ** -7)
    p.add_argument("--lr-halve-epochs", type=str, default="", help="comma list of epochs (2..) at whose start both rates halve")
    p.add_argument("--rate-reg", type=float, default=0.0)
    p.add_argument("--rate-target", type=float, default=2.0)
    p.add_argument("--normalise", action="store_true")
    p.add_argument("--norm-scale", type=float, default=1.0)
    p.add_argument("--clip-weight", type=float, default=0.0)
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--probe", action="store_true", help="fit a linear probe on the final hidden counts")
    args = p.parse_args(argv)

    data = datasets.load(args.dataset, seed=args.seed)
    xtr, ytr, xte, yte = data.x_train, data.y_train, data.x_test, data.y_test
    if args.limit:
        xtr, ytr = xtr[:args.limit], ytr[:args.limit]
    n_classes = int(ytr.max()) + 1
    ckpt = args.json.with_suffix(".ckpt.npz")
    model = Prototype(args, xtr.shape[1], n_classes, args.seed)
    history, start_epoch = [], 1
    if ckpt.exists():
        z = np.load(ckpt, allow_pickle=False)
        model.w_h, model.w_o, model.b_o, model.fb = z["w_h"], z["w_o"], z["b_o"], z["fb"]
        history = json.loads(str(z["history"]))
        start_epoch = len(history) + 1
        model.rng = np.random.default_rng([args.seed, start_epoch])
        print(f"resumed from {ckpt} after epoch {start_epoch - 1}", flush=True)
    halve = [int(e) for e in args.lr_halve_epochs.split(",") if e]
    order_rng = np.random.default_rng([args.seed, 7])
    for epoch in range(1, args.epochs + 1):
        order = order_rng.permutation(len(xtr))   # drawn every epoch so a resume sees the same order
        if epoch < start_epoch:
            continue
        scale = 0.5 ** sum(1 for e in halve if e <= epoch)
        lr_h, lr_o = args.lr_hidden * scale, args.lr_output * scale
        t0, correct = time.time(), 0
        for k, i in enumerate(order):
            raster = rasters_of(xtr[i:i + 1], args)[0]
            active = np.nonzero(raster.any(0))[0]
            v = model.learn(raster[:, active].astype(np.float32), active, ytr[i], lr_h, lr_o)
            correct += int(v.argmax() == ytr[i])
            if (k + 1) % 10000 == 0:
                rate = (k + 1) / (time.time() - t0)
                print(f"epoch {epoch} {k + 1}/{len(order)} train {correct / (k + 1):.3f} "
                      f"{rate:.0f}/s eta {(len(order) - k - 1) / rate:.0f}s", flush=True)
        acc, counts = evaluate(model, xte, yte, args)
        entry = {"epoch": epoch, "test_accuracy": acc, "train_accuracy": correct / len(order),
                 "spikes_per_neuron": float(counts.mean()), "silent_fraction": float((counts.sum(0) == 0).mean()),
                 "alignment": float(np.sum(model.fb * model.w_o) / (np.linalg.norm(model.fb) * np.linalg.norm(model.w_o) + 1e-12)),
                 "seconds": time.time() - t0}
        history.append(entry)
        print(json.dumps(entry), flush=True)
        np.savez(ckpt, w_h=model.w_h, w_o=model.w_o, b_o=model.b_o, fb=model.fb, history=json.dumps(history))
    result = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "history": history, "test_accuracy": history[-1]["test_accuracy"],
              "best_test_accuracy": max(h["test_accuracy"] for h in history)}
    if args.probe:
        result["probe"] = probe(model, xtr, ytr, xte, yte, args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    print(f"test {result['test_accuracy']:.4f} best {result['best_test_accuracy']:.4f}")


def probe(model, xtr, ytr, xte, yte, args, epochs=20):
    """Linear probe of the hidden counts: softmax regression by full-batch-free minibatch Adam on
    standardised counts (numpy), the same for every arm."""
    _, ctr = evaluate(model, xtr, ytr, args)
    _, cte = evaluate(model, xte, yte, args)
    mu, sd = ctr.mean(0), ctr.std(0) + 1e-3
    ftr, fte = (ctr - mu) / sd, (cte - mu) / sd
    n_classes = int(ytr.max()) + 1
    w = np.zeros((ftr.shape[1], n_classes)); b = np.zeros(n_classes)
    m = [np.zeros_like(w), np.zeros_like(b)]; s = [np.zeros_like(w), np.zeros_like(b)]
    rng, t = np.random.default_rng(0), 0
    for _ in range(epochs):
        for idx in np.array_split(rng.permutation(len(ftr)), len(ftr) // 256):
            z = ftr[idx] @ w + b
            z = np.exp(z - z.max(1, keepdims=True)); z /= z.sum(1, keepdims=True)
            z[np.arange(len(idx)), ytr[idx]] -= 1
            grads = [ftr[idx].T @ z / len(idx) + 1e-4 * w, z.mean(0)]
            t += 1
            for k, (param, g) in enumerate(zip((w, b), grads)):
                m[k] = 0.9 * m[k] + 0.1 * g; s[k] = 0.999 * s[k] + 0.001 * g * g
                param -= 1e-3 * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(s[k] / (1 - 0.999 ** t)) + 1e-8)
    return float(((fte @ w + b).argmax(1) == yte).mean())


if __name__ == "__main__":
    sys.exit(main())
