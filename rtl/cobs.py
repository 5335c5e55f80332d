"""COBS framing of the host <-> board link (``docs/protocol.md``, section 1).

Consistent Overhead Byte Stuffing turns a frame into bytes with no zero in them, so a single
``0x00`` can end each frame on the wire and a receiver resynchronises at the next ``0x00`` after
any garbage. The encoding is a sequence of blocks: a code byte ``c`` (1..255) followed by
``c - 1`` non-zero data bytes; the decoder puts a ``0x00`` after a block's data unless ``c`` is
``0xFF`` or the block is the frame's last. Both blocks here agree byte for byte with the PyPI
``cobs`` package (``cobs.cobs.encode`` / ``cobs.cobs.decode``) on every frame of 1 or more bytes.

* :class:`Decoder`: wire bytes in, decoded bytes out, plus one ``end`` beat per frame carrying an
  error flag. One wire byte per clock.
* :class:`Encoder`: frame bytes in (``last`` on the final one), wire bytes out, ``0x00``
  delimiter included. It holds each block (up to 254 bytes) in a FIFO until it knows the block's
  code byte. About one wire byte per clock when frames come back to back.
"""

from amaranth import Module, Signal
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Decoder", "Encoder", "decoded_layout", "frame_layout"]

#: A beat of :class:`Decoder`'s output.
decoded_layout = data.StructLayout({"data": 8, "end": 1, "error": 1})

#: A beat of :class:`Encoder`'s input.
frame_layout = data.StructLayout({"data": 8, "last": 1})

#: Most data bytes in one block (code byte 0xFF).
MAX_BLOCK = 254


class Decoder(wiring.Component):
    """Streaming COBS decoder.

    For every non-empty wire frame (the bytes between two ``0x00``), ``o`` carries the decoded
    bytes as beats with ``end = 0``, then exactly one beat with ``end = 1``, ``data = 0`` and
    ``error = 1`` if the frame was malformed: the ``0x00`` came while a block still expected data
    bytes (a code byte pointed past the frame's end; ``cobs.decode`` raises ``DecodeError``
    exactly then). The data beats of a malformed frame have been sent already when the error shows;
    the sink discards the frame at its ``end`` beat. An empty frame (a ``0x00`` right after
    a ``0x00``, or first after reset) gives no beat at all. The wire frame ``01 00`` decodes to
    zero bytes and so gives a lone ``end`` beat with ``error = 0``.

    A block's implicit ``0x00`` is held back until the next wire byte shows whether the block was
    the frame's last (then it is dropped); it is sent when that byte, a code byte, is taken.

    Latency: a beat appears on ``o`` the clock after the wire byte that produces it is taken.
    Throughput: one wire byte per clock while ``o.ready`` is high; every wire byte produces at
    most one beat. ``i.ready = ~o.valid | o.ready``, a combinational path from ``o.ready``.

    Limits: none on frame length (the protocol engine checks lengths and the CRC).

    Attributes
    ----------
    i : In(stream.Signature(8))
        Wire bytes.
    o : Out(stream.Signature(decoded_layout))
        ``{data: 8, end: 1, error: 1}``.
    """

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(8)),
            "o": Out(stream.Signature(decoded_layout)),
        })

    def elaborate(self, platform):
        m = Module()
        byte = self.i.payload

        left = Signal(8)       # data bytes the current block still expects; 0: a code byte is next
        code_ff = Signal()     # the current block's code is 0xFF (no implicit zero after it)
        zero = Signal()        # an implicit 0x00 is held back
        in_frame = Signal()    # a non-zero wire byte came since the last 0x00

        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        def emit(value, end=0, error=0):
            m.d.sync += [
                self.o.valid.eq(1),
                self.o.payload.data.eq(value),
                self.o.payload.end.eq(end),
                self.o.payload.error.eq(error),
            ]

        with m.If(self.i.valid & self.i.ready):
            with m.If(byte == 0):
                with m.If(in_frame):
                    emit(0, end=1, error=left != 0)
                m.d.sync += [left.eq(0), zero.eq(0), in_frame.eq(0)]
            with m.Elif(left == 0):  # a code byte
                with m.If(zero):
                    emit(0)
                m.d.sync += [
                    left.eq(byte - 1),
                    code_ff.eq(byte == 0xFF),
                    zero.eq(byte == 1),
                    in_frame.eq(1),
                ]
            with m.Else():           # a data byte
                emit(byte)
                m.d.sync += [left.eq(left - 1), zero.eq((left == 1) & ~code_ff)]
        return m


