"""Issue 23's rule (integrate output, softmax errors, surrogate eligibility) in the sequenced core
on Icarus and Verilator: digits in lock step with the golden model, every clock count against
``SequencedCycles`` (the cocotb side is ``sim/tb_seqcore_rule.py``)."""

import json
from pathlib import Path

import harness
import pytest

from plasticore.golden.config import Config
from plasticore.rtl.seqcore import SequencedCore

RULE = json.loads((Path(__file__).resolve().parents[1] / "experiments" / "configs" /
                   "surrogate-softmax.json").read_text())
#: the iCEBreaker's network under the winning configuration's options; faster rates than its
#: (6, 9) so that a few samples move weights and feedback
CONFIG = Config(layers=(64, 32, 10), **{**RULE, "lr_hidden_shift": 2, "lr_output_shift": 4})


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_seqcore_new_rule_learning(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    train = 4 if simulator == "verilator" else 2
    harness.run(SequencedCore(CONFIG), "seqcore_rule", "tb_seqcore_rule", simulator,
                testcase="seqcore_learns_new_rule", netlist=True,
                env={"PLASTICORE_CONFIG": CONFIG.to_json(), "PLASTICORE_TRAIN": str(train)})
