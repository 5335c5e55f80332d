"""cocotb testbenches of ``rtl.core`` (run by ``sim/test_core.py``): real digits through the
exported Verilog in lock step with ``golden.network.Network(fixed=True)``.

* ``core_matches_golden_on_digits``: inference; every state word (read through the access port)
  compared after the reset and after every step; clocks per step logged.
* ``core_learns_digits``: online learning; weights, feedback and LFSR states compared after every
  LEARN, ghat/ehat before some, clocks checked against the cycle model and summarised.

Inputs are driven and outputs sampled on falling clock edges, so one access costs one clock.
Environment: ``PLASTICORE_CONFIG`` (JSON), ``PLASTICORE_SAMPLES`` (default 3).
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.golden.train import encode_images
from plasticore.rtl.core import Cmd, Mem
from plasticore.rtl.kinds import core_model
from plasticore.chip.golden_view import (gated_neurons, golden_flags, golden_grads, golden_params,
                                         golden_words, queued_neurons)

CONFIG = Config.from_json(os.environ["PLASTICORE_CONFIG"]) if "PLASTICORE_CONFIG" in os.environ \
    else Config()
SAMPLES = int(os.environ.get("PLASTICORE_SAMPLES", "3"))
#: the kind of core under test (``rtl/kinds.py``), ``PLASTICORE_CORE_KIND``
KIND = os.environ.get("PLASTICORE_CORE_KIND", "pipelined")
#: clocks a command may take: the slowest LEARN of the kinds (the sequenced core's, at its slowest
#: rates: 31-bit shifts) with room to spare
TIMEOUT = 200_000


class Driver:
    def __init__(self, dut, core):
        self.dut, self.core = dut, core
        fields = dict(core.event_layout)
        self.cmd_off, self.addr_off = fields["cmd"].offset, fields["addr"].offset

    async def write(self, mem, addr, raw):
        d = self.dut
        d.access__mem.value, d.access__addr.value, d.access__wdata.value = int(mem.value), addr, raw
        d.access__we.value, d.access__en.value = 1, 1
        await FallingEdge(d.clk)
        d.access__en.value, d.access__we.value = 0, 0

    async def read_all(self, keys):
        """Read ``keys`` [(mem, addr)] back to back, one per clock: {key: decoded}."""
        d, out, lag = self.dut, {}, self.core.READ_LATENCY - 1
        keys = list(keys)
        d.access__we.value = 0
        for n in range(len(keys) + lag):   # one read per clock, each word READ_LATENCY later
            if n < len(keys):
                key = keys[n]
                d.access__mem.value, d.access__addr.value, d.access__en.value = int(key[0].value), key[1], 1
            else:
                d.access__en.value = 0
            await FallingEdge(d.clk)        # the read happened on the rising edge before
            if n >= lag:
                key = keys[n - lag]
                out[key] = self.core.decode(key[0], int(d.access__rdata.value))
        d.access__en.value = 0
        return out

    async def rates(self, hidden, output):
        """Load the learning-rate shifts (one clock of ``rates_load``, while idle)."""
        d = self.dut
        fields = dict(self.core.rates_layout)
        d.rates.value = (hidden << fields["hidden"].offset) | (output << fields["output"].offset)
        d.rates_load.value = 1
        await FallingEdge(d.clk)
        d.rates_load.value = 0
        now = int(d.rates_now.value)
        assert ((now >> fields["hidden"].offset) & 0xFF, (now >> fields["output"].offset) & 0xFF) == \
            (hidden, output), f"rates_now {now:#06x} after loading {(hidden, output)}"

    async def command(self, cmd, addr=0):
        """Send one event; for STEP/SAMPLE return the clocks from the transfer to ``done``."""
        d = self.dut
        d.events__payload.value = (int(cmd.value) << self.cmd_off) | (addr << self.addr_off)
        d.events__valid.value = 1
        for _ in range(TIMEOUT):
            ready = str(d.events__ready.value) == "1"
            await FallingEdge(d.clk)
            if ready:
                break
        else:
            raise AssertionError(f"{cmd.name} not taken in {TIMEOUT} clocks")
        d.events__valid.value = 0
        if cmd == Cmd.SPIKE:
            return 0
        for cycles in range(1, TIMEOUT):
            if str(d.done.value) == "1":
                return cycles
            await FallingEdge(d.clk)
        raise AssertionError(f"no done within {TIMEOUT} clocks of {cmd.name}")


def check(expected, got, flags_expected, flags_got, where):
    bad = [f"{m.name}[{a}] at {where}: expected {v}, got {got[(m, a)]}"
           for (m, a), v in expected.items() if got[(m, a)] != v]
    if flags_expected != flags_got:
        bad.append(f"flags at {where}: expected {flags_expected:#x}, got {flags_got:#x}")
    assert not bad, f"{len(bad)} mismatches:\n" + "\n".join(bad[:20])


@cocotb.test()
async def core_matches_golden_on_digits(dut):
    cfg = CONFIG
    core = core_model(cfg, KIND)
    drv = Driver(dut, core)
    await start(dut)

    weights, feedback = Network.initial_weights(cfg, seed=0)
    net = Network(cfg, weights, feedback, fixed=True, seed=None, eligibility=False)
    addr = 0
    for w in weights:
        for value in w.ravel():
            await drv.write(Mem.WEIGHT, addr, core.encode(Mem.WEIGHT, int(value)))
            addr += 1

    digits = datasets.load("digits")
    rasters = encode_images(cfg, digits.x_test[:SAMPLES])
    sizes, log = cfg.layers, []
    keys = list(golden_words(core, net, grads=False))
    for s, raster in enumerate(rasters):
        await drv.command(Cmd.SAMPLE)
        if s:
            net.reset()
        check(golden_words(core, net, grads=False), await drv.read_all(keys), golden_flags(net),
              int(dut.flags.value), f"sample {s} reset")
        for n, row in enumerate(raster):
            inputs = [int(j) for j in np.nonzero(row)[0]]
            for j in inputs:
                await drv.command(Cmd.SPIKE, j)
            net.step(row[None])
            listed = [len(inputs)] + [int(layer.spikes[0].sum()) for layer in net.layers[:-1]]
            cycles = await drv.command(Cmd.STEP)
            sops = sum(sizes[k + 1] * K for k, K in enumerate(listed))
            log.append((listed, cycles, sops))
            check(golden_words(core, net, grads=False), await drv.read_all(keys), golden_flags(net),
                  int(dut.flags.value), f"sample {s} step {n}")
            assert int(dut.step.value) == n + 1
        dut._log.info("sample %d (label %d): output counts %s, golden prediction %d", s,
                      digits.y_test[s], net.layers[-1].count[0].tolist(), net.predict()[0])

    cycles = sum(c for _, c, _ in log)
    sops = sum(o for _, _, o in log)
    busy = [(c, o) for _, c, o in log if o >= 2 * sum(sizes[1:])]
    dut._log.info("%d steps: %d clocks, %d synaptic ops: %.2f clocks/step, %.3f SOP/clock overall",
                  len(log), cycles, sops, cycles / len(log), sops / cycles)
    if busy:
        dut._log.info("steps with >= 2 spiking inputs per layer on average: %.3f SOP/clock",
                      sum(o for _, o in busy) / sum(c for c, _ in busy))
    for listed, c, o in log[:: max(1, len(log) // 12)]:
        dut._log.info("  spiking inputs per layer %s: %d clocks, %d SOPs (ideal %d clocks)",
                      listed, c, o, o)


async def start(dut):
    for port, value in (("events__valid", 0), ("events__payload", 0), ("access__en", 0),
                        ("access__we", 0), ("access__mem", 0), ("access__addr", 0),
                        ("access__wdata", 0), ("flags_clear", 0), ("seed", 0), ("seed_load", 0),
                        ("round_seed", 0), ("round_seed_load", 0), ("rates", 0), ("rates_load", 0)):
        getattr(dut, port).value = value
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    await FallingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0


def first_mismatch(expected, got, where):
    for (mem, addr), value in expected.items():
        if got[(mem, addr)] != value:
            raise AssertionError(f"first mismatch: {mem.name}[{addr}] at {where}: expected {value}, "
                                 f"got {got[(mem, addr)]}")


async def check_after_learn(dut, drv, core, net, param_keys, where):
    """After a LEARN: every parameter word, both LFSR states and the flags equal the golden
    network's."""
    first_mismatch(golden_params(core, net), await drv.read_all(param_keys), f"{where} after LEARN")
    want = (int(net.lfsr_perturb[0]), int(net.lfsr_round[0]))
    got = (int(dut.perturb_state.value), int(dut.round_state.value))
    assert got == want, f"LFSR states at {where}: expected {want}, got {got}"
    flags = golden_flags(net)
    assert int(dut.flags.value) == flags, f"flags at {where}: {int(dut.flags.value):#x} vs {flags:#x}"


