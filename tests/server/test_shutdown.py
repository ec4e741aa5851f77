"""Stopping the local server with every websockets version setup.cfg allows.

``websockets`` 13 to 16 have ``Server.shutdown()`` without arguments, which only closes the
listening socket; 17 added ``shutdown(close_connections, code, reason)``, which also closes the
open connections and waits for their handlers. ``make test-floors`` runs these tests with the
lowest declared version, ``make test`` with the newest.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
import websocket

from rtsync import RealtimeClient
from rtsync.server import LocalServer


def _server_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("rtsync-server")]


def test_with_block_exits_cleanly_after_a_turn() -> None:
    with LocalServer(voice="tone") as server, RealtimeClient(url=server.url) as client:
        assert client.ask("hello").text == "You said: hello"
    assert _server_threads() == []
    assert repr(server).endswith(" stopped>")


def test_stop_sends_going_away_with_its_reason_to_an_open_connection() -> None:
    server = LocalServer(voice="tone").start()
    ws = websocket.create_connection(server.url, timeout=5)
    try:
        ws.recv()  # session.created
        stopper = threading.Thread(target=server.stop, name="test-stop")
        stopper.start()
        while True:
            opcode, frame = ws.recv_data_frame(control_frame=True)
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
        ws.send_close(1001)
        stopper.join(10)
        assert not stopper.is_alive()
    finally:
        ws.shutdown()
    assert int.from_bytes(frame.data[:2], "big") == 1001
    assert frame.data[2:].decode() == "server shutting down"
    assert _server_threads() == []


def test_stop_does_not_wait_for_a_connection_still_in_its_handshake() -> None:
    """A TCP connection that never sends its HTTP upgrade must not hold stop() up."""
    server = LocalServer(voice="tone").start()
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    try:
        deadline = time.monotonic() + 5
        while not any(name.startswith("rtsync-server-conn") for name in _server_threads()):
            assert time.monotonic() < deadline, "the server never accepted the connection"
            time.sleep(0.01)
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
    finally:
        raw.close()
    assert _server_threads() == []
    assert elapsed < 2.0, f"stop() took {elapsed:.1f}s"


def test_stop_refuses_new_connections_and_unbinds_the_port() -> None:
    server = LocalServer(voice="tone").start()
    port = server.port
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_serve_exits_zero_on_sigterm_without_a_client() -> None:
    import re
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "rtsync", "serve", "--port", "0", "--voice", "tone"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert re.search(r"ws://127\.0\.0\.1:\d+/v1/realtime", line), line
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "Traceback" not in stderr, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
