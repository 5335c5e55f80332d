"""The golden benchmark script (bench/golden.py), run as a user runs it: a tiny digits run."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "golden.py"
RULES = ("sfdfa", "dfa", "readout")
ARITHMETICS = ("fixed", "float")


def run_bench(*args, timeout=60):
    # warnings are errors here as under pytest, in the script and in its worker processes
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False, env=env)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("golden-bench")
    result = run_bench("--datasets", "digits", "--epochs", "1", "--limit", "40", "--seeds", "0,1",
                       "--jobs", "1", "--out", str(out), timeout=600)   # a guard against hangs, not a speed test
    return result, out


def test_tiny_run_succeeds(tiny_run):
    result, _ = tiny_run
    assert result.returncode == 0, result.stderr


def test_table_has_six_rows(tiny_run):
    result, _ = tiny_run
    lines = result.stdout.splitlines()
    rows = [line.split() for line in lines if line.startswith("digits ")]
    rows = [r for r in rows if r[1] in RULES and r[2] in ARITHMETICS]
    assert sorted((r[1], r[2]) for r in rows) == sorted((a, b) for a in RULES for b in ARITHMETICS)
    header = next(line for line in lines if line.startswith("dataset  rule"))
    for column in ("test % (final)", "best-epoch test %", "train %", "spk/n", "align", "samples/s",
                   "bits/syn"):
        assert column in header
    # the differences after the rows
    for what in ("SFDFA: fixed - float", "DFA: fixed - float", "readout: fixed - float",
                 "readout: fixed - float (running train)", "fixed: SFDFA - readout", "fixed: SFDFA - DFA", "float: SFDFA - readout",
                 "float: SFDFA - DFA"):
        assert what in result.stdout
    assert "bits of state per synapse" in result.stdout  # the footnote


def test_json_rows_and_std_over_two_seeds(tiny_run):
    _, out = tiny_run
    report = json.loads((out / "golden.json").read_text())
    for key in ("command", "wall_time_s", "machine", "settings", "rows", "differences"):
        assert key in report
    for key in ("platform", "cpu_count", "numpy"):
        assert key in report["machine"]
    assert "--limit 40" in report["command"]
    assert report["settings"]["datasets"]["digits"]["n_train"] == 40
    rows = report["rows"]
    assert len(rows) == 6
    expected = {(a, b) for a in RULES for b in ARITHMETICS}
    assert {(r["rule"], r["arithmetic"]) for r in rows} == expected
    for row in rows:
        assert "error" not in row
        assert row["seeds"] == [0, 1]
        assert row["config"]["layers"] == [64, 128, 10]     # the digits preset
        assert row["config"]["rule"] == row["rule"]
        assert len(row["config_hash"]) == 16 and len(row["core_hash"]) == 16
        # default formats; the preset's surrogate eligibility keeps no ehat
        assert row["config"]["eligibility"] == "surrogate"
        assert row["bits_per_synapse"] == 16 + 16
        assert row["samples_per_second"] > 0
        assert len(row["history"]) == 1
        per_seed = row["per_seed"]
        for key in ("test_accuracy", "best_test_accuracy", "train_accuracy",
                    "hidden_spikes_per_neuron", "feedback_alignment"):
            assert len(per_seed[key]) == 2
        a, b = per_seed["test_accuracy"]
        assert math.isclose(row["test_accuracy"], (a + b) / 2)
        assert math.isclose(row["test_accuracy_std"], abs(a - b) / 2, abs_tol=1e-12)  # ddof=0
        a, b = per_seed["best_test_accuracy"]
        assert math.isclose(row["best_test_accuracy_std"], abs(a - b) / 2, abs_tol=1e-12)
    assert len(report["differences"]) == 10
    assert all(d["points"] is not None and len(d["per_seed"]) == 2 for d in report["differences"])
    # the running-train gap is paired from the rows' own per-seed train accuracies
    rows = {(r["rule"], r["arithmetic"]): r["per_seed"]["train_accuracy"] for r in report["rows"]}
    gap = next(d for d in report["differences"]
               if d["difference"] == "DFA: fixed - float (running train)")
    expected = [100 * (f - g) for f, g in zip(rows[("dfa", "fixed")], rows[("dfa", "float")])]
    assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(gap["per_seed"], expected))


def test_markdown_table(tiny_run):
    _, out = tiny_run
    text = (out / "golden.md").read_text()
    lines = text.splitlines()
    assert any(line.startswith("| dataset | rule | arith | test % (final) |") for line in lines)
    assert sum(line.startswith("| digits | ") and line.split(" | ")[2] in ARITHMETICS
               for line in lines) == 6
    assert "bits of state per synapse" in text


@pytest.mark.parametrize("override", ["no_such_field=1", "rule=dfa", "lr_hidden_shift=-3",
                                      "reset_path"])
def test_invalid_override_exits_2(override, tmp_path):
    result = run_bench("--datasets", "digits", "--set", override, "--out", str(tmp_path))
    assert result.returncode == 2
    assert "error" in result.stderr
    assert not (tmp_path / "golden.json").exists()


def test_probe_rows_and_resume(tmp_path):
    """--probe measures the hidden layer's linear probe before and after training: the readout
    control never changes the hidden layer, so its two probes are equal to the last digit. A
    second run with --resume keeps the finished row instead of training it again."""
    args = ("--datasets", "digits", "--epochs", "1", "--limit", "30", "--seeds", "0", "--jobs",
            "1", "--rules", "readout", "--arithmetics", "fixed", "--probe", "--out", str(tmp_path))
    first = run_bench(*args, timeout=600)
    assert first.returncode == 0, first.stderr
    report = json.loads((tmp_path / "golden.json").read_text())
    (row,) = report["rows"]
    assert row["rule"] == "readout" and row["arithmetic"] == "fixed"
    assert row["random_probe_accuracy"] == row["trained_probe_accuracy"]
    assert 0.5 < row["random_probe_accuracy"][0] <= 1.0
    gain = next(d for d in report["differences"] if d["difference"].startswith("readout: probe"))
    assert gain["per_seed"] == [0.0]
    again = run_bench(*args, "--resume", timeout=600)
    assert again.returncode == 0, again.stderr
    assert "resuming: 1 of 1 rows kept" in again.stderr
    assert json.loads((tmp_path / "golden.json").read_text())["rows"][0]["history"] == row["history"]


def test_resume_refuses_a_file_that_is_not_its_own(tmp_path):
    (tmp_path / "golden.json").write_text("[1, 2]")
    result = run_bench("--datasets", "digits", "--resume", "--out", str(tmp_path))
    assert result.returncode == 2 and "is not a golden.json of this benchmark" in result.stderr
