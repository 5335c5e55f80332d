"""The 32-bit Galois LFSR that supplies every random bit of the core.

Polynomial x^32 + x^22 + x^2 + x + 1 (primitive: period 2**32 - 1, checked in the tests), in
right-shift Galois form::

    lsb = state & 1
    state >>= 1
    if lsb: state ^= TAPS          # TAPS = 0x80200003

A *draw* advances the register once and uses the new state. The core keeps two such registers,
one for perturbations and one for stochastic rounding (``docs/spec.md``, "Random bits").

The register is linear over GF(2), so the state after k steps from any seed is the XOR of the
states after k steps from the seed's set bits. :func:`sequence` uses that to produce long runs of
draws with a few vectorised XORs instead of a Python loop per draw. :func:`row_states` and
:func:`draws_block` use it the other way round, for the draws of a matrix update that only a few
words need (a word whose update is zero consumes its draw without using it): the register at the
start of every row by a 32x32 jump per row, and the draw at column ``j`` of a row from byte tables.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["TAPS", "step", "sequence", "row_states", "draws_block"]

TAPS = 0x80200003
MASK32 = 0xFFFFFFFF


def step(state: int) -> int:
    """One step of the register (scalar reference form; the RTL implements exactly this)."""
    lsb = state & 1
    state >>= 1
    return state ^ TAPS if lsb else state


def _step_array(states: np.ndarray) -> np.ndarray:
    lsb = states & np.uint32(1)
    return (states >> np.uint32(1)) ^ (lsb * np.uint32(TAPS))


@functools.lru_cache(maxsize=8)
def _basis_table(n: int) -> np.ndarray:
    """``table[c, k]`` = state after ``k + 1`` steps from the seed ``1 << c``; shape (32, n).

    Stored bit-major so that :func:`sequence` XORs contiguous rows (22x faster than a (n, 32)
    table at MNIST's 100,352 draws per weight update)."""
    table = np.empty((n, 32), dtype=np.uint32)
    table[0] = _step_array(np.uint32(1) << np.arange(32, dtype=np.uint32))
    filled = 1
    while filled < n:
        # rows filled..2*filled-1 are the first `filled` rows advanced by `filled` steps:
        # advancing by `filled` steps is the linear map whose columns are table[filled - 1].
        take = min(filled, n - filled)
        jump = table[filled - 1]
        block = np.zeros((take, 32), dtype=np.uint32)
        for c in range(32):
            column = table[:take, c:c + 1]
            bits = (jump >> np.uint32(c)) & np.uint32(1)
            block ^= column * bits[None, :]
        table[filled:filled + take] = block
        filled += take
    table = np.ascontiguousarray(table.T)
    table.setflags(write=False)
    return table


def sequence(seeds, n: int) -> np.ndarray:
    """The next ``n`` states of one register per seed: shape (len(seeds), n), uint32.

    ``sequence(s, n)[b, k]`` equals ``step`` applied ``k + 1`` times to ``seeds[b]``; the last
    column is therefore the register's state after the ``n`` draws.
    """
    seeds = np.atleast_1d(np.asarray(seeds, dtype=np.uint64)).astype(np.uint32)
    if n == 0:
        return np.empty((len(seeds), 0), dtype=np.uint32)
    table = _basis_table(n)
    out = np.zeros((len(seeds), n), dtype=np.uint32)
    for row, seed in zip(out, seeds.tolist()):
        for c in range(32):
            if (seed >> c) & 1:
                np.bitwise_xor(row, table[c], out=row)
    return out


@functools.lru_cache(maxsize=8)
def _byte_tables(n: int) -> np.ndarray:
    """``table[b, v, k]`` = state after ``k + 1`` steps from the seed ``v << 8 * b``; shape
    (4, 256, n). By linearity the state after ``k + 1`` steps from any seed s is the XOR over b
    of ``table[b, (s >> 8 * b) & 255, k]``."""
    basis = _basis_table(n)
    table = np.zeros((4, 256, n), dtype=np.uint32)
    for b in range(4):
        for bit in range(8):
            v = 1 << bit
            np.bitwise_xor(table[b, :v], basis[8 * b + bit], out=table[b, v:2 * v])
    table.setflags(write=False)
    return table


@functools.lru_cache(maxsize=8)
def _jump_lists(n: int) -> tuple[list[int], ...]:
    """The jump by ``n`` steps as four 256-entry lists of Python ints (one per byte of the state)."""
    return tuple(_byte_tables(n)[b, :, n - 1].tolist() for b in range(4))


def row_states(seeds, n_rows: int, n_cols: int) -> np.ndarray:
    """The register at the start of each row of a row-major (n_rows, n_cols) run of draws:
    shape (len(seeds), n_rows + 1), uint32; entry ``[r, i]`` is ``step`` applied ``i * n_cols``
    times to ``seeds[r]``, so the last column is the state after all ``n_rows * n_cols`` draws.
    """
    seeds = np.atleast_1d(np.asarray(seeds, dtype=np.uint64)).astype(np.uint32)
    if n_cols == 0:
        return np.repeat(seeds[:, None], n_rows + 1, axis=1)
    table = _row_tables(n_rows, n_cols)
    out = table[0, seeds & np.uint32(255)]
    for b in range(1, 4):
        out ^= table[b, (seeds >> np.uint32(8 * b)) & np.uint32(255)]
    return out


@functools.lru_cache(maxsize=8)
def _row_tables(n_rows: int, n_cols: int) -> np.ndarray:
    """``table[b, v, i]`` = state after ``i * n_cols`` steps from the seed ``v << 8 * b``, for
    i = 0..n_rows; shape (4, 256, n_rows + 1). Built by applying the jump by ``n_cols`` steps
    (four byte lookups) to all 1,024 byte seeds at once, row after row."""
    jump = np.array(_jump_lists(n_cols), dtype=np.uint32)           # (4, 256)
    table = np.empty((4, 256, n_rows + 1), dtype=np.uint32)
    state = (np.arange(256, dtype=np.uint32)[None, :] << (8 * np.arange(4, dtype=np.uint32))[:, None])
    table[:, :, 0] = state
    for i in range(1, n_rows + 1):
        nxt = jump[0, state & np.uint32(255)]
        for b in range(1, 4):
            nxt ^= jump[b, (state >> np.uint32(8 * b)) & np.uint32(255)]
        table[:, :, i] = state = nxt
    table.setflags(write=False)
    return table


def draws_block(starts: np.ndarray, cols: np.ndarray, n_cols: int) -> np.ndarray:
    """The draws at the columns ``cols`` of rows that start at ``starts`` (any shape S, states
    from :func:`row_states`): shape S + (len(cols),); entry ``[..., k]`` is ``step`` applied
    ``cols[k] + 1`` times to the row's start. Whole rows of the byte tables are gathered, then
    XORed."""
    table = _byte_tables(n_cols)
    cols = np.asarray(cols, dtype=np.intp)
    s = np.asarray(starts, dtype=np.uint32)
    out = table[0][s & np.uint32(255)][..., cols]
    for b in range(1, 4):
        out ^= table[b][(s >> np.uint32(8 * b)) & np.uint32(255)][..., cols]
    return out
