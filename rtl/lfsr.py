"""The 32-bit Galois LFSR that supplies every random bit of the core (``docs/spec.md``, section 7).

Polynomial x^32 + x^22 + x^2 + x + 1 in right-shift Galois form, the same register as
:func:`plasticore.golden.lfsr.step`::

    state = (state >> 1) ^ (TAPS if state & 1 else 0)      # TAPS = 0x80200003

One step costs a shift and four XOR gates (the taps), so the register advances every cycle at any
clock the core reaches. The core keeps two of them: ``lfsr_perturb`` and ``lfsr_round``.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from plasticore.golden.lfsr import TAPS

__all__ = ["LFSR"]


class LFSR(wiring.Component):
    """A 32-bit Galois LFSR with a loadable seed.

    Timing: ``value`` is the register itself. Asserting ``load`` makes ``value`` equal to
    ``seed`` on the next cycle; asserting ``advance`` makes it equal to one
    :func:`~plasticore.golden.lfsr.step` of the current ``value`` on the next cycle. A *draw*
    (spec section 7) is "assert ``advance``, use ``value`` one cycle later". One step per cycle
    while ``advance`` stays high; ``load`` wins when both are high.

    Limits: the all-zero state is the one fixed point of the register: seeded with 0 it stays 0
    forever. The host never writes 0 (:class:`~plasticore.golden.config.Config` refuses a zero
    seed), and the reset value ``init`` must be non-zero. Any other state walks the full period of
    2**32 - 1 states.

    Parameters
    ----------
    init : int
        The state after reset, before the host writes a seed; a non-zero 32-bit integer.

    Attributes
    ----------
    seed : In(32)
        The value to load.
    load : In(1)
        Load ``seed`` into the register.
    advance : In(1)
        Advance the register by one step.
    value : Out(32)
        The register's current state.
    """

    seed: In(32)
    load: In(1)
    advance: In(1)
    value: Out(32)

    def __init__(self, *, init: int = 1):
        if not isinstance(init, int) or not 0 < init < (1 << 32):
            raise TypeError(f"init must be a non-zero 32-bit integer, not {init!r}")
        self._init = init
        super().__init__()

    @property
    def init(self) -> int:
        return self._init

    def elaborate(self, platform):
        m = Module()
        state = Signal(32, init=self._init)
        m.d.comb += self.value.eq(state)
        with m.If(self.load):
            m.d.sync += state.eq(self.seed)
        with m.Elif(self.advance):
            m.d.sync += state.eq((state >> 1) ^ Mux(state[0], TAPS, 0))
        return m
