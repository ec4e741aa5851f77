"""rtsync.tools: schemas from signatures, argument checking, the runner, and the function call flow
against the real local server."""

from __future__ import annotations

import enum
import json
import threading
from typing import Annotated, Any, Literal, Optional

import pytest

from rtsync.events import Item, Tool
from rtsync.tools import ToolRegistry, ToolRunner, function_schema


class Unit(enum.Enum):
    C = "celsius"
    F = "fahrenheit"


def get_weather(city: str, unit: Unit = Unit.C, days: int = 1) -> dict[str, Any]:
    """Current weather of a city.

    More text that is not part of the description.

    Args:
        city: the city name,
            as the user said it.
        unit (Unit): temperature unit.
        days: how many days.

    Returns:
        the forecast.
    """
    return {"city": city, "unit": unit.value, "days": days}


# -- schema ----------------------------------------------------------------------------------------

def test_schema_from_hints_and_docstring():
    tool = function_schema(get_weather)
    assert isinstance(tool, Tool)
    assert tool.type == "function" and tool.name == "get_weather"
    assert tool.description == "Current weather of a city."
    p = tool.parameters
    assert p["type"] == "object" and p["additionalProperties"] is False
    assert p["required"] == ["city"]
    assert p["properties"]["city"] == {"type": "string", "description": "the city name, as the user said it."}
    assert p["properties"]["unit"] == {"type": "string", "enum": ["celsius", "fahrenheit"],
                                       "description": "temperature unit.", "default": "celsius"}
    assert p["properties"]["days"] == {"type": "integer", "description": "how many days.", "default": 1}
    assert tool.to_dict()["type"] == "function"


def test_schema_of_many_types():
    def f(a: float, b: bool, c: list[int], d: dict, e: Optional[str], g: int | None,  # noqa: UP045
          h: Literal["x", "y"], i: Annotated[str, "an annotated one"], j, k: list[str] | None = None,
          *args: int, **kw: Any) -> None:
        """Summary line one
        continues here.
        """

    tool = function_schema(f)
    assert tool.description == "Summary line one continues here."
    props = tool.parameters["properties"]
    assert props["a"] == {"type": "number"}
    assert props["b"] == {"type": "boolean"}
    assert props["c"] == {"type": "array", "items": {"type": "integer"}}
    assert props["d"] == {"type": "object"}
    assert props["e"] == {"type": ["string", "null"]}
    assert props["g"] == {"type": ["integer", "null"]}
    assert props["h"] == {"type": "string", "enum": ["x", "y"]}
    assert props["i"] == {"type": "string", "description": "an annotated one"}
    assert props["j"] == {}
    assert props["k"] == {"type": ["array", "null"], "items": {"type": "string"}, "default": None}
    assert "args" not in props and "kw" not in props
    assert tool.parameters["required"] == ["a", "b", "c", "d", "e", "g", "h", "i", "j"]


def test_schema_overrides_and_names():
    params = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    tool = function_schema(lambda q: q, name="search", description="Search.", parameters=params)
    assert (tool.name, tool.description, tool.parameters) == ("search", "Search.", params)
    with pytest.raises(ValueError):
        function_schema(lambda q: q)
    with pytest.raises(ValueError):
        function_schema(get_weather, name="bad name!")

    def nodoc(x: int) -> int:
        return x

    assert function_schema(nodoc).description == ""


# -- registry and argument checking ----------------------------------------------------------------

def test_registry_decorator_forms():
    reg = ToolRegistry()

    @reg.tool
    def ping() -> str:
        """Ping."""
        return "pong"

    @reg.tool(name="echo2", description="Echo.")
    def echo(text: str) -> str:
        return text

    reg.add(get_weather)
    assert ping() == "pong" and echo("a") == "a"  # returned unchanged
    assert "ping" in reg and "echo2" in reg and "echo" not in reg
    assert [t.name for t in reg.tools()] == ["ping", "echo2", "get_weather"]
    entry = reg.get("echo2")
    assert entry is not None and entry.fn is echo and entry.tool.description == "Echo."
    assert reg.get("nope") is None
    assert reg.remove("ping") and "ping" not in reg


