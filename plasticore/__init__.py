"""Plasticore: on-chip SFDFA learning for spiking neural networks on small FPGAs.

The distribution maps the repository's folders onto this namespace (``pyproject.toml``):
``plasticore.golden`` (the fixed-point golden model, the contract), ``plasticore.rtl`` (Amaranth),
``plasticore.host`` (command line, link protocol, boards, training), ``plasticore.boards`` and
``plasticore.baselines``. Importing this package imports none of them.
"""

__version__ = "0.1.0"
