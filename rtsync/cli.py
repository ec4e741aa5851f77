"""``python -m rtsync``: the command line.

Subcommands:

* ``serve`` — run the local Realtime server (``ws://127.0.0.1:8765/v1/realtime``).
* ``chat`` — a text chat that streams replies as they arrive. Without ``OPENAI_API_KEY`` and
  without ``--url`` it starts a local server in-process and says so.
* ``voice`` — talk through the microphone and speaker (server VAD, barge-in); local server by
  default, like ``chat``.
* ``devices`` — list the audio devices PortAudio sees.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from rtsync._log import short_dump

__all__ = ["main"]


def _cmd_serve(args: argparse.Namespace) -> int:
    from rtsync.server import serve

    serve(host=args.host, port=args.port, api_key=args.api_key or None, audio_pace=args.audio_pace,
          voice=args.voice)
    return 0


def _print_event_line(ev: Any) -> None:
    try:
        text = short_dump(ev.to_dict(), 48)
    except Exception:
        text = repr(ev)
    print(f"  · {text}", file=sys.stderr, flush=True)


def _cmd_chat(args: argparse.Namespace) -> int:
    from rtsync.client import RealtimeClient
    from rtsync.errors import RealtimeError

    server = None
    url = args.url
    if url is None and not os.environ.get("OPENAI_API_KEY"):
        from rtsync.server import LocalServer

        server = LocalServer().start()
        url = server.url
        print(f"No OPENAI_API_KEY and no --url: chatting with the local server at {url}", flush=True)
        print("(its model replies 'You said: ...'; type a message, or /quit)", flush=True)
    client_kw: dict[str, Any] = {"model": args.model}
    if url is not None:
        client_kw["url"] = url
    client = RealtimeClient(**client_kw)
    reply_done = threading.Event()
    if args.verbose:
        client.on("*", _print_event_line)
    client.on("response.text.delta", lambda ev: print(ev.delta, end="", flush=True))
    client.on("response.audio_transcript.delta", lambda ev: print(ev.delta, end="", flush=True))

    def on_done(ev: Any) -> None:
        print(flush=True)
        reply_done.set()

    def on_error(ev: Any) -> None:
        print(f"\n[server error] {getattr(ev.error, 'message', ev.error)}", file=sys.stderr, flush=True)

    client.on("response.done", on_done)
    client.on("error", on_error)
    client.on("rtsync.close", lambda ev: reply_done.set())
    try:
        client.connect()
    except RealtimeError as exc:
        print(f"cannot connect: {exc}", file=sys.stderr)
        if server is not None:
            server.stop()
        return 2
    try:
        while True:
            try:
                line = input("you> ")
            except EOFError:
                break
            line = line.strip()
            if not line:
                continue
            if line in ("/quit", "/exit"):
                break
            reply_done.clear()
            print("assistant> ", end="", flush=True)
            try:
                client.create_item(line)
                client.create_response(modalities=["text"])
            except RealtimeError as exc:
                print(f"\n[error] {exc}", file=sys.stderr)
                break
            reply_done.wait()
            if not client.is_open:
                print("[connection closed]", file=sys.stderr)
                break
    except KeyboardInterrupt:
        print()
    finally:
        client.close()
        if server is not None:
            server.stop()
    return 0


def _cmd_devices(args: argparse.Namespace) -> int:
    from rtsync.audio import list_devices
    from rtsync.errors import AudioError

    try:
        devices = list_devices()
    except AudioError as exc:
        print(f"no audio: {exc}", file=sys.stderr)
        return 2
    for d in devices:
        marks = ("in" if d.is_default_input else "") + (" out" if d.is_default_output else "")
        print(f"{d.index:3d}  {d.name}  [{d.host_api}]  in={d.max_input_channels} out={d.max_output_channels} "
              f"rate={d.default_sample_rate:g}" + (f"  default {marks.strip()}" if marks.strip() else ""))
    if not devices:
        print("no audio devices found", file=sys.stderr)
        return 1
    return 0


def _cmd_voice(args: argparse.Namespace) -> int:
    import time

    from rtsync.client import RealtimeClient
    from rtsync.errors import RealtimeError
    from rtsync.voice import VoiceSession

    server = None
    url = args.url
    if url is None and not os.environ.get("OPENAI_API_KEY"):
        from rtsync.server import LocalServer

        server = LocalServer().start()
        url = server.url
        print(f"No OPENAI_API_KEY and no --url: talking to the local server at {url}", flush=True)
    client = RealtimeClient(model=args.model, **({"url": url} if url else {}))
    if args.verbose:
        client.on("*", _print_event_line)
    client.on("input_audio_buffer.speech_started", lambda ev: print("[you are speaking]", flush=True))
    client.on("input_audio_buffer.speech_stopped", lambda ev: print("[you stopped]", flush=True))
    client.on("response.audio_transcript.done", lambda ev: print(f"assistant: {ev.transcript}", flush=True))
    try:
        with client, VoiceSession(client, echo_guard=args.echo_guard) as voice:
            print("listening (Ctrl-C to stop)", flush=True)
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            try:
                while client.is_open and (deadline is None or time.monotonic() < deadline):
                    time.sleep(0.1)
            except KeyboardInterrupt:
                print()
            st = voice.refresh_stats()
            print(f"underruns {st.underruns}, overruns {st.overruns}, barge-ins {st.interrupts}", flush=True)
    except RealtimeError as exc:
        print(f"voice: {exc}", file=sys.stderr)
        return 2
    finally:
        if server is not None:
            server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rtsync``."""
    p = argparse.ArgumentParser(prog="python -m rtsync", description="rtsync command line")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the local Realtime server")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    s.add_argument("--api-key", default=None, help="require this key (Authorization: Bearer ...)")
    s.add_argument("--audio-pace", type=float, default=None,
                   help="pace audio replies (1.0 = real time; default: as fast as possible)")
    s.add_argument("--voice", choices=["auto", "espeak", "tone"], default="auto",
                   help="spoken replies: espeak-ng when installed (auto), or a synthetic tone")
    s.set_defaults(func=_cmd_serve)
    c = sub.add_parser("chat", help="text chat; uses a local server unless OPENAI_API_KEY or --url is set")
    c.add_argument("--url", default=None, help="WebSocket endpoint (default: local server, or OpenAI with a key)")
    c.add_argument("--model", default="gpt-4o-realtime-preview-2024-10-01", help="model id")
    c.add_argument("--verbose", "-v", action="store_true", help="print every event on one line (stderr)")
    c.set_defaults(func=_cmd_chat)
    v = sub.add_parser("voice", help="talk through the microphone and speaker; local server unless a key/--url")
    v.add_argument("--url", default=None, help="WebSocket endpoint (default: local server, or OpenAI with a key)")
    v.add_argument("--model", default="gpt-4o-realtime-preview-2024-10-01", help="model id")
    v.add_argument("--seconds", type=float, default=None, help="stop after this long")
    v.add_argument("--echo-guard", choices=["half_duplex", "threshold"], default=None,
                   help="for speakers without echo cancellation")
    v.add_argument("--verbose", "-v", action="store_true", help="print every event on one line (stderr)")
    v.set_defaults(func=_cmd_voice)
    d = sub.add_parser("devices", help="list the audio devices")
    d.set_defaults(func=_cmd_devices)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m rtsync`` and the ``rtsync`` script."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