def test_call_checks_arguments():
    reg = ToolRegistry()
    seen: list = []

    def f(n: int, tags: list[str], mode: Literal["a", "b"] = "a", unit: Unit | None = None) -> Any:
        seen.append((n, tags, mode, unit))
        return {"n": n, "unit": unit}

    reg.add(f)

    def err(out: tuple[str, bool]) -> str:
        text, is_error = out
        assert is_error
        return json.loads(text)["error"]

    assert "missing required argument 'tags'" in err(reg.call("f", '{"n": 1}'))
    assert "'n' must be integer, not string" in err(reg.call("f", '{"n": "1", "tags": []}'))
    assert "'n' must be integer, not boolean" in err(reg.call("f", '{"n": true, "tags": []}'))
    assert "argument 'tags[1]' must be string, not integer" in err(reg.call("f", '{"n": 1, "tags": ["x", 2]}'))
    assert "must be one of" in err(reg.call("f", '{"n": 1, "tags": [], "mode": "c"}'))
    assert "unexpected argument 'zz'" in err(reg.call("f", '{"n": 1, "tags": [], "zz": 0}'))
    assert "not valid JSON" in err(reg.call("f", '{"n": 1,'))
    assert "must be a JSON object" in err(reg.call("f", "[1]"))
    assert "unknown tool 'g'" in err(reg.call("g", "{}"))
    assert seen == []  # never called with bad arguments

    out, is_error = reg.call("f", '{"n": 2, "tags": ["x"], "unit": "fahrenheit"}')
    assert not is_error and json.loads(out) == {"n": 2, "unit": "fahrenheit"}
    assert seen == [(2, ["x"], "a", Unit.F)]  # enum values become Enum members


def test_call_outputs_and_exceptions():
    reg = ToolRegistry()
    reg.add(lambda: "plain", name="s")
    reg.add(lambda: [1, "two", None], name="lst")
    reg.add(lambda: None, name="none")

    def boom(x: int = 0) -> None:
        raise KeyError("nope")

    reg.add(boom)
    assert reg.call("s", "") == ("plain", False)
    assert reg.call("lst", None) == ('[1, "two", null]', False)
    assert reg.call("none", "{}") == ("null", False)
    out, is_error = reg.call("boom", "{}")
    assert is_error and json.loads(out) == {"error": "KeyError: 'nope'"}


# -- runner with fake callables --------------------------------------------------------------------

def done_event(*calls: tuple[str, str, str], status: str = "completed") -> dict[str, Any]:
    output = [{"type": "function_call", "status": status, "call_id": cid, "name": name, "arguments": args}
              for cid, name, args in calls]
    return {"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": output}}


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.outputs: list[tuple[str, str, str]] = []
        self.responses: list[int] = []

    def send_output(self, call_id: str, output: str) -> None:
        with self.lock:
            self.outputs.append((call_id, output, threading.current_thread().name))

    def create_response(self) -> None:
        with self.lock:
            self.responses.append(len(self.outputs))


def test_runner_parallel_calls_one_follow_up():
    reg = ToolRegistry()
    barrier = threading.Barrier(2, timeout=5)
    threads: list[str] = []

    @reg.tool
    def left(x: int) -> str:
        threads.append(threading.current_thread().name)
        barrier.wait()  # both calls must be running at once, or this times out
        return f"L{x}"

    @reg.tool
    def right(x: int) -> str:
        threads.append(threading.current_thread().name)
        barrier.wait()
        return f"R{x}"

    rec = Recorder()
    runner = ToolRunner(reg, rec.send_output, rec.create_response, max_workers=4)
    try:
        runner.on_event(done_event(("c1", "left", '{"x": 1}'), ("c2", "right", '{"x": 2}')))
        assert runner.wait_idle(5)
        assert sorted((c, o) for c, o, _ in rec.outputs) == [("c1", "L1"), ("c2", "R2")]
        assert rec.responses == [2]  # exactly one follow-up, after both outputs
        assert runner.calls == 2 and runner.errors == 0 and runner.responses == 1
        me = threading.current_thread().name
        assert all(t.startswith("rtsync-tool-") and t != me for t in threads)
        # The same response.done again does not answer the calls twice.
        runner.on_event(done_event(("c1", "left", '{"x": 1}')))
        assert runner.wait_idle(5) and runner.calls == 2 and rec.responses == [2]
    finally:
        runner.close()
        runner.close()  # idempotent
    assert not [t for t in threading.enumerate() if t.name.startswith("rtsync-tool")]


