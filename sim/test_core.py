"""rtl.core on Icarus and Verilator: real digits in lock step with the golden model (the cocotb
side is ``sim/tb_core.py``): inference (3 test digits, every state word after every step) and
online learning (weights, feedback, LFSRs after every sample; ghat/ehat before some LEARNs).

Default: learning on 25 training digits x 2 epochs on Verilator (50 samples, about 80 s); not on
Icarus, which runs this design at a few hundred clocks per second under cocotb (about 7 minutes
per sample). ``PLASTICORE_LONG=1`` trains 50 digits x 3 epochs on Verilator and 2 digits on
Icarus."""

import os

import harness
import pytest

from plasticore.golden.config import Config
from plasticore.rtl.core import Core

CONFIG = Config()   # digits size: (64, 64, 10), 50 steps
LEARN_CONFIG = Config(layers=(64, 32, 10))   # the training run: other fields at their defaults
LONG = bool(os.environ.get("PLASTICORE_LONG"))


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_core(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    harness.run(Core(CONFIG), "core", "tb_core", simulator, testcase="core_matches_golden_on_digits",
                env={"PLASTICORE_CONFIG": CONFIG.to_json(), "PLASTICORE_SAMPLES": "3"})


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_core_learning(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    if simulator == "icarus" and not LONG:
        pytest.skip("Icarus needs about 7 minutes per training sample on this design: "
                    "PLASTICORE_LONG=1 runs it")
    train, epochs = ((50, 3) if LONG else (25, 2)) if simulator == "verilator" else (2, 1)
    harness.run(Core(LEARN_CONFIG), "core_learn", "tb_core", simulator, testcase="core_learns_digits",
                env={"PLASTICORE_CONFIG": LEARN_CONFIG.to_json(), "PLASTICORE_TRAIN": str(train),
                     "PLASTICORE_EPOCHS": str(epochs), "PLASTICORE_GRAD_EVERY": "5"})
