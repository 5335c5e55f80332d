"""NIR export and import (host/nir.py): round trips, refusals by name, and the exported network
run in snnTorch against the golden float model on a digits test batch.

Measured agreement (digits 64-128-10 after 200 training samples, 200 test digits; this file):
* snnTorch ``Synaptic`` neurons built from the graph's parameters alone, honouring the nodes'
  ``reset = "subtractive"`` metadata, float64: the golden float model's spike counts exactly,
  every neuron of every layer of every sample;
* snnTorch's own NIR reader (``snntorch.import_nir.import_from_nir``, snnTorch 1.0.0), which
  resets to zero as NIR's CubaLIF says and runs in float32: fewer spikes (1.32 against 2.04
  output spikes per neuron), 55 % of the output counts equal, the same predicted class on 78 % of
  the digits. The test bounds that margin (fewer spikes on average, class agreement >= 70 %, and
  > 95 % of the counts equal to ``run_snntorch(..., reset="zero")``): the difference is the
  reset, not the mapping. Switching that reader's neurons to snnTorch's own subtractive reset
  gives 86 % equal counts and 94 % equal classes, not all: snnTorch subtracts a second time at
  the next step when the membrane is still above threshold after the first subtraction, and it
  computes in float32.
"""

import contextlib
import io

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.presets import THESIS_DIGITS
from plasticore.golden.network import Network, weights_as_floats, weights_as_words
from plasticore.golden.train import encode_images, layer_counts, train
from plasticore.host import nir as pnir
from plasticore.host.cli import resolve_config


@pytest.fixture(scope="module")
def trained():
    """A digits network after 200 training samples (words), its config and a test batch."""
    config = resolve_config("digits", settings=THESIS_DIGITS.items())   # CubaLIF outputs
    data = datasets.load("digits")
    result = train(config, data, epochs=1, seeds=[0], limit=200, test_limit=20, progress=False)
    words = [w[0] for w in result.network.weights()]
    return config, words, data.x_test[:200]


def golden_float_counts(config, floats, pixels):
    feedback = [np.zeros((config.n_outputs, n)) for n in config.hidden_sizes]
    return layer_counts(config, floats, feedback, pixels, fixed=False)


# --- export and round trip -------------------------------------------------------------------------
def test_export_maps_each_step_exactly(trained):
    config, words, _ = trained
    graph = pnir.to_nir(config, words)
    assert list(graph.nodes) == ["input", "fc1", "lif1", "fc2", "lif2", "output"]
    lif = graph.nodes["lif1"]
    dt = pnir.DT
    # forward Euler at dt gives the chip's decays, input gain rho - rho_s, unit resistance
    np.testing.assert_allclose(1 - dt / lif.tau_syn, config.rho_s, rtol=1e-12)
    np.testing.assert_allclose(1 - dt / lif.tau_mem, config.rho, rtol=1e-12)
    np.testing.assert_allclose(lif.w_in * dt / lif.tau_syn, config.rho - config.rho_s, rtol=1e-12)
    np.testing.assert_allclose(lif.r * dt / lif.tau_mem, 1.0, rtol=1e-12)
    np.testing.assert_array_equal(lif.v_threshold, config.threshold)
    assert lif.metadata["reset"] == "subtractive" and lif.metadata["reset_amount"] == config.threshold
    np.testing.assert_array_equal(graph.nodes["fc2"].weight, words[1] / config.weight.one)


def test_file_round_trip_gives_the_same_network(trained, tmp_path):
    config, words, _ = trained
    path = pnir.write(tmp_path / "net.nir", pnir.to_nir(config, words))
    back, floats = pnir.from_nir(pnir.read(path))
    assert back == config and back.hash == config.hash
    for ours, theirs in zip(words, weights_as_words(back, floats)):
        np.testing.assert_array_equal(ours, theirs)


def test_import_without_our_metadata_takes_base_and_dt(trained):
    config, words, _ = trained
    graph = pnir.to_nir(config, words, dt=1e-3)
    graph.metadata = {}
    back, floats = pnir.from_nir(graph, dt=1e-3, base=Config(n_steps=60))
    assert back.layers == config.layers and back.n_steps == 60
    assert back.tau == pytest.approx(config.tau) and back.threshold == config.threshold
    np.testing.assert_allclose(floats[0], words[0] / config.weight.one, rtol=1e-12)


