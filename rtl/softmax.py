"""The output errors of a softmax readout (``docs/spec.md`` section 6.1, golden
``Network._softmax_errors``), for one replica::

    below_o = V_max - V_o                                   (>= 0, state words)
    whole_o = min(below_o >> state.frac, 16)
    part_o  = ((below_o & (one - 1)) * EXP2_STEPS) >> state.frac
    e_o     = EXP2_TABLE[part_o] >> whole_o                 (u0.15, at most 2**15)
    p_o     = (e_o << ERROR_FRAC) // sum_k e_k              (floor division)
    delta_o = ((label == o) << ERROR_FRAC) - p_o

The table is a 64-entry ROM; the division is a restoring divider, one quotient bit per clock.
Two facts keep it at ``ERROR_FRAC + 1`` iterations with no special case: V_max is one of the
V_o, so the sum holds a ``2**15`` term and ``e_o <= sum``; hence ``p_o <= 2**ERROR_FRAC`` fits
``ERROR_FRAC + 1`` bits, and the numerator's bits above those, ``e_o >> 1``, are below the sum
(the partial remainder the division starts from).
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore.golden.config import ERROR_FRAC, EXP2_STEPS, EXP2_TABLE, Config

__all__ = ["SoftmaxUnit", "SoftmaxErrors", "SOFTMAX_LOAD_CLOCKS", "SOFTMAX_DIVIDE_CLOCKS"]

#: exponent words: u0.15 with 1.0 = 2**15 (the table's entry 0) representable
_E_BITS = 16
#: the largest whole part that still leaves a non-zero e (a table entry is below 2**16)
_WHOLE_MAX = 16
#: clocks from the transfer of the last V_o to the first delta_o being offered, and between
#: two deltas with an always-ready sink: one load clock, then one clock per quotient bit
SOFTMAX_LOAD_CLOCKS = 1
SOFTMAX_DIVIDE_CLOCKS = ERROR_FRAC + 1


class SoftmaxUnit(wiring.Component):
    """What both softmax units share: the configuration they are built for (its output count,
    state format and ``ERROR_FRAC``) and its type check."""

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        self._config = config
        super().__init__(self.members(config))

    def members(self, config: Config) -> dict:
        """The unit's ports for ``config`` (its ``wiring.Signature`` members)."""
        raise NotImplementedError

    @property
    def config(self) -> Config:
        return self._config


