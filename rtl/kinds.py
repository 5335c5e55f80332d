"""The kinds of Plasticore core, by name: every one has :class:`~.corebase.CoreBase`'s ports and the
memory map of ``chip/memmap.py``, and equals the golden model bit for bit; they differ in area,
clocks and cycle model (``chip/cycles.py``).

* ``"pipelined"``: :class:`~.core.Core`, three engines side by side, memories with read registers
  (the ECP5 at 50 MHz);
* ``"compact"``: the same without the read registers (:class:`~.core.Core` ``compact=True``);
* ``"sequenced"``: :class:`~.seqcore.SequencedCore`, one datapath and one multiplier (the iCE40
  UP5K, where the others do not fit).

:func:`core_model` is a core used for its Python side (memory map, word layouts, cycle model),
as the testbenches need it; the host's model, without Amaranth, is ``chip.cycles.core_model``.
"""

from __future__ import annotations

from plasticore.chip.cycles import CORE_KINDS, check_kind
from plasticore.golden.config import Config

from .core import Core
from .corebase import CoreBase
from .seqcore import SequencedCore

__all__ = ["CORE_KINDS", "make_core", "core_model"]


def make_core(config: Config, kind: str = "pipelined") -> CoreBase:
    """A core of ``kind`` for ``config``, to elaborate."""
    check_kind(kind)
    if kind == "sequenced":
        return SequencedCore(config)
    return Core(config, compact=kind == "compact")


def core_model(config: Config, kind: str = "pipelined") -> CoreBase:
    """A core of ``kind`` used only for its pure-Python side (memory map, layouts, cycle model),
    never elaborated."""
    check_kind(kind)
    if kind == "sequenced":
        return SequencedCore.model(config)
    return Core.model(config, compact=kind == "compact")
