"""The board side of the link protocol (``docs/protocol.md``): a protocol engine that receives
decoded frames, checks them, drives the neurocore and answers each one.

Data path (the UART, the receive FIFO and the COBS coder are in :mod:`.top`)::

    rx beats ──► frame buffer (257 x 8) + CRC ──► checks ──► execute ──► reply bytes + CRC ──► tx
    (decoded,                                      │            │
     end, error)                                   └── Core ◄───┘ events stream, access port

One request at a time: while a request executes and its reply goes out, ``rx`` is not ready and
the wire bytes wait in the receive FIFO (the host's window, protocol section 2, keeps it from
overflowing). Every check runs before anything changes: frame checks (COBS, length, CRC), then
sequence, op, body length, arguments, and for ``EVENTS`` a pre-pass over every code with scratch
copies of the step counter and the per-step spike bitmap, so a rejected frame leaves the core and
the engine's state untouched.

Throughput: one decoded byte per clock into the buffer; an ``EVENTS`` frame costs two clocks per
code for the pre-pass and two per code (plus the core's step time) to execute; replies leave at
one byte per clock when ``tx`` is ready. All of it is far above a UART's byte rate.
"""

from __future__ import annotations

from amaranth import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import crc, data, enum, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from plasticore.chip.boardspec import BoardSpec
from plasticore.golden.config import Config
from plasticore.golden.network import FLAG_NAMES
# the protocol's one definition (ops, error codes, limits, IDENTIFY body), shared with the host
from plasticore.chip.protocol import MAX_BODY, MAX_FRAME, MIN_FRAME, REPLY, STATUS_BYTES, \
    ErrorCode as Error, FIRST_SEQ, Op, event_bytes, probe_reply_bytes

from .core import Cmd, Core, Mem
from .counters import Counters
from .kinds import make_core

__all__ = ["Link", "RX_BEAT", "TX_BEAT"]

#: a decoded byte from the COBS decoder; ``end`` marks the end of a frame (``error``: malformed)
RX_BEAT = data.StructLayout({"data": 8, "end": 1, "error": 1})
#: a byte of a reply frame for the COBS encoder; ``last`` on its final byte
TX_BEAT = data.StructLayout({"data": 8, "last": 1})


#: the passes over the spike bitmaps (Link, "seen"): copy committed to scratch, commit scratch,
#: clear scratch, clear committed
_SCRATCH_FROM_COMMITTED, _COMMIT, _CLEAR_SCRATCH, _CLEAR_COMMITTED = range(4)


class Snap(enum.Enum, shape=3):
    """Source of a reply's fixed part (before any memory words)."""
    IDENTITY = 0
    STATUS = 1
    ERROR = 2
    STEP = 3    #: the core's step counter (EVENTS)
    RATES = 4   #: the learning rates in force (RATES)


def _mem_depths(core: Core) -> dict:
    return {Mem.WEIGHT: core.n_weights, Mem.STATE: core.n_neurons, Mem.TRACE: core.n_traces,
            Mem.PERTURB: max(1, core.n_hidden), Mem.GRAD: core.n_weights,
            Mem.FEEDBACK: core.n_feedback}


class Link(wiring.Component):
    """Protocol engine and neurocore (the core is ``self.core``, a submodule).

    Attributes
    ----------
    rx : In(stream.Signature(RX_BEAT))
        Decoded request bytes from the COBS decoder.
    tx : Out(stream.Signature(TX_BEAT))
        Reply bytes for the COBS encoder.
    rx_overrun, rx_framing : In(1)
        One-cycle pulses from the UART receiver, counted for ``STATUS``.
    learning : Out(1)
        The learning sequence runs (an LED).
    error : Out(1)
        An error reply was sent or an overflow flag is set since the last ``RESET`` (an LED).
    idle : Out(1)
        Waiting for a request with nothing received yet.

    Parameters
    ----------
    spec : BoardSpec
        The board (``chip/boardspec.py``): the network and the kind of core (``rtl/kinds.py``)
        it builds, and the clock, UART divisor and receive window that ``IDENTIFY`` reports.
    """

    def __init__(self, spec: BoardSpec):
        config = spec.config
        for name, value, limit in (("clk_hz", spec.clk_hz, (1 << 32) - 1),
                                   ("baud_divisor", spec.baud_divisor, (1 << 16) - 1),
                                   ("rx_window", spec.rx_window, (1 << 16) - 1)):
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
                raise ValueError(f"{name} must be an integer in 1..{limit}, not {value!r}")
        if spec.rx_window < 2 * (MAX_FRAME + 3):
            raise ValueError(f"rx_window = {spec.rx_window} must hold two frames of the largest "
                             f"size, {2 * (MAX_FRAME + 3)} bytes")
        if config.count_bits > 8:
            raise ValueError(f"count_bits = {config.count_bits}: replies carry counts as one byte")
        self._config = config
        self.spec = spec
        self.core = make_core(config, spec.core)
        self.identity = spec.identity().pack()
        #: the answer to the version probe: the head of IDENTIFY, in version 2's framing
        self.probe_bytes = probe_reply_bytes(len(config.layers))
        self.word_bytes = (self.core.data_width + 7) // 8
        self.event_bytes = event_bytes(config.n_inputs)
        super().__init__({
            "rx": In(stream.Signature(RX_BEAT)),
            "tx": Out(stream.Signature(TX_BEAT)),
            "rx_overrun": In(1), "rx_framing": In(1),
            "learning": Out(1), "error": Out(1), "idle": Out(1),
        })

    @property
    def config(self) -> Config:
        return self._config

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = self.core
        # the parts in the order they make signals and add statements, which is the order Amaranth
        # numbers and emits them in: reordering changes the design's text (tests/rtl/link_rtlil.py)
        engine = _LinkEngine(self, m)
        engine.frame_registers()
        engine.status_counters()
        engine.spike_bitmaps()
        engine.reply_registers()
        engine.request_registers()
        engine.snapshot_source()
        engine.op_checks()
        engine.range_checks()
        with m.FSM(name="link"):
            engine.receive_states()
            engine.validate_state()
            engine.reset_state()
            engine.write_states()
            engine.events_prepass_states()
            engine.events_exec_states()
            engine.learn_states()
            engine.wait_states()
            engine.reply_head_states()
            engine.reply_body_states()
            engine.reply_crc_states()
        return m

    def _counts_reply(self, rd_mem, rd_addr, rd_left, rd_counts, snap_left, after_body):
        """Reply body: the output neurons' spike counts, one byte each, read from STATE."""
        return [rd_mem.eq(Mem.STATE), rd_addr.eq(self.core.neuron_base[-1]),
                rd_left.eq(self._config.n_outputs), rd_counts.eq(1), snap_left.eq(0),
                after_body.eq(1)]


