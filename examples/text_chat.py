"""A text chat in the terminal: each line you type is sent, and the reply streams back.

    python examples/text_chat.py [--url ws://...]
    echo "hello" | python examples/text_chat.py

Without ``--url`` and without ``OPENAI_API_KEY`` it runs against an in-process local server (no
key needed). Type ``/quit`` (or end the input) to leave. The reply's words are printed by
callbacks as they arrive; the main thread only reads lines and waits for ``response.done``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading

from rtsync import RealtimeClient


def chat(url: str | None) -> int:
    """Chat until ``/quit`` or the end of stdin; return the number of turns."""
    client = RealtimeClient(**({"url": url} if url else {}))
    done = threading.Event()
    turns = 0
    phases = {}  # item id -> phase: "commentary" marks a reasoning model's preamble
    printing = []  # the item whose text is being printed

    # Callbacks run on the rtsync-dispatch thread, one at a time, in arrival order.
    @client.on("response.output_item.added")
    def on_item(ev):
        phases[ev.item.id] = ev.item.phase

    @client.on("response.text.delta")
    def on_delta(ev):
        if printing != [ev.item_id]:  # each message on a line of its own, the preamble marked
            preamble = phases.get(ev.item_id) == "commentary"
            print(("\n" if printing else "") + ("assistant (preamble)> " if preamble else "assistant> "), end="")
            printing[:] = [ev.item_id]
        print(ev.delta, end="", flush=True)

    @client.on("response.done")
    def on_done(ev):
        usage = ev.response.usage
        tokens = usage.total_tokens if usage is not None else "?"
        print(f"\n  [{ev.response.status}, {tokens} tokens]", flush=True)
        done.set()

    @client.on("error")
    def on_error(ev):
        print(f"\n  [server error: {ev.error.message}]", flush=True)
        done.set()

    @client.on("rtsync.close")
    def on_close(ev):
        done.set()  # never leave the main thread waiting on a dead connection

    with client:
        print(f"[connected, session {client.session_id}; type /quit to leave]", flush=True)
        while True:
            print("you> ", end="", flush=True)
            line = sys.stdin.readline()
            if not line:
                print()
                break
            text = line.strip()
            if not sys.stdin.isatty():
                print(text)  # echo piped input, so the transcript reads like a conversation
            if text == "/quit":
                break
            if not text:
                continue
            printing.clear()
            done.clear()
            client.create_item(text)
            client.create_response(modalities=["text"])
            if not done.wait(60):
                print("\n  [no reply within 60 s]")
            if not client.is_open:
                print("  [the connection closed]")
                break
            turns += 1
    return turns


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
        turns = chat(url)
    print(f"bye ({turns} turns)")


if __name__ == "__main__":
    main()
