"""The kinds of Plasticore core, by name: every one has :class:`~.core.Core`'s ports, memory map
and host-side helpers, and equals the golden model bit for bit; they differ in area, clocks and
cycle model.

* ``"pipelined"``: :class:`~.core.Core`, three engines side by side, memories with read registers
  (the ECP5 at 50 MHz);
* ``"compact"``: the same without the read registers (:class:`~.core.Core` ``compact=True``);
* ``"sequenced"``: :class:`~.seqcore.SequencedCore`, one datapath and one multiplier (the iCE40
  UP5K, where the others do not fit).
"""

from __future__ import annotations

from plasticore.golden.config import Config

from .core import Core
from .seqcore import SequencedCore

__all__ = ["CORE_KINDS", "make_core", "core_model"]

CORE_KINDS = ("pipelined", "compact", "sequenced")


def _check(kind):
    if kind not in CORE_KINDS:
        raise ValueError(f"core kind must be one of {', '.join(CORE_KINDS)}, not {kind!r}")


def make_core(config: Config, kind: str = "pipelined") -> Core:
    """A core of ``kind`` for ``config``, to elaborate."""
    _check(kind)
    if kind == "sequenced":
        return SequencedCore(config)
    return Core(config, compact=kind == "compact")


def core_model(config: Config, kind: str = "pipelined") -> Core:
    """A core of ``kind`` used only for its pure-Python side (memory map, cycle model)."""
    _check(kind)
    if kind == "sequenced":
        return SequencedCore.model(config)
    return Core.model(config, compact=kind == "compact")
