#!/usr/bin/env python
"""Export a trained network to NIR and run it in snnTorch: the spike counts of the golden float
model, neuron for neuron.

    python examples/nir_snntorch.py                         # 300 training digits, 200 test
    python examples/nir_snntorch.py --limit 100 --test-limit 50 --out /tmp/net.nir

Needs the [nir] and [torch] extras. The mapping (dt, tau, threshold, the subtractive reset):
plasticore/host/nir.py's docstring.
"""

import argparse

import numpy as np

import plasticore as pc
from plasticore.golden.presets import THESIS_DIGITS
from plasticore.golden.train import encode_images, layer_counts
from plasticore.host import nir as pnir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--test-limit", type=int, default=200)
    parser.add_argument("--out", default="digits.nir")
    args = parser.parse_args(argv)

    # NIR carries spiking CubaLIF layers: the thesis form (integrate outputs are not exported yet)
    config = pc.configure("digits", **THESIS_DIGITS)
    result = pc.train(config, "digits", epochs=1, limit=args.limit, test_limit=args.test_limit)
    words = pc.weights(result)

    pnir.write(args.out, pc.to_nir(config, words))           # an HDF5 file any NIR reader takes
    graph = pnir.read(args.out)
    print(pnir.describe(graph))
    back, floats = pc.from_nir(graph)                         # and back: the same network
    assert back == config

    pixels = pc.load_dataset("digits").x_test[:args.test_limit]
    theirs = pnir.run_snntorch(graph, encode_images(config, pixels))   # snnTorch, float64
    feedback = [np.zeros((config.n_outputs, n)) for n in config.hidden_sizes]
    ours = layer_counts(config, floats, feedback, pixels, fixed=False)  # the golden float model
    agreement = [float(np.mean(a == b)) for a, b in zip(theirs, ours)]
    for k, share in enumerate(agreement):
        print(f"layer {k + 1}: {share:.1%} of the spike counts equal "
              f"({ours[k].mean():.2f} spikes per neuron)")
    classes = float(np.mean(theirs[-1].argmax(1) == ours[-1].argmax(1)))
    print(f"same class on {classes:.1%} of {len(pixels)} test digits")
    return agreement, classes


if __name__ == "__main__":
    main()
