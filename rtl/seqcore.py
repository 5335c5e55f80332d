"""The sequenced core: the spec's operations one after another on one datapath, for FPGAs whose
logic is the limit (the iCE40 UP5K: 5,280 cells). Design note: ``docs/rtl.md``, "The sequenced
core".

The pipelined :class:`~.core.Core` runs three engines side by side (neuron loop, trace pass,
eligibility) and four learning datapaths, with eleven multipliers; its logic alone is about the
size of a UP5K (``docs/boards.md``). This core does the same work with one multiplier, one
reciprocal unit and a state machine that visits, in the spec's order:

* a step, layer by layer: the **trace pass** (every input of the layer: decay, ``eps_j``,
  ``+1.0`` for the spiking ones; 2 clocks per input), then the **neuron loop** (per neuron: decay
  ``a`` and ``c``, threshold, bookkeeping; for a spiking neuron the reciprocal and the
  eligibility of all its synapses, 4 clocks each; the integration of the layer's spiking inputs,
  2 clocks each; one state write);
* ``SAMPLE``: the clear, as the pipelined core does it;
* ``LEARN``: phases A-D of spec 6 (output errors, hidden errors through the feedback, the
  weight updates, the feedback updates), one word at a time.

``elaborate`` builds the memories and the two multipliers, then the sequencer's FSM; each group
of its states is a method named after the golden function it equals (``_step_traces``,
``_step_layer``, ``_eligibility_updates``, ``_synaptic_sum``, ``_spike_updates``,
``_output_errors``, ``_hidden_errors``, ``_update_weights``, ``_update_feedback``), so that the
neuron, eligibility and learning updates are found once here as they are once in
``golden/network.py`` and in ``rtl/core.py``.

Ports, access port, flags and the shared pieces of the sequencer are :class:`~.corebase.CoreBase`'s
and the memory map is ``chip/memmap.py``'s, as :class:`~.core.Core`'s are (the two are siblings),
so the link and every bit-exact test drive it unchanged; the cycle model
(``chip/cycles.py``: :class:`~plasticore.chip.cycles.SequencedCycles`) is its own. WEIGHT with
FEEDBACK above it, and GRAD, are single-port memories (``rtl/spram.py``): SPRAM on an iCE40
UltraPlus, where 64-128-10 (9,472 synapses) fits in three of the four.

Why it may be slow: at the iCEBreaker's 115,200 baud a digits sample takes about 205,000 clocks
of a 24 MHz core on the wire; this core's work is a few tens of thousands (``docs/boards.md``).
"""

from amaranth import Cat, Const, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory

from plasticore.chip.cycles import SequencedCycles
from plasticore.golden.config import DECAY_FRAC, ERROR_FRAC, Config

from .corebase import CoreBase, Mem
from .datapath import _bits, _sat_bits, _table
from .reciprocal import Reciprocal
from .softmax_seq import SequencedSoftmaxErrors
from .spram import SinglePortRAM

__all__ = ["SequencedCore"]