@cocotb.test()
async def core_learns_digits(dut):
    """Online SFDFA training on real digits: after every sample's LEARN, every weight and
    feedback word and both LFSR states equal the golden model's (stop at the first mismatch),
    with faster learning rates loaded halfway through the first epoch;
    ghat/ehat of every synapse compared before LEARN every ``PLASTICORE_GRAD_EVERY`` samples;
    every step's and LEARN's clocks equal the cycle model of ``Core``.
    Environment: ``PLASTICORE_TRAIN`` (distinct training samples, default 4),
    ``PLASTICORE_EPOCHS`` (passes over them, default 1), ``PLASTICORE_GRAD_EVERY`` (default 4)."""
    cfg = CONFIG
    n_train = int(os.environ.get("PLASTICORE_TRAIN", "4"))
    epochs = int(os.environ.get("PLASTICORE_EPOCHS", "1"))
    grad_every = int(os.environ.get("PLASTICORE_GRAD_EVERY", "4"))
    core = core_model(cfg, KIND)
    drv = Driver(dut, core)
    await start(dut)
    weights, feedback = Network.initial_weights(cfg, seed=0)
    net = Network(cfg, weights, feedback, fixed=True, seed=None)
    for key, value in golden_params(core, net).items():
        await drv.write(*key, core.encode(key[0], value))
    dut._log.debug("weights and feedback loaded")
    digits = datasets.load("digits")
    x, y = digits.x_train[:n_train], digits.y_train[:n_train]
    rasters = encode_images(cfg, x)
    sizes = cfg.layers
    param_keys = list(golden_params(core, net))
    grad_keys = list(golden_grads(core, net))
    totals = {"samples": 0, "clear": 0, "steps": 0, "learn": 0, "sops": 0, "updates": 0,
              "infer_only": 0, "elig_span": 0, "correct": 0, "learn_model": 0}
    for epoch in range(epochs):
        for s in range(n_train):
            where = f"epoch {epoch} sample {s} (label {y[s]})"
            if epoch == 0 and s == n_train // 2:
                # faster learning rates for the rest of the run (the host's RATES between samples)
                faster = (cfg.lr_hidden_shift - 3, cfg.lr_output_shift - 1)
                await drv.rates(*faster)
                net.config = net.config.replace(lr_hidden_shift=faster[0], lr_output_shift=faster[1])
            clear = await drv.command(Cmd.SAMPLE)
            dirty = bool(totals["samples"]) and not cfg.learns_hidden   # readout leaves GRAD set
            assert clear == core.sample_cycles(dirty), (where, clear, core.sample_cycles(dirty))
            if totals["samples"]:
                net.reset()
            steps = 0
            for n, row in enumerate(rasters[s]):
                inputs = [int(j) for j in np.nonzero(row)[0]]
                for j in inputs:
                    await drv.command(Cmd.SPIKE, j)
                gated = gated_neurons(net)
                net.step(row[None])
                listed = [len(inputs)] + [int(layer.spikes[0].sum()) for layer in net.layers[:-1]]
                spikers = queued_neurons(net, gated)   # what the eligibility engine served
                cycles = await drv.command(Cmd.STEP)
                if n % 10 == 0:
                    dut._log.debug("%s step %d: %d clocks", where, n, cycles)
                expected = core.step_cycles(listed, spikers)
                assert cycles == expected, f"{where} step {n}: {cycles} clocks, model {expected}"
                steps += cycles
                totals["sops"] += sum(sizes[k + 1] * K for k, K in enumerate(listed))
                totals["updates"] += sum(len(spikers[k]) * sizes[k] for k in range(len(listed)))
                if KIND != "sequenced":     # the pipelined cores' eligibility engine overlaps
                    for t in core.step_timing(listed, spikers)["layers"]:
                        totals["infer_only"] += max(t["loop"], t["trace"])
                        if t["elig_start"] is not None:
                            totals["elig_span"] += t["elig_end"] - core.ELIG_DRAIN - t["elig_start"]
                    totals["infer_only"] += 1
            totals["correct"] += int(net.predict()[0] == y[s])
            if grad_every and totals["samples"] % grad_every == 0:
                first_mismatch(golden_grads(core, net), await drv.read_all(grad_keys),
                               f"{where} before LEARN")
            learn = await drv.command(Cmd.LEARN, int(y[s]))
            rates = (net.config.lr_hidden_shift, net.config.lr_output_shift)
            assert learn == core.learn_cycles(*rates), (learn, core.learn_cycles(*rates))
            totals["learn_model"] += core.learn_cycles(*rates)
            net.learn([int(y[s])])
            await check_after_learn(dut, drv, core, net, param_keys, where)
            totals["samples"] += 1
            totals["clear"] += clear
            totals["steps"] += steps
            totals["learn"] += learn
        dut._log.info("epoch %d: %d samples bit-exact, running accuracy %d/%d", epoch, n_train,
                      totals["correct"], totals["samples"])
    t, n = totals, totals["samples"]
    words = core.n_weights + core.n_feedback
    total = t["clear"] + t["steps"] + t["learn"]
    ideal = t["sops"] + t["updates"] + n * words
    dut._log.info("%d samples, per sample: %.0f clocks = SAMPLE %.0f + steps %.0f + LEARN %.0f",
                  n, total / n, t["clear"] / n, t["steps"] / n, t["learn"] / n)
    dut._log.info("per sample: %.0f synaptic ops (inference), %.0f eligibility synapse updates, "
                  "%d learning words; ideal (one clock each) %.0f clocks: %.3f ops/clock",
                  t["sops"] / n, t["updates"] / n, words, ideal / n, ideal / total)
    if KIND != "sequenced":
        dut._log.info("eligibility engine: %.3f synapse updates/clock over its spans (first update "
                      "to last), adds %.0f clocks/sample to the steps (%.0f without eligibility)",
                      t["updates"] / max(1, t["elig_span"]), (t["steps"] - t["infer_only"]) / n,
                      t["infer_only"] / n)
    dut._log.info("learning engine: %.0f clocks per LEARN for %d words: %.3f words/clock",
                  t["learn_model"] / n, words, words * n / t["learn_model"])
