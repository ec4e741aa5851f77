"""Talk with the assistant through the microphone and speaker (server VAD, barge-in).

    python examples/voice_chat.py [--url ws://...] [--seconds 30] [--echo-guard aec|half_duplex|none]

Without ``--url`` it runs against an in-process local server (no API key), which answers each
spoken turn with "I heard N.N seconds of speech." Needs the ``audio`` extra (PyAudio). With the
``aec`` extra (``pip install 'rtsync[aec]'``) echo cancellation is on by default, so it works on
open speakers and you can still talk over the reply; the echo reduction is printed at the end.
"""

from __future__ import annotations

import argparse
import time

from rtsync import RealtimeClient, VoiceSession
from rtsync.server import LocalServer


def chat(url: str, seconds: float, echo_guard: str | None) -> None:
    client = RealtimeClient(url=url)
    client.on("input_audio_buffer.speech_started", lambda ev: print("[you are speaking]"))
    client.on("input_audio_buffer.speech_stopped", lambda ev: print("[you stopped]"))
    client.on("response.audio_transcript.done", lambda ev: print(f"assistant: {ev.transcript}"))
    with client, VoiceSession(client, echo_guard=echo_guard) as voice:
        print(f"listening for {seconds:g} s (Ctrl-C to stop)")
        try:
            time.sleep(seconds)
        except KeyboardInterrupt:
            pass
        stats = voice.refresh_stats()
        print(f"underruns {stats.underruns}, overruns {stats.overruns}, barge-ins {stats.interrupts}")
        if stats.echo_reduction_db is not None:
            print(f"echo reduced by {stats.echo_reduction_db:.0f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="Realtime WebSocket endpoint (default: an in-process local server)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--echo-guard", choices=["auto", "aec", "half_duplex", "threshold", "none"], default="auto",
                        help="auto: aec where 'rtsync[aec]' is installed (default)")
    args = parser.parse_args()
    if args.url:
        chat(args.url, args.seconds, args.echo_guard)
    else:
        with LocalServer() as server:
            chat(server.url, args.seconds, args.echo_guard)


if __name__ == "__main__":
    main()
