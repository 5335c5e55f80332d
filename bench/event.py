#!/usr/bin/env python
"""Training speed of the event-driven float trainer (baselines/event_net.py) at 784-800-10.

Run it as a script (``bench`` is not a package)::

    python bench/event.py                    # 4 batches of 50 per trainer, 1 thread
    python bench/event.py --batches 8 --threads 2

One process measures, on the same MNIST training samples and the same initial network (the
authors' setting, SFDFA thesis form, batch 50), in alternating rounds so that a change in the
machine's load hits all alike:

* ``event``: ``EventNet.train_batch`` (numba kernels where installed, else the numpy path);
* ``clocked``: the clocked torch network at dt = 2 ms on the same net (experiments/
  thesis_setting.py's ``thesis`` row: 100 steps, tau_s = 65 steps; SFDFA gradients with the
  golden local gradient, plus Adam), one batch of 50 per round;
* ``golden``: golden/event.py driven sample by sample (both layers with their local gradients
  and grades; no update), on ``--golden-samples`` samples per round.

Rates are samples/s by wall clock and by this process's CPU time (on a loaded machine read the
CPU columns; the load average is printed and stored). Writes bench/results/event.json (keys
``samples_per_second``, ``clocked_samples_per_second``, ``golden_samples_per_second`` and their
CPU-time forms, ``ratio_clocked``, ``ratio_golden``, ``load_average``, ``threads``, ``backend``).

Measured (``--batches 4``, 1 thread, numba, the project's 2-core machine under a load average of
about 9, so read the CPU-time column): event-driven 213 samples/s of CPU time (35.6 wall),
clocked torch 43.7 (7.1), golden/event.py 9.2 (1.55): 4.9x and 23x. The bench's network is the
initial U(-1, 1) one (about 0.9 hidden spikes per neuron); once the regulariser has brought the
rate to about 0.25 the trainer runs about twice as fast (68 samples/s wall at nice 15 under the
same load, against 36 here at nice 10).
"""

from __future__ import annotations

import os
import sys

os.environ.update(dict.fromkeys(
    ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"),
    sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv[:-1] else "1"))

import argparse
import json
import time
from pathlib import Path

import numpy as np

from plasticore.baselines import event_net
from plasticore.golden import datasets
from plasticore.golden import event as golden_event

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "event.json"


class Meter:
    def __init__(self):
        self.wall = self.cpu = 0.0
        self.samples = 0

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._w
        self.cpu += time.process_time() - self._c

    def rates(self):
        return self.samples / self.wall, self.samples / self.cpu


def _clocked(x, y, seed):
    """A function training one batch of the clocked torch network (thesis row, SFDFA)."""
    import torch

    sys.path.insert(0, str(ROOT / "experiments"))
    from expkit import load_script

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    ts = load_script(ROOT / "experiments" / "thesis_setting.py")
    st = ts.row_setting("thesis", "mnist")
    rng = np.random.default_rng([seed, 0])
    weights = [torch.tensor(rng.uniform(-1, 1, (800, 784)), dtype=torch.float32),
               torch.tensor(rng.uniform(-1, 1, (10, 800)), dtype=torch.float32)]
    state = ts.State([torch.zeros(10, 800)], torch.Generator().manual_seed(seed), {})
    params = [torch.nn.Parameter(w) for w in weights]
    opt = torch.optim.Adam(params, lr=3e-3)
    rc = ts._RasterCfg(st)

    def step(idx):
        raster = ts.raster_of(rc, x[idx])
        labels = torch.tensor(np.asarray(y[idx], dtype=np.int64))
        grads, _ = ts.gradients("sfdfa", [p.detach() for p in params], raster, labels, st, state)
        for p, g in zip(params, grads):
            p.grad = g
        opt.step()
    return step


