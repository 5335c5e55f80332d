"""What the float-baseline tests share."""

import numpy as np
import pytest


@pytest.fixture
def random_pixels():
    """``make(n, inputs, seed=0)``: n random 8-bit images of ``inputs`` pixels, 30 % of them 0
    (dark pixels never spike: the rasters have silent inputs, as real images do)."""
    def make(n, inputs, seed=0):
        rng = np.random.default_rng(seed)
        px = rng.integers(0, 256, size=(n, inputs)).astype(np.uint8)
        px[rng.random(px.shape) < 0.3] = 0
        return px
    return make
