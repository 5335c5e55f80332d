"""Memory of the training state of each rule vs window length T and layer size.

Counted in words per training sample (batch 1), *beyond* the forward weights and the inference
state every rule shares (A, C per neuron): what a learning core must store to produce one update.
``I`` inputs, ``H`` hidden neurons (one hidden layer), ``O`` outputs, ``S = H I + O H`` synapses.

| rule (as implemented) | words | depends on T |
|---|---|---|
| bptt, dfa-sg, drtp | T (I + 2H + O) saved activations (input spikes; surrogate input v of every neuron; hidden spikes, the next layer's matmul input) + S gradient | yes |
| eprop | S eligibility sums + 2(I + H) input traces + O H feedback | no |
| etlp | O H output eligibility + 2(I + H) traces + O H projection (hidden updates applied every step: the target is known from the start) | no |
| decolle | S eligibility sums + 2(I + H) traces + O H readout | no |
| dfa | 2 S (ghat, ehat) + 2(I + H) traces + 5(H + O) per-neuron (S, D, count, last step, p) + O H fixed feedback | no |
| sfdfa | as dfa (feedback learned instead of fixed) | no |
| readout | 2 O H + 2 H + 3 O | no |

DRTP and DECOLLE as published are online (DRTP's signal is the target, DECOLLE's loss is per
step): then their state is etlp's; here, with a window-level count loss, drtp runs the
layer-local BPTT and decolle accumulates an eligibility per synapse. The golden model's ``ehat``
disappears with ``reset_path=False``. BPTT's count is checked against the bytes autograd actually
saves (``torch.autograd.graph.saved_tensors_hooks``), measured by :func:`measure`.
"""

from __future__ import annotations

import torch

from .lif import Dynamics, simulate

__all__ = ["words", "measure", "markdown", "plot", "MEMORY_RULES"]

MEMORY_RULES = ("bptt", "dfa-sg", "drtp", "eprop", "etlp", "decolle", "dfa", "sfdfa", "readout")


def words(rule: str, I: int, H: int, O: int, T: int) -> int:
    S = H * I + O * H
    traces = 2 * (I + H)
    if rule in ("bptt", "dfa-sg", "drtp"):
        return T * (I + 2 * H + O) + S
    if rule == "eprop":
        return S + traces + O * H
    if rule == "etlp":
        return O * H + traces + O * H
    if rule == "decolle":
        return S + traces + O * H
    if rule in ("dfa", "sfdfa"):
        return 2 * S + traces + 5 * (H + O) + O * H
    if rule == "readout":
        return 2 * O * H + 2 * H + 3 * O
    raise ValueError(rule)


def saved_bytes(I, H, O, T, dyn=Dynamics(0.9048374180359595, 0.8187307530779818, 1.0)) -> int:
    """Bytes autograd saves for BPTT of one float32 sample over T steps (distinct storages)."""
    g = torch.Generator().manual_seed(0)
    raster = torch.rand(1, T, I, generator=g) < 0.05
    ws = [(torch.rand(H, I, generator=g) - 0.3).requires_grad_(True),
          (torch.rand(O, H, generator=g) - 0.3).requires_grad_(True)]
    seen = {}

    def pack(t):
        try:
            key = t.untyped_storage().data_ptr()
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        tr = simulate(ws, raster, dyn)
        loss = sum(c.sum() for c in tr.counts)
    del loss, tr
    return sum(seen.values())


def measure() -> dict:
    Ts = [25, 50, 100, 200]
    nets = {"digits 64-64-10": (64, 64, 10), "mnist 784-128-10": (784, 128, 10)}
    by_T = {name: {rule: [words(rule, *net, T) for T in Ts] for rule in MEMORY_RULES}
            for name, net in nets.items()}
    Hs = [64, 128, 256, 512]
    by_H = {rule: [words(rule, 784, H, 10, 50) for H in Hs] for rule in MEMORY_RULES}
    measured = {name: [saved_bytes(*net, T) for T in Ts] for name, net in nets.items()}
    return {"T": Ts, "H": Hs, "by_T": by_T, "by_H": by_H, "bptt_saved_bytes": measured,
            "note": "words per sample beyond weights and A, C; see baselines/memory.py"}


def markdown(mem: dict) -> list:
    lines = ["## Memory of the training state (words per sample, beyond weights and A, C)", "",
             "Analytic counts (baselines/memory.py). BPTT-like rules grow with T; the rest do not.", ""]
    for name, table in mem["by_T"].items():
        lines += [f"{name}, vs window length T:", "",
                  "| rule | " + " | ".join(f"T={t}" for t in mem["T"]) + " |",
                  "|---|" + "---|" * len(mem["T"])]
        for rule, vals in table.items():
            lines.append(f"| {rule} | " + " | ".join(f"{v:,}" for v in vals) + " |")
        meas = mem["bptt_saved_bytes"][name]
        lines.append("| bptt, measured: autograd saved bytes (float32) / 4 | "
                     + " | ".join(f"{b // 4:,}" for b in meas) + " |")
        lines.append("")
    lines += ["784-H-10, T = 50, vs hidden size H:", "",
              "| rule | " + " | ".join(f"H={h}" for h in mem["H"]) + " |", "|---|" + "---|" * len(mem["H"])]
    for rule, vals in mem["by_H"].items():
        lines.append(f"| {rule} | " + " | ".join(f"{v:,}" for v in vals) + " |")
    lines += ["", "The measured BPTT row counts the distinct storages autograd saves for the "
              "backward pass of one sample (float32 bytes / 4): it matches the analytic activation "
              "part T (I + 2H + O) (the analytic row adds the S-word gradient buffer) and grows "
              "linearly with T.", ""]
    return lines


def plot(plt, mem: dict, path):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    name = "mnist 784-128-10"
    for rule, vals in mem["by_T"][name].items():
        axes[0].plot(mem["T"], vals, marker="o", ms=3, label=rule)
    axes[0].plot(mem["T"], [b / 4 for b in mem["bptt_saved_bytes"][name]], "k--", label="bptt measured")
    axes[0].set_xlabel("window length T (steps)")
    axes[0].set_title(f"{name}: training-state words vs T")
    for rule, vals in mem["by_H"].items():
        axes[1].plot(mem["H"], vals, marker="o", ms=3, label=rule)
    axes[1].set_xlabel("hidden neurons H (784-H-10, T=50)")
    axes[1].set_title("training-state words vs layer size")
    for ax in axes:
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
