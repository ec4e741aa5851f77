"""Function tools: plain Python functions the model can call, answered automatically.

    python examples/tools.py [--url ws://...]

Without ``--url`` and without ``OPENAI_API_KEY`` it runs against an in-process local server (no
key needed). That server calls a tool whenever the message names it, with the first JSON object
of the message as arguments, and then answers ``Tool NAME returned: OUTPUT``.

The client builds each tool's JSON schema from the type hints and the docstring, sends the tools
with ``session.update``, runs the calls of a response on ``rtsync-tool-N`` worker threads, sends
their outputs back and asks for the follow-up response, all by itself. The script only prints.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import threading
from typing import Literal

from rtsync import RealtimeClient

TURNS = [
    'What is the weather in Paris? get_weather {"city": "Paris"}',
    'Weather and time in Tokyo, please: get_weather and get_time {"city": "Tokyo"}',
    "Thanks, that is all.",
]

# Made-up data, so that the example gives the same answers everywhere.
WEATHER = {"Paris": (18, "cloudy"), "Tokyo": (24, "sunny"), "London": (14, "light rain")}
UTC_OFFSET_HOURS = {"Paris": 1, "Tokyo": 9, "London": 0, "New York": -5}


def get_time(city: str) -> str:
    """The current local time in a city.

    Args:
        city: the city's name, e.g. "Tokyo".
    """
    if city not in UTC_OFFSET_HOURS:
        raise ValueError(f"no time zone known for {city!r}")  # sent back as {"error": "ValueError: ..."}
    tz = datetime.timezone(datetime.timedelta(hours=UTC_OFFSET_HOURS[city]))
    now = datetime.datetime.now(tz)
    return f"{now:%H:%M} in {city} (UTC{now:%z})"


def run(url: str | None) -> None:
    client = RealtimeClient(**({"url": url} if url else {}))
    turn_over = threading.Event()
    phases: dict[str, str] = {}  # item id -> phase: "commentary" marks a reasoning model's preamble
    printing: list[str] = []  # the item whose text is being printed

    # Two ways to register a tool: the decorator, and add_tool() with an explicit name/description.
    @client.tool
    def get_weather(city: str, unit: Literal["C", "F"] = "C") -> dict:
        """The current weather in a city.

        Args:
            city: the city's name, e.g. "Paris".
            unit: "C" for Celsius or "F" for Fahrenheit.
        """
        degrees, sky = WEATHER.get(city, (20, "clear"))
        if unit == "F":
            degrees = round(degrees * 9 / 5 + 32)
        return {"city": city, "temperature": degrees, "unit": unit, "sky": sky}

    client.add_tool(get_time)
    for name in client.tools.names():  # the schemas come from the type hints and the docstrings
        print(f"tool {name}: {json.dumps(client.tools.get(name).parameters)}")

    # Callbacks run on the rtsync-dispatch thread; the tools themselves run on rtsync-tool-N threads.
    @client.on("response.output_item.added")
    def on_item_added(ev):
        phases[ev.item.id] = ev.item.phase

    @client.on("response.output_item.done")
    def on_item(ev):
        if ev.item.type == "function_call":
            print(f"  -> the model calls {ev.item.name}({ev.item.arguments})", flush=True)

    @client.on("response.text.delta")
    @client.on("response.audio_transcript.delta")
    def on_delta(ev):
        if printing != [ev.item_id]:  # each message on a line of its own, the preamble marked
            preamble = phases.get(ev.item_id) == "commentary"
            print(("\n" if printing else "") + ("assistant (preamble)> " if preamble else "assistant> "), end="")
            printing[:] = [ev.item_id]
        print(ev.delta, end="", flush=True)

    @client.on("response.done")
    def on_done(ev):
        output = ev.response.output or []
        if any(item.type == "function_call" for item in output):
            print("  [tool calls made; their outputs go back by themselves]", flush=True)
            return
        print(f"\n  [{ev.response.status}]", flush=True)
        turn_over.set()

    @client.on("error")
    def on_error(ev):
        print(f"\n  [server error: {ev.error.message}]", flush=True)
        turn_over.set()

    @client.on("rtsync.close")
    def on_close(ev):
        turn_over.set()

    with client:  # the tools go out with a session.update as soon as the connection is open
        client.update_session(modalities=["text"], instructions="Use the tools when they help.")
        print(f"[connected, session {client.session_id}]")
        for text in TURNS:
            print(f"you> {text}", flush=True)
            turn_over.clear()
            printing.clear()
            client.create_item(text)
            client.create_response(modalities=["text"])
            if not turn_over.wait(60):
                raise SystemExit("no reply within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Realtime WebSocket endpoint (default: an in-process local server "
                                      "when OPENAI_API_KEY is not set)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.url
        if not url and not os.environ.get("OPENAI_API_KEY"):
            from rtsync.server import LocalServer

            url = stack.enter_context(LocalServer()).url
            print(f"local Realtime server at {url}")
        run(url)


if __name__ == "__main__":
    main()