def test_weights_as_words_refuses_what_the_format_cannot_hold():
    config = Config(layers=(4, 3, 2))
    too_big = [np.full((3, 4), 1e6), np.zeros((2, 3))]
    with pytest.raises(ValueError, match=r"weights\[0\] span .* outside the weight format"):
        weights_as_words(config, too_big)
    assert weights_as_words(config, too_big, saturate=True)[0].max() == config.weight.hi
    words = weights_as_words(config, weights_as_floats(config, [np.arange(12).reshape(3, 4),
                                                                np.ones((2, 3), int)]))
    np.testing.assert_array_equal(words[0], np.arange(12).reshape(3, 4))


# --- refusals ----------------------------------------------------------------------------------------
def small_graph():
    config = Config(layers=(4, 3, 2))
    weights, _ = Network.initial_weights(config, 0)
    return pnir.to_nir(config, weights)


def test_refuses_recurrence_by_name():
    graph = small_graph()
    graph.edges.append(("lif1", "lif1"))
    with pytest.raises(pnir.NIRUnsupported, match="'lif1' feeds itself: recurrence"):
        pnir.from_nir(graph)
    graph = small_graph()
    graph.nodes["rec"] = nir.Affine(weight=np.eye(3), bias=np.zeros(3))
    graph.edges += [("lif1", "rec"), ("rec", "fc2")]
    with pytest.raises(pnir.NIRUnsupported, match="'lif1' feeds 2 nodes"):
        pnir.from_nir(graph)


def test_refuses_unsupported_nodes_and_parameters():
    graph = small_graph()
    graph.nodes["lif1"] = nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3),
                                  v_threshold=np.ones(3))
    with pytest.raises(pnir.NIRUnsupported, match="node 'lif1' is a LIF; the chip runs only"):
        pnir.from_nir(graph)
    graph = small_graph()
    graph.nodes["fc1"].bias = np.ones(3)
    with pytest.raises(pnir.NIRUnsupported, match="'fc1' has a non-zero bias"):
        pnir.from_nir(graph)
    graph = small_graph()
    graph.nodes["lif2"].tau_mem = graph.nodes["lif2"].tau_mem * np.array([1.0, 1.5])
    with pytest.raises(pnir.NIRUnsupported, match="'lif2': tau_mem differs between neurons"):
        pnir.from_nir(graph)
    graph = small_graph()
    graph.nodes["lif1"].tau_mem = graph.nodes["lif1"].tau_mem * 2
    with pytest.raises(pnir.NIRUnsupported, match="'lif1'.*needs tau = 2 tau_s"):
        pnir.from_nir(graph)
    graph = small_graph()
    graph.nodes["lif1"].v_leak = np.full(3, 0.5)
    with pytest.raises(pnir.NIRUnsupported, match="'lif1' has a non-zero v_leak"):
        pnir.from_nir(graph)


def test_refuses_reset_to_zero_unless_accepted():
    graph = small_graph()
    for name in ("lif1", "lif2"):
        graph.nodes[name].metadata = {}
    with pytest.raises(pnir.NIRUnsupported, match="'lif1' resets to v_reset = 0.0.*subtracting"):
        pnir.from_nir(graph)
    config, _ = pnir.from_nir(graph, accept_reset_to_zero=True)
    assert config.layers == (4, 3, 2)


def test_refuses_sizes_the_chip_cannot_take():
    config = Config(layers=(4, 3, 2))
    weights = [np.zeros((70000, 4)), np.zeros((2, 70000))]
    graph = pnir.to_nir(config, [np.zeros((3, 4)), np.zeros((2, 3))])
    graph.nodes["fc1"] = nir.Affine(weight=weights[0], bias=np.zeros(70000))
    for name in ("lif1",):
        old = graph.nodes[name]
        graph.nodes[name] = nir.CubaLIF(**{f: np.full(70000, getattr(old, f)[0]) for f in (
            "tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")},
            metadata=old.metadata)
    graph.nodes["fc2"] = nir.Affine(weight=weights[1], bias=np.zeros(2))
    with pytest.raises(pnir.NIRUnsupported, match=r"the chip cannot take this network: layers\[1\]"):
        pnir.from_nir(graph)


