"""Our client against an independent GA server: ``@copilotkit/aimock`` (npm, pinned in package.json).

aimock is a second implementation of the GA Realtime protocol, written by others, that answers
from fixtures (``shared/notes/independent-judges.md``). It judges our client's GA handshake,
text replies, tool round trips and the handling of the beta refusal. It is not an oracle: where
it and the SDK's types disagree (``output_text`` content-part types, no ``name`` on
``response.function_call_arguments.done``, beta session keys, ``status_details.type: "error"``),
the SDK decides, and the client must cope with both.

Needs Node >= 20 and ``npm ci`` in ``tests/judges`` (``make test`` runs it); without them the
tests skip, except in CI, where they fail.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtsync import BetaShapeDisabledError, RealtimeClient

pytestmark = pytest.mark.subprocess

HERE = Path(__file__).parent
CLI = HERE / "node_modules" / "@copilotkit" / "aimock" / "dist" / "cli.js"

FIXTURES = {
    "fixtures": [
        {"match": {"userMessage": "hello"}, "response": {"content": "Hi from aimock."}},
        {"match": {"userMessage": "weather", "hasToolResult": False},
         "response": {"toolCalls": [{"name": "get_weather", "arguments": '{"city": "Paris"}'}]}},
        {"match": {"userMessage": "weather", "hasToolResult": True},
         "response": {"content": "It is sunny in Paris."}},
    ]
}


def _why_not() -> str | None:
    """Why aimock cannot run here, or ``None`` when it can."""
    node = shutil.which("node")
    if node is None:
        return "node is not installed (aimock needs Node >= 20)"
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        return f"cannot read the node version ({version!r})"
    if major < 20:
        return f"aimock needs Node >= 20, this is {version}"
    if not CLI.exists():
        return f"aimock is not installed: run `npm ci` in {HERE} (make test does)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running aimock with :data:`FIXTURES`; yields its ``ws://`` realtime URL."""
    reason = _why_not()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    fixtures = tmp_path_factory.mktemp("aimock") / "fixtures.json"
    fixtures.write_text(json.dumps(FIXTURES))
    port = _free_port()
    log = fixtures.with_name("aimock.log").open("w")
    process = subprocess.Popen(
        ["node", str(CLI), "-p", str(port), "-h", "127.0.0.1", "-f", str(fixtures), "--log-level", "warn"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    log_text = fixtures.with_name("aimock.log").read_text()
                    raise RuntimeError(f"aimock did not start: {log_text}") from None
                time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/v1/realtime"
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def test_text_reply(aimock: str) -> None:
    with RealtimeClient(model="gpt-realtime", url=aimock, api_key="sk-judge", dialect="ga") as client:
        reply = client.ask("hello there", timeout=15)
    assert reply.text == "Hi from aimock."
    assert reply.status == "completed"
    items = client.conversation.items
    assert [(i.role, i.text) for i in items] == [("user", "hello there"), ("assistant", "Hi from aimock.")]


def test_tool_round_trip(aimock: str) -> None:
    calls: list[str] = []
    done: list[Any] = []
    with RealtimeClient(model="gpt-realtime", url=aimock, api_key="sk-judge", dialect="ga") as client:

        @client.tool
        def get_weather(city: str) -> str:
            """The weather in a city."""
            calls.append(city)
            return json.dumps({"city": city, "sky": "sunny"})

        client.on("response.done", done.append)
        reply = client.ask("what is the weather in Paris?", timeout=15)
        assert [(c.name, json.loads(c.arguments)) for c in reply.function_calls] == [
            ("get_weather", {"city": "Paris"})
        ]
        # The runner answered the call and asked for the follow-up, which aimock matched on the
        # tool result.
        client.wait_for("response.done", lambda ev: len(done) >= 2, timeout=15)
    assert calls == ["Paris"]
    follow = done[1].response
    assert follow.status == "completed"
    assert [p.text for item in follow.output for p in item.content or []] == ["It is sunny in Paris."]


def test_beta_refusal_is_beta_shape_disabled_error(aimock: str) -> None:
    client = RealtimeClient(model="gpt-realtime", url=aimock, api_key="sk-judge", dialect="beta")
    try:
        with pytest.raises(BetaShapeDisabledError, match="no longer supported"):
            client.connect()
    finally:
        client.close()


def test_auto_dialect_speaks_ga_to_it(aimock: str) -> None:
    with RealtimeClient(model="gpt-realtime", url=aimock, api_key="sk-judge") as client:
        assert client.dialect == "ga"
        assert client.ask("hello", timeout=15).text == "Hi from aimock."
