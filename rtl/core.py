"""The pipelined neurocore: one time-multiplexed datapath for every layer that runs the whole of
``docs/spec.md`` sections 4-6 (a step's neuron, trace and eligibility updates, the end-of-sample
learning), bit for bit as ``golden/network.py``. Design note with block diagram: ``docs/rtl.md``.

``elaborate`` wires the engines, each a method named after the golden function it equals
(signals pass between them through a :class:`~.corebase.Wires`, by name):

* :meth:`Core._step_layer`, the **neuron loop**, visits the layer's neurons in order. For neuron
  ``i`` it reads the state word, decays ``a`` and ``c`` on two multipliers in the same clock
  (step 1), tests the threshold (step 2), does the counter and grade bookkeeping of step 3 and the
  ``-theta_q`` reset, accumulates ``w_ij`` (and ``(w_ij * d_j) >> weight.frac``) over the layer's
  list of spiking inputs, one weight read per clock, and stores every field once, saturated
  (step 4). Spikes go into the next layer's input list;
* :meth:`Core._step_traces`, the **trace pass**, decays every trace of the layer's inputs and
  adds 1.0 to the spiking ones (steps 1 and 4), two inputs per clock (two per memory word), with
  its own memory and multipliers; it runs beside the neuron loop;
* :meth:`Core._eligibility_updates` (spec 5.3) serves the spiking neurons of every layer in
  order, one synapse per clock, overlapping the next layer;
* ``LEARN`` (spec 6): :meth:`Core._output_errors`, :meth:`Core._hidden_errors`,
  :meth:`Core._update_weights`, :meth:`Core._update_feedback`, one word per clock each;
* :meth:`Core._sequencer`: the command FSM over them; :meth:`Core._memories`,
  :meth:`Core._registers` and :meth:`Core._access_read` the memories, shared registers and the
  host's access port.

Latency and throughput: a layer with ``N`` neurons, ``J`` inputs of which ``K`` spiked takes
``max(N * max(K, 1) + 3 + LIST_READ_LATENCY + READ_DELAY, ceil(J / 2) + 3)`` clocks plus the
eligibility engine's
(``docs/rtl.md``): one synaptic operation per clock once ``K >= 1``. A step of ``L`` layers
adds one clock to accept the command. WEIGHT, GRAD and FEEDBACK are banked memories with
registered outputs (``rtl/bankmem.py``, read latency ``READ_LATENCY``), the other block RAMs'
outputs are registered once (``SMALL_READ_LATENCY``, ``LIST_READ_LATENCY``): every pipeline
carries the stages its reads need, and each read is issued so that all of a stage's operands
arrive together (timing: 50 MHz on the ECP5, ``docs/boards.md``).

Limits: the host sends each input address at most once per step (a repeated address would be
integrated twice, unlike the golden model's boolean raster; more than ``n_inputs`` events in one
step are dropped) and at most ``n_steps`` ``STEP`` commands per sample. The memory access port
works only while ``busy`` is low.
"""

from amaranth import Array, Cat, Const, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory

from plasticore.chip.cycles import PipelinedCycles, unsupported_rule
from plasticore.golden.config import DECAY_FRAC, Config

from .bankmem import BANK_DEPTH, BankedRAM
from .corebase import Cmd, CoreBase, Mem
from .datapath import _Port, _bits, _delay_line, _delayed, _sat, _share, _table
from .pairmem import PairedRAM
from .reciprocal import Reciprocal
from .softmax import SoftmaxErrors

__all__ = ["Core", "Cmd", "Mem"]


def _check_rule(config: Config) -> None:
    """Refuse, by name, the learning-rule options this core does not build (spec 6.1: the hinge
    error of an integrate output layer stays in the golden model)."""
    missing = unsupported_rule(config, "pipelined")
    if missing:
        raise ValueError(f"the pipelined and compact cores implement the configuration's rule "
                         f"but for this: the core {missing}")


