"""The ``conversation.item.*`` requests of the local server: create, truncate, delete, retrieve.

:func:`check_item` checks a client item (also the inline items of ``response.create``'s
``input``) and returns it in server form; :class:`ItemRequests` applies the requests to the
:class:`~rtsync.server.store.ItemStore` and sends what the service sends.
"""

from __future__ import annotations

import base64
import binascii
import copy
import threading
from typing import Any

from rtsync.audio.formats import bytes_per_ms
from rtsync.server.store import ItemInfo, ItemStore, input_audio_seconds
from rtsync.server.validation import ClientError, bad_value, check_str, missing, type_error, unknown
from rtsync.server.wire import Emit, new_id

__all__ = ["ItemRequests", "check_item"]

_ITEM_KEYS = {"id", "object", "type", "status", "role", "content", "call_id", "name", "arguments", "output"}


def check_item(raw: Any, param: str) -> tuple[dict[str, Any], bytes | None]:
    """Check a client item; return it in server form, plus the input audio its content carries.

    Args:
        raw: the item as the client sent it.
        param: where it is in the event (``item``, ``response.input[2]``), for error messages.

    Returns:
        The item (a new dict with ``id``, ``object``, ``status``) and the concatenated bytes of
        its ``input_audio`` parts that carry ``audio``, or ``None`` when none does.

    Raises:
        ClientError: the item is malformed.
    """
    if not isinstance(raw, dict):
        raise type_error(param, "an object", raw)
    for key in raw:
        if key not in _ITEM_KEYS:
            raise unknown(f"{param}.{key}")
    if "type" not in raw:
        raise missing(f"{param}.type")
    kind = raw["type"]
    if kind not in ("message", "function_call", "function_call_output"):
        raise bad_value(f"{param}.type", kind, ("message", "function_call", "function_call_output"))
    item_id = raw.get("id")
    if item_id is None:
        item_id = new_id("item")
    elif not isinstance(item_id, str) or not item_id:
        raise type_error(f"{param}.id", "a non-empty string", item_id)
    item: dict[str, Any] = {
        "id": item_id,
        "object": "realtime.item",
        "type": kind,
        "status": "completed",
    }
    audio_bytes: bytes | None = None
    if kind == "message":
        if "role" not in raw:
            raise missing(f"{param}.role")
        role = raw["role"]
        if role not in ("user", "assistant", "system"):
            raise bad_value(f"{param}.role", role, ("user", "assistant", "system"))
        content = raw.get("content")
        if content is None:
            raise missing(f"{param}.content")
        if not isinstance(content, list):
            raise type_error(f"{param}.content", "an array of objects", content)
        allowed = {
            "user": ("input_text", "input_audio"),
            "assistant": ("text",),
            "system": ("input_text",),
        }
        parts = []
        for index, part in enumerate(content):
            where = f"{param}.content[{index}]"
            if not isinstance(part, dict):
                raise type_error(where, "an object", part)
            ptype = part.get("type")
            if ptype is None:
                raise missing(f"{where}.type")
            if ptype not in allowed[role]:
                if len(allowed[role]) == 1:
                    raise ClientError(
                        f"Invalid value: '{ptype}'. Value must be '{allowed[role][0]}'.",
                        code="invalid_value",
                        param=f"{where}.type",
                    )
                raise bad_value(f"{where}.type", ptype, allowed[role])
            if ptype in ("input_text", "text"):
                if "text" not in part:
                    raise missing(f"{where}.text")
                parts.append({"type": ptype, "text": check_str(f"{where}.text", part["text"])})
            else:  # input_audio
                transcript = part.get("transcript")
                if transcript is not None:
                    check_str(f"{where}.transcript", transcript)
                if part.get("audio") is not None:
                    encoded = check_str(f"{where}.audio", part["audio"])
                    try:
                        audio = base64.b64decode(encoded, validate=True)
                    except (binascii.Error, ValueError):
                        raise ClientError(
                            f"Invalid '{where}.audio': the value is not valid base64-encoded audio.",
                            code="invalid_value",
                            param=f"{where}.audio",
                        ) from None
                    audio_bytes = (audio_bytes or b"") + audio
                parts.append({"type": "input_audio", "transcript": transcript})
        item["role"] = role
        item["content"] = parts
    elif kind == "function_call":
        for key in ("name", "call_id"):
            if key not in raw:
                raise missing(f"{param}.{key}")
        item["name"] = check_str(f"{param}.name", raw["name"])
        item["call_id"] = check_str(f"{param}.call_id", raw["call_id"])
        item["arguments"] = check_str(f"{param}.arguments", raw.get("arguments", ""))
    else:
        for key in ("call_id", "output"):
            if key not in raw:
                raise missing(f"{param}.{key}")
        item["call_id"] = check_str(f"{param}.call_id", raw["call_id"])
        item["output"] = check_str(f"{param}.output", raw["output"])
    return item, audio_bytes


