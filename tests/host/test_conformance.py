"""The board side against a client written from docs/protocol.md's tables alone
(``sim/minimal_client.py``, which imports nothing of plasticore): here the emulator, in
``sim/tb_top.py`` the RTL through its UART pins on Icarus and Verilator. Also the flood that
ignores the window, and the recovery of protocol section 4 in two round trips."""

import asyncio
import importlib.util
from pathlib import Path

import pytest

from plasticore.chip.boardspec import BoardSpec
from plasticore.golden.config import Config
from plasticore.host.emulator import Emulator

_spec = importlib.util.spec_from_file_location(
    "minimal_client", Path(__file__).resolve().parents[2] / "sim" / "minimal_client.py")
client = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(client)

CONFIGS = [Config(layers=(8, 6, 3), n_steps=6, input_window=4),
           Config(layers=(300, 6, 3), n_steps=5, input_window=4)]       # two-byte event codes


def transact_on(emulator, piece=256, flood=None):
    """Bytes arrive ``piece`` at a time (a board that keeps up with the line), or all at once
    when there are more than ``flood`` of them (a host that ignores the window)."""
    async def transact(wire, replies):
        step = len(wire) if flood is not None and len(wire) > flood else piece
        out = b"".join(emulator.feed(wire[k:k + step]) for k in range(0, len(wire), step))
        chunks = [c for c in out.split(b"\x00") if c]
        if replies is not None:
            assert len(chunks) == replies, (len(chunks), replies)
        return chunks
    return transact


def test_the_minimal_client_imports_nothing_of_plasticore():
    source = (Path(__file__).resolve().parents[2] / "sim" / "minimal_client.py").read_text()
    assert "plasticore" not in source.split('"""', 2)[2]


@pytest.mark.parametrize("config", CONFIGS, ids=["small", "wide"])
def test_conformance_on_the_emulator(config):
    result = asyncio.run(client.conformance(transact_on(Emulator(config))))
    assert result["checks"] > 80 and result["mutations"] == 46


def test_flood_past_the_window_recovers_in_two_round_trips():
    config = CONFIGS[0]
    result = asyncio.run(client.flood_and_recover(transact_on(Emulator(BoardSpec(config, rx_window=1024)),
                                                                      flood=2048)))
    assert result["rx_overruns"] > 0 and result["lost_from"] < result["requests"]
    assert result["round_trips_to_recover"] == 2
    assert result["silent_corruptions"] == 0