class Core(PipelinedCycles, CoreBase):
    """Inference engine of a Plasticore core, parameterised by a :class:`Config`.

    ``grad_memory`` (``"paired"``/``"banked"``) overrides the platform's choice of GRAD/FEEDBACK
    memory (:meth:`grad_memory`); the cycle model is the same for both.

    ``compact=True`` builds the core without the read registers: every memory answers the clock
    after a read (``READ_LATENCY`` = ``SMALL_READ_LATENCY`` = ``LIST_READ_LATENCY`` = 1), WEIGHT,
    GRAD and FEEDBACK are plain memories (GRAD/FEEDBACK still paired where :meth:`grad_memory`
    says so). Hundreds of flip-flops fewer and a few clocks fewer per layer; for the iCE40 at 24
    MHz, where the registers buy nothing (``docs/boards.md``). The cycle model follows the
    instance's latencies.

    The ports, memory map and command dispatch are :class:`~.corebase.CoreBase`'s.
    """

    def __init__(self, config: Config, *, grad_memory: str | None = None, compact: bool = False):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        if grad_memory not in (None, "paired", "banked"):
            raise ValueError(f"grad_memory must be None, 'paired' or 'banked', not {grad_memory!r}")
        _check_rule(config)
        PipelinedCycles.__init__(self, config, compact=compact)
        self._grad_memory = grad_memory
        sizes = config.layers
        #: GRAD in two single-port banks (rtl/pairmem.py): needs even rows and layer bases
        self.grads_paired = all(j % 2 == 0 for j in sizes[:-1]) and self.n_weights >= 2
        if grad_memory == "paired" and not self.grads_paired:
            raise ValueError(f"grad_memory='paired' needs an even input count in every layer "
                             f"and 2 weights or more; layers {sizes}")
        CoreBase.__init__(self)

    def grad_memory(self, device: str = "") -> str:
        """How GRAD/FEEDBACK are built for an FPGA ``device`` (``""``: simulation): ``"paired"``
        (two single-port banks, SPRAM on an iCE40 UltraPlus, rtl/pairmem.py) or ``"banked"``
        (rtl/bankmem.py), unless the constructor's ``grad_memory`` chose."""
        if self._grad_memory is not None:
            return self._grad_memory
        return "paired" if self.grads_paired and str(device).startswith("iCE40UP") else "banked"

    # --- circuit ---------------------------------------------------------------------------------
    #: the engines ``elaborate`` runs in order (``CoreBase.elaborate``)
    ENGINES = ("_memories", "_registers", "_step_layer", "_step_traces", "_eligibility_updates",
               "_output_errors", "_hidden_errors", "_update_weights", "_update_feedback",
               "_sequencer", "_access_read")

    def _memories(self, m, e):
        """The memories and their ports (docs/rtl.md, "Memories"; word formats: docs/spec.md section
        3, chip/memmap.py). Memories used in disjoint phases share one block RAM."""
        cfg, platform = e.take("cfg platform")
        # memories: one read + one write port each. Memories used in disjoint phases share one
        # block RAM (iCE40 UP5K: 30 EBRs): GRAD and FEEDBACK (FEEDBACK above the synapses),
        # TRACE and the errors (errors above the traces); the two spike lists are the two
        # halves of one memory (one bank read, the other written)
        # WEIGHT, GRAD and FEEDBACK are the large memories: banked, registered, read latency
        # READ_LATENCY (rtl/bankmem.py); the others answer the clock after a read. On an iCE40
        # UltraPlus (24 MHz, 30 small EBRs) one bank: 1,024-word banks would round WEIGHT up to
        # whole banks of EBRs for the latency's registers only
        ice40up = str(getattr(platform, "device", "")).startswith("iCE40UP")
        if self.compact:
            w_mem = memory.Memory(shape=signed(cfg.weight.bits), depth=self.n_weights, init=[])
            w_ports = w_mem.read_port(), w_mem.write_port()
        else:
            w_mem = BankedRAM(shape=signed(cfg.weight.bits), depth=self.n_weights,
                              bank_depth=self.n_weights if ice40up else BANK_DEPTH)
            w_ports = w_mem.rd, w_mem.wr
        s_mem = memory.Memory(shape=self.state_layout, depth=self.n_neurons, init=[])
        p_mem = memory.Memory(shape=1, depth=max(1, self.n_hidden), init=[])
        entry = data.StructLayout({"j": unsigned(_bits(self.max_inputs)), "d": signed(cfg.grade.bits)})
        lbits = _bits(self.max_inputs)
        list_mem = memory.Memory(shape=entry, depth=2 << lbits, init=[])
        # the trace pass visits two inputs per clock: marks and eps hold two inputs per word
        half_inputs = self.half_inputs
        marks = [memory.Memory(shape=2, depth=half_inputs, init=[]) for _ in range(2)]
        # eps = (x' - y') >> (trace.frac - grad.frac), x', y' unsigned trace words: exact in this
        eps_shape = signed(max(2, cfg.trace.bits + 1 - (cfg.trace.frac - cfg.grad.frac)))
        # two banks by layer parity: a layer's eligibility engine still reads its eps while the
        # next layer's trace pass writes that layer's (the two overlap)
        e_mem = memory.Memory(shape=2 * eps_shape.width, depth=self.eps_banks * half_inputs, init=[])

        def eps_word(word, bank):
            return word + Mux(bank, half_inputs, 0) if self.eps_banks > 1 else word
        # errors delta: output layer from the counts, hidden layers through the feedback (spec 6.2)
        O = cfg.n_outputs
        # delta_o: target - count (count_bits + 2 bits), or a softmax error (ERROR_FRAC + 2)
        delta_bits = max(cfg.count_bits + 2, cfg.error_frac + 2)
        dw = max(cfg.feedback.bits + delta_bits + _bits(O + 1),
                 cfg.count_bits + 2 + cfg.feedback.frac + cfg.error_frac) + 1
        # TRACE: two inputs (lanes) per word, written lane by lane by the host; errors in lane 0
        lane = max(self.trace_layout.size, dw)
        td_mem = memory.Memory(shape=2 * lane, depth=self.n_trace_words + self.n_neurons, init=[])
        t_rd = _Port(self.n_trace_words, 2 * lane)
        t_wr = _Port(self.n_trace_words, 2 * lane, lanes=2)
        d_rd, d_wr = _Port(self.n_neurons, signed(dw)), _Port(self.n_neurons, signed(dw))
        _share(m, _delayed(m, td_mem.read_port(), self.SMALL_READ_LATENCY - 1, "td_rd"),
               td_mem.write_port(granularity=lane), 2 * lane,
               (t_rd, t_wr, 0), (d_rd, d_wr, self.n_trace_words))

        def trace_lane(word, q):
            return data.View(self.trace_layout, word[q * lane:q * lane + self.trace_layout.size])
        # GRAD: one read and one write per clock (eligibility engine, LEARN weight pass). On an
        # iCE40 UltraPlus two single-port SPRAM banks suffice when every layer has an even
        # number of inputs (rtl/pairmem.py; 20 of its 30 EBRs otherwise for the digits network),
        # delayed to the banked memories' read latency; elsewhere a BankedRAM
        gf_depth = self.n_weights + self.n_feedback
        gf_width = max(self.grad_layout.size, cfg.feedback.bits)
        paired = self.grad_memory(getattr(platform, "device", "")) == "paired"
        if paired:
            gf_mem = PairedRAM(shape=gf_width, depth=gf_depth, spram=ice40up)
            gf_ports = _delayed(m, gf_mem.rd, self.READ_DELAY, "gf_rd"), gf_mem.wr
        elif self.compact:
            gf_mem = memory.Memory(shape=gf_width, depth=gf_depth, init=[])
            gf_ports = gf_mem.read_port(), gf_mem.write_port()
        else:
            gf_mem = BankedRAM(shape=gf_width, depth=gf_depth)
            gf_ports = gf_mem.rd, gf_mem.wr
        g_rd, g_wr = _Port(self.n_weights, self.grad_layout), _Port(self.n_weights, self.grad_layout)
        fb_shape = signed(cfg.feedback.bits)
        f_rd, f_wr = _Port(self.n_feedback, fb_shape), _Port(self.n_feedback, fb_shape)
        _share(m, *gf_ports, gf_width, (g_rd, g_wr, 0), (f_rd, f_wr, self.n_weights))
        #: the PairedRAM of the last elaboration (None without), for tests watching its ``hazard``
        self.paired_memory = gf_mem if paired else None
        for name, mem in (("weights", w_mem), ("state", s_mem), ("traces_errors", td_mem),
                          ("perturb", p_mem), ("lists", list_mem), ("marks0", marks[0]),
                          ("marks1", marks[1]), ("grads_feedback", gf_mem), ("eps", e_mem)):
            m.submodules[name] = mem
        e_rd, e_wr = e_mem.read_port(), e_mem.write_port()
        w_rd, w_wr = w_ports
        s_rd, s_wr = _delayed(m, s_mem.read_port(), self.SMALL_READ_LATENCY - 1, "s_rd"), s_mem.write_port()
        p_rd, p_wr = _delayed(m, p_mem.read_port(), self.SMALL_READ_LATENCY - 1, "p_rd"), p_mem.write_port()
        l_rd, l_wr = _delayed(m, list_mem.read_port(), self.LIST_READ_LATENCY - 1, "l_rd"), list_mem.write_port()
        k_rd = [mem.read_port() for mem in marks]
        k_wr = [mem.write_port(granularity=1) for mem in marks]
        e.put(O=O, d_rd=d_rd, d_wr=d_wr, delta_bits=delta_bits, dw=dw, e_rd=e_rd, e_wr=e_wr,
              eps_shape=eps_shape,
              eps_word=eps_word, f_rd=f_rd, f_wr=f_wr, g_rd=g_rd, g_wr=g_wr,
              half_inputs=half_inputs, k_rd=k_rd, k_wr=k_wr, l_rd=l_rd, l_wr=l_wr, lane=lane,
              lbits=lbits, p_rd=p_rd, p_wr=p_wr, s_rd=s_rd, s_wr=s_wr, t_rd=t_rd, t_wr=t_wr,
              trace_lane=trace_lane, w_rd=w_rd, w_wr=w_wr)

    def _registers(self, m, e):
        """The random bits (spec 7), the update shifts and their noise masks (spec 6.3), the layer
        register with its per-layer constants, the step and spike-list counters."""
        L, cfg = e.take("L cfg")
        lfsr, rlfsr = self._random_bits(m)

        # the rounding-noise masks of the update shifts, loaded with them, so that phase C's
        # datapath sees registers (timing), not the adder from a rate to its shift
        k_hid, k_out, new_hid, new_out = self._update_shifts(m)
        mask_hid = Signal(32, init=(1 << cfg.hidden_update_shift) - 1)
        mask_out = Signal(32, init=(1 << cfg.output_update_shift) - 1)
        with m.If(self.rates_load):
            m.d.sync += [mask_hid.eq(~(Const(0xFFFFFFFF, 32) << new_hid)),
                         mask_out.eq(~(Const(0xFFFFFFFF, 32) << new_out))]

        # per-layer constants, indexed by the layer register
        layer = Signal(range(max(2, L)))
        n_of = _table([cfg.layers[k + 1] for k in range(L)])[layer]
        inputs_of = _table([cfg.layers[k] for k in range(L)])
        j_of = inputs_of[layer]
        nbase = _table(self.neuron_base)[layer]
        wbase_next = _table(self.weight_base[1:] + [0])[layer]
        is_last = layer == L - 1
        in_bank = layer[0]               # layer k reads list/marks bank k % 2, writes the other

        step = Signal(cfg.step_bits)
        m.d.comb += self.step.eq(step)
        n_in = Signal(range(self.max_inputs + 1))    # events listed for the coming step
        n_out = Signal(range(self.max_inputs + 1))   # spikes listed by the running layer
        K = Signal(range(self.max_inputs + 1))       # spiking inputs of the running layer
        e.put(K=K, in_bank=in_bank, inputs_of=inputs_of, is_last=is_last, j_of=j_of, k_hid=k_hid,
              k_out=k_out, layer=layer, lfsr=lfsr, mask_hid=mask_hid, mask_out=mask_out, n_in=n_in,
              n_of=n_of, n_out=n_out, nbase=nbase, rlfsr=rlfsr, step=step, wbase_next=wbase_next)

    def _step_layer(self, m, e):
        """The neuron loop: golden Network._step_layer (and _spike_updates' grades and counters) for
        one neuron per max(K, 1) clocks: decay, threshold, reset, the integration of the layer's
        spiking inputs, one state write (docs/spec.md section 5, steps 1-4)."""
        (K, cfg, d_rd, dw, flag, g_rd, is_last, l_rd, layer, n_out, p_rd, s_rd, step, w_rd) = e.take(
            "K cfg d_rd dw flag g_rd is_last l_rd layer n_out p_rd s_rd step w_rd")
        # ---- neuron loop: S0 token generator ------------------------------------------------------
        gen_run = Signal()
        gi = Signal(range(max(self.n_neurons, 2)))   # neuron within the layer
        gk = Signal(range(self.max_inputs + 2))      # token within the neuron: max(K, 1) tokens
        grow = Signal(range(max(self.n_weights, 2)))  # weight address of (gi, input 0)
        g_last = gk + 1 >= K
        g_has = gk < K

        # SW (S1 + LIST_READ_LATENCY - 1) has the list entry and reads the weight (READ_LATENCY
        # clocks); the stage before the weight arrives (SD) has the state word, which decays;
        # the weight arrives in S2
        X, LL = self.READ_DELAY, self.LIST_READ_LATENCY
        s1 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "has": 1,
                                       "i": gi.shape(), "d": signed(cfg.grade.bits),
                                       "row": grow.shape()}))
        m.d.sync += [s1.valid.eq(gen_run), s1.first.eq(gk == 0), s1.last.eq(g_last),
                     s1.has.eq(g_has), s1.i.eq(gi), s1.row.eq(grow)]
        # loop_pipe[k] is stage index k + 1 (the generator is index 0)
        loop_pipe = _delay_line(m, s1, LL + X, "s")
        sw = loop_pipe[LL - 1]
        entry_rd = l_rd.data                          # the list entry arrives in SW
        m.d.sync += loop_pipe[LL].d.eq(entry_rd.d)
        sd, s2 = loop_pipe[LL + X - 1], loop_pipe[LL + X]
        # the state read, timed to arrive in SD (index LL + X): issued SMALL_READ_LATENCY earlier
        s_early = LL + X - self.SMALL_READ_LATENCY
        assert s_early >= 0, "the small memories' latency exceeds the neuron loop's"
        s_issue = (gen_run & (gk == 0), gi) if s_early == 0 else \
            (loop_pipe[s_early - 1].valid & loop_pipe[s_early - 1].first, loop_pipe[s_early - 1].i)
        # the learning phases' small-memory reads, READ_DELAY + 1 - SMALL_READ_LATENCY stages
        # after their large-memory reads
        early = X + 1 - self.SMALL_READ_LATENCY
        assert early >= 0, "the small memories' latency exceeds the large ones'"

        # SD: state word arrives; shared decay multiplier
        cur = Signal(self.state_layout)               # the neuron's word, latched on its first token
        cur_p = Signal()                              # its perturbation sign bit
        a_dec = Signal(signed(cfg.state.bits))
        c_dec = Signal(signed(cfg.state.bits))
        # a and c decay in the neuron's first token (two multipliers), so a neuron takes one
        # clock when at most one input spiked; the a multiplier also forms delta * ghat (LEARN
        # phase C)
        learning_c = Signal()                         # phase C runs
        mul_a = Signal(signed(max(cfg.state.bits, dw)))
        mul_b = Signal(signed(max(DECAY_FRAC, cfg.grad.bits, cfg.count_bits) + 1))
        # phase C's eligibility operand: ghat, or n_i for an integrate output (_update_weights)
        c_elig = Signal(signed(max(cfg.grad.bits, cfg.count_bits + 1)))
        m.d.comb += [mul_a.eq(Mux(learning_c, d_rd.data, s_rd.data.a)),
                     mul_b.eq(Mux(learning_c, c_elig, cfg.rho_q))]
        big_prod = mul_a * mul_b
        with m.If(sd.valid & sd.first):
            m.d.sync += [cur.eq(s_rd.data), cur_p.eq(p_rd.data), a_dec.eq(big_prod >> DECAY_FRAC),
                         c_dec.eq((s_rd.data.c * cfg.rho_s_q) >> DECAY_FRAC)]

        # S2: weight arrives; accumulate; on the neuron's last token: threshold and bookkeeping
        acc_w = cfg.weight.bits + _bits(self.max_inputs + 1) + 1
        acc = Signal(signed(acc_w))                   # drive_i, exact
        gacc = Signal(signed(cfg.grade.bits + _bits(self.max_inputs + 1) + 1))  # grade input sum
        w = Mux(s2.has, w_rd.data, 0)
        # one multiplier for w * d (steps) and B * delta_o (LEARN phase B), operands driven below
        learning_b = Signal()                         # phase B runs
        gm_a = Signal(signed(max(cfg.weight.bits, cfg.feedback.bits)))
        gm_b = Signal(signed(max(cfg.grade.bits, e.delta_bits)))
        grade_prod = gm_a * gm_b
        prod = grade_prod >> cfg.weight.frac
        gp = Mux(s2.has, prod, 0)
        acc_next = Mux(s2.first, 0, acc) + w
        gacc_next = Mux(s2.first, 0, gacc) + gp
        with m.If(s2.valid):
            m.d.sync += [acc.eq(acc_next), gacc.eq(gacc_next)]

        theta = cfg.threshold_q
        integrate = cfg.output_layer == "integrate"
        membrane = Signal(signed(cfg.state.bits + 1))
        m.d.comb += membrane.eq(a_dec - c_dec)
        # an integrate output layer (spec 5.5) has no threshold: it never spikes
        spike = (membrane >= theta) & ~is_last if integrate else membrane >= theta
        # the surrogate gate (spec 5.2) from the same decayed membrane, before the reset
        off = membrane - theta
        gate = Mux(off < 0, -off, off) <= cfg.surrogate_width_q
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
            if integrate:               # V_o = a_o accumulates: no decay (spec 5.5)
                with m.If(is_last):
                    m.d.sync += [s3.a.eq(cur.a), s3.c.eq(cur.c)]
            with m.If(spike):
                m.d.sync += [s3.gs.eq(0), s3.gt.eq(total),
                             s3.count.eq(Mux(cur.count == count_max, count_max, cur.count + 1)),
                             s3.last_step.eq(step)]
            with m.Else():
                m.d.sync += [s3.gs.eq(cur.grade_sum), s3.gt.eq(cur.grade_total),
                             s3.count.eq(cur.count), s3.last_step.eq(cur.last_step)]

        # S3: saturate once, store, list the spike for the next layer
        a_new, a_clip = _sat(s3.a + s3.acc, cfg.state)
        # an integrate output's c stays 0 (golden _integrate_output leaves it)
        c_new, c_clip = _sat(s3.c + (Mux(is_last, 0, s3.acc) if integrate else s3.acc), cfg.state)
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
        e.put(X=X, big_prod=big_prod, c_dec=c_dec, c_elig=c_elig, cur=cur, early=early,
              entry_rd=entry_rd, fin=fin, g_has=g_has, g_last=g_last, gate=gate, gen_run=gen_run,
              gi=gi, gk=gk, gm_a=gm_a, gm_b=gm_b, grade_prod=grade_prod, grow=grow,
              learning_b=learning_b, learning_c=learning_c, listing=listing, loop_pipe=loop_pipe,
              s2=s2, s3=s3,
              s_issue=s_issue, spike=spike, sw=sw, theta=theta, word=word)

    def _step_traces(self, m, e):
        """The trace pass: the trace half of golden Network._step_layer, two inputs per clock:
        decay, +1.0 for the spiking ones, and eps for the eligibility engine (docs/spec.md
        section 5, steps 1 and 4)."""
        (cfg, e_wr, eps_shape, eps_word, flag, half_inputs, in_bank, is_last, j_of, k_rd, lane,
         layer, t_rd, trace_lane) = e.take(
            "cfg e_wr eps_shape eps_word flag half_inputs in_bank is_last j_of k_rd lane layer "
            "t_rd trace_lane")
        # ---- trace pass ------------------------------------------------------------------------------
        # two inputs per clock: word t_p holds inputs 2 t_p (lane 0) and 2 t_p + 1 (lane 1)
        t_run = Signal()
        t_p = Signal(range(half_inputs + 1))
        t1 = Signal(data.StructLayout({"valid": 1, "p": t_p.shape()}))
        m.d.sync += [t1.valid.eq(t_run), t1.p.eq(t_p)]
        pairs_of = _table(self.trace_words)[layer]
        tword = _table(self.trace_word_base)[layer]
        one = cfg.trace.one
        marks_rd = Mux(in_bank, k_rd[1].data, k_rd[0].data)
        # T2: the word arrives, registered behind its block RAM (SMALL_READ_LATENCY; timing: the
        # block RAM's clock-to-out and the decay multiplier do not fit one 20 ns clock together),
        # with the marks registered beside it; decay, +1.0, write back. A compact core has the
        # word in T1: there T2 is T1
        t2 = Signal(data.StructLayout({"valid": 1, "p": t_p.shape(), "marks": 2}))
        assert self.SMALL_READ_LATENCY in (1, 2)
        t2_domain = m.d.sync if self.SMALL_READ_LATENCY == 2 else m.d.comb
        t2_domain += [t2.valid.eq(t1.valid), t2.p.eq(t1.p), t2.marks.eq(marks_rd)]
        lane1 = 2 * t2.p + 1 < j_of          # an odd layer's last word has one input
        t_new = Signal(2 * lane)
        t_clip = []
        eps = []
        for q in range(2):
            old = trace_lane(t_rd.data, q)
            x_dec = (old.x * cfg.rho_q) >> DECAY_FRAC
            y_dec = (old.y * cfg.rho_s_q) >> DECAY_FRAC
            x_new, x_clip = _sat(x_dec + Mux(t2.marks[q], one, 0), cfg.trace)
            y_new, y_clip = _sat(y_dec + Mux(t2.marks[q], one, 0), cfg.trace)
            new = data.View(self.trace_layout, t_new[q * lane:q * lane + self.trace_layout.size])
            m.d.comb += [new.x.eq(x_new), new.y.eq(y_new)]
            t_clip.append(x_clip | y_clip)
            # eps_j of spec 5.3 from the traces after decay and before the +1.0: stored for the
            # eligibility engine, which trails the trace pass (see the eligibility section)
            eps.append(((x_dec - y_dec) >> (cfg.trace.frac - cfg.grad.frac))[:eps_shape.width])
        # an integrate output layer keeps no traces (golden _integrate_output): the pass over its
        # inputs only clears their marks
        t_keep = t2.valid & ~is_last if cfg.output_layer == "integrate" else t2.valid
        m.d.comb += flag["trace"].eq(t_keep & (t_clip[0] | (lane1 & t_clip[1])))
        m.d.comb += [e_wr.addr.eq(eps_word(t2.p, in_bank)), e_wr.data.eq(Cat(*eps))]
        e.put(lane1=lane1, pairs_of=pairs_of, t1=t1, t2=t2, t_keep=t_keep, t_new=t_new, t_p=t_p,
              t_run=t_run, tword=tword)

    def _eligibility_updates(self, m, e):
        """The eligibility engine: golden Network._eligibility_updates, one reciprocal per spiking
        neuron and one synapse per clock: ghat += r (ehat - eps), ehat decayed lazily
        (docs/spec.md section 5.3)."""
        (X, c_dec, cfg, cur, e_rd, eps_shape, fin, flag, g_rd, gate, grow, half_inputs, in_bank,
         inputs_of, is_last, layer, s2, spike, step, theta) = e.take(
            "X c_dec cfg cur e_rd eps_shape fin flag g_rd gate grow half_inputs in_bank inputs_of "
            "is_last layer s2 spike step theta")
        # surrogate (spec 5.2): every gated hidden neuron queues, no reciprocal, no ehat
        surrogate = cfg.eligibility == "surrogate"
        # ---- eligibility engine (spec 5.3: ghat, ehat) --------------------------------------------
        # spiking neurons queue {row, c', elapsed, layer}; one reciprocal at a time, then one
        # synapse per clock over all J inputs of the neuron's layer; the next reciprocal overlaps
        # the synapse loop, and a layer's queue drains while the next layer runs
        el_entry = data.StructLayout({"row": grow.shape(), "c": signed(cfg.state.bits),
                                      "k": unsigned(cfg.step_bits), "layer": layer.shape()})
        m.submodules.el_fifo = el_fifo = fifo.SyncFIFOBuffered(width=el_entry.size,
                                                                depth=self.elig_queue_depth)
        push = fin & (gate & ~is_last if surrogate else spike)
        push_word = Signal(el_entry)
        m.d.comb += [push_word.row.eq(s2.row), push_word.c.eq(c_dec),
                     push_word.k.eq(step - cur.last_step), push_word.layer.eq(layer),
                     el_fifo.w_en.eq(push), el_fifo.w_data.eq(push_word)]
        head = data.View(el_entry, el_fifo.r_data)
        el_run = Signal()
        el_row = Signal(grow.shape())
        el_j = Signal(range(self.max_inputs + 1))
        el_r = Signal(DECAY_FRAC)
        el_rp = Signal(DECAY_FRAC)
        el_layer = Signal(layer.shape())                # the layer of the neuron being updated
        el_last = el_j == inputs_of[el_layer] - 1
        # neurons queued and not yet written back, per eps bank (layer parity)
        el_cnt = Array(Signal(range(self.elig_queue_depth + 2), name=f"el_cnt{b}") for b in range(2))
        if surrogate:
            # the queue's head starts the synapse loop directly
            m.d.comb += el_fifo.r_en.eq(~el_run | el_last)
            start = el_fifo.r_rdy & el_fifo.r_en
            with m.If(start):
                m.d.sync += [el_row.eq(head.row), el_layer.eq(head.layer)]
        else:
            m.submodules.recip = rcp = Reciprocal(cfg)
            m.d.comb += [rcp.theta_q.eq(theta), rcp.c.valid.eq(el_fifo.r_rdy),
                         rcp.c.payload.eq(head.c), el_fifo.r_en.eq(rcp.c.ready)]
            pend_row = Signal(grow.shape())
            pend_k = Signal(cfg.step_bits)
            pend_layer = Signal(layer.shape())
            with m.If(rcp.c.valid & rcp.c.ready):
                m.d.sync += [pend_row.eq(head.row), pend_k.eq(head.k), pend_layer.eq(head.layer)]
            rho_pow = Array(Const(v, 16) for v in cfg.rho_pow_q)
            m.d.comb += rcp.r.ready.eq(~el_run | el_last)
            start = rcp.r.valid & rcp.r.ready
            with m.If(start):
                m.d.sync += [el_row.eq(pend_row), el_r.eq(rcp.r.payload), el_rp.eq(rho_pow[pend_k]),
                             el_layer.eq(pend_layer)]
        with m.If(start):
            m.d.sync += [el_run.eq(1), el_j.eq(0)]
        with m.Elif(el_run):
            m.d.sync += el_j.eq(el_j + 1)
            with m.If(el_last):
                m.d.sync += el_run.eq(0)
        # E0 issues the ghat/ehat read of (row + j), READ_DELAY clocks before the eps read, so
        # that both arrive in E1: e = ehat * rho^k, diff = e - eps; E2: g = r * diff; E3:
        # saturate, write back
        e0 = Signal(data.StructLayout({"valid": 1, "last": 1, "addr": grow.shape(),
                                       "word": range(half_inputs + 1), "lane": 1, "bank": 1,
                                       "r": unsigned(DECAY_FRAC), "rp": unsigned(DECAY_FRAC)}))
        m.d.comb += [e0.valid.eq(el_run), e0.last.eq(el_last), e0.addr.eq(el_row + el_j),
                     e0.word.eq(el_j >> 1), e0.lane.eq(el_j[0]), e0.bank.eq(el_layer[0]),
                     e0.r.eq(el_r), e0.rp.eq(el_rp)]
        elig_pipe = _delay_line(m, e0, X + 1, "e")
        eps_issue, e1 = elig_pipe[X], elig_pipe[X + 1]
        eps_j = Mux(e1.lane, e_rd.data[eps_shape.width:], e_rd.data[:eps_shape.width]).as_signed()
        if surrogate and cfg.reset_path:
            e_val = g_rd.data.ehat            # carried through unchanged
        elif surrogate:
            e_val = Const(0, signed(2))
        elif cfg.reset_path:
            e_val = (g_rd.data.ehat * e1.rp) >> DECAY_FRAC
        else:
            e_val = Const(0, signed(2))
        # exact widths: e = (ehat * rho^k) >> 16 fits the grad format (rho^k < 1), diff = e - eps;
        # a narrow diff keeps r * diff on one 16x16 DSP (plus LUTs for the sign row)
        e_bits = cfg.grad.bits if cfg.reset_path else 2
        e2 = Signal(data.StructLayout({"valid": 1, "last": 1, "addr": grow.shape(), "bank": 1,
                                       "r": unsigned(DECAY_FRAC), "e": signed(e_bits),
                                       "diff": signed(max(e_bits, eps_shape.width) + 1),
                                       "ghat": signed(cfg.grad.bits)}))
        m.d.sync += [e2.valid.eq(e1.valid), e2.last.eq(e1.last), e2.addr.eq(e1.addr),
                     e2.bank.eq(e1.bank), e2.r.eq(e1.r),
                     e2.e.eq(e_val), e2.ghat.eq(g_rd.data.ghat)]
        if surrogate:                 # g = -eps: ghat <- sat(ghat - eps)
            m.d.sync += e2.diff.eq(-eps_j)
            g_step = e2.diff
        else:
            m.d.sync += e2.diff.eq(e_val - eps_j)
            g_step = (e2.r * e2.diff) >> DECAY_FRAC
        # E3: saturate and write back (the product registered: timing). The last write of a layer
        # falls in the clock in which the engine reports drained, so the cycle model is unchanged
        e3 = Signal(data.StructLayout({"valid": 1, "addr": grow.shape(), "g": g_step.shape(),
                                       "e": e2.e.shape(), "ghat": signed(cfg.grad.bits)}))
        m.d.sync += [e3.valid.eq(e2.valid), e3.addr.eq(e2.addr), e3.g.eq(g_step), e3.e.eq(e2.e),
                     e3.ghat.eq(e2.ghat)]
        ghat_new, ghat_clip = _sat(e3.ghat + e3.g, cfg.grad)
        ehat_new, ehat_clip = _sat(e3.e + e3.g, cfg.grad)
        el_word = Signal(self.grad_layout)
        m.d.comb += el_word.ghat.eq(ghat_new)
        if surrogate and cfg.reset_path:
            m.d.comb += el_word.ehat.eq(e3.e)
            ehat_clip = Const(0)
        elif cfg.reset_path:
            m.d.comb += el_word.ehat.eq(ehat_new)
        else:
            ehat_clip = Const(0)
        el_done = e2.valid & e2.last
        for b in range(2):
            m.d.sync += el_cnt[b].eq(el_cnt[b] + (push & (in_bank == b)) - (el_done & (e2.bank == b)))
        grad_dirty = Signal()          # some ghat/ehat may be non-zero: SAMPLE must clear them

        m.d.comb += flag["grad"].eq(e3.valid & (ghat_clip | ehat_clip))
        e.put(e2=e2, e3=e3, el_cnt=el_cnt, el_j=el_j, el_row=el_row, el_run=el_run,
              el_word=el_word, eps_issue=eps_issue, grad_dirty=grad_dirty)

    def _output_errors(self, m, e):
        """LEARN phase A: golden Network.output_errors, delta_o and the grade totals, one output per
        clock (docs/spec.md section 6.1)."""
        O, cfg, s_rd = e.take("O cfg s_rd")
        # ---- learning engine (spec 6) ----------------------------------------------------------------
        label = Signal(self.event_layout["addr"].shape)
        # delta_o (phase B) and D_o (phase D) are read back from the errors memory and STATE,
        # where phase A leaves them, not kept in registers (iCE40 area: 260 flip-flops and two
        # 10-way multiplexers)
        fired = Signal(max(1, self.n_hidden))          # hidden neuron fired in this sample
        out_base = self.neuron_base[-1]
        # phase A: output errors and grade totals, one output per clock
        la = Signal(range(O + 1))
        # A0 issues the output's state read; A1 (SMALL_READ_LATENCY later) has it
        a0 = Signal(data.StructLayout({"valid": 1, "o": range(max(O, 2))}))
        a1 = _delay_line(m, a0, self.SMALL_READ_LATENCY, "a")[-1]
        a_raw = Mux(a1.o == label, cfg.target_true, cfg.target_false) - s_rd.data.count
        if cfg.error_clip is not None:       # spec 6.1: clip(target - count, -clip, clip)
            clip = cfg.error_clip
            a_delta = Mux(a_raw > clip, clip, Mux(a_raw < -clip, -clip, a_raw))
        else:
            a_delta = a_raw
        e.put(a0=a0, a1=a1, a_delta=a_delta, fired=fired, la=la, label=label, out_base=out_base)
        if cfg.output_layer == "integrate":
            self._softmax_errors(m, e)

    def _softmax_errors(self, m, e):
        """LEARN phase A of an integrate output: golden Network._softmax_errors (docs/spec.md
        section 6.1) by rtl/softmax.py's unit; the state holds V_max, found in a first pass over
        the outputs, and which pass runs."""
        a1, cfg, label, s_rd = e.take("a1 cfg label s_rd")
        m.submodules.softmax = smx = SoftmaxErrors(cfg)
        v_max = Signal(signed(cfg.state.bits))
        sm_pass = Signal()                   # 0: the V_max pass, 1: V_o streamed to the unit
        sm_o = Signal(range(max(cfg.n_outputs, 2)))   # deltas written
        v = s_rd.data.a
        m.d.comb += [smx.v_max.eq(v_max), smx.label.eq(label), smx.v.payload.eq(v),
                     smx.delta.ready.eq(1)]
        e.put(smx=smx, sm_o=sm_o, sm_pass=sm_pass, v_max=v_max)

    def _hidden_errors(self, m, e):
        """LEARN phase B: golden Network.hidden_errors, delta_i = sum_o B_oi delta_o, one product
        per clock (docs/spec.md section 6.2)."""
        (O, X, cfg, d_rd, dw, early, f_rd, fired, gm_a, gm_b, grade_prod, layer, learning_b, s2,
         s_rd, w_rd) = e.take(
            "O X cfg d_rd dw early f_rd fired gm_a gm_b grade_prod layer learning_b s2 s_rd w_rd")
        # phase B: hidden errors, neuron i of hidden layer `layer`, output o: one product per clock
        fb_base = _table(self.feedback_base + [0])[layer]
        fb_base_next = _table(self.feedback_base[1:] + [0, 0])[layer]
        hb_i = Signal(range(max(self.max_neurons, 2)))
        hb_o = Signal(range(max(O, 2)))
        hb_fa = Signal(range(max(self.n_feedback, 2)))
        hb_run = Signal()
        # B0 issues the feedback read; the neuron's state read (on its first output) and
        # delta_o's READ_DELAY + 1 - SMALL_READ_LATENCY clocks later, so that all arrive in B1
        b0 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "o": range(max(O, 2)),
                                       "h": range(max(self.n_neurons, 2))}))
        hb_pipe = _delay_line(m, b0, X + 1, "b")
        b_issue, b1 = hb_pipe[early], hb_pipe[X + 1]
        hacc = Signal(signed(dw))
        m.d.comb += [gm_a.eq(Mux(learning_b, f_rd.data, w_rd.data)),
                     gm_b.eq(Mux(learning_b, d_rd.data, s2.d))]
        # B2: the product registered (timing), then accumulated; the neuron's last write falls in
        # the clock in which phase B ends, as the last B1 write did: the cycle model is unchanged
        b2 = Signal(data.StructLayout({"valid": 1, "first": 1, "last": 1, "h": b1.h.shape(),
                                       "prod": grade_prod.shape(), "count": unsigned(cfg.count_bits)}))
        m.d.sync += [b2.valid.eq(b1.valid), b2.first.eq(b1.first), b2.last.eq(b1.last), b2.h.eq(b1.h),
                     b2.prod.eq(grade_prod), b2.count.eq(s_rd.data.count)]
        hacc_next = Mux(b2.first, 0, hacc) + b2.prod
        with m.If(b2.valid):
            m.d.sync += hacc.eq(hacc_next)
        h_count = b2.count
        if cfg.rate_reg_shift is not None:
            shift = cfg.feedback.frac + cfg.error_frac - cfg.rate_reg_shift
            h_delta = hacc_next + ((cfg.rate_target - h_count) << shift)
        else:
            h_delta = hacc_next
        with m.If(b2.valid & b2.last):
            m.d.sync += fired.bit_select(b2.h, 1).eq(h_count != 0)
        e.put(b0=b0, b2=b2, b_issue=b_issue, fb_base=fb_base, fb_base_next=fb_base_next,
              h_delta=h_delta, hb_fa=hb_fa, hb_i=hb_i, hb_o=hb_o, hb_pipe=hb_pipe, hb_run=hb_run)

    def _update_weights(self, m, e):
        """LEARN phase C: golden Network._update_weights, w += (-(delta ghat) + noise) >> k, ghat =
        0, one word per clock (docs/spec.md section 6.3)."""
        (L, X, big_prod, c_elig, cfg, dw, early, flag, g_rd, k_hid, k_out, layer, mask_hid,
         mask_out, rlfsr, s_rd, w_rd) = e.take(
            "L X big_prod c_elig cfg dw early flag g_rd k_hid k_out layer mask_hid mask_out rlfsr "
            "s_rd w_rd")
        # phase C: weight updates, one word per clock, hidden layers then output layer
        cw_a = Signal(range(max(self.n_weights, 2)))
        cw_n = Signal(range(max(self.n_neurons, 2)))
        cw_j = Signal(range(self.max_inputs + 1))
        cw_run = Signal()
        last_of = _table([self.neuron_base[k] + cfg.layers[k + 1] - 1 for k in range(L)])[layer]
        # C0 issues the weight and ghat reads and advances the rounding LFSR; its draw is taken
        # in the next clock, as ever; delta_i is read READ_DELAY clocks later, so that all
        # three arrive in C1
        c0 = Signal(data.StructLayout({"valid": 1, "addr": cw_a.shape(), "out": 1,
                                       "n": cw_n.shape(), "j": cw_j.shape(),
                                       "noise": unsigned(32)}))
        cw_pipe = _delay_line(m, c0, X + 1, "c")
        c_issue, c1 = cw_pipe[early], cw_pipe[X + 1]
        c_noise = rlfsr.value & Mux(cw_pipe[1].out, mask_out, mask_hid)
        p_bits = max(dw + cfg.grad.bits + 1,
                     e.delta_bits + cfg.count_bits + 1 + cfg.weight.frac + 1)
        if cfg.output_layer == "integrate":
            # an integrate output (spec 6.3): w_oi += eta * delta_o * n_i, n_i the hidden count
            # (read from STATE beside delta_o); the product taken into weight words and negated
            # here so that the shared adder below forms -p + noise for every layer
            m.d.comb += c_elig.eq(Mux(c1.out, s_rd.data.count, g_rd.data.ghat))
            p_in = Mux(c1.out, -(big_prod << cfg.weight.frac), big_prod)
        else:
            m.d.comb += c_elig.eq(g_rd.data.ghat)
            p_in = big_prod
        if X:
            m.d.sync += cw_pipe[2].noise.eq(c_noise)
            c_noise = c1.noise
        c2 = Signal(data.StructLayout({"valid": 1, "addr": cw_a.shape(), "out": 1,
                                       "w": signed(cfg.weight.bits), "p": signed(p_bits),
                                       "noise": unsigned(32), "k": 5}))
        m.d.sync += [c2.valid.eq(c1.valid), c2.addr.eq(c1.addr), c2.out.eq(c1.out), c2.w.eq(w_rd.data),
                     c2.p.eq(p_in), c2.noise.eq(c_noise), c2.k.eq(Mux(c1.out, k_out, k_hid))]
        # -(delta * ghat) + noise: negated after the register, off the multiplier's path (timing);
        # one shifter for both layers, its amount registered with the operands
        c_sum = c2.noise - c2.p
        w_upd, w_clip = _sat(c2.w + (c_sum >> c2.k), cfg.weight)
        m.d.comb += flag["weight"].eq(c2.valid & w_clip)
        e.put(c0=c0, c2=c2, c_issue=c_issue, cw_a=cw_a, cw_j=cw_j, cw_n=cw_n, cw_pipe=cw_pipe,
              cw_run=cw_run, last_of=last_of, w_upd=w_upd)

    def _update_feedback(self, m, e):
        """LEARN phase D: golden Network._update_feedback, B += (T - B + noise) >> s where the
        hidden neuron fired, one word per clock (docs/spec.md section 6.4)."""
        (O, X, cfg, early, f_rd, fired, flag, p_rd, rlfsr, s_rd) = e.take(
            "O X cfg early f_rd fired flag p_rd rlfsr s_rd")
        # phase D: feedback updates (SFDFA), one word per clock, row-major (o, i) per hidden layer
        fd_a = Signal(range(max(self.n_feedback, 2)))
        fd_o = Signal(range(max(O, 2)))
        fd_i = Signal(range(max(self.max_neurons, 2)))
        fd_run = Signal()
        # D0 issues the feedback read and advances the rounding LFSR (its draw taken in the next
        # clock); the perturbation sign and D_o (STATE) are read READ_DELAY + 1 -
        # SMALL_READ_LATENCY clocks later: all arrive in D1
        fshift = cfg.feedback_shift
        d0 = Signal(data.StructLayout({"valid": 1, "addr": fd_a.shape(), "o": range(max(O, 2)),
                                       "h": range(max(self.n_neurons, 2)),
                                       "noise": unsigned(max(1, fshift))}))
        fd_pipe = _delay_line(m, d0, X + 1, "d")
        d_issue, d1 = fd_pipe[early], fd_pipe[X + 1]
        # D_o: the grades a spiking output emitted, or what an integrating one accumulated
        d_tot = s_rd.data.grade_sum if cfg.output_layer == "integrate" else s_rd.data.grade_total
        f_target = Mux(p_rd.data, d_tot, -d_tot) << (cfg.feedback.frac - cfg.grade.frac)
        f_noise = rlfsr.value & ((1 << fshift) - 1)
        if X:
            m.d.sync += fd_pipe[2].noise.eq(f_noise)
            f_noise = d1.noise
        # D2: the update from registered operands (timing); its last write falls in the clock in
        # which phase D ends, as the last D1 write did, so the cycle model is unchanged
        d2 = Signal(data.StructLayout({"valid": 1, "addr": fd_a.shape(), "fired": 1,
                                       "b": signed(cfg.feedback.bits), "t": f_target.shape(),
                                       "noise": unsigned(max(1, fshift))}))
        m.d.sync += [d2.valid.eq(d1.valid), d2.addr.eq(d1.addr), d2.fired.eq(fired.bit_select(d1.h, 1)),
                     d2.b.eq(f_rd.data), d2.t.eq(f_target), d2.noise.eq(f_noise)]
        f_new, f_clip = _sat(d2.b + ((d2.t - d2.b + d2.noise) >> fshift), cfg.feedback)
        m.d.comb += flag["feedback"].eq(d2.valid & d2.fired & f_clip)
        e.put(d0=d0, d2=d2, d_issue=d_issue, f_new=f_new, fd_a=fd_a, fd_i=fd_i, fd_o=fd_o,
              fd_pipe=fd_pipe, fd_run=fd_run)

    def _sequencer(self, m, e):
        """The command sequencer (docs/spec.md section 4): one FSM over the engines; the access
        port's TRACE address translation."""
        (L, el_cnt, gen_run, grad_dirty, in_bank, loop_pipe, s3, t1, t2, t_run) = e.take(
            "L el_cnt gen_run grad_dirty in_bank loop_pipe s3 t1 t2 t_run")
        # ---- access port: TRACE host address trace_base[l] + j -> word, lane ------------------------
        acc_word = Signal(range(max(self.n_trace_words, 2)))
        acc_lane = Signal()
        m.d.comb += [acc_word.eq(self.access.addr >> 1), acc_lane.eq(self.access.addr[0])]
        for k in range(1, L):               # later layers override: bases ascend
            with m.If(self.access.addr >= self.trace_base[k]):
                j = self.access.addr - self.trace_base[k]
                m.d.comb += [acc_word.eq(self.trace_word_base[k] + (j >> 1)), acc_lane.eq(j[0])]

        # ---- sequencer ---------------------------------------------------------------------------------
        clr_base = self.clear_words
        clr = Signal(range(max(clr_base, self.n_weights) + 1))
        clr_end = Mux(grad_dirty, max(clr_base, self.n_weights), clr_base)
        draw = Signal(data.StructLayout({"valid": 1, "addr": range(max(2, self.n_hidden))}))
        m.d.sync += [draw.valid.eq(0), self.done.eq(0)]
        ev = self.events.payload
        pipe_idle = ~(gen_run | Cat(p.valid for p in loop_pipe).any() | s3.valid | t_run | t1.valid | t2.valid)
        # the next layer's trace pass overwrites the eps bank of the layer before this one
        switch_ok = pipe_idle & (el_cnt[~in_bank] == 0)
        step_over = pipe_idle & (el_cnt[0] == 0) & (el_cnt[1] == 0)
        acc_ = self.access

        e.put(acc_=acc_, acc_lane=acc_lane, acc_word=acc_word, clr=clr, clr_end=clr_end, draw=draw,
              ev=ev, step_over=step_over, switch_ok=switch_ok)
        with m.FSM() as fsm:
            self._take_command(m, e)
            self._clear_sample(m, e)
            self._run_layers(m, e)
            self._learn_sequence(m, e)

        e.put(fsm=fsm)

    def _take_command(self, m, e):
        """IDLE: take one event (SPIKE lists an input, STEP runs the step, SAMPLE clears, LEARN
        learns) and serve the host's access port."""
        (K, acc_, acc_lane, acc_word, clr, ev, f_rd, f_wr, g_rd, g_wr, gen_run, gi, gk,
         grad_dirty, grow, k_wr, l_wr, la, label, lane, layer, n_in, n_out, p_rd, s_rd, s_wr,
         step, t_p, t_rd, t_run, t_wr, w_rd, w_wr) = e.take(
            "K acc_ acc_lane acc_word clr ev f_rd f_wr g_rd g_wr gen_run gi gk grad_dirty grow "
            "k_wr l_wr la label lane layer n_in n_out p_rd s_rd s_wr step t_p t_rd t_run t_wr "
            "w_rd w_wr")
        with m.State("IDLE"):
            self._dispatch(
                m, ev, n_in,
                spike=[l_wr.en.eq(1), l_wr.addr.eq(n_in), l_wr.data.j.eq(ev.addr), l_wr.data.d.eq(0),
                       k_wr[0].en.eq(Mux(ev.addr[0], 0b10, 0b01)), k_wr[0].addr.eq(ev.addr >> 1),
                       k_wr[0].data.eq(0b11)],
                step=([layer.eq(0), K.eq(n_in), n_in.eq(0), n_out.eq(0), gen_run.eq(1), gi.eq(0),
                       gk.eq(0), grow.eq(0), t_run.eq(1), t_p.eq(0)], "LAYER"),
                sample=([clr.eq(0), n_in.eq(0), step.eq(0)], "CLEAR"),
                learn=([label.eq(ev.addr), la.eq(0)], "L_OUT"))
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
                with m.Case(Mem.GRAD):
                    m.d.comb += [g_rd.en.eq(acc_.en & ~acc_.we), g_wr.en.eq(acc_.en & acc_.we)]
                    with m.If(acc_.en & acc_.we):
                        m.d.sync += grad_dirty.eq(1)
                with m.Case(Mem.FEEDBACK):
                    m.d.comb += [f_rd.en.eq(acc_.en & ~acc_.we), f_wr.en.eq(acc_.en & acc_.we)]
            m.d.comb += [w_rd.addr.eq(acc_.addr), s_rd.addr.eq(acc_.addr),
                         t_rd.addr.eq(acc_word), p_rd.addr.eq(acc_.addr),
                         g_rd.addr.eq(acc_.addr), f_rd.addr.eq(acc_.addr),
                         w_wr.addr.eq(acc_.addr), s_wr.addr.eq(acc_.addr), t_wr.addr.eq(acc_word),
                         g_wr.addr.eq(acc_.addr), f_wr.addr.eq(acc_.addr),
                         w_wr.data.eq(acc_.wdata), s_wr.data.eq(acc_.wdata),
                         t_wr.data.eq(Cat(acc_.wdata[:lane], acc_.wdata[:lane])),
                         t_wr.lanes.eq(Mux(acc_lane, 0b10, 0b01)),
                         g_wr.data.eq(acc_.wdata), f_wr.data.eq(acc_.wdata)]

    def _clear_sample(self, m, e):
        """CLEAR (SAMPLE, docs/spec.md section 4.1): zero the state, traces, marks and a dirty GRAD;
        draw the perturbations."""
        (clr, clr_end, draw, g_wr, grad_dirty, half_inputs, k_wr, lfsr, s_wr, t_wr) = e.take(
            "clr clr_end draw g_wr grad_dirty half_inputs k_wr lfsr s_wr t_wr")
        with m.State("CLEAR"):
            zero = [s_wr.en.eq(clr < self.n_neurons), s_wr.addr.eq(clr), s_wr.data.eq(0),
                    t_wr.en.eq(clr < self.n_trace_words), t_wr.addr.eq(clr), t_wr.data.eq(0),
                    g_wr.en.eq(grad_dirty & (clr < self.n_weights)), g_wr.addr.eq(clr),
                    g_wr.data.eq(0)]
            for port in k_wr:            # (stale list entries are never read: < K only)
                zero += [port.en.eq(Mux(clr < half_inputs, 0b11, 0)), port.addr.eq(clr),
                         port.data.eq(0)]
            m.d.comb += zero
            self._clear_step(m, lfsr, draw, clr, clr_end, grad_dirty)

    def _run_layers(self, m, e):
        """LAYER (STEP): start each layer's neuron loop and trace pass, switch layers, end the step
        when the eligibility engine has drained."""
        (K, e2, e3, e_rd, e_wr, el_j, el_row, el_run, el_word, entry_rd, eps_issue, eps_word,
         g_has, g_last, g_rd, g_wr, gen_run, gi, gk, grad_dirty, grow, in_bank, is_last, j_of,
         k_rd, k_wr, l_rd, l_wr, lane1, layer, lbits, listing, n_of, n_out, nbase, p_rd,
         pairs_of, s3, s_issue, s_rd, s_wr, step, step_over, sw, switch_ok, t1, t2, t_keep, t_new,
         t_p, t_rd, t_run, t_wr, tword, w_rd, wbase_next, word) = e.take(
            "K e2 e3 e_rd e_wr el_j el_row el_run el_word entry_rd eps_issue eps_word g_has "
            "g_last g_rd g_wr gen_run gi gk grad_dirty grow in_bank is_last j_of k_rd k_wr l_rd "
            "l_wr lane1 layer lbits listing n_of n_out nbase p_rd pairs_of s3 s_issue s_rd s_wr "
            "step step_over sw switch_ok t1 t2 t_keep t_new t_p t_rd t_run t_wr tword w_rd "
            "wbase_next "
            "word")
        with m.State("LAYER"):
            # neuron loop ports
            m.d.comb += [s_rd.addr.eq(nbase + s_issue[1]), s_rd.en.eq(s_issue[0]),
                         p_rd.addr.eq(nbase + s_issue[1]), p_rd.en.eq(s_issue[0]),
                         w_rd.addr.eq(sw.row + entry_rd.j), w_rd.en.eq(sw.valid & sw.has),
                         s_wr.addr.eq(nbase + s3.i), s_wr.data.eq(word), s_wr.en.eq(s3.valid)]
            # list bank in_bank (the upper half of the list memory for bank 1) is read, the
            # other one collects the spikes of this layer for the next one
            m.d.comb += [l_rd.addr.eq(Cat(gk[:lbits], in_bank)), l_rd.en.eq(gen_run & g_has),
                         l_wr.en.eq(listing), l_wr.addr.eq(Cat(n_out[:lbits], ~in_bank)),
                         l_wr.data.j.eq(s3.i), l_wr.data.d.eq(s3.d)]
            for b in range(2):
                m.d.comb += [k_rd[b].addr.eq(t_p), k_rd[b].en.eq(t_run & (in_bank == b))]
                with m.If(in_bank == b):       # trace pass clears this bank's marks
                    m.d.comb += [k_wr[b].en.eq(Mux(t1.valid, 0b11, 0)), k_wr[b].addr.eq(t1.p),
                                 k_wr[b].data.eq(0)]
                with m.Else():                 # the spikes of this layer, for the next one
                    m.d.comb += [k_wr[b].en.eq(Mux(listing, Mux(s3.i[0], 0b10, 0b01), 0)),
                                 k_wr[b].addr.eq(s3.i >> 1), k_wr[b].data.eq(0b11)]
            # eligibility engine ports (eps written by the trace pass)
            m.d.comb += [e_wr.en.eq(t2.valid), e_rd.en.eq(eps_issue.valid),
                         e_rd.addr.eq(eps_word(eps_issue.word, eps_issue.bank)),
                         g_rd.addr.eq(el_row + el_j), g_rd.en.eq(el_run),
                         g_wr.addr.eq(e3.addr), g_wr.data.eq(el_word), g_wr.en.eq(e3.valid)]
            with m.If(e2.valid):
                m.d.sync += grad_dirty.eq(1)
            # trace pass ports
            m.d.comb += [t_rd.addr.eq(tword + t_p), t_rd.en.eq(t_run),
                         t_wr.addr.eq(tword + t2.p), t_wr.en.eq(t_keep), t_wr.data.eq(t_new),
                         t_wr.lanes.eq(Cat(1, lane1))]
            # token generator
            with m.If(gen_run):
                with m.If(g_last):
                    m.d.sync += [gk.eq(0), gi.eq(gi + 1), grow.eq(grow + j_of)]
                    with m.If(gi == n_of - 1):
                        m.d.sync += gen_run.eq(0)
                with m.Else():
                    m.d.sync += gk.eq(gk + 1)
            with m.If(t_run):
                m.d.sync += t_p.eq(t_p + 1)
                with m.If(t_p == pairs_of - 1):
                    m.d.sync += t_run.eq(0)
            with m.If(is_last):
                with m.If(step_over):
                    m.d.sync += [step.eq(step + 1), self.done.eq(1)]
                    m.next = "IDLE"
            with m.Else():
                with m.If(switch_ok):
                        m.d.sync += [layer.eq(layer + 1), K.eq(n_out), n_out.eq(0),
                                     gen_run.eq(1), gi.eq(0), gk.eq(0), grow.eq(wbase_next),
                                     t_run.eq(1), t_p.eq(0)]

    def _learn_sequence(self, m, e):
        """LEARN: phases A-D in order (docs/spec.md section 6), each state driving its datapath."""
        (L, O, a0, a1, a_delta, b0, b2, b_issue, c0, c2, c_issue, cfg, cw_a, cw_j, cw_n, cw_pipe,
         cw_run, d0, d2, d_issue, d_rd, d_wr, f_new, f_rd, f_wr, fb_base, fb_base_next, fd_a,
         fd_i, fd_o, fd_pipe, fd_run, g_rd, g_wr, grad_dirty, h_delta, hb_fa, hb_i, hb_o,
         hb_pipe, hb_run, is_last, j_of, la, last_of, layer, learning_b, learning_c, n_of, nbase,
         out_base, p_rd, rlfsr, s_rd, w_rd, w_upd, w_wr) = e.take(
            "L O a0 a1 a_delta b0 b2 b_issue c0 c2 c_issue cfg cw_a cw_j cw_n cw_pipe cw_run d0 "
            "d2 d_issue d_rd d_wr f_new f_rd f_wr fb_base fb_base_next fd_a fd_i fd_o fd_pipe "
            "fd_run g_rd g_wr grad_dirty h_delta hb_fa hb_i hb_o hb_pipe hb_run is_last j_of la "
            "last_of layer learning_b learning_c n_of nbase out_base p_rd rlfsr s_rd w_rd w_upd "
            "w_wr")
        with m.State("L_OUT"):        # phase A: delta_o = target - count_o, D_o
            m.d.comb += [s_rd.addr.eq(out_base + la), s_rd.en.eq(la < O)]
            m.d.comb += [a0.valid.eq(la < O), a0.o.eq(la)]
            with m.If(la < O):
                m.d.sync += la.eq(la + 1)
            if cfg.output_layer == "integrate":
                phase_a_done = self._softmax_pass(m, e)
            else:
                m.d.comb += [d_wr.addr.eq(out_base + a1.o), d_wr.data.eq(a_delta),
                             d_wr.en.eq(a1.valid)]
                phase_a_done = a1.valid & (a1.o == O - 1)
            with m.If(phase_a_done):
                if cfg.learns_hidden:
                    m.d.sync += [layer.eq(0), hb_i.eq(0), hb_o.eq(0), hb_fa.eq(0), hb_run.eq(1)]
                    m.next = "L_HID"
                else:
                    m.d.sync += [layer.eq(L - 1), cw_a.eq(self.weight_base[-1]),
                                 cw_n.eq(self.neuron_base[-1]), cw_j.eq(0), cw_run.eq(1)]
                    m.next = "L_W"

        with m.State("L_HID"):        # phase B: delta_i = sum_o B_oi delta_o (+ rate term)
            m.d.comb += learning_b.eq(1)
            m.d.comb += [f_rd.addr.eq(hb_fa), f_rd.en.eq(hb_run),
                         s_rd.addr.eq(b_issue.h), s_rd.en.eq(b_issue.valid & b_issue.first),
                         d_rd.addr.eq(out_base + b_issue.o), d_rd.en.eq(b_issue.valid),
                         d_wr.addr.eq(b2.h), d_wr.data.eq(h_delta), d_wr.en.eq(b2.valid & b2.last)]
            m.d.comb += [b0.valid.eq(hb_run), b0.first.eq(hb_o == 0), b0.last.eq(hb_o == O - 1),
                         b0.o.eq(hb_o), b0.h.eq(nbase + hb_i)]
            with m.If(hb_run):
                with m.If(hb_o == O - 1):
                    m.d.sync += [hb_o.eq(0), hb_i.eq(hb_i + 1), hb_fa.eq(fb_base + hb_i + 1)]
                    with m.If(hb_i == n_of - 1):
                        m.d.sync += [hb_i.eq(0), layer.eq(layer + 1), hb_fa.eq(fb_base_next)]
                        with m.If(layer == L - 2):
                            m.d.sync += hb_run.eq(0)
                with m.Else():
                    m.d.sync += [hb_o.eq(hb_o + 1), hb_fa.eq(hb_fa + n_of)]
            with m.If(~hb_run & ~Cat(p.valid for p in hb_pipe[1:]).any()):
                m.d.sync += [layer.eq(0), cw_a.eq(0), cw_n.eq(0), cw_j.eq(0), cw_run.eq(1)]
                m.next = "L_W"

        with m.State("L_W"):          # phase C: w += (-(delta * ghat) + noise) >> k, ghat = 0
            m.d.comb += learning_c.eq(1)
            m.d.comb += [w_rd.addr.eq(cw_a), w_rd.en.eq(cw_run), g_rd.addr.eq(cw_a),
                         g_rd.en.eq(cw_run), d_rd.addr.eq(c_issue.n), d_rd.en.eq(c_issue.valid),
                         rlfsr.advance.eq(cw_run),
                         w_wr.addr.eq(c2.addr), w_wr.data.eq(w_upd), w_wr.en.eq(c2.valid),
                         g_wr.addr.eq(c2.addr), g_wr.data.eq(0), g_wr.en.eq(c2.valid)]
            m.d.comb += [c0.valid.eq(cw_run), c0.addr.eq(cw_a), c0.out.eq(is_last), c0.n.eq(cw_n),
                         c0.j.eq(cw_j)]
            if cfg.output_layer == "integrate":     # n_i of the output word's hidden neuron
                m.d.comb += [s_rd.addr.eq(self.neuron_base[-2] + c_issue.j),
                             s_rd.en.eq(c_issue.valid & c_issue.out)]
            with m.If(cw_run):
                m.d.sync += [cw_a.eq(cw_a + 1), cw_j.eq(cw_j + 1)]
                with m.If(cw_j == j_of - 1):
                    m.d.sync += [cw_j.eq(0), cw_n.eq(cw_n + 1)]
                    with m.If(cw_n == last_of):
                        m.d.sync += layer.eq(layer + 1)
                with m.If(cw_a == self.n_weights - 1):
                    m.d.sync += cw_run.eq(0)
            with m.If(~cw_run & ~Cat(p.valid for p in cw_pipe[1:]).any() & ~c2.valid):
                if cfg.learns_hidden:
                    m.d.sync += grad_dirty.eq(0)      # every ghat/ehat was visited and cleared
                if cfg.learns_feedback:
                    m.d.sync += [layer.eq(0), fd_a.eq(0), fd_o.eq(0), fd_i.eq(0), fd_run.eq(1)]
                    m.next = "L_FB"
                else:
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"

        with m.State("L_FB"):         # phase D: B += (T - B + noise) >> s where i fired
            m.d.comb += [f_rd.addr.eq(fd_a), f_rd.en.eq(fd_run), p_rd.addr.eq(d_issue.h),
                         p_rd.en.eq(d_issue.valid), rlfsr.advance.eq(fd_run),
                         s_rd.addr.eq(out_base + d_issue.o), s_rd.en.eq(d_issue.valid),
                         f_wr.addr.eq(d2.addr), f_wr.data.eq(Mux(d2.fired, f_new, d2.b)),
                         f_wr.en.eq(d2.valid)]
            m.d.comb += [d0.valid.eq(fd_run), d0.addr.eq(fd_a), d0.o.eq(fd_o), d0.h.eq(nbase + fd_i)]
            with m.If(fd_run):
                with m.If(self._next_feedback_word(m, fd_a, fd_i, fd_o, layer, n_of)):
                    m.d.sync += fd_run.eq(0)
            with m.If(~fd_run & ~Cat(p.valid for p in fd_pipe[1:]).any()):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"

    def _softmax_pass(self, m, e):
        """Phase A's passes for an integrate output (in state L_OUT): V_max over the outputs, then
        every V_o again into the softmax unit, whose deltas go to the errors memory; returns
        the clock's condition to leave phase A (the last delta written)."""
        O, a1, d_wr, la, out_base, s_rd, sm_o, sm_pass, smx, v_max = e.take(
            "O a1 d_wr la out_base s_rd sm_o sm_pass smx v_max")
        v = s_rd.data.a
        with m.If(a1.valid & ~sm_pass):
            with m.If((a1.o == 0) | (v > v_max)):
                m.d.sync += v_max.eq(v)
            with m.If(a1.o == O - 1):
                m.d.sync += [sm_pass.eq(1), la.eq(0)]
        # the unit takes a value every clock between samples: no back-pressure to honour
        m.d.comb += smx.v.valid.eq(a1.valid & sm_pass)
        m.d.comb += [d_wr.addr.eq(out_base + sm_o), d_wr.data.eq(smx.delta.payload),
                     d_wr.en.eq(smx.delta.valid)]
        last = smx.delta.valid & (sm_o == O - 1)
        with m.If(smx.delta.valid):
            m.d.sync += sm_o.eq(sm_o + 1)
        with m.If(last):
            m.d.sync += [sm_o.eq(0), sm_pass.eq(0)]
        return last

    def _access_read(self, m, e):
        """busy/ready from the sequencer, the perturbation draws, and the access port's read data,
        READ_LATENCY clocks after the read."""
        (acc_, acc_lane, draw, f_rd, fsm, g_rd, lfsr, p_rd, p_wr, s_rd, t_rd, trace_lane, w_rd) = e.take(
            "acc_ acc_lane draw f_rd fsm g_rd lfsr p_rd p_wr s_rd t_rd trace_lane w_rd")
        # outside the FSM's processes: continuous assignments, valid from time 0 on Icarus
        m.d.comb += [self.events.ready.eq(fsm.ongoing("IDLE")), self.busy.eq(~fsm.ongoing("IDLE"))]
        m.d.comb += [p_wr.en.eq(draw.valid), p_wr.addr.eq(draw.addr), p_wr.data.eq(lfsr.value[0])]

        # access read data, READ_LATENCY clocks after the read: the small memories' word (there
        # SMALL_READ_LATENCY clocks after) goes through the difference in registers, beside the
        # memory selected
        rsel = Signal(Mem)
        rlane = Signal()                  # TRACE lane of the last read
        with m.If(acc_.en & ~acc_.we & ~self.busy):
            m.d.sync += [rsel.eq(acc_.mem), rlane.eq(acc_lane)]
        for k in range(self.SMALL_READ_LATENCY - 1):
            rsel_q, rlane_q = Signal.like(rsel, name=f"rsel_s{k + 2}"), Signal.like(rlane, name=f"rlane{k + 2}")
            m.d.sync += [rsel_q.eq(rsel), rlane_q.eq(rlane)]
            rsel, rlane = rsel_q, rlane_q
        small = Signal(self.data_width)
        with m.Switch(rsel):
            for mem, value in ((Mem.STATE, s_rd.data.as_value()),
                               (Mem.TRACE, Mux(rlane, trace_lane(t_rd.data, 1).as_value(),
                                               trace_lane(t_rd.data, 0).as_value())),
                               (Mem.PERTURB, p_rd.data)):
                with m.Case(mem):
                    m.d.comb += small.eq(value)
        for k in range(self.READ_LATENCY - self.SMALL_READ_LATENCY):
            small_q, rsel_q = Signal.like(small, name=f"acc_word{k + 2}"), Signal.like(rsel, name=f"rsel{k + 2}")
            m.d.sync += [small_q.eq(small), rsel_q.eq(rsel)]
            small, rsel = small_q, rsel_q
        m.d.comb += acc_.rdata.eq(small)
        with m.Switch(rsel):
            for mem, value in ((Mem.WEIGHT, w_rd.data.as_unsigned()), (Mem.GRAD, g_rd.data.as_value()),
                               (Mem.FEEDBACK, f_rd.data.as_unsigned())):
                with m.Case(mem):
                    m.d.comb += acc_.rdata.eq(value)
