"""rtl.reciprocal on Icarus and Verilator (the cocotb side is ``sim/tb_reciprocal.py``)."""

import harness
import pytest

from plasticore.golden.config import Config
from plasticore.rtl.reciprocal import Reciprocal

CONFIG = Config()


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_reciprocal(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    harness.run(Reciprocal(CONFIG), "reciprocal", "tb_reciprocal", simulator,
                env={"PLASTICORE_CONFIG": CONFIG.to_json()})
