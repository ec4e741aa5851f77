"""``Conversation``: a local, thread-safe mirror of the server's conversation state.

Feed it every server event with :meth:`Conversation.apply` (the client installs it as an
internal hook, so it runs on the dispatcher thread before user callbacks); read it from any
thread with the accessors, which return snapshots (copies) taken under a lock.

What it keeps:

* the items, ordered by ``previous_item_id`` (an item is inserted right after its previous
  item; ``null`` puts it first; an unknown or absent previous id appends it), not by arrival;
* per item: its ``phase`` (a reasoning model's ``commentary`` preamble or ``final_answer``),
  text (text deltas or content text), audio transcript, audio samples (int16, from
  ``response.audio.delta``), function-call name / call id / arguments, function output, the user
  input-audio transcript (placed by ``item_id`` even when it arrives before the item exists),
  truncation point and an estimate of the transcript that was actually heard;
* deletions (``conversation.item.deleted``);
* token usage per response and for the session, and the latest rate limits.

This module never imports the client (layer 5 of the design).
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from rtsync.events._base import Event
from rtsync.events.models import Item, RateLimit, Response, Usage

if TYPE_CHECKING:
    import numpy as np

__all__ = ["SAMPLES_PER_MS", "Conversation", "ConversationEntry", "TokenUsage"]

#: pcm16 output audio is 24 kHz mono: 24 samples per millisecond.
SAMPLES_PER_MS = 24


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one response (or a sum of them)."""

    total_tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.total_tokens + other.total_tokens, self.input_tokens + other.input_tokens,
                          self.output_tokens + other.output_tokens)

    @classmethod
    def from_usage(cls, usage: Usage) -> TokenUsage:
        """Counts from a ``response.done`` usage object (missing counts are 0)."""
        return cls(_int(usage.total_tokens), _int(usage.input_tokens), _int(usage.output_tokens))


@dataclass(frozen=True)
class ConversationEntry:
    """A snapshot of one conversation item (a copy: later events do not change it).

    Attributes:
        id, type, role, status, name, call_id, output: as in the protocol item (``None`` when unknown).
        text: the item's text (accumulated ``response.text.delta`` or the content text).
        transcript: the full transcript of the item's output audio (never blanked by truncation).
        audio: int16 samples concatenated from ``response.audio.delta`` (cut at the truncation
            point); ``None`` when there is none or it was dropped (see ``audio_dropped``).
        arguments: function-call arguments (deltas accumulated, replaced by ``.done``).
        input_transcript: the transcription of a user audio item (``None`` until one arrives).
        heard_transcript: after truncation, the leading words of ``transcript`` in proportion to
            ``truncated_at_ms`` / total audio ms received; ``None`` if not truncated or no audio
            length is known.
        truncated_at_ms: ``audio_end_ms`` of the last truncation, else ``None``.
        audio_dropped: the audio was discarded to bound memory (``max_audio_items``).
        previous_item_id: the ``previous_item_id`` the item was created with.
        response_id: the response that produced the item, if any.
        phase: an assistant message's ``phase``: ``"commentary"`` for a reasoning model's
            preamble, ``"final_answer"`` for its answer; ``None`` when the server gave none.
    """

    id: str
    type: str | None = None
    role: str | None = None
    status: str | None = None
    text: str = ""
    transcript: str = ""
    audio: np.ndarray | None = field(default=None, repr=False, compare=False)
    arguments: str = ""
    name: str | None = None
    call_id: str | None = None
    output: str | None = None
    input_transcript: str | None = None
    heard_transcript: str | None = None
    truncated_at_ms: int | None = None
    audio_dropped: bool = False
    previous_item_id: str | None = None
    response_id: str | None = None
    phase: str | None = None

    @property
    def audio_ms(self) -> int:
        """Length of the kept audio in milliseconds (0 when there is none)."""
        return 0 if self.audio is None else len(self.audio) // SAMPLES_PER_MS


def _int(v: object) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0


