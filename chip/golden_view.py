"""The golden model seen through the core's memory map: what every access-port word must hold.

The lock-step testbenches (amaranth.sim in tests/rtl, cocotb in sim/) read the core's memories
through its access port and compare them with these dictionaries, ``{(mem, addr): value}``,
built from a :class:`plasticore.golden.network.Network` (replica 0). ``core`` is any
:class:`~.memmap.MemoryMap` (a core, or ``chip.cycles.core_model``).
"""

from __future__ import annotations

import numpy as np

from plasticore.golden.network import Network

from .memmap import Mem, MemoryMap, flags_word

__all__ = ["golden_words", "golden_grads", "golden_params", "golden_flags", "gated_neurons",
           "queued_neurons"]


def golden_words(core: MemoryMap, net: Network, grads: bool = True) -> dict:
    """Every per-sample state word (neuron state, perturbation bits, traces); ``grads`` adds the
    ghat/ehat of every synapse."""
    words = {}
    for k, layer in enumerate(net.layers):
        for i in range(layer.n_neurons):
            words[(Mem.STATE, core.neuron_base[k] + i)] = {
                "a": int(layer.a[0, i]), "c": int(layer.c[0, i]),
                "grade_sum": int(layer.grade_sum[0, i]), "grade_total": int(layer.grade_total[0, i]),
                "count": int(layer.count[0, i]), "last_step": int(layer.last_step[0, i])}
            if k < core.n_layers - 1:
                words[(Mem.PERTURB, core.neuron_base[k] + i)] = int(layer.perturbation[0, i] > 0)
        for j in range(layer.n_inputs):
            words[(Mem.TRACE, core.trace_base[k] + j)] = {
                "x": int(layer.trace_x[0, j]), "y": int(layer.trace_y[0, j])}
    if grads:
        words.update(golden_grads(core, net))
    return words


def golden_grads(core: MemoryMap, net: Network) -> dict:
    """ghat (and ehat, with the reset path) of every synapse."""
    words = {}
    for k, layer in enumerate(net.layers):
        for idx in range(layer.n_neurons * layer.n_inputs):
            i, j = divmod(idx, layer.n_inputs)
            word = {"ghat": int(layer.ghat[0, i, j])}
            if core.config.reset_path:
                word["ehat"] = int(layer.ehat[0, i, j])
            words[(Mem.GRAD, core.weight_base[k] + idx)] = word
    return words


def golden_params(core: MemoryMap, net: Network) -> dict:
    """Weights and feedback."""
    words = {}
    for k, layer in enumerate(net.layers):
        for idx, value in enumerate(np.asarray(layer.w[0]).ravel()):
            words[(Mem.WEIGHT, core.weight_base[k] + idx)] = int(value)
    for k, fb in enumerate(net.feedback):
        for idx, value in enumerate(np.asarray(fb[0]).ravel()):
            words[(Mem.FEEDBACK, core.feedback_base[k] + idx)] = int(value)
    return words


def golden_flags(net: Network) -> int:
    """The sticky overflow flags as the core's status word (bit k = FLAG_NAMES[k])."""
    return flags_word(net)


def gated_neurons(net: Network) -> list[list[int]]:
    """The hidden neurons (replica 0) whose surrogate gate (spec 5.2) opens in the coming step,
    per layer (none in the output layer), from the state before the step: call before
    ``net.step``."""
    cfg = net.config
    out = []
    for k, layer in enumerate(net.layers):
        if k == len(net.layers) - 1:
            out.append([])
            continue
        a = (layer.a[0] * cfg.rho_q) >> 16
        c = (layer.c[0] * cfg.rho_s_q) >> 16
        gate = np.abs(a - c - cfg.threshold_q) <= cfg.surrogate_width_q
        out.append([int(i) for i in np.nonzero(gate)[0]])
    return out


def queued_neurons(net: Network, gated: list[list[int]]) -> list[list[int]]:
    """The neurons of each layer the eligibility engine served in the step just run (the cycle
    models' ``spikers``): the spiking ones, or with the surrogate eligibility ``gated``
    (:func:`gated_neurons` before the step)."""
    if net.config.eligibility == "surrogate":
        return gated
    return [[int(i) for i in np.nonzero(layer.spikes[0])[0]] for layer in net.layers]
