"""rtsync.tk and examples/tk_chat.py with real Tk roots on a private Xvfb display.

The module starts its own ``Xvfb`` (``-displayfd``: Xvfb picks a free display number and reports
it) and stops it at the end. Without Xvfb or tkinter the tests are skipped, except when the
``CI`` environment variable is set: then they fail, so CI never skips them silently.

Every assertion is about behaviour (which thread ran a callback, in which order, how many
events a tick delivered); the deadlines only keep a broken build from hanging.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import importlib.util
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from rtsync import ClosedError, RealtimeClient

ROOT = Path(__file__).resolve().parents[1]
TEXT = "alpha beta gamma delta epsilon zeta eta theta iota kappa"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Tk tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGTERM when this process dies (Linux only),
    so that a test run killed before its teardown leaves no Xvfb behind."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)

    return preexec


@pytest.fixture(scope="module")
def display(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A private Xvfb display (``":N"``), stopped after the module's tests."""
    try:
        import tkinter  # noqa: F401
    except ImportError as exc:
        _unavailable(f"tkinter cannot be imported ({exc}); apt-get install python3-tk")
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        _unavailable("Xvfb is not installed; apt-get install xvfb")
    log = tmp_path_factory.mktemp("xvfb") / "xvfb.log"
    r, w = os.pipe()
    with open(log, "wb") as err:
        proc = subprocess.Popen([xvfb, "-displayfd", str(w), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                                pass_fds=(w,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=_die_with_parent())
    os.close(w)
    try:
        number = b""
        deadline = time.monotonic() + 15
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            ready, _, _ = select.select([r], [], [], 0.1)
            if ready:
                chunk = os.read(r, 32)
                if not chunk:
                    break
                number += chunk
        if not number.strip().isdigit():
            pytest.fail(f"Xvfb did not report a display: {log.read_text(errors='replace')[-500:]}")
        yield f":{number.decode().strip()}"
    finally:
        os.close(r)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def root(display: str) -> Iterator[Any]:
    """A Tk root on the Xvfb display, created on this (the test's) thread: the Tk thread."""
    import tkinter

    r = tkinter.Tk(screenName=display)
    try:
        yield r
    finally:
        try:
            r.destroy()
        except tkinter.TclError:
            pass  # the test destroyed it
        del r
        # Free the Tk objects here, on the Tk thread: a Tk interpreter released by a garbage
        # collection that happens to run on another thread aborts the process.
        gc.collect()


def pump_until(root: Any, condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run the Tk event loop (the pump's ``after`` ticks among it) until ``condition()``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached (the pump did not deliver)")
        root.update()
        time.sleep(0.002)


def pumped_client(url: str, record: list[tuple[str, int, Any]] | None = None) -> RealtimeClient:
    c = RealtimeClient(url=url, api_key="", dispatch="pump")
    if record is not None:
        c.on("*", lambda ev: record.append((ev.type, threading.get_ident(), ev)))
    return c.connect()


def reference_types(url: str, text: str) -> list[str]:
    """The event types a thread-dispatched client sees for the same exchange."""
    seen: list[str] = []
    c = RealtimeClient(url=url, api_key="")
    c.on("*", lambda ev: seen.append(ev.type))
    with c:
        c.ask(text)
    return seen[: seen.index("response.done") + 1]


# -- rtsync.tk ---------------------------------------------------------------------------------

def test_import_rtsync_loads_neither_tkinter_nor_the_glue():
    code = "import sys, rtsync; print('tkinter' in sys.modules, 'rtsync.tk' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_callbacks_run_on_the_tk_thread_in_arrival_order(root, local_server):
    import rtsync.tk

    tk_thread = threading.get_ident()
    record: list[tuple[str, int, Any]] = []
    client = pumped_client(local_server.url, record)
    pump = rtsync.tk.attach(root, client)
    assert pump.thread_ident == tk_thread
    done: list[tuple[Any, int]] = []
    worker = pump.run_blocking(client.ask, TEXT, on_done=lambda reply: done.append((reply, threading.get_ident())))
    assert worker.ident != tk_thread and worker.name.startswith("rtsync-tk-worker-")
    pump_until(root, lambda: bool(done))

    reply, done_thread = done[0]
    assert done_thread == tk_thread  # on_done comes back to the Tk thread
    assert reply.text == f"You said: {TEXT}"
    assert {ident for _, ident, _ in record} == {tk_thread}
    types = [t for t, _, _ in record]
    types = types[: types.index("response.done") + 1]
    assert types == reference_types(local_server.url, TEXT)  # same events, same order
    deltas = [ev.delta for t, _, ev in record if t == "response.text.delta"]
    assert len(deltas) == len(TEXT.split()) + 2 and "".join(deltas) == reply.text

    pump.shutdown()
    assert not pump.running and not worker.is_alive()
    assert client.state == "closed"
    assert record[-1][0] == "rtsync.close" and record[-1][1] == tk_thread


def test_max_events_bounds_each_tick(root, local_server):
    import rtsync.tk

    per_tick: collections.Counter[int] = collections.Counter()
    client = pumped_client(local_server.url)
    pump = rtsync.tk.attach(root, client, max_events=3, max_seconds=None, interval_ms=30)
    client.on("*", lambda ev: per_tick.update([pump.ticks]))  # ticks counts the ticks already finished
    done: list[Any] = []
    pump.run_blocking(client.ask, TEXT, on_done=done.append)
    pump_until(root, lambda: bool(done))
    pump.shutdown()

    assert sum(per_tick.values()) > 10  # the whole response went through the pump...
    assert max(per_tick.values()) == 3  # ...never more than 3 events in one tick, and the bound was hit
    assert pump.delivered == sum(per_tick.values())


def test_a_zero_time_slice_delivers_one_event_per_tick(root, local_server):
    import rtsync.tk

    per_tick: collections.Counter[int] = collections.Counter()
    client = pumped_client(local_server.url)
    pump = rtsync.tk.attach(root, client, max_seconds=0.0)
    client.on("*", lambda ev: per_tick.update([pump.ticks]))
    done: list[Any] = []
    pump.run_blocking(client.ask, TEXT, on_done=done.append)
    pump_until(root, lambda: bool(done))
    pump.shutdown()

    assert sum(per_tick.values()) > 10
    assert set(per_tick.values()) == {1}  # the slice ends after the first event of each tick


def test_call_soon_runs_on_the_tk_thread_in_order(root, local_server):
    import rtsync.tk

    client = pumped_client(local_server.url)
    pump = rtsync.tk.attach(root, client)
    ran: list[tuple[int, int]] = []

    def post() -> None:
        for i in range(5):
            pump.call_soon(lambda i=i: ran.append((i, threading.get_ident())))

    t = threading.Thread(target=post)
    t.start()
    t.join()
    pump_until(root, lambda: len(ran) == 5)
    assert ran == [(i, threading.get_ident()) for i in range(5)]
    pump.shutdown()


def test_errors_of_blocking_calls_come_back_on_the_tk_thread(root, local_server):
    import rtsync.tk

    client = pumped_client(local_server.url)
    pump = rtsync.tk.attach(root, client)
    errors: list[tuple[BaseException, int]] = []

    def fail() -> None:
        raise ValueError("from the worker")

    pump.run_blocking(fail, on_done=lambda _: None, on_error=lambda e: errors.append((e, threading.get_ident())))
    pump_until(root, lambda: bool(errors))
    assert isinstance(errors[0][0], ValueError) and errors[0][1] == threading.get_ident()
    pump.shutdown()


def test_blocking_helpers_refuse_to_run_on_the_tk_thread(root, local_server):
    import rtsync.tk

    client = pumped_client(local_server.url)
    pump = rtsync.tk.attach(root, client)
    with pytest.raises(RuntimeError, match="from a callback"):
        client.ask("would deadlock")
    with pytest.raises(RuntimeError):
        client.wait_for("response.done", timeout=1)
    pump.shutdown()


def test_a_thread_dispatched_client_is_refused(root, client):
    import rtsync.tk

    with pytest.raises(RuntimeError, match="pump"):
        rtsync.tk.attach(root, client)


def test_the_pump_stops_when_the_server_closes_the_connection(root):
    import rtsync.tk
    from rtsync.server import LocalServer

    record: list[tuple[str, int, Any]] = []
    outcome: list[tuple[Any, int]] = []
    with LocalServer(text_delay=0.05) as server:
        client = pumped_client(server.url, record)
        pump = rtsync.tk.attach(root, client)
        pump.run_blocking(client.ask, TEXT, on_done=lambda r: outcome.append((r, threading.get_ident())),
                          on_error=lambda e: outcome.append((e, threading.get_ident())))
        pump_until(root, lambda: any(t == "response.text.delta" for t, _, _ in record))
    # The server is gone: the pump delivers rtsync.close on the Tk thread, hands back the
    # interrupted ask's error, then stops by itself.
    pump_until(root, lambda: not pump.running)
    assert record[-1][0] == "rtsync.close" and record[-1][1] == threading.get_ident()
    assert len(outcome) == 1
    assert isinstance(outcome[0][0], ClosedError) and outcome[0][1] == threading.get_ident()
    client.close()


def test_the_pump_stops_when_the_root_is_destroyed(root, local_server):
    import tkinter

    import rtsync.tk

    client = pumped_client(local_server.url)
    pump = rtsync.tk.attach(root, client)
    child = tkinter.Label(root, text="child")
    child.pack()
    root.update()
    child.destroy()  # a child's <Destroy> reaches the root's binding too; it must not stop the pump
    root.update()
    assert pump.running
    root.destroy()
    assert not pump.running
    client.close()


def test_shutdown_releases_an_ask_in_progress(root, slow_server):
    import rtsync.tk

    client = pumped_client(slow_server.url)
    pump = rtsync.tk.attach(root, client)
    deltas: list[str] = []
    client.on("response.text.delta", lambda ev: deltas.append(ev.delta))
    outcome: list[Any] = []
    worker = pump.run_blocking(client.ask, TEXT, on_done=outcome.append, on_error=outcome.append)
    pump_until(root, lambda: bool(deltas))  # the reply is streaming (one delta per 50 ms)
    pump.shutdown()
    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ClosedError)
    assert len(deltas) < len(TEXT.split())  # it really was cut short


# -- examples/tk_chat.py -----------------------------------------------------------------------

def load_example() -> Any:
    spec = importlib.util.spec_from_file_location("tk_chat_example", ROOT / "examples" / "tk_chat.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_chat_window_streams_the_reply_into_the_text_widget(root, local_server):
    tk_chat = load_example()
    tk_thread = threading.get_ident()
    client = RealtimeClient(url=local_server.url, api_key="", dispatch="pump").connect()
    app = tk_chat.ChatWindow(root, client, audio=False)
    assert app.talk_button is None
    seen_threads: set[int] = set()
    client.on("*", lambda ev: seen_threads.add(threading.get_ident()))
    snapshots: list[str] = []  # the widget's text after each delta (this callback runs after the window's)
    client.on("response.text.delta", lambda ev: snapshots.append(app.transcript_text()))

    # Type a message and press Return, as a user would.
    app.entry.focus_force()
    root.update()
    app.entry.insert(0, "hello from the test")
    app.entry.event_generate("<Return>")
    assert app.entry.get() == ""
    assert str(app.send_button["state"]) == "disabled"  # one request at a time
    pump_until(root, lambda: len(app.replies) == 1)
    assert app.transcript_text() == "you: hello from the test\nassistant: You said: hello from the test\n"
    assert str(app.send_button["state"]) == "normal"
    assert "completed" in app.status["text"]

    # The reply streamed in: the widget grew one word at a time.
    words = "You said: hello from the test".split(" ")
    assert [s.split("assistant: ", 1)[1] for s in snapshots] == [" ".join(words[: i + 1]) for i in range(len(words))]

    # The Send button works too.
    app.entry.insert(0, "second")
    app.send_button.invoke()
    pump_until(root, lambda: len(app.replies) == 2)
    assert app.transcript_text().endswith("you: second\nassistant: You said: second\n")

    assert seen_threads == {tk_thread}
    assert app.callback_threads == {tk_thread}
    app.close()  # closes the client and destroys the window
    assert client.state == "closed"
    assert not app.pump.running


def test_push_to_talk_button_sends_a_spoken_turn(root, local_server, monkeypatch):
    vaudio = Path(os.environ.get("VAUDIO_DIR", "/tmp/rtsync-vaudio")) / "asound.conf"
    if "ALSA_CONFIG_PATH" not in os.environ and vaudio.exists():
        monkeypatch.setenv("ALSA_CONFIG_PATH", str(vaudio))  # the virtual device of tests/audio
    tk_chat = load_example()
    if not tk_chat.audio_available():
        if os.environ.get("CI"):
            pytest.fail("no sound device in CI (run tests/audio/vaudio.sh first)", pytrace=False)
        pytest.skip("no default microphone and speaker (see tests/audio/vaudio.sh)")
    tk_thread = threading.get_ident()
    client = RealtimeClient(url=local_server.url, api_key="", dispatch="pump").connect()
    app = tk_chat.ChatWindow(root, client, audio=True)
    try:
        assert app.talk_button is not None
        seen_threads: set[int] = set()
        client.on("*", lambda ev: seen_threads.add(threading.get_ident()))
        root.update()
        app.talk_button.event_generate("<ButtonPress-1>")
        pump_until(root, lambda: app.voice.stats.blocks_sent >= 10)  # 200 ms of microphone audio sent
        app.talk_button.event_generate("<ButtonRelease-1>")
        pump_until(root, lambda: app.transcript_text().endswith("speech.\n"))
        m = re.fullmatch(r"you: \[spoken\]\nassistant: I heard (\d+\.\d) seconds of speech\.\n",
                         app.transcript_text())
        assert m, app.transcript_text()
        assert float(m.group(1)) >= 0.2
        assert seen_threads == {tk_thread} and app.callback_threads == {tk_thread}
    finally:
        app.close()
    assert client.state == "closed"


def test_tk_chat_example_runs_against_its_own_local_server(display):
    env = dict(os.environ, DISPLAY=display)
    env.pop("OPENAI_API_KEY", None)
    out = subprocess.run([sys.executable, "examples/tk_chat.py", "--no-audio", "--selftest", "hi from a script"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr
    assert "local Realtime server at ws://127.0.0.1:" in out.stdout
    assert "entry after send: ''" in out.stdout
    # the example's own server answers the default (reasoning) model with a preamble line first
    assert re.search(r"transcript:\nyou: hi from a script\nassistant \(preamble\): Let me think\.\n"
                     r"assistant: You said: hi from a script\n", out.stdout), out.stdout
    assert "reply text: 'You said: hi from a script'" in out.stdout
    assert "callbacks on the Tk thread: True" in out.stdout
