#!/usr/bin/env python
"""Training speed of the fixed-point golden model: the fast paths against the step-by-step one.

Run it as a script (``bench`` is not a package)::

    python bench/golden_speed.py              # 784-256-10 issue 23's rule; 784-128-10 thesis form
    python bench/golden_speed.py --samples 40 --cases new:256

Each row trains the same network on the same MNIST samples twice in one process: with
``Network.fast = False`` (the step-by-step reference: ``run`` calls ``step`` 50 times, ``learn``
forms every draw of every updated word) and with ``Network.fast = True`` (the default:
``_run_window`` and the sparse ``_update_weights``). The two alternate in chunks of ``--chunk``
samples so that a change in the machine's load hits both alike. A row reports samples/s of each
(per-sample training as ``train.train`` does it: encode, run, predict, learn; evaluation
excluded) by wall clock and by this process's CPU time, the ratios fast / reference, and whether
the two networks ended with the same words (weights, feedback, both LFSRs, flags): they must.

Cases: ``new:N`` is issue 23's rule at 784-N-10 (integrate outputs, base-2 softmax, surrogate
eligibility, no regulariser, lr_hidden_shift 6, lr_output_shift 9, init_output 0, init_hidden
1.5); ``thesis:N`` is the MNIST preset (thesis-form SFDFA) at 784-N-10.

Measured (``--samples 60``, the project's 2-core machine under a load of about 17, so the CPU-time
columns are the ones to read): new:256 38.4 -> 170.5 samples/s (4.4x; wall 1.7 -> 7.7, 4.6x),
thesis:128 41.3 -> 106.7 (2.6x; wall 1.8 -> 4.6, 2.5x); same words in both.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import time

import numpy as np

from plasticore.golden import presets
from plasticore.golden.config import Config
from plasticore.golden.datasets import load
from plasticore.golden.train import _replica_network, encode_images

NEW_RULE = dict(output_layer="integrate", output_loss="softmax", eligibility="surrogate",
                rate_reg_shift=None, lr_hidden_shift=6, lr_output_shift=9, init_output=0.0,
                init_hidden=1.5)


def case_config(case: str) -> Config:
    rule, hidden = case.split(":")
    fields = presets.dataset_fields("mnist", int(hidden))
    if rule == "new":
        fields.update(NEW_RULE)
    elif rule != "thesis":
        raise ValueError(f"unknown rule form {rule!r} in case {case!r} (new or thesis)")
    return Config(**fields)


def words(net) -> list[np.ndarray]:
    return [*net.weights(), *net.feedback, net.lfsr_round, net.lfsr_perturb,
            *(net.flags[k] for k in sorted(net.flags))]


def measure(case: str, data, samples: int, chunk: int, seed: int) -> dict:
    config = case_config(case)
    nets = {}
    for name, fast in (("reference", False), ("fast", True)):
        nets[name] = _replica_network(config, [seed], True)
        nets[name].fast = fast
    wall = dict.fromkeys(nets, 0.0)
    cpu = dict.fromkeys(nets, 0.0)
    order = np.random.default_rng([seed, 1]).permutation(len(data.y_train))[:samples]
    for start in range(0, samples, chunk):
        for name, net in nets.items():
            w0, c0 = time.perf_counter(), time.process_time()
            for k in order[start:start + chunk]:
                net.run(encode_images(config, data.x_train[k:k + 1]))
                net.predict()
                net.learn(data.y_train[k:k + 1])
            wall[name] += time.perf_counter() - w0
            cpu[name] += time.process_time() - c0
    same = all(np.array_equal(a, b) for a, b in zip(words(nets["reference"]), words(nets["fast"])))
    return {"case": case, "layers": config.layers, "samples": samples,
            **{f"{n}_wall": samples / wall[n] for n in nets},
            **{f"{n}_cpu": samples / cpu[n] for n in nets},
            "ratio_wall": wall["reference"] / wall["fast"],
            "ratio_cpu": cpu["reference"] / cpu["fast"], "same_words": same}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="new:256,thesis:128",
                   help="comma-separated new:N / thesis:N (default new:256,thesis:128)")
    p.add_argument("--samples", type=int, default=100, help="training samples per network (100)")
    p.add_argument("--chunk", type=int, default=10, help="samples per alternation (10)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data = load("mnist")
    # first use builds the LFSR tables of both paths: not part of a row
    for case in args.cases.split(","):
        measure(case, data, 1, 1, args.seed)
    print(f"{'case':<12} {'layers':<14} {'samples':>7}  {'ref/s wall':>10} {'fast/s wall':>11} "
          f"{'ratio':>6}  {'ref/s cpu':>9} {'fast/s cpu':>10} {'ratio':>6}  same words")
    failed = False
    for case in args.cases.split(","):
        r = measure(case, data, args.samples, args.chunk, args.seed)
        failed |= not r["same_words"]
        print(f"{r['case']:<12} {'-'.join(map(str, r['layers'])):<14} {r['samples']:>7}  "
              f"{r['reference_wall']:>10.1f} {r['fast_wall']:>11.1f} {r['ratio_wall']:>5.1f}x  "
              f"{r['reference_cpu']:>9.1f} {r['fast_cpu']:>10.1f} {r['ratio_cpu']:>5.1f}x  "
              f"{'yes' if r['same_words'] else 'NO'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
