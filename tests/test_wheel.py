"""The distribution as a user gets it: build the sdist and the wheel, install each without extras
into its own fresh virtual environment, and run rtsync there (a text turn against the local
server from the wheel; the CLI from both).

The build runs in a copy of the sources (nothing is written into the checkout); the wheel is
built from the sdist, so a file missing from the sdist breaks the wheel too. Installing needs
the package index for the core dependencies (numpy, websockets, websocket-client, attrs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import rtsync

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(600)

_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "venv", "build", "dist", "docs", "*.egg-info", "__pycache__", "*.pyc",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", ".ci",
)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("OPENAI_API_KEY", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PIP_USER"):
        env.pop(name, None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


class Dist:
    """The built artifacts and the virtual environments the wheel and the sdist were installed into."""

    def __init__(self, sdist: Path, wheel: Path, python: Path, sdist_python: Path, workdir: Path) -> None:
        self.sdist = sdist
        self.wheel = wheel
        self.python = python
        self.sdist_python = sdist_python
        self.workdir = workdir


def _fresh_venv(path: Path, artifact: Path) -> Path:
    """A new virtual environment (no system site packages) with ``artifact`` installed; its python."""
    _run([sys.executable, "-m", "venv", "--clear", str(path)], cwd=path.parent)
    python = path / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "-q", str(artifact)], cwd=path.parent)
    return python


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dist]:
    """Build sdist + wheel from a copy of the sources, and install each in a fresh venv."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(ROOT, src, ignore=_IGNORE, symlinks=True)
    out = base / "dist"
    # Without --sdist/--wheel, build makes the sdist and then the wheel from the unpacked sdist.
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], cwd=base)
    sdists = sorted(out.glob("rtsync-*.tar.gz"))
    wheels = sorted(out.glob("rtsync-*-py3-none-any.whl"))
    assert len(sdists) == 1 and len(wheels) == 1, sorted(p.name for p in out.iterdir())

    python = _fresh_venv(base / "venv", wheels[0])
    sdist_python = _fresh_venv(base / "venv-sdist", sdists[0])  # pip builds the sdist itself
    work = base / "elsewhere"  # not the checkout: ``import rtsync`` must find the installed copy
    work.mkdir()
    yield Dist(sdists[0], wheels[0], python, sdist_python, work)


def test_wheel_holds_the_package_the_marker_and_the_metadata(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as zf:
        names = set(zf.namelist())
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(info).decode()
    assert "rtsync/py.typed" in names
    for module in ("rtsync/__init__.py", "rtsync/client/__init__.py", "rtsync/voice.py", "rtsync/audio/__init__.py",
                   "rtsync/events/__init__.py", "rtsync/server/__init__.py", "rtsync/_status.py"):
        assert module in names, module
    assert not any(n.startswith("tests/") for n in names), "tests must not be installed as a package"
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names)
    assert f"Version: {rtsync.__version__}" in metadata
    assert "License: MIT" in metadata or "License-Expression: MIT" in metadata
    assert "Classifier: Typing :: Typed" in metadata
    assert "Project-URL: Documentation," in metadata
    assert "Description-Content-Type: text/markdown" in metadata
    assert "## A text turn in ten lines" in metadata  # the README is the long description
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    pyaudio = [line for line in requires if "pyaudio" in line.lower()]
    assert pyaudio and all('extra == "audio"' in line for line in pyaudio), pyaudio
    # The local server's needs are core: the demo and `chat` run without extras.
    for core in ("websocket-client", "websockets", "numpy", "attrs"):
        assert any(line.split(":", 1)[1].strip().startswith(core) and "extra ==" not in line for line in requires), core


def test_sdist_file_list(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for required in ("README.md", "LICENSE", "pyproject.toml", "setup.cfg", "setup.py", "MANIFEST.in", "PKG-INFO",
                     "rtsync/__init__.py", "rtsync/py.typed", "rtsync/server/__init__.py", "tests/conftest.py"):
        assert required in names, required
    for unwanted in (".venv", ".git", "__pycache__", ".mypy_cache", "docs/api"):
        assert not any(n == unwanted or n.startswith(unwanted + "/") or f"/{unwanted}/" in n for n in names), unwanted


def test_installed_wheel_without_extras_runs_a_text_turn(dist: Dist) -> None:
    code = textwrap.dedent(
        """
        import importlib.util
        import rtsync
        from rtsync.server import LocalServer

        print("version", rtsync.__version__)
        print("file", rtsync.__file__)
        print("pyaudio", importlib.util.find_spec("pyaudio") is not None)
        with LocalServer() as server, rtsync.RealtimeClient(url=server.url) as client:
            print("reply", client.ask("hello").text)
        """
    )
    proc = _run([str(dist.python), "-c", code], cwd=dist.workdir, timeout=120)
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert lines["version"] == rtsync.__version__
    assert Path(lines["file"]).is_relative_to(dist.python.parents[1]), lines["file"]  # the venv's copy
    assert lines["pyaudio"] == "False"  # the [audio] extra was not asked for
    assert lines["reply"] == "You said: hello"


def test_installed_console_script_and_typed_marker(dist: Dist) -> None:
    script = dist.python.parent / "rtsync"
    assert script.exists()
    proc = _run([str(script), "--help"], cwd=dist.workdir, timeout=60)
    assert "serve" in proc.stdout and "voice" in proc.stdout
    proc = _run([str(dist.python), "-c", "import pathlib, rtsync; "
                 "print((pathlib.Path(rtsync.__file__).parent / 'py.typed').exists())"], cwd=dist.workdir)
    assert proc.stdout.strip() == "True"


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_each_installed_artifact_imports_and_runs_the_cli(dist: Dist, kind: str) -> None:
    python = dist.python if kind == "wheel" else dist.sdist_python
    proc = _run([str(python), "-c", "import rtsync; print(rtsync.__version__); print(rtsync.__file__)"],
                cwd=dist.workdir)
    version, file = proc.stdout.split()
    assert version == rtsync.__version__
    assert Path(file).is_relative_to(python.parents[1]), file  # that venv's copy, not the checkout
    proc = _run([str(python), "-m", "rtsync", "--help"], cwd=dist.workdir, timeout=60)
    for command in ("serve", "chat", "voice", "devices", "inspect"):
        assert command in proc.stdout, command
