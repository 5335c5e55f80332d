"""The fast fixed-point paths of the golden model compute exactly what the step-by-step model
computes: the window run at once (``Network.run``) and the sparse weight updates of ``learn``.

Two kinds of proof: digests of every word the model holds after each of 20 MNIST samples,
recorded from the step-by-step code of main at 0fa7f02 before the fast paths existed; and the
fast paths against the reference path (``Network.fast = False``) on configurations that drive
every saturating quantity into its format."""

import hashlib

import numpy as np
import pytest

from plasticore.golden import presets
from plasticore.golden.config import Config, Format
from plasticore.golden.datasets import load
from plasticore.golden.network import FLAG_NAMES, Network
from plasticore.golden.train import _replica_network, encode_images

NEW_RULE = dict(output_layer="integrate", output_loss="softmax", eligibility="surrogate",
                rate_reg_shift=None, lr_hidden_shift=6, lr_output_shift=9, init_output=0.0,
                init_hidden=1.5)
#: 784-64-10 MNIST configurations: the preset's thesis form, issue 23's rule, and variants
MNIST_CASES = {
    "thesis": {},
    "new_rule": NEW_RULE,
    "hinge_regulariser": {**NEW_RULE, "output_loss": "hinge", "rate_reg_shift": 1},
    "spike_time_integrate": {**NEW_RULE, "eligibility": "spike_time"},
    "readout": {"rule": "readout"},
    "dfa_no_reset_path": {"rule": "dfa", "reset_path": False},
    # narrow words and fast rates: every flag rises, every saturation path runs
    "saturating": {"grad": Format(11, 9), "weight": Format(13, 10), "state": Format(15, 10), "grade": Format(10, 8),
                   "trace": Format(14, 12, False),
                   "feedback": Format(11, 10), "init_feedback": 0.9, "count_bits": 3, "target_true": 6, "target_false": 1, "init_hidden": 3.0,
                   "lr_hidden_shift": 2, "lr_output_shift": 2, "feedback_shift": 1,
                   "error_clip": None},
    "saturating_new_rule": {**NEW_RULE, "grad": Format(11, 9), "state": Format(18, 11),
                            "grade": Format(10, 8), "init_hidden": 3.0, "lr_hidden_shift": 0,
                            "lr_output_shift": 0, "feedback_shift": 1},
}


def mnist_config(case: str) -> Config:
    return Config(**{**presets.dataset_fields("mnist", 64), **MNIST_CASES[case]})


def state_digest(net: Network, data, n_samples: int = 20) -> str:
    """Train two seeds as replicas on ``n_samples`` MNIST samples; hash every word the model holds
    (weights, feedback, LFSR states, flags, every per-sample state of every layer) after each
    sample's window and after each sample's learning."""
    h = hashlib.sha256()

    def absorb(*arrays):
        for a in arrays:
            a = np.ascontiguousarray(a)
            h.update(str((a.dtype.str, a.shape)).encode())
            h.update(a.tobytes())

    def absorb_all():
        for layer in net.layers:
            absorb(layer.w, layer.trace_x, layer.trace_y, layer.a, layer.c, layer.grade_sum,
                   layer.count, layer.last_step, layer.grade_total, layer.perturbation,
                   layer.ghat, layer.ehat, layer.spikes, layer.grades)
        absorb(*net.feedback, net.lfsr_perturb, net.lfsr_round,
               *[net.flags[name] for name in FLAG_NAMES])

    for k in range(n_samples):
        idx = np.array([k, n_samples + k])
        record = net.run(encode_images(net.config, data.x_train[idx]))
        absorb(*record.spikes, net.predict())
        absorb_all()
        absorb(net.learn(data.y_train[idx]))
        absorb_all()
    return h.hexdigest()


def flags_raised(net: Network) -> set:
    return {name for name, v in net.flags.items() if v.any()}


#: ``state_digest`` of every MNIST case, recorded with the step-by-step code of 0fa7f02; the flags
#: it raised: none, except "saturating" (all seven) and "saturating_new_rule" (grad, grade, state,
#: weight)
DIGESTS_0FA7F02 = {
    "thesis": "1790c8147f1e8be7b08339a352ccab0552e2f56364dacd5f55574c4f7b630fb9",
    "new_rule": "aff69f4efb9feb47ab801135dd5c6283769835a810f8aebe34e2557fc1a8bec6",
    "hinge_regulariser": "3996a2ac63c01eb7236f20b870e79d9e45d7cd0c1e458f310f70e4fccadb1b34",
    "spike_time_integrate": "4897cb3630456d6b60a89d14320c20c812b515dd43e7b2ac4afc53139bbb0f4a",
    "readout": "d493ca5fdf2d86d193f61dfce9bafc6496d99d2e503b8347f0f9f41c2112f967",
    "dfa_no_reset_path": "efb74a6066ee6ab126268d23064d31cd9f7bb2590f4ecb89b752fad673791b81",
    "saturating": "74ec5af1c2a2af38de25880154518da9d98bf18f8c5c26d25327a2f8be615451",
    "saturating_new_rule": "36c9562666fe16fd491f5031967a5683b39b37e8d29ae9e499da8dda0ab59c5d",
}


@pytest.fixture(scope="module")
def mnist():
    return load("mnist")


@pytest.mark.parametrize("case", list(MNIST_CASES))
def test_twenty_mnist_samples_hold_the_words_recorded_before_the_fast_paths(mnist, case):
    net = _replica_network(mnist_config(case), [0, 1], True)
    assert state_digest(net, mnist) == DIGESTS_0FA7F02[case]
