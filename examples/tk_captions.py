"""A Tk window of live captions: a transcription session, captions growing as the deltas arrive.

    python examples/tk_captions.py --mic            # caption the microphone (server VAD)
    python examples/tk_captions.py talk.wav         # caption a WAV file, streamed as if live

Without ``--url`` and without ``OPENAI_API_KEY`` the Transcriber starts a local server of its
own (its captions read ``[speech N.N s]``; it has no speech recogniser). Every callback runs on
the Tk thread: the transcriber's events are pumped from Tk's loop by :func:`rtsync.tk.attach`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import tkinter
from typing import Any

import numpy as np

import rtsync.tk
from rtsync import Transcriber
from rtsync.audio import read_wav, resample

RATE = 24000


class CaptionWindow:
    """The caption list: finished captions, one per line, and the caption still arriving below them."""

    def __init__(self, root: tkinter.Tk, transcriber: Transcriber) -> None:
        self.root = root
        self.transcriber = transcriber
        self.captions: list[str] = []
        self.callback_threads: set[int] = set()
        self.partial = ""
        root.title("rtsync captions")
        self.text = tkinter.Text(root, height=12, width=60, wrap="word")
        self.text.pack(fill="both", expand=True)
        self.status = tkinter.Label(root, text="connected", anchor="w")
        self.status.pack(fill="x")
        self.pump = rtsync.tk.attach(root, transcriber.client)  # callbacks now run on this thread
        transcriber.on("input_audio_buffer.speech_started", self._on_speech)
        transcriber.on("conversation.item.input_audio_transcription.delta", self._on_delta)
        transcriber.on("conversation.item.input_audio_transcription.completed", self._on_completed)
        transcriber.on("rtsync.close", lambda ev: self.status.configure(text=f"disconnected ({ev.code})"))
        root.protocol("WM_DELETE_WINDOW", self.close)

    def _show(self) -> None:
        self.text.delete("1.0", "end")
        self.text.insert("end", "".join(c + "\n" for c in self.captions) + self.partial)
        self.text.see("end")

    def _on_speech(self, ev: Any) -> None:
        self.callback_threads.add(threading.get_ident())
        self.status.configure(text="hearing speech…")

    def _on_delta(self, ev: Any) -> None:
        self.callback_threads.add(threading.get_ident())
        self.partial += ev.delta
        self._show()

    def _on_completed(self, ev: Any) -> None:
        self.callback_threads.add(threading.get_ident())
        self.captions.append(ev.transcript)
        self.partial = ""
        self.status.configure(text=f"{len(self.captions)} caption(s)")
        self._show()

    def shown_text(self) -> str:
        """What the caption widget shows."""
        return self.text.get("1.0", "end-1c")

    def close(self) -> None:
        """Stop the microphone, close the session (its last events delivered), destroy the window."""
        self.transcriber.stop_microphone()
        self.pump.shutdown()
        self.transcriber.close()
        self.root.destroy()


def stream_file(transcriber: Transcriber, path: str, pace: float) -> None:
    """Send a WAV file in 100 ms blocks (``pace`` seconds apart), then a second of silence."""
    samples, rate = read_wav(path)
    if rate != RATE:
        samples = resample(samples, rate, RATE).astype(np.int16)
    audio = np.concatenate((samples, np.zeros(RATE, np.int16)))
    for i in range(0, len(audio), RATE // 10):
        transcriber.send_audio(audio[i:i + RATE // 10])
        time.sleep(pace)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", help="a WAV file to caption (instead of --mic)")
    parser.add_argument("--mic", action="store_true", help="caption the default microphone")
    parser.add_argument("--url", help="endpoint (default: OpenAI with a key, else an in-process local server)")
    parser.add_argument("--selftest", type=int, metavar="N", help=argparse.SUPPRESS)  # for the test suite
    args = parser.parse_args(argv)
    if not args.file and not args.mic:
        parser.error("give a WAV file or --mic")
    if args.url is None and not os.environ.get("OPENAI_API_KEY"):
        print("No OPENAI_API_KEY and no --url: captions from an in-process local server")
    transcriber = Transcriber(url=args.url, dispatch="pump").connect()
    root = tkinter.Tk()
    app = CaptionWindow(root, transcriber)
    if args.mic:
        transcriber.start_microphone()
    else:  # a blocking feed: on a worker thread, never the Tk thread
        app.pump.run_blocking(stream_file, transcriber, args.file, 0.0 if args.selftest else 0.1)
    if args.selftest:
        _selftest(app, args.selftest)
    root.mainloop()


def _selftest(app: CaptionWindow, n: int) -> None:
    """Wait for ``n`` captions, print what the window shows, close."""
    deadline = time.monotonic() + 30

    def check() -> None:
        if len(app.captions) < n and time.monotonic() < deadline:
            app.root.after(20, check)
            return
        print("window:")
        print(app.shown_text())
        print(f"callbacks on the Tk thread: {app.callback_threads == {app.pump.thread_ident}}")
        if len(app.captions) < n:
            print("selftest: too few captions", file=sys.stderr)
        app.close()

    app.root.after(20, check)


if __name__ == "__main__":
    main()
