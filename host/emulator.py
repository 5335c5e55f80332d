"""The board side of the link protocol in pure Python: the reference of ``rtl/link.py``.

:class:`Emulator` answers request bytes with reply bytes (:meth:`Emulator.feed`) exactly as
``docs/protocol.md`` says, around a fixed-point golden :class:`~plasticore.golden.network.Network`
(one replica) seen through the core's memory map (:class:`CoreMemory`, the layout of
``chip/memmap.py``, every kind of core's). It is deterministic: the same bytes fed in the same
chunks give the same bytes out, which is what the RTL protocol engine is tested against.

Choices the protocol text leaves open (the RTL must make the same ones):

* **Receive FIFO**: the bytes of one :meth:`~Emulator.feed` call arrive at once; those beyond
  ``rx_window`` minus the half-received frame (at most ``MAX_WIRE`` of it) are dropped and counted
  as ``rx_overruns``. A host
  that keeps the flow-control rule never loses a byte, whatever the chunking.
* **Check order** of a frame (as ``rtl/link.py``): COBS, decoded frame length, CRC, the frame's
  length byte (these never advance the expected seq; ``seq`` and ``op`` of the error reply are the
  first two decoded bytes); then seq (IDENTIFY and RESET skip it; SEQ does not advance); op (OP);
  body length for the op (LENGTH); arguments (ARG); state (STATE): these three advance it, so an
  IDENTIFY or RESET with a wrong body still resynchronises. A version probe (IDENTIFY in version
  2's framing) is answered in that framing with the head of IDENTIFY, and sets the expected seq
  as IDENTIFY does. Execution only when every check passed. ``frames``
  counts requests executed to the end: a STATUS reply does not count itself, and RESET clears the
  counters and then counts itself (``frames`` = 1 after it).
* **ARG details**: READ/WRITE: mem 0; READ count (0 or more than ``MAX_BODY // word_bytes``) 3;
  ``addr + count`` past the memory's end 1 (then WRITE to PERTURB is STATE 0); EVENTS the byte
  index of the first bad code; LEARN 0; SEEDS 0 (perturb) or 4 (round); RATES 0 (hidden) or
  1 (output), a rate outside ``Config.lr_shift_range``. **STATE details**:
  EVENTS the code index; WRITE to PERTURB, LEARN at the wrong time: 0. EVENTS codes are checked
  in order and the first offending code decides between ARG and STATE. PERTURB has at least one
  word (reads 0 without hidden neurons), as in the RTL.
* Counts in LEARN/COUNTS replies saturate at 255 (``count_bits`` may exceed 8); the step in
  EVENTS and STATUS replies is the low byte of the step counter.
* After construction the emulator is a board at power-up (:func:`power_up_network`): every
  memory zero (so every perturbation bit 0, p = -1.0), the LFSRs at the configuration's seeds,
  the learning rates at the configuration's ``lr_hidden_shift`` / ``lr_output_shift``, no sample
  started (step 0).
"""

from __future__ import annotations

import bisect
import errno
import os
import select
import threading
import tty

import numpy as np

from plasticore.chip import protocol as P
from plasticore.chip.boardspec import BoardSpec
from plasticore.chip.memmap import Mem, MemoryMap, flags_word
from plasticore.chip.protocol import ErrorCode, Op
from plasticore.golden.config import Config
from plasticore.golden.network import FLAG_NAMES, Network

__all__ = ["CoreMemory", "Emulator", "serve", "EmulatorPty", "power_up_network"]



