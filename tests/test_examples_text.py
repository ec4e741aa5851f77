"""examples/text_chat.py and examples/tools.py, run as a user would, against the local server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The default model is a reasoning model: the local server's reply starts with a preamble
#: message, which the examples print on a line of its own.
PRE = r"assistant \(preamble\)> Let me think\.\n"


def run(args: list[str], stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("OPENAI_API_KEY", None)  # no key: the examples start their own local server
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def test_text_chat_streams_each_reply_and_stops_at_quit():
    out = run(["examples/text_chat.py"], stdin="hello there\n\nsecond line\n/quit\nnever sent\n")
    assert out.returncode == 0, out.stderr
    assert "local Realtime server at ws://127.0.0.1:" in out.stdout
    assert re.search(rf"you> hello there\n{PRE}assistant> You said: hello there\n  \[completed,", out.stdout)
    assert re.search(rf"you> second line\n{PRE}assistant> You said: second line\n  \[completed,", out.stdout)
    assert "never sent" not in out.stdout.split("/quit", 1)[1]
    assert out.stdout.count("[completed,") == 2  # the empty line sent nothing
    assert out.stdout.rstrip().endswith("bye (2 turns)")


def test_text_chat_ends_at_end_of_input():
    out = run(["examples/text_chat.py"], stdin="only one\n")
    assert out.returncode == 0, out.stderr
    assert "assistant> You said: only one\n" in out.stdout
    assert out.stdout.rstrip().endswith("bye (1 turns)")


def test_text_chat_against_a_given_url(local_server):
    out = run(["examples/text_chat.py", "--url", local_server.url], stdin="via url\n")
    assert out.returncode == 0, out.stderr
    assert "local Realtime server" not in out.stdout  # it used the given server, not its own
    assert "assistant> You said: via url\n" in out.stdout


def test_tools_example_answers_single_and_parallel_calls():
    out = run(["examples/tools.py"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()

    # The schemas built from the type hints and docstrings.
    schemas = {m.group(1): json.loads(m.group(2)) for m in
               (re.match(r"tool (\w+): (\{.*\})$", line) for line in lines) if m}
    assert set(schemas) == {"get_weather", "get_time"}
    weather = schemas["get_weather"]
    assert weather["required"] == ["city"]
    assert weather["properties"]["unit"]["enum"] == ["C", "F"]
    assert weather["properties"]["city"]["type"] == "string"
    assert "Paris" in weather["properties"]["city"]["description"]

    # One call, its output sent back, then exactly one follow-up response with the answer.
    assert "  -> the model calls get_weather({\"city\":\"Paris\"})" in lines
    weather_paris = {"city": "Paris", "temperature": 18, "unit": "C", "sky": "cloudy"}
    assert f"assistant> Tool get_weather returned: {json.dumps(weather_paris)}" in lines

    # Two calls in one response; both outputs go into one follow-up.
    assert "  -> the model calls get_weather({\"city\":\"Tokyo\"})" in lines
    assert "  -> the model calls get_time({\"city\":\"Tokyo\"})" in lines
    weather_tokyo = {"city": "Tokyo", "temperature": 24, "unit": "C", "sky": "sunny"}
    i = lines.index(f"assistant> Tool get_weather returned: {json.dumps(weather_tokyo)}")
    assert re.fullmatch(r"Tool get_time returned: \d\d:\d\d in Tokyo \(UTC\+0900\)", lines[i + 1])
    assert lines[i + 2] == "  [completed]"

    # A message naming no tool gets a plain answer.
    assert "assistant> You said: Thanks, that is all." in lines
    assert out.stdout.count("[tool calls made;") == 2
    assert out.stdout.count("  [completed]") == 3
    assert "error" not in out.stdout