def test_runner_errors_and_ignored_events():
    reg = ToolRegistry()

    @reg.tool
    def bad() -> None:
        raise RuntimeError("broken")

    @reg.tool
    def good(n: int) -> dict[str, int]:
        return {"double": n * 2}

    rec = Recorder()
    runner = ToolRunner(reg, rec.send_output, rec.create_response, max_workers=1)
    try:
        runner.on_event({"type": "response.text.done", "text": "x"})
        runner.on_event({"type": "response.done", "response": {"output": []}})
        runner.on_event(done_event(("c0", "good", "{}"), status="incomplete"))
        assert runner.wait_idle(1) and rec.outputs == [] and rec.responses == []

        runner.on_event(done_event(("c1", "bad", "{}"), ("c2", "good", '{"n": 4}'),
                                   ("c3", "missing", "{}"), ("c4", "good", '{"n": "x"}')))
        assert runner.wait_idle(5)
        outs = {c: json.loads(o) for c, o, _ in rec.outputs}
        assert outs["c1"] == {"error": "RuntimeError: broken"}
        assert outs["c2"] == {"double": 8}
        assert "unknown tool" in outs["c3"]["error"]
        assert "invalid arguments" in outs["c4"]["error"]
        assert rec.responses == [4]
        assert runner.calls == 4 and runner.errors == 3
    finally:
        runner.close()
    runner.on_event(done_event(("c9", "good", '{"n": 1}')))  # closed: ignored
    assert runner.calls == 4


def test_runner_send_failure_still_sends_one_follow_up():
    reg = ToolRegistry()
    reg.add(lambda: "ok", name="t")
    responses: list[int] = []

    def send_output(call_id: str, output: str) -> None:
        raise ConnectionError("gone")

    runner = ToolRunner(reg, send_output, lambda: responses.append(1))
    try:
        runner.on_event(done_event(("c1", "t", "{}")))
        assert runner.wait_idle(5)
        assert responses == [1] and runner.errors == 1
    finally:
        runner.close()


# -- end to end against the local server -----------------------------------------------------------

def _weather_registry() -> ToolRegistry:
    reg = ToolRegistry()

    @reg.tool
    def get_weather(city: str) -> dict[str, Any]:
        """Current weather of a city.

        Args:
            city: the city name.
        """
        return {"city": city, "temp": 21}

    @reg.tool
    def get_time(city: str) -> str:
        """Local time in a city."""
        return f"12:00 in {city}"

    return reg


def _run_flow(local_server: Any, text: str) -> tuple[list[str], int]:
    from rtsync import RealtimeClient

    reg = _weather_registry()
    client = RealtimeClient(url=local_server.url, api_key="")
    client.connect()
    created: list[str] = []
    texts: list[str] = []
    follow_up = threading.Event()
    updated = threading.Event()
    marker = threading.Event()

    def on_created(ev: Any) -> None:
        created.append(ev.response.id)

    def on_done(ev: Any) -> None:
        for item in ev.response.output:
            if item.type == "message" and item.text == "You said: thanks":
                marker.set()
            elif item.type == "message":
                texts.append(item.text)
                follow_up.set()

    client.on("response.created", on_created)
    client.on("response.done", on_done)
    client.on("session.updated", lambda ev: updated.set())
    runner = ToolRunner(reg, lambda cid, out: client.create_item(Item.function_output(cid, out)),
                        lambda: client.create_response(modalities=["text"]), max_workers=4)
    try:
        client.update_session(tools=[t.to_dict() for t in reg.tools()])
        assert updated.wait(5)
        client._dispatcher.add_hook(runner.on_event)
        client.create_item(text)
        client.create_response(modalities=["text"])
        assert follow_up.wait(10), "no follow-up response"
        assert runner.wait_idle(5)
        n_created = len(created)
        client.create_item("thanks")  # a marker round trip: nothing else is in flight
        client.create_response(modalities=["text"])
        assert marker.wait(10)
        assert len(created) == n_created + 1  # no response other than the marker one came late
        assert runner.errors == 0 and runner.calls == text.count("get_")
        return texts[:1], n_created
    finally:
        runner.close()
        client.close()
        assert not [t for t in threading.enumerate() if t.name.startswith("rtsync-tool")]


