"""The public surface, the light import, the CLI and the demo, each run as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import rtsync
import rtsync.events

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], stdin: str = "", timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.pop("OPENAI_API_KEY", None)
    e.update(env or {})
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=e)


def test_exported_members_are_sorted_and_documented():
    for mod in (rtsync, rtsync.events):
        names = list(mod.__all__)
        assert len(names) == len(set(names))
        for name in names:
            obj = getattr(mod, name)
            if callable(obj) and not isinstance(obj, str):
                assert obj.__doc__, f"{mod.__name__}.{name} has no docstring"
    assert rtsync.__version__


def test_import_is_light():
    code = (
        "import sys, rtsync; "
        "heavy = [m for m in ('numpy', 'pyaudio', 'rtsync.server', 'websockets') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = run(["-c", code])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_local_server_is_reachable_lazily():
    from rtsync.server import LocalServer

    assert rtsync.LocalServer is LocalServer


def test_demo_runs_and_streams_text():
    out = run(["examples/demo.py"])
    assert out.returncode == 0, out.stderr
    assert "assistant> You said: Hello! Who am I talking to?" in out.stdout
    assert "ask() returned: 'You said: One more, blocking this time.'" in out.stdout
    assert out.stdout.count("[completed,") == 4  # three turns by callbacks, one by ask()


def test_chat_cli_against_in_process_server():
    out = run(["-m", "rtsync", "chat"], stdin="hello there\n/quit\n")
    assert out.returncode == 0, out.stderr
    assert "local server" in out.stdout
    assert "You said: hello there" in out.stdout


def test_chat_cli_verbose_cuts_audio_short():
    out = run(["-m", "rtsync", "chat", "--verbose"], stdin="hi\n")
    assert out.returncode == 0, out.stderr
    assert '"type": "response.done"' in out.stderr


def test_cli_help():
    out = run(["-m", "rtsync", "--help"])
    assert out.returncode == 0
    assert "serve" in out.stdout and "chat" in out.stdout


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_serve_cli_serves_until_interrupted(signame: str) -> None:
    import re
    import signal

    from rtsync import RealtimeClient

    def as_from_a_terminal() -> None:
        # A background job of a non-interactive shell (CI runners, `cmd &`) starts with SIGINT
        # ignored, and Python then keeps it ignored; Ctrl-C at a terminal finds the default.
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "rtsync", "serve", "--port", "0", "--voice", "tone"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
                            preexec_fn=as_from_a_terminal)
    try:
        line = proc.stdout.readline()
        m = re.search(r"(ws://127\.0\.0\.1:\d+/v1/realtime)", line)
        assert m, line
        with RealtimeClient(url=m.group(1)) as c:
            assert c.ask("over the wire").text == "You said: over the wire"
        proc.send_signal(getattr(signal, signame))
        assert proc.wait(10) == 0  # a clean stop, not death by the signal
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
