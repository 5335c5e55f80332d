# The two commands of the README's quick start; both install what they need first.
#   make train   on-chip training run (digits, SFDFA) with a progress bar, JSON and plots in runs/
#   make test    the whole test suite (golden model, host, RTL on Icarus and Verilator)
.PHONY: setup train test bench

PY := .venv/bin/python
TRAIN_ARGS ?= --dataset digits --rule sfdfa --epochs 10 --seeds 0 --json runs/digits-sfdfa.json --plots runs/digits-sfdfa

setup:
	@scripts/setup

train: setup
	.venv/bin/plasticore train $(TRAIN_ARGS)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/golden.py
