"""The configuration: validation names the field and the limit; JSON and hashes are stable."""

import json
import subprocess
import sys

import pytest

from plasticore.golden.config import Config, ConfigError, Format


def test_defaults_are_valid_and_derive_integer_constants():
    cfg = Config()
    assert cfg.rho_q == round(2**16 * 0.9048374180359595)
    assert cfg.rho_s_q == round(2**16 * 0.8187307530779818)
    assert cfg.threshold_q == 1 << cfg.weight.frac
    assert len(cfg.rho_pow_q) == cfg.n_steps + 1 and cfg.rho_pow_q[0] == 0xFFFF
    assert cfg.rho_pow_q[1] == cfg.rho_q


def test_json_round_trip_keeps_the_hash():
    cfg = Config(layers=(784, 128, 10), lr_hidden_shift=9, trace=Format(16, 11, False))
    again = Config.from_json(cfg.to_json())
    assert again == cfg and again.hash == cfg.hash and again.core_hash == cfg.core_hash
    assert json.loads(cfg.to_json())["layers"] == [784, 128, 10]


def test_hash_is_stable_across_processes():
    code = "from plasticore.golden.config import Config; print(Config().hash, Config().core_hash)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [Config().hash, Config().core_hash]


def test_learning_fields_change_the_run_hash_but_not_the_core_hash():
    base = Config()
    tuned = base.replace(lr_hidden_shift=9, seed_round=7, rule="dfa")
    assert tuned.hash != base.hash
    assert tuned.core_hash == base.core_hash
    assert base.replace(layers=(64, 32, 10)).core_hash != base.core_hash


@pytest.mark.parametrize("changes, words", [
    (dict(tau=10.0, tau_s=4.0), ["tau", "2 * tau_s"]),
    (dict(layers=(64, 0, 10)), ["layers[1]", "positive"]),
    (dict(layers=(64,)), ["layers"]),
    (dict(layers=(64, 10), rule="sfdfa"), ["hidden layer"]),
    (dict(n_steps=300), ["n_steps = 300", "step_bits = 8", "255"]),
    (dict(input_window=60), ["input_window = 60", "n_steps = 50"]),
    (dict(state=Format(17, 11)), ["state.bits", "weight.bits + 2"]),
    (dict(state=Format(24, 10)), ["state.frac", "weight.frac"]),
    (dict(trace=Format(16, 16, False)), ["trace", "one spike"]),
    (dict(trace=Format(16, 12, True)), ["trace", "unsigned"]),
    (dict(weight=Format(40, 11), state=Format(48, 11)), ["weight.bits", "2..32"]),
    (dict(threshold=20.0), ["20.0", "does not fit"]),
    (dict(threshold=1e-5), ["threshold", "rounds to 0"]),
    (dict(lr_hidden_shift=22), ["lr_hidden_shift = 22", "0..31"]),
    (dict(lr_output_shift=-2), ["lr_output_shift", "0..24"]),
    (dict(target_true=300), ["count_bits = 8"]),
    (dict(seed_round=0), ["seed_round", "non-zero"]),
    (dict(rule="backprop"), ["rule", "sfdfa"]),
    (dict(init_hidden=17.0), ["initial weight", "s16.11"]),
])
def test_impossible_configurations_are_refused_by_name(changes, words):
    with pytest.raises(ConfigError) as info:
        Config(**changes)
    for word in words:
        assert word in str(info.value)


def test_unknown_fields_are_refused():
    with pytest.raises(ConfigError, match="unknown configuration field.*colour"):
        Config.from_dict({"colour": "red"})


def test_whole_numbers_for_reals_hash_like_floats():
    assert Config(tau=20, tau_s=10).hash == Config(tau=20.0, tau_s=10.0).hash


def test_malformed_format_is_a_config_error():
    with pytest.raises(ConfigError, match="weight must have the fields"):
        Config.from_dict({"weight": {"nbits": 3}})


def test_board_hash_ignores_what_the_host_sets_at_run_time():
    base = Config()
    assert base.replace(seed_perturb=7, seed_round=9, init_hidden=2.0).board_hash == base.board_hash
    assert base.replace(lr_hidden_shift=11).board_hash != base.board_hash
    assert base.replace(layers=(64, 32, 10)).board_hash != base.board_hash
