"""Two rate controls the chip's rule does not have, tried on the golden model (issue 7, §22).

docs/learning.md §20 found SFDFA's hidden layer getting quieter as it learns (MNIST: 1.84 -> 1.25
spikes per neuron per sample) and less separable for a linear probe, and the spec's regulariser
unable to stop it: ``delta_i += 2**-rate_reg_shift * (rate_target - n_i)`` reaches a weight only
through ``ghat``, i.e. only in samples where the neuron fired, and there it pushes a neuron with
more than ``rate_target`` spikes *down*. This script adds, one at a time, the two forms the log
named as untried:

``--running-rate K`` (the thesis's form, 004 §5.4.5; the authors' code uses a batch mean)
    the regulariser's shortfall is ``rate_target - r_i`` instead of ``rate_target - n_i``, where
    ``r_i`` is a per-neuron running mean of the spike count, ``r_i += (n_i - r_i) / 2**K`` after
    every sample (from ``r_i = rate_target``). A neuron that is quiet on average is pushed up in
    the samples it fires in, whatever its count in this sample. Still through ``ghat``.
``--silent-lift L``
    a term that does not go through ``ghat``: after the sample's updates, every hidden neuron
    that did not fire gets ``w_ij += 2**-L`` on each input ``j`` that spiked in the sample
    (presynaptic activity and the neuron's own count: local). Stochastically rounded with the
    rounding LFSR, after the feedback update, then saturated like every weight update.

Both are what a chip could do cheaply (one running mean per hidden neuron; the link's input
spike bitmap). Neither is in docs/spec.md: the network here is a subclass of the golden
``Network`` that keeps each sample's input counts and changes only the end-of-sample sequence,
so with both options off it *is* the golden model
(``tests/experiments/test_rate_control.py`` checks that, and each term against a direct computation).
Training, evaluation and the probe are ``experiments/feature_probe.py``'s: chip accuracy, the
hidden layer's linear probe (random vs trained) and silent fractions, per seed.

Usage (from the repository root)::

    .venv/bin/python experiments/rate_control.py --dataset mnist --rule sfdfa --epochs 1 \
        --seeds 0,1,2 --silent-lift 17 --json docs/results/learning/rc_mnist60k_sfdfa_lift17.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from plasticore.golden.network import Network

from expkit import load_script

feature_probe = load_script(Path(__file__).resolve().with_name("feature_probe.py"))


def rate_control_network(*, running_rate: int | None = None, silent_lift: int | None = None):
    """A golden ``Network`` subclass with the chosen rate controls (None: off)."""

    class RateControlNetwork(Network):
        def reset(self):
            super().reset()
            if not hasattr(self, "running"):
                cfg = self.config
                one = 1 << cfg.feedback.frac if self.fixed else 1.0
                # per hidden layer, (replicas, neurons), in the feedback format's units (fixed)
                self.running = [np.full(layer.count.shape, cfg.rate_target * one,
                                        dtype=np.int64 if self.fixed else np.float64)
                                for layer in self.layers[:-1]]
            self.input_counts = None

        def run(self, raster, *, reset: bool = True):
            record = super().run(raster, reset=reset)
            raster = np.asarray(raster, dtype=bool)
            self.input_counts = (raster if raster.ndim == 3 else raster[None]).sum(axis=1)
            return record

        def hidden_errors(self, delta_out):
            errors = super().hidden_errors(delta_out)
            cfg = self.config
            if running_rate is None or cfg.rate_reg_shift is None:
                return errors
            for k, layer in enumerate(self.layers[:-1]):
                # swap the spec's per-sample shortfall for the running one
                if self.fixed:
                    per_sample = (cfg.rate_target - layer.count) << (cfg.feedback.frac - cfg.rate_reg_shift)
                    running = ((cfg.rate_target << cfg.feedback.frac) - self.running[k]) >> cfg.rate_reg_shift
                else:
                    per_sample = (cfg.rate_target - layer.count) * 2.0 ** -cfg.rate_reg_shift
                    running = (cfg.rate_target - self.running[k]) * 2.0 ** -cfg.rate_reg_shift
                errors[k] = errors[k] - per_sample + running
            return errors

        def learn(self, labels):
            delta_out = super().learn(labels)
            cfg = self.config
            if silent_lift is not None and cfg.learns_hidden:
                presynaptic = [self.input_counts] + [layer.count for layer in self.layers[:-2]]
                for layer, pre in zip(self.layers[:-1], presynaptic):
                    lift = (layer.count == 0)[:, :, None] & (pre > 0)[:, None, :]
                    if self.fixed:
                        draws = self._draw_round(lift[0].size)
                        step = self._round_shift(lift.astype(np.int64) << cfg.weight.frac, silent_lift, draws)
                    else:
                        step = self._round_shift(lift.astype(np.float64), silent_lift, None)
                    layer.w = self._sat(np.broadcast_to(layer.w, step.shape) + step, cfg.weight, "weight")
                    layer.w_float = None
            if running_rate is not None:
                for k, layer in enumerate(self.layers[:-1]):
                    if self.fixed:
                        self.running[k] += ((layer.count << cfg.feedback.frac) - self.running[k]) >> running_rate
                    else:
                        self.running[k] += (layer.count - self.running[k]) * 2.0 ** -running_rate
            return delta_out

    return RateControlNetwork


def _shift(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 30:
        raise argparse.ArgumentTypeError(f"a shift must be in 0..30, not {value}")
    return value


def build_parser():
    p = feature_probe.build_parser()
    p.description = __doc__.split("\n\n")[0]
    p.add_argument("--running-rate", type=_shift, metavar="K", default=None,
                   help="regulariser on a running mean of the count, r += (n - r) / 2**K")
    p.add_argument("--silent-lift", type=_shift, metavar="L", default=None,
                   help="w_ij += 2**-L for each input that spiked, on neurons that did not fire")
    return p


def run(args, argv) -> dict:
    network = rate_control_network(running_rate=args.running_rate, silent_lift=args.silent_lift)
    record = feature_probe.run(args, argv, network_class=network)
    record["rate_control"] = {"running_rate": args.running_rate, "silent_lift": args.silent_lift}
    record["command"] = ["python", "experiments/rate_control.py", *argv]
    return record


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    feature_probe.report(run(args, argv), args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
