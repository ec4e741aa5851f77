"""A short scripted conversation with the local Realtime server, through callbacks.

Run it with ``make demo`` (or ``python examples/demo.py``); no API key is needed. Pass
``--url`` to talk to another server instead.
"""

from __future__ import annotations

import argparse
import threading

from rtsync import RealtimeClient
from rtsync.server import LocalServer

TURNS = [
    "Hello! Who am I talking to?",
    "Tell me something about realtime voice.",
    "Thanks, goodbye.",
]


def run(url: str) -> None:
    client = RealtimeClient(url=url)
    done = threading.Event()
    phases = {}  # item id -> phase: "commentary" marks a reasoning model's preamble
    printing = []  # the item whose text is being printed

    @client.on("response.output_item.added")
    def on_item(ev):  # runs on the rtsync-dispatch thread, in arrival order
        phases[ev.item.id] = ev.item.phase

    @client.on("response.text.delta")
    def on_delta(ev):  # each message on a line of its own, the preamble marked
        if printing != [ev.item_id]:
            preamble = phases.get(ev.item_id) == "commentary"
            print(("\n" if printing else "") + ("assistant (preamble)> " if preamble else "assistant> "), end="")
            printing[:] = [ev.item_id]
        print(ev.delta, end="", flush=True)

    @client.on("response.done")
    def on_done(ev):
        usage = ev.response.usage
        print(f"\n    [{ev.response.status}, {usage.total_tokens} tokens]")
        done.set()

    with client:  # connect() returns once session.created has arrived
        print(f"[session {client.session.id}, model {client.session.model}]")
        client.update_session(instructions="You are a friendly demo assistant.")
        for text in TURNS:
            print(f"you> {text}")
            printing.clear()
            done.clear()
            client.create_item(text)
            client.create_response(modalities=["text"])
            if not done.wait(30):
                raise SystemExit("no reply within 30 s")
        # The blocking helper gathers a whole reply in one call.
        reply = client.ask("One more, blocking this time.")
        print(f"ask() returned: {reply.text!r} ({reply.usage.total_tokens} tokens)")
        if reply.preamble:
            print(f"  after the preamble {reply.preamble!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a Realtime WebSocket endpoint (default: an in-process local server)")
    args = parser.parse_args()
    if args.url:
        run(args.url)
        return
    with LocalServer() as server:
        print(f"local Realtime server at {server.url}")
        run(server.url)


if __name__ == "__main__":
    main()
