"""The endpoint URL, and the errors a refused handshake becomes (HTTP status or first event)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rtsync._log import redact
from rtsync.errors import AuthenticationError, BetaShapeDisabledError, ConnectError, ModelNotFoundError

__all__ = ["build_url", "error_from_first_frame", "error_from_status"]


def build_url(url: str, model: str | None, extra_query: dict[str, str] | None = None) -> str:
    """Merge ``model`` (and ``extra_query``) into ``url``'s query, keeping the other parameters.

    ``model`` replaces a ``model`` parameter already in the URL; ``None`` leaves the URL's own.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"url must start with ws:// or wss://, got {redact(url)!r}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    updates = dict(extra_query or {})
    if model is not None:
        updates["model"] = model
    query = [(k, v) for k, v in query if k not in updates] + list(updates.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


def error_from_first_frame(data: Any) -> Exception | None:
    """Map an ``error`` event that arrives instead of ``session.created`` to an exception."""
    if not isinstance(data, dict) or data.get("type") != "error":
        return None
    raw_err = data.get("error")
    err: dict[str, Any] = raw_err if isinstance(raw_err, dict) else {}
    code = str(err.get("code") or "")
    message = redact(err.get("message") or "the server refused the session")
    if code in ("invalid_api_key", "invalid_authentication", "authentication_error") or "api key" in message.lower():
        return AuthenticationError(f"the server refused the API key: {message}")
    if code in ("model_not_found", "invalid_model") or "model" in code:
        return ModelNotFoundError(f"unknown model: {message}")
    if code == "beta_api_shape_disabled":
        return BetaShapeDisabledError(
            f"the server no longer speaks the beta protocol ({message}); "
            "use RealtimeClient(..., dialect='ga') (or the default dialect='auto')"
        )
    return ConnectError(f"the server refused the session: {message} [{code or 'no code'}]")


def error_from_status(where: str, status: int, raw_body: Any) -> ConnectError:
    """Map a refused HTTP upgrade (``status``, response body) from host ``where`` to an exception."""
    body = raw_body.decode("utf-8", "replace") if isinstance(raw_body, bytes) else str(raw_body or "")
    detail = ""
    try:
        detail = json.loads(body)["error"]["message"]
    except (ValueError, KeyError, TypeError):
        detail = body[:200]
    detail = redact(detail)
    if status in (401, 403):
        return AuthenticationError(f"{where} refused the API key (HTTP {status}): {detail}".rstrip(": "))
    if status == 404:
        return ModelNotFoundError(f"{where} answered HTTP 404 (unknown model or path): {detail}".rstrip(": "))
    return ConnectError(f"{where} refused the WebSocket upgrade (HTTP {status}): {detail}".rstrip(": "))