class ItemRequests:
    """Applies the ``conversation.item.*`` requests of one session.

    Args:
        settings: the session settings (read for ``input_audio_format``).
        store: the session's items.
        lock: the session lock; state changes and their events happen under it.
        emit: sends one server event.
    """

    def __init__(
        self, settings: dict[str, Any], store: ItemStore, lock: threading.RLock, emit: Emit
    ) -> None:
        self._settings = settings
        self._store = store
        self._lock = lock
        self._emit = emit

    def _bytes_per_ms(self) -> int:
        return bytes_per_ms(str(self._settings["input_audio_format"]))  # validated on session.update

    def create(self, event: dict[str, Any]) -> None:
        """``conversation.item.create``: insert the item, send ``conversation.item.created``."""
        if "item" not in event:
            raise missing("item")
        previous_item_id = event.get("previous_item_id")
        if previous_item_id is not None:
            check_str("previous_item_id", previous_item_id)
        item, audio = check_item(event["item"], "item")
        info = ItemInfo()
        if audio is not None:
            info = ItemInfo(audio=audio, audio_seconds=input_audio_seconds(audio, self._bytes_per_ms()))
        with self._lock:
            if self._store.find(item["id"]) is not None:
                raise ClientError(
                    f"Error adding item: an item with id '{item['id']}' already exists.",
                    code="invalid_value",
                    param="item.id",
                )
            if item["type"] == "function_call_output" and not any(
                other.get("type") == "function_call" and other.get("call_id") == item["call_id"]
                for other in self._store.items
            ):
                raise ClientError(
                    f"Tool call ID '{item['call_id']}' not found in conversation.",
                    code="invalid_tool_call_id",
                    param="item.call_id",
                )
            previous = self._store.insert(item, previous_item_id, info)
            self._emit("conversation.item.created", previous_item_id=previous, item=item)

    def _item_id(self, event: dict[str, Any]) -> str:
        if "item_id" not in event:
            raise missing("item_id")
        return check_str("item_id", event["item_id"])

    def truncate(self, event: dict[str, Any]) -> None:
        """``conversation.item.truncate``: cut an assistant audio item, send ``.truncated``."""
        item_id = self._item_id(event)
        values = []
        for key in ("content_index", "audio_end_ms"):
            if key not in event:
                raise missing(key)
            value = event[key]
            if not isinstance(value, int) or isinstance(value, bool):
                raise type_error(key, "an integer", value)
            if value < 0:
                raise ClientError(
                    f"Invalid '{key}': integer below minimum value. Expected a value >= 0, "
                    f"but got {value} instead.",
                    code="integer_below_min_value",
                    param=key,
                )
            values.append(value)
        content_index, audio_end_ms = values
        with self._lock:
            self._store.truncate(item_id, content_index, audio_end_ms)
            self._emit(
                "conversation.item.truncated",
                item_id=item_id,
                content_index=content_index,
                audio_end_ms=audio_end_ms,
            )

    def delete(self, event: dict[str, Any]) -> None:
        """``conversation.item.delete``: remove the item, send ``conversation.item.deleted``."""
        item_id = self._item_id(event)
        with self._lock:
            self._store.delete(item_id)
            self._emit("conversation.item.deleted", item_id=item_id)

    def retrieve(self, event: dict[str, Any]) -> None:
        """``conversation.item.retrieve``: send the item (with its input audio) as ``.retrieved``."""
        item_id = self._item_id(event)
        with self._lock:
            item = self._store.find(item_id)
            if item is None:
                raise ClientError(
                    f"Error retrieving item: the item with id '{item_id}' does not exist.",
                    code="item_retrieve_invalid_item_id",
                    param="item_id",
                )
            full = copy.deepcopy(item)
            info = self._store.info.get(item_id)
            if info is not None and info.audio is not None:
                for part in full.get("content") or []:
                    if part.get("type") == "input_audio":
                        part["audio"] = base64.b64encode(info.audio).decode("ascii")
                        break
            self._emit("conversation.item.retrieved", item=full)