class _LinkEngine:
    """:meth:`Link.elaborate` in named parts: one method per part of the engine, with the
    registers the parts share as attributes (each made by the part that owns it).

    A part's signals keep the names they had as ``elaborate``'s locals (``self.length =
    Signal(16)`` is named ``length``, like ``length = Signal(16)``) and ``Link.elaborate`` calls the
    parts in the order of the one method they were split from: the design is the same to the
    byte (``tests/rtl/link_rtlil.py``).
    """

    def __init__(self, link: Link, m: Module):
        self.link, self.m = link, m
        self.cfg, self.core = link.config, link.core
        self.wb, self.eb = link.word_bytes, link.event_bytes
        self.n_in, self.n_out = self.cfg.n_inputs, self.cfg.n_outputs
        eb = self.eb
        self.sample_code, self.step_code = (1 << (8 * eb)) - 2, (1 << (8 * eb)) - 1
        self.count_field = self.core.state_layout["count"]
        self.depths = _mem_depths(self.core)

    # ---- registers and the logic beside the FSM -------------------------------------------------

    def frame_registers(self):
        """The frame buffer, the receive and transmit CRCs, and what RECV and HEADER keep of the
        frame (protocol section 1: seq, op, length byte; then the body's first 8 bytes)."""
        m = self.m
        buf = memory.Memory(shape=8, depth=MAX_FRAME, init=[])
        m.submodules.buf = buf
        self.buf_wr, self.buf_rd = buf.write_port(), buf.read_port(transparent_for=())
        # CRC-16/GENIBUS (chip.protocol.crc16): its register is 0 after a whole frame of version
        # 2's CRC-16/CCITT-FALSE (the same without final XOR), which the version probe uses
        m.submodules.rx_crc = self.rx_crc = crc.catalog.CRC16_GENIBUS(data_width=8).create()
        m.submodules.tx_crc = self.tx_crc = crc.catalog.CRC16_GENIBUS(data_width=8).create()

        self.length = Signal(16)             # decoded bytes of the frame, saturating
        self.seq, self.op = Signal(8, name="seq"), Signal(8, name="op")
        self.cobs_error = Signal(name="cobs_error")
        self.length_byte = Signal(8)         # the frame's own body length
        self.legacy = Signal()               # answering the version probe (version 2's framing)
        self.expected = Signal(8, init=FIRST_SEQ)
        self.body_len = Signal(16)
        m.d.comb += self.body_len.eq(self.length - MIN_FRAME)
        self.hdr = Signal(64)                 # body bytes 0..7, little-endian
        self.hdr_i = Signal(range(9))

    def status_counters(self):
        """The counters STATUS reports (protocol section 3, STATUS), cleared by RESET."""
        m = self.m
        # the engine's counters in a block RAM (rtl/counters.py), bytes 3 .. 32 of the reply in its
        # order; the UART's two, which count on their own clock of events, in registers
        engine_counters = (("frames", 4), ("events", 4), ("samples", 4), ("learns", 4),
                           ("crc", 2), ("cobs", 2), ("length", 2), ("op", 2), ("arg", 2),
                           ("seq", 2), ("state", 2))
        m.submodules.counters = counters = Counters([w for _, w in engine_counters])
        self.counters = counters
        self.bump = {name: counters.bump[k] for k, (name, _) in enumerate(engine_counters)}
        self.counters_at = 3                 # STATUS byte of the first counter byte
        self.clear_counters = Signal()
        m.d.comb += counters.clear.eq(self.clear_counters)
        uart_count = {name: Signal(16, name=f"n_{name}") for name in ("overrun", "framing")}
        self.uart_count = uart_count
        with m.If(self.clear_counters):
            m.d.sync += [c.eq(0) for c in uart_count.values()]
        with m.Else():
            with m.If(self.link.rx_overrun):
                m.d.sync += uart_count["overrun"].eq(uart_count["overrun"] + 1)
            with m.If(self.link.rx_framing):
                m.d.sync += uart_count["framing"].eq(uart_count["framing"] + 1)

    def spike_bitmaps(self):
        """The sample's bookkeeping, committed and scratch (protocol section 3, EVENTS: a
        rejected frame changes nothing, so the pre-pass checks against scratch copies): the step
        counter, the learned flag and which inputs spiked in the open step."""
        m, cfg, n_in = self.m, self.cfg, self.n_in
        self.steps = Signal(range(cfg.n_steps + 1))
        self.steps_s = Signal(range(cfg.n_steps + 1))
        # inputs spiked in the open step, committed and scratch: two one-bit block RAMs (as
        # flip-flops, n_inputs each, with their decoders: about 300 of the UP5K's logic cells),
        # copied, cleared and committed by whole passes of one entry per clock (`bitmap_pass`)
        self.jbits = max(1, (n_in - 1).bit_length())
        # (yosys would build 64 bits from flip-flops unless told: "block")
        seen = {name: memory.Memory(shape=1, depth=max(2, n_in), init=[],
                                    attrs={"ram_style": "block"})
                for name in ("c", "s")}
        m.submodules.seen_committed, m.submodules.seen_scratch = seen["c"], seen["s"]
        self.seen_rd = {k: mem.read_port() for k, mem in seen.items()}
        self.seen_wr = {k: mem.write_port() for k, mem in seen.items()}
        for port in (*self.seen_rd.values(), *self.seen_wr.values()):
            m.d.comb += port.en.eq(0)
        self.pass_op = Signal(2)        # what the running pass does (_SCRATCH_FROM_COMMITTED ...)
        self.pass_j = Signal(range(max(2, n_in + 1)))
        self.pass_busy = Signal()
        self.pass_start = Signal()
        self.pass_kind = Signal(2)
        self.copy_lag = Signal()             # a copy's read of the entry before is under way
        self._bitmap_passes()
        self.learned, self.learned_s = Signal(name="learned"), Signal(name="learned_s")
        # an error reply since RESET (the `error` LED); made here to keep the signal order
        self.error_seen = Signal()

    def _bitmap_passes(self):
        """The running pass over the bitmaps (started by :meth:`bitmap_pass`): one entry a clock."""
        m, n_in = self.m, self.n_in
        seen_rd, seen_wr = self.seen_rd, self.seen_wr
        pass_op, pass_j, pass_busy = self.pass_op, self.pass_j, self.pass_busy
        with m.If(self.pass_start):
            m.d.sync += [pass_op.eq(self.pass_kind), pass_j.eq(0), pass_busy.eq(1),
                         self.copy_lag.eq(0)]
        with m.Elif(pass_busy):
            is_copy = (pass_op == _SCRATCH_FROM_COMMITTED) | (pass_op == _COMMIT)
            with m.If(is_copy):
                # read entry j, write entry j - 1 with the word read the clock before
                with m.If(pass_j < n_in):
                    m.d.comb += [seen_rd["c"].en.eq(pass_op == _SCRATCH_FROM_COMMITTED),
                                 seen_rd["s"].en.eq(pass_op == _COMMIT),
                                 seen_rd["c"].addr.eq(pass_j), seen_rd["s"].addr.eq(pass_j)]
                with m.If(self.copy_lag):
                    with m.If(pass_op == _COMMIT):
                        m.d.comb += [seen_wr["c"].en.eq(1), seen_wr["c"].addr.eq(pass_j - 1),
                                     seen_wr["c"].data.eq(seen_rd["s"].data)]
                    with m.Else():
                        m.d.comb += [seen_wr["s"].en.eq(1), seen_wr["s"].addr.eq(pass_j - 1),
                                     seen_wr["s"].data.eq(seen_rd["c"].data)]
                m.d.sync += [self.copy_lag.eq(1), pass_j.eq(pass_j + 1)]
                with m.If(pass_j == n_in):
                    m.d.sync += pass_busy.eq(0)
            with m.Else():                 # clear one bitmap
                m.d.comb += [seen_wr["c"].en.eq(pass_op == _CLEAR_COMMITTED),
                             seen_wr["s"].en.eq(pass_op == _CLEAR_SCRATCH),
                             seen_wr["c"].addr.eq(pass_j), seen_wr["s"].addr.eq(pass_j),
                             seen_wr["c"].data.eq(0), seen_wr["s"].data.eq(0)]
                m.d.sync += pass_j.eq(pass_j + 1)
                with m.If(pass_j == n_in - 1):
                    m.d.sync += pass_busy.eq(0)

    def bitmap_pass(self, kind):
        """Statements (comb) that start a pass of ``kind`` (``_COMMIT`` ...) over the bitmaps."""
        return [self.pass_start.eq(1), self.pass_kind.eq(kind)]

    def reply_registers(self):
        """What a reply is made of (protocol section 1): its op and length byte, the source of
        its fixed part and the memory words after it."""
        core, wb = self.core, self.wb
        self.reply_op = Signal(8)
        self.reply_len = Signal(8)           # the reply's length byte
        # the reply's fixed part, byte snap_i of the source snap_src: read from its registers as
        # it goes out rather than copied into a shift register (iCE40 area: 312 flip-flops and
        # their load multiplexers). The sources hold still until the reply is sent: the engine
        # runs one request at a time, the core is idle, `frames` counts a request when its reply
        # ends, and the UART's two counters are copied when STATUS executes
        snap_bytes = max(len(self.link.identity), STATUS_BYTES, 4)
        self.snap_src = Signal(Snap)
        self.snap_i = Signal(range(snap_bytes))
        self.snap_left = Signal(range(snap_bytes + 1))
        self.uart_errors = Signal(32)        # rx_overruns, rx_framing when STATUS executed
        # memory-sourced reply bodies: READ words, output counts
        self.rd_mem = Signal(Mem)
        self.rd_addr = Signal(core.addr_width)
        self.rd_left = Signal(8)
        self.rd_counts = Signal()            # emit the count field (1 byte) instead of whole words
        self.rd_wait = Signal(range(max(core.READ_LATENCY, 2)))
        self.word = Signal(8 * wb)           # a WRITE word, assembled byte by byte
        self.byte_left = Signal(range(wb + 1))
        self.byte_i = Signal(range(wb))      # the READ word's byte on the wire
        self.wbyte = Signal(range(wb + 1))   # bytes of a WRITE word assembled
        self.after_body = Signal()           # a memory body follows the snapshot

    def request_registers(self):
        """The request's fields and the registers its execution steps through: the buffer's
        read pointer, event codes, WRITE words, the error a check found."""
        m, core, eb, wb = self.m, self.core, self.eb, self.wb
        hdr = self.hdr
        self.mem_f, self.addr_f, self.count_f = hdr[0:8], hdr[8:24], hdr[24:32]
        self.ptr = Signal(range(MAX_FRAME + 1))  # buffer read pointer
        self.code = Signal(8 * eb)
        self.code_i = Signal(8)
        self.code_b = Signal(range(eb + 1))
        self.n_codes, self.n_words = Signal(8, name="n_codes"), Signal(8, name="n_words")
        self.err_code, self.err_detail = Signal(8, name="err_code"), Signal(16, name="err_detail")
        self.wr_addr = Signal(core.addr_width)

        self.acc = acc = core.access
        self.read_bytes = Array(acc.rdata[8 * k:8 * k + 8] for k in range(wb))
        self.ev = core.events
        self.step8 = Signal(8)
        m.d.comb += self.step8.eq(core.step)

        self.flags_all = (1 << len(FLAG_NAMES)) - 1
        m.d.comb += [self.link.error.eq(self.error_seen | (core.flags != 0))]

    def fail(self, code_, detail, advance):
        """Statements (sync) that make the reply an ERROR (protocol section 4); ``advance``: the
        frame was intact and in sequence, so the expected seq advances."""
        stmts = [self.err_code.eq(code_), self.err_detail.eq(detail)]
        if advance:
            stmts.append(self.expected.eq(self.seq + 1))
        return stmts

    def reply_snapshot(self, source, n: int):
        """Statements (sync) that make the reply's fixed part ``n`` bytes of ``source`` (Snap)."""
        return [self.snap_src.eq(source), self.snap_i.eq(0), self.snap_left.eq(n)]

    def snapshot_source(self):
        """``snap_byte``: byte ``snap_i`` of the reply's fixed part, from the source ``snap_src``
        (IDENTIFY, STATUS, ERROR, EVENTS' step, RATES); ``snap_ok`` when it is the byte asked
        for (the block RAMs answer the clock after their address)."""
        m, core, counters = self.m, self.core, self.counters
        snap_i, counters_at = self.snap_i, self.counters_at
        # STATUS: bytes 0-2 and the UART's counters from registers, the rest from the counters'
        # block RAM, whose byte arrives the clock after its address (snap_ok: the one asked for)
        status_head = Cat(core.flags, Const(0, 16 - len(FLAG_NAMES)), self.step8)
        assert len(status_head) + 8 * counters.n_bytes + len(self.uart_errors) == 8 * STATUS_BYTES
        in_counters = (snap_i >= counters_at) & (snap_i < counters_at + counters.n_bytes)
        m.d.comb += counters.addr.eq(snap_i - counters_at)
        self.snap_ok = snap_ok = Signal()
        m.d.comb += snap_ok.eq(1)
        # IDENTIFY's bytes (68 with three layers) in a block RAM, read the clock after their
        # address like the counters (iCE40 area: as a multiplexer of constants the table cost
        # about 100 logic cells, the step from 96 % to 98 % of the UP5K)
        identity = self.link.identity
        id_rom = memory.Memory(shape=8, depth=len(identity), init=list(identity),
                               attrs={"ram_style": "block"})
        m.submodules.id_rom = id_rom
        id_rd = id_rom.read_port()
        id_at = Signal.like(snap_i)          # the address id_rd.data answers
        m.d.comb += id_rd.addr.eq(snap_i)
        m.d.sync += id_at.eq(snap_i)
        self.snap_byte = snap_byte = Signal(8)
        with m.Switch(self.snap_src):
            with m.Case(Snap.IDENTITY):
                m.d.comb += [snap_byte.eq(id_rd.data), snap_ok.eq(id_at == snap_i)]
            with m.Case(Snap.STATUS):
                tail = snap_i - (counters_at + counters.n_bytes)
                m.d.comb += snap_byte.eq(Mux(snap_i < counters_at,
                                             status_head.word_select(snap_i[:2], 8),
                                             Mux(in_counters, counters.data,
                                                 self.uart_errors.word_select(tail[:2], 8))))
                m.d.comb += snap_ok.eq(~in_counters
                                       | (counters.data_valid
                                          & (counters.data_addr == snap_i - counters_at)))
            with m.Case(Snap.ERROR):
                m.d.comb += snap_byte.eq(Cat(self.err_code, self.op, self.err_detail)
                                         .word_select(snap_i[:2], 8))
            with m.Case(Snap.STEP):
                m.d.comb += snap_byte.eq(self.step8)
            with m.Case(Snap.RATES):
                m.d.comb += snap_byte.eq(Mux(snap_i[0], core.rates_now.output,
                                             core.rates_now.hidden))

    def op_checks(self):
        """The checks of a request that need only its op and length (protocol section 3: each
        op's body), for VALIDATE: ``body_ok``, ``known_op``, and the words or codes it holds."""
        m, eb, wb, body_len = self.m, self.eb, self.wb, self.body_len
        # frame checks from op and length alone, registered: both are fixed from CHECK on and
        # HEADER takes 9 clocks before VALIDATE reads them (timing: at 50 MHz on the ECP5 the
        # length decode into VALIDATE's wide clock enables was a critical path)
        # (`_c`: the decode from op and length, the plain name: its register)
        self.body_ok, body_ok_c = Signal(name="body_ok"), Signal(name="body_ok_c")   # body valid
        self.write_words, write_words_c = (Signal(8, name="write_words"),
                                           Signal(8, name="write_words_c"))
        self.codes_of, codes_of_c = Signal(8, name="codes_of"), Signal(8, name="codes_of_c")
        self.known_op, known_op_c = Signal(name="known_op"), Signal(name="known_op_c")
        m.d.sync += [self.body_ok.eq(body_ok_c), self.write_words.eq(write_words_c),
                     self.codes_of.eq(codes_of_c), self.known_op.eq(known_op_c)]
        with m.Switch(self.op):
            with m.Case(Op.IDENTIFY, Op.RESET, Op.COUNTS, Op.STATUS):
                m.d.comb += body_ok_c.eq(body_len == 0)
            with m.Case(Op.READ):
                m.d.comb += body_ok_c.eq(body_len == 4)
            with m.Case(Op.LEARN):
                m.d.comb += body_ok_c.eq(body_len == 1)
            with m.Case(Op.SEEDS):
                m.d.comb += body_ok_c.eq(body_len == 8)
            with m.Case(Op.CLEAR):
                m.d.comb += body_ok_c.eq(body_len == 2)
            with m.Case(Op.RATES):          # empty: read the rates in force
                m.d.comb += body_ok_c.eq((body_len == 2) | (body_len == 0))
            with m.Case(Op.WRITE):
                with m.Switch(body_len):
                    for k in range(1, (MAX_BODY - 3) // wb + 1):
                        with m.Case(3 + k * wb):
                            m.d.comb += [body_ok_c.eq(1), write_words_c.eq(k)]
            with m.Case(Op.EVENTS):
                # whole codes, 1 .. MAX_BODY // eb of them; eb is a power of two (at most 2 up
                # to 65,534 inputs): a shift, not a case per length (iCE40 area)
                assert eb & (eb - 1) == 0, f"event codes of {eb} bytes"
                shift = eb.bit_length() - 1
                m.d.comb += [body_ok_c.eq((body_len != 0) & (body_len <= MAX_BODY // eb * eb)
                                          & (body_len[:shift] == 0 if shift else 1)),
                             codes_of_c.eq(body_len >> shift)]
        m.d.comb += known_op_c.eq((self.op >= Op.IDENTIFY) & (self.op <= Op.RATES))

    def range_checks(self):
        """The checks of READ's and WRITE's memory, address and count (protocol section 4), for
        VALIDATE, and the decoded event code."""
        m, wb, mem_f, addr_f, count_f = self.m, self.wb, self.mem_f, self.addr_f, self.count_f
        mem_depth = Signal(self.core.addr_width + 1)
        with m.Switch(mem_f):
            for mem, depth in self.depths.items():
                with m.Case(mem.value):
                    m.d.comb += mem_depth.eq(depth)
        self.mem_valid = mem_valid = Signal()
        m.d.comb += mem_valid.eq(mem_f <= max(mem.value for mem in self.depths))
        # READ/WRITE words past the memory's end: from the header, in RANGE and RANGE2 (timing:
        # on the UP5K at 98 % the sum and compare into VALIDATE's decisions missed 24 MHz)
        self.out_of_range = out_of_range = Signal()
        end_f, depth_f = Signal(len(addr_f) + 1), Signal.like(mem_depth)
        m.d.sync += [end_f.eq(addr_f + Mux(self.op == Op.WRITE, self.write_words, count_f)),
                     depth_f.eq(mem_depth), out_of_range.eq(end_f > depth_f)]
        self.read_count_ok = read_count_ok = Signal()
        m.d.comb += read_count_ok.eq((count_f >= 1) & (count_f <= MAX_BODY // wb))

        # decoded event code
        self.is_spike = is_spike = Signal()
        m.d.comb += is_spike.eq(self.code < self.n_in)

    # ---- the FSM "link", one method per group of states ---------------------------------------

    def receive_states(self):
        """RECV (the frame into the buffer), CHECK (the frame checks, protocol section 4: COBS,
        length, CRC; the version probe, section 1.1), HEADER (body bytes 0..7 into ``hdr``),
        RANGE and RANGE2."""
        m, link, length, rx_crc = self.m, self.link, self.length, self.rx_crc
        with m.State("RECV"):
            m.d.comb += [link.rx.ready.eq(1), link.idle.eq(~link.rx.valid & (length == 0))]
            with m.If(link.rx.valid):
                beat = link.rx.payload
                with m.If(beat.end):
                    # the decoder ends only non-empty wire chunks: "01 00" decodes to nothing
                    # and is a LENGTH error, while "00 00" never gets here
                    m.d.sync += self.cobs_error.eq(beat.error)
                    m.next = "CHECK"
                with m.Else():
                    m.d.comb += [self.buf_wr.en.eq(length < MAX_FRAME), self.buf_wr.addr.eq(length),
                                 self.buf_wr.data.eq(beat.data),
                                 rx_crc.valid.eq(1), rx_crc.start.eq(length == 0),
                                 rx_crc.data.eq(beat.data)]
                    with m.If(length != 0xFFFF):
                        m.d.sync += length.eq(length + 1)
                    with m.If(length == 0):
                        m.d.sync += self.seq.eq(beat.data)
                    with m.If(length == 1):
                        m.d.sync += self.op.eq(beat.data)
                    with m.If(length == 2):
                        m.d.sync += self.length_byte.eq(beat.data)

        with m.State("CHECK"):
            m.d.sync += [self.hdr_i.eq(0), self.ptr.eq(3)]
            with m.If(self.cobs_error):
                m.d.sync += self.fail(Error.COBS, 0, advance=False)
                m.next = "ERROR"
            with m.Elif((length == 4) & (self.op == Op.IDENTIFY) & (rx_crc.crc == 0xFFFF)):
                # the version probe: IDENTIFY in version 2's framing (CRC register 0)
                m.d.sync += [self.legacy.eq(1), self.expected.eq(self.seq + 1),
                             *self.reply_snapshot(Snap.IDENTITY, link.probe_bytes)]
                m.next = "DONE"
            with m.Elif((length < MIN_FRAME) | (length > MAX_FRAME)):
                m.d.sync += self.fail(Error.LENGTH, length, advance=False)
                m.next = "ERROR"
            with m.Elif(~rx_crc.match_detected):
                m.d.sync += self.fail(Error.CRC, 0, advance=False)
                m.next = "ERROR"
            with m.Elif(self.length_byte + MIN_FRAME != length):
                m.d.sync += self.fail(Error.LENGTH, length, advance=False)
                m.next = "ERROR"
            with m.Else():
                m.next = "HEADER"

        with m.State("HEADER"):      # body bytes 0..7 into hdr (the buffer reads one behind)
            m.d.comb += [self.buf_rd.en.eq(1), self.buf_rd.addr.eq(self.ptr)]
            m.d.sync += [self.ptr.eq(self.ptr + 1), self.hdr_i.eq(self.hdr_i + 1)]
            with m.If(self.hdr_i != 0):
                m.d.sync += self.hdr.eq(Cat(self.hdr[8:], self.buf_rd.data))
            with m.If(self.hdr_i == 8):
                m.next = "RANGE"
        with m.State("RANGE"):       # the header's range check, registered twice (timing)
            m.next = "RANGE2"
        with m.State("RANGE2"):
            m.next = "VALIDATE"

    def validate_state(self):
        """VALIDATE: seq, op and body length checked, then the op's own checks and its
        execution (protocol section 4: the checks in order, all before anything changes)."""
        m, op, seq = self.m, self.op, self.seq
        with m.State("VALIDATE"):
            sync_op = (op == Op.IDENTIFY) | (op == Op.RESET)
            m.d.sync += [self.ptr.eq(3), self.code_i.eq(0), self.code_b.eq(0)]
            with m.If(~sync_op & (seq != self.expected)):
                m.d.sync += self.fail(Error.SEQ, self.expected, advance=False)
                m.next = "ERROR"
            with m.Elif(~self.known_op):
                m.d.sync += self.fail(Error.OP, 0, advance=True)
                m.next = "ERROR"
            with m.Elif(~self.body_ok):
                # an intact frame with a body wrong for its op: advances, so IDENTIFY and
                # RESET resynchronise even so
                m.d.sync += self.fail(Error.LENGTH, self.length, advance=True)
                m.next = "ERROR"
            with m.Else():
                m.d.sync += self.expected.eq(seq + 1)
                with m.Switch(op):
                    with m.Case(Op.IDENTIFY):
                        m.d.sync += self.reply_snapshot(Snap.IDENTITY, len(self.link.identity))
                        m.next = "DONE"
                    with m.Case(Op.RESET):
                        self._execute_reset()
                    with m.Case(Op.READ, Op.WRITE):
                        self._execute_access()
                    with m.Case(Op.EVENTS):
                        m.d.sync += [self.n_codes.eq(self.codes_of), self.steps_s.eq(self.steps),
                                     self.learned_s.eq(self.learned)]
                        m.next = "PRE_START"
                    with m.Case(Op.LEARN):
                        self._execute_learn()
                    with m.Case(Op.COUNTS):
                        m.d.sync += self._counts_reply()
                        m.next = "DONE"
                    with m.Case(Op.STATUS):
                        m.d.sync += [*self.reply_snapshot(Snap.STATUS, STATUS_BYTES),
                                     self.uart_errors.eq(Cat(self.uart_count["overrun"],
                                                             self.uart_count["framing"]))]
                        m.next = "DONE"
                    with m.Case(Op.SEEDS):
                        self._execute_seeds()
                    with m.Case(Op.CLEAR):
                        m.d.comb += self.core.flags_clear.eq(self.hdr[0:len(FLAG_NAMES)])
                        m.d.sync += self.snap_left.eq(0)
                        m.next = "DONE"
                    with m.Case(Op.RATES):
                        self._execute_rates()

    def _counts_reply(self):
        """Statements (sync): the reply body is the output counts (Link._counts_reply)."""
        return self.link._counts_reply(self.rd_mem, self.rd_addr, self.rd_left, self.rd_counts,
                                       self.snap_left, self.after_body)

    def _execute_reset(self):
        """RESET (in VALIDATE): counters, flags and the sample's bookkeeping cleared; the core's
        fresh sample follows in state RESET."""
        m = self.m
        m.d.comb += [self.clear_counters.eq(1), self.core.flags_clear.eq(self.flags_all)]
        m.d.sync += [self.steps.eq(0), self.learned.eq(0), self.error_seen.eq(0),
                     self.snap_left.eq(0)]
        m.next = "RESET"

    def _execute_access(self):
        """READ and WRITE (in VALIDATE): the memory, count and range checks, then WRITE's words
        (states WRITE) or READ's reply body."""
        m, op, mem_f, addr_f, count_f = self.m, self.op, self.mem_f, self.addr_f, self.count_f
        is_write = op == Op.WRITE
        with m.If(~self.mem_valid):
            m.d.sync += self.fail(Error.ARG, 0, advance=True)
            m.next = "ERROR"
        with m.Elif(~is_write & ~self.read_count_ok):
            m.d.sync += self.fail(Error.ARG, 3, advance=True)
            m.next = "ERROR"
        with m.Elif(self.out_of_range):
            m.d.sync += self.fail(Error.ARG, 1, advance=True)
            m.next = "ERROR"
        with m.Elif(is_write & (mem_f == Mem.PERTURB.value)):
            m.d.sync += self.fail(Error.STATE, 0, advance=True)
            m.next = "ERROR"
        with m.Elif(is_write):
            m.d.sync += [self.n_words.eq(self.write_words), self.wr_addr.eq(addr_f),
                         self.ptr.eq(6), self.wbyte.eq(0), self.snap_left.eq(0)]
            m.next = "WRITE"
        with m.Else():
            m.d.sync += [self.rd_mem.as_value().eq(mem_f[:3]), self.rd_addr.eq(addr_f),
                         self.rd_left.eq(count_f), self.rd_counts.eq(0),
                         self.snap_left.eq(0), self.after_body.eq(1)]
            m.next = "DONE"

    def _execute_learn(self):
        """LEARN (in VALIDATE): a label in range, once, after the sample's last step; the
        learning sequence follows in states LEARN."""
        m = self.m
        with m.If(self.hdr[0:8] >= self.n_out):
            m.d.sync += self.fail(Error.ARG, 0, advance=True)
            m.next = "ERROR"
        with m.Elif((self.steps != self.cfg.n_steps) | self.learned):
            m.d.sync += self.fail(Error.STATE, 0, advance=True)
            m.next = "ERROR"
        with m.Else():
            m.d.comb += self.bump["learns"].eq(1)
            m.d.sync += self.learned.eq(1)
            m.next = "LEARN"

    def _execute_seeds(self):
        """SEEDS (in VALIDATE): both LFSR seeds non-zero, loaded into the core."""
        m, core, hdr = self.m, self.core, self.hdr
        with m.If(hdr[0:32] == 0):
            m.d.sync += self.fail(Error.ARG, 0, advance=True)
            m.next = "ERROR"
        with m.Elif(hdr[32:64] == 0):
            m.d.sync += self.fail(Error.ARG, 4, advance=True)
            m.next = "ERROR"
        with m.Else():
            m.d.comb += [core.seed.eq(hdr[0:32]), core.seed_load.eq(1),
                         core.round_seed.eq(hdr[32:64]),
                         core.round_seed_load.eq(1)]
            m.d.sync += self.snap_left.eq(0)
            m.next = "DONE"

    def _execute_rates(self):
        """RATES (in VALIDATE): the learning rates in force read, or set when both are in the
        range the configuration allows (Config.lr_shift_range)."""
        m, core, hdr, body_len = self.m, self.core, self.hdr, self.body_len
        hid_lo, hid_hi = self.cfg.lr_shift_range("lr_hidden_shift")
        out_lo, out_hi = self.cfg.lr_shift_range("lr_output_shift")
        with m.If(body_len[:2] == 0):     # read (body_ok: 0 or 2 bytes)
            m.d.sync += self.reply_snapshot(Snap.RATES, 2)
            m.next = "DONE"
        with m.Elif((hdr[0:8] < hid_lo) | (hdr[0:8] > hid_hi)):
            m.d.sync += self.fail(Error.ARG, 0, advance=True)
            m.next = "ERROR"
        with m.Elif((hdr[8:16] < out_lo) | (hdr[8:16] > out_hi)):
            m.d.sync += self.fail(Error.ARG, 1, advance=True)
            m.next = "ERROR"
        with m.Else():
            m.d.comb += [core.rates.hidden.eq(hdr[0:8]), core.rates.output.eq(hdr[8:16]),
                         core.rates_load.eq(1)]
            m.d.sync += self.reply_snapshot(Snap.RATES, 2)
            m.next = "DONE"

    def reset_state(self):
        """RESET: a fresh sample on the core."""
        m, ev = self.m, self.ev
        with m.State("RESET"):           # the core's SAMPLE, and no input spiked
            m.d.comb += [ev.valid.eq(~self.pass_busy), ev.payload.cmd.eq(Cmd.SAMPLE)]
            with m.If(ev.valid & ev.ready):
                m.d.comb += self.bitmap_pass(_CLEAR_COMMITTED)
                m.next = "WAIT"

    def write_states(self):
        """WRITE: assemble each word from the buffer, then one access write."""
        m, acc, word, wbyte = self.m, self.acc, self.word, self.wbyte
        with m.State("WRITE"):
            m.d.comb += [self.buf_rd.en.eq(1), self.buf_rd.addr.eq(self.ptr)]
            m.d.sync += [self.ptr.eq(self.ptr + 1), wbyte.eq(wbyte + 1)]
            m.next = "WRITE_BYTE"
        with m.State("WRITE_BYTE"):
            # bytes arrive little-endian: shift each new byte in at the top
            m.d.sync += word.eq(Cat(word[8:], self.buf_rd.data))
            with m.If(wbyte == self.wb):
                m.next = "WRITE_WORD"
            with m.Else():
                m.next = "WRITE"
        with m.State("WRITE_WORD"):
            m.d.comb += [acc.mem.as_value().eq(self.mem_f[:3]), acc.addr.eq(self.wr_addr),
                         acc.en.eq(1), acc.we.eq(1), acc.wdata.eq(word)]
            m.d.sync += [self.wr_addr.eq(self.wr_addr + 1), self.n_words.eq(self.n_words - 1),
                         wbyte.eq(0)]
            with m.If(self.n_words == 1):
                m.next = "DONE"
            with m.Else():
                m.next = "WRITE"

    def fetch_code(self, fetch, byte, then):
        """States ``fetch``/``byte``: the next event code from the buffer into ``code``
        (its bytes little-endian, two clocks each), then ``then``."""
        m, code, code_b, ptr = self.m, self.code, self.code_b, self.ptr
        with m.State(fetch):
            m.d.comb += [self.buf_rd.en.eq(1), self.buf_rd.addr.eq(ptr)]
            m.d.sync += [ptr.eq(ptr + 1), code_b.eq(code_b + 1)]
            m.next = byte
        with m.State(byte):
            m.d.sync += code.eq(Cat(code[8:], self.buf_rd.data) if self.eb > 1
                                else self.buf_rd.data)
            with m.If(code_b == self.eb):
                m.next = then
            with m.Else():
                m.next = fetch

    def events_prepass_states(self):
        """EVENTS pre-pass: every code checked against scratch copies of the step counter, the
        learned flag and the spike bitmap (protocol section 4: codes in order, the first bad one
        answers, and a rejected frame changes nothing)."""
        m, code, code_i = self.m, self.code, self.code_i
        seen_rd, seen_wr = self.seen_rd, self.seen_wr
        with m.State("PRE_START"):       # scratch bitmap = committed (after any pass)
            with m.If(~self.pass_busy):
                m.d.comb += self.bitmap_pass(_SCRATCH_FROM_COMMITTED)
                m.next = "PRE_FETCH"
        self.fetch_code("PRE_FETCH", "PRE_BYTE", "PRE_LOOK")
        with m.State("PRE_LOOK"):        # the code's scratch bit, once a pass has ended
            with m.If(~self.pass_busy):
                m.d.comb += [seen_rd["s"].en.eq(1), seen_rd["s"].addr.eq(code[:self.jbits])]
                m.next = "PRE_CHECK"
        with m.State("PRE_CHECK"):
            m.d.sync += [self.code_b.eq(0), code_i.eq(code_i + 1)]
            bad_state, bad_arg = Signal(name="bad_state"), Signal(name="bad_arg")
            steps_s, n_steps = self.steps_s, self.cfg.n_steps
            with m.If(self.is_spike):
                m.d.comb += [bad_state.eq((steps_s == n_steps) | seen_rd["s"].data),
                             seen_wr["s"].en.eq(1), seen_wr["s"].addr.eq(code[:self.jbits]),
                             seen_wr["s"].data.eq(1)]
            with m.Elif(code == self.sample_code):
                m.d.comb += self.bitmap_pass(_CLEAR_SCRATCH)
                m.d.sync += [steps_s.eq(0), self.learned_s.eq(0)]
            with m.Elif(code == self.step_code):
                m.d.comb += [bad_state.eq(steps_s == n_steps), self.bitmap_pass(_CLEAR_SCRATCH)]
                m.d.sync += steps_s.eq(steps_s + 1)
            with m.Else():
                m.d.comb += bad_arg.eq(1)
            # scratch state is thrown away on an error: the committed copies are untouched
            with m.If(bad_state):
                m.d.sync += self.fail(Error.STATE, code_i, advance=True)
                m.next = "ERROR"
            with m.Elif(bad_arg):
                m.d.sync += self.fail(Error.ARG, code_i * self.eb, advance=True)
                m.next = "ERROR"
            with m.Elif(code_i + 1 == self.n_codes):
                m.next = "EXEC_START"
            with m.Else():
                m.next = "PRE_FETCH"

    def events_exec_states(self):
        """EVENTS execution: the scratch state committed, then each code to the core's events
        stream, then the reply once the core is idle."""
        m, code, code_i, code_b, ev = self.m, self.code, self.code_i, self.code_b, self.ev
        with m.State("EXEC_START"):      # commit: the scratch state is the open step's
            with m.If(~self.pass_busy):
                m.d.comb += self.bitmap_pass(_COMMIT)
                m.d.sync += [self.steps.eq(self.steps_s), self.learned.eq(self.learned_s),
                             self.ptr.eq(3), code_i.eq(0), code_b.eq(0)]
                m.next = "EXEC_FETCH"
        self.fetch_code("EXEC_FETCH", "EXEC_BYTE", "EXEC_ISSUE")
        with m.State("EXEC_ISSUE"):
            # one code per counter update (rtl/counters.py: a count bumped twice before it is
            # served would count once)
            m.d.comb += [ev.valid.eq(~self.counters.busy),
                         ev.payload.cmd.eq(Mux(self.is_spike, Cmd.SPIKE,
                                               Mux(code == self.sample_code,
                                                   Cmd.SAMPLE, Cmd.STEP))),
                         ev.payload.addr.eq(code)]
            with m.If(ev.valid & ev.ready):
                m.d.sync += [code_b.eq(0), code_i.eq(code_i + 1)]
                with m.If(self.is_spike):
                    m.d.comb += self.bump["events"].eq(1)
                with m.If(code == self.sample_code):
                    m.d.comb += self.bump["samples"].eq(1)
                with m.If(code_i + 1 == self.n_codes):
                    m.d.sync += self.snap_left.eq(1)
                    m.next = "EVENTS_WAIT"
                with m.Else():
                    m.next = "EXEC_FETCH"
        with m.State("EVENTS_WAIT"):        # a STEP/SAMPLE raises busy the cycle after
            m.next = "EVENTS_IDLE"
        with m.State("EVENTS_IDLE"):
            with m.If(~self.core.busy):
                m.d.sync += self.reply_snapshot(Snap.STEP, 1)
                m.next = "DONE"

    def learn_states(self):
        """LEARN: the core's learning sequence for the label, then the output counts reply."""
        m, ev, learning = self.m, self.ev, self.link.learning
        with m.State("LEARN"):
            m.d.comb += [learning.eq(1), ev.valid.eq(1), ev.payload.cmd.eq(Cmd.LEARN),
                         ev.payload.addr.eq(self.hdr[0:8])]
            with m.If(ev.ready):
                m.next = "LEARN_SETTLE"
        with m.State("LEARN_SETTLE"):      # busy rises the cycle after the transfer
            m.d.comb += learning.eq(1)
            m.next = "LEARN_WAIT"
        with m.State("LEARN_WAIT"):
            m.d.comb += learning.eq(1)
            with m.If(~self.core.busy):
                m.d.sync += self._counts_reply()
                m.next = "DONE"

    def wait_states(self):
        """WAIT: RESET's sample on the core, the counters and the bitmap pass all done."""
        m = self.m
        with m.State("WAIT"):
            m.next = "WAIT_IDLE"
        with m.State("WAIT_IDLE"):
            with m.If(~self.core.busy & ~self.counters.busy & ~self.pass_busy):
                m.d.sync += self.snap_left.eq(0)
                m.next = "DONE"

    # ---- replies (protocol section 1): seq, op, length byte, fixed part, memory words, CRC ----

    def _tx_crc_feed(self):
        tx, tx_crc = self.link.tx, self.tx_crc
        return [tx_crc.valid.eq(tx.valid & tx.ready), tx_crc.data.eq(tx.payload.data)]

    def reply_head_states(self):
        """ERROR and DONE (the reply's op and length byte), then R_SEQ, R_OP, R_LEN and R_SNAP
        (the fixed part)."""
        m, tx = self.m, self.link.tx
        with m.State("ERROR"):
            m.d.sync += [self.reply_op.eq(Op.ERROR), self.error_seen.eq(1), self.reply_len.eq(4),
                         *self.reply_snapshot(Snap.ERROR, 4), self.after_body.eq(0)]
            with m.Switch(self.err_code):
                for k, name in enumerate(("crc", "cobs", "length", "op", "arg", "seq", "state"), 1):
                    with m.Case(k):
                        m.d.comb += self.bump[name].eq(1)
            m.next = "R_SEQ"
        with m.State("DONE"):
            words_len = Mux(self.rd_counts, self.rd_left, self.rd_left * self.wb)
            m.d.sync += [self.reply_op.eq(self.op | REPLY),
                         self.reply_len.eq(self.snap_left + Mux(self.after_body, words_len, 0))]
            m.next = "R_SEQ"

        with m.State("R_SEQ"):
            m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(self.seq), *self._tx_crc_feed(),
                         self.tx_crc.start.eq(1)]
            with m.If(tx.ready):
                m.next = "R_OP"
        with m.State("R_OP"):
            m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(self.reply_op), *self._tx_crc_feed()]
            with m.If(tx.ready):
                with m.If(self.legacy):           # version 2's framing: no length byte
                    m.next = "R_SNAP"
                with m.Else():
                    m.next = "R_LEN"
        with m.State("R_LEN"):
            m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(self.reply_len), *self._tx_crc_feed()]
            with m.If(tx.ready):
                m.next = "R_SNAP"
        with m.State("R_SNAP"):
            with m.If(self.snap_left != 0):
                m.d.comb += [tx.valid.eq(self.snap_ok), tx.payload.data.eq(self.snap_byte),
                             *self._tx_crc_feed()]
                with m.If(tx.valid & tx.ready):
                    m.d.sync += [self.snap_i.eq(self.snap_i + 1),
                                 self.snap_left.eq(self.snap_left - 1)]
            with m.Elif(self.after_body & (self.rd_left != 0)):
                m.next = "R_READ"
            with m.Else():
                m.next = "R_CRC_HI"

    def reply_body_states(self):
        """R_READ, R_WAIT, R_LATCH and R_WORD: the reply's memory words (READ) or output counts
        (LEARN, COUNTS), read through the core's access port."""
        m, core, tx, acc, wb = self.m, self.core, self.link.tx, self.acc, self.wb
        rd_left, rd_wait, rd_counts = self.rd_left, self.rd_wait, self.rd_counts
        byte_i, byte_left, word = self.byte_i, self.byte_left, self.word
        with m.State("R_READ"):
            m.d.comb += [acc.mem.eq(self.rd_mem), acc.addr.eq(self.rd_addr), acc.en.eq(1)]
            m.d.sync += [self.rd_addr.eq(self.rd_addr + 1), rd_left.eq(rd_left - 1),
                         rd_wait.eq(0)]
            m.next = "R_WAIT" if core.READ_LATENCY > 1 else "R_LATCH"
        with m.State("R_WAIT"):         # the core's read latency (Core.READ_LATENCY)
            m.d.sync += rd_wait.eq(rd_wait + 1)
            with m.If(rd_wait == core.READ_LATENCY - 2):
                m.next = "R_LATCH"
        count_byte = acc.rdata[self.count_field.offset:][:self.cfg.count_bits]
        with m.State("R_LATCH"):
            m.d.sync += [byte_i.eq(0), byte_left.eq(Mux(rd_counts, 1, wb))]
            if not core.READ_HOLDS:   # copy the word: the port's rdata is gone next clock
                m.d.sync += word.eq(Mux(rd_counts, count_byte, acc.rdata))
            m.next = "R_WORD"
        with m.State("R_WORD"):
            if core.READ_HOLDS:
                # the word's bytes straight from the access port, which holds them until the
                # next read (iCE40 area: no 96-bit copy and its multiplexers)
                byte = Mux(rd_counts, count_byte, self.read_bytes[byte_i])
            else:
                byte = word.word_select(byte_i, 8)
            m.d.comb += [tx.valid.eq(1), *self._tx_crc_feed(), tx.payload.data.eq(byte)]
            with m.If(tx.ready):
                m.d.sync += [byte_i.eq(byte_i + 1), byte_left.eq(byte_left - 1)]
                with m.If(byte_left == 1):
                    with m.If(rd_left != 0):
                        m.next = "R_READ"
                    with m.Else():
                        m.next = "R_CRC_HI"

    def reply_crc_states(self):
        """R_CRC_HI and R_CRC_LO: the reply's CRC, then the engine ready for the next frame."""
        m, tx = self.m, self.link.tx
        # version 2's CRC (the probe's answer) is the register without the final XOR
        crc_out = self.tx_crc.crc ^ Mux(self.legacy, 0xFFFF, 0)
        with m.State("R_CRC_HI"):
            m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(crc_out[8:])]
            with m.If(tx.ready):
                m.next = "R_CRC_LO"
        with m.State("R_CRC_LO"):
            m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(crc_out[:8]),
                         tx.payload.last.eq(1)]
            with m.If(tx.ready):
                m.d.sync += [self.length.eq(0), self.seq.eq(0), self.op.eq(0),
                             self.after_body.eq(0), self.legacy.eq(0)]
                with m.If(self.reply_op != Op.ERROR):     # a request executed (protocol 3)
                    m.d.comb += self.bump["frames"].eq(1)
                m.next = "RECV"
