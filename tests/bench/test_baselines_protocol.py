"""bench/baselines.py --protocol is the one command behind docs/results/: every run stored there
is one that PROTOCOL asks for, and every run PROTOCOL asks for is stored (so a --protocol run on
the committed results only rewrites the reports). No training here: it compares run keys."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from expkit import load_script

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "baselines.py"


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT, "bench_baselines")


def _protocol_by_out(bench):
    by_out = {}
    for argv in bench.protocol_argvs(ROOT / "docs" / "results"):
        args = bench.parse_args(argv)
        by_out.setdefault(Path(args.out), []).append(args)
    return by_out


def test_protocol_covers_exactly_the_committed_runs(bench):
    by_out = _protocol_by_out(bench)
    assert len(by_out) == 6          # docs/results, the four BPTT ceiling directories, and the
    #                                  integrate-output one (issue 23)
    for out, arg_list in by_out.items():
        results = json.loads((out / "baselines.json").read_text())
        wanted = [key for args in arg_list for *_, key in bench.run_keys(args)]
        for key in wanted:
            assert len(bench.stored_run(results, key)) == 1, (out.name, key)
            assert bench.stored_run(results, key)[0].get("complete", True), (out.name, key)
        for run in results["runs"]:
            assert any(bench.stored_run({"runs": [run]}, key) for key in wanted), \
                (out.name, run["dataset"], run["rule"], run["seed"], run.get("tag"))
        mlp_wanted = {(d, m, int(s), args.mlp_epochs, args.mlp_hidden)
                      for args in arg_list for d in args.mlp.split(",") if d
                      for m in bench.MLP_METHODS for s in args.mlp_seeds.split(",")}
        mlp_stored = {(r["dataset"], r["method"], r["seed"], r["epochs"], r["hidden"])
                      for r in results.get("mlp", [])}
        assert mlp_stored == mlp_wanted, out.name


def test_protocol_dry_run_lists_the_invocations(bench):
    result = subprocess.run([sys.executable, str(SCRIPT), "--protocol", "--dry-run"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, check=True)
    lines = [line for line in result.stdout.splitlines() if line.startswith("python bench/baselines.py")]
    assert len(lines) == len(bench.PROTOCOL)
    assert all("--resume" in line for line in lines)
    assert not (ROOT / "docs" / "results" / "--protocol").exists()
