"""chip.boardspec: one board description; the core kind enters the board hash."""

import pytest

from plasticore.chip.boardspec import (DEFAULT_BAUD, DEFAULT_CLK_HZ, RX_WINDOW, BoardSpec,
                                       board_hash, board_kind, divisor)
from plasticore.chip.cycles import CORE_KINDS
from plasticore.golden.config import Config

CONFIG = Config(layers=(6, 5, 4))


def test_every_kind_has_its_own_board_hash_and_the_reference_keeps_the_configs():
    hashes = {kind: board_hash(CONFIG, kind) for kind in CORE_KINDS}
    assert len(set(hashes.values())) == len(CORE_KINDS)
    assert hashes["pipelined"] == CONFIG.board_hash
    for kind, value in hashes.items():
        assert board_kind(CONFIG, value) == kind
    assert board_kind(CONFIG, Config(layers=(6, 6, 4)).board_hash) is None
    with pytest.raises(ValueError):
        board_hash(CONFIG, "unknown")


def test_the_identity_is_the_description():
    spec = BoardSpec(CONFIG, core="sequenced")
    ident = spec.identity()
    assert ident.board_hash == board_hash(CONFIG, "sequenced")
    assert ident.core_hash == CONFIG.core_hash
    assert (ident.clk_hz, ident.rx_window) == (DEFAULT_CLK_HZ, RX_WINDOW)
    assert ident.baud_divisor == divisor(DEFAULT_CLK_HZ, DEFAULT_BAUD) == 104
    assert BoardSpec(CONFIG).identity(baud_divisor=4).baud_divisor == 4


def test_the_divisor_refuses_what_the_uart_cannot_make():
    with pytest.raises(ValueError):
        divisor(1_000_000, 1_000_000)     # below 4 clocks per bit
    with pytest.raises(TypeError):
        divisor(12e6, 115200)