@pytest.mark.filterwarnings("ignore:nirtorch.extract_nir_graph is being deprecated:DeprecationWarning")
def test_imports_a_graph_snntorch_exported():
    """A third-party producer: snnTorch's exporter (Synaptic neurons with the chip's decays, reset
    to zero by NIR's definition): refused as it is, taken with the chip's reset on request."""
    pytest.importorskip("nirtorch")
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir

    config = Config(layers=(64, 16, 10))

    def synaptic(n, **kw):  # per-neuron parameters: snnTorch exports scalars with shape ()
        return snn.Synaptic(alpha=torch.full((n,), config.rho_s), beta=torch.full((n,), config.rho),
                            threshold=torch.ones(n), init_hidden=True, **kw)

    net = torch.nn.Sequential(torch.nn.Linear(64, 16, bias=False), synaptic(16),
                              torch.nn.Linear(16, 10, bias=False), synaptic(10, output=True))
    with contextlib.redirect_stdout(io.StringIO()):
        graph = export_to_nir(net, torch.zeros(64))
    with pytest.raises(pnir.NIRUnsupported, match="resets to v_reset"):
        pnir.from_nir(graph)
    imported, weights = pnir.from_nir(graph, accept_reset_to_zero=True)
    assert imported.layers == (64, 16, 10) and imported.tau == 10.0 and imported.threshold == 1.0
    # snnTorch's current has gain 1, the chip's rho - rho_s: folded into the weights
    np.testing.assert_allclose(weights[1] * (config.rho - config.rho_s),
                               net[2].weight.detach().numpy(), rtol=1e-5)


# --- running the export in snnTorch --------------------------------------------------------------
def test_snntorch_run_gives_the_golden_float_counts(trained):
    pytest.importorskip("snntorch")
    config, words, pixels = trained
    graph = pnir.to_nir(config, words)
    gold = golden_float_counts(config, weights_as_floats(config, words), pixels)
    ours = pnir.run_snntorch(graph, encode_images(config, pixels))
    for k, (a, b) in enumerate(zip(ours, gold)):
        np.testing.assert_array_equal(a, b, err_msg=f"layer {k}")
    assert gold[-1].sum() > 0 and gold[0].sum() > 0


def test_snntorch_reader_resets_to_zero_within_the_stated_margin(trained):
    pytest.importorskip("nirtorch")
    import snntorch
    import snntorch.utils
    import torch
    from snntorch.import_nir import import_from_nir

    config, words, pixels = trained
    graph = pnir.to_nir(config, words)
    gold = golden_float_counts(config, weights_as_floats(config, words), pixels)[-1]
    with contextlib.redirect_stdout(io.StringIO()):  # it prints a warning about the input gain
        net = import_from_nir(graph)
    snntorch.utils.reset(net)
    rasters = torch.tensor(encode_images(config, pixels), dtype=torch.float32)
    with torch.no_grad():  # the output layer is 2 steps ahead of the chip's: n_steps - 2 steps
        counts = sum(net(rasters[:, t])[0] for t in range(config.n_steps - 2)).numpy()
    assert counts.mean() < gold.mean()                      # a reset to zero removes more
    assert np.mean(counts.argmax(1) == gold.argmax(1)) >= 0.7
    # the same reader with the chip's reset as pnir.run_snntorch runs it: the same counts
    ours = pnir.run_snntorch(graph, encode_images(config, pixels), reset="zero")[-1]
    assert np.mean(ours == counts) > 0.95


def test_export_refuses_an_integrate_output_layer_by_name():
    config = resolve_config("digits")                      # the chip's rule: integrate outputs
    weights, _ = Network.initial_weights(config, 0)
    with pytest.raises(pnir.NIRUnsupported, match="output_layer='integrate'"):
        pnir.to_nir(config, weights)
