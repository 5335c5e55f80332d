"""rtl.core on Icarus and Verilator: real digits in lock step with the golden model (the cocotb
side is ``sim/tb_core.py``)."""

import harness
import pytest

from plasticore.golden.config import Config
from plasticore.rtl.core import Core

CONFIG = Config()   # digits size: (64, 32, 10), 50 steps


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_core(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    harness.run(Core(CONFIG), "core", "tb_core", simulator,
                env={"PLASTICORE_CONFIG": CONFIG.to_json(), "PLASTICORE_SAMPLES": "3"})
