"""Training of the float baselines: same network, initial weights, encoding and loss for every rule.

Initial weights and feedback matrices come from :meth:`golden.network.Network.initial_weights`
with the same seed, so rule X with seed s starts from the network that the golden model's seed s
starts from. Updates: Adam on minibatches (the thesis' optimiser; it makes rules whose estimates
have different scales comparable without tuning a learning rate per rule), learning rate decayed
by ``lr_decay`` after every epoch. Sample order per epoch: ``default_rng([seed, 1, epoch])``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from plasticore.golden import encode
from plasticore.golden.network import Network

from .lif import Dynamics, simulate
from .rules import FEEDBACK_RULES, RuleState, gradients

__all__ = ["make_state", "initial_weights", "evaluate", "train_rule", "cosine", "weight_alignment",
           "minibatches"]


def initial_weights(config, seed: int, dtype=torch.float32):
    w, b = Network.initial_weights(config, seed, fixed=False)
    return [torch.tensor(x, dtype=dtype) for x in w], [torch.tensor(x, dtype=dtype) for x in b]


def make_state(rule: str, config, seed: int, feedback, *, slope=5.0, rate_reg=None,
               dtype=torch.float32) -> RuleState:
    gen = torch.Generator().manual_seed(int(seed) * 7919 + 11)
    rng = np.random.default_rng([seed, 7])
    readouts = [torch.tensor(rng.uniform(-1, 1, (config.n_outputs, n)) / np.sqrt(n), dtype=dtype)
                for n in config.hidden_sizes] if rule == "decolle" else []
    return RuleState(config, feedback=[b.clone() for b in feedback], readouts=readouts,
                     slope=slope, rate_reg=rate_reg, generator=gen)


def raster_of(config, pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(encode.ttfs(pixels, config.input_window, config.n_steps))


def minibatches(config, pixels, labels, *, seed: int, epoch: int, batch: int):
    """One epoch's minibatches as ``(raster, labels)``, in the sample order every trainer of the
    float baselines shares: ``default_rng([seed, 1, epoch])``."""
    order = np.random.default_rng([seed, 1, epoch]).permutation(len(labels))
    for s in range(0, len(labels), batch):
        idx = order[s:s + batch]
        yield raster_of(config, pixels[idx]), torch.tensor(np.array(labels[idx], dtype=np.int64))


@torch.no_grad()
def evaluate(config, weights, pixels, labels, chunk: int = 500):
    """Accuracy (argmax of the output counts, or of V for an integrate output layer; ties to the
    lowest index as the golden model) and hidden spikes per neuron per sample."""
    dyn = Dynamics.from_config(config)
    correct, hidden = 0, 0.0
    for s in range(0, len(labels), chunk):
        tr = simulate(weights, raster_of(config, pixels[s:s + chunk]), dyn)
        counts = tr.counts
        correct += int((tr.output.argmax(1).numpy() == labels[s:s + chunk]).sum())
        hidden += float(sum(c.sum() for c in counts[:-1]))
    return correct / len(labels), hidden / (len(labels) * max(sum(config.hidden_sizes), 1))


def cosine(a, b) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    n = a.norm() * b.norm()
    return float(a @ b / n) if n > 0 else 0.0


def alignment(rule, config, weights, state, raster, labels):
    """Cosine of the rule's estimate with BPTT's surrogate gradient, per layer, on one batch."""
    ref, _ = gradients("bptt", weights, raster, labels, state)
    est, _ = gradients(rule, weights, raster, labels, state, learn_feedback=False)
    return [cosine(g, r) if g is not None else float("nan") for g, r in zip(est, ref)]


def weight_alignment(rule, weights, state) -> float | None:
    """Cosine between the flattened output weights and the feedback matrix of the last hidden
    layer (the thesis' "weight alignment", 004 Fig. 50; the golden model's
    ``feedback_alignment``), for rules with a feedback matrix; None otherwise."""
    if rule not in FEEDBACK_RULES or not state.feedback:
        return None
    return cosine(state.feedback[-1], weights[-1])


def train_rule(rule: str, config, data, *, seed: int = 0, epochs: int = 10, batch: int = 16,
               lr: float = 3e-2, lr_hidden: float | None = None, lr_decay: float = 0.95, limit=None, test_limit=None,
               slope: float = 5.0, rate_reg=None, align: bool = True, probe: int = 64,
               log=print, checkpoint=None, on_epoch=None, progress: float = 0.0) -> dict:
    """Train one seed; returns per-epoch history, final/best test accuracy, timing.

    ``checkpoint``: a file that holds the state after the last finished epoch (weights, Adam,
    schedule, rule state, history); an existing one is resumed from, so an interrupted run
    continues with its next epoch and ends as the uninterrupted run would (the sample order
    depends only on seed and epoch). ``on_epoch(result)``: called after every epoch with the
    result so far (``"complete": False`` until the last). ``progress``: seconds between progress
    lines (samples done, rate, ETA of the epoch and of the run); 0 prints none.
    """
    x_tr, y_tr = data.x_train[:limit], data.y_train[:limit]
    x_te, y_te = data.x_test[:test_limit], data.y_test[:test_limit]
    weights, feedback = initial_weights(config, seed)
    state = make_state(rule, config, seed, feedback, slope=slope, rate_reg=rate_reg)
    params = [torch.nn.Parameter(w) for w in weights]
    lr_hidden = lr if lr_hidden is None else lr_hidden
    opt = torch.optim.Adam([{"params": params[:-1], "lr": lr_hidden}, {"params": params[-1:], "lr": lr}])
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=lr_decay)
    probe_raster = raster_of(config, x_tr[:probe])
    probe_labels = torch.tensor(np.array(y_tr[:probe], dtype=np.int64))
    history, align_hist, walign_hist = [], [], []
    train_time = 0.0
    n = len(y_tr)

    def do_align(epoch):
        wa = weight_alignment(rule, [p.detach() for p in params], state)
        if wa is not None:
            walign_hist.append({"epoch": epoch, "cosine": wa})
        if align and rule != "bptt":
            cos = alignment(rule, config, [p.detach() for p in params], state, probe_raster, probe_labels)
            align_hist.append({"epoch": epoch, "cosine": cos})

    def result(done_epochs):
        tests = [h["test_accuracy"] for h in history]
        return {"rule": rule, "seed": seed, "history": list(history), "alignment": list(align_hist),
                "weight_alignment": list(walign_hist),
                "test_accuracy": tests[-1] if tests else None,
                "best_test_accuracy": max(tests) if tests else None,
                "train_seconds": train_time,
                "seconds_per_sample": train_time / (n * done_epochs) if done_epochs else None,
                "complete": done_epochs == epochs, "weights": None}

    first = 1
    if checkpoint is not None and Path(checkpoint).exists():
        ck = torch.load(checkpoint, weights_only=False)
        with torch.no_grad():
            for p, w in zip(params, ck["weights"]):
                p.copy_(w)
        opt.load_state_dict(ck["optimizer"])
        sched.load_state_dict(ck["scheduler"])
        state.feedback = ck["feedback"]
        if state.generator is not None:
            state.generator.set_state(ck["generator"])
        history, align_hist, walign_hist = ck["history"], ck["alignment"], ck["weight_alignment"]
        train_time = ck["train_seconds"]
        first = ck["epoch"] + 1
        log(f"  {rule} seed {seed}: resumed from {checkpoint} after epoch {ck['epoch']}")
    else:
        do_align(0)
    for epoch in range(first, epochs + 1):
        correct, seen = 0, 0
        t0 = time.perf_counter()
        last = t0
        for raster, labels in minibatches(config, x_tr, y_tr, seed=seed, epoch=epoch, batch=batch):
            grads, counts = gradients(rule, [p.detach() for p in params], raster, labels, state)
            correct += int((counts.argmax(1) == labels).sum())
            for p, g in zip(params, grads):
                p.grad = None if g is None else g.to(p.dtype)
            opt.step()
            seen += len(labels)
            now = time.perf_counter()
            if progress and now - last >= progress:
                last = now
                rate = seen / (now - t0)
                left = (n - seen) / rate
                left_run = left + (epochs - epoch) * n / rate
                log(f"  {rule} seed {seed} epoch {epoch}: {seen}/{n} samples, {rate:.0f} samples/s, "
                    f"train {correct / seen:.3f}, ETA epoch {left / 60:.1f} min, run {left_run / 60:.1f} "
                    "min (+ tests)")
        train_time += time.perf_counter() - t0
        sched.step()
        acc, rate = evaluate(config, [p.detach() for p in params], x_te, y_te)
        history.append({"epoch": epoch, "train_accuracy": correct / n, "test_accuracy": acc,
                        "hidden_spikes_per_neuron": rate})
        do_align(epoch)
        log(f"  {rule} seed {seed} epoch {epoch}: train {correct / n:.3f} test {acc:.3f} "
            f"hidden spk/n {rate:.2f}" + (f" cos {np.round(align_hist[-1]['cosine'], 2).tolist()}"
                                          if align_hist else "")
            + (f" B-W cos {walign_hist[-1]['cosine']:.2f}" if walign_hist else "")
            + f" ({time.perf_counter() - t0:.0f} s)")
        if checkpoint is not None:
            Path(checkpoint).parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(str(checkpoint) + ".tmp")
            torch.save({"epoch": epoch, "weights": [p.detach().clone() for p in params],
                        "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                        "feedback": state.feedback,
                        "generator": state.generator.get_state() if state.generator is not None else None,
                        "history": history, "alignment": align_hist,
                        "weight_alignment": walign_hist, "train_seconds": train_time}, tmp)
            tmp.replace(checkpoint)
        if on_epoch is not None:
            on_epoch(result(epoch))
    return result(epochs)