class SoftmaxErrors(SoftmaxUnit):
    """Sequential softmax error unit: ``O`` values of V in, ``O`` errors delta out, in order.

    Interface (streams, like :class:`~.reciprocal.Reciprocal`, so that the core's read pipeline
    and its error writes can stall it): the core holds ``v_max`` (max_o V_o, which it computes
    in a pass of its own) and ``label`` while it streams V_o for o = 0..O-1 on ``v``; ``label``
    is sampled with V_0. Once V_{O-1} has been taken the unit emits delta_o for o = 0..O-1 on
    ``delta`` and then takes the next sample's V_0. It stores the O exponentials e_o in a shift
    register (no read multiplexer: the divider always takes the head) and their sum.

    Timing: ``v.ready`` is high while values are being taken (one per clock). After the last
    V the unit spends ``SOFTMAX_LOAD_CLOCKS + SOFTMAX_DIVIDE_CLOCKS`` clocks on each delta
    before offering it; with an always-ready sink delta_o is taken in the clock it is offered
    and the next division starts the clock after: ``O * (2 + ERROR_FRAC + 1)`` clocks from the
    last V to the last delta's transfer, inclusive.

    Limits: exact for every V of the state format provided that ``v_max`` is the largest V_o
    of the sample (the golden model's V.max()); otherwise the result is undefined.

    Parameters
    ----------
    config : Config
        Supplies the state format and the number of outputs ``O``.

    Attributes
    ----------
    v : In(stream.Signature(signed(state.bits)))
        V_o = a_o of the output neurons, o = 0..O-1.
    v_max : In(signed(state.bits))
        max_o V_o, held while ``v`` streams.
    label : In(unsigned)
        The sample's class, sampled with V_0.
    delta : Out(stream.Signature(signed(ERROR_FRAC + 2)))
        delta_o, ERROR_FRAC fraction bits, in -2**ERROR_FRAC .. 2**ERROR_FRAC.
    """

    def members(self, config: Config) -> dict:
        return {
            "v": In(stream.Signature(signed(config.state.bits))),
            "v_max": In(signed(config.state.bits)),
            "label": In(range(max(config.n_outputs, 2))),
            "delta": Out(stream.Signature(signed(ERROR_FRAC + 2))),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        O, frac = cfg.n_outputs, cfg.state.frac

        # e_o from V_o, combinationally in the clock V_o is taken
        below = Signal(unsigned(cfg.state.bits + 1))
        m.d.comb += below.eq(self.v_max - self.v.payload)
        whole_raw = below >> frac
        whole = Mux(whole_raw > _WHOLE_MAX, _WHOLE_MAX, whole_raw)
        part = ((below & (cfg.state.one - 1)) * EXP2_STEPS) >> frac
        table = Array(Const(v, _E_BITS) for v in EXP2_TABLE)
        e_in = table[part[:(EXP2_STEPS - 1).bit_length()]] >> whole[:5]

        exps = [Signal(_E_BITS, name=f"e{k}") for k in range(O)]   # exps[0] is the head
        total = Signal(_E_BITS + (O - 1).bit_length() + 1)
        label = Signal.like(self.label)
        taken = Signal(range(O + 1))           # V values taken so far
        emitted = Signal(range(O + 1))         # deltas emitted so far (the head's index)

        # the divider: partial remainder < total, ERROR_FRAC + 1 quotient bits
        rem = Signal.like(total)
        low = Signal(ERROR_FRAC + 1)           # numerator bits still to bring down, MSB first
        quotient = Signal(ERROR_FRAC + 1)
        steps = Signal(range(SOFTMAX_DIVIDE_CLOCKS + 1))
        shifted = Cat(low[-1], rem)
        fits = shifted >= total
        p_target = Mux(emitted == label, 1 << ERROR_FRAC, 0)
        m.d.comb += self.delta.payload.eq(p_target - quotient)

        with m.FSM():
            with m.State("TAKE"):
                m.d.comb += self.v.ready.eq(1)
                with m.If(self.v.valid):
                    m.d.sync += [Cat(*exps).eq(Cat(*exps[1:], e_in)), taken.eq(taken + 1),
                                 total.eq(Mux(taken == 0, 0, total) + e_in)]
                    with m.If(taken == 0):
                        m.d.sync += label.eq(self.label)
                    with m.If(taken == O - 1):
                        m.d.sync += [taken.eq(0), emitted.eq(0)]
                        m.next = "LOAD"
            with m.State("LOAD"):
                # the numerator e << ERROR_FRAC: its bits above the quotient's, e >> 1, start
                # the remainder; e's bit 0 and ERROR_FRAC zeros are brought down one a clock
                head = exps[0]
                m.d.sync += [rem.eq(head >> 1), low.eq(head[0] << ERROR_FRAC), quotient.eq(0),
                             steps.eq(SOFTMAX_DIVIDE_CLOCKS),
                             Cat(*exps).eq(Cat(*exps[1:], head))]
                m.next = "DIVIDE"
            with m.State("DIVIDE"):
                m.d.sync += [rem.eq(Mux(fits, shifted - total, shifted)), low.eq(low << 1),
                             quotient.eq(Cat(fits, quotient)), steps.eq(steps - 1)]
                with m.If(steps == 1):
                    m.next = "OFFER"
            with m.State("OFFER"):
                m.d.comb += self.delta.valid.eq(1)
                with m.If(self.delta.ready):
                    m.d.sync += emitted.eq(emitted + 1)
                    with m.If(emitted == O - 1):
                        m.next = "TAKE"
                    with m.Else():
                        m.next = "LOAD"
        return m
