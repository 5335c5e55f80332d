"""``plasticore train --board``: the network and formats of a board's default bitstream, checked
against the emulator built from that board's description (boards/, as ``plasticore build``
resolves it) on a pseudo-terminal, as a real board would be reached with ``serial:PORT``."""

import json
import re

import pytest

pytest.importorskip("amaranth_boards")  # the board descriptions import Amaranth (issue 25)

from plasticore.boards.build import BOARDS
from plasticore.boards.common import resolve
from plasticore.host.cli import BOARD_NAMES, board_dataset, board_run_config, main
from plasticore.host.emulator import Emulator, EmulatorPty


def test_every_board_is_known_and_fits_a_dataset():
    assert set(BOARD_NAMES) == set(BOARDS)
    assert board_dataset("icebreaker") == "digits" and board_dataset("ulx3s-85f") == "mnist14"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_board_config_is_what_build_bakes(name):
    built = resolve(BOARDS[name], None)
    config = board_run_config(name, board_dataset(name))
    assert config.layers == BOARDS[name].layers
    assert config.board_hash == built.board_hash and config.core_hash == built.core_hash


def test_runtime_fields_follow_the_preset_only_at_its_width():
    # ULX3S: 196-128-10, the width of the mnist14 preset: its learning rates apply
    ulx3s = board_run_config("ulx3s-85f", "mnist14")
    assert (ulx3s.lr_hidden_shift, ulx3s.lr_output_shift) == (5, 9)
    assert (ulx3s.output_layer, ulx3s.eligibility) == ("integrate", "surrogate")
    # iCEBreaker: 64-32-10, the digits preset's rule and the rates the build resolves
    icebreaker = board_run_config("icebreaker", "digits")
    assert (icebreaker.lr_hidden_shift, icebreaker.lr_output_shift) == (4, 8)
    assert (icebreaker.output_layer, icebreaker.eligibility) == ("integrate", "surrogate")
    tuned = board_run_config("icebreaker", "digits", settings=[("lr_output_shift", 9)])
    assert tuned.lr_output_shift == 9 and tuned.board_hash == resolve(BOARDS["icebreaker"], None).board_hash


def test_a_config_file_on_both_build_and_train(tmp_path):
    wide = tmp_path / "wide.json"
    wide.write_text(json.dumps({"layers": [64, 128, 10]}))  # docs/boards.md: it fits the UP5K
    config = board_run_config("icebreaker", "digits", config_file=wide)
    assert config.layers == (64, 128, 10) and config.lr_output_shift == 8  # the digits preset's
    assert config.board_hash == resolve(BOARDS["icebreaker"], wide).board_hash
    wide.write_text(json.dumps({"layers": [64, 128, 10], "lr_output_shift": 9}))
    assert board_run_config("icebreaker", "digits", config_file=wide).lr_output_shift == 9


@pytest.mark.parametrize("args, message", [
    (["--dataset", "mnist"], "carries layers \\[64, 32, 10\\].*takes --dataset digits"),
    (["--hidden", "128"], "--hidden 128 needs a bitstream built for it"),
    (["--rule", "dfa"], "built for rule 'sfdfa'; --rule dfa"),
    (["--set", "weight.bits=18"], "--set weight: board 'icebreaker' bakes weight"),
    (["--events", "x.npz"], "--board trains a dataset"),
])
def test_refuses_what_the_bitstream_does_not_carry(args, message, capsys):
    assert main(["train", "--board", "icebreaker", *args, "--quiet"]) == 2
    assert re.search(message, capsys.readouterr().err)


def board_on_a_pty(name):
    """The emulator of the board as ``plasticore build NAME`` builds it, on a pseudo-terminal."""
    return EmulatorPty(Emulator(resolve(BOARDS[name], None)))


@pytest.mark.parametrize("name, limit", [("icebreaker", 30), ("ulx3s-85f", 8)])
def test_train_board_against_its_emulator(name, limit, tmp_path, capsys):
    out = tmp_path / "run.json"
    with board_on_a_pty(name) as pty:
        code = main(["train", "--board", name, "--target", f"serial:{pty.port}", "--limit",
                     str(limit), "--test-limit", "5", "--quiet", "--json", str(out)])
    assert code == 0, capsys.readouterr().err
    record = json.loads(out.read_text())
    assert record["config"]["layers"] == list(BOARDS[name].layers)
    assert record["dataset"] == board_dataset(name) and record["n_train"] == limit


def test_without_board_the_preset_is_refused_by_the_icebreaker(capsys):
    """What the issue found: the digits preset (64-128-10) is not the iCEBreaker's bitstream."""
    with board_on_a_pty("icebreaker") as pty:
        code = main(["train", "--dataset", "digits", "--target", f"serial:{pty.port}",
                     "--limit", "5", "--test-limit", "5", "--quiet"])
    assert code == 2
    assert "layers on the board [64, 32, 10], in the configuration [64, 128, 10]" in capsys.readouterr().err
