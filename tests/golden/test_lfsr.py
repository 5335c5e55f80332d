"""The LFSR: primitive polynomial (full period) and the vectorised sequence equals the scalar one."""

import numpy as np
import pytest

from plasticore.golden import lfsr

PERIOD = 2**32 - 1
PRIME_FACTORS = (3, 5, 17, 257, 65537)  # 2**32 - 1 = 3 * 5 * 17 * 257 * 65537



def _step_matrix_power(exponent: int) -> list[int]:
    """Columns of M**exponent, M the step's GF(2) matrix, by square-and-multiply."""
    def apply(columns, vector):
        out = 0
        for c in range(32):
            if vector >> c & 1:
                out ^= columns[c]
        return out

    def compose(a, b):  # a after b
        return [apply(a, b[c]) for c in range(32)]

    result = [1 << c for c in range(32)]
    base = [lfsr.step(1 << c) for c in range(32)]
    while exponent:
        if exponent & 1:
            result = compose(base, result)
        base = compose(base, base)
        exponent >>= 1
    return result


def test_register_has_full_period():
    identity = [1 << c for c in range(32)]
    assert _step_matrix_power(PERIOD) == identity
    for q in PRIME_FACTORS:
        assert _step_matrix_power(PERIOD // q) != identity, f"period divides (2**32-1)/{q}"


@pytest.mark.parametrize("n", [1, 2, 3, 31, 32, 33, 100, 1000, 4097])
def test_sequence_equals_scalar_steps(n):
    seeds = [1, 0xDEADBEEF, 0x80000000, 0x2545F491]
    out = lfsr.sequence(seeds, n)
    for b, seed in enumerate(seeds):
        state, expected = seed, []
        for _ in range(n):
            state = lfsr.step(state)
            expected.append(state)
        assert out[b].tolist() == expected


def test_zero_draws():
    assert lfsr.sequence([5], 0).shape == (1, 0)
    assert np.all(lfsr.sequence([7], 10) != 0)
