"""``python -m rtsync``: the command line.

Subcommands:

* ``serve`` — run the local Realtime server (``ws://127.0.0.1:8765/v1/realtime``).
* ``chat`` — a text chat that streams replies as they arrive. Without ``OPENAI_API_KEY`` and
  without ``--url`` it starts a local server in-process and says so.
* ``voice`` — talk through the microphone and speaker (server VAD, barge-in); local server by
  default, like ``chat``. ``--echo-guard aec`` (the default where ``pip install 'rtsync[aec]'``
  is installed) cancels the speaker's echo, so open speakers work and the user can still talk
  over the reply; the status line then shows the echo reduction in dB.
* ``transcribe [FILE | --mic]``, ``translate --to LANG [FILE | --mic] [--out FILE.wav]`` — live
  captions and speech translation (:mod:`rtsync.cli_sessions`); local server by default.
* ``devices`` — list the audio devices PortAudio sees.
* ``inspect FILE`` — a readable timeline of a recording made with ``chat``/``voice --record FILE``;
  ``serve --replay FILE [--speed X]`` plays such a recording back as a server.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from typing import Any

from rtsync._log import short_dump

__all__ = ["build_parser", "main"]


def _cmd_serve(args: argparse.Namespace) -> int:
    if getattr(args, "replay", None):
        return _cmd_replay(args)
    from rtsync.server import serve

    serve(host=args.host, port=args.port, api_key=args.api_key or None, audio_pace=args.audio_pace,
          voice=args.voice, faults=args.fault or None, dialect=args.dialect)
    return 0


_FAULT_HELP = """\
fault specs (--fault, repeatable): KIND[=VALUE][@WHEN][#CONNECTIONS]
  WHEN: nothing or 'start' (after session.created), TYPE or TYPE:N (after the N-th server
        event of that type), or a duration such as 2s / 250ms (after session.created)
  CONNECTIONS: #1, #2-3, #2- (default: every connection)
  drop[=mid-frame]        cut the TCP connection, no close frame (alias drop-after=WHEN)
  close=CODE[:REASON]     close handshake, e.g. close=4000:reason or close=1001:going away
  invalid-json            a text frame that is not JSON
  binary[=BYTES]          a binary frame (default 16 bytes)
  large[=SIZE]            a text frame of SIZE bytes (default 1m), type fault.large
  missing-field[=TYPE]    an event with only type and event_id (default response.text.delta)
  unknown-type            an event of type fault.unknown
  error-burst[=N]         N error events (default 20), code fault_injected
  silent                  send nothing from then on, not even pongs (alias silent-after=WHEN)
  slow-read=DELAY[:CHUNK] wait DELAY s before each socket read of at most CHUNK bytes
  expire=DURATION         error session_expired, then close 1000 'session expired'
examples:
  --fault drop@response.text.delta:3   --fault close=4000:bye@response.done#1
  --fault silent@2s   --fault slow-read=0.01:1024   --fault expire=30s"""


def _cmd_replay(args: argparse.Namespace) -> int:
    from rtsync.server.replay import serve_replay

    try:
        serve_replay(args.replay, speed=args.speed or None, host=args.host, port=args.port)
    except (OSError, ValueError) as exc:
        print(f"cannot replay {args.replay}: {exc}", file=sys.stderr)
        return 2
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from rtsync.inspect import timeline

    try:
        lines = timeline(args.file)
    except (OSError, ValueError) as exc:
        print(f"cannot inspect {args.file}: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


def _fault_arg(text: str) -> str:
    from rtsync.server.faults import parse_fault

    try:
        parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _event_line(ev: Any) -> str:
    """One event on one line, with audio payloads (every long string) cut short."""
    try:
        text = short_dump(ev.to_dict(), 48)
    except Exception:
        text = repr(ev)
    return f"  · {text}"


def _print_event_line(ev: Any) -> None:
    print(_event_line(ev), file=sys.stderr, flush=True)


def _client_for(args: argparse.Namespace, doing: str) -> tuple[Any, Any]:
    """The client of ``chat``/``voice``: ``--url``, OpenAI with a key, or else a local server
    started in-process (returned too, for the caller to stop; ``None`` otherwise)."""
    from rtsync.client import RealtimeClient

    server = None
    url = args.url
    if url is None and not os.environ.get("OPENAI_API_KEY"):
        from rtsync.server import LocalServer

        server = LocalServer().start()
        url = server.url
        print(f"No OPENAI_API_KEY and no --url: {doing} the local server at {url}", flush=True)
    client_kw: dict[str, Any] = {"model": args.model}
    if args.record:
        client_kw["record"] = args.record
    if url is not None:
        client_kw["url"] = url
    return server, RealtimeClient(**client_kw)


class _ReplyPrinter:
    """Streams a reply of ``chat`` (dispatcher thread): each message on its own line,
    ``assistant> ...``, and a reasoning model's preamble (``phase: "commentary"``) apart from
    the answer, as ``assistant (preamble)> ...``."""

    def __init__(self) -> None:
        self._phases: dict[str, str] = {}
        self._item: Any = None  # the item whose deltas are being printed
        self._lines = 0  # lines begun in this reply

    def start(self) -> None:
        """A new reply begins."""
        self._phases.clear()
        self._item = None
        self._lines = 0

    def item_added(self, ev: Any) -> None:
        item = ev.item
        phase = getattr(item, "phase", None)
        if isinstance(getattr(item, "id", None), str) and isinstance(phase, str):
            self._phases[item.id] = phase

    def delta(self, ev: Any) -> None:
        if ev.item_id != self._item or not self._lines:
            self._item = ev.item_id
            preamble = self._phases.get(ev.item_id) == "commentary"
            print(("\n" if self._lines else "") + ("assistant (preamble)> " if preamble else "assistant> "), end="")
            self._lines += 1
        print(ev.delta, end="", flush=True)

    def end(self) -> None:
        """The reply ended (``assistant>`` alone when nothing was said)."""
        print("" if self._lines else "assistant> ", flush=True)
        self._lines = 0


def _cmd_chat(args: argparse.Namespace) -> int:
    from rtsync.errors import RealtimeError

    server, client = _client_for(args, "chatting with")
    if server is not None:
        print("(its model replies 'You said: ...'; type a message, or /quit)", flush=True)
    reply_done = threading.Event()
    if args.verbose:
        client.on("*", _print_event_line)
    out = _ReplyPrinter()
    client.on("response.output_item.added", out.item_added)
    client.on("response.text.delta", out.delta)
    client.on("response.audio_transcript.delta", out.delta)

    def on_done(ev: Any) -> None:
        out.end()
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
            out.start()
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


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _cmd_devices(args: argparse.Namespace) -> int:
    from rtsync.audio import list_devices
    from rtsync.errors import AudioError

    try:
        devices = list_devices()
    except AudioError as exc:
        print(f"no audio: {_one_line(exc)}", file=sys.stderr)
        return 2
    for d in devices:
        marks = ("in" if d.is_default_input else "") + (" out" if d.is_default_output else "")
        print(f"{d.index:3d}  {d.name}  [{d.host_api}]  in={d.max_input_channels} out={d.max_output_channels} "
              f"rate={d.default_sample_rate:g}" + (f"  default {marks.strip()}" if marks.strip() else ""))
    if not devices:
        print("no audio devices found", file=sys.stderr)
        return 1
    return 0


def _missing_audio() -> str | None:
    """Why ``voice`` cannot run here (no microphone, no speaker, no PortAudio), or None."""
    from rtsync.audio import list_devices
    from rtsync.errors import AudioError

    try:
        devices = list_devices()
    except AudioError as exc:
        return _one_line(exc)
    found = f"PortAudio lists {len(devices)} audio device(s)"
    if not any(d.is_default_input and d.max_input_channels > 0 for d in devices):
        return f"no microphone: {found}, none of them a default input"
    if not any(d.is_default_output and d.max_output_channels > 0 for d in devices):
        return f"no speaker: {found}, none of them a default output"
    return None


def _cmd_voice(args: argparse.Namespace) -> int:
    import time

    from rtsync._status import StatusLine, TurnTracker, render_status, snapshot
    from rtsync.errors import AudioError, RealtimeError
    from rtsync.voice import VoiceSession

    # Before any server or connection: without a microphone there is nothing to talk with.
    missing = _missing_audio()
    if missing:
        print(f"voice: {missing}", file=sys.stderr)
        return 1
    server, client = _client_for(args, "talking to")
    # The live status line (level, turn state, latency, underruns) paints only on a terminal;
    # everything else is printed above it through status.println.
    tracker = TurnTracker().attach(client)
    voice_ref: list[VoiceSession] = []

    def paint(width: int) -> str:
        voice = voice_ref[0] if voice_ref else None
        snap = snapshot(voice, tracker)  # refreshes voice.stats
        line = render_status(snap, width)
        echo = _echo_text(voice)  # the last part, shown when it fits
        return f"{line} | {echo}" if echo and len(line) + 3 + len(echo) <= width - 1 else line

    status = StatusLine(paint)
    say = status.println
    if args.verbose:
        client.on("*", lambda ev: say(_event_line(ev), file=sys.stderr))
    client.on("input_audio_buffer.speech_started", lambda ev: say("[you are speaking]"))
    client.on("input_audio_buffer.speech_stopped", lambda ev: say("[you stopped]"))

    def said(ev: Any) -> None:  # a reasoning model's preamble apart from the answer, as in chat
        entry = client.conversation.get(ev.item_id)
        who = "assistant (preamble)" if entry is not None and entry.phase == "commentary" else "assistant"
        say(f"{who}: {ev.transcript}")

    client.on("response.audio_transcript.done", said)
    try:
        with client, VoiceSession(client, echo_guard=args.echo_guard) as voice:
            voice_ref.append(voice)
            if voice.echo_guard is None and args.echo_guard == "auto":
                say("no echo cancellation (pip install 'rtsync[aec]'): use headphones, or --echo-guard half_duplex")
            say("listening (Ctrl-C to stop)")
            status.start()
            deadline = None if args.seconds is None else time.monotonic() + args.seconds
            try:
                while client.is_open and (deadline is None or time.monotonic() < deadline):
                    time.sleep(0.1)
            except KeyboardInterrupt:
                if not status.running:
                    print()
            finally:
                status.stop()
            st = voice.refresh_stats()
            print(f"underruns {st.underruns}, overruns {st.overruns}, barge-ins {st.interrupts}"
                  + ("" if st.echo_reduction_db is None else f", echo reduced by {st.echo_reduction_db:.0f} dB"),
                  flush=True)
    except AudioError as exc:  # a device that is listed but cannot be opened
        status.stop()
        print(f"voice: {_one_line(exc)}", file=sys.stderr)
        return 1
    except ImportError as exc:  # --echo-guard aec without the extra
        status.stop()
        print(f"voice: {exc}", file=sys.stderr)
        return 2
    except RealtimeError as exc:
        status.stop()
        print(f"voice: {exc}", file=sys.stderr)
        return 2
    finally:
        tracker.detach()
        if server is not None:
            server.stop()
    return 0


def _echo_text(voice: Any) -> str:
    """``echo -42 dB`` (the canceller's running echo reduction) for the status line, or ``""``."""
    if voice is None or voice.echo_guard != "aec":
        return ""
    st = voice.stats
    if st.echo_reduction_db is None:
        return "echo -- dB"
    return f"echo -{st.echo_reduction_db:.0f} dB" + ("" if st.echo_converged else " (learning)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rtsync``."""
    from rtsync.client.endpoint import DEFAULT_MODEL

    p = argparse.ArgumentParser(prog="python -m rtsync", description="rtsync command line")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the local Realtime server", epilog=_FAULT_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    s.add_argument("--api-key", default=None, help="require this key (Authorization: Bearer ...)")
    s.add_argument("--audio-pace", type=float, default=None,
                   help="pace audio replies (1.0 = real time; default: as fast as possible)")
    s.add_argument("--voice", choices=["auto", "espeak", "tone"], default="auto",
                   help="spoken replies: espeak-ng when installed (auto), or a synthetic tone")
    s.add_argument("--dialect", choices=["auto", "beta", "ga"], default="auto",
                   help="protocol: auto (default: the OpenAI-Beta header or a preview model gives beta, "
                        "else GA), beta, or ga (refuses the beta header like the live service)")
    s.add_argument("--fault", action="append", type=_fault_arg, metavar="SPEC",
                   help="inject a scripted fault (repeatable; see below)")
    s.add_argument("--replay", default=None, metavar="FILE",
                   help="play a recording (from --record) back instead of running the scripted model")
    s.add_argument("--speed", type=float, default=1.0,
                   help="with --replay: 1.0 keeps the recorded timing, 2.0 is twice as fast, 0 as fast as possible")
    s.set_defaults(func=_cmd_serve)
    c = sub.add_parser("chat", help="text chat; uses a local server unless OPENAI_API_KEY or --url is set")
    c.add_argument("--url", default=None, help="WebSocket endpoint (default: local server, or OpenAI with a key)")
    c.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"model id (default {DEFAULT_MODEL}; a *-realtime-preview id speaks beta)")
    c.add_argument("--verbose", "-v", action="store_true", help="print every event on one line (stderr)")
    c.add_argument("--record", default=None, metavar="FILE",
                   help="record every event to FILE (JSON lines; audio as WAV beside it)")
    c.set_defaults(func=_cmd_chat)
    v = sub.add_parser("voice", help="talk through the microphone and speaker; local server unless a key/--url")
    v.add_argument("--url", default=None, help="WebSocket endpoint (default: local server, or OpenAI with a key)")
    v.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"model id (default {DEFAULT_MODEL}; a *-realtime-preview id speaks beta)")
    v.add_argument("--seconds", type=float, default=None, help="stop after this long")
    v.add_argument("--echo-guard", choices=["auto", "aec", "half_duplex", "threshold", "none"], default="auto",
                   help="aec: cancel the speaker's echo (pip install 'rtsync[aec]'; the default where installed); "
                        "half_duplex: mute the microphone while the assistant speaks; none: send everything")
    v.add_argument("--verbose", "-v", action="store_true", help="print every event on one line (stderr)")
    v.add_argument("--record", default=None, metavar="FILE",
                   help="record every event to FILE (JSON lines; audio as WAV beside it)")
    v.set_defaults(func=_cmd_voice)
    i = sub.add_parser("inspect", help="print a readable timeline of a recording")
    i.add_argument("file", metavar="FILE", help="a recording made with --record")
    i.set_defaults(func=_cmd_inspect)
    d = sub.add_parser("devices", help="list the audio devices")
    d.set_defaults(func=_cmd_devices)
    from rtsync.cli_sessions import add_commands

    add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m rtsync`` and the ``rtsync`` script."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result
