"""One description of a board, as both ends of the link see it: the network it is built for, the
kind of core, the core clock, the UART's baud rate and the receive window.

The bitstream build (``boards/``), the RTL top (``rtl/top.py``), the emulator and the simulated
board (``host/``) take their defaults from here, and the IDENTIFY reply a board sends is
:meth:`BoardSpec.identity`; the host compares the reply's ``board_hash`` with
:func:`board_hash` of its configuration.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from plasticore.golden.config import Config

from . import protocol as P
from .cycles import CORE_KINDS, check_kind
from .memmap import MemoryMap

__all__ = ["BoardSpec", "board_hash", "board_kind", "DEFAULT_CLK_HZ", "DEFAULT_BAUD", "RX_WINDOW",
           "REFERENCE_KIND", "SIMULATED_KIND", "divisor", "MIN_DIVISOR"]

#: the core clock of the simulated board and the emulator (the iCEBreaker's oscillator)
DEFAULT_CLK_HZ = 12_000_000
#: the host's default (``plasticore train --target serial:PORT``); faster: ``serial:PORT@BAUD``
DEFAULT_BAUD = 115_200
#: bytes of the board's receive FIFO: two whole frames and more (docs/protocol.md section 2)
RX_WINDOW = 1024
#: the kind of core whose board hash is the configuration's own (``Config.board_hash``)
REFERENCE_KIND = "pipelined"
#: the kind of core of the simulated board (host/simboard.py, ``--target sim``, ``make train``):
#: the compact core computes the same words as the pipelined one (every kind equals the golden
#: model) in as many clocks but one per layer, and without the pipelined core's banked,
#: registered memories its Verilated model runs 1.1-1.35x more clocks per CPU-second
#: (bench/results/link.md)
SIMULATED_KIND = "compact"


def board_hash(config: Config, kind: str = REFERENCE_KIND) -> str:
    """The hash a board built for ``config`` with a core of ``kind`` reports: every field the
    bitstream bakes in (``Config.board_hash``) and the kind of core, which changes the cycle
    model and the area but no result. The reference kind's is ``Config.board_hash`` itself."""
    check_kind(kind)
    if kind == REFERENCE_KIND:
        return config.board_hash
    return hashlib.sha256(f"{config.board_hash}:{kind}".encode()).hexdigest()[:16]


def board_kind(config: Config, reported_hash: str) -> str | None:
    """The kind of core of a board built for ``config`` that reports ``reported_hash`` (None: the
    board was built for another configuration)."""
    return next((kind for kind in CORE_KINDS if board_hash(config, kind) == reported_hash), None)


#: the UART's limits: clocks per bit at the least, and the largest error of the baud rate made
MIN_DIVISOR = 4
MAX_BAUD_ERROR = 0.02


def divisor(clk_hz: int, baud: int) -> int:
    """The UART's clocks per bit (``rtl/uart.py``) for ``baud`` at ``clk_hz``:
    ``round(clk_hz / baud)`` (halves round up).

    Raises :class:`ValueError` if that is below 4 or if the baud rate it gives,
    ``clk_hz / divisor``, is more than 2 % off ``baud``.
    """
    for name, value in (("clk_hz", clk_hz), ("baud", baud)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(f"{name} must be an int, not {value!r}")
        if value <= 0:
            raise ValueError(f"{name} must be positive, not {value}")
    d = (2 * clk_hz + baud) // (2 * baud)
    if d < MIN_DIVISOR:
        raise ValueError(
            f"clk_hz={clk_hz} is too slow for baud={baud}: "
            f"divisor {d} < {MIN_DIVISOR} clocks per bit")
    error = abs(clk_hz / d - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(
            f"baud={baud} at clk_hz={clk_hz}: divisor {d} gives {clk_hz / d:.1f} baud, "
            f"{100 * error:.2f} % off (more than {100 * MAX_BAUD_ERROR:.0f} %)")
    return d


@dataclass(frozen=True)
class BoardSpec:
    """A board: ``config`` (the network), ``core`` (its kind, ``chip/cycles.py``), ``clk_hz``,
    ``baud`` and ``rx_window`` (bytes)."""
    config: Config
    core: str = REFERENCE_KIND
    clk_hz: int = DEFAULT_CLK_HZ
    baud: int = DEFAULT_BAUD
    rx_window: int = RX_WINDOW

    def __post_init__(self):
        if not isinstance(self.config, Config):
            raise TypeError(f"config must be a Config, not {self.config!r}")
        check_kind(self.core)

    @classmethod
    def of(cls, board: "BoardSpec | Config") -> "BoardSpec":
        """``board`` itself, or for a bare configuration the board with every default above
        (the reference kind of core at 12 MHz and 115,200 baud)."""
        return board if isinstance(board, cls) else cls(board)

    @property
    def baud_divisor(self) -> int:
        return divisor(self.clk_hz, self.baud)

    @property
    def board_hash(self) -> str:
        return board_hash(self.config, self.core)

    def identity(self, *, baud_divisor: int | None = None) -> P.Identity:
        """The board's IDENTIFY reply (``baud_divisor``: the one the UART uses, when it is not
        :attr:`baud_divisor`)."""
        return P.Identity.of(self.config, MemoryMap(self.config), board_hash=self.board_hash,
                             clk_hz=self.clk_hz, rx_window=self.rx_window,
                             baud_divisor=self.baud_divisor if baud_divisor is None else baud_divisor)