class CoreMemory:
    """The access-port memories of a core over a golden network (replica 0): raw words as
    ``MemoryMap.encode``/``decode`` define them, addressed as ``chip.memmap.Mem`` documents."""

    def __init__(self, config: Config, net: Network, core: MemoryMap | None = None):
        self.config = config
        self.net = net
        self.core = core if core is not None else MemoryMap(config)
        c = self.core
        self.depths = c.depths

    def depth(self, mem) -> int:
        return self.depths[Mem(mem)]

    @staticmethod
    def _find(bases, addr):
        k = bisect.bisect_right(bases, addr) - 1
        return k, addr - bases[k]

    def _synapse(self, addr):
        k, idx = self._find(self.core.weight_base, addr)
        layer = self.net.layers[k]
        i, j = divmod(idx, layer.n_inputs)
        return layer, i, j

    def read(self, mem, addr: int) -> int:
        mem, core, net = Mem(mem), self.core, self.net
        if not 0 <= addr < self.depths[mem]:
            raise IndexError(f"{mem.name} address {addr} outside 0..{self.depths[mem] - 1}")
        if mem == Mem.WEIGHT:
            layer, i, j = self._synapse(addr)
            return core.encode(mem, int(layer.w[0, i, j]))
        if mem == Mem.GRAD:
            layer, i, j = self._synapse(addr)
            return core.encode(mem, {"ghat": int(layer.ghat[0, i, j]),
                                     "ehat": int(layer.ehat[0, i, j])})
        if mem in (Mem.STATE, Mem.PERTURB):
            k, i = self._find(core.neuron_base, addr)
            layer = net.layers[k]
            if mem == Mem.PERTURB:
                return int(layer.perturbation[0, i] > 0) if core.n_hidden else 0
            return core.encode(mem, {
                "a": int(layer.a[0, i]), "c": int(layer.c[0, i]),
                "grade_sum": int(layer.grade_sum[0, i]), "grade_total": int(layer.grade_total[0, i]),
                "count": int(layer.count[0, i]), "last_step": int(layer.last_step[0, i])})
        if mem == Mem.TRACE:
            k, j = self._find(core.trace_base, addr)
            layer = net.layers[k]
            return core.encode(mem, {"x": int(layer.trace_x[0, j]), "y": int(layer.trace_y[0, j])})
        k, idx = self._find(core.feedback_base, addr)
        o, i = divmod(idx, self.config.hidden_sizes[k])
        return core.encode(mem, int(net.feedback[k][0, o, i]))

    def write(self, mem, addr: int, raw: int) -> None:
        mem, core, net = Mem(mem), self.core, self.net
        if mem == Mem.PERTURB:
            raise ValueError("PERTURB is read-only")
        if not 0 <= addr < self.depths[mem]:
            raise IndexError(f"{mem.name} address {addr} outside 0..{self.depths[mem] - 1}")
        value = core.decode(mem, raw)
        if mem == Mem.WEIGHT:
            layer, i, j = self._synapse(addr)
            layer.w[0, i, j] = value
            layer.w_float = None
        elif mem == Mem.GRAD:
            layer, i, j = self._synapse(addr)
            layer.ghat[0, i, j] = value["ghat"]
            if self.config.reset_path:
                layer.ehat[0, i, j] = value["ehat"]
        elif mem == Mem.STATE:
            k, i = self._find(core.neuron_base, addr)
            layer = net.layers[k]
            for name in ("a", "c", "grade_sum", "grade_total", "count", "last_step"):
                getattr(layer, name)[0, i] = value[name]
        elif mem == Mem.TRACE:
            k, j = self._find(core.trace_base, addr)
            layer = net.layers[k]
            layer.trace_x[0, j], layer.trace_y[0, j] = value["x"], value["y"]
        else:
            k, idx = self._find(core.feedback_base, addr)
            o, i = divmod(idx, self.config.hidden_sizes[k])
            net.feedback[k][0, o, i] = value


def power_up_network(config: Config) -> Network:
    """A golden network (one replica) in the state of a core after power-up: weights, feedback
    and every per-sample word zero, perturbation bits 0 (p = -1.0 for hidden neurons), LFSRs at
    the configuration's seeds, no draw made."""
    zeros_w = [np.zeros((config.layers[k + 1], config.layers[k]), np.int64)
               for k in range(len(config.layers) - 1)]
    zeros_b = [np.zeros((config.n_outputs, h), np.int64) for h in config.hidden_sizes]
    net = Network(config, zeros_w, zeros_b, fixed=True, batch=1, seed=None)
    net.lfsr_perturb[:] = config.seed_perturb          # undo the constructor's draw
    for layer in net.layers[:-1]:
        layer.perturbation[...] = -config.grade.one
    return net


