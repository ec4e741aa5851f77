"""The local server's modules: explicit sorted exports, documented, none shadowing a client name."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import pytest

import rtsync
import rtsync.server

SERVER_MODULES = sorted(info.name for info in pkgutil.iter_modules(rtsync.server.__path__, "rtsync.server."))


def _isort_key(name: str) -> tuple[int, str]:
    """CONSTANTS, then Classes, then functions (the order every ``__all__`` in rtsync keeps)."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2, name)


def test_the_session_is_split_into_its_parts() -> None:
    assert {
        "rtsync.server.ga_checks",
        "rtsync.server.input_audio",
        "rtsync.server.items",
        "rtsync.server.responses",
        "rtsync.server.session",
        "rtsync.server.store",
        "rtsync.server.streaming",
        "rtsync.server.validation",
    } <= set(SERVER_MODULES)


@pytest.mark.parametrize("name", SERVER_MODULES)
def test_exports_are_explicit_sorted_and_documented(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(set(exported), key=_isort_key)
    for attr in exported:
        obj: Any = getattr(module, attr)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert inspect.getdoc(obj), f"{name}.{attr} has no docstring"


def test_no_server_name_shadows_a_client_name() -> None:
    for name in SERVER_MODULES:
        module = importlib.import_module(name)
        for attr in module.__all__:
            if attr in rtsync.__all__:
                assert getattr(module, attr) is getattr(rtsync, attr), f"{name}.{attr} is not rtsync.{attr}"


def test_session_module_keeps_its_import_path() -> None:
    from rtsync.server import session, validation, wire

    assert session.__all__ == [
        "CLIENT_EVENT_TYPES",
        "DEFAULT_INSTRUCTIONS",
        "ClientError",
        "RealtimeSession",
        "error_event",
        "new_id",
    ]
    assert session.ClientError is validation.ClientError
    assert session.error_event is validation.error_event
    assert session.new_id is wire.new_id
    assert not hasattr(session, "Conversation")
