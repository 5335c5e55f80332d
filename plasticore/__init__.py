"""Plasticore: on-chip SFDFA learning for spiking neural networks on small FPGAs.

The distribution maps the repository's folders onto this namespace (``pyproject.toml``):
``plasticore.golden`` (the fixed-point golden model, the contract), ``plasticore.rtl`` (Amaranth),
``plasticore.host`` (command line, link protocol, boards, training), ``plasticore.boards`` and
``plasticore.baselines``. The Python API (``plasticore.api``: configure, train, evaluate, weights,
boards, NIR) is reachable from here too, imported on first use: ``import plasticore`` itself
imports nothing else.
"""

__version__ = "0.1.0"

_API = ("Config", "ConfigError", "Dataset", "Network", "TrainResult", "configure", "load_dataset",
        "train", "evaluate", "weights", "weights_as_floats", "weights_as_words", "open_board",
        "train_on_board", "board_config", "to_nir", "from_nir", "read_events")


def __getattr__(name):
    if name in _API:
        from plasticore import api
        return getattr(api, name)
    raise AttributeError(f"module 'plasticore' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_API))
