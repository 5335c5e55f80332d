"""bench/event.py, run as a user runs it: one round, the event trainer and golden/event.py (the
clocked torch network left out to keep it short). Needs numba (the numpy path is slow at
784-800-10) and the cached MNIST. Marked slow (about 10 s of CPU time): run it with -m slow."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "event.py"


@pytest.mark.slow
def test_event_bench_writes_its_json(tmp_path):
    from plasticore.golden import datasets

    try:
        datasets.load("mnist")
    except datasets.DatasetUnavailable as exc:
        pytest.skip(str(exc))
    out = tmp_path / "event.json"
    env = {**os.environ, "PYTHONWARNINGS": "error", "NUMBA_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(SCRIPT), "--batches", "1", "--golden-samples",
                             "1", "--no-clocked", "--json", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, check=False, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    assert data["samples_per_second"] > 0 and data["golden_samples_per_second"] > 0
    assert "clocked_samples_per_second" in data
    assert "| event-driven (this) |" in result.stdout