class _Reject(Exception):
    def __init__(self, code: ErrorCode, detail: int = 0):
        self.code, self.detail = code, detail


#: body length check per op: exact length, or (minimum, multiple) for WRITE and EVENTS
_FIXED_BODY = {Op.IDENTIFY: 0, Op.RESET: 0, Op.READ: 4, Op.LEARN: 1, Op.COUNTS: 0, Op.STATUS: 0,
               Op.SEEDS: 8, Op.CLEAR: 2}
_REQUESTS = frozenset(op for op in Op if op != Op.ERROR)
_MEMS = frozenset(int(m.value) for m in Mem)


class Emulator:
    """A Plasticore board in Python: :meth:`feed` request bytes, get reply bytes."""

    def __init__(self, board: BoardSpec | Config):
        self.spec = spec = BoardSpec.of(board)
        config, rx_window = spec.config, spec.rx_window
        if config.perturbation != "rademacher":
            raise ValueError("the fixed-point core draws Rademacher perturbations only")
        if not 2 * P.MAX_WIRE <= rx_window <= 0xFFFF:
            raise ValueError(f"rx_window must hold two whole frames ({2 * P.MAX_WIRE} bytes) and "
                             f"fit u16, not {rx_window}")
        self.config = config
        self.core = MemoryMap(config)
        self.net = power_up_network(config)
        self.memory = CoreMemory(config, self.net, self.core)
        self.identity = spec.identity()
        self.rx_window = rx_window
        self.word_bytes = self.identity.word_bytes
        self.event_bytes = self.identity.event_bytes
        self.sample_code = P.sample_code(self.event_bytes)
        self.step_code = P.step_code(self.event_bytes)
        self.reader = P.FrameReader(limit=1 << 16)
        self.status = P.Status()
        self.expected_seq = P.FIRST_SEQ
        self._row = np.zeros(config.n_inputs, dtype=bool)   # spikes of the open step
        self.learned = False
        #: set by :meth:`hang_up`: :func:`serve` stops (and :class:`EmulatorPty` closes the master)
        self.hung_up = False

    def hang_up(self) -> None:
        """Go away like an unplugged board: :func:`serve` returns before sending another byte."""
        self.hung_up = True

    # --- bytes in, bytes out ----------------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        """Receive ``data`` (one arrival); returns the replies of every frame it completed."""
        data = bytes(data)
        # a half-received frame holds its bytes in the FIFO up to the longest frame; the bytes of
        # a longer one (a LENGTH error) are read and dropped as they come, as the RTL does (the
        # engine reads on while it receives): otherwise a runaway frame would deafen the board
        room = max(self.rx_window - min(self.reader.pending, P.MAX_WIRE), 0)
        if len(data) > room:
            self.status.rx_overruns += len(data) - room
            data = data[:room]
        out = bytearray()
        for item in self.reader.feed(data):
            out += self.handle(item)
        return bytes(out)

    def handle(self, item: P.Frame | P.FrameError) -> bytes:
        """The reply wire bytes of one decoded frame (or frame error)."""
        if isinstance(item, P.FrameError):
            if P.is_version_probe(item.raw):
                # version 2's IDENTIFY: the head of IDENTIFY in version 2's framing
                self.expected_seq = (item.seq + 1) & 0xFF
                self.status.frames += 1
                head = self.identity.pack()[:P.probe_reply_bytes(len(self.identity.layers))]
                return P.encode_v2_frame(item.seq, Op.IDENTIFY | P.REPLY, head)
            self._count(item.code)
            return self._error_reply(item.seq, item.op, item.code, item.detail)
        seq, op, body = item.seq, item.op, item.body
        if op not in (Op.IDENTIFY, Op.RESET) and seq != self.expected_seq:
            self._count(ErrorCode.SEQ)
            return self._error_reply(seq, op, ErrorCode.SEQ, self.expected_seq)
        if op not in _REQUESTS:
            return self._reject(seq, op, ErrorCode.OP, 0)
        if not self._body_length_ok(op, len(body)):
            return self._reject(seq, op, ErrorCode.LENGTH, len(body) + P.MIN_FRAME)
        try:
            execute = getattr(self, f"_check_{Op(op).name.lower()}")(body)
        except _Reject as reject:
            return self._reject(seq, op, reject.code, reject.detail)
        self.expected_seq = (seq + 1) & 0xFF
        reply = execute()
        self.status.frames += 1
        return P.encode_frame(seq, op | P.REPLY, reply)

    # --- helpers ----------------------------------------------------------------------------------
    def _count(self, code: ErrorCode) -> None:
        name = P.ERROR_COUNTER[ErrorCode(code)]
        setattr(self.status, name, getattr(self.status, name) + 1)

    def _error_reply(self, seq: int, op: int, code: ErrorCode, detail: int) -> bytes:
        return P.encode_frame(seq, Op.ERROR, P.pack_error(code, op, detail & 0xFFFF))

    def _reject(self, seq, op, code, detail) -> bytes:
        """An error that still advances the expected seq (OP, LENGTH for the op, ARG, STATE)."""
        self._count(code)
        self.expected_seq = (seq + 1) & 0xFF
        return self._error_reply(seq, op, code, detail)

    def _body_length_ok(self, op: int, n: int) -> bool:
        if op in _FIXED_BODY:
            return n == _FIXED_BODY[op]
        if op == Op.RATES:
            return n in (0, 2)        # empty: read the rates in force
        if op == Op.WRITE:
            return n >= 3 + self.word_bytes and (n - 3) % self.word_bytes == 0
        return n >= self.event_bytes and n % self.event_bytes == 0      # EVENTS

    def _counts(self) -> bytes:
        return bytes(np.minimum(self.net.layers[-1].count[0], 255).astype(np.uint8))

    def _current_status(self) -> P.Status:
        self.status.flags = flags_word(self.net)
        self.status.step = self.net.step_index & 0xFF
        return self.status

    def _start_sample(self) -> None:
        self.net.reset()
        self._row[:] = False
        self.learned = False

    # --- ops: each _check_* validates the body (raising _Reject) and returns the executor ---------
    def _check_identify(self, body):
        return self.identity.pack

    def _check_reset(self, body):
        def run():
            self.status = P.Status()
            for name in FLAG_NAMES:
                self.net.flags[name][:] = False
            self._start_sample()
            return b""
        return run

    def _check_access(self, mem, addr, count, is_read):
        if mem not in _MEMS:
            raise _Reject(ErrorCode.ARG, 0)
        if is_read and not 1 <= count <= P.MAX_BODY // self.word_bytes:
            raise _Reject(ErrorCode.ARG, 3)
        if addr + count > self.memory.depth(mem):
            raise _Reject(ErrorCode.ARG, 1)
        if not is_read and mem == Mem.PERTURB.value:
            raise _Reject(ErrorCode.STATE, 0)

    def _check_read(self, body):
        mem, addr, count = P.unpack_read(body)
        self._check_access(mem, addr, count, True)
        return lambda: P.pack_words((self.memory.read(mem, a) for a in range(addr, addr + count)),
                                    self.word_bytes)

    def _check_write(self, body):
        mem, addr, words = P.unpack_write(body, self.word_bytes)
        self._check_access(mem, addr, len(words), False)

        def run():
            for k, word in enumerate(words):
                self.memory.write(mem, addr + k, word)
            return b""
        return run

    def _check_events(self, body):
        codes = P.unpack_codes(body, self.event_bytes)
        n_inputs, n_steps = self.config.n_inputs, self.config.n_steps
        step = self.net.step_index
        seen = set(np.flatnonzero(self._row).tolist())
        for k, code in enumerate(codes):
            if code < n_inputs:
                if step >= n_steps or code in seen:
                    raise _Reject(ErrorCode.STATE, k)
                seen.add(code)
            elif code == self.sample_code:
                step, seen = 0, set()
            elif code == self.step_code:
                if step >= n_steps:
                    raise _Reject(ErrorCode.STATE, k)
                step, seen = step + 1, set()
            else:
                raise _Reject(ErrorCode.ARG, k * self.event_bytes)

        def run():
            for code in codes:
                if code < n_inputs:
                    self._row[code] = True
                    self.status.events += 1
                elif code == self.sample_code:
                    self._start_sample()
                    self.status.samples += 1
                else:
                    self.net.step(self._row[None])
                    self._row[:] = False
            return bytes((self.net.step_index & 0xFF,))
        return run

    def _check_learn(self, body):
        label = body[0]
        if label >= self.config.n_outputs:
            raise _Reject(ErrorCode.ARG, 0)
        if self.net.step_index < self.config.n_steps or self.learned:
            raise _Reject(ErrorCode.STATE, 0)

        def run():
            self.net.learn([label])
            self.learned = True
            self.status.learns += 1
            return self._counts()
        return run

    def _check_counts(self, body):
        return self._counts

    def _check_status(self, body):
        return lambda: self._current_status().pack()

    def _check_seeds(self, body):
        perturb, round_ = P.unpack_seeds(body)
        if perturb == 0:
            raise _Reject(ErrorCode.ARG, 0)
        if round_ == 0:
            raise _Reject(ErrorCode.ARG, 4)

        def run():
            self.net.lfsr_perturb[0] = perturb
            self.net.lfsr_round[0] = round_
            return b""
        return run

    def _check_rates(self, body):
        if not body:
            return lambda: P.pack_rates(self.net.config.lr_hidden_shift,
                                        self.net.config.lr_output_shift)
        rates = P.unpack_rates(body)
        bad = self.config.first_bad_rate(*rates)
        if bad is not None:
            raise _Reject(ErrorCode.ARG, bad)

        def run():
            # the golden model reads its rates from its configuration at every update
            self.net.config = self.net.config.replace(lr_hidden_shift=rates[0], lr_output_shift=rates[1])
            return P.pack_rates(*rates)
        return run

    def _check_clear(self, body):
        mask = int.from_bytes(body, "little")

        def run():
            for k, name in enumerate(FLAG_NAMES):
                if mask >> k & 1:
                    self.net.flags[name][:] = False
            return b""
        return run


