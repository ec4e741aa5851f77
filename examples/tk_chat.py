"""A small Tkinter chat window: type a message, watch the reply stream in; hold a button to talk.

    python examples/tk_chat.py [--url ws://...] [--no-audio] [--echo-guard aec|half_duplex|none]

Without ``--url`` and without ``OPENAI_API_KEY`` it runs against an in-process local server (no
key needed), which answers ``You said: ...``. The client is made with ``dispatch="pump"`` and
:func:`rtsync.tk.attach` delivers its events from Tk's ``after`` timer, so every callback runs on
the Tk thread and updates the widgets directly. ``client.ask`` blocks, so it runs on a worker
thread (``pump.run_blocking``) and its result comes back to the Tk thread. The "Hold to talk"
button appears only when PortAudio has a default microphone and speaker. With the ``aec`` extra
(``pip install 'rtsync[aec]'``) the voice session cancels the speaker's echo (the default), and the
status line shows the echo reduction while you talk.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import tkinter
from typing import Any

import rtsync.tk
from rtsync import RealtimeClient


def audio_available() -> bool:
    """True when PortAudio (PyAudio) is installed and has a default input and output device."""
    try:
        from rtsync.audio import list_devices

        devices = list_devices()
    except Exception:
        return False
    has_in = any(d.is_default_input and d.max_input_channels > 0 for d in devices)
    has_out = any(d.is_default_output and d.max_output_channels > 0 for d in devices)
    return has_in and has_out


class ChatWindow:
    """The chat window on ``root`` for a connected ``client`` made with ``dispatch="pump"``.

    Every method and callback here runs on the Tk thread; only ``client.ask`` and
    ``VoiceSession.stop_talking`` run on worker threads (through ``pump.run_blocking``).

    Attributes:
        transcript: the Text widget holding the conversation.
        entry: the text entry (Return sends).
        send_button: sends the entry's text.
        talk_button: "Hold to talk", or None without sound devices.
        status: a Label with the state of the last reply.
        pump: the :class:`rtsync.tk.TkPump` delivering the client's events.
        callback_threads: the thread idents the window's client callbacks ran on.
        replies: the :class:`rtsync.Reply` objects of the messages sent, in order.
    """

    def __init__(self, root: tkinter.Tk, client: RealtimeClient, *, audio: bool = False,
                 echo_guard: str | None = "auto") -> None:
        self.root = root
        self.client = client
        self.callback_threads: set[int] = set()
        self.replies: list[Any] = []
        self.phases: dict[str, Any] = {}  # item id -> phase ("commentary": a reasoning model's preamble)
        self.printing: str | None = None  # the item whose text is being shown
        self.busy = False
        self.voice: Any = None
        root.title("rtsync chat")
        self.transcript = tkinter.Text(root, height=18, width=72, wrap="word", state="disabled")
        self.transcript.tag_configure("you", foreground="#1f4e9c")
        self.transcript.tag_configure("error", foreground="#b00020")
        self.transcript.pack(fill="both", expand=True, padx=6, pady=6)
        bar = tkinter.Frame(root)
        bar.pack(fill="x", padx=6, pady=(0, 6))
        self.entry = tkinter.Entry(bar)
        self.entry.pack(side="left", fill="x", expand=True)
        self.entry.bind("<Return>", self.send)
        self.send_button = tkinter.Button(bar, text="Send", command=self.send)
        self.send_button.pack(side="left", padx=(6, 0))
        self.talk_button: tkinter.Button | None = None
        if audio:
            self.talk_button = tkinter.Button(bar, text="Hold to talk")
            self.talk_button.pack(side="left", padx=(6, 0))
            self.talk_button.bind("<ButtonPress-1>", self._talk_pressed)
            self.talk_button.bind("<ButtonRelease-1>", self._talk_released)
        self.status = tkinter.Label(root, anchor="w", text=f"connected: session {client.session_id}")
        self.status.pack(fill="x", padx=6, pady=(0, 6))
        root.protocol("WM_DELETE_WINDOW", self.close)

        client.on("response.created", self._on_response_created)
        client.on("response.output_item.added", self._on_item_added)
        client.on("response.text.delta", self._on_delta)
        client.on("response.audio_transcript.delta", self._on_delta)
        client.on("response.done", self._on_response_done)
        client.on("error", self._on_server_error)
        client.on("rtsync.close", self._on_close)
        self.pump = rtsync.tk.attach(root, client)
        if audio:
            from rtsync import VoiceSession

            self.voice = VoiceSession(client, mode="push_to_talk", echo_guard=echo_guard).start()
        self.entry.focus_set()

    # -- widgets --------------------------------------------------------------------------------
    def append(self, text: str, tag: str | None = None) -> None:
        """Add text at the end of the transcript."""
        self.transcript.configure(state="normal")
        self.transcript.insert("end", text, () if tag is None else (tag,))
        self.transcript.configure(state="disabled")
        self.transcript.see("end")

    def transcript_text(self) -> str:
        """The whole transcript as plain text."""
        return self.transcript.get("1.0", "end-1c")

    # -- sending (Tk thread) ------------------------------------------------------------------
    def send(self, event: Any = None) -> str:
        """Send the entry's text and ask for a reply (the reply streams in through callbacks)."""
        text = self.entry.get().strip()
        if not text or self.busy:
            return "break"
        self.entry.delete(0, "end")
        self.append(f"you: {text}\n", "you")
        self.busy = True
        self.send_button.configure(state="disabled")
        self.status.configure(text="waiting for the reply...")
        self.pump.run_blocking(self.client.ask, text, on_done=self._on_reply, on_error=self._on_ask_error)
        return "break"

    def _on_reply(self, reply: Any) -> None:  # Tk thread, after client.ask returned
        self.replies.append(reply)
        tokens = reply.usage.total_tokens if reply.usage is not None else "?"
        self.status.configure(text=f"reply {reply.status}, {tokens} tokens")
        self._idle()

    def _on_ask_error(self, exc: BaseException) -> None:  # Tk thread
        self.append(f"[{type(exc).__name__}: {exc}]\n", "error")
        self.status.configure(text="the request failed")
        self._idle()

    def _idle(self) -> None:
        self.busy = False
        if self.client.is_open:
            self.send_button.configure(state="normal")

    # -- push to talk (Tk thread) ---------------------------------------------------------------
    def _talk_pressed(self, event: Any) -> None:
        if self.voice is not None and self.client.is_open:
            self.voice.start_talking()
            echo = self.voice.refresh_stats().echo_reduction_db
            self.status.configure(text="listening..." if echo is None else f"listening... (echo -{echo:.0f} dB)")

    def _talk_released(self, event: Any) -> None:
        if self.voice is not None and self.client.is_open:
            self.append("you: [spoken]\n", "you")
            self.pump.run_blocking(self.voice.stop_talking, on_error=self._on_ask_error)

    # -- client callbacks (Tk thread, inside the pump's tick) -----------------------------------
    def _seen(self) -> None:
        self.callback_threads.add(threading.get_ident())

    def _on_response_created(self, ev: Any) -> None:
        self._seen()
        self.printing = None

    def _on_item_added(self, ev: Any) -> None:
        self._seen()
        self.phases[ev.item.id] = ev.item.phase

    def _on_delta(self, ev: Any) -> None:
        self._seen()
        if ev.item_id != self.printing:  # each message on a line of its own, a preamble marked
            preamble = self.phases.get(ev.item_id) == "commentary"
            self.append(("\n" if self.printing else "") + ("assistant (preamble): " if preamble else "assistant: "))
            self.printing = ev.item_id
        self.append(ev.delta)

    def _on_response_done(self, ev: Any) -> None:
        self._seen()
        if self.printing is not None:
            self.append("\n")

    def _on_server_error(self, ev: Any) -> None:
        self._seen()
        self.append(f"[server error: {ev.error.message}]\n", "error")

    def _on_close(self, ev: Any) -> None:
        self._seen()
        self.status.configure(text=f"disconnected ({ev.code})")
        self.send_button.configure(state="disabled")

    # -- closing (Tk thread) -------------------------------------------------------------------
    def close(self) -> None:
        """Stop the voice session, close the client (delivering its last events), destroy the window."""
        if self.voice is not None:
            self.voice.close()
            self.voice = None
        self.pump.shutdown()
        self.root.destroy()


