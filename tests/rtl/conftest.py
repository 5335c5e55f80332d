"""Shared helper of the RTL unit tests: run testbenches on Amaranth's simulator.

Waveforms only on request: ``PLASTICORE_WAVES=1 python -m pytest tests/rtl`` writes one VCD per
test under ``build/waves/``.
"""

import os
import re
from pathlib import Path

import pytest
from amaranth.sim import Simulator

WAVES_DIR = Path(__file__).resolve().parents[2] / "build" / "waves"


@pytest.fixture
def simulate(request):
    """``simulate(dut, *testbenches, background=())``: run async testbenches against ``dut`` on
    a 1 MHz clock until every testbench (not the ``background`` ones) has returned."""

    def run(dut, *testbenches, background=()):
        sim = Simulator(dut)
        sim.add_clock(1e-6)
        for testbench in testbenches:
            sim.add_testbench(testbench)
        for testbench in background:
            sim.add_testbench(testbench, background=True)
        if os.environ.get("PLASTICORE_WAVES"):
            WAVES_DIR.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^\w.-]+", "_", request.node.name)
            with sim.write_vcd(str(WAVES_DIR / f"{name}.vcd")):
                sim.run()
        else:
            sim.run()

    return run