class Encoder(wiring.Component):
    """Streaming COBS encoder with the ``0x00`` delimiter.

    A frame's bytes come in on ``i`` with ``last = 1`` on the final one; ``o`` carries
    ``cobs.encode(frame) + b"\\x00"``. Frames are at least one byte long (there is no way to
    send an empty one), of any length.

    Inside, a writer splits the frame into blocks: non-zero bytes go into a 512-byte data FIFO
    (one iCE40 block RAM), and when a block closes (a zero byte, the 254th non-zero byte, or the
    frame's last byte) a descriptor ``{code, end}`` goes into a 4-entry descriptor FIFO. A reader
    sends a descriptor's code byte, then its data bytes from the data FIFO, then the ``0x00``
    delimiter after the frame's last block. The writer fills the next block while the reader
    sends the previous one.

    Latency: a block's code byte is offered on ``o`` the clock after the block closes, so up to
    255 clocks after the block's first byte came in (COBS cannot say more before it has seen up
    to 254 bytes); its data bytes follow from the FIFO. Throughput, with an always-valid source and
    an always-ready sink (measured in ``tests/rtl/test_cobs.py``): the reader sends one wire byte
    per clock, so back-to-back frames take ``len(cobs.encode(frame)) + 1`` clocks each (258 or
    259 for 256-byte frames), about 0.99 frame byte per clock. An isolated 256-byte frame of
    non-zero bytes takes 513 clocks from its first byte in to its delimiter out (0.5 byte per
    clock), most of it waiting for its first block to close. A run of many short blocks (zeros)
    right after long ones can fill the 4-entry descriptor FIFO; the writer then waits and the
    reader meets a few bubbles of the data FIFO's read latency (16 clocks over a 256-byte frame
    in the test). ``i.ready`` is low only while a FIFO is full.

    Attributes
    ----------
    i : In(stream.Signature(frame_layout))
        ``{data: 8, last: 1}``, frame bytes.
    o : Out(stream.Signature(8))
        Wire bytes.
    """

    DATA_DEPTH = 513   # SyncFIFOBuffered: 512 entries in memory plus its output register
    DESC_DEPTH = 4

    def __init__(self):
        super().__init__({
            "i": In(stream.Signature(frame_layout)),
            "o": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()

        desc_layout = data.StructLayout({"code": 8, "tail": 1, "end": 1})
        m.submodules.data_fifo = data_fifo = fifo.SyncFIFOBuffered(width=8, depth=self.DATA_DEPTH)
        m.submodules.desc_fifo = desc_fifo = fifo.SyncFIFO(
            width=desc_layout.size, depth=self.DESC_DEPTH)

        # Writer: ``count`` non-zero bytes of the open block are in the data FIFO.
        count = Signal(range(MAX_BLOCK))
        byte, last = self.i.payload.data, self.i.payload.last
        take = self.i.valid & self.i.ready
        desc_in = data.View(desc_layout, desc_fifo.w_data)

        m.d.comb += [
            self.i.ready.eq(data_fifo.w_rdy & desc_fifo.w_rdy),
            data_fifo.w_data.eq(byte),
            data_fifo.w_en.eq(take & (byte != 0)),
        ]

        def close(code, tail=0, end=0):
            m.d.comb += [
                desc_fifo.w_en.eq(1),
                desc_in.code.eq(code),
                desc_in.tail.eq(tail),
                desc_in.end.eq(end),
            ]
            m.d.sync += count.eq(0)

        with m.If(take):
            with m.If(byte == 0):
                # The zero is the block's implicit one. A frame that ends in a zero needs one
                # more, empty, block after it to carry that zero: "01" (the ``tail``).
                close(count + 1, tail=last, end=last)
            with m.Elif(count == MAX_BLOCK - 1):
                close(0xFF, end=last)     # cobs adds no empty block after a final 0xFF block
            with m.Elif(last):
                close(count + 2, end=1)
            with m.Else():
                m.d.sync += count.eq(count + 1)

        # Reader.
        desc_out = data.View(desc_layout, desc_fifo.r_data)
        left = Signal(8)     # data bytes of the block still to send
        tail = Signal()
        end = Signal()

        def after_data(tail, end):
            with m.If(tail):
                m.next = "TAIL"
            with m.Elif(end):
                m.next = "DELIMITER"
            with m.Else():
                m.next = "CODE"

        with m.FSM():
            with m.State("CODE"):
                m.d.comb += [
                    self.o.valid.eq(desc_fifo.r_rdy),
                    self.o.payload.eq(desc_out.code),
                    desc_fifo.r_en.eq(self.o.ready),
                ]
                with m.If(self.o.valid & self.o.ready):
                    m.d.sync += [
                        left.eq(desc_out.code - 1),
                        tail.eq(desc_out.tail),
                        end.eq(desc_out.end),
                    ]
                    with m.If(desc_out.code != 1):
                        m.next = "DATA"
                    with m.Else():
                        after_data(desc_out.tail, desc_out.end)
            with m.State("DATA"):
                m.d.comb += [
                    self.o.valid.eq(data_fifo.r_rdy),
                    self.o.payload.eq(data_fifo.r_data),
                    data_fifo.r_en.eq(self.o.ready),
                ]
                with m.If(self.o.valid & self.o.ready):
                    m.d.sync += left.eq(left - 1)
                    with m.If(left == 1):
                        after_data(tail, end)
            with m.State("TAIL"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(1)]
                with m.If(self.o.ready):
                    m.next = "DELIMITER"
            with m.State("DELIMITER"):
                m.d.comb += [self.o.valid.eq(1), self.o.payload.eq(0)]
                with m.If(self.o.ready):
                    m.next = "CODE"
        return m
