"""The README's Python snippets run as written (the Tk one under Xvfb, with its URL filled in)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_tk import display  # noqa: F401 - the module's Xvfb fixture

ROOT = Path(__file__).resolve().parent.parent


def snippets() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def run(code: str, **env: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, **env})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_every_snippet_is_covered() -> None:
    kinds = [("tk" if "rtsync.tk" in s else "voice" if "VoiceSession" in s else "plain") for s in snippets()]
    assert kinds.count("plain") == 4 and kinds.count("tk") == 1 and kinds.count("voice") == 1


def test_text_turn_snippet() -> None:
    code = next(s for s in snippets() if "reply = client.ask" in s)
    out = run(code)
    assert "You said: hello there" in out and re.search(r"You said: hello there \d+", out)


def test_tools_snippet() -> None:
    code = next(s for s in snippets() if "@client.tool" in s)
    out = run(code)
    assert 'Tool get_weather returned: {"city": "Paris", "temp_c": 21}' in out


def _with_wav(code: str, tmp_path: Path) -> str:
    """The snippet with its ``hello.wav`` (1.2 s of tone) and ``hola.wav`` in ``tmp_path``."""
    import numpy as np

    from rtsync.audio import write_wav

    t = np.arange(int(24000 * 1.2)) / 24000
    write_wav(tmp_path / "hello.wav", (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16), 24000)
    return code.replace('"hello.wav"', repr(str(tmp_path / "hello.wav"))).replace(
        '"hola.wav"', repr(str(tmp_path / "hola.wav")))


def test_captions_snippet(tmp_path: Path) -> None:
    code = next(s for s in snippets() if "Transcriber" in s)
    out = run(_with_wav(code, tmp_path))
    assert out == "[speech 1.2 s]\ncaption: [speech 1.2 s]\n"


def test_translation_snippet(tmp_path: Path) -> None:
    code = next(s for s in snippets() if "Translator" in s)
    out = run(_with_wav(code, tmp_path))
    assert out == "[speech 1.2 s] -> [es] [speech 1.2 s]\n"
    assert (tmp_path / "hola.wav").stat().st_size > 24000


def test_tk_snippet(display: str) -> None:  # noqa: F811 - the imported fixture
    code = next(s for s in snippets() if "rtsync.tk" in s)
    assert code.rstrip().endswith("root.mainloop()")
    code = ("from rtsync.server import LocalServer\nserver = LocalServer().start()\nURL = server.url\n"
            + code.rstrip()[: -len("root.mainloop()")]
            + "root.after(3000, root.quit)\nroot.mainloop()\n"
              "print(repr(text.get('1.0', 'end')))\npump.shutdown()\nroot.destroy()\nserver.stop()\n")
    out = run(code, DISPLAY=display)
    assert "You said: hello" in out


@pytest.mark.skipif(not snippets(), reason="no snippets")
def test_snippets_name_only_public_api() -> None:
    for code in snippets():
        assert "._" not in code.replace("__", ""), code
