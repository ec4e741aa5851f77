"""The local server's item store: the ordered items of the default conversation.

Items are kept in their server (wire) form; what the server knows beyond that (input audio
bytes, the length and words of generated audio, truncation) lives in an :class:`ItemInfo` per
item. The store raises :class:`~rtsync.server.validation.ClientError` for requests that name
items it does not have; it sends nothing (the handlers in :mod:`rtsync.server.items` do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rtsync.server.model import split_words
from rtsync.server.validation import ClientError
from rtsync.server.wire import new_id

__all__ = ["ItemInfo", "ItemStore", "cut_transcript", "input_audio_seconds"]


@dataclass
class ItemInfo:
    """What the server knows about an item beyond its wire form."""

    audio: bytes | None = None  # input audio bytes of a user audio message
    audio_seconds: float | None = None  # duration of that input audio
    audio_ms: int | None = None  # length of model output audio (assistant audio items only)
    words: list[str] | None = None  # transcript words of model output audio
    word_ends_ms: list[float] | None = None  # where each of those words ends in the audio
    truncated_ms: int | None = None  # audio_end_ms of the last truncation


class ItemStore:
    """The ordered item list of the default conversation.

    Items are kept in their server (wire) form; side information such as input audio bytes or
    the length of generated audio lives in a separate table keyed by item id.

    Attributes:
        id: the conversation id (``conv_...``) that responses in the conversation name.
        items: the items, in conversation order.
        info: the :class:`ItemInfo` of each item, by item id.
    """

    def __init__(self) -> None:
        self.id = new_id("conv")
        self.items: list[dict[str, Any]] = []
        self.info: dict[str, ItemInfo] = {}

    def find(self, item_id: str) -> dict[str, Any] | None:
        """Return the item with ``item_id``, or ``None``."""
        for item in self.items:
            if item["id"] == item_id:
                return item
        return None

    def last_id(self) -> str | None:
        """Return the id of the last item, or ``None`` for an empty conversation."""
        return self.items[-1]["id"] if self.items else None

    def insert(
        self, item: dict[str, Any], previous_item_id: str | None = None, info: ItemInfo | None = None
    ) -> str | None:
        """Insert ``item`` after ``previous_item_id`` (``None``: append, ``"root"``: at the start).

        Returns:
            The id of the item now before it, or ``None`` if it is first.

        Raises:
            ClientError: ``previous_item_id`` names no item.
        """
        if previous_item_id is None:
            position = len(self.items)
        elif previous_item_id == "root":
            position = 0
        else:
            for index, existing in enumerate(self.items):
                if existing["id"] == previous_item_id:
                    position = index + 1
                    break
            else:
                raise ClientError(
                    f"Error adding item: the previous item with id '{previous_item_id}' "
                    "does not exist.",
                    code="invalid_value",
                    param="previous_item_id",
                )
        self.items.insert(position, item)
        self.info[item["id"]] = info or ItemInfo()
        return self.items[position - 1]["id"] if position > 0 else None

    def delete(self, item_id: str) -> None:
        """Remove the item with ``item_id``.

        Raises:
            ClientError: no such item (code ``item_delete_invalid_item_id``).
        """
        for index, item in enumerate(self.items):
            if item["id"] == item_id:
                del self.items[index]
                self.info.pop(item_id, None)
                return
        raise ClientError(
            f"Error deleting item: the item with id '{item_id}' does not exist.",
            code="item_delete_invalid_item_id",
            param="item_id",
        )

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut the audio of an assistant audio item at ``audio_end_ms`` (REFERENCE §7).

        The item's audio length is ``info[item_id].audio_ms``, recorded while model audio output
        is generated (so a still-streaming item can be truncated up to the audio sent so far); an
        item without it is not model output audio and cannot be truncated. The transcript is cut
        to the words that end before ``audio_end_ms`` (word positions are estimated in proportion
        to their length in characters); the audio after the point is forgotten.

        Raises:
            ClientError: unknown item, not a model audio item, or ``audio_end_ms`` beyond the
                item's audio.
        """
        item = self.find(item_id)
        if item is None:
            raise ClientError(
                f"Error truncating item: the item with id '{item_id}' does not exist.",
                code="item_truncate_invalid_item_id",
                param="item_id",
            )
        info = self.info.setdefault(item_id, ItemInfo())
        content = item.get("content") or []
        if (
            item.get("type") != "message"
            or item.get("role") != "assistant"
            or info.audio_ms is None
            or not 0 <= content_index < len(content)
            or content[content_index].get("type") != "audio"
        ):
            raise ClientError(
                "Only model output audio messages can be truncated",
                code="unsupported_content_type",
                param=None,
            )
        have = info.audio_ms
        if audio_end_ms > info.audio_ms:
            raise ClientError(
                f"Audio content of {info.audio_ms}ms is already shorter than {audio_end_ms}ms",
                code=None,
            )
        info.audio_ms = audio_end_ms
        info.truncated_ms = audio_end_ms
        content[content_index]["transcript"] = cut_transcript(
            info, str(content[content_index].get("transcript") or ""), audio_end_ms, have
        )


def cut_transcript(info: ItemInfo, transcript: str, end_ms: int, have_ms: int) -> str:
    """The part of a spoken transcript heard up to ``end_ms`` (an estimate, by words)."""
    if info.words is not None and info.word_ends_ms is not None:
        kept = [w for w, end in zip(info.words, info.word_ends_ms, strict=True) if end <= end_ms + 1e-6]
        return "".join(kept)
    words = split_words(transcript)
    if have_ms <= 0:
        return ""
    return "".join(words[: len(words) * end_ms // have_ms])


def input_audio_seconds(audio: bytes, bytes_per_ms: int) -> float:
    """The duration of input audio in seconds.

    Args:
        audio: the audio bytes.
        bytes_per_ms: bytes per millisecond of the session's input audio format.
    """
    return len(audio) / bytes_per_ms / 1000.0
