"""cocotb testbench of ``rtl.reciprocal`` (run by ``sim/test_reciprocal.py``): a few hundred
values through the exported Verilog, each result compared with the golden formula of spec 5.3.

The configuration comes as JSON in ``PLASTICORE_CONFIG`` (default: ``Config()``).
"""

import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ReadOnly, RisingEdge

from plasticore.golden.config import DECAY_FRAC, Config

CONFIG = Config.from_json(os.environ["PLASTICORE_CONFIG"]) if "PLASTICORE_CONFIG" in os.environ \
    else Config()
N_RANDOM = 300


def golden_r(c, theta_q):
    return min((theta_q << DECAY_FRAC) // max(c, theta_q), (1 << DECAY_FRAC) - 1)


def vectors(rng):
    """Edge cases, then random (c, theta_q) pairs: half near theta, half over the state range."""
    state, weight, theta = CONFIG.state, CONFIG.weight, CONFIG.threshold_q
    pairs = [(c, theta) for c in (state.lo, -1, 0, theta - 1, theta, theta + 1, state.hi)]
    pairs += [(theta << k, theta) for k in (1, 2, 7)]  # exact quotients: remainder hits 0
    pairs += [(state.hi, 1), (1, 1), (weight.hi, weight.hi), (state.hi, weight.hi)]
    for k in range(N_RANDOM):
        t = rng.choice([theta, rng.randint(1, weight.hi)])
        c = rng.randint(-t, 64 * t) if k % 2 else rng.randint(state.lo, state.hi)
        pairs.append((c, t))
    return pairs


async def reset(dut):
    for port, value in (("c__valid", 0), ("c__payload", 0), ("theta_q", 0), ("r__ready", 0)):
        getattr(dut, port).value = value
    dut.rst.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    dut.rst.value = 0


@cocotb.test()
async def reciprocal_matches_golden(dut):
    """Random gaps on the input and random back-pressure on the output."""
    rng = random.Random(1)
    pairs = vectors(rng)
    Clock(dut.clk, 10, unit="ns").start()
    await reset(dut)
    mask = (1 << CONFIG.state.bits) - 1

    async def source():
        for c, theta in pairs:
            while rng.random() < 0.3:
                await RisingEdge(dut.clk)
            dut.c__valid.value = 1
            dut.c__payload.value = c & mask
            dut.theta_q.value = theta
            while True:
                await ReadOnly()
                assert dut.c__payload.value.to_signed() == c
                accepted = dut.c__ready.value == 1
                await RisingEdge(dut.clk)
                if accepted:
                    break
            dut.c__valid.value = 0

    cocotb.start_soon(source())
    for k, (c, theta) in enumerate(pairs):
        while True:
            dut.r__ready.value = int(rng.random() < 0.7)
            await ReadOnly()
            taken = dut.r__valid.value == 1 and dut.r__ready.value == 1
            r = int(dut.r__payload.value)
            await RisingEdge(dut.clk)
            if taken:
                break
        assert r == golden_r(c, theta), f"#{k}: c={c} theta_q={theta}: r={r:#x}, " \
                                        f"expected {golden_r(c, theta):#x}"
    dut.r__ready.value = 0
    dut._log.info("%d reciprocals match the golden formula", len(pairs))
