"""Amaranth-simulator driver of ``rtl.core``: the access port, the event stream and a lock-step
comparison with ``golden.network.Network(fixed=True)`` after every step (state, traces, ghat/ehat,
flags) and after every LEARN (weights, feedback, both LFSR states, flags); used by test_core.py."""

import numpy as np

from plasticore.golden.network import FLAG_NAMES, Network
from plasticore.rtl.core import Cmd, Mem
from plasticore.chip.golden_view import (gated_neurons, golden_flags, golden_params, golden_words,
                                         queued_neurons)

from .streams import put

__all__ = ["write", "read", "command", "golden_words", "golden_params", "core_words", "compare",
           "lockstep"]


async def write(ctx, core, mem, addr, raw):
    ctx.set(core.access.mem, mem)
    ctx.set(core.access.addr, addr)
    ctx.set(core.access.wdata, raw)
    ctx.set(core.access.we, 1)
    ctx.set(core.access.en, 1)
    await ctx.tick()
    ctx.set(core.access.en, 0)
    ctx.set(core.access.we, 0)


async def read(ctx, core, mem, addr):
    ctx.set(core.access.mem, mem)
    ctx.set(core.access.addr, addr)
    ctx.set(core.access.en, 1)
    await ctx.tick()
    ctx.set(core.access.en, 0)
    if core.READ_LATENCY > 1:
        await ctx.tick().repeat(core.READ_LATENCY - 1)
    return core.decode(mem, ctx.get(core.access.rdata))


async def command(ctx, core, cmd, addr=0):
    """Send one event; for STEP and SAMPLE wait for ``done``; returns the clocks from the
    transfer to ``done`` (0 for SPIKE)."""
    await put(ctx, core.events, {"cmd": cmd, "addr": addr})
    if cmd == Cmd.SPIKE:
        return 0
    cycles = 0
    while True:
        cycles += 1
        _, _, done = await ctx.tick().sample(core.done)
        if done:
            return cycles


async def core_words(ctx, core, keys):
    return {key: await read(ctx, core, *key) for key in keys}


def compare(expected, got, where, flags=None):
    """Raise AssertionError listing (memory, address, field, where, expected, got)."""
    bad = []
    for key, value in expected.items():
        if got[key] != value:
            mem, addr = key
            if isinstance(value, dict):
                bad += [f"{mem.name}[{addr}].{f} at {where}: expected {v}, got {got[key][f]}"
                        for f, v in value.items() if got[key][f] != v]
            else:
                bad.append(f"{mem.name}[{addr}] at {where}: expected {value}, got {got[key]}")
    if flags is not None and flags[0] != flags[1]:
        names = lambda f: [n for k, n in enumerate(FLAG_NAMES) if f >> k & 1]  # noqa: E731
        bad.append(f"flags at {where}: expected {names(flags[0])}, got {names(flags[1])}")
    assert not bad, f"{len(bad)} mismatches:\n" + "\n".join(bad[:20])


def make_network(config, weights, feedback=None):
    if feedback is None:
        feedback = [np.zeros((config.n_outputs, h), np.int64) for h in config.hidden_sizes]
    feedback = [np.asarray(b, np.int64) for b in feedback]
    return Network(config, [np.asarray(w, np.int64) for w in weights], feedback, fixed=True, seed=None)


def lfsr_states(ctx, core):
    return int(ctx.get(core.perturb_state)), int(ctx.get(core.round_state))


async def lockstep(ctx, core, weights, rasters, *, rng, stats=None, check_every_step=True,
                   feedback=None, labels=None, learn_stats=None):
    """Load ``weights`` (and ``feedback``), run every sample of ``rasters`` ((n_steps, n_inputs)
    bool each) with a SAMPLE before each, and compare every state word (ghat/ehat included) and
    the flags with the golden model after the reset and after every step. With ``labels``, a
    LEARN follows every sample whose label is not None; then weights, feedback, both LFSR states and the flags are
    compared. ``stats`` collects (spiking inputs per layer, clocks) per step, ``learn_stats`` the
    clocks of each LEARN. Input events go in a random order."""
    cfg = core.config
    net = make_network(cfg, weights, feedback)  # its constructor already drew the perturbations
    addr = 0
    for w in weights:
        for value in np.asarray(w).ravel():
            await write(ctx, core, Mem.WEIGHT, addr, core.encode(Mem.WEIGHT, int(value)))
            addr += 1
    for k, b in enumerate(net.feedback):
        for idx, value in enumerate(np.asarray(b[0]).ravel()):
            await write(ctx, core, Mem.FEEDBACK, core.feedback_base[k] + idx,
                        core.encode(Mem.FEEDBACK, int(value)))
    expected = golden_words(core, net)
    params = golden_params(core, net)
    compare(params, await core_words(ctx, core, params), "load")
    for s, raster in enumerate(rasters):
        await command(ctx, core, Cmd.SAMPLE)
        if s:
            net.reset()
        got = await core_words(ctx, core, expected)
        compare(golden_words(core, net), got, f"sample {s} reset",
                (golden_flags(net), ctx.get(core.flags)))
        for n, row in enumerate(raster):
            inputs = [int(j) for j in np.nonzero(row)[0]]
            rng.shuffle(inputs)
            for j in inputs:
                await command(ctx, core, Cmd.SPIKE, j)
            gated = gated_neurons(net)
            net.step(np.asarray(row, bool)[None])
            listed = [len(inputs)] + [int(layer.spikes[0].sum()) for layer in net.layers[:-1]]
            cycles = await command(ctx, core, Cmd.STEP)
            if stats is not None:
                spikers = queued_neurons(net, gated)
                stats.append((listed, cycles, spikers))
            if check_every_step or n == len(raster) - 1:
                got = await core_words(ctx, core, expected)
                compare(golden_words(core, net), got, f"sample {s} step {n}",
                        (golden_flags(net), ctx.get(core.flags)))
                assert ctx.get(core.step) == n + 1
        if labels is not None and labels[s] is not None:
            cycles = await command(ctx, core, Cmd.LEARN, int(labels[s]))
            if learn_stats is not None:
                learn_stats.append(cycles)
            net.learn([int(labels[s])])
            compare(golden_params(core, net), await core_words(ctx, core, params),
                    f"sample {s} learn (label {labels[s]})", (golden_flags(net), ctx.get(core.flags)))
            want = (int(net.lfsr_perturb[0]), int(net.lfsr_round[0]))
            assert lfsr_states(ctx, core) == want, (f"LFSR states after sample {s} learn: expected "
                                                    f"{want}, got {lfsr_states(ctx, core)}")
    return net
