"""The neurocore's inference engine: one time-multiplexed datapath for every layer
(``docs/spec.md`` sections 4 and 5, without the eligibility ``ghat``/``ehat`` of step 3 and the
end-of-sample learning of section 6). Design note with block diagram: ``docs/rtl.md``.

A time step, layer by layer (first hidden layer first), runs two engines side by side:

* the **neuron loop** visits the layer's neurons in order. For neuron ``i`` it reads the state
  word, decays ``a`` then ``c`` on one shared multiplier (step 1), tests the threshold (step 2),
  does the counter and grade bookkeeping of step 3 and the ``-theta_q`` reset, accumulates
  ``w_ij`` (and ``(w_ij * d_j) >> weight.frac``) over the layer's list of spiking inputs, one
  weight read per clock, and stores every field once, saturated (step 4). Spikes go into the
  next layer's input list;
* the **trace pass** decays every trace of the layer's inputs and adds 1.0 to the spiking ones
  (steps 1 and 4), one input per clock, with its own memory and multipliers.

Latency and throughput: a layer with ``N`` neurons, ``J`` inputs of which ``K`` spiked takes
``max(N * max(K, 2) + 4, J + 2) + 1`` clocks (``docs/rtl.md``): one synaptic operation per clock
once ``K >= 2``. A step of ``L`` layers adds one clock to accept the command.

Limits: the host sends each input address at most once per step (a repeated address would be
integrated twice, unlike the golden model's boolean raster; more than ``n_inputs`` events in one
step are dropped) and at most ``n_steps`` ``STEP`` commands per sample. The memory access port
works only while ``busy`` is low.
"""

from amaranth import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore.golden.config import DECAY_FRAC, Config
from plasticore.golden.network import FLAG_NAMES

from .lfsr import LFSR

__all__ = ["Core", "Cmd", "Mem"]


class Cmd(enum.Enum, shape=2):
    """Command of an input event."""
    SPIKE = 0   #: input ``addr`` spikes in the coming step
    STEP = 1    #: end of the step's input events: run the step
    SAMPLE = 2  #: start a sample: clear the state, draw the perturbations (spec 4.1)


class Mem(enum.Enum, shape=2):
    """Memory selected by the access port."""
    WEIGHT = 0   #: one weight per synapse, layers concatenated, row-major (neuron, input)
    STATE = 1    #: one word per neuron (layers concatenated): ``state_layout``
    TRACE = 2    #: one word per layer input (layers' inputs concatenated): ``trace_layout``
    PERTURB = 3  #: one bit per hidden neuron: 1 for p = +1.0, 0 for -1.0 (read only)


def _sat(x, fmt):
    """(x clipped to fmt, clipped?) -- spec 1, ``sat``."""
    over, under = x > fmt.hi, x < fmt.lo
    return Mux(over, fmt.hi, Mux(under, fmt.lo, x)), over | under


def _bits(n):
    return max(1, (n - 1).bit_length())


