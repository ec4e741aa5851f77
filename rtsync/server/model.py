"""The deterministic fake model behind the local server.

The model is a script, so that every test and demo that talks to the local server agrees on what
it answers. It looks only at the conversation context a response is generated from (the default
conversation, or the ``input`` list of ``response.create``):

* Function outputs: when ``function_call_output`` items follow the latest user message, the reply
  is ``Tool NAME returned: OUTPUT``, one line per answered call, in conversation order.
* Tool calls: when the tools in effect (``tool_choice`` not ``"none"``) include one whose name
  appears in the latest user text ``T`` (as a whole word), the response calls that tool instead of
  answering. Several named tools give several ``function_call`` items in one response, in the order
  of their first appearance in ``T``. The arguments are the first JSON object found in ``T``
  (scanning from each ``{`` with :meth:`json.JSONDecoder.raw_decode`), re-serialised compactly, or
  ``{}`` when ``T`` holds none; every call of the response gets the same arguments.
  ``tool_choice: "required"`` with no tool named calls the first tool; a specific function choice
  (``{"type": "function", "name": ...}`` or ``{"type": "function", "function": {"name": ...}}``)
  always calls that function.
* Text: a user text message ``T`` gets ``You said: T``.
* Audio: a user audio message gets ``I heard N.N seconds of speech.`` where ``N.N`` is the
  duration of its audio (one decimal).
* Nothing to answer (no user message): ``How can I help you?``.
* Reasoning models (:func:`is_reasoning_model`: ``gpt-realtime-2`` and its family) answer with
  two messages in one response: the preamble ``Let me think.`` (``phase: "commentary"``), then
  the answer (``phase: "final_answer"``). Tool calls stay as they are, without a preamble.

Instructions, temperature and voice never change the words. Text streams as one delta per word
(the separating whitespace is attached to the front of the following word, so the deltas
concatenate to the exact text); function arguments stream in small token-like chunks.

When a response's modalities include ``"audio"``, the same words are spoken (see
:mod:`rtsync.server.voice`) and streamed as an ``audio`` content part whose transcript deltas are
the word deltas.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "PREAMBLE",
    "Message",
    "Output",
    "ToolCall",
    "audio_tokens",
    "cap_chunks",
    "context_tokens",
    "first_json_object",
    "is_reasoning_model",
    "plan_reply",
    "split_arguments",
    "split_words",
    "text_tokens",
]

NOTHING_TO_ANSWER = "How can I help you?"

#: What a reasoning model says before its answer (a ``phase: "commentary"`` message).
PREAMBLE = "Let me think."

_WORD = re.compile(r"\s*\S+")
_ARG_TOKEN = re.compile(r"[A-Za-z0-9_]+|\s+|[^A-Za-z0-9_\s]+")


@dataclass(frozen=True)
class Message:
    """An assistant message the model answers with.

    Attributes:
        text: the full text of the message.
        phase: ``"commentary"`` (a preamble) or ``"final_answer"`` for the messages of a
            reasoning model, else ``None`` (the item has no ``phase``).
    """

    text: str
    phase: str | None = None


@dataclass(frozen=True)
class ToolCall:
    """A call of one function tool.

    Attributes:
        name: the tool name.
        arguments: the arguments as compact JSON text.
    """

    name: str
    arguments: str


Output = Message | ToolCall


def split_words(text: str) -> list[str]:
    """Split ``text`` into word deltas whose concatenation is exactly ``text``.

    Whitespace is attached to the front of the word that follows it (``"You said: hi"`` gives
    ``["You", " said:", " hi"]``); trailing whitespace goes with the last word.

    Args:
        text: the text to split.

    Returns:
        The deltas; empty for an empty text.
    """
    chunks = _WORD.findall(text)
    rest = text[sum(len(c) for c in chunks):]
    if rest:
        if chunks:
            chunks[-1] += rest
        else:
            chunks = [rest]
    return chunks


def split_arguments(arguments: str) -> list[str]:
    """Split JSON text into token-like chunks (``{"``, ``city``, ``":"``, ...).

    Args:
        arguments: the JSON text.

    Returns:
        Chunks whose concatenation is exactly ``arguments``.
    """
    return _ARG_TOKEN.findall(arguments) or ([arguments] if arguments else [])


def cap_chunks(chunks: list[str], cap: int | None) -> tuple[list[str], bool]:
    """Keep roughly ``cap`` tokens worth of chunks (one chunk counts as one token).

    Args:
        chunks: the deltas of a text.
        cap: the output token cap, or ``None`` for no cap.

    Returns:
        The kept chunks and whether anything was cut off.
    """
    if cap is None or len(chunks) <= cap:
        return chunks, False
    return chunks[:max(cap, 0)], True


def first_json_object(text: str) -> dict[str, Any] | None:
    """Return the first JSON object embedded in ``text``.

    Every ``{`` is tried as the start of a JSON value with :meth:`json.JSONDecoder.raw_decode`;
    the first one that decodes to an object wins.

    Args:
        text: free text, e.g. ``'get_weather {"city": "Paris"}'``.

    Returns:
        The decoded object, or ``None`` when ``text`` holds none.
    """
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            pass
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    return None


def text_tokens(text: str) -> int:
    """Estimate the token count of ``text`` (about four characters per token)."""
    return len(text) // 4 + 1 if text else 0


def audio_tokens(seconds: float) -> int:
    """Estimate the token count of ``seconds`` of audio (ten tokens per second)."""
    return round(seconds * 10)


def context_tokens(
    items: Sequence[Mapping[str, Any]], audio_seconds: Mapping[str, float]
) -> tuple[int, int]:
    """Estimate the text and audio tokens that ``items`` cost as model input.

    Args:
        items: conversation items in server form.
        audio_seconds: audio duration per item id, for items that hold audio.

    Returns:
        ``(text_tokens, audio_tokens)``.
    """
    text_total = 0
    audio_total = 0
    for item in items:
        text_total += 4  # per-item framing
        kind = item.get("type")
        if kind == "message":
            for part in item.get("content") or []:
                if not isinstance(part, Mapping):
                    continue
                ptype = part.get("type")
                if ptype in ("input_text", "text"):
                    text_total += text_tokens(str(part.get("text") or ""))
                elif ptype == "audio" and part.get("transcript"):
                    text_total += text_tokens(str(part.get("transcript")))
            seconds = audio_seconds.get(str(item.get("id")))
            if seconds:
                audio_total += audio_tokens(seconds)
        elif kind == "function_call":
            text_total += text_tokens(str(item.get("name") or "")) + text_tokens(
                str(item.get("arguments") or "")
            )
        elif kind == "function_call_output":
            text_total += text_tokens(str(item.get("output") or ""))
    return text_total, audio_total


def _user_text(item: Mapping[str, Any]) -> str | None:
    texts = [
        str(part.get("text") or "")
        for part in item.get("content") or []
        if isinstance(part, Mapping) and part.get("type") in ("input_text", "text")
    ]
    return " ".join(texts) if texts else None


def _tool_names(tools: Sequence[Mapping[str, Any]]) -> list[str]:
    names = []
    for tool in tools:
        if tool.get("type", "function") == "function" and isinstance(tool.get("name"), str):
            names.append(tool["name"])
    return names


def _forced_function(tool_choice: Any) -> str | None:
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") == "function":
        name = tool_choice.get("name")
        if not isinstance(name, str):
            function = tool_choice.get("function")
            name = function.get("name") if isinstance(function, Mapping) else None
        return name if isinstance(name, str) else None
    return None


def _named_tools(text: str, names: Sequence[str]) -> list[str]:
    found: list[tuple[int, str]] = []
    for name in dict.fromkeys(names):
        match = re.search(r"(?<![\w-])" + re.escape(name) + r"(?![\w-])", text)
        if match:
            found.append((match.start(), name))
    return [name for _, name in sorted(found)]


def is_reasoning_model(model: str) -> bool:
    """Whether ``model`` is a reasoning model (``gpt-realtime-2``, ``gpt-realtime-2.1``, ...)."""
    return model.startswith("gpt-realtime-2")


def plan_reply(
    items: Sequence[Mapping[str, Any]],
    *,
    tools: Sequence[Mapping[str, Any]] = (),
    tool_choice: Any = "auto",
    audio_seconds: Mapping[str, float] | None = None,
    reasoning: bool = False,
) -> list[Output]:
    """Decide what the model answers to a conversation context.

    Args:
        items: the context, oldest first, in server item form.
        tools: the tools in effect for the response.
        tool_choice: ``"auto"``, ``"none"``, ``"required"`` or a specific function.
        audio_seconds: audio duration per item id, for user audio messages.
        reasoning: answer as a reasoning model: a :data:`PREAMBLE` message with phase
            ``"commentary"`` before the answer, whose phase is ``"final_answer"``.

    Returns:
        The outputs of the response, in order: one :class:`Message` (two for a reasoning
        model), or one or more :class:`ToolCall`.
    """
    outputs = _plan(items, tools, tool_choice, audio_seconds)
    if reasoning and len(outputs) == 1 and isinstance(outputs[0], Message):
        return [Message(PREAMBLE, "commentary"), Message(outputs[0].text, "final_answer")]
    return outputs


def _plan(
    items: Sequence[Mapping[str, Any]],
    tools: Sequence[Mapping[str, Any]],
    tool_choice: Any,
    audio_seconds: Mapping[str, float] | None,
) -> list[Output]:
    audio_seconds = audio_seconds or {}
    last_user = -1
    for index, item in enumerate(items):
        if item.get("type") == "message" and item.get("role") == "user":
            last_user = index

    # Function outputs answered since the latest user message.
    calls = {
        str(item.get("call_id")): str(item.get("name") or "")
        for item in items
        if item.get("type") == "function_call"
    }
    lines = [
        f"Tool {calls.get(str(item.get('call_id')), 'unknown')} returned: {item.get('output', '')}"
        for item in items[last_user + 1:]
        if item.get("type") == "function_call_output"
    ]
    if lines:
        return [Message("\n".join(lines))]
    if last_user < 0:
        return [Message(NOTHING_TO_ANSWER)]

    user = items[last_user]
    text = _user_text(user)
    if text is None:
        seconds = audio_seconds.get(str(user.get("id")), 0.0)
        return [Message(f"I heard {seconds:.1f} seconds of speech.")]

    names = _tool_names(tools)
    chosen: list[str] = []
    forced = _forced_function(tool_choice)
    if forced is not None:
        chosen = [forced]
    elif names and tool_choice != "none":
        chosen = _named_tools(text, names)
        if not chosen and tool_choice == "required":
            chosen = names[:1]
    if chosen:
        arguments = first_json_object(text) or {}
        encoded = json.dumps(arguments, separators=(",", ":"), ensure_ascii=False)
        return [ToolCall(name, encoded) for name in chosen]
    return [Message(f"You said: {text}")]
