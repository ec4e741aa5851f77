"""Translate a spoken WAV file into another language and save the translated speech as a WAV file.

    python examples/translate_wav.py hello.wav hola.wav [--to es] [--url wss://.../v1/realtime/translations]

Without ``--url`` and without ``OPENAI_API_KEY`` it runs against an in-process local server (its
translation reads ``[es] [speech N.N s]`` and is spoken by espeak-ng in that language). Any WAV
rate is accepted (converted to 24 kHz mono); no sound card is needed.
"""

from __future__ import annotations

import argparse
import os

from rtsync import Translator
from rtsync.audio import write_wav


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("wav_in")
    p.add_argument("wav_out")
    p.add_argument("--to", default="es", help="output language (default es)")
    p.add_argument("--url", default=None, help="translation endpoint (default: local server, or OpenAI with a key)")
    args = p.parse_args()
    if args.url is None and not os.environ.get("OPENAI_API_KEY"):
        print("No OPENAI_API_KEY and no --url: translating with an in-process local server")
    translator = Translator(url=args.url, language=args.to)
    # callbacks run on the rtsync-dispatch thread, as the translation streams in
    translator.on("session.output_transcript.delta", lambda ev: print(ev.delta, end="", flush=True))
    result = translator.translate(args.wav_in)   # 200 ms appends, session.close, wait for session.closed
    print()
    print(f"source:     {result.source_text}")
    print(f"translated: {result.text}")
    write_wav(args.wav_out, result.audio, 24000)
    print(f"wrote {len(result.audio) / 24000:.1f} s of speech to {args.wav_out}")


if __name__ == "__main__":
    main()
