"""The scripts of experiments/ import their helper module, ``expkit``, from beside them; the
tests that load those scripts (tests/experiments, tests/bench) find it here."""

import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))
