"""experiments/feature_probe.py: the probe sees the layer it claims to see (docs/learning.md §20)."""

from pathlib import Path

import numpy as np
import pytest

from plasticore.golden import datasets
from plasticore.golden import train as golden_train
from plasticore.golden.network import Network
from plasticore.golden.resolve import resolve_config
from plasticore.host import cli

from expkit import load_script

pytest.importorskip("sklearn")

fp = load_script(Path(__file__).resolve().parents[2] / "experiments" / "feature_probe.py")

ARGS = ["--dataset", "digits", "--epochs", "1", "--seeds", "0,1", "--limit", "120",
        "--test-limit", "60", "--quiet"]


def _run(*extra):
    argv = [*ARGS, *extra]
    return fp.run(fp.build_parser().parse_args(argv), argv)


def test_readout_leaves_the_probed_layer_random():
    record = _run("--rule", "readout")
    for row in record["per_seed"]:
        assert row["trained_probe_accuracy"] == row["random_probe_accuracy"]
        assert row["probe_gain"] == 0.0
        assert row["trained_hidden_spikes_per_neuron"] == row["random_hidden_spikes_per_neuron"]


def test_sfdfa_probe_reads_each_seeds_trained_layer():
    record = _run("--rule", "sfdfa", "--set", "lr_hidden_shift=10")
    # the hidden rate the trainer's own evaluation measured on the test images, per seed
    assert [row["trained_hidden_spikes_per_neuron"] for row in record["per_seed"]] == \
        pytest.approx(record["history"][-1]["hidden_spikes_per_neuron"], abs=1e-12)
    assert any(row["trained_hidden_spikes_per_neuron"] != row["random_hidden_spikes_per_neuron"]
               for row in record["per_seed"])
    assert record["summary"]["probe_gain"]["per_seed"] == pytest.approx(
        [r["trained_probe_accuracy"] - r["random_probe_accuracy"] for r in record["per_seed"]])


def test_hidden_counts_match_one_network_run():
    config = resolve_config("digits")
    data = datasets.load("digits")
    weights, feedback = Network.initial_weights(config, 3)
    pixels = data.x_test[:7]
    counts = fp.hidden_counts(config, weights, feedback, pixels, chunk=3)
    whole = Network(config, weights, feedback, batch=len(pixels), seed=None, eligibility=False)
    expected = whole.run(golden_train.encode_images(config, pixels)).counts[0]
    np.testing.assert_array_equal(counts, expected)
    assert counts.shape == (7, config.layers[1])


def test_plot_from_a_results_file(tmp_path):
    record = _run("--rule", "readout")
    results = tmp_path / "probe.json"
    cli._write_json(results, record)
    png = tmp_path / "plots" / "probe.png"
    assert fp.main(["--from-json", str(results), "--plot", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(SystemExit, match="needs --plot"):
        fp.main(["--from-json", str(results)])
