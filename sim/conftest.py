"""Make ``python -m pytest sim`` work from a bare environment (see :mod:`harness`)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness

harness.setup_environment()
