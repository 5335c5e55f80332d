"""NIR export and import: a trained network as a graph that snnTorch, Norse, Lava, Rockpool,
Sinabs, Xylo and SpiNNaker2 read, and a graph the chip can run as a configuration and weights.

    from plasticore.host import nir as pnir
    graph = pnir.to_nir(config, weights)          # weights: words (int) or floats, per layer
    pnir.write("net.nir", graph)
    config, weights = pnir.from_nir(pnir.read("net.nir"))   # weights as floats

Needs the ``nir`` package (``pip install 'plasticore[nir]'``); running a graph in snnTorch
(:func:`run_snntorch`) needs the ``torch`` extra. Nothing here imports Amaranth.

The graph
---------
``input -> fc1 -> lif1 -> fc2 -> lif2 ... -> output``: one ``Affine`` node per layer (the weights
as floats, ``word / 2**weight.frac``; zero bias) and one ``CubaLIF`` node per layer of neurons.

The mapping of one chip step to NIR's continuous-time CubaLIF
------------------------------------------------------------
NIR's CubaLIF is ``tau_syn I' = -I + w_in S``, ``tau_mem v' = (v_leak - v) + r I``, spike when
``v > v_threshold``. Readers step it with forward Euler at their time step ``dt``:
``I <- (1 - dt/tau_syn) I + (dt/tau_syn) w_in S``, ``v <- (1 - dt/tau_mem) v + (dt/tau_mem) r I``.
The chip's neuron (``docs/spec.md``) keeps ``A`` and ``C`` decaying by ``rho = exp(-1/tau)`` and
``rho_s = exp(-1/tau_s)`` per step (``tau``, ``tau_s`` in steps); its membrane ``u = A - C`` is
exactly such a two-stage filter: with ``I`` decaying by ``rho_s``, ``v`` by ``rho`` and an input
gain ``rho - rho_s``, ``v`` at step ``t`` equals ``u`` at step ``t + 1``. So, with ``dt`` the
duration of one chip step (default :data:`DT` = 1e-4 s, the step snnTorch's NIR reader assumes):

* ``tau_syn = dt / (1 - rho_s)``, ``tau_mem = dt / (1 - rho)``: the time constants whose Euler
  step is the chip's exact decay (about ``dt * (tau + 1/2)``, not ``dt * tau``);
* ``r = tau_mem / dt`` (``v`` adds ``I`` once per step) and ``w_in = (rho - rho_s) tau_syn / dt``
  (the input gain ``rho - rho_s``), so the Affine weights stay the chip's weights;
* ``v_threshold = threshold`` (membrane units, the chip's ``Config.threshold``), ``v_leak = 0``.

Reset. The chip's reset is **subtractive**: a neuron that spikes loses ``threshold`` from its
membrane (``A -= theta`` before the next decay), keeping the overshoot. NIR's CubaLIF has only a
reset to ``v_reset``; the exported nodes carry ``v_reset = 0`` to satisfy the format and say in
their metadata ``reset = "subtractive"`` (amount ``threshold``, applied right after the spike,
before the next step's decay). A reader that ignores the metadata resets to zero and counts fewer
spikes: snnTorch's own reader (``snntorch.import_nir.import_from_nir``) gives 1.32 instead of
2.04 output spikes per neuron and the same class on 78 % of 200 test digits, where
:func:`run_snntorch` with the subtractive reset gives the golden float model's counts exactly
(``tests/host/test_nir.py`` states and checks both).
The chip spikes at ``u >= theta``, NIR at ``v > theta``: the two differ only on exact equality.

Timing. In the chip each layer passes its spikes on with one step of delay and the membrane
is read one step after the input lands; a stacked reader has neither delay. Layer ``k``
(0-based) of the reader spikes at its step ``t`` where the chip's spikes at ``t + k + 1``; over a
window of ``n_steps`` chip steps the reader's first ``n_steps - k - 1`` steps hold the same
spikes (metadata ``delay_steps``). :func:`run_snntorch` returns counts on the chip's time axis.

Import (:func:`from_nir`) takes such a chain and refuses by name what the chip cannot run:
recurrence (a cycle, a node feeding itself), node types other than Input, Affine, Linear,
CubaLIF and Output, branches, a non-zero bias or leak voltage, per-neuron time constants or
thresholds, ``tau_mem != 2 tau_syn`` (the chip's closed form), and sizes or weights the
configuration's formats cannot hold (``Config`` validation and ``weights_as_words``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from plasticore.golden.config import Config, ConfigError
from plasticore.golden.network import weights_as_floats

__all__ = ["DT", "NIRUnsupported", "to_nir", "from_nir", "write", "read", "run_snntorch",
           "nir_counts"]

#: seconds per chip step in an exported graph (snnTorch's NIR reader assumes 1e-4)
DT = 1e-4
SUPPORTED = ("Input", "Affine", "Linear", "CubaLIF", "Output")


class NIRUnsupported(ValueError):
    """A NIR graph the chip cannot run; the message names the node and what it asks for."""


def _nir():
    try:
        import nir
    except ImportError as error:
        raise ImportError(f"NIR export and import need the nir package: pip install "
                          f"'plasticore[nir]' ({error})") from None
    return nir


# --- export -----------------------------------------------------------------------------------------
def neuron_parameters(config: Config, dt: float = DT) -> dict:
    """The CubaLIF parameters of one chip neuron (scalars; see the module doc)."""
    rho, rho_s = config.rho, config.rho_s
    tau_syn, tau_mem = dt / (1 - rho_s), dt / (1 - rho)
    return {"tau_syn": tau_syn, "tau_mem": tau_mem, "r": tau_mem / dt,
            "w_in": (rho - rho_s) * tau_syn / dt, "v_leak": 0.0,
            "v_threshold": config.threshold, "v_reset": 0.0}


def to_nir(config: Config, weights, *, dt: float = DT):
    """The network of ``config`` with ``weights`` (one ``(N, J)`` array per layer: integer words
    as the chip and the fixed-point golden model hold them, or floats) as a ``nir.NIRGraph``."""
    if config.output_layer != "spiking":
        # nir.I would carry V_o = sum w s, but no reader here runs it yet (issue 23's rule)
        raise NIRUnsupported(f"output_layer={config.output_layer!r}: only spiking (CubaLIF) output "
                             f"layers are exported to NIR so far")
    nir = _nir()
    floats = _as_floats(config, weights)
    params = neuron_parameters(config, dt)
    nodes = {"input": nir.Input(input_type={"input": np.array([config.n_inputs])})}
    edges, previous = [], "input"
    for k, w in enumerate(floats, 1):
        n = w.shape[0]
        nodes[f"fc{k}"] = nir.Affine(weight=w, bias=np.zeros(n))
        full = {name: np.full(n, value, dtype=np.float64) for name, value in params.items()}
        nodes[f"lif{k}"] = nir.CubaLIF(**full, metadata={
            "reset": "subtractive",
            "reset_amount": float(config.threshold),
            "reset_timing": "right after the spike, before the next step's decay",
            "threshold_test": "v >= v_threshold",
            "dt": float(dt),
            "tau_steps": float(config.tau), "tau_s_steps": float(config.tau_s),
            "delay_steps": k,
        })
        edges += [(previous, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        previous = f"lif{k}"
    nodes["output"] = nir.Output(output_type={"output": np.array([config.n_outputs])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={
        "producer": "plasticore", "dt": float(dt), "n_steps": int(config.n_steps),
        "config": config.to_json(), "config_hash": config.hash})


def _as_floats(config: Config, weights) -> list[np.ndarray]:
    arrays = [np.asarray(w) for w in weights]
    if len(arrays) != len(config.layers) - 1:
        raise ValueError(f"expected {len(config.layers) - 1} weight arrays for layers "
                         f"{list(config.layers)}, got {len(arrays)}")
    for k, w in enumerate(arrays):
        want = (config.layers[k + 1], config.layers[k])
        if w.shape != want:
            raise ValueError(f"weights[{k}] has shape {w.shape}; expected {want}")
    if all(np.issubdtype(w.dtype, np.integer) for w in arrays):
        return weights_as_floats(config, arrays)
    return [w.astype(np.float64) for w in arrays]


def write(path, graph) -> Path:
    """Write ``graph`` to ``path`` (NIR's HDF5 file)."""
    _nir().write(str(path), graph)
    return Path(path)


def read(path):
    """Read a NIR file."""
    return _nir().read(str(path))


# --- import -----------------------------------------------------------------------------------------
def _meta(node) -> dict:
    """Node metadata with the bytes h5py gives back for strings decoded."""
    out = {}
    for key, value in (getattr(node, "metadata", None) or {}).items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        out[key] = value.decode() if isinstance(value, bytes) else value
    return out


def _chain(graph) -> list[str]:
    """The node names from the Input to the Output, refusing anything but a simple chain."""
    nodes = graph.nodes
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED:
            raise NIRUnsupported(f"node {name!r} is a {kind}; the chip runs only "
                                 f"{', '.join(SUPPORTED)} nodes")
    successors = {name: [] for name in nodes}
    predecessors = {name: [] for name in nodes}
    for src, dst in graph.edges:
        for end in (src, dst):
            if end not in nodes:
                raise NIRUnsupported(f"edge ({src!r}, {dst!r}) names no node {end!r}")
        if src == dst:
            raise NIRUnsupported(f"node {src!r} feeds itself: recurrence is not supported "
                                 f"(the chip's layers are feed-forward)")
        successors[src].append(dst)
        predecessors[dst].append(src)
    inputs = [n for n, node in nodes.items() if type(node).__name__ == "Input"]
    if len(inputs) != 1:
        raise NIRUnsupported(f"the graph has {len(inputs)} Input nodes ({inputs}); the chip takes one")
    order, seen, name = [], set(), inputs[0]
    while True:
        if name in seen:
            raise NIRUnsupported(f"the edges return to node {name!r}: recurrence is not supported "
                                 f"(the chip's layers are feed-forward)")
        seen.add(name)
        order.append(name)
        nxt = successors[name]
        if len(nxt) > 1:
            raise NIRUnsupported(f"node {name!r} feeds {len(nxt)} nodes {nxt}; the chip runs a "
                                 f"chain of layers, not branches")
        if not nxt:
            break
        name = nxt[0]
        if len(predecessors[name]) > 1:
            raise NIRUnsupported(f"node {name!r} has {len(predecessors[name])} inputs "
                                 f"{predecessors[name]}; the chip's layers have one")
    if type(nodes[order[-1]]).__name__ != "Output":
        raise NIRUnsupported(f"the chain from {order[0]!r} ends at {order[-1]!r}, not an Output node")
    if len(seen) != len(nodes):
        raise NIRUnsupported(f"nodes {sorted(set(nodes) - seen)} are not on the chain from the "
                             f"Input to the Output: recurrence and side branches are not supported")
    return order


def _uniform(name: str, field: str, values) -> float:
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if not np.allclose(values, values.flat[0], rtol=1e-9, atol=0):
        raise NIRUnsupported(f"node {name!r}: {field} differs between neurons "
                             f"({values.min()}..{values.max()}); the chip has one per network")
    return float(values.flat[0])


def from_nir(graph, *, base: Config | None = None, dt: float | None = None,
             accept_reset_to_zero: bool = False) -> tuple[Config, list[np.ndarray]]:
    """The configuration and float weights of a graph the chip can run (see the module doc).

    ``base`` gives every field the graph does not fix (default: the graph's own ``config``
    metadata when it was exported here, else ``Config()``); the graph fixes ``layers``, ``tau``,
    ``tau_s`` and ``threshold``. ``dt`` is the duration of one chip step in the graph's time
    unit (default: the graph's ``dt`` metadata, else :data:`DT`). A CubaLIF node whose metadata
    does not state the subtractive reset is refused unless ``accept_reset_to_zero`` (the chip
    will then reset by subtraction, not to ``v_reset``: a different network).

    Weights must fit the configuration's weight format: check with ``weights_as_words``.
    Raises :class:`NIRUnsupported` naming the node and the reason.
    """
    meta = _meta(graph)
    if base is None:
        base = Config.from_json(meta["config"]) if "config" in meta else Config()
    if dt is None:
        dt = float(meta.get("dt", DT))
    order = _chain(graph)
    nodes = graph.nodes
    kinds = [type(nodes[n]).__name__ for n in order[1:-1]]
    expected = ["Affine", "CubaLIF"] * (len(kinds) // 2)
    if len(kinds) < 4 or [k if k != "Linear" else "Affine" for k in kinds] != expected:
        raise NIRUnsupported(f"the chain {' -> '.join(order)} is not Input, then pairs of "
                             f"Affine/Linear and CubaLIF (at least two), then Output")
    sizes = [int(np.prod(nodes[order[0]].input_type["input"]))]
    weights, constants = [], None
    for index in range(1, len(order) - 1, 2):
        fc_name, lif_name = order[index], order[index + 1]
        fc, lif = nodes[fc_name], nodes[lif_name]
        w = np.asarray(fc.weight, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != sizes[-1]:
            raise NIRUnsupported(f"node {fc_name!r}: weight of shape {w.shape} does not take "
                                 f"{sizes[-1]} inputs")
        bias = np.asarray(getattr(fc, "bias", 0.0))
        if np.any(bias != 0):
            raise NIRUnsupported(f"node {fc_name!r} has a non-zero bias; the chip has none")
        n = w.shape[0]
        if np.asarray(lif.v_threshold).size != n:
            raise NIRUnsupported(f"node {lif_name!r} has {np.asarray(lif.v_threshold).size} "
                                 f"neurons but {fc_name!r} gives {n}")
        tau_syn = _uniform(lif_name, "tau_syn", lif.tau_syn)
        tau_mem = _uniform(lif_name, "tau_mem", lif.tau_mem)
        if _uniform(lif_name, "v_leak", lif.v_leak) != 0:
            raise NIRUnsupported(f"node {lif_name!r} has a non-zero v_leak; the chip leaks to 0")
        if not dt < tau_syn:
            raise NIRUnsupported(f"node {lif_name!r}: tau_syn = {tau_syn} is not above the step "
                                 f"dt = {dt}")
        rho, rho_s = 1 - dt / tau_mem, 1 - dt / tau_syn
        tau, tau_s = -1 / math.log(rho), -1 / math.log(rho_s)
        if not math.isclose(tau, 2 * tau_s, rel_tol=1e-6):
            raise NIRUnsupported(f"node {lif_name!r}: tau_mem and tau_syn give {tau:.6g} and "
                                 f"{tau_s:.6g} steps at dt = {dt}; the chip needs tau = 2 tau_s")
        # the graph's input gain and resistance, folded into the weights (1 for our own export)
        w_in = _uniform(lif_name, "w_in", lif.w_in)
        r = _uniform(lif_name, "r", lif.r)
        gain = (w_in * dt / tau_syn) * (r * dt / tau_mem) / (rho - rho_s)
        threshold = _uniform(lif_name, "v_threshold", lif.v_threshold)
        lif_meta = _meta(lif)
        if lif_meta.get("reset") != "subtractive":
            v_reset = _uniform(lif_name, "v_reset", getattr(lif, "v_reset", 0.0))
            if not accept_reset_to_zero:
                raise NIRUnsupported(
                    f"node {lif_name!r} resets to v_reset = {v_reset} (NIR's CubaLIF); the chip "
                    f"resets by subtracting the threshold. from_nir(..., accept_reset_to_zero="
                    f"True) runs it with the chip's reset (a different network)")
        if constants is None:
            constants = (tau, tau_s, threshold)
        elif not np.allclose(constants, (tau, tau_s, threshold), rtol=1e-6):
            raise NIRUnsupported(f"node {lif_name!r}: tau, tau_s or threshold differ from the "
                                 f"first layer's {constants}; the chip has one set per network")
        weights.append(w * gain)
        sizes.append(n)
    tau, tau_s, threshold = constants
    tau = float(f"{tau:.6g}")  # float32 exporters (snnTorch) carry about 7 significant digits
    try:
        config = base.replace(layers=tuple(sizes), tau=tau, tau_s=tau / 2,
                              threshold=round(threshold, 12))
    except ConfigError as error:
        raise NIRUnsupported(f"the chip cannot take this network: {error}") from None
    return config, weights


# --- running a graph ---------------------------------------------------------------------------------
def nir_counts(spikes: list) -> list:
    """Spike counts per layer from (B, T, N) spike trains (any array type with ``.sum``)."""
    return [s.sum(1) for s in spikes]


def run_snntorch(graph, rasters, *, reset: str = "metadata", dt: float | None = None):
    """Run a chain graph in snnTorch (``snntorch.Synaptic`` per CubaLIF node, built from the
    node's NIR parameters alone, float64) on input rasters ``(B, n_steps, inputs)`` and return
    the spike counts of every layer, ``(B, N_k)`` numpy arrays, on the chip's time axis (layer
    ``k`` counted over the reader's first ``n_steps - k - 1`` steps; see the module doc).

    ``reset``: ``"metadata"`` (the node's metadata: subtractive for our export, else NIR's reset
    to ``v_reset``), ``"subtractive"`` or ``"zero"`` (what a reader ignoring the metadata does).
    """
    import snntorch
    import torch

    if reset not in ("metadata", "subtractive", "zero"):
        raise ValueError(f"reset must be 'metadata', 'subtractive' or 'zero', not {reset!r}")
    meta = _meta(graph)
    dt = float(meta.get("dt", DT)) if dt is None else dt
    order = _chain(graph)
    layers = []
    for index in range(1, len(order) - 1, 2):
        fc, lif = graph.nodes[order[index]], graph.nodes[order[index + 1]]
        w = torch.tensor(np.asarray(fc.weight), dtype=torch.float64)
        bias = torch.tensor(np.asarray(fc.bias), dtype=torch.float64)
        tau_syn, tau_mem = np.asarray(lif.tau_syn, float), np.asarray(lif.tau_mem, float)
        in_gain = torch.tensor(np.asarray(lif.w_in, float) * dt / tau_syn)
        mem_gain = torch.tensor(np.asarray(lif.r, float) * dt / tau_mem)
        mode = reset if reset != "metadata" else (
            "subtractive" if _meta(lif).get("reset") == "subtractive" else "zero")
        # snnTorch's Synaptic adds the current to its membrane with gain 1 (mem <- beta mem +
        # syn): NIR's v is mem_gain * mem, so threshold and reset level are divided by it
        # (mem_gain = r dt / tau_mem = 1 for our export)
        neuron = snntorch.Synaptic(
            alpha=torch.tensor(1 - dt / tau_syn, dtype=torch.float64),
            beta=torch.tensor(1 - dt / tau_mem, dtype=torch.float64),
            threshold=torch.tensor(np.asarray(lif.v_threshold, float), dtype=torch.float64) / mem_gain,
            reset_mechanism="none")
        layers.append((w, bias, in_gain, mem_gain, neuron, mode,
                       torch.tensor(np.asarray(getattr(lif, "v_reset", 0.0), float))))
    x = torch.as_tensor(np.asarray(rasters), dtype=torch.float64)
    B, T, _ = x.shape
    state = [(torch.zeros(B, w.shape[0], dtype=torch.float64),) * 2 for w, *_ in layers]
    out = [[] for _ in layers]
    with torch.no_grad():
        for t in range(T):
            inp = x[:, t]
            for k, (w, bias, in_gain, mem_gain, neuron, mode, v_reset) in enumerate(layers):
                syn, mem = state[k]
                spk, syn, mem = neuron(in_gain * (inp @ w.T + bias), syn, mem)
                spk = spk.to(torch.float64)  # snnTorch's spike functions return float32
                fired = spk > 0
                if mode == "subtractive":  # the chip's: keep the overshoot
                    mem = mem - fired * neuron.threshold
                else:                      # NIR's CubaLIF: back to v_reset
                    mem = torch.where(fired, v_reset / mem_gain, mem)
                state[k] = (syn, mem)
                out[k].append(spk)
                inp = spk
    counts = []
    for k, o in enumerate(out):
        s = torch.stack(o, dim=1)[:, :max(T - k - 1, 0)]
        counts.append(s.sum(1).numpy().astype(np.int64))
    return counts


def describe(graph) -> str:
    """One line per node: its type and shape (for logs)."""
    lines = []
    for name in _chain(graph):
        node = graph.nodes[name]
        shape = getattr(node, "weight", None)
        lines.append(f"{name}: {type(node).__name__}"
                     + (f" {tuple(np.asarray(shape).shape)}" if shape is not None else ""))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    import sys
    print(describe(read(sys.argv[1])))
    print(json.dumps(_meta(read(sys.argv[1])), indent=1, default=str)[:2000])