# --- serving on a file descriptor ---------------------------------------------------------------------
def serve(emulator: Emulator, fd: int, stop: threading.Event | None = None, *,
          chunk: int = 65536) -> None:
    """Serve ``emulator`` on ``fd`` (e.g. a pty master) until EOF, an I/O error (the other end
    closed), ``stop`` is set (polled every 50 ms) or the emulator hangs up. Does not close
    ``fd``."""
    while stop is None or not stop.is_set():
        if stop is not None:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
        try:
            data = os.read(fd, chunk)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EINTR):
                continue
            return                     # EIO: the other side of the pty is closed
        if not data:
            return
        reply = memoryview(emulator.feed(data))
        if emulator.hung_up:
            return
        while reply:
            try:
                written = os.write(fd, reply)
            except OSError:
                return
            reply = reply[written:]


class EmulatorPty:
    """An :class:`Emulator` served on a fresh pseudo-terminal by a thread: open :attr:`port`
    (the slave's path) with pyserial. :meth:`disconnect` closes the master, as a board that is
    unplugged; :meth:`close` stops and cleans up. A context manager."""

    def __init__(self, emulator: Emulator):
        self.emulator = emulator
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)        # no echo, no line discipline, before anyone writes
        self.port = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="emulator-pty", daemon=True)
        self._thread.start()

    def _serve(self):
        serve(self.emulator, self.master, self._stop)
        if self.emulator.hung_up:
            os.close(self.master)
            self.master = None

    def disconnect(self) -> None:
        """Stop serving and close the master: the host's next read or write fails."""
        self._stop.set()
        self._thread.join()
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def close(self) -> None:
        self.disconnect()
        if self._slave is not None:
            os.close(self._slave)
            self._slave = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