def test_end_to_end_single_call(local_server):
    texts, created = _run_flow(local_server, 'get_weather {"city": "Paris"}')
    assert texts == ['Tool get_weather returned: {"city": "Paris", "temp": 21}']
    assert created == 2  # the call response and exactly one follow-up


def test_end_to_end_two_calls_one_follow_up(local_server):
    texts, created = _run_flow(local_server, 'get_weather and get_time please {"city": "Oslo"}')
    lines = texts[0].split("\n")
    assert sorted(lines) == ['Tool get_time returned: 12:00 in Oslo',
                             'Tool get_weather returned: {"city": "Oslo", "temp": 21}']
    assert created == 2


# -- every public way to register a client's tool gets its calls answered -------------------------

def _register(client: Any, path: str, name: str) -> None:
    def lookup(word: str) -> str:
        """Look a word up."""
        return word.upper()

    lookup.__name__ = name
    if path == "add_tool":
        client.add_tool(lookup)
    elif path == "client.tool":
        client.tool(lookup)
    elif path == "client.tool(name=)":
        client.tool(name=name)(lambda word: word.upper())
    elif path == "tools.add":
        client.tools.add(lookup)
    elif path == "tools.tool":
        client.tools.tool(lookup)
    elif path == "tools.tool(name=)":
        client.tools.tool(name=name)(lambda word: word.upper())
    else:
        raise AssertionError(path)


PATHS = ["add_tool", "client.tool", "client.tool(name=)", "tools.add", "tools.tool", "tools.tool(name=)"]


@pytest.mark.parametrize("when", ["open", "before_connect"])
@pytest.mark.parametrize("path", PATHS)
def test_every_registration_path_gets_calls_answered(local_server: Any, each_dialect: str, path: str,
                                                      when: str) -> None:
    from rtsync import RealtimeClient

    name = "lookup_" + path.replace(".", "_").replace("(name=)", "_named")
    client = RealtimeClient(url=local_server.url, api_key="")
    done: list[Any] = []
    client.on("response.done", done.append)
    updated: list[Any] = []
    client.on("session.updated", updated.append)
    if when == "before_connect":
        _register(client, path, name)
    with client:
        client.update_session(modalities=["text"])
        if when == "open":
            _register(client, path, name)
        # the schema reached the session ...
        client.wait_for("session.updated", lambda ev: any(t.name == name for t in ev.session.tools or []),
                        timeout=10)
        reply = client.ask(f'{name} {{"word": "paris"}}', timeout=20)
        assert [c.name for c in reply.function_calls] == [name]
        # ... and the runner answered the call: exactly one follow-up with the output
        client.wait_for("response.done", lambda ev: len(done) >= 2, timeout=20)
        follow = done[1].response
        text = "".join(p.text or "" for it in follow.output for p in (it.content or []))
        assert text == f"Tool {name} returned: PARIS"


@pytest.mark.parametrize("path", ["remove_tool", "tools.remove"])
def test_every_removal_path_tells_the_open_session(local_server: Any, path: str) -> None:
    from rtsync import RealtimeClient

    with RealtimeClient(url=local_server.url, api_key="") as client:
        client.update_session(modalities=["text"])
        _register(client, "add_tool", "lookup")
        client.wait_for("session.updated", lambda ev: [t.name for t in ev.session.tools or []] == ["lookup"],
                        timeout=10)
        removed = client.remove_tool("lookup") if path == "remove_tool" else client.tools.remove("lookup")
        assert removed is True
        client.wait_for("session.updated", lambda ev: not ev.session.tools, timeout=10)
        assert "lookup" not in client.tools
        # the model no longer calls it: the message is just echoed
        assert client.ask('lookup {"word": "x"}', timeout=20).text == 'You said: lookup {"word": "x"}'
        assert (client.remove_tool("lookup") if path == "remove_tool" else client.tools.remove("lookup")) is False
