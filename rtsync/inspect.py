"""A readable timeline of a recording (``python -m rtsync inspect FILE``).

:func:`timeline` reads a recording made with ``RealtimeClient(..., record=...)`` (see
:mod:`rtsync.record`) and returns one line per notable moment, each starting with its time in
seconds since the recording started:

* the session start (model, URL, dialect, session id);
* each user turn: a text message (``conversation.item.create`` sent, or a user item the server
  created) with its text shortened, or an audio turn with its duration, taken from
  ``speech_started``/``speech_stopped`` when the server detected it, else from the audio
  appended before the commit; input transcripts when they complete;
* each response: id, status (and reason), the text or transcript shortened, audio milliseconds,
  function calls, and usage tokens;
* interruptions: ``response.cancel`` and ``conversation.item.truncate`` sent, speech starting
  while a response is in progress (barge-in);
* errors (server ``error`` events, rtsync's protocol and callback errors) and the close;
* finally the totals: turns, responses, audio in and out, and the usage summed over every
  ``response.done``.

Audio durations assume pcm16 at 24 kHz for audio kept in the WAVs (48 bytes per millisecond)
and are computed from the base64 length for audio kept inline (G.711: 8 bytes per ms).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from rtsync.record import RATE, RecordedEvent, load_recording

__all__ = ["format_timeline", "print_timeline", "timeline"]

_SHORT = 60


def _short(text: str, limit: int = _SHORT) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quote(text: str, limit: int = _SHORT) -> str:
    return '"' + _short(text, limit).replace('"', '\\"') + '"'


def _ms(samples: int) -> int:
    return round(samples * 1000 / RATE)


def _inline_ms(b64: Any, fmt: str) -> int:
    if not isinstance(b64, str):
        return 0
    n = len(b64) * 3 // 4 - b64[-2:].count("=")
    per_ms = 8 if fmt.startswith(("g711", "audio/pcmu", "audio/pcma")) else 48
    return n // per_ms


def _obj(ev: dict[str, Any], key: str) -> dict[str, Any]:
    """``ev[key]`` when it is a JSON object, else an empty dict."""
    value = ev.get(key)
    return value if isinstance(value, dict) else {}


def _item_text(item: Any) -> tuple[str, str]:
    """(kind, text) of a message item: kind is ``text``, ``audio`` or ``other``."""
    if not isinstance(item, dict):
        return "other", ""
    parts = item.get("content")
    if not isinstance(parts, list):
        return "other", ""
    texts: list[str] = []
    kind = "other"
    for part in parts:
        if not isinstance(part, dict):
            continue
        ptype = part.get("type")
        if ptype in ("input_text", "text", "output_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
            kind = "text"
        elif ptype in ("input_audio", "audio", "output_audio"):
            kind = "audio" if kind == "other" else kind
            if isinstance(part.get("transcript"), str):
                texts.append(part["transcript"])
    return kind, " ".join(texts)


class _Usage:
    def __init__(self) -> None:
        self.input = 0
        self.output = 0
        self.total = 0
        self.details: dict[str, int] = {}

    def add(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        self.input += int(usage.get("input_tokens") or 0)
        self.output += int(usage.get("output_tokens") or 0)
        self.total += int(usage.get("total_tokens") or 0)
        for side in ("input_token_details", "output_token_details"):
            d = usage.get(side)
            if isinstance(d, dict):
                for k, v in d.items():
                    if isinstance(v, int):
                        key = f"{side.split('_')[0]} {k.replace('_tokens', '')}"
                        self.details[key] = self.details.get(key, 0) + v


def _usage_text(usage: Any) -> str:
    if not isinstance(usage, dict):
        return "no usage"
    return (f"tokens in {usage.get('input_tokens', 0)} / out {usage.get('output_tokens', 0)} / "
            f"total {usage.get('total_tokens', 0)}")


class _Response:
    def __init__(self, rid: str, t: float) -> None:
        self.id = rid
        self.t = t
        self.text: list[str] = []
        self.transcript: list[str] = []
        self.audio_ms = 0
        self.calls: list[str] = []


class _Timeline:
    def __init__(self, header: dict[str, Any]) -> None:
        self.header = header
        self.lines: list[str] = []
        self.responses: dict[str, _Response] = {}
        self.active: set[str] = set()
        self.usage = _Usage()
        self.turns = 0
        self.n_responses = 0
        self.statuses: dict[str, int] = {}
        self.interruptions = 0
        self.errors = 0
        self.audio_in_ms = 0
        self.audio_out_ms = 0
        self.pending_in_ms = 0  # audio in the server's buffer: appended since the last commit / clear
        self.speech_end: int | None = None
        self.speech_start: int | None = None
        self.speech_ms: int | None = None
        self.formats = {"input": "pcm16", "output": "pcm16"}
        self.last_t = 0.0

    def add(self, t: float, text: str) -> None:
        self.lines.append(f"{t:9.3f}s  {text}")

    # -- events --------------------------------------------------------------------------------

    def feed(self, rec: RecordedEvent) -> None:
        self.last_t = rec.t
        ev = rec.event
        t = rec.type
        if rec.direction == "send":
            self.on_send(rec, t, ev)
        else:
            self.on_recv(rec, t, ev)

    def _note_formats(self, ev: dict[str, Any]) -> None:
        s = ev.get("session")
        if isinstance(s, dict):
            for name in ("input", "output"):
                fmt = s.get(f"{name}_audio_format")
                if isinstance(fmt, str):
                    self.formats[name] = fmt

    def on_send(self, rec: RecordedEvent, t: str, ev: dict[str, Any]) -> None:
        if t == "session.update":
            self._note_formats(ev)
            s = ev.get("session")
            keys = ", ".join(sorted(s)) if isinstance(s, dict) else ""
            self.add(rec.t, f"session.update sent ({keys})")
        elif t == "input_audio_buffer.append":
            ms = _ms(rec.audio_samples) if rec.audio_samples else _inline_ms(ev.get("audio"), self.formats["input"])
            self.pending_in_ms += ms
            self.audio_in_ms += ms
        elif t == "input_audio_buffer.clear":
            self.add(rec.t, f"input audio cleared ({self.pending_in_ms} ms dropped)")
            self.pending_in_ms = 0
        elif t == "conversation.item.create":
            item = ev.get("item")
            if isinstance(item, dict) and item.get("role") == "user":
                kind, text = _item_text(item)
                self.turns += 1
                label = f"text {_quote(text)}" if kind == "text" else kind
                self.add(rec.t, f"user turn {self.turns}: {label}")
            elif isinstance(item, dict) and item.get("type") == "function_call_output":
                self.add(rec.t, f"function output for {item.get('call_id')}: {_quote(str(item.get('output', '')))}")
            elif isinstance(item, dict):
                kind, text = _item_text(item)
                self.add(rec.t, f"item created by the client: {item.get('role') or item.get('type')} {_quote(text)}")
        elif t == "response.create":
            r = ev.get("response")
            mods = r.get("modalities") if isinstance(r, dict) else None
            self.add(rec.t, "response requested" + (f" ({'+'.join(mods)})" if isinstance(mods, list) else ""))
        elif t == "response.cancel":
            self.interruptions += 1
            rid = ev.get("response_id")
            self.add(rec.t, f"INTERRUPT: response.cancel sent{f' for {rid}' if rid else ''}")
        elif t == "conversation.item.truncate":
            self.interruptions += 1
            self.add(rec.t, f"INTERRUPT: truncate {ev.get('item_id')} at {ev.get('audio_end_ms')} ms")
        elif t == "conversation.item.delete":
            self.add(rec.t, f"item {ev.get('item_id')} deleted")

    def on_recv(self, rec: RecordedEvent, t: str, ev: dict[str, Any]) -> None:
        if t == "session.created":
            self._note_formats(ev)
            s = _obj(ev, "session")
            self.add(rec.t, f"session.created {s.get('id', '?')} model {s.get('model', '?')}")
        elif t == "session.updated":
            self._note_formats(ev)
        elif t == "input_audio_buffer.speech_started":
            self.speech_start = ev.get("audio_start_ms") if isinstance(ev.get("audio_start_ms"), int) else None
            barge = f" (barge-in during {', '.join(sorted(self.active))})" if self.active else ""
            if self.active:
                self.interruptions += 1
            self.add(rec.t, ("INTERRUPT: " if self.active else "") + f"speech started{barge}")
        elif t == "input_audio_buffer.speech_stopped":
            end = ev.get("audio_end_ms")
            if isinstance(end, int) and self.speech_start is not None:
                self.speech_ms = end - self.speech_start
            self.speech_end = end if isinstance(end, int) else None
            self.add(rec.t, "speech stopped" + (f" after {self.speech_ms} ms" if self.speech_ms is not None else ""))
        elif t == "input_audio_buffer.committed":
            ms = self.speech_ms if self.speech_ms is not None else self.pending_in_ms
            self.turns += 1
            self.add(rec.t, f"user turn {self.turns}: audio {ms / 1000:.1f} s (item {ev.get('item_id')})")
            # A VAD commit keeps the audio appended after the end of speech (audio_end_ms counts
            # on the clock of all audio appended in the session).
            self.pending_in_ms = max(0, self.audio_in_ms - self.speech_end) if self.speech_end is not None else 0
            self.speech_end = None
            self.speech_ms = None
            self.speech_start = None
        elif t == "input_audio_buffer.cleared":
            self.pending_in_ms = 0
        elif t == "conversation.item.input_audio_transcription.completed":
            self.add(rec.t, f"input transcript of {ev.get('item_id')}: {_quote(str(ev.get('transcript', '')))}")
        elif t == "conversation.item.truncated":
            self.add(rec.t, f"item {ev.get('item_id')} truncated at {ev.get('audio_end_ms')} ms")
        elif t == "response.created":
            r = _obj(ev, "response")
            rid = str(r.get("id", "?"))
            self.responses[rid] = _Response(rid, rec.t)
            self.active.add(rid)
            self.add(rec.t, f"response {rid} started")
        elif t in ("response.text.delta", "response.output_text.delta"):
            resp = self.responses.get(str(ev.get("response_id")))
            if resp is not None and isinstance(ev.get("delta"), str):
                resp.text.append(ev["delta"])
        elif t in ("response.audio_transcript.delta", "response.output_audio_transcript.delta"):
            resp = self.responses.get(str(ev.get("response_id")))
            if resp is not None and isinstance(ev.get("delta"), str):
                resp.transcript.append(ev["delta"])
        elif t in ("response.audio.delta", "response.output_audio.delta"):
            resp = self.responses.get(str(ev.get("response_id")))
            ms = _ms(rec.audio_samples) if rec.audio_samples else _inline_ms(ev.get("delta"), self.formats["output"])
            self.audio_out_ms += ms
            if resp is not None:
                resp.audio_ms += ms
        elif t == "response.function_call_arguments.done":
            resp = self.responses.get(str(ev.get("response_id")))
            if resp is not None:
                resp.calls.append(f"{ev.get('name', '?')}({_short(str(ev.get('arguments', '')), 40)})")
        elif t == "response.done":
            self.on_response_done(rec, ev)
        elif t == "error":
            self.errors += 1
            e = _obj(ev, "error")
            self.add(rec.t, f"ERROR {e.get('type')}/{e.get('code')}: {_short(str(e.get('message', '')), 100)}"
                     + (f" (event {e.get('event_id')})" if e.get("event_id") else ""))
        elif t == "rtsync.protocol_error":
            self.errors += 1
            self.add(rec.t, f"PROTOCOL ERROR: {_short(str(ev.get('error', '')), 100)}")
        elif t == "rtsync.callback_error":
            self.errors += 1
            self.add(rec.t, f"CALLBACK ERROR: {_short(str(ev.get('exception', '')), 100)}")
        elif t == "rtsync.reconnected":
            self.add(rec.t, "reconnected")
        elif t == "rtsync.close":
            by = "client" if ev.get("initiated_by_client") else "server/network"
            reason = f" {_quote(str(ev.get('reason')))}" if ev.get("reason") else ""
            self.add(rec.t, f"closed by the {by}: code {ev.get('code')}{reason}")

    def on_response_done(self, rec: RecordedEvent, ev: dict[str, Any]) -> None:
        r = _obj(ev, "response")
        rid = str(r.get("id", "?"))
        resp = self.responses.pop(rid, None) or _Response(rid, rec.t)
        self.active.discard(rid)
        self.n_responses += 1
        status = str(r.get("status", "?"))
        self.statuses[status] = self.statuses.get(status, 0) + 1
        details = r.get("status_details")
        reason = details.get("reason") if isinstance(details, dict) else None
        parts = [f"response {rid} {status}" + (f" ({reason})" if reason else "")]
        if resp.text:
            parts.append(f"text {_quote(''.join(resp.text))}")
        if resp.transcript:
            parts.append(f"transcript {_quote(''.join(resp.transcript))}")
        if not resp.text and not resp.transcript:
            for item in r.get("output") or []:
                kind, text = _item_text(item)
                if text:
                    parts.append(f"{'text' if kind == 'text' else 'transcript'} {_quote(text)}")
        if resp.audio_ms:
            parts.append(f"audio {resp.audio_ms} ms")
        if resp.calls:
            parts.append("calls " + ", ".join(resp.calls))
        parts.append(_usage_text(r.get("usage")))
        self.usage.add(r.get("usage"))
        self.add(rec.t, "; ".join(parts) + f" [{rec.t - resp.t:.2f} s]")

    def finish(self) -> list[str]:
        for rid in sorted(self.active):
            self.add(self.last_t, f"response {rid} never finished")
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        totals = [
            "totals:",
            f"  duration {self.last_t:.1f} s; {self.turns} user turns; {self.n_responses} responses"
            + (f" ({statuses})" if statuses else ""),
            f"  interruptions {self.interruptions}; errors {self.errors}",
            f"  audio in {self.audio_in_ms / 1000:.1f} s, out {self.audio_out_ms / 1000:.1f} s",
            f"  usage: tokens in {self.usage.input} / out {self.usage.output} / total {self.usage.total}",
        ]
        if self.usage.details:
            totals.append("  usage details: " + ", ".join(f"{k} {v}" for k, v in sorted(self.usage.details.items())))
        return self.lines + totals


def format_timeline(header: dict[str, Any], events: Iterable[RecordedEvent]) -> list[str]:
    """The timeline lines of an already loaded recording (see :func:`timeline`)."""
    tl = _Timeline(header)
    tl.lines.append(
        f"recording of {header.get('started', '?')} (rtsync {header.get('rtsync_version', '?')}): "
        f"model {header.get('model') or '?'}, {header.get('url') or '?'}, dialect {header.get('dialect', '?')}"
    )
    for rec in events:
        tl.feed(rec)
    return tl.finish()


def timeline(path: str | os.PathLike[str]) -> list[str]:
    """A readable timeline of the recording ``path``: one string per line, totals last.

    Raises:
        ValueError: the file is not an rtsync recording.
        OSError: it cannot be read.
    """
    rec = load_recording(path, audio=False)
    return format_timeline(rec.header, rec.events)


def print_timeline(path: str | os.PathLike[str]) -> None:
    """Print :func:`timeline` of ``path`` to standard output."""
    for line in timeline(path):
        print(line)
