"""The reciprocal ``r = theta / C`` of a spiking neuron's current (``docs/spec.md``, section 5.3).

For every post-synaptic spike the local gradient is scaled by ``r``, the threshold over the
neuron's synaptic current, bounded by 1::

    c_clamped = max(c, theta_q)
    r = min((theta_q << 16) // c_clamped, 0xFFFF)          # unsigned 0.16, floor division

A restoring divider computes it one quotient bit per cycle. Two facts keep it at 16 iterations
with no special cases: ``c_clamped >= theta_q`` makes the quotient at most ``2**16``, so its bit 16
is zero unless ``c_clamped == theta_q``; and in that case starting the partial remainder at
``theta_q`` (the numerator's high part) yields a 1 at every one of the 16 steps, which is the
saturated ``0xFFFF`` the spec asks for.
"""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore.golden.config import DECAY_FRAC, Config

__all__ = ["Reciprocal"]


class Reciprocal(wiring.Component):
    """Sequential reciprocal unit: one ``c`` in, one ``r`` out, ``DECAY_FRAC + 1`` cycles apart.

    Interface: ``c`` and ``r`` are :mod:`amaranth.lib.stream` interfaces, not a start/busy/done
    handshake, because the unit sits between a queue of spiking neurons and the per-synapse
    update loop: valid/ready lets either side stall (a burst of spikes, a busy synapse loop)
    without extra glue, and the core's other blocks talk the same way. The unit holds one
    division at a time: ``c.ready`` is high when it is idle, or when its result is being taken on
    ``r`` in the same cycle (a combinational path from ``r.ready`` to ``c.ready``).

    Latency: ``r.valid`` rises 17 cycles after the cycle in which ``c`` was transferred (1 load +
    16 iterations). Throughput: one result every 17 cycles with an always-ready sink, i.e. one
    reciprocal per post-synaptic spike, far above the rate the synapse loop consumes them.
    ``theta_q`` is sampled in the cycle ``c`` is transferred.

    Limits: exact (bit for bit the golden formula) for every ``c`` of the state format, negative
    values included, and every positive ``theta_q`` of the weight format. ``theta_q <= 0`` is
    outside the contract (the golden model divides by zero there).

    Parameters
    ----------
    config : Config
        Supplies the widths: ``c`` is ``signed(config.state.bits)``, ``theta_q`` is
        ``signed(config.weight.bits)``, ``r`` is ``unsigned(DECAY_FRAC)``.

    Attributes
    ----------
    c : In(stream.Signature(signed(state.bits)))
        The neuron's decayed synaptic current ``c'``.
    theta_q : In(signed(weight.bits))
        The threshold register.
    r : Out(stream.Signature(unsigned(DECAY_FRAC)))
        The reciprocal, unsigned 0.16.
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        self._config = config
        super().__init__({
            "c": In(stream.Signature(signed(config.state.bits))),
            "theta_q": In(signed(config.weight.bits)),
            "r": Out(stream.Signature(unsigned(DECAY_FRAC))),
        })

    @property
    def config(self) -> Config:
        return self._config

    def elaborate(self, platform):
        m = Module()
        bits = self._config.state.bits

        # c_clamped >= theta_q > 0, so divisor and remainder are non-negative and fit state.bits.
        divisor = Signal(unsigned(bits))
        remainder = Signal(unsigned(bits))
        quotient = Signal(unsigned(DECAY_FRAC))
        steps = Signal(range(DECAY_FRAC + 1))
        done = Signal()

        shifted = Cat(0, remainder)  # remainder * 2, the next numerator bit being 0
        fits = shifted >= divisor

        m.d.comb += [
            self.r.payload.eq(quotient),
            self.r.valid.eq(done),
            self.c.ready.eq((steps == 0) & (~done | self.r.ready)),
        ]
        with m.If(self.r.valid & self.r.ready):
            m.d.sync += done.eq(0)

        with m.If(self.c.valid & self.c.ready):
            clamped = Mux(self.c.payload > self.theta_q, self.c.payload, self.theta_q)
            m.d.sync += [
                divisor.eq(clamped),
                remainder.eq(self.theta_q),
                steps.eq(DECAY_FRAC),
            ]
        with m.Elif(steps != 0):
            m.d.sync += [
                remainder.eq(Mux(fits, shifted - divisor, shifted)),
                quotient.eq(Cat(fits, quotient)),
                steps.eq(steps - 1),
            ]
            with m.If(steps == 1):
                m.d.sync += done.eq(1)
        return m
