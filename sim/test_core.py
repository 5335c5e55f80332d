"""rtl.core on Icarus and Verilator: real digits in lock step with the golden model (the cocotb
side is ``sim/tb_core.py``): inference (3 test digits, every state word after every step) and
online learning (weights, feedback, LFSRs after every sample; ghat/ehat before some LEARNs).

Default: learning on 25 training digits x 2 epochs on Verilator (50 samples) and 6 digits on
Icarus (about 10 s per sample there). ``PLASTICORE_LONG=1`` trains 50 digits x 3 epochs on
Verilator and 25 x 2 on Icarus. The Verilog is ``harness.convert``'s netlist style: with the
process style Icarus took about 7 minutes per training sample (its ``always_comb`` sensitivity
re-runs large blocks on every change of any bit of the vectors they read)."""

import os

import harness
import pytest

from plasticore.golden.config import Config
from plasticore.rtl.core import Core
from plasticore.rtl.kinds import make_core

CONFIG = Config()   # digits size: (64, 64, 10), 50 steps
LEARN_CONFIG = Config(layers=(64, 32, 10))   # the training run: other fields at their defaults
LONG = bool(os.environ.get("PLASTICORE_LONG"))


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_core(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    harness.run(Core(CONFIG), "core", "tb_core", simulator, testcase="core_matches_golden_on_digits",
                netlist=True,
                env={"PLASTICORE_CONFIG": CONFIG.to_json(), "PLASTICORE_SAMPLES": "3"})


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_core_learning(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    train, epochs = ((50, 3) if LONG else (25, 2)) if simulator == "verilator" else \
        ((25, 2) if LONG else (6, 1))
    harness.run(Core(LEARN_CONFIG), "core_learn", "tb_core", simulator, testcase="core_learns_digits",
                netlist=True,
                env={"PLASTICORE_CONFIG": LEARN_CONFIG.to_json(), "PLASTICORE_TRAIN": str(train),
                     "PLASTICORE_EPOCHS": str(epochs), "PLASTICORE_GRAD_EVERY": "5"})


@pytest.mark.parametrize("kind", ["compact", "sequenced"])
@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_other_core_kinds_learning(simulator, kind):
    """The other kinds of core (``rtl/kinds.py``: ``compact``, no read registers; ``sequenced``,
    one datapath, the iCEBreaker's), each with its own cycle model: a shorter training run, every
    word and every clock count checked like the registered core's."""
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    train = 10 if simulator == "verilator" else 3
    harness.run(make_core(LEARN_CONFIG, kind), f"core_learn_{kind}", "tb_core", simulator,
                testcase="core_learns_digits", netlist=True,
                env={"PLASTICORE_CONFIG": LEARN_CONFIG.to_json(), "PLASTICORE_TRAIN": str(train),
                     "PLASTICORE_EPOCHS": "1", "PLASTICORE_GRAD_EVERY": "3",
                     "PLASTICORE_CORE_KIND": kind})


#: issue 23's rule (experiments/configs/surrogate-softmax.json without its schedule: the bench
#: changes the rates halfway through by RATES) on the training run's network
NEW_RULE_CONFIG = LEARN_CONFIG.replace(output_layer="integrate", output_loss="softmax",
                                       eligibility="surrogate", surrogate_width=0.5,
                                       rate_reg_shift=None, init_output=0.0, lr_hidden_shift=6,
                                       lr_output_shift=9)


@pytest.mark.parametrize("kind", ["pipelined", "compact"])
@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_new_rule_learning(simulator, kind):
    """integrate + softmax + surrogate: online learning on digits, every weight, feedback word
    and LFSR state after every LEARN, ghat before some, every clock count against the model."""
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    train, epochs = ((25, 2) if LONG else (12, 1)) if simulator == "verilator" else (3, 1)
    harness.run(make_core(NEW_RULE_CONFIG, kind), f"core_learn_new_{kind}", "tb_core", simulator,
                testcase="core_learns_digits", netlist=True,
                env={"PLASTICORE_CONFIG": NEW_RULE_CONFIG.to_json(), "PLASTICORE_TRAIN": str(train),
                     "PLASTICORE_EPOCHS": str(epochs), "PLASTICORE_GRAD_EVERY": "3",
                     "PLASTICORE_CORE_KIND": kind})
