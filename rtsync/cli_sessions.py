"""``python -m rtsync transcribe`` and ``python -m rtsync translate``: captions and translation.

* ``transcribe FILE`` prints the transcript of a WAV file as it arrives; ``transcribe --mic``
  prints a caption per spoken turn (server VAD) until Ctrl-C or ``--seconds``.
* ``translate --to es FILE [--out OUT.wav]`` prints the source and translated transcripts and
  plays the translated speech (or saves it with ``--out``); ``translate --to es --mic`` speaks
  the translation as you talk (half-duplex: the microphone is muted while it plays).

Without ``OPENAI_API_KEY`` and without ``--url`` both use a local server started in-process and
say so (its transcripts read ``[speech N.N s]``, its translations ``[LANG] [speech N.N s]``).
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from typing import Any

__all__ = ["add_commands"]


def _say_local(args: argparse.Namespace, doing: str, script: str) -> None:
    if args.url is None and not os.environ.get("OPENAI_API_KEY"):
        print(f"No OPENAI_API_KEY and no --url: {doing} with the local server ({script})", flush=True)


def _missing_device(need_output: bool) -> str | None:
    from rtsync.audio import list_devices
    from rtsync.errors import AudioError

    try:
        devices = list_devices()
    except AudioError as exc:
        return " ".join(str(exc).split())
    if not any(d.is_default_input and d.max_input_channels > 0 for d in devices):
        return f"no microphone: PortAudio lists {len(devices)} device(s), none of them a default input"
    if need_output and not any(d.is_default_output and d.max_output_channels > 0 for d in devices):
        return f"no speaker: PortAudio lists {len(devices)} device(s), none of them a default output"
    return None


def _run_for(seconds: float | None, alive: Any) -> None:
    deadline = None if seconds is None else time.monotonic() + seconds
    try:
        while alive() and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
    except KeyboardInterrupt:
        print()


def _cmd_transcribe(args: argparse.Namespace) -> int:
    from rtsync.errors import RealtimeError
    from rtsync.transcribe import Transcriber

    if (args.file is None) == (not args.mic):
        print("transcribe: give a WAV FILE or --mic (one of them)", file=sys.stderr)
        return 2
    if args.mic:
        missing = _missing_device(need_output=False)
        if missing:
            print(f"transcribe: {missing}", file=sys.stderr)
            return 1
    _say_local(args, "transcribing", "its transcripts read [speech N.N s]")
    tr = Transcriber(url=args.url, model=args.model, language=args.language,
                     turn_detection="server_vad" if args.mic else None)
    line_open = threading.Event()

    def on_delta(ev: Any) -> None:
        print(ev.delta, end="", flush=True)
        line_open.set()

    def on_done(ev: Any) -> None:
        if not line_open.is_set():
            print(ev.transcript, end="")
        print(flush=True)
        line_open.clear()

    tr.on("conversation.item.input_audio_transcription.delta", on_delta)
    tr.on("conversation.item.input_audio_transcription.completed", on_done)
    tr.on("error", lambda ev: print(f"[server error] {getattr(ev.error, 'message', ev.error)}",
                                    file=sys.stderr, flush=True))
    try:
        with tr:
            if args.file is not None:
                tr.transcribe(args.file, timeout=args.timeout)
            else:
                tr.start_microphone()
                print("listening (Ctrl-C to stop)", file=sys.stderr, flush=True)
                _run_for(args.seconds, lambda: tr.client.is_open)
    except (OSError, ValueError) as exc:
        print(f"transcribe: {exc}", file=sys.stderr)
        return 2
    except RealtimeError as exc:
        print(f"transcribe: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_translate(args: argparse.Namespace) -> int:
    import numpy as np

    from rtsync.audio.formats import write_wav
    from rtsync.errors import RealtimeError
    from rtsync.translate import Translator

    if (args.file is None) == (not args.mic):
        print("translate: give a WAV FILE or --mic (one of them)", file=sys.stderr)
        return 2
    if args.mic or args.out is None:
        missing = _missing_device(need_output=True) if args.mic else _missing_output()
        if missing:
            print(f"translate: {missing}" + ("" if args.mic else " (use --out FILE.wav to save the speech)"),
                  file=sys.stderr)
            return 1
    _say_local(args, "translating", f"its translations read [{args.to}] [speech N.N s]")
    tr = Translator(url=args.url, language=args.to, model=args.model)
    source: list[str] = []
    target: list[str] = []
    pieces: list[Any] = []
    if args.mic:  # live: the text as it arrives (a file's transcripts are printed whole at the end)
        tr.on("session.input_transcript.delta", lambda ev: source.append(ev.delta))
        tr.on("session.output_transcript.delta", lambda ev: _show(ev, target, source))
        tr.on("session.output_audio.delta", lambda ev: pieces.append(ev.samples))
    tr.on("error", lambda ev: print(f"[server error] {getattr(ev.error, 'message', ev.error)}",
                                    file=sys.stderr, flush=True))
    try:
        if args.file is not None:
            result = tr.translate(args.file, timeout=args.timeout)
            print(f"source: {result.source_text}", flush=True)
            print(f"{args.to}: {result.text}", flush=True)
            audio = result.audio
        else:
            with tr:
                tr.start_live()
                print("listening (Ctrl-C to stop)", file=sys.stderr, flush=True)
                _run_for(args.seconds, lambda: tr.is_open)
            print(flush=True)
            audio = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    except (OSError, ValueError) as exc:
        print(f"translate: {exc}", file=sys.stderr)
        return 2
    except RealtimeError as exc:
        print(f"translate: {exc}", file=sys.stderr)
        return 2
    finally:
        tr.close()
    if args.out is not None:
        write_wav(args.out, audio, 24000)
        print(f"saved {len(audio) / 24000:.1f} s of translated speech to {args.out}", flush=True)
    elif args.file is not None and len(audio):
        _play(audio)
    return 0


def _show(ev: Any, target: list[str], source: list[str]) -> None:
    """Live output: the translated text as it arrives, after the source text that came before it."""
    if source:
        print(f"\nsource: {''.join(source)}", flush=True)
        source.clear()
    target.append(ev.delta)
    print(ev.delta, end="", flush=True)


def _missing_output() -> str | None:
    from rtsync.audio import list_devices
    from rtsync.errors import AudioError

    try:
        devices = list_devices()
    except AudioError as exc:
        return " ".join(str(exc).split())
    if not any(d.is_default_output and d.max_output_channels > 0 for d in devices):
        return f"no speaker: PortAudio lists {len(devices)} device(s), none of them a default output"
    return None


def _play(audio: Any) -> None:
    from rtsync.audio import Speaker

    with Speaker(rate=24000, buffer_ms=max(2000, len(audio) * 1000 // 24000 + 1000)) as sp:
        sp.write(audio)
        sp.end_of_stream()
        sp.wait_until_drained(timeout=len(audio) / 24000 + 5)


def add_commands(sub: Any) -> None:
    """Add ``transcribe`` and ``translate`` to the subcommands of ``python -m rtsync``."""
    from rtsync.transcribe import DEFAULT_TRANSCRIPTION_MODEL
    from rtsync.translate import DEFAULT_TRANSLATION_MODEL

    t = sub.add_parser("transcribe", help="live captions of a WAV file or the microphone; local server unless "
                                          "a key/--url")
    t.add_argument("file", nargs="?", default=None, metavar="FILE", help="a WAV file (any rate)")
    t.add_argument("--mic", action="store_true", help="caption the microphone (server VAD) instead")
    t.add_argument("--url", default=None, help="WebSocket endpoint (default: local server, or OpenAI with a key)")
    t.add_argument("--model", default=DEFAULT_TRANSCRIPTION_MODEL, help="transcription model")
    t.add_argument("--language", default=None, help="the input language (ISO-639-1, e.g. en)")
    t.add_argument("--seconds", type=float, default=None, help="with --mic: stop after this long")
    t.add_argument("--timeout", type=float, default=60.0, help="with FILE: seconds to wait for the transcript")
    t.set_defaults(func=_cmd_transcribe)
    r = sub.add_parser("translate", help="speech translation of a WAV file or the microphone; local server "
                                         "unless a key/--url")
    r.add_argument("file", nargs="?", default=None, metavar="FILE", help="a WAV file (any rate)")
    r.add_argument("--mic", action="store_true", help="translate the microphone live (played on the speaker)")
    r.add_argument("--to", default="es", metavar="LANG", help="output language (default es)")
    r.add_argument("--out", default=None, metavar="FILE.wav", help="save the translated speech instead of playing it")
    r.add_argument("--url", default=None,
                   help="translation endpoint (.../v1/realtime/translations; default: local server, or OpenAI)")
    r.add_argument("--model", default=DEFAULT_TRANSLATION_MODEL, help="translation model")
    r.add_argument("--seconds", type=float, default=None, help="with --mic: stop after this long")
    r.add_argument("--timeout", type=float, default=60.0, help="with FILE: seconds to wait for the translation")
    r.set_defaults(func=_cmd_translate)
