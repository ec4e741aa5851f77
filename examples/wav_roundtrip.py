"""Send a WAV file as one spoken turn and save the spoken reply as a WAV file.

    python examples/wav_roundtrip.py question.wav reply.wav [--url ws://...]

Without ``--url`` it runs against an in-process local server (no API key). Any WAV rate or
channel count is accepted: the audio is converted to 24 kHz mono pcm16 first. No sound card
is needed.
"""

from __future__ import annotations

import argparse
import threading

import numpy as np

from rtsync import RealtimeClient
from rtsync.audio import read_wav, resample, write_wav
from rtsync.server import LocalServer


def roundtrip(url: str, wav_in: str, wav_out: str) -> str:
    samples, rate = read_wav(wav_in)
    pcm = resample(samples, rate, 24000) if rate != 24000 else samples
    chunks: list[np.ndarray] = []
    transcript: list[str] = []
    preamble: list[str] = []  # a reasoning model's "Let me think." before the answer
    phases: dict[str, str] = {}
    done = threading.Event()
    client = RealtimeClient(url=url)
    # Callbacks run on the rtsync-dispatch thread, in arrival order.
    client.on("response.output_item.added", lambda ev: phases.__setitem__(ev.item.id, ev.item.phase))
    client.on("response.audio.delta", lambda ev: chunks.append(ev.samples))  # everything spoken, in order
    client.on("response.audio_transcript.delta",
              lambda ev: (preamble if phases.get(ev.item_id) == "commentary" else transcript).append(ev.delta))
    client.on("response.done", lambda ev: done.set())
    with client:
        client.update_session(turn_detection=None, modalities=["audio", "text"])  # manual turn
        for start in range(0, len(pcm), 24000):  # one second per append
            client.append_audio(pcm[start : start + 24000])
        client.commit_audio()
        client.create_response()
        if not done.wait(60):
            raise SystemExit("no reply within 60 s")
    reply = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    write_wav(wav_out, reply, 24000)
    if preamble:
        print(f"preamble: {''.join(preamble)}")
    return "".join(transcript)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wav_in")
    parser.add_argument("wav_out")
    parser.add_argument("--url", help="Realtime WebSocket endpoint (default: an in-process local server)")
    args = parser.parse_args()
    if args.url:
        text = roundtrip(args.url, args.wav_in, args.wav_out)
    else:
        with LocalServer() as server:
            text = roundtrip(server.url, args.wav_in, args.wav_out)
    print(f"reply: {text}")
    print(f"saved to {args.wav_out}")


if __name__ == "__main__":
    main()
