"""cocotb testbench of issue 23's rule in the sequenced core (run by ``sim/test_seqcore_rule.py``):
digits through the exported Verilog in lock step with ``golden.network.Network(fixed=True)``
under ``output_layer="integrate"``, ``output_loss="softmax"``, ``eligibility="surrogate"``.

* ``seqcore_learns_new_rule``: online learning; every clock count of STEP (with the neurons the
  golden model's surrogate gate opened) and LEARN equals ``SequencedCycles``; V_o and the whole
  per-sample state before every LEARN, ghat every ``PLASTICORE_GRAD_EVERY`` samples; weights,
  feedback, LFSR states and flags after every LEARN.

Environment: ``PLASTICORE_CONFIG`` (JSON), ``PLASTICORE_TRAIN`` (default 3).
"""

import os

import cocotb
import numpy as np

from plasticore.chip.golden_view import golden_grads, golden_params, golden_words
from plasticore.golden import datasets
from plasticore.golden.config import Config
from plasticore.golden.network import Network
from plasticore.golden.train import encode_images
from plasticore.rtl.core import Cmd
from plasticore.rtl.kinds import core_model

from tb_core import Driver, check_after_learn, first_mismatch, start

CONFIG = Config.from_json(os.environ["PLASTICORE_CONFIG"])


@cocotb.test()
async def seqcore_learns_new_rule(dut):
    cfg = CONFIG
    n_train = int(os.environ.get("PLASTICORE_TRAIN", "3"))
    grad_every = int(os.environ.get("PLASTICORE_GRAD_EVERY", "2"))
    core = core_model(cfg, "sequenced")
    drv = Driver(dut, core)
    await start(dut)
    gates = []
    surrogate = Network._surrogate_updates

    def spy(self, layer, membrane, theta):   # the neurons the gate opens, per hidden layer
        gates.append(np.nonzero(np.abs(membrane[0] - theta) <= self.config.surrogate_width_q)[0])
        return surrogate(self, layer, membrane, theta)

    Network._surrogate_updates = spy
    weights, feedback = Network.initial_weights(cfg, seed=0)
    net = Network(cfg, weights, feedback, fixed=True, seed=None)
    for key, value in golden_params(core, net).items():
        await drv.write(*key, core.encode(key[0], value))
    digits = datasets.load("digits")
    x, y = digits.x_train[:n_train], digits.y_train[:n_train]
    rasters = encode_images(cfg, x)
    param_keys = list(golden_params(core, net))
    state_keys = list(golden_words(core, net, grads=False))
    grad_keys = list(golden_grads(core, net))
    H = len(cfg.hidden_sizes)
    totals = {"steps": 0, "learn": 0, "gated": 0, "correct": 0}
    for s in range(n_train):
        where = f"sample {s} (label {y[s]})"
        clear = await drv.command(Cmd.SAMPLE)
        assert clear == core.sample_cycles(False), (where, clear, core.sample_cycles(False))
        if s:
            net.reset()
        for n, row in enumerate(rasters[s]):
            inputs = [int(j) for j in np.nonzero(row)[0]]
            for j in inputs:
                await drv.command(Cmd.SPIKE, j)
            del gates[:]
            net.step(row[None])
            listed = [len(inputs)] + [int(layer.spikes[0].sum()) for layer in net.layers[:-1]]
            spikers = [np.nonzero(layer.spikes[0])[0].tolist() for layer in net.layers]
            gated = [g.tolist() for g in gates] + [[]]
            assert len(gates) == H
            cycles = await drv.command(Cmd.STEP)
            expected = core.step_cycles(listed, spikers, gated)
            assert cycles == expected, f"{where} step {n}: {cycles} clocks, model {expected}"
            totals["steps"] += cycles
            totals["gated"] += sum(map(len, gated))
        totals["correct"] += int(net.predict()[0] == y[s])
        first_mismatch(golden_words(core, net, grads=False), await drv.read_all(state_keys),
                       f"{where} before LEARN")
        if s % grad_every == 0:
            first_mismatch(golden_grads(core, net), await drv.read_all(grad_keys), f"{where} ghat")
        learn = await drv.command(Cmd.LEARN, int(y[s]))
        assert learn == core.learn_cycles(), (where, learn, core.learn_cycles())
        totals["learn"] += learn
        net.learn([int(y[s])])
        await check_after_learn(dut, drv, core, net, param_keys, where)
    Network._surrogate_updates = surrogate
    dut._log.info("%d samples bit-exact: per sample %.0f step clocks (%.0f gated neurons), "
                  "LEARN %.0f clocks; running accuracy %d/%d", n_train, totals["steps"] / n_train,
                  totals["gated"] / n_train, totals["learn"] / n_train, totals["correct"], n_train)
