"""The rule-search prototype is the golden model's network: its membrane, spikes and surrogate
eligibility equal the clocked float model's (golden/network.py, fixed=False), sample by sample;
and its report groups runs into arms."""

import json
import types
from pathlib import Path

import numpy as np
import pytest

from plasticore.golden.config import Config
from plasticore.golden.datasets import load
from plasticore.golden.network import Network
from plasticore.golden.train import encode_images
from expkit import load_script

ROOT = Path(__file__).resolve().parents[2]
rule_search = load_script(ROOT / "experiments/rule_search.py", "rule_search")
report = load_script(ROOT / "experiments/rule_search_report.py", "rule_search_report")


def _args(**changes):
    base = dict(hidden=24, init_hidden=4.0, init_output=0.5, feedback="sfdfa", feedback_from_zero=False,
                n_steps=50, input_window=25, tau=10.0, tau_s=5.0, threshold=1.0, eligibility="surrogate",
                sg_shape="box", sg_width=0.5, sg_floor=0.0)
    base.update(changes)
    return types.SimpleNamespace(**base)


def test_prototype_spikes_and_surrogate_equal_the_golden_float_model():
    digits = load("digits")
    args = _args()
    proto = rule_search.Prototype(args, 64, 10, seed=3)
    cfg = Config(layers=(64, 24, 10), output_layer="integrate", eligibility="surrogate",
                 rate_reg_shift=None, lr_hidden_shift=6)
    weights = [proto.w_h.astype(np.float64), proto.w_o.astype(np.float64)]
    net = Network(cfg, weights, [proto.fb.astype(np.float64)], fixed=False, batch=1, seed=None)
    checked = 0
    for x in digits.x_test[:20]:
        raster = encode_images(cfg, x[None])[0]
        active = np.nonzero(raster.any(0))[0]
        counts, u, cur, spikes, eps = proto.hidden(raster[:, active].astype(np.float32), active)
        record = net.run(raster[None])
        assert np.array_equal(spikes, record.spikes[0][0])
        ghat = np.zeros((24, 64))
        ghat[:, active] = -rule_search.Prototype.eligibility(proto, u, cur, spikes, eps)
        np.testing.assert_allclose(net.layers[0].ghat[0], ghat, atol=1e-4)
        np.testing.assert_allclose(net.layers[-1].a[0], proto.output(counts) , rtol=1e-5, atol=1e-4)
        checked += int(spikes.sum())
    assert checked > 100


def test_report_groups_seeds_into_one_arm(tmp_path):
    args = {"dataset": "mnist", "hidden": 256, "feedback": "sfdfa", "eligibility": "surrogate",
            "sg_shape": "box", "sg_width": 0.5, "lr_hidden": 2 ** -6, "loss": "softmax",
            "temperature": 1.0, "lr_output": 2 ** -9, "limit": None, "bias": False}
    for seed, acc in ((0, 0.96), (1, 0.94)):
        history = [{"epoch": 1, "test_accuracy": acc, "spikes_per_neuron": 1.0, "alignment": 0.9}]
        (tmp_path / f"r{seed}.json").write_text(json.dumps({"args": {**args, "seed": seed},
                                                            "history": history, "probe": acc}))
    table = report.table(report.load(tmp_path))
    rows = [line for line in table.splitlines() if line.startswith("| mnist")]
    assert len(rows) == 1 and "0,1" in rows[0] and "95.0 ± 1.0 (96.0, 94.0)" in rows[0]
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="bad.json"):
        report.load(tmp_path)
