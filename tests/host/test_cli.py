"""Tests of the ``plasticore`` command line: train (JSON, plots, determinism), config, errors.

Runs are tiny (60 digits samples, one epoch) and call ``main`` in-process; the console script is
run once through a subprocess to prove it is installed.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from plasticore.golden import datasets, presets
from plasticore.golden.config import Config
from plasticore.host.cli import main

SMALL = ["--dataset", "digits", "--epochs", "1", "--limit", "60", "--test-limit", "60", "--quiet"]
PLOTS = ("accuracy.png", "raster.png", "alignment.png", "hidden_rate.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REQUIRED_KEYS = {
    "dataset", "rule", "target", "epochs", "train_accuracy", "test_accuracy", "test_accuracy_std",
    "best_test_accuracy", "samples_per_second", "config_hash", "core_hash", "config", "seeds",
    "fixed_point", "history", "command", "limit",
}


def train_json(tmp_path, *extra, name="out.json"):
    """Run ``plasticore train`` on the small digits set and return the JSON it wrote."""
    path = tmp_path / name
    assert main(["train", *SMALL, "--json", str(path), *extra]) == 0
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def sfdfa_run(tmp_path_factory):
    """One SFDFA run with JSON and plots, shared by the tests that inspect its outputs."""
    folder = tmp_path_factory.mktemp("sfdfa")
    argv = ["train", *SMALL, "--rule", "sfdfa", "--json", str(folder / "out.json"),
            "--plots", str(folder / "plots")]
    assert main(argv) == 0
    return json.loads((folder / "out.json").read_text()), folder / "plots", argv


def test_train_without_epochs_runs_the_presets_own(tmp_path):
    """Each dataset preset carries its epochs (golden/presets.py EPOCHS): without --epochs a run
    takes them, so `--dataset mnist --rule sfdfa` runs the measured rule to its end."""
    assert presets.dataset_epochs("mnist") == 3 and presets.dataset_epochs("digits") == 5
    out = tmp_path / "out.json"
    assert main(["train", "--dataset", "digits", "--limit", "8", "--test-limit", "8", "--quiet",
                 "--set", "lr_schedule=[]", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["epochs"] == 5 and len(record["history"]) == 5
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        presets.dataset_epochs("cifar")


# --- train: outputs ---------------------------------------------------------------------------------
def test_train_json_has_every_key_and_sane_values(sfdfa_run):
    record, _, argv = sfdfa_run
    assert REQUIRED_KEYS <= record.keys()
    assert record["dataset"] == "digits" and record["rule"] == "sfdfa" and record["target"] == "golden"
    assert record["epochs"] == 1 and record["limit"] == 60 and record["seeds"] == [0]
    assert record["fixed_point"] is True
    for key in ("train_accuracy", "test_accuracy", "best_test_accuracy"):
        assert 0.0 <= record[key] <= 1.0, key
    assert record["test_accuracy_std"] == 0.0  # one seed
    assert record["best_test_accuracy"] >= record["test_accuracy"]
    assert record["samples_per_second"] > 0
    config = Config.from_dict(record["config"])
    assert record["config_hash"] == config.hash and record["core_hash"] == config.core_hash
    assert config.layers == (64, 128, 10) and config.rule == "sfdfa"  # the digits preset
    assert len(record["history"]) == 1
    epoch = record["history"][0]
    assert epoch["epoch"] == 1 and len(epoch["test_accuracy"]) == 1
    assert epoch["test_accuracy"][0] == record["test_accuracy"]
    assert len(epoch["feedback_alignment"]) == 1 and -1 <= epoch["feedback_alignment"][0] <= 1
    assert record["command"][1:] == argv


def test_train_writes_four_valid_pngs(sfdfa_run):
    import matplotlib.image

    _, folder, _ = sfdfa_run
    for name in PLOTS:
        path = folder / name
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE, name
        assert len(data) > 10_000, f"{name} is only {len(data)} bytes"
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200, image.shape
        assert image.std() > 0.01, f"{name} is blank"


def test_same_seed_gives_identical_results(sfdfa_run, tmp_path):
    first, _, _ = sfdfa_run
    again = train_json(tmp_path, "--rule", "sfdfa", "--seed", "0")
    for key in ("train_accuracy", "test_accuracy", "best_test_accuracy", "config_hash"):
        assert again[key] == first[key], key
    assert again["history"] == first["history"]


def test_replica_of_a_multi_seed_run_is_the_single_seed_run(sfdfa_run, tmp_path):
    single, _, _ = sfdfa_run
    both = train_json(tmp_path, "--seeds", "0,1")
    assert both["seeds"] == [0, 1]
    assert both["history"][0]["test_accuracy"][0] == single["history"][0]["test_accuracy"][0]
    per_seed = both["history"][0]["test_accuracy"]
    assert both["test_accuracy"] == pytest.approx(sum(per_seed) / 2)
    assert len(both["seed_config_hashes"]) == 2


def test_float_model_runs(tmp_path):
    record = train_json(tmp_path, "--float", "--rule", "dfa")
    assert record["fixed_point"] is False and record["rule"] == "dfa"
    assert 0.0 <= record["test_accuracy"] <= 1.0


def test_readout_rule_plots_say_no_feedback(tmp_path, capsys):
    record = train_json(tmp_path, "--rule", "readout", "--plots", str(tmp_path / "plots"))
    assert record["rule"] == "readout"
    for name in PLOTS:
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG_SIGNATURE
    summary = capsys.readouterr().out
    assert "test accuracy" in summary and "samples/s" in summary


def test_summary_is_printed(sfdfa_run, tmp_path, capsys):
    assert main(["train", *SMALL]) == 0
    out = capsys.readouterr().out
    first, _, _ = sfdfa_run
    assert f"{first['test_accuracy']:.4f} +- 0.0000" in out
    assert "best epoch" in out and "samples/s" in out and first["config_hash"] in out


def test_learning_rate_schedule_from_the_command_line(tmp_path, capsys):
    """``--set lr_schedule=...`` (JSON): each epoch's rates in the history and the summary, and
    the same run on the emulator (the board path: RATES each epoch) as on the golden model."""
    argv = ["--epochs", "2", "--limit", "40", "--test-limit", "20", "--set", "lr_schedule=[[2, 7, 9]]"]
    golden = train_json(tmp_path, *argv, name="golden.json")
    assert [(h["lr_hidden_shift"], h["lr_output_shift"]) for h in golden["history"]] == [(4, 8), (7, 9)]
    assert golden["config"]["lr_schedule"] == [[2, 7, 9]]
    assert "learning rates  hidden / output, epoch 1: 2^-4 / 2^-8; epoch 2: 2^-7 / 2^-9" in \
        capsys.readouterr().out
    board = train_json(tmp_path, *argv, "--target", "emulator", name="board.json")
    assert board["history"] == golden["history"]
    assert main(["train", *SMALL, "--set", "lr_schedule=[[2, 30, 9]]"]) == 2
    assert "lr_schedule[0]: lr_hidden_shift = 30 is outside 0..11" in capsys.readouterr().err


# --- configuration ---------------------------------------------------------------------------------
def run_config(capsys, *argv):
    assert main(["config", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_config_command_prints_json_and_hashes(capsys):
    printed = run_config(capsys, "--set", "n_steps=40")
    config = Config.from_dict(printed["config"])
    assert config.n_steps == 40
    assert printed["hash"] == config.hash and printed["core_hash"] == config.core_hash
    assert printed["hash"] != Config().hash


def test_config_layers_file_set_and_rule_apply_in_order(capsys, tmp_path):
    assert Config.from_dict(run_config(capsys, "--dataset", "mnist")["config"]).layers == (784, 256, 10)
    assert Config.from_dict(run_config(capsys, "--hidden", "48")["config"]).layers == (64, 48, 10)
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"rule": "dfa", "n_steps": 30, "weight": {"bits": 18}}))
    printed = run_config(capsys, "--config", str(partial), "--set", "n_steps=35", "--set",
                         "lr_output_shift=9")
    config = Config.from_dict(printed["config"])
    assert (config.rule, config.n_steps, config.lr_output_shift) == ("dfa", 35, 9)
    assert (config.weight.bits, config.weight.frac) == (18, 11)  # partial format merged
    assert Config.from_dict(run_config(capsys, "--config", str(partial), "--rule", "readout")
                            ["config"]).rule == "readout"
    assert run_config(capsys, "--set", "rate_reg_shift=null")["config"]["rate_reg_shift"] is None
    assert run_config(capsys, "--set", "weight.frac=10", "--set", "state.frac=10")["config"][
        "weight"]["frac"] == 10


def test_a_rules_preset_applies_unless_the_file_or_set_names_the_field(capsys, tmp_path):
    def output_shift(*argv):
        return run_config(capsys, *argv)["config"]["lr_output_shift"]

    # golden/presets.py: MNIST's readout control at its own output rate, the rule's at 2^-9
    assert output_shift("--dataset", "mnist", "--rule", "readout") == 11
    assert output_shift("--dataset", "mnist", "--set", "rule=readout") == 11
    assert output_shift("--dataset", "mnist", "--rule", "sfdfa") == 9
    assert output_shift("--dataset", "mnist", "--rule", "dfa") == 9
    assert output_shift("--dataset", "digits", "--rule", "readout") == 9
    assert output_shift("--dataset", "digits", "--rule", "dfa") == 9      # DFA's own best rates
    assert output_shift("--dataset", "digits", "--rule", "sfdfa") == 8

    def hidden_rates(*argv):
        config = run_config(capsys, *argv)["config"]
        return config["lr_hidden_shift"], config["lr_schedule"]

    # SFDFA on MNIST (and Fashion-MNIST, unchanged) and the 14x14 MNIST of the ULX3S at hidden
    # 2^-5, DFA at its own 2^-6 (docs/learning.md 24.5-24.7)
    for dataset in ("mnist", "fashion-mnist", "mnist14"):
        assert hidden_rates("--dataset", dataset, "--rule", "sfdfa") == (5, [[2, 6, 10], [3, 7, 11]])
        assert hidden_rates("--dataset", dataset, "--rule", "dfa") == (6, [[2, 7, 10], [3, 8, 11]])
    assert output_shift("--dataset", "mnist", "--rule", "readout", "--set", "lr_output_shift=10") == 10
    chosen = tmp_path / "chosen.json"
    chosen.write_text(json.dumps({"lr_output_shift": 12}))
    assert output_shift("--dataset", "mnist", "--rule", "readout", "--config", str(chosen)) == 12
    readout = run_config(capsys, "--dataset", "mnist", "--rule", "readout")["config"]
    assert readout["lr_schedule"] == [[2, 7, 12], [3, 8, 13]]
    assert (readout["output_layer"], readout["eligibility"]) == ("integrate", "surrogate")


def test_a_presets_schedule_yields_to_a_chosen_rate(capsys):
    def schedule(*argv):
        return run_config(capsys, "--dataset", "digits", *argv)["config"]["lr_schedule"]

    assert schedule() == [[4, 5, 9], [5, 6, 10]]                         # golden/presets.py
    assert schedule("--set", "lr_hidden_shift=7") == []                  # else epoch 4 undoes it
    assert schedule("--set", "lr_output_shift=7", "--set", "lr_schedule=[[3, 5, 9]]") == [[3, 5, 9]]
    assert schedule("--set", "init_hidden=3.0") == [[4, 5, 9], [5, 6, 10]]


def test_config_output_and_results_file_round_trip(capsys, tmp_path, sfdfa_run):
    printed = run_config(capsys, "--set", "tau=20", "--set", "tau_s=10")
    assert printed["hash"] == run_config(capsys, "--set", "tau=20.0", "--set", "tau_s=10.0")["hash"]
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps(printed))
    assert run_config(capsys, "--config", str(saved))["hash"] == printed["hash"]
    record, _, _ = sfdfa_run
    results = tmp_path / "results.json"
    results.write_text(json.dumps(record))
    assert run_config(capsys, "--config", str(results))["hash"] == record["config_hash"]


# --- errors ------------------------------------------------------------------------------------------
def run_failing(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    return err


def test_invalid_setting_exits_2_naming_the_field(capsys):
    err = run_failing(capsys, "train", *SMALL, "--set", "lr_output_shift=99")
    assert "lr_output_shift" in err
    err = run_failing(capsys, "config", "--set", "lr_output_shift=99")
    assert "lr_output_shift" in err


def test_unknown_setting_exits_2(capsys):
    assert "nonsense" in run_failing(capsys, "train", *SMALL, "--set", "nonsense=1")
    assert "nbits" in run_failing(capsys, "config", "--set", "weight.nbits=3")
    assert "key=value" in run_failing(capsys, "config", "--set", "n_steps")


def test_bad_config_file_exits_2(capsys, tmp_path):
    assert "cannot read" in run_failing(capsys, "config", "--config", str(tmp_path / "missing.json"))
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in run_failing(capsys, "config", "--config", str(broken))


def test_layers_that_do_not_fit_the_dataset_exit_2(capsys):
    err = run_failing(capsys, "train", *SMALL, "--set", "layers=[784, 16, 10]")
    assert "do not fit" in err


def test_sim_target_without_the_simulator_exits_2_with_the_reason(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "plasticore.host.simboard", None)   # import fails
    err = run_failing(capsys, "train", *SMALL, "--target", "sim")
    assert "target 'sim' is not available" in err and "simboard" in err


def test_missing_serial_port_exits_2_naming_it(capsys, tmp_path):
    port = tmp_path / "ttyNOPE"
    err = run_failing(capsys, "train", *SMALL, "--target", f"serial:{port}@115200")
    assert f"cannot open serial port {port}" in err


@pytest.mark.parametrize("argv", [
    ["train", "--dataset", "nope"],
    ["train", "--dataset", "digits", "--target", "fpga"],
    ["train", "--dataset", "digits", "--target", "serial:/dev/ttyUSB0@fast"],
    ["train", "--dataset", "digits", "--events", "x.npz"],
    ["train", "--dataset", "digits", "--seed", "1", "--seeds", "1,2"],
    ["train", "--dataset", "digits", "--epochs", "0"],
    [],
])
def test_argparse_rejects_bad_arguments(capsys, argv):
    assert "usage:" in run_failing(capsys, *argv)


def test_unavailable_dataset_exits_2_with_its_message(capsys, monkeypatch):
    def unavailable(name, **kwargs):
        raise datasets.DatasetUnavailable(f"{name} is unavailable: install it with apt")

    monkeypatch.setattr(datasets, "load", unavailable)
    err = run_failing(capsys, "train", "--dataset", "fashion-mnist", "--quiet")
    assert "fashion-mnist is unavailable: install it with apt" in err


# --- the installed console script ---------------------------------------------------------------------
def test_console_script_is_installed():
    script = Path(sys.executable).parent / "plasticore"
    assert script.is_file(), f"console script missing: {script}"
    done = subprocess.run([str(script), "config", "--set", "n_steps=40"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["config"]["n_steps"] == 40 and len(printed["hash"]) == 16


def test_build_is_a_subcommand_and_refuses_unknown_boards(capsys):
    assert main(["build", "nexys"]) == 2
    assert "invalid choice: 'nexys'" in capsys.readouterr().err
