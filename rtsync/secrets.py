"""Ephemeral client secrets: short-lived keys for apps that must not ship a real API key.

A backend holding the real key calls :func:`create_client_secret` and hands the returned
``ek_...`` value to the app, which connects with ``RealtimeClient(api_key=secret.value)``
(GA protocol). The request is ``POST {base_url}/realtime/client_secrets`` made with the standard
library's HTTP client; TLS verification stays on. The real key never appears in exceptions,
logs or reprs; the secret's value is hidden from its repr too.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from rtsync._log import redact, register_secret
from rtsync.errors import AuthenticationError, ConnectError, NetworkError

__all__ = ["ClientSecret", "create_client_secret"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class ClientSecret:
    """A client secret from ``/realtime/client_secrets``.

    Attributes:
        value: the secret (``ek_...``), used as the ``api_key`` of a GA connection.
        expires_at: when it stops opening sessions (unix seconds).
        session: the effective session configuration the server returned (GA shape).
    """

    value: str = field(repr=False)
    expires_at: int
    session: dict[str, Any] = field(default_factory=dict, repr=False)


def create_client_secret(
    api_key: str | None = None,
    *,
    session: dict[str, Any] | None = None,
    expires_in: int | None = None,
    base_url: str = DEFAULT_BASE_URL,
    headers: dict[str, str] | None = None,
    timeout: float = 15.0,
    ssl_context: ssl.SSLContext | None = None,
) -> ClientSecret:
    """Obtain an ephemeral client secret (blocking; call it from any thread but a callback).

    Args:
        api_key: the real key; ``OPENAI_API_KEY`` when not given.
        session: the session the secret is for, in the beta vocabulary of
            :meth:`rtsync.RealtimeClient.update_session` (``{"voice": "alloy", "instructions":
            ...}``) or already in GA shape; ``type: "realtime"`` is filled in. Default: a
            realtime session for :data:`rtsync.client.DEFAULT_MODEL` (``gpt-realtime-2.1``).
        expires_in: seconds the secret lives (10 to 7200; the server's default is 600).
        base_url: the REST base URL (``https://<resource>.openai.azure.com/openai/v1`` for Azure).
        headers: extra request headers (for Azure, ``{"api-key": key}`` with ``api_key=None``).
        timeout: seconds for the request.
        ssl_context: a TLS context (verification is on by default).

    Raises:
        AuthenticationError: the key was refused (HTTP 401/403).
        NetworkError: the server could not be reached.
        ConnectError: any other refusal (the server's message is included, keys redacted).
    """
    from rtsync.events.dialect import session_to_ga

    key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
    extra = dict(headers or {})
    if not key and not extra:
        raise AuthenticationError("create_client_secret needs an API key (argument or OPENAI_API_KEY)")
    register_secret(key)
    for v in extra.values():
        register_secret(v.split()[-1] if v.split() else v)
    ga_session = session_to_ga(dict(session or {}))
    ga_session.setdefault("type", "realtime")
    if ga_session["type"] == "realtime":
        from rtsync.client.endpoint import DEFAULT_MODEL  # a constant only: no client is built here

        ga_session.setdefault("model", DEFAULT_MODEL)
    body: dict[str, Any] = {"session": ga_session}
    if expires_in is not None:
        if not 10 <= expires_in <= 7200:
            raise ValueError(f"expires_in must be between 10 and 7200 seconds, got {expires_in}")
        body["expires_after"] = {"anchor": "created_at", "seconds": int(expires_in)}
    req = urllib.request.Request(
        base_url.rstrip("/") + "/realtime/client_secrets",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {}), **extra},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ssl_context) as resp:
            data = json.loads(resp.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        message = _error_message(exc)
        if exc.code in (401, 403):
            raise AuthenticationError(f"the server refused the API key: {message}") from None
        raise ConnectError(f"client secret request failed (HTTP {exc.code}): {message}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise NetworkError(f"could not reach {redact(base_url)}: {redact(exc)}") from None
    except ValueError:
        raise ConnectError("client secret response is not JSON") from None
    value = data.get("value") if isinstance(data, dict) else None
    if not isinstance(value, str):  # older shape: {"client_secret": {"value", "expires_at"}}
        inner = data.get("client_secret") if isinstance(data, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("value"), str):
            data = {**data, **inner}
            value = inner["value"]
        else:
            raise ConnectError("client secret response has no 'value'")
    register_secret(value)
    expires = data.get("expires_at")
    return ClientSecret(value=value, expires_at=int(expires) if isinstance(expires, (int, float)) else 0,
                        session=data.get("session") if isinstance(data.get("session"), dict) else {})


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        payload = json.loads(exc.read().decode("utf-8", "replace"))
        msg = payload.get("error", {}).get("message") if isinstance(payload, dict) else None
    except Exception:
        msg = None
    return redact(str(msg or exc.reason or "no message"))
