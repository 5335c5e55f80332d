# The two commands of the README's quick start; both install what they need first.
#   make train   on-chip training (digits, SFDFA) on the simulated board (the Verilated RTL behind
#                the serial protocol on a pseudo-terminal); progress bar, JSON and plots in runs/.
#                With a board attached: make train TARGET=serial:/dev/ttyUSB1 BOARD=icebreaker
#                (BOARD=ulx3s-85f: MNIST at 14x14, the ULX3S bitstream's 196 inputs)
#   make test    the whole test suite (golden model, host, RTL on Icarus and Verilator)
.PHONY: setup train test bench

PY := .venv/bin/python
TARGET ?= sim
BOARD ?=
DATASET ?= $(if $(filter ulx3s-85f,$(BOARD)),mnist14,digits)
TRAIN_ARGS ?= --dataset $(DATASET) $(if $(BOARD),--board $(BOARD),--rule sfdfa) --target $(TARGET) --epochs 5 --seed 0 --json runs/$(DATASET)-sfdfa.json --plots runs/$(DATASET)-sfdfa

setup:
	@scripts/setup

train: setup
	.venv/bin/plasticore train $(TRAIN_ARGS)

# one worker per core, each test file on one worker (module fixtures and builds stay together)
JOBS ?= auto
test: setup
	$(PY) -m pytest -q -n $(JOBS) --dist loadfile

bench: setup
	$(PY) bench/golden.py
	$(PY) bench/rtl.py
	$(PY) bench/link.py
