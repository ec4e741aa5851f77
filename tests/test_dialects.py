"""The client in both dialects against the local server, the automatic choice, Azure URLs and
ephemeral client secrets."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from rtsync import RealtimeClient
from rtsync.client import DEFAULT_MODEL, choose_dialect
from rtsync.errors import AuthenticationError, BetaShapeDisabledError
from rtsync.secrets import create_client_secret
from rtsync.server import LocalServer

ROOT = Path(__file__).resolve().parent.parent
PREVIEW = "gpt-4o-realtime-preview-2024-10-01"


@pytest.mark.parametrize(("model", "url", "expected"), [
    ("gpt-realtime", "wss://api.openai.com/v1/realtime", "ga"),
    ("gpt-realtime-2025-08-28", "wss://api.openai.com/v1/realtime", "ga"),
    ("gpt-realtime-2.1", "wss://api.openai.com/v1/realtime", "ga"),
    ("gpt-realtime-2", "wss://api.openai.com/v1/realtime", "ga"),
    ("gpt-realtime-2.1-mini", "wss://api.openai.com/v1/realtime", "ga"),
    (PREVIEW, "wss://api.openai.com/v1/realtime", "beta"),
    ("gpt-4o-mini-realtime-preview", "wss://api.openai.com/v1/realtime", "beta"),
    (None, "wss://r.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=d", "beta"),
    (None, "wss://r.openai.azure.com/openai/v1/realtime?model=my-deployment", "ga"),
])
def test_auto_choice(model: str | None, url: str, expected: str) -> None:
    assert choose_dialect(model, url) == expected



@pytest.mark.parametrize(("server_dialect", "client_dialect"),
                         [("beta", "auto"), ("ga", "auto"), ("beta", "beta"), ("ga", "ga")])
def test_scenario_in_each_dialect(server_dialect: str, client_dialect: str) -> None:
    """One script: config, a text turn, a tool call, audio; the API reads the same in both."""
    with LocalServer(dialect=server_dialect, text_delay=0.01) as server:
        client = RealtimeClient(url=server.url, dialect=client_dialect)
        types: list[str] = []
        client.on("*", lambda ev: types.append(ev.type))

        @client.tool
        def double(n: int) -> int:
            """Twice n."""
            return 2 * n

        with client:
            assert client.dialect == server_dialect
            client.update_session(instructions="Be brief.", modalities=["text"], voice="alloy", temperature=0.8)
            reply = client.ask("hello there", timeout=20)
            assert reply.text == "You said: hello there" and reply.usage is not None
            assert client.session.instructions == "Be brief."
            assert client.session.modalities == ["text"]
            calls = client.ask('double {"n": 21}', timeout=20)
            assert [c.name for c in calls.function_calls] == ["double"]
            client.wait_for("response.done", lambda e: "42" in json.dumps(e.to_dict()), timeout=20)
            audio = client.ask("speak", modalities=["audio", "text"], timeout=30)
            assert audio.transcript == "You said: speak" and len(audio.audio) > 0
        # the user vocabulary is the same whatever the wire spoke
        assert "response.text.delta" in types and "response.audio.delta" in types
        assert not any(t.startswith(("response.output_text", "response.output_audio")) for t in types)
        assert [e.role for e in client.conversation.items if e.type == "message"][:2] == ["user", "assistant"]


def test_translated_events_keep_their_wire_form() -> None:
    with LocalServer(dialect="ga") as server, RealtimeClient(url=server.url) as client:
        deltas: list[Any] = []
        client.on("response.text.delta", deltas.append)
        client.ask("hi", timeout=20)
        assert deltas and deltas[0].wire["type"] == "response.output_text.delta"
        assert deltas[0].to_dict()["type"] == "response.text.delta"


def test_auto_retries_in_ga_when_the_beta_shape_is_refused() -> None:
    with LocalServer(dialect="ga") as server:
        client = RealtimeClient(url=server.url, model=PREVIEW)  # auto guesses beta for a preview id
        assert client.dialect == "beta"
        with client:
            assert client.dialect == "ga"
            assert client.ask("hello", timeout=20).text == "You said: hello"


def test_fixed_beta_names_the_fix() -> None:
    with LocalServer(dialect="ga") as server:
        client = RealtimeClient(url=server.url, model=PREVIEW, dialect="beta")
        with pytest.raises(BetaShapeDisabledError, match="dialect='ga'"):
            client.connect()
        assert client.state == "closed"


def test_auto_follows_a_beta_server() -> None:
    with LocalServer(dialect="beta") as server, RealtimeClient(url=server.url) as client:
        assert client.dialect == "beta"  # gpt-realtime guessed GA; the session said beta
        assert client.ask("hello", timeout=20).text == "You said: hello"


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["beta", "ga"])
def test_same_example_script_against_serve_dialect(dialect: str, tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    serve = subprocess.Popen([sys.executable, "-m", "rtsync", "serve", "--port", str(port), "--dialect", dialect],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()
        assert str(port) in line, line
        out = subprocess.run([sys.executable, str(ROOT / "examples" / "demo.py"), "--url",
                              f"ws://127.0.0.1:{port}/v1/realtime"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "You said:" in out.stdout
    finally:
        serve.terminate()
        serve.wait(10)


# -- Azure -----------------------------------------------------------------------------------------
def test_azure_ga_url_and_key(peer: Any) -> None:
    client = RealtimeClient.azure(f"http://127.0.0.1:{peer.port}", "my-deployment",
                                  api_key="azure-key-0123456789abcdef")
    assert client.url == f"ws://127.0.0.1:{peer.port}/openai/v1/realtime?model=my-deployment"
    assert client.dialect == "ga" and "0123456789abcdef" not in repr(client)
    with client:
        assert peer.path == "/openai/v1/realtime?model=my-deployment"
        assert peer.headers["api-key"] == "azure-key-0123456789abcdef"
        assert "OpenAI-Beta" not in peer.headers and "Authorization" not in peer.headers


def test_azure_preview_url_and_token(peer: Any) -> None:
    client = RealtimeClient.azure(f"127.0.0.1:{peer.port}", "dep", token="entra-token-abcdefghijkl",
                                  api_version="2025-04-01-preview")
    assert client.dialect == "beta"
    assert client.url.startswith("wss://127.0.0.1")
    client.url = client.url.replace("wss://", "ws://")  # the test peer has no TLS
    with client:
        assert peer.path == "/openai/realtime?api-version=2025-04-01-preview&deployment=dep"
        assert peer.headers["Authorization"] == "Bearer entra-token-abcdefghijkl"
        assert peer.headers["OpenAI-Beta"] == "realtime=v1"


# -- ephemeral client secrets ---------------------------------------------------------------------
class _SecretsHandler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, str], Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, dict(self.headers), body))
        if self.headers.get("Authorization") != "Bearer sk-real-key-0123456789":
            payload, status = {"error": {"message": "Incorrect API key provided: sk-wrong-*****"}}, 401
        else:
            payload, status = {"value": "ek_test_secret", "expires_at": 1900000000,
                               "session": {**body["session"], "object": "realtime.session", "id": "sess_x"}}, 200
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def secrets_server() -> Any:
    _SecretsHandler.seen = []
    httpd = HTTPServer(("127.0.0.1", 0), _SecretsHandler)
    t = threading.Thread(target=httpd.serve_forever, name="secrets-test-http", daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
    t.join(5)


def test_client_secret_request_shape(secrets_server: str) -> None:
    secret = create_client_secret("sk-real-key-0123456789", base_url=secrets_server, expires_in=120,
                                  session={"voice": "alloy", "instructions": "Hi", "modalities": ["audio", "text"]})
    assert secret.value == "ek_test_secret" and secret.expires_at == 1900000000
    assert "ek_test_secret" not in repr(secret)
    path, headers, body = _SecretsHandler.seen[0]
    assert path == "/v1/realtime/client_secrets"
    assert body["expires_after"] == {"anchor": "created_at", "seconds": 120}
    s = body["session"]
    # the default model is the client's (issue 14: the newest current model, not gpt-realtime)
    assert s["type"] == "realtime" and s["model"] == DEFAULT_MODEL == "gpt-realtime-2.1" and s["instructions"] == "Hi"
    assert s["audio"]["output"]["voice"] == "alloy" and s["output_modalities"] == ["audio"]  # GA: audio + transcript
    assert "OpenAI-Beta" not in headers


def test_client_secret_refused_key_is_not_echoed(secrets_server: str) -> None:
    with pytest.raises(AuthenticationError) as info:
        create_client_secret("sk-wrong-key-0123456789", base_url=secrets_server)
    assert "sk-wrong-key-0123456789" not in str(info.value)
    with pytest.raises(ValueError):
        create_client_secret("sk-real-key-0123456789", base_url=secrets_server, expires_in=5)
