"""experiments/finding_plot.py: the figure of docs/finding.md shows the stored runs' margins."""

import json
from pathlib import Path

import numpy as np
import pytest

from expkit import load_script

fplot = load_script(Path(__file__).resolve().parents[2] / "experiments" / "finding_plot.py")


def _final(name):
    record = json.loads((fplot.RESULTS / name).read_text())
    return 100 * np.array(record["history"][-1]["test_accuracy"]), record


def test_margins_are_paired_by_seed_against_the_stored_control():
    rows = {row["label"]: row for row in fplot.gather()}
    sfdfa = rows["SFDFA, 128 hidden\n(output 2^-8, control 2^-8)"]
    assert sfdfa["seeds"] == [0, 1, 2, 3, 4]
    chip = np.concatenate([_final("probe_mnist60k_sfdfa.json")[0], _final("mnist60k_sfdfa_o8_h17_s34.json")[0]])
    control = np.concatenate([_final("mnist60k_readout_o8.json")[0], _final("mnist60k_readout_o8_s34.json")[0]])
    np.testing.assert_allclose(sfdfa["margin"], chip - control)
    probe = _final("probe_mnist60k_sfdfa.json")[1]
    np.testing.assert_allclose(sfdfa["probe_gain"], [100 * r["probe_gain"] for r in probe["per_seed"]])


def test_a_control_of_other_seeds_is_refused():
    rows = (("mismatch", ["probe_mnist60k_sfdfa.json"], ["mnist60k_readout_o8_s34.json"]),)
    with pytest.raises(ValueError, match="seeds"):
        fplot.gather(rows)


def test_a_missing_results_file_is_named():
    rows = (("gone", ["no_such_run.json"], ["mnist60k_readout_o8.json"]),)
    with pytest.raises(FileNotFoundError, match="no_such_run.json"):
        fplot.gather(rows)


def test_plot_writes_a_png(tmp_path):
    path = fplot.plot(fplot.gather(), tmp_path / "finding.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