def _golden_sample(net, pixels, rng):
    """golden/event.py on one sample: hidden then output layer, gradients and grades."""
    s = net.setting
    t = event_net.encode_ttfs(pixels[None], s.input_window)[0]
    trains = [t[j][np.isfinite(t[j])] for j in range(t.shape[0])]
    hidden = golden_event.run_layer(net.weights[0], trains, tau=s.tau, theta=net.thetas[0],
                                    window=s.window, gradient=s.gradient,
                                    perturbation=rng.standard_normal(net.weights[0].shape[0]))
    golden_event.run_layer(net.weights[1], hidden.spike_times, tau=s.tau, theta=net.thetas[1],
                           window=s.window, gradient=s.gradient,
                           input_grades=hidden.spike_grades)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batches", type=int, default=4, help="rounds (one batch of 50 each)")
    p.add_argument("--golden-samples", type=int, default=2, help="golden samples per round")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-clocked", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=RESULTS)
    args = p.parse_args(argv)

    data = datasets.load("mnist")
    x, y = data.x_train, data.y_train
    setting = event_net.EventSetting()
    net = event_net.EventNet((784, 800, 10), setting, "sfdfa", args.seed)
    rng = np.random.default_rng([args.seed, 2])
    batch = setting.batch
    # warm-up: numba compiles (or loads its cache) outside the measurement
    net.train_batch(event_net.encode_ttfs(x[:batch], setting.input_window), y[:batch], rng)
    clocked = None if args.no_clocked else _clocked(x, y, args.seed)
    if clocked is not None:
        clocked(np.arange(batch))
    m_event, m_clocked, m_golden = Meter(), Meter(), Meter()
    load_before = os.getloadavg()
    for r in range(args.batches):
        idx = np.arange((r + 1) * batch, (r + 2) * batch)
        with m_event:
            net.train_batch(event_net.encode_ttfs(x[idx], setting.input_window), y[idx], rng)
        m_event.samples += batch
        if clocked is not None:
            with m_clocked:
                clocked(idx)
            m_clocked.samples += batch
        with m_golden:
            for i in idx[:args.golden_samples]:
                _golden_sample(net, x[i], rng)
        m_golden.samples += args.golden_samples
        print(f"round {r + 1}/{args.batches}", flush=True)
    load_after = os.getloadavg()
    ev_w, ev_c = m_event.rates()
    go_w, go_c = m_golden.rates()
    cl_w, cl_c = m_clocked.rates() if clocked is not None else (float("nan"), float("nan"))
    backend = "numba" if event_net._kernels is not None else "numpy"
    result = {
        "net": "784-800-10", "batch": batch, "threads": args.threads, "backend": backend,
        "samples_per_second": ev_w, "samples_per_second_cpu": ev_c,
        "clocked_samples_per_second": cl_w, "clocked_samples_per_second_cpu": cl_c,
        "golden_samples_per_second": go_w, "golden_samples_per_second_cpu": go_c,
        "ratio_clocked": ev_w / cl_w, "ratio_clocked_cpu": ev_c / cl_c,
        "ratio_golden": ev_w / go_w, "ratio_golden_cpu": ev_c / go_c,
        "event_samples": m_event.samples, "golden_samples": m_golden.samples,
        "load_average": [load_before[0], load_after[0]], "cpus": os.cpu_count(),
        "hidden_rate_at_start": "initial U(-1, 1) network (about 0.7-0.9 spikes/neuron)",
    }
    print(f"\n784-800-10, batch {batch}, {args.threads} thread(s), backend {backend}, "
          f"load average {load_before[0]:.1f} -> {load_after[0]:.1f} on {os.cpu_count()} CPUs")
    print("| trainer | samples/s (wall) | samples/s (CPU time) | event / this (wall) | (CPU) |")
    print("|---|---|---|---|---|")
    print(f"| event-driven (this) | {ev_w:.1f} | {ev_c:.1f} | 1 | 1 |")
    if clocked is not None:
        print(f"| clocked torch, dt = 2 ms | {cl_w:.1f} | {cl_c:.1f} | {ev_w / cl_w:.1f}x | "
              f"{ev_c / cl_c:.1f}x |")
    print(f"| golden/event.py per sample | {go_w:.2f} | {go_c:.2f} | {ev_w / go_w:.0f}x | "
          f"{ev_c / go_c:.0f}x |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
