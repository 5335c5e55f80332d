"""The kinds of Plasticore core, by name: every one has :class:`~.corebase.CoreBase`'s ports and the
memory map of ``chip/memmap.py``, and equals the golden model bit for bit; they differ in area,
clocks and cycle model (``chip/cycles.py``).

* ``"pipelined"``: :class:`~.core.Core`, three engines side by side, memories with read registers
  (the ECP5 at 50 MHz);
* ``"compact"``: the same without the read registers (:class:`~.core.Core` ``compact=True``);
* ``"sequenced"``: :class:`~.seqcore.SequencedCore`, one datapath and one multiplier (the iCE40
  UP5K, where the others do not fit).

:func:`core_model` (the pure-Python model, no circuit) is ``chip.cycles.core_model``.
"""

from __future__ import annotations

from plasticore.chip.cycles import CORE_KINDS, check_kind, core_model
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
