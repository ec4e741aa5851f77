"""The WebSocket connection: URL and headers, handshake errors, the reader thread, close.

Knows frames, not callbacks. websocket-client does the handshake (and reads the frames up to
``session.created``); after that the reader thread (``rtsync-reader``) reads the socket itself,
in large chunks into the reusable buffer of a sans-IO :class:`~rtsync.transport.frames.FrameParser`,
which parses the server's frames in place (server frames are unmasked, so a text payload goes to
the JSON parser without a copy). Text frames become events; pings are answered; a close is
answered and ends the connection. The events go on a queue in batches: every complete frame
already in the buffer is parsed (up to :data:`MAX_BATCH` per batch), and the batch is handed
over before the reader blocks for more bytes. A lone event goes at once, so batching adds no
latency; it only saves thread wake-ups.

The reader never runs user code and never dies on bad input: a frame that does not parse (or a
binary frame) becomes an ``rtsync.protocol_error`` event and reading goes on. A frame that
breaks the WebSocket protocol (masked, RSV bits set, bad fragmentation, unknown opcode) is
reported the same way and closes the connection (code 1002), as does a message over the size
limit (code 1009). When the connection ends, for whatever reason, the last thing the reader
queues is exactly one ``rtsync.close`` event.

The reader never waits behind a user's send. Its control frames (pong, ping, the answer to a
close) go out only when websocket-client's send lock is free and the socket has room; a send
blocked by TCP backpressure (a server that stopped reading) holds that lock, and then:

- a pong is left pending: the sending thread writes it once its send is done (the reader also
  retries it every 50 ms); only the latest ping is answered (RFC 6455, 5.5.3);
- a server close cannot be answered: the reader shuts the socket down, which releases the
  blocked send with a ``ClosedError``, and the ``rtsync.close`` event carries the server's code
  and reason;
- a keepalive ping is retried every 50 ms; its timeout counts from when it went out.

Events go on being delivered meanwhile.

Keepalive (``ping_interval``, ``ping_timeout``): with a ``ping_interval``, the reader waits for
the socket with a deadline instead of blocking in ``recv`` (no extra thread); every
``ping_interval`` seconds it sends a ping, and when no byte at all (a pong or any frame) has
arrived ``ping_timeout`` seconds after a ping, the peer is taken for dead: the socket is shut down
without a close handshake and the ``rtsync.close`` event has code 1006 and a reason that starts
with ``keepalive timed out``.

``close()`` never waits behind a blocked send for long either: when the send lock stays busy for
half a second it shuts the socket down without a close frame, which releases the blocked sender
with a ``ClosedError``.

Modules: :mod:`~rtsync.transport.frames` (the sans-IO frame parser),
:mod:`~rtsync.transport.handshake` (the URL, and the errors a refused handshake becomes),
:mod:`~rtsync.transport.connection` (:class:`Transport`: the reader thread, sends, close) and
``_wsclient`` (every websocket-client internal the transport relies on, named in one place).
"""

from __future__ import annotations

from rtsync.transport.connection import MAX_BATCH, MAX_MESSAGE_SIZE, Transport
from rtsync.transport.handshake import build_url

__all__ = ["MAX_BATCH", "MAX_MESSAGE_SIZE", "Transport", "build_url"]