class Core(wiring.Component):
    """Inference engine of a Plasticore core, parameterised by a :class:`Config`.

    Attributes
    ----------
    events : In(stream.Signature(event_layout))
        ``{cmd: Cmd, addr}``; taken (``ready``) only while idle.
    busy : Out(1)
        A step or a sample reset is running.
    done : Out(1)
        One-cycle pulse at the end of a step or a reset.
    step : Out(step_bits)
        Steps run since the last ``SAMPLE``.
    monitor : Out(monitor_layout)
        ``{valid, layer, neuron, step}``: one-cycle strobe per spike, in layer then neuron order.
        No back-pressure: a watcher must sample it every cycle.
    access : Out(access signature)
        Memory port for the host and the tests, idle only: ``mem`` (Mem), ``addr``, ``en``,
        ``we``, ``wdata``; ``rdata`` holds the word the cycle after a read (``en & ~we``).
    flags : Out(len(FLAG_NAMES))
        Sticky overflow flags (spec 8), bit ``k`` is ``FLAG_NAMES[k]``; ``flags_clear`` clears
        the flags whose bits are set.
    seed : In(32), seed_load : In(1)
        Writes the perturbation LFSR (spec 7).
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        self._config = cfg = config
        sizes = cfg.layers
        self.n_layers = len(sizes) - 1
        self.neuron_base = [sum(sizes[1:1 + k]) for k in range(self.n_layers)]
        self.trace_base = [sum(sizes[:k]) for k in range(self.n_layers)]
        self.weight_base = [sum(sizes[q + 1] * sizes[q] for q in range(k)) for k in range(self.n_layers)]
        self.n_neurons = sum(sizes[1:])
        self.n_traces = sum(sizes[:-1])
        self.n_weights = sum(sizes[k + 1] * sizes[k] for k in range(self.n_layers))
        self.n_hidden = sum(cfg.hidden_sizes)
        self.max_inputs = max(sizes[:-1])
        st, gr = signed(cfg.state.bits), signed(cfg.grade.bits)
        self.state_layout = data.StructLayout({
            "a": st, "c": st, "grade_sum": gr, "grade_total": gr,
            "count": unsigned(cfg.count_bits), "last_step": unsigned(cfg.step_bits)})
        tr = unsigned(cfg.trace.bits)
        self.trace_layout = data.StructLayout({"x": tr, "y": tr})
        self.event_layout = data.StructLayout({"cmd": Cmd, "addr": unsigned(_bits(cfg.n_inputs))})
        self.monitor_layout = data.StructLayout({
            "valid": 1, "layer": unsigned(_bits(self.n_layers)),
            "neuron": unsigned(_bits(max(sizes[1:]))), "step": unsigned(cfg.step_bits)})
        self.data_width = max(cfg.weight.bits, self.state_layout.size, self.trace_layout.size)
        self.addr_width = _bits(max(self.n_weights, self.n_neurons, self.n_traces, self.n_hidden, 2))
        access = wiring.Signature({
            "mem": Out(Mem), "addr": Out(self.addr_width), "en": Out(1), "we": Out(1),
            "wdata": Out(self.data_width), "rdata": In(self.data_width)})
        super().__init__({
            "events": In(stream.Signature(self.event_layout)),
            "busy": Out(1), "done": Out(1), "step": Out(cfg.step_bits),
            "monitor": Out(self.monitor_layout),
            "access": In(access),
            "flags": Out(len(FLAG_NAMES)), "flags_clear": In(len(FLAG_NAMES)),
            "seed": In(32), "seed_load": In(1),
        })

    @property
    def config(self) -> Config:
        return self._config

    # --- host-side helpers (pure Python) -------------------------------------------------------
    def decode(self, mem: Mem, raw: int):
        """The fields of a raw access word as a dict of ints (signed where the layout is)."""
        layout = {Mem.STATE: self.state_layout, Mem.TRACE: self.trace_layout}.get(mem)
        if layout is None:
            bits = self._config.weight.bits if mem == Mem.WEIGHT else 1
            raw &= (1 << bits) - 1
            return raw - (1 << bits) if mem == Mem.WEIGHT and raw >> (bits - 1) else raw
        out = {}
        for name, field in layout:
            v = (raw >> field.offset) & ((1 << field.width) - 1)
            out[name] = v - (1 << field.width) if field.shape.signed and v >> (field.width - 1) else v
        return out

    def encode(self, mem: Mem, value) -> int:
        """A raw access word from an int (weights) or a dict of fields (state, trace)."""
        layout = {Mem.STATE: self.state_layout, Mem.TRACE: self.trace_layout}.get(mem)
        if layout is None:
            return int(value) & ((1 << self._config.weight.bits) - 1)
        raw = 0
        for name, field in layout:
            raw |= (int(value.get(name, 0)) & ((1 << field.width) - 1)) << field.offset
        return raw

    # --- circuit -------------------------------------------------------------------------------
    def elaborate(self, platform):
        m = Module()
        cfg, L = self._config, self.n_layers
        flag = {name: Signal(name=f"raise_{name}") for name in FLAG_NAMES}
        flags = Signal(len(FLAG_NAMES))
        m.d.comb += self.flags.eq(flags)
        m.d.sync += flags.eq((flags & ~self.flags_clear) | Cat(flag[n] for n in FLAG_NAMES))

        # memories: one read + one write port each
        w_mem = memory.Memory(shape=signed(cfg.weight.bits), depth=self.n_weights, init=[])
        s_mem = memory.Memory(shape=self.state_layout, depth=self.n_neurons, init=[])
        t_mem = memory.Memory(shape=self.trace_layout, depth=self.n_traces, init=[])
        p_mem = memory.Memory(shape=1, depth=max(1, self.n_hidden), init=[])
        entry = data.StructLayout({"j": unsigned(_bits(self.max_inputs)), "d": signed(cfg.grade.bits)})
        lists = [memory.Memory(shape=entry, depth=self.max_inputs, init=[]) for _ in range(2)]
        marks = [memory.Memory(shape=1, depth=self.max_inputs, init=[]) for _ in range(2)]
        for name, mem in (("weights", w_mem), ("state", s_mem), ("traces", t_mem), ("perturb", p_mem),
                          ("list0", lists[0]), ("list1", lists[1]), ("marks0", marks[0]),
                          ("marks1", marks[1])):
            m.submodules[name] = mem
        w_rd, w_wr = w_mem.read_port(), w_mem.write_port()
        s_rd, s_wr = s_mem.read_port(), s_mem.write_port()
        t_rd, t_wr = t_mem.read_port(), t_mem.write_port()
        p_rd, p_wr = p_mem.read_port(), p_mem.write_port()
        l_rd = [mem.read_port() for mem in lists]
        l_wr = [mem.write_port() for mem in lists]
        k_rd = [mem.read_port() for mem in marks]
        k_wr = [mem.write_port() for mem in marks]

        m.submodules.lfsr = lfsr = LFSR(init=cfg.seed_perturb)
        m.d.comb += [lfsr.seed.eq(self.seed), lfsr.load.eq(self.seed_load)]

        # per-layer constants, indexed by the layer register
        layer = Signal(range(max(2, L)))
        table = lambda values: Array(Const(v, range(max(values) + 1)) for v in values)  # noqa: E731
        n_of = table([cfg.layers[k + 1] for k in range(L)])[layer]
        j_of = table([cfg.layers[k] for k in range(L)])[layer]
        nbase = table(self.neuron_base)[layer]
        tbase = table(self.trace_base)[layer]
        wbase_next = table(self.weight_base[1:] + [0])[layer]
        is_last = layer == L - 1
        in_bank = layer[0]               # layer k reads list/marks bank k % 2, writes the other

        step = Signal(cfg.step_bits)
        m.d.comb += self.step.eq(step)
        n_in = Signal(range(self.max_inputs + 1))    # events listed for the coming step
        n_out = Signal(range(self.max_inputs + 1))   # spikes listed by the running layer
        K = Signal(range(self.max_inputs + 1))       # spiking inputs of the running layer

        # ---- neuron loop: S0 token generator ------------------------------------------------------
        gen_run = Signal()
        gi = Signal(range(max(self.n_neurons, 2)))   # neuron within the layer
        gk = Signal(range(self.max_inputs + 2))      # token within the neuron: max(K, 2) tokens
        grow = Signal(range(max(self.n_weights, 2)))  # weight address of (gi, input 0)
        g_last = (gk >= K - 1) & (gk >= 1)
        g_has = gk < K

        s1 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "has": 1,
                                       "i": gi.shape(), "row": grow.shape()}))
        s2 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "has": 1,
                                       "i": gi.shape(), "d": signed(cfg.grade.bits)}))
        m.d.sync += [s1.valid.eq(gen_run), s1.first.eq(gk == 0), s1.last.eq(g_last),
                     s1.has.eq(g_has), s1.i.eq(gi), s1.row.eq(grow)]

        # S1: list entry and state word arrive; weight read; shared decay multiplier
        entry_rd = data.View(entry, Mux(in_bank, l_rd[1].data.as_value(), l_rd[0].data.as_value()))
        cur = Signal(self.state_layout)               # the neuron's word, latched on its first token
        cur_p = Signal()                              # its perturbation sign bit
        a_dec = Signal(signed(cfg.state.bits))
        c_dec = Signal(signed(cfg.state.bits))
        second = Signal()                             # S1 holds the neuron's second token
        m.d.sync += second.eq(s1.valid & s1.first)
        mul_x = Mux(s1.first, s_rd.data.a, s_rd.data.c)
        mul_k = Mux(s1.first, cfg.rho_q, cfg.rho_s_q)
        decayed = (mul_x * mul_k) >> DECAY_FRAC
        with m.If(s1.valid & s1.first):
            m.d.sync += [cur.eq(s_rd.data), cur_p.eq(p_rd.data), a_dec.eq(decayed)]
        with m.If(s1.valid & second):
            m.d.sync += c_dec.eq(decayed)
        m.d.sync += [s2.valid.eq(s1.valid), s2.first.eq(s1.first), s2.last.eq(s1.last),
                     s2.has.eq(s1.has), s2.i.eq(s1.i), s2.d.eq(entry_rd.d)]

        # S2: weight arrives; accumulate; on the neuron's last token: threshold and bookkeeping
        acc_w = cfg.weight.bits + _bits(self.max_inputs + 1) + 1
        acc = Signal(signed(acc_w))                   # drive_i, exact
        gacc = Signal(signed(cfg.grade.bits + _bits(self.max_inputs + 1) + 1))  # grade input sum
        w = Mux(s2.has, w_rd.data, 0)
        prod = (w_rd.data * s2.d) >> cfg.weight.frac
        gp = Mux(s2.has, prod, 0)
        acc_next = Mux(s2.first, 0, acc) + w
        gacc_next = Mux(s2.first, 0, gacc) + gp
        with m.If(s2.valid):
            m.d.sync += [acc.eq(acc_next), gacc.eq(gacc_next)]

        theta = cfg.threshold_q
        spike = (a_dec - c_dec) >= theta
        hidden = ~is_last
        p_val = Mux(cur_p, cfg.grade.one, -cfg.grade.one)
        grade_raw = cur.grade_sum + Mux(hidden & (cur.count == 0), p_val, 0)
        grade_d, grade_clip = _sat(grade_raw, cfg.grade)
        total, total_clip = _sat(cur.grade_total + grade_d, cfg.grade)
        count_max = (1 << cfg.count_bits) - 1
        s3 = Signal(data.StructLayout({
            "valid": 1, "i": gi.shape(), "spike": 1, "a": signed(cfg.state.bits + 1),
            "c": signed(cfg.state.bits), "acc": signed(acc_w), "gacc": gacc.shape(),
            "gs": signed(cfg.grade.bits), "gt": signed(cfg.grade.bits), "d": signed(cfg.grade.bits),
            "count": unsigned(cfg.count_bits), "last_step": unsigned(cfg.step_bits)}))
        fin = s2.valid & s2.last
        raise_fin = fin & spike        # flags are plain gates, not If blocks: Icarus runs an
        # always @* block first when an input changes, and these may not change at time 0
        m.d.sync += s3.valid.eq(fin)
        with m.If(fin):
            m.d.sync += [s3.i.eq(s2.i), s3.spike.eq(spike), s3.c.eq(c_dec),
                         s3.a.eq(a_dec - Mux(spike, theta, 0)),
                         s3.acc.eq(acc_next), s3.gacc.eq(gacc_next), s3.d.eq(grade_d)]
            with m.If(spike):
                m.d.sync += [s3.gs.eq(0), s3.gt.eq(total),
                             s3.count.eq(Mux(cur.count == count_max, count_max, cur.count + 1)),
                             s3.last_step.eq(step)]
            with m.Else():
                m.d.sync += [s3.gs.eq(cur.grade_sum), s3.gt.eq(cur.grade_total),
                             s3.count.eq(cur.count), s3.last_step.eq(cur.last_step)]

        # S3: saturate once, store, list the spike for the next layer
        a_new, a_clip = _sat(s3.a + s3.acc, cfg.state)
        c_new, c_clip = _sat(s3.c + s3.acc, cfg.state)
        gs_new, gs_clip = _sat(s3.gs + s3.gacc, cfg.grade)
        word = Signal(self.state_layout)
        m.d.comb += [word.a.eq(a_new), word.c.eq(c_new), word.grade_sum.eq(gs_new),
                     word.grade_total.eq(s3.gt), word.count.eq(s3.count),
                     word.last_step.eq(s3.last_step)]
        m.d.comb += [flag["state"].eq(s3.valid & (a_clip | c_clip)),
                     flag["grade"].eq((s3.valid & gs_clip) | (raise_fin & (grade_clip | total_clip))),
                     flag["count"].eq(raise_fin & (cur.count == count_max))]
        emit = s3.valid & s3.spike
        m.d.comb += [self.monitor.valid.eq(emit), self.monitor.layer.eq(layer),
                     self.monitor.neuron.eq(s3.i), self.monitor.step.eq(step)]
        listing = emit & ~is_last
        with m.If(listing):
            m.d.sync += n_out.eq(n_out + 1)

        # ---- trace pass ------------------------------------------------------------------------------
        t_run = Signal()
        t_j = Signal(range(self.max_inputs + 1))
        t1 = Signal(data.StructLayout({"valid": 1, "j": t_j.shape()}))
        m.d.sync += [t1.valid.eq(t_run), t1.j.eq(t_j)]
        one = cfg.trace.one
        mark = Mux(in_bank, k_rd[1].data, k_rd[0].data)
        x_new, x_clip = _sat(((t_rd.data.x * cfg.rho_q) >> DECAY_FRAC) + Mux(mark, one, 0), cfg.trace)
        y_new, y_clip = _sat(((t_rd.data.y * cfg.rho_s_q) >> DECAY_FRAC) + Mux(mark, one, 0), cfg.trace)
        m.d.comb += flag["trace"].eq(t1.valid & (x_clip | y_clip))

        # ---- sequencer ---------------------------------------------------------------------------------
        clr = Signal(range(max(self.n_neurons, self.n_traces, self.max_inputs, self.n_hidden) + 1))
        clr_end = max(self.n_neurons, self.n_traces, self.max_inputs, self.n_hidden)
        draw = Signal(data.StructLayout({"valid": 1, "addr": range(max(2, self.n_hidden))}))
        m.d.sync += [draw.valid.eq(0), self.done.eq(0)]
        ev = self.events.payload
        drained = ~(gen_run | s1.valid | s2.valid | s3.valid | t_run | t1.valid)
        acc_ = self.access

        with m.FSM() as fsm:
            with m.State("IDLE"):
                with m.If(self.events.valid):
                    with m.Switch(ev.cmd):
                        with m.Case(Cmd.SPIKE):
                            with m.If(n_in < cfg.n_inputs):
                                m.d.comb += [l_wr[0].en.eq(1), l_wr[0].addr.eq(n_in),
                                             l_wr[0].data.j.eq(ev.addr), l_wr[0].data.d.eq(0),
                                             k_wr[0].en.eq(1), k_wr[0].addr.eq(ev.addr),
                                             k_wr[0].data.eq(1)]
                                m.d.sync += n_in.eq(n_in + 1)
                        with m.Case(Cmd.STEP):
                            m.d.sync += [layer.eq(0), K.eq(n_in), n_in.eq(0), n_out.eq(0),
                                         gen_run.eq(1), gi.eq(0), gk.eq(0), grow.eq(0),
                                         t_run.eq(1), t_j.eq(0)]
                            m.next = "LAYER"
                        with m.Case(Cmd.SAMPLE):
                            m.d.sync += [clr.eq(0), n_in.eq(0), step.eq(0)]
                            m.next = "CLEAR"
                # host access
                with m.Switch(acc_.mem):
                    with m.Case(Mem.WEIGHT):
                        m.d.comb += [w_rd.en.eq(acc_.en & ~acc_.we), w_wr.en.eq(acc_.en & acc_.we)]
                    with m.Case(Mem.STATE):
                        m.d.comb += [s_rd.en.eq(acc_.en & ~acc_.we), s_wr.en.eq(acc_.en & acc_.we)]
                    with m.Case(Mem.TRACE):
                        m.d.comb += [t_rd.en.eq(acc_.en & ~acc_.we), t_wr.en.eq(acc_.en & acc_.we)]
                    with m.Case(Mem.PERTURB):
                        m.d.comb += p_rd.en.eq(acc_.en & ~acc_.we)
                m.d.comb += [w_rd.addr.eq(acc_.addr), s_rd.addr.eq(acc_.addr),
                             t_rd.addr.eq(acc_.addr), p_rd.addr.eq(acc_.addr),
                             w_wr.addr.eq(acc_.addr), s_wr.addr.eq(acc_.addr), t_wr.addr.eq(acc_.addr),
                             w_wr.data.eq(acc_.wdata), s_wr.data.eq(acc_.wdata),
                             t_wr.data.eq(acc_.wdata)]

            with m.State("CLEAR"):
                zero = [s_wr.en.eq(clr < self.n_neurons), s_wr.addr.eq(clr), s_wr.data.eq(0),
                        t_wr.en.eq(clr < self.n_traces), t_wr.addr.eq(clr), t_wr.data.eq(0)]
                for port in k_wr + l_wr:
                    zero += [port.en.eq(clr < self.max_inputs), port.addr.eq(clr), port.data.eq(0)]
                m.d.comb += zero
                with m.If(clr < self.n_hidden):        # one perturbation draw per hidden neuron
                    m.d.comb += lfsr.advance.eq(1)
                    m.d.sync += [draw.valid.eq(1), draw.addr.eq(clr)]
                m.d.sync += clr.eq(clr + 1)
                with m.If(clr == clr_end):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"

            with m.State("LAYER"):
                # neuron loop ports
                m.d.comb += [s_rd.addr.eq(nbase + gi), s_rd.en.eq(gen_run & (gk == 0)),
                             p_rd.addr.eq(nbase + gi), p_rd.en.eq(gen_run & (gk == 0)),
                             w_rd.addr.eq(s1.row + entry_rd.j), w_rd.en.eq(s1.valid & s1.has),
                             s_wr.addr.eq(nbase + s3.i), s_wr.data.eq(word), s_wr.en.eq(s3.valid)]
                for b in range(2):
                    m.d.comb += [l_rd[b].addr.eq(gk), l_rd[b].en.eq(gen_run & g_has & (in_bank == b)),
                                 k_rd[b].addr.eq(t_j), k_rd[b].en.eq(t_run & (in_bank == b))]
                    with m.If(in_bank == b):       # trace pass clears this bank's marks
                        m.d.comb += [k_wr[b].en.eq(t1.valid), k_wr[b].addr.eq(t1.j), k_wr[b].data.eq(0)]
                    with m.Else():                 # the spikes of this layer, for the next one
                        m.d.comb += [l_wr[b].en.eq(listing), l_wr[b].addr.eq(n_out),
                                     l_wr[b].data.j.eq(s3.i), l_wr[b].data.d.eq(s3.d),
                                     k_wr[b].en.eq(listing), k_wr[b].addr.eq(s3.i), k_wr[b].data.eq(1)]
                # trace pass ports
                m.d.comb += [t_rd.addr.eq(tbase + t_j), t_rd.en.eq(t_run),
                             t_wr.addr.eq(tbase + t1.j), t_wr.en.eq(t1.valid),
                             t_wr.data.x.eq(x_new), t_wr.data.y.eq(y_new)]
                # token generator
                with m.If(gen_run):
                    with m.If(g_last):
                        m.d.sync += [gk.eq(0), gi.eq(gi + 1), grow.eq(grow + j_of)]
                        with m.If(gi == n_of - 1):
                            m.d.sync += gen_run.eq(0)
                    with m.Else():
                        m.d.sync += gk.eq(gk + 1)
                with m.If(t_run):
                    m.d.sync += t_j.eq(t_j + 1)
                    with m.If(t_j == j_of - 1):
                        m.d.sync += t_run.eq(0)
                with m.If(drained):
                    with m.If(is_last):
                        m.d.sync += [step.eq(step + 1), self.done.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [layer.eq(layer + 1), K.eq(n_out), n_out.eq(0),
                                     gen_run.eq(1), gi.eq(0), gk.eq(0), grow.eq(wbase_next),
                                     t_run.eq(1), t_j.eq(0)]

        # outside the FSM's processes: continuous assignments, valid from time 0 on Icarus
        m.d.comb += [self.events.ready.eq(fsm.ongoing("IDLE")), self.busy.eq(~fsm.ongoing("IDLE"))]
        m.d.comb += [p_wr.en.eq(draw.valid), p_wr.addr.eq(draw.addr), p_wr.data.eq(lfsr.value[0])]

        # access read data: the port selected by the last read
        rsel = Signal(Mem)
        with m.If(acc_.en & ~acc_.we & ~self.busy):
            m.d.sync += rsel.eq(acc_.mem)
        m.d.comb += acc_.rdata.eq(
            Mux(rsel == Mem.WEIGHT, w_rd.data.as_unsigned(),
                Mux(rsel == Mem.STATE, s_rd.data.as_value(),
                    Mux(rsel == Mem.TRACE, t_rd.data.as_value(), p_rd.data))))
        return m
