"""The server's WebSocket frames, parsed sans-IO: bytes in, frames out.

:class:`FrameParser` knows no socket, thread or timer. It is given bytes in any split (by
:meth:`~FrameParser.feed`, or written in place through :meth:`~FrameParser.recv_buffer` and
:meth:`~FrameParser.filled`), and :meth:`~FrameParser.frames` returns every complete frame
that the bytes so far hold, as ``(opcode, payload)`` pairs:

- :data:`TEXT`: a whole text message. An unfragmented frame's payload is a ``memoryview`` into
  the parser's buffer (no copy; valid until the next ``feed``/``recv_buffer`` call); the payload
  of a message sent in fragments is ``bytes``.
- :data:`BINARY`: a whole binary message, as ``bytes``.
- :data:`PING`, :data:`PONG`, :data:`CLOSE`: a control frame (it may come between the fragments
  of a message), its payload as ``bytes``; :func:`close_payload` reads a close frame's code and
  reason.
- :data:`VIOLATION`: the server broke the protocol; the payload is a :class:`Violation` with
  the close code to answer (1002, or 1009 for a message over the size limit). It is the last
  thing the parser returns: after it every call returns nothing.

A :data:`CLOSE` frame is also the last thing returned (nothing follows a close, RFC 6455 5.5.1).
The parser never raises on its input, whatever the bytes.

Server frames are unmasked, so a text payload is handed to the JSON parser in place. The buffer
is one ``bytearray`` that is reused: it grows for a frame larger than itself and shrinks back to
its usual size once the large frames are done.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "VIOLATION",
    "FrameParser",
    "Violation",
    "close_payload",
    "sendable",
]

#: Opcodes (RFC 6455, 5.2) of the frames :meth:`FrameParser.frames` returns.
TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA
_CONT = 0x0
#: Not an opcode: the "frame" that reports a protocol violation.
VIOLATION = -1

#: One parsed frame: ``(opcode, payload)``.
Frame = tuple[int, Any]

#: The usual buffer size; it grows for a larger frame, and shrinks back afterwards.
RECV_SIZE = 256 * 1024
#: Free space below which the parser moves a partial frame to the front of its buffer.
MIN_FREE = 64 * 1024


class Violation:
    """The server broke the WebSocket protocol: close the connection with ``code``.

    Attributes:
        code: 1002 (protocol error) or 1009 (message too big).
        reason: what was wrong, in words.
    """

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Violation) and (self.code, self.reason) == (other.code, other.reason)

    def __hash__(self) -> int:
        return hash((self.code, self.reason))

    def __repr__(self) -> str:
        return f"Violation({self.code}, {self.reason!r})"


class FrameParser:
    """Parses the frames a server sends (unmasked), from one reusable buffer.

    Args:
        max_message_size: the largest message accepted, in bytes (a frame, or the fragments
            of one message together); a larger one is a :class:`Violation` with code 1009,
            reported as soon as a frame header announces it (its payload is not awaited).

    Not thread-safe: one thread feeds the parser and takes its frames.
    """

    def __init__(self, max_message_size: int) -> None:
        if max_message_size < 125:
            raise ValueError(f"max_message_size must be at least 125 bytes, got {max_message_size}")
        self._max = max_message_size
        self._buf = bytearray(RECV_SIZE)
        self._view = memoryview(self._buf)
        self._start = 0  # buf[start:end]: received, not yet parsed
        self._end = 0
        self._need = 2  # bytes from start that the next frame needs, as far as its header tells
        self._frag_op = 0  # opcode of the fragmented message in progress (0: none)
        self._fragments: list[bytes] = []
        self._frag_size = 0
        self._done = False  # after a close frame or a violation

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as frames (a partial frame)."""
        return self._end - self._start

    # -- bytes in ------------------------------------------------------------------------------
    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Add bytes (a copy is made); the frames they complete come from :meth:`frames`."""
        n = len(data)
        if not n or self._done:
            return
        free = self.recv_buffer()
        if len(free) < n:
            k = self._end - self._start
            new = bytearray(k + n + MIN_FREE)
            new[:k] = self._view[self._start:self._end]
            self._buf, self._view = new, memoryview(new)
            self._start, self._end = 0, k
            free = self._view[k:]
        free[:n] = data
        self._end += n

    def recv_buffer(self) -> memoryview:
        """The free space at the end of the buffer, for ``sock.recv_into`` (then :meth:`filled`).

        At least 64 KiB, and room for the rest of the frame in progress. Makes room first: moves
        a partial frame to the front, grows the buffer for a large frame, or shrinks it back.
        Payloads returned earlier as views become invalid.
        """
        if self._done:  # after a close or a violation, bytes are dropped
            self._start = self._end = 0
            return self._view
        buf = self._buf
        start, end = self._start, self._end
        size = len(buf)
        k = end - start
        need = max(self._need, k)  # k > need only after feed() without frames()
        if need + MIN_FREE > size:
            new: bytearray | None = bytearray(need + RECV_SIZE)  # grow for a large frame
        elif size > RECV_SIZE and need + MIN_FREE <= RECV_SIZE:
            new = bytearray(RECV_SIZE)  # the large frames are done: back to the usual size
        else:
            new = None
        if new is not None:
            new[:k] = self._view[start:end]
            self._buf, self._view = new, memoryview(new)
            self._start, self._end = 0, k
        elif start == end:
            self._start = self._end = 0
        elif start + need > size or size - end < MIN_FREE:
            self._view[:k] = self._view[start:end]  # memoryview assignment handles the overlap
            self._start, self._end = 0, k
        return self._view[self._end:]

    def filled(self, n: int) -> None:
        """``n`` bytes were written at the start of the last :meth:`recv_buffer`."""
        if not self._done:
            self._end += n

    # -- frames out ----------------------------------------------------------------------------
    def frames(self) -> list[Frame]:
        """Every complete frame in the bytes so far, in order (see the module docstring)."""
        out: list[Frame] = []
        if self._done:
            return out
        append = out.append
        buf = self._buf
        view = self._view
        start = self._start
        end = self._end
        max_size = self._max
        frag_op = self._frag_op  # a local copy for the common case; self._frag_op is written on change
        while True:
            avail = end - start
            if avail < 2:
                self._need = 2
                break
            b0 = buf[start]
            b1 = buf[start + 1]
            if b1 & 0x80:
                return self._fail(out, start, 1002, "the server sent a masked frame")
            if b0 & 0x70:
                return self._fail(out, start, 1002,
                                  "the server sent a frame with RSV bits set (no extension was negotiated)")
            n = b1
            h = start + 2
            if n >= 126:
                if n == 126:
                    if avail < 4:
                        self._need = 4
                        break
                    n = (buf[start + 2] << 8) | buf[start + 3]
                    h += 2
                else:
                    if avail < 10:
                        self._need = 10
                        break
                    n = int.from_bytes(view[start + 2:start + 10], "big")
                    h += 8
                if n > max_size:
                    return self._fail(out, start, 1009, f"a frame of {n} bytes is over the limit of {max_size}")
            if end - h < n:
                if frag_op and not b0 & 0x0F and self._frag_size + n > max_size:  # do not await it
                    return self._fail(out, start, 1009, f"a message of over {max_size} bytes is over the limit")
                self._need = h - start + n
                break
            start = h + n
            if b0 == 0x81 and not frag_op:  # a whole text frame: the common case
                append((TEXT, view[h:start]))
                continue
            op = b0 & 0x0F
            if op >= 8:  # a control frame (may come between the fragments of a message)
                if not b0 & 0x80 or n > 125:
                    return self._fail(out, start, 1002, "the server sent a fragmented or oversized control frame")
                if op == PING or op == PONG:
                    append((op, bytes(view[h:start])))
                    continue
                if op == CLOSE:
                    append((CLOSE, bytes(view[h:start])))
                    self._done = True
                    self._start = start
                    return out
                return self._fail(out, start, 1002, f"the server sent a frame with unknown opcode {op:#x}")
            if op == _CONT:
                if not frag_op:
                    return self._fail(out, start, 1002, "the server sent a continuation frame outside a message")
            elif op == TEXT or op == BINARY:
                if frag_op:
                    return self._fail(out, start, 1002, "the server started a message inside a fragmented one")
            else:
                return self._fail(out, start, 1002, f"the server sent a frame with unknown opcode {op:#x}")
            if frag_op or not b0 & 0x80:  # part of a fragmented message
                self._frag_size += n
                if self._frag_size > max_size:
                    return self._fail(out, start, 1009, f"a message of over {max_size} bytes is over the limit")
                self._fragments.append(bytes(view[h:start]))
                if op:
                    self._frag_op = frag_op = op
                if not b0 & 0x80:
                    continue
                append((frag_op, b"".join(self._fragments)))
                self._fragments = []
                self._frag_op = frag_op = self._frag_size = 0
            elif op == TEXT:
                append((TEXT, view[h:start]))
            else:
                append((BINARY, bytes(view[h:start])))
        self._start = start
        return out

    def _fail(self, out: list[Frame], start: int, code: int, reason: str) -> list[Frame]:
        out.append((VIOLATION, Violation(code, reason)))
        self._done = True
        self._start = start
        self._fragments = []
        return out


def close_payload(data: bytes) -> tuple[int, str]:
    """A close frame's code and reason (1005 and ``""`` when it carries no code)."""
    if len(data) >= 2:
        return int.from_bytes(data[:2], "big"), data[2:].decode("utf-8", "replace")
    return 1005, ""


def sendable(code: int) -> bool:
    """Whether a close code may be sent in a close frame (RFC 6455, 7.4)."""
    return 1000 <= code < 5000 and code not in (1004, 1005, 1006, 1015)
