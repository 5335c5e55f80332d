# The two commands of the README's quick start; both install what they need first.
#   make train   on-chip training (digits, SFDFA) on the simulated board (the Verilated RTL behind
#                the serial protocol on a pseudo-terminal); progress bar, JSON and plots in runs/.
#                With a board attached: make train TARGET=serial:/dev/ttyUSB1
#   make test    the whole test suite (golden model, host, RTL on Icarus and Verilator)
.PHONY: setup train test bench

PY := .venv/bin/python
TARGET ?= sim
TRAIN_ARGS ?= --dataset digits --rule sfdfa --target $(TARGET) --epochs 5 --seed 0 --json runs/digits-sfdfa.json --plots runs/digits-sfdfa

setup:
	@scripts/setup

train: setup
	.venv/bin/plasticore train $(TRAIN_ARGS)

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) bench/golden.py
	$(PY) bench/rtl.py
	$(PY) bench/link.py
