"""What the experiment scripts share (not part of the product): the options of a golden-model
training run and the loading of a script of this repository as a module.

A script of ``experiments/`` run as ``python experiments/NAME.py`` finds this module beside it;
the tests find it through ``tests/conftest.py``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import types
from pathlib import Path

from plasticore.golden.config import RULES
from plasticore.golden.presets import DATASET_SHAPES
from plasticore.golden.resolve import parse_setting
from plasticore.host.cli import _seed_list, positive_int

__all__ = ["experiment_parser", "load_script"]


def experiment_parser(description: str, *, epochs: int) -> argparse.ArgumentParser:
    """The options of a golden-model training run in the scripts of ``experiments/``: a dataset
    by name, ``--rule``, ``--epochs``, ``--seeds``, ``--hidden-size``, ``--set``, the limits,
    ``--float``, ``--json`` and ``--quiet``, with this command line's argument types."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", choices=sorted(DATASET_SHAPES), default="digits")
    parser.add_argument("--rule", choices=RULES, default=None)
    parser.add_argument("--epochs", type=positive_int, default=epochs)
    parser.add_argument("--seeds", type=_seed_list, default=[0, 1, 2])
    parser.add_argument("--hidden-size", type=positive_int, default=None,
                        help="hidden neurons (default: the dataset's)")
    parser.add_argument("--set", dest="settings", type=parse_setting, action="append", default=[])
    parser.add_argument("--limit", type=positive_int)
    parser.add_argument("--test-limit", type=positive_int)
    parser.add_argument("--float", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quiet", action="store_true")
    return parser


def load_script(path, name: str | None = None) -> types.ModuleType:
    """Import a script of the repository (``experiments/``, ``bench/``: not part of the package)
    as a module named ``name`` (default: after its file), registered in ``sys.modules`` so that
    its dataclasses and pickles resolve; a script loaded twice is the same module. Name a script
    whose file name is also a top-level name (``bench/baselines.py``: the ``baselines/`` tree)."""
    path = Path(path).resolve()
    name = name or path.stem
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
