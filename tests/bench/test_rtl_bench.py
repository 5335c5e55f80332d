"""The RTL clock benchmark script (bench/rtl.py), run as a user runs it: two digits per config."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plasticore.golden.config import Config
from plasticore.rtl.core import Core
from plasticore.rtl.kinds import core_model

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "rtl.py"


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("rtl-bench")
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    started = time.perf_counter()
    result = subprocess.run([sys.executable, str(SCRIPT), "--samples", "2", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
                            env=env)
    return result, out, time.perf_counter() - started


def test_tiny_run_succeeds_quickly(tiny_run):
    result, out, elapsed = tiny_run
    assert result.returncode == 0, result.stderr
    assert elapsed < 60
    assert (out / "rtl.json").is_file() and (out / "rtl.md").is_file()
    assert "assert clock for clock against simulation" in result.stdout


def test_report_is_consistent_with_the_cycle_model(tiny_run):
    _, out, _ = tiny_run
    report = json.loads((out / "rtl.json").read_text())
    assert [(r["layers"], r["kind"]) for r in report["rows"]] == \
        [([64, 32, 10], "pipelined"), ([64, 64, 10], "pipelined"), ([64, 32, 10], "compact"),
         ([64, 32, 10], "sequenced")]
    for row in report["rows"]:
        core = core_model(Config(layers=tuple(row["layers"])), row["kind"])
        m = row["per_sample_mean"]
        assert row["samples"] == 2
        assert m["learn"] == core.learn_cycles()
        assert m["clocks"] == pytest.approx(m["clear"] + m["steps"] + m["learn"])
        assert m["ideal"] == pytest.approx(m["sops"] + m["updates"] + m["words"])
        # a step costs at least 1 + per layer max(loop, trace); the eligibility engine adds to it
        assert m["steps"] >= m["infer_only"] > 0
    assert report["rows"][0]["per_sample_mean"]["learn"] == 3034    # docs/rtl.md
    assert report["rows"][0]["per_sample_mean"]["clear"] == 50      # docs/rtl.md, measured in cocotb
    for r in report["sweep"]:
        assert r["step_clocks"] == 1 + max(r["loop"], r["trace"], r["elig_end"] or 0)
        fill = 3 + Core.LIST_READ_LATENCY + Core.READ_DELAY      # the neuron loop's pipeline
        if r["S"] == 0 and r["K"] >= 2 and r["N"] * r["K"] + fill >= (r["J"] + 1) // 2 + 3:
            assert r["step_clocks"] == r["N"] * r["K"] + fill + 1     # one SOP per clock