def _str(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _b64_samples(text: str) -> int:
    """How many pcm16 samples a base64 payload decodes to, without decoding it."""
    size = len(text)
    if size % 4:
        size = size // 4 * 4  # a malformed tail is dropped by the decoder too
    pad = text.count("=", max(0, size - 2), size)
    return (size // 4 * 3 - pad) // 2


def _joined(parts: dict[int, list[str]]) -> str:
    # deltas are kept as lists of chunks and joined on read: appending stays O(1)
    return "".join("".join(parts[i]) for i in sorted(parts))


class _State:
    """Mutable per-item state (only touched under the conversation lock)."""

    __slots__ = ("args_done", "arguments", "audio", "audio_dropped", "audio_kept", "audio_total", "call_id", "id",
                 "input_parts", "input_transcript", "name", "output", "phase", "previous_item_id", "response_id",
                 "role", "status", "text", "transcript", "truncated_at_ms", "type")

    def __init__(self, item_id: str) -> None:
        self.id = item_id
        self.type: str | None = None
        self.role: str | None = None
        self.status: str | None = None
        self.name: str | None = None
        self.call_id: str | None = None
        self.output: str | None = None
        self.phase: str | None = None
        self.arguments = ""
        self.args_done = False
        self.text: dict[int, list[str]] = {}
        self.transcript: dict[int, list[str]] = {}
        self.input_parts: dict[int, list[str]] = {}  # transcription deltas, per content index
        self.input_transcript: str | None = None  # set by ``.completed`` (or the item content)
        # base64 chunks as they arrived (decoded lazily, so that applying a delta costs no
        # decode), or one int16 array once a snapshot or a truncation needed the samples
        self.audio: list[str | np.ndarray] = []
        self.audio_total = 0  # samples received, before any truncation
        self.audio_kept = 0  # samples held now (after truncation; 0 once dropped)
        self.audio_dropped = False
        self.truncated_at_ms: int | None = None
        self.previous_item_id: str | None = None
        self.response_id: str | None = None

    def update_from_item(self, item: Item, *, replace_text: bool) -> None:
        """Merge a protocol item; content text replaces local text only if ``replace_text`` or none yet."""
        for attr in ("type", "role", "status", "name", "call_id", "output", "phase"):
            v = _str(getattr(item, attr))
            if v is not None:
                setattr(self, attr, v)
        args = _str(item.arguments)
        if args and (replace_text or not self.arguments):
            self.arguments = args
        content = item.content if isinstance(item.content, list) else []
        for i, part in enumerate(content):
            text = _str(getattr(part, "text", None))
            tr = _str(getattr(part, "transcript", None))
            ptype = _str(getattr(part, "type", None))
            if text and (replace_text or i not in self.text):
                self.text[i] = [text]
            if tr:
                if ptype == "input_audio":
                    if replace_text or self.input_transcript is None:
                        self.input_transcript = tr
                elif replace_text or i not in self.transcript:
                    self.transcript[i] = [tr]

    def heard(self) -> str | None:
        if self.truncated_at_ms is None or self.audio_total <= 0:
            return None
        words = _joined(self.transcript).split()
        frac = min(1.0, max(0.0, self.truncated_at_ms * SAMPLES_PER_MS / self.audio_total))
        return " ".join(words[: round(len(words) * frac)])

    def samples(self) -> np.ndarray | None:
        """The kept audio as one int16 array (decoding pending base64 chunks), or ``None``."""
        if not self.audio:
            return None
        import numpy as np

        if len(self.audio) == 1 and not isinstance(self.audio[0], str):
            return self.audio[0]
        parts: list[np.ndarray] = []
        for chunk in self.audio:
            if isinstance(chunk, str):
                try:
                    raw = base64.b64decode(chunk)
                except ValueError:  # binascii.Error: not base64; the chunk is dropped
                    continue
                parts.append(np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2"))
            else:
                parts.append(chunk)
        if not parts:
            self.audio = []
            return None
        whole = np.concatenate(parts) if len(parts) > 1 else parts[0]
        self.audio = [whole]  # compact
        return whole

    def snapshot(self) -> ConversationEntry:
        samples = self.samples()
        audio = None if samples is None else samples.copy()
        inp = self.input_transcript
        if inp is None and self.input_parts:
            inp = _joined(self.input_parts)
        return ConversationEntry(
            id=self.id, type=self.type, role=self.role, status=self.status, text=_joined(self.text),
            transcript=_joined(self.transcript), audio=audio, arguments=self.arguments, name=self.name,
            call_id=self.call_id, output=self.output, input_transcript=inp, heard_transcript=self.heard(),
            truncated_at_ms=self.truncated_at_ms, audio_dropped=self.audio_dropped,
            previous_item_id=self.previous_item_id, response_id=self.response_id, phase=self.phase,
        )


class Conversation:
    """Local conversation state built from server events.

    Example::

        conv = Conversation(max_audio_items=20)
        client.on("*", conv.apply)   # every event, on the client's dispatcher thread
        ...
        for entry in conv.items:
            print(entry.role, entry.phase or "", entry.text or entry.transcript)

    (A :class:`~rtsync.RealtimeClient` keeps one already: ``client.conversation``, fed before
    the callbacks of each event.)

    Args:
        max_audio_items: keep audio samples only for the most recent N items that have audio
            (older ones get ``audio=None`` and ``audio_dropped=True``); ``None`` keeps all.
        max_audio_seconds: keep at most this much output audio in all (oldest items dropped
            first; an item longer than this on its own keeps none); ``None``: no limit.
    """

    def __init__(self, max_audio_items: int | None = None, max_audio_seconds: float | None = None) -> None:
        if max_audio_items is not None and max_audio_items < 0:
            raise ValueError("max_audio_items must be >= 0 or None")
        if max_audio_seconds is not None and max_audio_seconds < 0:
            raise ValueError("max_audio_seconds must be >= 0 or None")
        self.max_audio_items = max_audio_items
        self.max_audio_seconds = max_audio_seconds
        self._max_kept = None if max_audio_seconds is None else max_audio_seconds * 1000 * SAMPLES_PER_MS
        self._kept_samples = 0
        self._lock = threading.RLock()
        self._order: list[str] = []
        self._items: dict[str, _State] = {}
        self._pending: dict[str, _State] = {}  # referenced, not (yet) created in the conversation
        self._deleted: set[str] = set()
        self._audio_lru: OrderedDict[str, None] = OrderedDict()
        self._usage_by_response: dict[str, TokenUsage] = {}
        self._usage = TokenUsage()
        self._rate_limits: list[RateLimit] = []
        self._handlers: dict[str, Callable[[Any], None]] = {
            "conversation.item.created": self._on_created,
            "conversation.item.done": self._on_item_done,
            "conversation.item.deleted": self._on_deleted,
            "conversation.item.truncated": self._on_truncated,
            "conversation.item.input_audio_transcription.delta": self._on_input_delta,
            "conversation.item.input_audio_transcription.completed": self._on_input_completed,
            "response.output_item.added": self._on_output_item,
            "response.output_item.done": self._on_output_item,
            "response.text.delta": self._on_text_delta,
            "response.text.done": self._on_text_done,
            "response.audio_transcript.delta": self._on_transcript_delta,
            "response.audio_transcript.done": self._on_transcript_done,
            "response.audio.delta": self._on_audio_delta,
            "response.function_call_arguments.delta": self._on_args_delta,
            "response.function_call_arguments.done": self._on_args_done,
            "response.done": self._on_response_done,
            "rate_limits.updated": self._on_rate_limits,
        }

    # -- input ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the items (a new server session starts with an empty conversation); the
        session usage totals and rate limits are kept."""
        with self._lock:
            self._order.clear()
            self._items.clear()
            self._pending.clear()
            self._deleted.clear()
            self._audio_lru.clear()
            self._kept_samples = 0

    def apply(self, event: Event) -> None:
        """Update the state from one event (any type; unrelated events are ignored)."""
        handler = self._handlers.get(getattr(event, "type", ""))
        if handler is None:
            return
        with self._lock:
            handler(event)

    __call__ = apply

    @property
    def event_types(self) -> frozenset[str]:
        """The event types :meth:`apply` looks at (others are ignored)."""
        return frozenset(self._handlers)

    # -- readers -------------------------------------------------------------------------------
    @property
    def items(self) -> list[ConversationEntry]:
        """Snapshots of the items, in conversation order."""
        with self._lock:
            return [self._items[i].snapshot() for i in self._order]

    @property
    def item_ids(self) -> list[str]:
        """The item ids, in conversation order."""
        with self._lock:
            return list(self._order)

    def get(self, item_id: str) -> ConversationEntry | None:
        """A snapshot of one item, or ``None`` if it is not (or no longer) in the conversation."""
        with self._lock:
            st = self._items.get(item_id)
            return st.snapshot() if st is not None else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._order)

    def __contains__(self, item_id: object) -> bool:
        with self._lock:
            return item_id in self._items

    @property
    def usage(self) -> TokenUsage:
        """Session totals summed over every ``response.done`` usage."""
        with self._lock:
            return self._usage

    @property
    def total_tokens(self) -> int:
        """Total tokens of the session so far (sum over ``response.done`` usage)."""
        return self.usage.total_tokens

    @property
    def input_tokens(self) -> int:
        """Input tokens of the session so far (sum over ``response.done`` usage)."""
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        """Output tokens of the session so far (sum over ``response.done`` usage)."""
        return self.usage.output_tokens

    @property
    def usage_by_response(self) -> dict[str, TokenUsage]:
        """Usage of each finished response, by response id (a copy)."""
        with self._lock:
            return dict(self._usage_by_response)

    @property
    def rate_limits(self) -> list[RateLimit]:
        """The latest ``rate_limits.updated`` list (a copy; empty before any)."""
        with self._lock:
            return list(self._rate_limits)

    def transcript(self) -> list[str]:
        """Readable lines ``"role: text"``, one per item, in order.

        Messages show their text, else the heard transcript of a truncated item, else the audio
        transcript, else the input transcript; a reasoning model's preamble (``phase:
        "commentary"``) is marked ``assistant (preamble):``; function calls show
        ``name(arguments)``; outputs show the output text.
        """
        lines: list[str] = []
        for e in self.items:
            if e.type == "function_call":
                lines.append(f"function_call: {e.name or ''}({e.arguments})")
            elif e.type == "function_call_output":
                lines.append(f"function_call_output: {e.output or ''}")
            else:
                heard = e.heard_transcript if e.truncated_at_ms is not None else None
                body = e.text or heard or e.transcript or e.input_transcript or ""
                who = e.role or e.type or "item"
                if e.phase == "commentary":
                    who += " (preamble)"
                lines.append(f"{who}: {body.strip()}")
        return lines

    # -- internals (lock held) -----------------------------------------------------------------
    def _state(self, item_id: object) -> _State | None:
        """The state of an item, created as pending when unknown; ``None`` for deleted/bad ids."""
        if not isinstance(item_id, str) or item_id in self._deleted:
            return None
        st = self._items.get(item_id) or self._pending.get(item_id)
        if st is None:
            st = self._pending[item_id] = _State(item_id)
        return st

    def _on_created(self, ev: Any) -> None:
        item = ev.item
        if not isinstance(item, Item) or not isinstance(item.id, str):
            return
        item_id = item.id
        self._deleted.discard(item_id)  # a re-created id is a new item
        st = self._items.get(item_id)
        if st is None:
            st = self._pending.pop(item_id, None) or _State(item_id)
            prev = ev.previous_item_id
            st.previous_item_id = prev if isinstance(prev, str) else None
            if prev is None:
                pos = 0
            elif isinstance(prev, str) and prev in self._items:
                pos = self._order.index(prev) + 1
            else:
                pos = len(self._order)
            self._order.insert(pos, item_id)
            self._items[item_id] = st
        st.update_from_item(item, replace_text=False)

    def _on_item_done(self, ev: Any) -> None:
        # GA: an item's final state. Normally its conversation.item.added came first; a server
        # that sends only conversation.item.done (some do) still gets the item placed.
        item = ev.item
        if isinstance(item, Item) and isinstance(item.id, str):
            if item.id not in self._items and item.id not in self._deleted:
                self._on_created(ev)

    def _on_deleted(self, ev: Any) -> None:
        item_id = ev.item_id
        if not isinstance(item_id, str):
            return
        gone = self._items.pop(item_id, None)
        if gone is not None:
            self._order.remove(item_id)
        gone = self._pending.pop(item_id, None) or gone
        if gone is not None:
            self._kept_samples -= gone.audio_kept
        self._audio_lru.pop(item_id, None)
        self._deleted.add(item_id)

    def _on_truncated(self, ev: Any) -> None:
        st = self._state(ev.item_id)
        end = ev.audio_end_ms
        if st is None or not isinstance(end, int) or end < 0:
            return
        st.truncated_at_ms = end
        whole = st.samples()
        if whole is not None:
            st.audio = [whole[: end * SAMPLES_PER_MS]]
            kept = len(st.audio[0])
            self._kept_samples -= st.audio_kept - kept
            st.audio_kept = kept

    def _on_input_delta(self, ev: Any) -> None:
        st = self._state(ev.item_id)
        if st is not None and isinstance(ev.delta, str):
            idx = _int(ev.content_index)
            st.input_parts.setdefault(idx, []).append(ev.delta)

    def _on_input_completed(self, ev: Any) -> None:
        st = self._state(ev.item_id)
        if st is not None and isinstance(ev.transcript, str):
            st.input_transcript = ev.transcript

    def _on_output_item(self, ev: Any) -> None:
        item = ev.item
        if not isinstance(item, Item):
            return
        st = self._state(item.id)
        if st is None:
            return
        if isinstance(ev.response_id, str):
            st.response_id = ev.response_id
        st.update_from_item(item, replace_text=ev.type == "response.output_item.done")

    def _delta_state(self, ev: Any) -> _State | None:
        st = self._state(ev.item_id)
        if st is not None and isinstance(ev.response_id, str) and st.response_id is None:
            st.response_id = ev.response_id
        return st

    def _on_text_delta(self, ev: Any) -> None:
        st = self._delta_state(ev)
        if st is not None and isinstance(ev.delta, str):
            idx = _int(ev.content_index)
            st.text.setdefault(idx, []).append(ev.delta)

    def _on_text_done(self, ev: Any) -> None:
        st = self._delta_state(ev)
        if st is not None and isinstance(ev.text, str):
            st.text[_int(ev.content_index)] = [ev.text]

    def _on_transcript_delta(self, ev: Any) -> None:
        st = self._delta_state(ev)
        if st is not None and isinstance(ev.delta, str):
            idx = _int(ev.content_index)
            st.transcript.setdefault(idx, []).append(ev.delta)

    def _on_transcript_done(self, ev: Any) -> None:
        st = self._delta_state(ev)
        if st is not None and isinstance(ev.transcript, str):
            st.transcript[_int(ev.content_index)] = [ev.transcript]

    def _on_audio_delta(self, ev: Any) -> None:
        st = self._delta_state(ev)
        if st is None or st.audio_dropped or st.truncated_at_ms is not None:
            return
        delta = ev.delta
        if not isinstance(delta, str):
            return
        n = _b64_samples(delta)
        if n <= 0:
            return
        st.audio.append(delta)
        st.audio_total += n
        st.audio_kept += n
        self._kept_samples += n
        if st.id not in self._audio_lru:
            self._audio_lru[st.id] = None
            self._enforce_audio_bound()
        elif self._max_kept is not None and self._kept_samples > self._max_kept:
            self._enforce_audio_bound()

    def _enforce_audio_bound(self) -> None:
        limit = self.max_audio_items
        max_samples = self._max_kept
        while self._audio_lru and ((limit is not None and len(self._audio_lru) > limit)
                                   or (max_samples is not None and self._kept_samples > max_samples)):
            old_id, _ = self._audio_lru.popitem(last=False)
            old = self._items.get(old_id) or self._pending.get(old_id)
            if old is not None:
                self._drop_audio(old)

    def _drop_audio(self, st: _State) -> None:
        self._kept_samples -= st.audio_kept
        st.audio_kept = 0
        st.audio = []
        st.audio_dropped = True

    def _on_args_delta(self, ev: Any) -> None:
        st = self._delta_state(ev)
        if st is None or not isinstance(ev.delta, str):
            return
        if st.args_done:
            return
        st.arguments += ev.delta
        if isinstance(ev.call_id, str):
            st.call_id = ev.call_id

    def _on_args_done(self, ev: Any) -> None:
        st = self._delta_state(ev)
        if st is None:
            return
        if isinstance(ev.arguments, str):
            st.arguments = ev.arguments
            st.args_done = True
        if isinstance(ev.call_id, str):
            st.call_id = ev.call_id
        if isinstance(ev.name, str):
            st.name = ev.name

    def _on_response_done(self, ev: Any) -> None:
        resp = ev.response
        if not isinstance(resp, Response):
            return
        if isinstance(resp.output, list):
            for item in resp.output:
                # Only items this conversation already knows: out-of-band output is not added.
                if isinstance(item, Item) and isinstance(item.id, str) and item.id in self._items:
                    st = self._items[item.id]
                    if isinstance(resp.id, str) and st.response_id is None:
                        st.response_id = resp.id
                    st.update_from_item(item, replace_text=True)
        if isinstance(resp.usage, Usage):
            u = TokenUsage.from_usage(resp.usage)
            key = resp.id if isinstance(resp.id, str) else f"response_{len(self._usage_by_response)}"
            if key in self._usage_by_response:  # a repeated response.done: do not count twice
                self._usage = TokenUsage(
                    self._usage.total_tokens - self._usage_by_response[key].total_tokens,
                    self._usage.input_tokens - self._usage_by_response[key].input_tokens,
                    self._usage.output_tokens - self._usage_by_response[key].output_tokens,
                )
            self._usage_by_response[key] = u
            self._usage = self._usage + u

    def _on_rate_limits(self, ev: Any) -> None:
        if isinstance(ev.rate_limits, list):
            self._rate_limits = [r for r in ev.rate_limits if isinstance(r, RateLimit)]

