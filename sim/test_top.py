"""rtl.top (UART, FIFO, COBS, protocol engine, core) on Icarus and Verilator, through its UART
pins, byte for byte against host.emulator (the cocotb side is ``sim/tb_top.py``): every op,
bursts, learning samples and misuse (garbage, corrupted CRC, truncated and oversized frames,
wrong seq, unknown op, commands at the wrong time, random mutations, protocol 3's version probe and
inserted/deleted/appended bytes), then a full readback; then (``conformance``) a client written
from docs/protocol.md alone, and (``flood_and_recover``) a flood past the window and the recovery
of protocol section 4.
About 280,000 clocks: ~10 s on Verilator, ~35 s on Icarus (9,000 clocks/s), plus the builds.
The Verilog is the netlist style of ``harness.convert`` (Icarus cannot run the process style of
this top level, see there)."""

import harness
import pytest

from plasticore.chip.boardspec import BoardSpec
from plasticore.golden.config import Config
from plasticore.rtl.top import Top

CONFIG = Config(layers=(8, 6, 3), n_steps=6, input_window=4)
CLK_HZ, DIVISOR = 12_000_000, 4


@pytest.mark.parametrize("simulator", harness.SIMULATORS)
def test_top_against_emulator(simulator):
    reason = harness.missing(simulator)
    if reason:
        pytest.skip(reason)
    top = Top(BoardSpec(CONFIG, clk_hz=CLK_HZ, baud=CLK_HZ // DIVISOR, rx_window=1024))
    harness.run(top, "top", "tb_top", simulator, netlist=True,
                env={"PLASTICORE_CONFIG": CONFIG.to_json(), "PLASTICORE_DIVISOR": str(DIVISOR),
                     "PLASTICORE_WINDOW": "1024", "PLASTICORE_CLK_HZ": str(CLK_HZ),
                     "PLASTICORE_FUZZ": "40"})
