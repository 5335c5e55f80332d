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
        cfg, core = self._config, self.core
        m.submodules.core = core
        wb, eb = self.word_bytes, self.event_bytes
        n_in, n_out = cfg.n_inputs, cfg.n_outputs
        sample_code, step_code = (1 << (8 * eb)) - 2, (1 << (8 * eb)) - 1
        count_field = core.state_layout["count"]
        depths = _mem_depths(core)

        # ---- frame buffer and the receive CRC --------------------------------------------------
        buf = memory.Memory(shape=8, depth=MAX_FRAME, init=[])
        m.submodules.buf = buf
        buf_wr, buf_rd = buf.write_port(), buf.read_port(transparent_for=())
        # CRC-16/GENIBUS (chip.protocol.crc16): its register is 0 after a whole frame of version
        # 2's CRC-16/CCITT-FALSE (the same without final XOR), which the version probe uses
        m.submodules.rx_crc = rx_crc = crc.catalog.CRC16_GENIBUS(data_width=8).create()
        m.submodules.tx_crc = tx_crc = crc.catalog.CRC16_GENIBUS(data_width=8).create()

        length = Signal(16)             # decoded bytes of the frame, saturating
        seq, op, cobs_error = Signal(8, name="seq"), Signal(8, name="op"), Signal(name="cobs_error")
        length_byte = Signal(8)         # the frame's own body length
        legacy = Signal()               # answering the version probe (version 2's framing)
        expected = Signal(8, init=FIRST_SEQ)
        body_len = Signal(16)
        m.d.comb += body_len.eq(length - MIN_FRAME)
        hdr = Signal(64)                 # body bytes 0..7, little-endian
        hdr_i = Signal(range(9))

        # ---- counters (STATUS) -----------------------------------------------------------------
        # the engine's counters in a block RAM (rtl/counters.py), bytes 3 .. 32 of the reply in its
        # order; the UART's two, which count on their own clock of events, in registers
        engine_counters = (("frames", 4), ("events", 4), ("samples", 4), ("learns", 4),
                           ("crc", 2), ("cobs", 2), ("length", 2), ("op", 2), ("arg", 2),
                           ("seq", 2), ("state", 2))
        m.submodules.counters = counters = Counters([w for _, w in engine_counters])
        bump = {name: counters.bump[k] for k, (name, _) in enumerate(engine_counters)}
        counters_at = 3                    # STATUS byte of the first counter byte
        clear_counters = Signal()
        m.d.comb += counters.clear.eq(clear_counters)
        uart_count = {name: Signal(16, name=f"n_{name}") for name in ("overrun", "framing")}
        with m.If(clear_counters):
            m.d.sync += [c.eq(0) for c in uart_count.values()]
        with m.Else():
            with m.If(self.rx_overrun):
                m.d.sync += uart_count["overrun"].eq(uart_count["overrun"] + 1)
            with m.If(self.rx_framing):
                m.d.sync += uart_count["framing"].eq(uart_count["framing"] + 1)

        # ---- sample bookkeeping: committed and scratch (EVENTS pre-pass) -----------------------
        steps = Signal(range(cfg.n_steps + 1))
        steps_s = Signal(range(cfg.n_steps + 1))
        # inputs spiked in the open step, committed and scratch: two one-bit block RAMs (as
        # flip-flops, n_inputs each, with their decoders: about 300 of the UP5K's logic cells),
        # copied, cleared and committed by whole passes of one entry per clock (`bitmap_pass`)
        jbits = max(1, (n_in - 1).bit_length())
        # (yosys would build 64 bits from flip-flops unless told: "block")
        seen = {name: memory.Memory(shape=1, depth=max(2, n_in), init=[], attrs={"ram_style": "block"})
                for name in ("c", "s")}
        m.submodules.seen_committed, m.submodules.seen_scratch = seen["c"], seen["s"]
        seen_rd = {k: mem.read_port() for k, mem in seen.items()}
        seen_wr = {k: mem.write_port() for k, mem in seen.items()}
        for port in (*seen_rd.values(), *seen_wr.values()):
            m.d.comb += port.en.eq(0)
        pass_op = Signal(2)               # what the running pass does (_SCRATCH_FROM_COMMITTED ...)
        pass_j = Signal(range(max(2, n_in + 1)))
        pass_busy = Signal()
        pass_start = Signal()
        pass_kind = Signal(2)
        copy_lag = Signal()               # a copy's read of the entry before is under way
        with m.If(pass_start):
            m.d.sync += [pass_op.eq(pass_kind), pass_j.eq(0), pass_busy.eq(1), copy_lag.eq(0)]
        with m.Elif(pass_busy):
            is_copy = (pass_op == _SCRATCH_FROM_COMMITTED) | (pass_op == _COMMIT)
            with m.If(is_copy):
                # read entry j, write entry j - 1 with the word read the clock before
                with m.If(pass_j < n_in):
                    m.d.comb += [seen_rd["c"].en.eq(pass_op == _SCRATCH_FROM_COMMITTED),
                                 seen_rd["s"].en.eq(pass_op == _COMMIT),
                                 seen_rd["c"].addr.eq(pass_j), seen_rd["s"].addr.eq(pass_j)]
                with m.If(copy_lag):
                    with m.If(pass_op == _COMMIT):
                        m.d.comb += [seen_wr["c"].en.eq(1), seen_wr["c"].addr.eq(pass_j - 1),
                                     seen_wr["c"].data.eq(seen_rd["s"].data)]
                    with m.Else():
                        m.d.comb += [seen_wr["s"].en.eq(1), seen_wr["s"].addr.eq(pass_j - 1),
                                     seen_wr["s"].data.eq(seen_rd["c"].data)]
                m.d.sync += [copy_lag.eq(1), pass_j.eq(pass_j + 1)]
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

        def bitmap_pass(kind):
            return [pass_start.eq(1), pass_kind.eq(kind)]
        learned, learned_s = Signal(name="learned"), Signal(name="learned_s")
        error_seen = Signal()

        # ---- reply -----------------------------------------------------------------------------
        reply_op = Signal(8)
        reply_len = Signal(8)              # the reply's length byte
        # the reply's fixed part, byte snap_i of the source snap_src: read from its registers as
        # it goes out rather than copied into a shift register (iCE40 area: 312 flip-flops and
        # their load multiplexers). The sources hold still until the reply is sent: the engine
        # runs one request at a time, the core is idle, `frames` counts a request when its reply
        # ends, and the UART's two counters are copied when STATUS executes
        snap_bytes = max(len(self.identity), STATUS_BYTES, 4)
        snap_src = Signal(Snap)
        snap_i = Signal(range(snap_bytes))
        snap_left = Signal(range(snap_bytes + 1))
        uart_errors = Signal(32)           # rx_overruns, rx_framing when STATUS executed
        # memory-sourced reply bodies: READ words, output counts
        rd_mem = Signal(Mem)
        rd_addr = Signal(core.addr_width)
        rd_left = Signal(8)
        rd_counts = Signal()              # emit the count field (1 byte) instead of whole words
        rd_wait = Signal(range(max(core.READ_LATENCY, 2)))
        word = Signal(8 * wb)             # a WRITE word, assembled byte by byte
        byte_left = Signal(range(wb + 1))
        byte_i = Signal(range(wb))        # the READ word's byte on the wire
        wbyte = Signal(range(wb + 1))     # bytes of a WRITE word assembled
        after_body = Signal()             # a memory body follows the snapshot

        # ---- requests ---------------------------------------------------------------------------
        mem_f, addr_f, count_f = hdr[0:8], hdr[8:24], hdr[24:32]
        ptr = Signal(range(MAX_FRAME + 1))     # buffer read pointer
        code = Signal(8 * eb)
        code_i = Signal(8)
        code_b = Signal(range(eb + 1))
        n_codes, n_words = Signal(8, name="n_codes"), Signal(8, name="n_words")
        err_code, err_detail = Signal(8, name="err_code"), Signal(16, name="err_detail")
        wr_addr = Signal(core.addr_width)

        acc = core.access
        read_bytes = Array(acc.rdata[8 * k:8 * k + 8] for k in range(wb))
        ev = core.events
        step8 = Signal(8)
        m.d.comb += step8.eq(core.step)

        flags_all = (1 << len(FLAG_NAMES)) - 1
        m.d.comb += [self.error.eq(error_seen | (core.flags != 0))]

        def fail(code_, detail, advance):
            stmts = [err_code.eq(code_), err_detail.eq(detail)]
            if advance:
                stmts.append(expected.eq(seq + 1))
            return stmts

        def reply_snapshot(source, n: int):
            return [snap_src.eq(source), snap_i.eq(0), snap_left.eq(n)]

        # STATUS: bytes 0-2 and the UART's counters from registers, the rest from the counters'
        # block RAM, whose byte arrives the clock after its address (snap_ok: the one asked for)
        status_head = Cat(core.flags, Const(0, 16 - len(FLAG_NAMES)), step8)
        assert len(status_head) + 8 * counters.n_bytes + len(uart_errors) == 8 * STATUS_BYTES
        in_counters = (snap_i >= counters_at) & (snap_i < counters_at + counters.n_bytes)
        m.d.comb += counters.addr.eq(snap_i - counters_at)
        snap_ok = Signal()
        m.d.comb += snap_ok.eq(1)
        # IDENTIFY's bytes (68 with three layers) in a block RAM, read the clock after their
        # address like the counters (iCE40 area: as a multiplexer of constants the table cost
        # about 100 logic cells, the step from 96 % to 98 % of the UP5K)
        id_rom = memory.Memory(shape=8, depth=len(self.identity), init=list(self.identity),
                               attrs={"ram_style": "block"})
        m.submodules.id_rom = id_rom
        id_rd = id_rom.read_port()
        id_at = Signal.like(snap_i)          # the address id_rd.data answers
        m.d.comb += id_rd.addr.eq(snap_i)
        m.d.sync += id_at.eq(snap_i)
        snap_byte = Signal(8)
        with m.Switch(snap_src):
            with m.Case(Snap.IDENTITY):
                m.d.comb += [snap_byte.eq(id_rd.data), snap_ok.eq(id_at == snap_i)]
            with m.Case(Snap.STATUS):
                tail = snap_i - (counters_at + counters.n_bytes)
                m.d.comb += snap_byte.eq(Mux(snap_i < counters_at, status_head.word_select(snap_i[:2], 8),
                                             Mux(in_counters, counters.data,
                                                 uart_errors.word_select(tail[:2], 8))))
                m.d.comb += snap_ok.eq(~in_counters | (counters.data_valid
                                                        & (counters.data_addr == snap_i - counters_at)))
            with m.Case(Snap.ERROR):
                m.d.comb += snap_byte.eq(Cat(err_code, op, err_detail).word_select(snap_i[:2], 8))
            with m.Case(Snap.STEP):
                m.d.comb += snap_byte.eq(step8)
            with m.Case(Snap.RATES):
                m.d.comb += snap_byte.eq(Mux(snap_i[0], core.rates_now.output, core.rates_now.hidden))

        # frame checks from op and length alone, registered: both are fixed from CHECK on and
        # HEADER takes 9 clocks before VALIDATE reads them (timing: at 50 MHz on the ECP5 the
        # length decode into VALIDATE's wide clock enables was a critical path)
        body_ok, body_ok_c = Signal(name="body_ok"), Signal(name="body_ok_c")   # body length valid
        write_words, write_words_c = Signal(8, name="write_words"), Signal(8, name="write_words_c")
        codes_of, codes_of_c = Signal(8, name="codes_of"), Signal(8, name="codes_of_c")
        known_op, known_op_c = Signal(name="known_op"), Signal(name="known_op_c")
        m.d.sync += [body_ok.eq(body_ok_c), write_words.eq(write_words_c), codes_of.eq(codes_of_c),
                     known_op.eq(known_op_c)]
        with m.Switch(op):
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
        m.d.comb += known_op_c.eq((op >= Op.IDENTIFY) & (op <= Op.RATES))
        hid_lo, hid_hi = cfg.lr_shift_range("lr_hidden_shift")
        out_lo, out_hi = cfg.lr_shift_range("lr_output_shift")

        mem_depth = Signal(core.addr_width + 1)
        with m.Switch(mem_f):
            for mem, depth in depths.items():
                with m.Case(mem.value):
                    m.d.comb += mem_depth.eq(depth)
        mem_valid = Signal()
        m.d.comb += mem_valid.eq(mem_f <= max(mem.value for mem in depths))
        # READ/WRITE words past the memory's end: from the header, in RANGE and RANGE2 (timing:
        # on the UP5K at 98 % the sum and compare into VALIDATE's decisions missed 24 MHz)
        out_of_range = Signal()
        end_f, depth_f = Signal(len(addr_f) + 1), Signal.like(mem_depth)
        m.d.sync += [end_f.eq(addr_f + Mux(op == Op.WRITE, write_words, count_f)),
                     depth_f.eq(mem_depth), out_of_range.eq(end_f > depth_f)]
        read_count_ok = Signal()
        m.d.comb += read_count_ok.eq((count_f >= 1) & (count_f <= MAX_BODY // wb))

        # decoded event code
        is_spike = Signal()
        m.d.comb += is_spike.eq(code < n_in)

        with m.FSM(name="link"):
            with m.State("RECV"):
                m.d.comb += [self.rx.ready.eq(1), self.idle.eq(~self.rx.valid & (length == 0))]
                with m.If(self.rx.valid):
                    beat = self.rx.payload
                    with m.If(beat.end):
                        # the decoder ends only non-empty wire chunks: "01 00" decodes to nothing
                        # and is a LENGTH error, while "00 00" never gets here
                        m.d.sync += cobs_error.eq(beat.error)
                        m.next = "CHECK"
                    with m.Else():
                        m.d.comb += [buf_wr.en.eq(length < MAX_FRAME), buf_wr.addr.eq(length),
                                     buf_wr.data.eq(beat.data),
                                     rx_crc.valid.eq(1), rx_crc.start.eq(length == 0),
                                     rx_crc.data.eq(beat.data)]
                        with m.If(length != 0xFFFF):
                            m.d.sync += length.eq(length + 1)
                        with m.If(length == 0):
                            m.d.sync += seq.eq(beat.data)
                        with m.If(length == 1):
                            m.d.sync += op.eq(beat.data)
                        with m.If(length == 2):
                            m.d.sync += length_byte.eq(beat.data)

            with m.State("CHECK"):
                m.d.sync += [hdr_i.eq(0), ptr.eq(3)]
                with m.If(cobs_error):
                    m.d.sync += fail(Error.COBS, 0, advance=False)
                    m.next = "ERROR"
                with m.Elif((length == 4) & (op == Op.IDENTIFY) & (rx_crc.crc == 0xFFFF)):
                    # the version probe: IDENTIFY in version 2's framing (CRC register 0)
                    m.d.sync += [legacy.eq(1), expected.eq(seq + 1),
                                 *reply_snapshot(Snap.IDENTITY, self.probe_bytes)]
                    m.next = "DONE"
                with m.Elif((length < MIN_FRAME) | (length > MAX_FRAME)):
                    m.d.sync += fail(Error.LENGTH, length, advance=False)
                    m.next = "ERROR"
                with m.Elif(~rx_crc.match_detected):
                    m.d.sync += fail(Error.CRC, 0, advance=False)
                    m.next = "ERROR"
                with m.Elif(length_byte + MIN_FRAME != length):
                    m.d.sync += fail(Error.LENGTH, length, advance=False)
                    m.next = "ERROR"
                with m.Else():
                    m.next = "HEADER"

            with m.State("HEADER"):      # body bytes 0..7 into hdr (the buffer reads one behind)
                m.d.comb += [buf_rd.en.eq(1), buf_rd.addr.eq(ptr)]
                m.d.sync += [ptr.eq(ptr + 1), hdr_i.eq(hdr_i + 1)]
                with m.If(hdr_i != 0):
                    m.d.sync += hdr.eq(Cat(hdr[8:], buf_rd.data))
                with m.If(hdr_i == 8):
                    m.next = "RANGE"
            with m.State("RANGE"):       # the header's range check, registered twice (timing)
                m.next = "RANGE2"
            with m.State("RANGE2"):
                m.next = "VALIDATE"

            with m.State("VALIDATE"):
                sync_op = (op == Op.IDENTIFY) | (op == Op.RESET)
                m.d.sync += [ptr.eq(3), code_i.eq(0), code_b.eq(0)]
                with m.If(~sync_op & (seq != expected)):
                    m.d.sync += fail(Error.SEQ, expected, advance=False)
                    m.next = "ERROR"
                with m.Elif(~known_op):
                    m.d.sync += fail(Error.OP, 0, advance=True)
                    m.next = "ERROR"
                with m.Elif(~body_ok):
                    # an intact frame with a body wrong for its op: advances, so IDENTIFY and
                    # RESET resynchronise even so
                    m.d.sync += fail(Error.LENGTH, length, advance=True)
                    m.next = "ERROR"
                with m.Else():
                    m.d.sync += expected.eq(seq + 1)
                    with m.Switch(op):
                        with m.Case(Op.IDENTIFY):
                            m.d.sync += reply_snapshot(Snap.IDENTITY, len(self.identity))
                            m.next = "DONE"
                        with m.Case(Op.RESET):
                            m.d.comb += [clear_counters.eq(1), core.flags_clear.eq(flags_all)]
                            m.d.sync += [steps.eq(0), learned.eq(0), error_seen.eq(0),
                                         snap_left.eq(0)]
                            m.next = "RESET"
                        with m.Case(Op.READ, Op.WRITE):
                            is_write = op == Op.WRITE
                            n = Mux(is_write, write_words, count_f)
                            with m.If(~mem_valid):
                                m.d.sync += fail(Error.ARG, 0, advance=True)
                                m.next = "ERROR"
                            with m.Elif(~is_write & ~read_count_ok):
                                m.d.sync += fail(Error.ARG, 3, advance=True)
                                m.next = "ERROR"
                            with m.Elif(out_of_range):
                                m.d.sync += fail(Error.ARG, 1, advance=True)
                                m.next = "ERROR"
                            with m.Elif(is_write & (mem_f == Mem.PERTURB.value)):
                                m.d.sync += fail(Error.STATE, 0, advance=True)
                                m.next = "ERROR"
                            with m.Elif(is_write):
                                m.d.sync += [n_words.eq(write_words), wr_addr.eq(addr_f),
                                             ptr.eq(6), wbyte.eq(0), snap_left.eq(0)]
                                m.next = "WRITE"
                            with m.Else():
                                m.d.sync += [rd_mem.as_value().eq(mem_f[:3]), rd_addr.eq(addr_f),
                                             rd_left.eq(count_f), rd_counts.eq(0),
                                             snap_left.eq(0), after_body.eq(1)]
                                m.next = "DONE"
                        with m.Case(Op.EVENTS):
                            m.d.sync += [n_codes.eq(codes_of), steps_s.eq(steps),
                                         learned_s.eq(learned)]
                            m.next = "PRE_START"
                        with m.Case(Op.LEARN):
                            with m.If(hdr[0:8] >= n_out):
                                m.d.sync += fail(Error.ARG, 0, advance=True)
                                m.next = "ERROR"
                            with m.Elif((steps != cfg.n_steps) | learned):
                                m.d.sync += fail(Error.STATE, 0, advance=True)
                                m.next = "ERROR"
                            with m.Else():
                                m.d.comb += bump["learns"].eq(1)
                                m.d.sync += learned.eq(1)
                                m.next = "LEARN"
                        with m.Case(Op.COUNTS):
                            m.d.sync += self._counts_reply(rd_mem, rd_addr, rd_left, rd_counts,
                                                           snap_left, after_body)
                            m.next = "DONE"
                        with m.Case(Op.STATUS):
                            m.d.sync += [*reply_snapshot(Snap.STATUS, STATUS_BYTES),
                                         uart_errors.eq(Cat(uart_count["overrun"], uart_count["framing"]))]
                            m.next = "DONE"
                        with m.Case(Op.SEEDS):
                            with m.If(hdr[0:32] == 0):
                                m.d.sync += fail(Error.ARG, 0, advance=True)
                                m.next = "ERROR"
                            with m.Elif(hdr[32:64] == 0):
                                m.d.sync += fail(Error.ARG, 4, advance=True)
                                m.next = "ERROR"
                            with m.Else():
                                m.d.comb += [core.seed.eq(hdr[0:32]), core.seed_load.eq(1),
                                             core.round_seed.eq(hdr[32:64]),
                                             core.round_seed_load.eq(1)]
                                m.d.sync += snap_left.eq(0)
                                m.next = "DONE"
                        with m.Case(Op.CLEAR):
                            m.d.comb += core.flags_clear.eq(hdr[0:len(FLAG_NAMES)])
                            m.d.sync += snap_left.eq(0)
                            m.next = "DONE"
                        with m.Case(Op.RATES):
                            with m.If(body_len[:2] == 0):     # read (body_ok: 0 or 2 bytes)
                                m.d.sync += reply_snapshot(Snap.RATES, 2)
                                m.next = "DONE"
                            with m.Elif((hdr[0:8] < hid_lo) | (hdr[0:8] > hid_hi)):
                                m.d.sync += fail(Error.ARG, 0, advance=True)
                                m.next = "ERROR"
                            with m.Elif((hdr[8:16] < out_lo) | (hdr[8:16] > out_hi)):
                                m.d.sync += fail(Error.ARG, 1, advance=True)
                                m.next = "ERROR"
                            with m.Else():
                                m.d.comb += [core.rates.hidden.eq(hdr[0:8]), core.rates.output.eq(hdr[8:16]),
                                             core.rates_load.eq(1)]
                                m.d.sync += reply_snapshot(Snap.RATES, 2)
                                m.next = "DONE"

            # -- RESET: a fresh sample on the core
            with m.State("RESET"):           # the core's SAMPLE, and no input spiked
                m.d.comb += [ev.valid.eq(~pass_busy), ev.payload.cmd.eq(Cmd.SAMPLE)]
                with m.If(ev.valid & ev.ready):
                    m.d.comb += bitmap_pass(_CLEAR_COMMITTED)
                    m.next = "WAIT"

            # -- WRITE: assemble each word from the buffer, then one access write
            with m.State("WRITE"):
                m.d.comb += [buf_rd.en.eq(1), buf_rd.addr.eq(ptr)]
                m.d.sync += [ptr.eq(ptr + 1), wbyte.eq(wbyte + 1)]
                m.next = "WRITE_BYTE"
            with m.State("WRITE_BYTE"):
                # bytes arrive little-endian: shift each new byte in at the top
                m.d.sync += word.eq(Cat(word[8:], buf_rd.data))
                with m.If(wbyte == wb):
                    m.next = "WRITE_WORD"
                with m.Else():
                    m.next = "WRITE"
            with m.State("WRITE_WORD"):
                m.d.comb += [acc.mem.as_value().eq(mem_f[:3]), acc.addr.eq(wr_addr), acc.en.eq(1),
                             acc.we.eq(1), acc.wdata.eq(word)]
                m.d.sync += [wr_addr.eq(wr_addr + 1), n_words.eq(n_words - 1), wbyte.eq(0)]
                with m.If(n_words == 1):
                    m.next = "DONE"
                with m.Else():
                    m.next = "WRITE"

            # -- EVENTS pre-pass: every code checked against scratch copies
            def fetch_code(fetch, byte, then):
                """States ``fetch``/``byte``: the next event code from the buffer into ``code``
                (its bytes little-endian, two clocks each), then ``then``."""
                with m.State(fetch):
                    m.d.comb += [buf_rd.en.eq(1), buf_rd.addr.eq(ptr)]
                    m.d.sync += [ptr.eq(ptr + 1), code_b.eq(code_b + 1)]
                    m.next = byte
                with m.State(byte):
                    m.d.sync += code.eq(Cat(code[8:], buf_rd.data) if eb > 1 else buf_rd.data)
                    with m.If(code_b == eb):
                        m.next = then
                    with m.Else():
                        m.next = fetch

            with m.State("PRE_START"):       # scratch bitmap = committed (after any pass)
                with m.If(~pass_busy):
                    m.d.comb += bitmap_pass(_SCRATCH_FROM_COMMITTED)
                    m.next = "PRE_FETCH"
            fetch_code("PRE_FETCH", "PRE_BYTE", "PRE_LOOK")
            with m.State("PRE_LOOK"):        # the code's scratch bit, once a pass has ended
                with m.If(~pass_busy):
                    m.d.comb += [seen_rd["s"].en.eq(1), seen_rd["s"].addr.eq(code[:jbits])]
                    m.next = "PRE_CHECK"
            with m.State("PRE_CHECK"):
                m.d.sync += [code_b.eq(0), code_i.eq(code_i + 1)]
                bad_state, bad_arg = Signal(name="bad_state"), Signal(name="bad_arg")
                with m.If(is_spike):
                    m.d.comb += [bad_state.eq((steps_s == cfg.n_steps) | seen_rd["s"].data),
                                 seen_wr["s"].en.eq(1), seen_wr["s"].addr.eq(code[:jbits]),
                                 seen_wr["s"].data.eq(1)]
                with m.Elif(code == sample_code):
                    m.d.comb += bitmap_pass(_CLEAR_SCRATCH)
                    m.d.sync += [steps_s.eq(0), learned_s.eq(0)]
                with m.Elif(code == step_code):
                    m.d.comb += [bad_state.eq(steps_s == cfg.n_steps), bitmap_pass(_CLEAR_SCRATCH)]
                    m.d.sync += steps_s.eq(steps_s + 1)
                with m.Else():
                    m.d.comb += bad_arg.eq(1)
                # scratch state is thrown away on an error: the committed copies are untouched
                with m.If(bad_state):
                    m.d.sync += fail(Error.STATE, code_i, advance=True)
                    m.next = "ERROR"
                with m.Elif(bad_arg):
                    m.d.sync += fail(Error.ARG, code_i * eb, advance=True)
                    m.next = "ERROR"
                with m.Elif(code_i + 1 == n_codes):
                    m.next = "EXEC_START"
                with m.Else():
                    m.next = "PRE_FETCH"
            with m.State("EXEC_START"):      # commit: the scratch state is the open step's
                with m.If(~pass_busy):
                    m.d.comb += bitmap_pass(_COMMIT)
                    m.d.sync += [steps.eq(steps_s), learned.eq(learned_s),
                                 ptr.eq(3), code_i.eq(0), code_b.eq(0)]
                    m.next = "EXEC_FETCH"
            fetch_code("EXEC_FETCH", "EXEC_BYTE", "EXEC_ISSUE")
            with m.State("EXEC_ISSUE"):
                # one code per counter update (rtl/counters.py: a count bumped twice before it is
                # served would count once)
                m.d.comb += [ev.valid.eq(~counters.busy),
                             ev.payload.cmd.eq(Mux(is_spike, Cmd.SPIKE,
                                                   Mux(code == sample_code, Cmd.SAMPLE, Cmd.STEP))),
                             ev.payload.addr.eq(code)]
                with m.If(ev.valid & ev.ready):
                    m.d.sync += [code_b.eq(0), code_i.eq(code_i + 1)]
                    with m.If(is_spike):
                        m.d.comb += bump["events"].eq(1)
                    with m.If(code == sample_code):
                        m.d.comb += bump["samples"].eq(1)
                    with m.If(code_i + 1 == n_codes):
                        m.d.sync += snap_left.eq(1)
                        m.next = "EVENTS_WAIT"
                    with m.Else():
                        m.next = "EXEC_FETCH"
            with m.State("EVENTS_WAIT"):        # a STEP/SAMPLE raises busy the cycle after
                m.next = "EVENTS_IDLE"
            with m.State("EVENTS_IDLE"):
                with m.If(~core.busy):
                    m.d.sync += reply_snapshot(Snap.STEP, 1)
                    m.next = "DONE"

            with m.State("LEARN"):
                m.d.comb += [self.learning.eq(1), ev.valid.eq(1), ev.payload.cmd.eq(Cmd.LEARN),
                             ev.payload.addr.eq(hdr[0:8])]
                with m.If(ev.ready):
                    m.next = "LEARN_SETTLE"
            with m.State("LEARN_SETTLE"):      # busy rises the cycle after the transfer
                m.d.comb += self.learning.eq(1)
                m.next = "LEARN_WAIT"
            with m.State("LEARN_WAIT"):
                m.d.comb += self.learning.eq(1)
                with m.If(~core.busy):
                    m.d.sync += self._counts_reply(rd_mem, rd_addr, rd_left, rd_counts,
                                                   snap_left, after_body)
                    m.next = "DONE"

            with m.State("WAIT"):
                m.next = "WAIT_IDLE"
            with m.State("WAIT_IDLE"):
                with m.If(~core.busy & ~counters.busy & ~pass_busy):
                    m.d.sync += snap_left.eq(0)
                    m.next = "DONE"

            # -- replies
            with m.State("ERROR"):
                m.d.sync += [reply_op.eq(Op.ERROR), error_seen.eq(1), reply_len.eq(4),
                             *reply_snapshot(Snap.ERROR, 4), after_body.eq(0)]
                with m.Switch(err_code):
                    for k, name in enumerate(("crc", "cobs", "length", "op", "arg", "seq", "state"), 1):
                        with m.Case(k):
                            m.d.comb += bump[name].eq(1)
                m.next = "R_SEQ"
            with m.State("DONE"):
                words_len = Mux(rd_counts, rd_left, rd_left * wb)
                m.d.sync += [reply_op.eq(op | REPLY),
                             reply_len.eq(snap_left + Mux(after_body, words_len, 0))]
                m.next = "R_SEQ"

            tx = self.tx
            tx_crc_feed = [tx_crc.valid.eq(tx.valid & tx.ready), tx_crc.data.eq(tx.payload.data)]
            with m.State("R_SEQ"):
                m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(seq), *tx_crc_feed,
                             tx_crc.start.eq(1)]
                with m.If(tx.ready):
                    m.next = "R_OP"
            with m.State("R_OP"):
                m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(reply_op), *tx_crc_feed]
                with m.If(tx.ready):
                    with m.If(legacy):           # version 2's framing: no length byte
                        m.next = "R_SNAP"
                    with m.Else():
                        m.next = "R_LEN"
            with m.State("R_LEN"):
                m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(reply_len), *tx_crc_feed]
                with m.If(tx.ready):
                    m.next = "R_SNAP"
            with m.State("R_SNAP"):
                with m.If(snap_left != 0):
                    m.d.comb += [tx.valid.eq(snap_ok), tx.payload.data.eq(snap_byte), *tx_crc_feed]
                    with m.If(tx.valid & tx.ready):
                        m.d.sync += [snap_i.eq(snap_i + 1), snap_left.eq(snap_left - 1)]
                with m.Elif(after_body & (rd_left != 0)):
                    m.next = "R_READ"
                with m.Else():
                    m.next = "R_CRC_HI"
            with m.State("R_READ"):
                m.d.comb += [acc.mem.eq(rd_mem), acc.addr.eq(rd_addr), acc.en.eq(1)]
                m.d.sync += [rd_addr.eq(rd_addr + 1), rd_left.eq(rd_left - 1), rd_wait.eq(0)]
                m.next = "R_WAIT" if core.READ_LATENCY > 1 else "R_LATCH"
            with m.State("R_WAIT"):         # the core's read latency (Core.READ_LATENCY)
                m.d.sync += rd_wait.eq(rd_wait + 1)
                with m.If(rd_wait == core.READ_LATENCY - 2):
                    m.next = "R_LATCH"
            count_byte = acc.rdata[count_field.offset:][:cfg.count_bits]
            with m.State("R_LATCH"):
                m.d.sync += [byte_i.eq(0), byte_left.eq(Mux(rd_counts, 1, wb))]
                if not core.READ_HOLDS:   # copy the word: the port's rdata is gone next clock
                    m.d.sync += word.eq(Mux(rd_counts, count_byte, acc.rdata))
                m.next = "R_WORD"
            with m.State("R_WORD"):
                if core.READ_HOLDS:
                    # the word's bytes straight from the access port, which holds them until the
                    # next read (iCE40 area: no 96-bit copy and its multiplexers)
                    byte = Mux(rd_counts, count_byte, read_bytes[byte_i])
                else:
                    byte = word.word_select(byte_i, 8)
                m.d.comb += [tx.valid.eq(1), *tx_crc_feed, tx.payload.data.eq(byte)]
                with m.If(tx.ready):
                    m.d.sync += [byte_i.eq(byte_i + 1), byte_left.eq(byte_left - 1)]
                    with m.If(byte_left == 1):
                        with m.If(rd_left != 0):
                            m.next = "R_READ"
                        with m.Else():
                            m.next = "R_CRC_HI"
            # version 2's CRC (the probe's answer) is the register without the final XOR
            crc_out = tx_crc.crc ^ Mux(legacy, 0xFFFF, 0)
            with m.State("R_CRC_HI"):
                m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(crc_out[8:])]
                with m.If(tx.ready):
                    m.next = "R_CRC_LO"
            with m.State("R_CRC_LO"):
                m.d.comb += [tx.valid.eq(1), tx.payload.data.eq(crc_out[:8]),
                             tx.payload.last.eq(1)]
                with m.If(tx.ready):
                    m.d.sync += [length.eq(0), seq.eq(0), op.eq(0), after_body.eq(0),
                                 legacy.eq(0)]
                    with m.If(reply_op != Op.ERROR):     # a request executed (protocol 3)
                        m.d.comb += bump["frames"].eq(1)
                    m.next = "RECV"
        return m

    def _counts_reply(self, rd_mem, rd_addr, rd_left, rd_counts, snap_left, after_body):
        """Reply body: the output neurons' spike counts, one byte each, read from STATE."""
        return [rd_mem.eq(Mem.STATE), rd_addr.eq(self.core.neuron_base[-1]),
                rd_left.eq(self._config.n_outputs), rd_counts.eq(1), snap_left.eq(0),
                after_body.eq(1)]