def _selftest(app: ChatWindow, message: str) -> None:
    """Type ``message`` into the entry, press Return, and when the reply is in, print and close.

    A check for the test suite: it drives the real widgets and prints what the window shows.
    """
    root = app.root
    results: dict[str, Any] = {"ok": False}

    def type_and_send() -> None:
        app.entry.focus_force()
        root.update()
        app.entry.insert(0, message)
        app.entry.event_generate("<Return>")

    def check() -> None:
        if not app.replies:
            root.after(20, check)
            return
        tk_thread = app.pump.thread_ident
        print(f"entry after send: {app.entry.get()!r}")
        print("transcript:")
        print(app.transcript_text())
        print(f"reply text: {app.replies[0].text!r}")
        print(f"callbacks on the Tk thread: {app.callback_threads == {tk_thread}}")
        results["ok"] = True
        app.close()

    def give_up() -> None:
        if not results["ok"]:
            print("selftest: no reply in time", file=sys.stderr)
            app.close()

    root.after(50, type_and_send)
    root.after(100, check)
    root.after(20000, give_up)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Realtime WebSocket endpoint (default: an in-process local server "
                                      "when OPENAI_API_KEY is not set)")
    parser.add_argument("--no-audio", action="store_true", help="no push-to-talk button")
    parser.add_argument("--echo-guard", choices=["auto", "aec", "half_duplex", "threshold", "none"], default="auto",
                        help="auto: aec where 'rtsync[aec]' is installed (default)")
    parser.add_argument("--selftest", metavar="MESSAGE", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        url = args.url
        if not url and not os.environ.get("OPENAI_API_KEY"):
            from rtsync.server import LocalServer

            url = stack.enter_context(LocalServer()).url
            print(f"local Realtime server at {url}")
        client = RealtimeClient(dispatch="pump", **({"url": url} if url else {}))
        root = tkinter.Tk()
        try:
            client.connect()
            app = ChatWindow(root, client, audio=not args.no_audio and audio_available(), echo_guard=args.echo_guard)
        except BaseException:
            client.close()
            root.destroy()
            raise
        if args.selftest is not None:
            _selftest(app, args.selftest)
        root.mainloop()
        client.close()  # no-op after the window's own close


if __name__ == "__main__":
    main()
