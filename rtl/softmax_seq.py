"""The output errors of a softmax readout for the sequenced core (``docs/spec.md`` section 6.1,
golden ``Network._softmax_errors``): rtl/softmax.py's arithmetic, shaped for the iCE40 UP5K::

    below_o = V_max - V_o                                   (>= 0, state words)
    whole_o = min(below_o >> state.frac, 16)
    part_o  = ((below_o & (one - 1)) * EXP2_STEPS) >> state.frac
    e_o     = EXP2_TABLE[part_o] >> whole_o                 (u0.15, at most 2**15)
    p_o     = (e_o << ERROR_FRAC) // sum_k e_k              (floor division)

Where :class:`~.softmax.SoftmaxErrors` (the pipelined and compact cores) keeps the ten e_o in a
shift register and forms e_o from a LUT table and a barrel shifter, this unit

* reads e_o whole from a block-RAM ROM addressed by (whole_o, part_o): ``EXP2_TABLE[p] >> w``
  for w < 16, 1024 words of 16 bits (4 EBR). A whole part of 16 or more reads the word
  (15, 63), which is 0 like every ``EXP2_TABLE[p] >> 16`` (the table's entries are below
  2**16, and ``EXP2_TABLE[p] >> 15`` is 0 for p >= 1);
* keeps no e_o: the core streams the V_o twice, once for the sum and once, one V_o per
  division, to read e_o again for its division (the STATE memory and the ROM are free then);
* returns p_o, the quotient; the core forms delta_o = ((label == o) << ERROR_FRAC) - p_o.

The division is the restoring divider of rtl/softmax.py, one quotient bit per clock, with one
subtractor whose borrow is the comparison (``ERROR_FRAC + 1`` iterations: V_max is one of the
V_o, so the sum holds a 2**15 term and ``e_o <= sum``; the numerator's bits above the quotient's,
``e_o >> 1``, start the partial remainder below the sum).

Timing (the core sequences it; nothing stalls): the ROM reads every clock, so e of the V on
``v`` in clock t is the unit's e in clock t + 1; ``add`` in clock t adds it to the sum in clock
t + 1 (``first``: the sum restarts with it); ``load`` in clock u starts the division of the e
of clock u; ``p`` is valid (``p_valid``) in clock u + 1 + ``SEQ_SOFTMAX_DIVIDE_CLOCKS``, until
the next load, which may be that same clock.
"""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import memory
from amaranth.lib.wiring import In, Out

from plasticore.golden.config import ERROR_FRAC, EXP2_STEPS, EXP2_TABLE, Config

from .softmax import SoftmaxUnit

__all__ = ["SequencedSoftmaxErrors", "SEQ_SOFTMAX_DIVIDE_CLOCKS", "EXP2_SHIFTED"]

#: exponent words: u0.15 with 1.0 = 2**15 (the table's entry 0) representable
_E_BITS = 16
#: whole parts the ROM holds (0..15); 16 and above read the word (15, EXP2_STEPS - 1), which is 0
_WHOLES = 16
#: the ROM: word (whole << 6) | part = EXP2_TABLE[part] >> whole
EXP2_SHIFTED = tuple(EXP2_TABLE[p] >> w for w in range(_WHOLES) for p in range(EXP2_STEPS))
#: clocks of the division, one per quotient bit
SEQ_SOFTMAX_DIVIDE_CLOCKS = ERROR_FRAC + 1


class SequencedSoftmaxErrors(SoftmaxUnit):
    """Softmax error unit of the sequenced core: e_o by a block-RAM ROM, the sum, the division.

    Parameters
    ----------
    config : Config
        Supplies the state format and the number of outputs ``O``.

    Attributes
    ----------
    v : In(signed(state.bits))
        V_o; its e_o is the unit's the next clock.
    v_max : In(signed(state.bits))
        max_o V_o, held while the V_o stream.
    above : Out(1)
        ``v > v_max`` (the core's V_max pass compares on the unit's subtractor).
    add : In(1)
        Add this clock's V_o's e_o to the sum.
    first : In(1)
        With ``add``: V_o is V_0 (the sum restarts).
    e : Out(unsigned(16))
        e of the previous clock's ``v`` (the ROM's output).
    load : In(1)
        Start the division of ``e`` by the sum.
    p : Out(unsigned(ERROR_FRAC + 1))
        p_o = (e_o << ERROR_FRAC) // sum_k e_k, once ``p_valid``.
    p_valid : Out(1)
        The division has ended (high from ``SEQ_SOFTMAX_DIVIDE_CLOCKS + 1`` clocks after
        ``load`` until the next load).
    """

    def members(self, config: Config) -> dict:
        return {
            "v": In(signed(config.state.bits)),
            "v_max": In(signed(config.state.bits)),
            "above": Out(1),
            "add": In(1),
            "first": In(1),
            "e": Out(unsigned(_E_BITS)),
            "load": In(1),
            "p": Out(unsigned(ERROR_FRAC + 1)),
            "p_valid": Out(1),
        }

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        O, frac = cfg.n_outputs, cfg.state.frac

        # the ROM address from V_o, combinationally; the ROM reads every clock
        below = Signal(signed(cfg.state.bits + 1))
        m.d.comb += [below.eq(self.v_max - self.v), self.above.eq(below[-1])]
        whole = below.as_unsigned() >> frac
        part = ((below & (cfg.state.one - 1)) * EXP2_STEPS) >> frac
        p_bits = (EXP2_STEPS - 1).bit_length()
        m.submodules.exp2 = rom = memory.Memory(
            shape=unsigned(_E_BITS), depth=len(EXP2_SHIFTED), init=EXP2_SHIFTED,
            attrs={"rom_style": "block"})
        rd = rom.read_port()
        m.d.comb += [rd.addr.eq(Mux(whole[4:].any(), len(EXP2_SHIFTED) - 1,
                                    Cat(part[:p_bits], whole[:4]))),
                     self.e.eq(rd.data)]

        # the sum: at most O * 2**15
        total = Signal(range(O * (1 << 15) + 1))
        added, restart = Signal(), Signal()
        m.d.sync += [added.eq(self.add), restart.eq(self.first)]
        with m.If(added):
            m.d.sync += total.eq(Mux(restart, 0, total) + rd.data)

        # the divider: partial remainder < total, ERROR_FRAC + 1 quotient bits
        rem = Signal.like(total)
        low = Signal()                         # the numerator bit brought down next (then zeros)
        steps = Signal(range(SEQ_SOFTMAX_DIVIDE_CLOCKS + 1))
        shifted = Cat(low, rem)
        diff = Signal(signed(len(shifted) + 1))
        m.d.comb += [diff.eq(shifted - total), self.p_valid.eq(steps == 0)]
        fits = ~diff[-1]
        with m.If(self.load):
            # the numerator e << ERROR_FRAC: its bits above the quotient's, e >> 1, start the
            # remainder; e's bit 0 and ERROR_FRAC zeros are brought down one a clock
            m.d.sync += [rem.eq(self.e >> 1), low.eq(self.e[0]),
                         self.p.eq(0), steps.eq(SEQ_SOFTMAX_DIVIDE_CLOCKS)]
        with m.Elif(steps != 0):
            m.d.sync += [rem.eq(Mux(fits, diff, shifted)), low.eq(0),
                         self.p.eq(Cat(fits, self.p)), steps.eq(steps - 1)]
        return m
