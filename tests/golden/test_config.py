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
    # the learning rates are written by RATES (protocol version 2), not baked in
    assert base.replace(lr_hidden_shift=11, lr_output_shift=9,
                        lr_schedule=[[2, 17, 8]]).board_hash == base.board_hash
    assert base.replace(lr_hidden_shift=11).hash != base.hash
    assert base.replace(feedback_shift=6).board_hash != base.board_hash
    assert base.replace(layers=(64, 32, 10)).board_hash != base.board_hash


def test_learning_rate_schedule_gives_each_epoch_its_rates():
    cfg = Config(lr_hidden_shift=15, lr_output_shift=7, lr_schedule=[[3, 17, 8], [5, 19, 9]])
    assert cfg.lr_schedule == ((3, 17, 8), (5, 19, 9))
    assert [cfg.rates_at(e) for e in range(1, 7)] == [(15, 7), (15, 7), (17, 8), (17, 8), (19, 9), (19, 9)]
    assert cfg.at_epoch(1) is cfg
    later = cfg.at_epoch(5)
    assert (later.lr_hidden_shift, later.lr_output_shift, later.lr_schedule) == (19, 9, cfg.lr_schedule)
    assert Config.from_json(cfg.to_json()) == cfg and Config.from_json(cfg.to_json()).hash == cfg.hash
    assert cfg.hash != cfg.replace(lr_schedule=()).hash


def test_learning_rate_range_follows_the_formats():
    cfg = Config()
    # hidden: shift = lr + feedback.frac + grad.frac - weight.frac = lr + 10 must stay <= 31
    assert cfg.lr_shift_range("lr_hidden_shift") == (0, 21)
    # output: shift = lr + grad.frac - weight.frac = lr - 2 must stay >= 0; 24 caps every shift
    assert cfg.lr_shift_range("lr_output_shift") == (2, 24)
    assert Config(lr_hidden_shift=21).hidden_update_shift == 31
    with pytest.raises(ConfigError, match=r"lr_hidden_shift = 22 .*0\.\.21"):
        Config(lr_hidden_shift=22)
    with pytest.raises(ConfigError, match=r"lr_output_shift = 1 .*2\.\.24"):
        Config(lr_output_shift=1)


@pytest.mark.parametrize("schedule, words", [
    ([[1, 17, 8]], "epoch 1 must be after epoch 1"),
    ([[3, 17, 8], [3, 18, 8]], "epoch 3 must be after epoch 3"),
    ([[2, 22, 8]], r"lr_schedule\[0\]: lr_hidden_shift = 22 is outside 0\.\.21"),
    ([[2, 17, 8], [4, 17, 1]], r"lr_schedule\[1\]: lr_output_shift = 1 is outside 2\.\.24"),
    ([[2, 17]], r"lr_schedule\[0\] = \(2, 17\) must be three integers"),
    ([[2, 17.0, 8]], "must be three integers"),
    ("2:17:8", "lr_schedule must be a list"),
])
def test_bad_learning_rate_schedules_are_refused_by_name(schedule, words):
    with pytest.raises(ConfigError, match=words):
        Config(lr_schedule=schedule)