class SequencedCore(SequencedCycles, CoreBase):
    """A Plasticore core with one datapath (:mod:`module docs <plasticore.rtl.seqcore>`).

    Every memory answers the clock after a read (``READ_LATENCY`` 1). The interface is
    :class:`~.corebase.CoreBase`'s, as :class:`~.core.Core`'s is; ``compact`` is true (no read
    registers).
    """

    def __init__(self, config: Config):
        if not isinstance(config, Config):
            raise TypeError(f"config must be a Config, not {config!r}")
        # what the circuit does not implement is refused by name (docs/rtl.md, "The sequenced
        # core"): the hinge loss stays in the golden model
        if config.output_layer == "integrate" and config.output_loss != "softmax":
            raise ValueError(f"the sequenced core has no output_loss={config.output_loss!r} "
                             f"(output_layer='integrate' takes output_loss='softmax')")
        if config.output_layer == "integrate" and len(config.layers) < 3:
            raise ValueError("output_layer='integrate' needs a hidden layer: its update takes the "
                             f"hidden counts n_i (layers = {config.layers})")
        SequencedCycles.__init__(self, config)
        CoreBase.__init__(self)

    # --- circuit -------------------------------------------------------------------------------
    #: the engines ``elaborate`` runs in order (``CoreBase.elaborate``)
    ENGINES = ("_memories", "_registers", "_multipliers", "_sequencer", "_access_read")

    def _memories(self, m, e):
        """The memories: WEIGHT with FEEDBACK above it and GRAD single-port (SPRAM on an iCE40
        UltraPlus), the small ones, the reciprocal unit, the LFSRs and the update shifts
        (docs/rtl.md, "The sequenced core")."""
        O, cfg, platform = e.take("O cfg platform")
        # ---- memories --------------------------------------------------------------------------------
        spram = str(getattr(platform, "device", "")).startswith("iCE40UP")
        wf_width = max(cfg.weight.bits, cfg.feedback.bits)
        # WEIGHT at 0, FEEDBACK at n_weights: one single-port memory (one SPRAM on the UP5K)
        m.submodules.weights_feedback = wf = SinglePortRAM(
            width=wf_width, depth=self.n_weights + self.n_feedback, spram=spram)
        # the surrogate rule keeps no ehat (spec 5.2): GRAD holds ghat alone (one SPRAM, not two)
        # and reads back ehat = 0
        grad_bits = self.grad_layout.size if self.spike_time else cfg.grad.bits
        m.submodules.grads = gr = SinglePortRAM(width=grad_bits, depth=self.n_weights,
                                                spram=spram)
        gr_rdata = data.View(self.grad_layout,
                             Cat(gr.rdata, Const(0, self.grad_layout.size - grad_bits)))
        w_of = wf.rdata[:cfg.weight.bits].as_signed()
        b_of = wf.rdata[:cfg.feedback.bits].as_signed()

        lbits = _bits(self.max_inputs)
        entry = data.StructLayout({"j": unsigned(lbits), "d": signed(cfg.grade.bits)})
        eps_shape = signed(max(2, cfg.trace.bits + 1 - (cfg.trace.frac - cfg.grad.frac)))
        # delta_o: a clipped count error, or the softmax's in ERROR_FRAC fraction bits (spec 6.1)
        do_bits = max(cfg.count_bits + 2, cfg.error_frac + 2)
        dw = max(cfg.feedback.bits + do_bits + _bits(O + 1),
                 cfg.count_bits + 2 + cfg.feedback.frac + cfg.error_frac) + 1
        err_layout = data.StructLayout({"delta": signed(dw), "fired": 1})
        mems = {
            "state": memory.Memory(shape=self.state_layout, depth=self.n_neurons, init=[]),
            "traces": memory.Memory(shape=self.trace_layout, depth=self.n_traces, init=[]),
            "eps": memory.Memory(shape=eps_shape, depth=self.max_inputs, init=[]),
            "errors": memory.Memory(shape=err_layout, depth=self.n_neurons, init=[]),
            "perturb": memory.Memory(shape=1, depth=max(1, self.n_hidden), init=[]),
            # two banks (the high address bit): layer k reads bank k % 2 and lists its spikes
            # in the other one for layer k + 1
            "lists": memory.Memory(shape=entry, depth=2 << lbits, init=[]),
            "marks": memory.Memory(shape=1, depth=2 << lbits, init=[]),
        }
        if self.spike_time:
            # a block RAM, not 125 LUTs of ROM (yosys's choice for 51 words on its own)
            mems["rho_pow"] = memory.Memory(shape=unsigned(DECAY_FRAC), depth=cfg.n_steps + 1,
                                            init=list(cfg.rho_pow_q), attrs={"rom_style": "block"})
        for name, mem in mems.items():
            m.submodules[name] = mem
        st_rd, st_wr = mems["state"].read_port(), mems["state"].write_port()
        tr_rd, tr_wr = mems["traces"].read_port(), mems["traces"].write_port()
        ep_rd, ep_wr = mems["eps"].read_port(), mems["eps"].write_port()
        er_rd, er_wr = mems["errors"].read_port(), mems["errors"].write_port()
        pt_rd, pt_wr = mems["perturb"].read_port(), mems["perturb"].write_port()
        ls_rd, ls_wr = mems["lists"].read_port(), mems["lists"].write_port()
        mk_rd, mk_wr = mems["marks"].read_port(), mems["marks"].write_port()
        rp_rd = mems["rho_pow"].read_port() if self.spike_time else None
        cur = st_rd.data                   # the neuron's word, from N_ISSUE to N_WRITE
        def banked(index, b):
            """The list/marks address of entry or input ``index`` in bank ``b``."""
            index = index.as_unsigned()
            return Cat(index[:lbits], Const(0, max(0, lbits - len(index))), b)

        for port in (st_rd, tr_rd, ep_rd, er_rd, pt_rd, ls_rd, mk_rd, rp_rd):
            if port is not None:
                m.d.comb += port.en.eq(0)        # a read port holds its word until the next read

        lfsr, rlfsr = self._random_bits(m)
        theta = cfg.threshold_q
        rcp = r = None
        if self.spike_time:            # the surrogate rule has no reciprocal (spec 5.2): area
            m.submodules.recip = rcp = Reciprocal(cfg)
            r = rcp.r.payload              # held until the next division
            m.d.comb += rcp.theta_q.eq(theta)

        # the update shifts (spec 6.3); the noise mask 2**k - 1 is formed from the shift where it
        # is used (area: no mask registers and no shifter at the load)
        k_hid, k_out, _, _ = self._update_shifts(m)
        e.put(b_of=b_of, banked=banked, cur=cur, dw=dw, ep_rd=ep_rd, ep_wr=ep_wr,
              eps_shape=eps_shape, er_rd=er_rd, er_wr=er_wr, gr=gr, gr_rdata=gr_rdata, k_hid=k_hid,
              k_out=k_out, lfsr=lfsr, ls_rd=ls_rd, ls_wr=ls_wr, mk_rd=mk_rd, mk_wr=mk_wr,
              pt_rd=pt_rd, pt_wr=pt_wr, r=r, rcp=rcp, rlfsr=rlfsr, rp_rd=rp_rd, st_rd=st_rd,
              st_wr=st_wr, theta=theta, tr_rd=tr_rd, tr_wr=tr_wr, w_of=w_of, wf=wf,
              wf_width=wf_width)

    def _registers(self, m, e):
        """The layer register and its per-layer constants."""
        L, cfg = e.take("L cfg")
        # ---- per-layer constants, indexed by the layer register ------------------------------------
        layer = Signal(range(max(2, L)))
        n_of = _table([cfg.layers[k + 1] for k in range(L)])[layer]
        j_of = _table([cfg.layers[k] for k in range(L)])[layer]
        nbase = _table(self.neuron_base)[layer]
        tbase = _table(self.trace_base)[layer]
        wbase = _table(self.weight_base)[layer]
        fbase_next = _table(self.feedback_base[1:] + [0, 0])[layer]
        is_last = layer == L - 1
        bank = layer[0]
        out_base = self.neuron_base[-1]
        out_weights = self.weight_base[-1]
        e.put(bank=bank, fbase_next=fbase_next, is_last=is_last, j_of=j_of, layer=layer, n_of=n_of,
              nbase=nbase, out_base=out_base, out_weights=out_weights, tbase=tbase, wbase=wbase)

    def _multipliers(self, m, e):
        """The two multipliers every operation of the core shares: the decays (a word times an
        unsigned 0.16 constant) and the signed products."""
        cfg, dw, eps_shape = e.take("cfg dw eps_shape")
        # ---- the one multiplier ----------------------------------------------------------------
        # ---- two multipliers, each a pair of the iCE40's 16 x 16 DSPs: the decays (a signed word
        # times an unsigned 0.16 constant, rho, rho^k or r) and the signed products (w d, B delta,
        # delta ghat). One 32 x 17 multiplier for both would put its 17th row in LUTs
        ua_w = max(cfg.state.bits, cfg.trace.bits + 1, cfg.grad.bits, eps_shape.width + 1,
                   max(cfg.grad.bits if cfg.reset_path else 2, eps_shape.width) + 1)
        ma_u, mb_u = Signal(signed(ua_w)), Signal(unsigned(DECAY_FRAC))
        decayed = (ma_u * mb_u) >> DECAY_FRAC
        # phase C of an integrate output takes delta_o << weight.frac (softmax: ERROR_FRAC + 2 bits)
        sa_w = max(dw, cfg.weight.bits, cfg.feedback.bits,
                   cfg.error_frac + 2 + cfg.weight.frac if self.integrate else 0)
        sb_w = max(cfg.grade.bits, cfg.grad.bits, cfg.count_bits + 2, cfg.error_frac + 2)
        ma, mb = Signal(signed(sa_w)), Signal(signed(sb_w))
        prod = ma * mb
        m.d.comb += [ma.eq(0), mb.eq(0), ma_u.eq(0), mb_u.eq(0)]
        e.put(decayed=decayed, ma=ma, ma_u=ma_u, mb=mb, mb_u=mb_u, prod=prod, sa_w=sa_w, sb_w=sb_w)

    def _sequencer(self, m, e):
        """The command sequencer (docs/spec.md section 4): one FSM that visits the spec's operations
        in order, each group of states a method named after the golden function it equals."""
        (O, cfg, dw, eps_shape, gr, layer, lfsr, pt_wr, sa_w, sb_w, wf_width) = e.take(
            "O cfg dw eps_shape gr layer lfsr pt_wr sa_w sb_w wf_width")
        # ---- registers of the sequencer -----------------------------------------------------------
        step = Signal(cfg.step_bits)
        m.d.comb += self.step.eq(step)
        n_in = Signal(range(self.max_inputs + 1))     # events listed for the coming step
        n_out = Signal(range(self.max_inputs + 1))    # spikes listed by the running layer
        K = Signal(range(self.max_inputs + 1))        # spiking inputs of the running layer
        j = Signal(range(self.max_inputs + 1))        # input (trace pass, eligibility)
        kk = Signal(range(self.max_inputs + 1))       # list entry (integration)
        i = Signal(range(max(self.max_neurons, 2)))   # neuron within the layer
        o = Signal(range(max(O, 2)))                  # output (learning)
        row = Signal(range(max(self.n_weights, 2)))   # weight address of (i, input 0)
        addr = Signal(range(max(self.n_weights, self.n_feedback, 2)))  # LEARN word
        h = Signal(range(max(self.n_neurons, 2)))     # neuron address (learning)
        fa = Signal(range(max(self.n_feedback, 2)))   # feedback address (phase B)
        grad_dirty = Signal()
        label = Signal(self.event_layout["addr"].shape)

        # trace pass
        x_dec = Signal(unsigned(cfg.trace.bits))
        mark = Signal()
        # neuron loop. A read port keeps its word until the next read (an SPRAM until the next
        # access): the neuron's state word, its perturbation, the list entry, ghat, rho^k and r
        # are used from the memories' and the reciprocal's outputs, not copied (area)
        a_dec = Signal(signed(cfg.state.bits))
        c_dec = Signal(signed(cfg.state.bits))
        spike = Signal()
        acc = Signal(signed(cfg.weight.bits + _bits(self.max_inputs + 1) + 1))
        gacc = Signal(signed(cfg.grade.bits + _bits(self.max_inputs + 1) + 1))
        # eligibility
        e_bits = cfg.grad.bits if cfg.reset_path else 2
        e_reg = Signal(signed(e_bits))
        diff = Signal(signed(max(e_bits, eps_shape.width) + 1))
        # learning
        hacc = Signal(signed(dw))
        update = Signal(signed(max(sa_w + sb_w, 33) + 1))       # phase C: (noise - delta ghat) >> k
        shift = Signal(5)
        # a word for WEIGHT/FEEDBACK or GRAD, computed one clock and written the next (timing: a
        # single-port memory's output through the arithmetic into its input does not fit 24 MHz)
        result = Signal(max(wf_width, gr.width,
                            cfg.grade.bits + cfg.feedback.frac - cfg.grade.frac + 2))
        result_en = Signal()
        # in a step, `update` (phase C's) holds the grade a spike would emit, the total it would
        # make and whether either clipped, from N_TH to N_WRITE
        g_bits = cfg.grade.bits
        grade_d = update[:g_bits].as_signed()
        total = update[g_bits:2 * g_bits].as_signed()
        grade_clip = update[2 * g_bits]
        draw = Signal(data.StructLayout({"valid": 1, "addr": range(max(2, self.n_hidden))}))
        clr = Signal(range(max(self.clear_words, self.n_weights) + 1))
        clr_end = Mux(grad_dirty, max(self.clear_words, self.n_weights), self.clear_words)

        m.d.sync += [draw.valid.eq(0), self.done.eq(0)]
        ev = self.events.payload
        acc_ = self.access
        count_max = (1 << cfg.count_bits) - 1
        one = cfg.trace.one

        e.put(K=K, a_dec=a_dec, acc=acc, acc_=acc_, addr=addr, c_dec=c_dec, clr=clr,
              clr_end=clr_end, count_max=count_max, diff=diff, draw=draw, e_reg=e_reg, ev=ev,
              fa=fa, g_bits=g_bits, gacc=gacc, grad_dirty=grad_dirty, grade_clip=grade_clip,
              grade_d=grade_d, h=h, hacc=hacc, i=i, j=j, kk=kk, label=label, mark=mark, n_in=n_in,
              n_out=n_out, o=o, one=one, result=result, result_en=result_en, row=row, shift=shift,
              spike=spike, step=step, total=total, update=update, x_dec=x_dec)
        with m.FSM() as fsm:
            self._take_command(m, e)
            self._clear_sample(m, e)
            self._step_traces(m, e)
            self._step_layer(m, e)
            if self.spike_time:
                self._eligibility_updates(m, e)
            else:
                self._surrogate_updates(m, e)
            self._synaptic_sum(m, e)
            self._spike_updates(m, e)
            self._output_errors(m, e)
            self._hidden_errors(m, e)
            self._update_weights(m, e)
            self._update_feedback(m, e)

        m.d.comb += [self.events.ready.eq(fsm.ongoing("IDLE")), self.busy.eq(~fsm.ongoing("IDLE")),
                     self.monitor.layer.eq(layer), self.monitor.step.eq(step)]
        m.d.comb += [pt_wr.en.eq(draw.valid), pt_wr.addr.eq(draw.addr), pt_wr.data.eq(lfsr.value[0])]


    def _take_command(self, m, e):
        """IDLE: take one event (SPIKE lists an input, STEP runs the step, SAMPLE clears, LEARN
        learns) and serve the host's access port."""
        (K, acc_, clr, ev, gr, grad_dirty, j, label, layer, ls_wr, mk_wr, n_in, n_out, o, pt_rd,
         st_rd, st_wr, step, tr_rd, tr_wr, wf) = e.take(
            "K acc_ clr ev gr grad_dirty j label layer ls_wr mk_wr n_in n_out o pt_rd st_rd "
            "st_wr step tr_rd tr_wr wf")
        with m.State("IDLE"):
            self._dispatch(
                m, ev, n_in,
                spike=[ls_wr.en.eq(1), ls_wr.addr.eq(n_in), ls_wr.data.j.eq(ev.addr),
                       ls_wr.data.d.eq(0), mk_wr.en.eq(1), mk_wr.addr.eq(ev.addr), mk_wr.data.eq(1)],
                step=([layer.eq(0), K.eq(n_in), n_in.eq(0), n_out.eq(0), j.eq(0)], "T_ISSUE"),
                sample=([clr.eq(0), n_in.eq(0), step.eq(0)], "CLEAR"),
                learn=([label.eq(ev.addr), o.eq(0)], "A_ISSUE"))
            # host access
            rd_en, wr_en = acc_.en & ~acc_.we, acc_.en & acc_.we
            m.d.comb += [wf.addr.eq(acc_.addr), wf.wdata.eq(acc_.wdata),
                         gr.addr.eq(acc_.addr), gr.wdata.eq(acc_.wdata),
                         st_rd.addr.eq(acc_.addr), st_wr.addr.eq(acc_.addr), st_wr.data.eq(acc_.wdata),
                         tr_rd.addr.eq(acc_.addr), tr_wr.addr.eq(acc_.addr), tr_wr.data.eq(acc_.wdata),
                         pt_rd.addr.eq(acc_.addr)]
            with m.Switch(acc_.mem):
                with m.Case(Mem.WEIGHT):
                    m.d.comb += [wf.en.eq(acc_.en), wf.we.eq(acc_.we)]
                with m.Case(Mem.FEEDBACK):
                    m.d.comb += [wf.en.eq(acc_.en), wf.we.eq(acc_.we),
                                 wf.addr.eq(self.n_weights + acc_.addr)]
                with m.Case(Mem.GRAD):
                    m.d.comb += [gr.en.eq(acc_.en), gr.we.eq(acc_.we)]
                    with m.If(wr_en):
                        m.d.sync += grad_dirty.eq(1)
                with m.Case(Mem.STATE):
                    m.d.comb += [st_rd.en.eq(rd_en), st_wr.en.eq(wr_en)]
                with m.Case(Mem.TRACE):
                    m.d.comb += [tr_rd.en.eq(rd_en), tr_wr.en.eq(wr_en)]
                with m.Case(Mem.PERTURB):
                    m.d.comb += pt_rd.en.eq(rd_en)

    def _clear_sample(self, m, e):
        """CLEAR (SAMPLE, docs/spec.md section 4.1): zero the state, traces, marks and a dirty GRAD;
        draw the perturbations."""
        (clr, clr_end, draw, gr, grad_dirty, lfsr, mk_wr, st_wr, tr_wr) = e.take(
            "clr clr_end draw gr grad_dirty lfsr mk_wr st_wr tr_wr")
        with m.State("CLEAR"):
            m.d.comb += [st_wr.en.eq(clr < self.n_neurons), st_wr.addr.eq(clr), st_wr.data.eq(0),
                         tr_wr.en.eq(clr < self.n_traces), tr_wr.addr.eq(clr), tr_wr.data.eq(0),
                         mk_wr.en.eq(clr < self.max_inputs), mk_wr.addr.eq(clr), mk_wr.data.eq(0),
                         gr.en.eq(grad_dirty & (clr < self.n_weights)), gr.we.eq(1),
                         gr.addr.eq(clr), gr.wdata.eq(0)]
            self._clear_step(m, lfsr, draw, clr, clr_end, grad_dirty)

    def _step_traces(self, m, e):
        """The trace pass, the trace half of golden Network._step_layer: every input of the layer,
        decay, eps_j, +1.0 for the spiking ones; 2 clocks per input (docs/spec.md section 5,
        steps 1 and 4)."""
        (bank, banked, cfg, decayed, ep_wr, flag, i, j, j_of, ma_u, mark, mb_u, mk_rd, mk_wr,
         one, row, tbase, tr_rd, tr_wr, wbase, x_dec) = e.take(
            "bank banked cfg decayed ep_wr flag i j j_of ma_u mark mb_u mk_rd mk_wr one row "
            "tbase tr_rd tr_wr wbase x_dec")
        # ---- a step: trace pass ------------------------------------------------------------------
        with m.State("T_ISSUE"):
            with m.If(self._integrating(e)):
                # an integrate output layer keeps no input traces (spec 5.5): straight to its
                # neurons (its inputs were listed without marks)
                m.d.sync += [i.eq(0), row.eq(wbase)]
                m.next = "N_ISSUE"
            with m.Else():
                m.d.comb += [tr_rd.en.eq(1), tr_rd.addr.eq(tbase + j),
                             mk_rd.en.eq(1), mk_rd.addr.eq(banked(j, bank))]
                m.next = "T_X"
        with m.State("T_X"):               # x decays (spec 5.1)
            m.d.comb += [ma_u.eq(tr_rd.data.x), mb_u.eq(cfg.rho_q)]
            m.d.sync += [x_dec.eq(decayed), mark.eq(mk_rd.data)]
            m.next = "T_Y"
        with m.State("T_Y"):               # y decays; eps_j; +1.0 (spec 5.1, 5.3, 5.4)
            m.d.comb += [ma_u.eq(tr_rd.data.y), mb_u.eq(cfg.rho_s_q)]
            y_dec = decayed[:cfg.trace.bits]          # y rho_s < 2**trace.bits
            x_new, x_clip = _sat_bits(x_dec + Mux(mark, one, 0), cfg.trace)
            y_new, y_clip = _sat_bits(y_dec + Mux(mark, one, 0), cfg.trace)
            m.d.comb += [tr_wr.en.eq(1), tr_wr.addr.eq(tbase + j),
                         tr_wr.data.x.eq(x_new), tr_wr.data.y.eq(y_new),
                         ep_wr.en.eq(1), ep_wr.addr.eq(j),
                         ep_wr.data.eq((x_dec - y_dec) >> (cfg.trace.frac - cfg.grad.frac)),
                         mk_wr.en.eq(1), mk_wr.addr.eq(banked(j, bank)), mk_wr.data.eq(0),
                         flag["trace"].eq(x_clip | y_clip)]
            m.d.sync += j.eq(j + 1)
            with m.If(j == j_of - 1):
                m.d.sync += [i.eq(0), row.eq(wbase)]
                m.next = "N_ISSUE"
            with m.Else():
                m.d.comb += [tr_rd.en.eq(1), tr_rd.addr.eq(tbase + j + 1),
                             mk_rd.en.eq(1), mk_rd.addr.eq(banked(j + 1, bank))]
                m.next = "T_X"

    def _step_layer(self, m, e):
        """The neuron loop of golden Network._step_layer: per neuron, decay a and c, threshold
        (docs/spec.md section 5, steps 1-2); then the eligibility of a spiking neuron, the
        integration and the write."""
        (a_dec, acc, c_dec, cfg, cur, decayed, g_bits, gacc, i, is_last, j, kk, ma_u, mb_u,
         nbase, pt_rd, rp_rd, spike, st_rd, step, theta, update) = e.take(
            "a_dec acc c_dec cfg cur decayed g_bits gacc i is_last j kk ma_u mb_u nbase pt_rd "
            "rp_rd spike st_rd step theta update")
        # ---- a step: neuron loop -------------------------------------------------------------------
        with m.State("N_ISSUE"):
            m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(nbase + i),
                         pt_rd.en.eq(~is_last), pt_rd.addr.eq(nbase + i)]
            m.next = "N_A"
        with m.State("N_A"):               # a decays
            with m.If(self._integrating(e)):
                # an integrate output neuron: no decay, threshold or reset (spec 5.5)
                m.d.sync += [a_dec.eq(st_rd.data.a), spike.eq(0), acc.eq(0), gacc.eq(0),
                             kk.eq(0), j.eq(0)]
                m.next = "I_ISSUE"
            with m.Else():
                m.d.comb += [ma_u.eq(st_rd.data.a), mb_u.eq(cfg.rho_q)]
                m.d.sync += a_dec.eq(decayed)
                m.next = "N_C"
        with m.State("N_C"):               # c decays
            m.d.comb += [ma_u.eq(cur.c), mb_u.eq(cfg.rho_s_q)]
            m.d.sync += c_dec.eq(decayed)
            m.next = "N_TH"
        with m.State("N_TH"):              # threshold (5.2); rho^k for the eligibility
            # the grade a spike would emit, and the total it would make (5.3), registered for
            # N_WRITE (timing: two saturating sums in a row from STATE back into it)
            p_val = Mux(pt_rd.data, cfg.grade.one, -cfg.grade.one)
            grade_raw = cur.grade_sum + Mux(~is_last & (cur.count == 0), p_val, 0)
            d_sat, d_clip = _sat_bits(grade_raw, cfg.grade)
            total_sat, total_clip = _sat_bits(cur.grade_total + d_sat, cfg.grade)
            m.d.sync += update.eq(Cat(d_sat[:g_bits], total_sat[:g_bits], d_clip | total_clip))
            membrane = a_dec - c_dec
            fire = membrane >= theta
            m.d.sync += [spike.eq(fire), acc.eq(0), gacc.eq(0), kk.eq(0), j.eq(0)]
            if self.spike_time:
                m.d.comb += [rp_rd.en.eq(1), rp_rd.addr.eq(step - cur.last_step)]
                with m.If(fire):
                    m.next = "E_START"      # eligibility of a spiking neuron's synapses (5.3)
                with m.Else():
                    m.next = "I_ISSUE"
            else:
                # the surrogate gate (spec 5.2) on the same decayed membrane, hidden layers only
                width = cfg.surrogate_width_q
                gate = ~is_last & (membrane >= theta - width) & (membrane <= theta + width)
                with m.If(gate):
                    m.next = "S_READ"
                with m.Else():
                    m.next = "I_ISSUE"

    def _eligibility_updates(self, m, e):
        """golden Network._eligibility_updates for a spiking neuron: its reciprocal, then ghat += r
        (ehat rho^k - eps_j), ehat updated, 4 clocks per synapse (docs/spec.md section 5.3)."""
        (c_dec, cfg, decayed, diff, e_reg, ep_rd, flag, gr, gr_rdata, grad_dirty, j, j_of, ma_u,
         mb_u, r, rcp, result, row, rp_rd) = e.take(
            "c_dec cfg decayed diff e_reg ep_rd flag gr gr_rdata grad_dirty j j_of ma_u mb_u r "
            "rcp result row rp_rd")
        with m.State("E_START"):
            m.d.comb += [rcp.c.valid.eq(1), rcp.c.payload.eq(c_dec)]
            m.next = "E_WAIT"
        with m.State("E_WAIT"):
            m.d.comb += rcp.r.ready.eq(1)
            with m.If(rcp.r.valid):
                m.next = "E_ISSUE"
        with m.State("E_ISSUE"):
            m.d.comb += [gr.en.eq(1), gr.addr.eq(row + j), ep_rd.en.eq(1), ep_rd.addr.eq(j)]
            m.next = "E_DECAY"
        with m.State("E_DECAY"):          # e = ehat rho^k, diff = e - eps_j
            if cfg.reset_path:
                m.d.comb += [ma_u.eq(gr_rdata.ehat), mb_u.eq(rp_rd.data)]
                e_val = decayed[:cfg.grad.bits].as_signed()   # |ehat rho^k| <= |ehat|
            else:
                e_val = Const(0, signed(2))
            m.d.sync += [e_reg.eq(e_val), diff.eq(e_val - ep_rd.data)]
            m.next = "E_UPDATE"
        with m.State("E_UPDATE"):         # g = r diff; ghat += g; ehat = e + g
            m.d.comb += [ma_u.eq(diff), mb_u.eq(r)]
            g = decayed[:len(diff) + 1].as_signed()    # r < 1
            ghat_new, ghat_clip = _sat_bits(gr_rdata.ghat + g, cfg.grad)
            ehat_new, ehat_clip = _sat_bits(e_reg + g, cfg.grad)
            word = Signal(self.grad_layout)
            m.d.comb += word.ghat.eq(ghat_new)
            if cfg.reset_path:
                m.d.comb += [word.ehat.eq(ehat_new), flag["grad"].eq(ghat_clip | ehat_clip)]
            else:
                m.d.comb += flag["grad"].eq(ghat_clip)
            m.d.sync += [result.eq(word), grad_dirty.eq(1)]
            m.next = "E_STORE"
        with m.State("E_STORE"):
            m.d.comb += [gr.en.eq(1), gr.we.eq(1), gr.addr.eq(row + j), gr.wdata.eq(result)]
            m.d.sync += j.eq(j + 1)
            with m.If(j == j_of - 1):
                m.next = "I_ISSUE"
            with m.Else():
                m.next = "E_ISSUE"
        # integration of the layer's spiking inputs (5.4)

    def _surrogate_updates(self, m, e):
        """golden Network._surrogate_updates for a gated neuron: ghat_ij = sat(ghat_ij - eps_j)
        for every input j, 2 clocks per synapse (docs/spec.md section 5.2). GRAD is single-port:
        the read of synapse j and the write of synapse j - 1 alternate, and the word is
        registered in between (timing: the SPRAM's output into its input)."""
        (cfg, ep_rd, flag, gr, gr_rdata, grad_dirty, j, j_of, result, row) = e.take(
            "cfg ep_rd flag gr gr_rdata grad_dirty j j_of result row")
        with m.State("S_READ"):
            m.d.comb += [gr.en.eq(1), gr.addr.eq(row + j), ep_rd.en.eq(1), ep_rd.addr.eq(j)]
            m.next = "S_WRITE"
        with m.State("S_WRITE"):          # store synapse j - 1; ghat - eps_j of synapse j
            ghat_new, ghat_clip = _sat_bits(gr_rdata.ghat - ep_rd.data, cfg.grad)
            word = Signal(self.grad_layout)
            m.d.comb += word.ghat.eq(ghat_new)    # ehat stays 0: it is not used (spec 5.2)
            m.d.comb += [gr.en.eq(j != 0), gr.we.eq(1), gr.addr.eq(row + j - 1),
                         gr.wdata.eq(result), flag["grad"].eq(ghat_clip)]
            m.d.sync += [result.eq(word), grad_dirty.eq(1), j.eq(j + 1)]
            with m.If(j == j_of - 1):
                m.next = "S_LAST"
            with m.Else():
                m.next = "S_READ"
        with m.State("S_LAST"):
            m.d.comb += [gr.en.eq(1), gr.we.eq(1), gr.addr.eq(row + j - 1), gr.wdata.eq(result)]
            m.d.sync += j.eq(0)
            m.next = "I_ISSUE"

    def _integrating(self, e):
        """Whether the running layer is an integrate output layer (spec 5.5)."""
        return e.is_last if self.integrate else Const(0)

    def _synaptic_sum(self, m, e):
        """golden Network._synaptic_sum and _grade_sum: the layer's spiking inputs integrated, 2
        clocks each (docs/spec.md section 5, step 4)."""
        (K, acc, bank, banked, cfg, gacc, kk, ls_rd, ma, mb, prod, row, w_of, wf) = e.take(
            "K acc bank banked cfg gacc kk ls_rd ma mb prod row w_of wf")
        with m.State("I_ISSUE"):
            m.d.comb += [ls_rd.en.eq(1), ls_rd.addr.eq(banked(kk, bank))]
            with m.If(K == 0):
                m.next = "N_WRITE"
            with m.Else():
                m.next = "I_READ"
        with m.State("I_READ"):
            m.d.comb += [wf.en.eq(1), wf.addr.eq(row + ls_rd.data.j)]
            m.next = "I_ADD"
        with m.State("I_ADD"):
            m.d.comb += [ma.eq(w_of), mb.eq(ls_rd.data.d)]
            m.d.sync += [acc.eq(acc + w_of), gacc.eq(gacc + (prod >> cfg.weight.frac)),
                         kk.eq(kk + 1)]
            with m.If(kk == K - 1):
                m.next = "N_WRITE"
            with m.Else():
                m.d.comb += [ls_rd.en.eq(1), ls_rd.addr.eq(banked(kk + 1, bank))]
                m.next = "I_READ"

    def _spike_updates(self, m, e):
        """golden Network._spike_updates' grade and counters, the reset, and the neuron's state
        stored once, saturated (docs/spec.md section 5.3)."""
        (K, a_dec, acc, bank, banked, c_dec, cfg, count_max, cur, flag, gacc, grade_clip,
         grade_d, i, is_last, j, j_of, layer, ls_wr, mk_wr, n_of, n_out, nbase, pt_rd, row,
         spike, st_rd, st_wr, step, theta, total) = e.take(
            "K a_dec acc bank banked c_dec cfg count_max cur flag gacc grade_clip grade_d i "
            "is_last j j_of layer ls_wr mk_wr n_of n_out nbase pt_rd row spike st_rd st_wr step "
            "theta total")
        with m.State("N_WRITE"):           # the spike's bookkeeping (5.3); store once, saturated
            gs = Mux(spike, 0, cur.grade_sum)
            gt = Mux(spike, total, cur.grade_total)
            count = Mux(spike & (cur.count != count_max), cur.count + 1, cur.count)
            last_step = Mux(spike, step, cur.last_step)
            m.d.comb += flag["count"].eq(spike & (cur.count == count_max))
            a_new, a_clip = _sat_bits(a_dec - Mux(spike, theta, 0) + acc, cfg.state)
            c_new, c_clip = _sat_bits(c_dec + acc, cfg.state)
            gs_new, gs_clip = _sat_bits(gs + gacc, cfg.grade)
            if self.integrate:         # an integrate output neuron has no current (spec 5.5)
                integrating = self._integrating(e)
                c_new, c_clip = Mux(integrating, cur.c, c_new), ~integrating & c_clip
            m.d.comb += [st_wr.en.eq(1), st_wr.addr.eq(nbase + i),
                         st_wr.data.a.eq(a_new), st_wr.data.c.eq(c_new),
                         st_wr.data.grade_sum.eq(gs_new), st_wr.data.grade_total.eq(gt),
                         st_wr.data.count.eq(count), st_wr.data.last_step.eq(last_step),
                         flag["state"].eq(a_clip | c_clip),
                         flag["grade"].eq(gs_clip | (spike & grade_clip)),
                         self.monitor.valid.eq(spike), self.monitor.neuron.eq(i)]
            listing = spike & ~is_last
            # an integrate output layer has no trace pass to read and clear the marks
            marking = listing & ~(layer == self.n_layers - 2) if self.integrate else listing
            with m.If(listing):
                m.d.comb += [ls_wr.en.eq(1), ls_wr.addr.eq(banked(n_out, ~bank)),
                             ls_wr.data.j.eq(i), ls_wr.data.d.eq(grade_d),
                             mk_wr.en.eq(marking), mk_wr.addr.eq(banked(i, ~bank)), mk_wr.data.eq(1)]
            n_listed = n_out + listing
            m.d.sync += [n_out.eq(n_listed), i.eq(i + 1), row.eq(row + j_of)]
            with m.If(i == n_of - 1):
                with m.If(is_last):
                    m.d.sync += [step.eq(step + 1), self.done.eq(1)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [layer.eq(layer + 1), K.eq(n_listed), n_out.eq(0), j.eq(0)]
                    m.next = "T_ISSUE"
            with m.Else():
                m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(nbase + i + 1),
                             pt_rd.en.eq(~is_last), pt_rd.addr.eq(nbase + i + 1)]
                m.next = "N_A"

    def _output_errors(self, m, e):
        """LEARN phase A: golden Network.output_errors, delta_o = clip(target - count_o)
        (docs/spec.md section 6.1)."""
        (O, cfg, er_wr, label, o, out_base, st_rd) = e.take("O cfg er_wr label o out_base st_rd")
        if self.integrate:
            self._softmax_errors(m, e)
            return
        # ---- LEARN, phase A: delta_o = clip(target - count_o) (6.1) ---------------------------------
        with m.State("A_ISSUE"):
            m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(out_base)]
            m.next = "A_WRITE"
        with m.State("A_WRITE"):
            raw = Mux(o == label, cfg.target_true, cfg.target_false) - st_rd.data.count
            if cfg.error_clip is not None:
                clip = cfg.error_clip
                delta_o = Mux(raw > clip, clip, Mux(raw < -clip, -clip, raw))
            else:
                delta_o = raw
            m.d.comb += [er_wr.en.eq(1), er_wr.addr.eq(out_base + o), er_wr.data.delta.eq(delta_o)]
            m.d.sync += o.eq(o + 1)
            with m.If(o == O - 1):
                self._errors_done(m, e)
            with m.Else():
                m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(out_base + o + 1)]

    def _softmax_errors(self, m, e):
        """LEARN phase A of an integrate output layer: golden Network._softmax_errors (docs/spec.md
        section 6.1) by rtl/softmax_seq.py's unit: V_max in a pass over the output states, V_o
        streamed into the unit for the sum, then each V_o again for its e_o's division while the
        previous one divides (area: no e_o registers), delta_o written as each quotient ends."""
        (O, a_dec, cfg, er_wr, label, o, out_base, st_rd) = e.take(
            "O a_dec cfg er_wr label o out_base st_rd")
        m.submodules.softmax = sm = SequencedSoftmaxErrors(cfg)
        v_max = a_dec                  # free in LEARN (area: no register of its own)
        m.d.comb += [sm.v_max.eq(v_max), sm.v.eq(st_rd.data.a)]
        with m.State("A_ISSUE"):
            m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(out_base)]
            m.next = "A_MAX"
        with m.State("A_MAX"):         # V_max = max_o a_o (the unit's subtractor compares)
            with m.If((o == 0) | sm.above):
                m.d.sync += v_max.eq(st_rd.data.a)
            m.d.sync += o.eq(o + 1)
            m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(out_base + Mux(o == O - 1, 0, o + 1))]
            with m.If(o == O - 1):
                m.d.sync += o.eq(0)
                m.next = "A_V"
        with m.State("A_V"):           # V_o into the unit's sum, one a clock
            m.d.comb += [sm.add.eq(1), sm.first.eq(o == 0), st_rd.en.eq(1),
                         st_rd.addr.eq(out_base + Mux(o == O - 1, 0, o + 1))]
            m.d.sync += o.eq(o + 1)
            with m.If(o == O - 1):
                m.d.sync += o.eq(0)
                m.next = "A_E"
        with m.State("A_E"):           # the sum's last term; V_0 to the ROM
            m.next = "A_LOAD"
        with m.State("A_LOAD"):        # e_0 into the divider, V_1 read
            m.d.comb += [sm.load.eq(1), st_rd.en.eq(1), st_rd.addr.eq(out_base + 1)]
            m.next = "A_DELTA"
        with m.State("A_DELTA"):       # delta_o as its quotient ends; e_{o+1} into the divider
            with m.If(sm.p_valid):
                delta_o = Mux(o == label, 1 << ERROR_FRAC, 0) - sm.p
                m.d.comb += [er_wr.en.eq(1), er_wr.addr.eq(out_base + o),
                             er_wr.data.delta.eq(delta_o), sm.load.eq(1),
                             st_rd.en.eq(1), st_rd.addr.eq(out_base + o + 2)]
                m.d.sync += o.eq(o + 1)
                with m.If(o == O - 1):
                    self._errors_done(m, e)

    def _errors_done(self, m, e):
        """The end of phase A: on to the hidden errors, or (readout) the output weights."""
        L, addr, cfg, fa, h, hacc, i, j, layer, o, out_base, out_weights = e.take(
            "L addr cfg fa h hacc i j layer o out_base out_weights")
        if cfg.learns_hidden:
            m.d.sync += [layer.eq(0), i.eq(0), o.eq(0), h.eq(0), addr.eq(0), fa.eq(0),
                         hacc.eq(0)]
            m.next = "B_ISSUE"
        else:
            m.d.sync += [layer.eq(L - 1), addr.eq(out_weights), h.eq(out_base), i.eq(0),
                         j.eq(0)]
            m.next = "C_ISSUE"

    def _hidden_errors(self, m, e):
        """LEARN phase B: golden Network.hidden_errors, delta_i = sum_o B_oi delta_o (docs/spec.md
        section 6.2)."""
        (O, addr, b_of, cfg, er_rd, er_wr, fa, fbase_next, h, hacc, i, j, layer, ma, mb, n_of, o,
         out_base, prod, st_rd, wf) = e.take(
            "O addr b_of cfg er_rd er_wr fa fbase_next h hacc i j layer ma mb n_of o out_base "
            "prod st_rd wf")
        # ---- phase B: delta_i = sum_o B_oi delta_o (+ the rate term) (6.2) -------------------------
        with m.State("B_ISSUE"):       # B_oi at fa (row-major (o, i)), delta_o, count_i
            m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(h),
                         wf.en.eq(1), wf.addr.eq(self.n_weights + fa),
                         er_rd.en.eq(1), er_rd.addr.eq(out_base + o)]
            m.next = "B_MAC"
        with m.State("B_MAC"):
            m.d.comb += [ma.eq(b_of), mb.eq(er_rd.data.delta)]
            m.d.sync += [hacc.eq(hacc + prod), o.eq(o + 1), fa.eq(fa + n_of)]
            with m.If(o == O - 1):
                m.next = "B_WRITE"
            with m.Else():
                m.next = "B_ISSUE"
        with m.State("B_WRITE"):
            h_count = st_rd.data.count
            if cfg.rate_reg_shift is not None:
                rate_shift = cfg.feedback.frac + cfg.error_frac - cfg.rate_reg_shift
                h_delta = hacc + ((cfg.rate_target - h_count) << rate_shift)
            else:
                h_delta = hacc
            m.d.comb += [er_wr.en.eq(1), er_wr.addr.eq(h), er_wr.data.delta.eq(h_delta),
                         er_wr.data.fired.eq(h_count != 0)]
            # the next neuron's column: one word on, or the next layer's matrix
            nxt = Mux(i == n_of - 1, fbase_next, addr + 1)
            m.d.sync += [hacc.eq(0), o.eq(0), h.eq(h + 1), i.eq(i + 1), addr.eq(nxt), fa.eq(nxt)]
            with m.If(i == n_of - 1):
                m.d.sync += [i.eq(0), layer.eq(layer + 1)]
            with m.If(h == self.n_hidden - 1):
                m.d.sync += [layer.eq(0), addr.eq(0), h.eq(0), i.eq(0), j.eq(0)]
                m.next = "C_ISSUE"
            with m.Else():
                m.next = "B_ISSUE"

    def _update_weights(self, m, e):
        """LEARN phase C: golden Network._update_weights, w += (noise - delta ghat) >> k; ghat =
        ehat = 0 (docs/spec.md section 6.3)."""
        (addr, cfg, er_rd, flag, gr, gr_rdata, grad_dirty, h, i, is_last, j, j_of, k_hid, k_out,
         layer, ma, mb, n_of, o, out_weights, prod, result, rlfsr, shift, st_rd, update, w_of,
         wf) = e.take(
            "addr cfg er_rd flag gr gr_rdata grad_dirty h i is_last j j_of k_hid k_out layer ma mb "
            "n_of o out_weights prod result rlfsr shift st_rd update w_of wf")
        # ---- phase C: w += (noise - delta ghat) >> k; ghat = ehat = 0 (6.3) ---------------------------
        with m.State("C_ISSUE"):
            m.d.comb += [wf.en.eq(1), wf.addr.eq(addr), gr.en.eq(1), gr.addr.eq(addr),
                         er_rd.en.eq(1), er_rd.addr.eq(h), rlfsr.advance.eq(1)]
            if self.integrate:         # n_i, the count of the output word's hidden neuron
                m.d.comb += [st_rd.en.eq(1), st_rd.addr.eq(self.neuron_base[-2] + j)]
            m.d.sync += shift.eq(Mux(addr >= out_weights, k_out, k_hid))
            m.next = "C_PRODUCT"
        with m.State("C_PRODUCT"):        # noise - delta ghat, noise the low k bits of a draw
            mask = Cat(shift > b for b in range(32))
            noise = rlfsr.value & mask
            if self.integrate:
                # an integrate output word: noise + (delta_o n_i << weight.frac) (spec 6.3), as
                # noise - (delta_o << weight.frac) (-n_i) on the same product and subtractor
                # (area: the operands multiplexed, not a second 34-bit adder)
                delta = er_rd.data.delta
                m.d.comb += [ma.eq(Mux(is_last, delta << cfg.weight.frac, delta)),
                             mb.eq(Mux(is_last, -st_rd.data.count, gr_rdata.ghat))]
                m.d.sync += update.eq(noise - prod)
            else:
                m.d.comb += [ma.eq(er_rd.data.delta), mb.eq(gr_rdata.ghat)]
                m.d.sync += update.eq(noise - prod)
            m.next = "C_SHIFT"
        with m.State("C_SHIFT"):          # >> k: 4 bits per clock, then 1 (area: no barrel)
            with m.If(shift >= 4):
                m.d.sync += [update.eq(update >> 4), shift.eq(shift - 4)]
            with m.Elif(shift != 0):
                m.d.sync += [update.eq(update >> 1), shift.eq(shift - 1)]
            with m.Else():
                m.next = "C_WRITE"
        with m.State("C_WRITE"):
            # an update beyond the weight format's span saturates whatever w is: only the low
            # bits go through the adder (area: not a 49-bit sum)
            low = cfg.weight.bits + 1
            high = update[low:]
            huge = ~((high == 0) | (high == (1 << len(high)) - 1))
            w_sum, w_clip = _sat_bits(w_of + update[:low + 1].as_signed(), cfg.weight)
            w_upd = Mux(huge, Mux(update[-1], cfg.weight.lo, cfg.weight.hi), w_sum)
            m.d.comb += flag["weight"].eq(w_clip | huge)
            m.d.sync += result.eq(w_upd)
            m.next = "C_STORE"
        with m.State("C_STORE"):
            m.d.comb += [wf.en.eq(1), wf.we.eq(1), wf.addr.eq(addr), wf.wdata.eq(result),
                         gr.en.eq(1), gr.we.eq(1), gr.addr.eq(addr), gr.wdata.eq(0)]
            m.d.sync += [addr.eq(addr + 1), j.eq(j + 1)]
            with m.If(j == j_of - 1):
                m.d.sync += [j.eq(0), h.eq(h + 1)]
                with m.If(i == n_of - 1):
                    m.d.sync += [i.eq(0), layer.eq(layer + 1)]
                with m.Else():
                    m.d.sync += i.eq(i + 1)
            with m.If(addr == self.n_weights - 1):
                if cfg.learns_hidden:
                    m.d.sync += grad_dirty.eq(0)      # every ghat/ehat was visited and cleared
                if cfg.learns_feedback:
                    m.d.sync += [layer.eq(0), addr.eq(0), o.eq(0), i.eq(0)]
                    m.next = "D_ISSUE"
                else:
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
            with m.Else():
                m.next = "C_ISSUE"

    def _update_feedback(self, m, e):
        """LEARN phase D: golden Network._update_feedback, B += (T - B + noise) >> s where i fired
        (docs/spec.md section 6.4)."""
        (addr, b_of, cfg, er_rd, flag, i, layer, n_of, nbase, o, out_base, pt_rd, result,
         result_en, rlfsr, st_rd, wf) = e.take(
            "addr b_of cfg er_rd flag i layer n_of nbase o out_base pt_rd result result_en "
            "rlfsr st_rd wf")
        # ---- phase D: B += (T - B + noise) >> s where i fired (6.4) ----------------------------------
        with m.State("D_ISSUE"):
            m.d.comb += [wf.en.eq(1), wf.addr.eq(self.n_weights + addr),
                         pt_rd.en.eq(1), pt_rd.addr.eq(nbase + i),
                         er_rd.en.eq(1), er_rd.addr.eq(nbase + i),
                         st_rd.en.eq(1), st_rd.addr.eq(out_base + o), rlfsr.advance.eq(1)]
            m.next = "D_STEP"
        with m.State("D_STEP"):           # (T - B + noise) >> s, T = D_o p_i
            fshift = cfg.feedback_shift
            # D_o: the grades a spiking output emitted, or those an integrate one summed (6.4)
            d_tot = st_rd.data.grade_sum if self.integrate else st_rd.data.grade_total
            target = Mux(pt_rd.data, d_tot, -d_tot) << (cfg.feedback.frac - cfg.grade.frac)
            f_noise = rlfsr.value & ((1 << fshift) - 1)
            m.d.sync += result.eq((target - b_of + f_noise) >> fshift)
            m.next = "D_UPDATE"
        with m.State("D_UPDATE"):         # registered in two halves (timing)
            step_bits = max(cfg.grade.bits + cfg.feedback.frac - cfg.grade.frac, cfg.feedback.bits) + 2
            f_new, f_clip = _sat_bits(b_of + result[:step_bits].as_signed(), cfg.feedback)
            fired = er_rd.data.fired
            m.d.comb += flag["feedback"].eq(fired & f_clip)
            m.d.sync += [result.eq(f_new), result_en.eq(fired)]
            m.next = "D_STORE"
        with m.State("D_STORE"):
            m.d.comb += [wf.en.eq(result_en), wf.we.eq(1), wf.addr.eq(self.n_weights + addr),
                         wf.wdata.eq(result)]
            with m.If(self._next_feedback_word(m, addr, i, o, layer, n_of)):
                m.d.sync += self.done.eq(1)
                m.next = "IDLE"
            with m.Else():
                m.next = "D_ISSUE"

    def _access_read(self, m, e):
        """The access port's read data, the clock after the read."""
        acc_, cfg, gr, pt_rd, st_rd, tr_rd, wf = e.take("acc_ cfg gr pt_rd st_rd tr_rd wf")
        # access read data, the clock after the read
        rsel = Signal(Mem)
        with m.If(acc_.en & ~acc_.we & ~self.busy):
            m.d.sync += rsel.eq(acc_.mem)
        with m.Switch(rsel):
            for mem, value in ((Mem.WEIGHT, wf.rdata[:cfg.weight.bits]),
                               (Mem.FEEDBACK, wf.rdata[:cfg.feedback.bits]),
                               (Mem.GRAD, gr.rdata), (Mem.STATE, st_rd.data.as_value()),
                               (Mem.TRACE, tr_rd.data.as_value()), (Mem.PERTURB, pt_rd.data)):
                with m.Case(mem):
                    m.d.comb += acc_.rdata.eq(value)
