"""The floors job's pin list (.ci/floors.py): every dependency setup.cfg declares has a floor,
and the pins are exactly those floors."""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "floors.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ci_floors", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("entry", "pin"),
    [
        ("websockets>=13.0,<18", "websockets==13.0"),
        ("websocket-client>=1.6,<2", "websocket-client==1.6"),
        ("pytest-timeout >= 2.2", "pytest-timeout==2.2"),
        ("numpy>=1.24", "numpy==1.24"),
    ],
)
def test_floor_pins_the_lower_bound(entry: str, pin: str) -> None:
    assert _load().floor(entry) == pin


@pytest.mark.parametrize("entry", ["numpy", "numpy<3", "numpy==1.24", "numpy>=1.24,>=1.26"])
def test_an_entry_without_a_single_floor_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="floor"):
        _load().floor(entry)


def test_the_pins_cover_every_core_dependency_and_the_audio_extra() -> None:
    proc = subprocess.run([sys.executable, str(SCRIPT), "audio", "--also", "pytest", "hypothesis"],
                          capture_output=True, text=True, timeout=30, check=True)
    pins = proc.stdout.split()
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    declared = [line.strip() for line in cfg["options"]["install_requires"].splitlines() if line.strip()]
    declared += [line.strip() for line in cfg["options.extras_require"]["audio"].splitlines() if line.strip()]
    names = [pin.split("==")[0] for pin in pins]
    assert names == [entry.split(">=")[0].strip() for entry in declared] + ["pytest", "hypothesis"]
    assert all("==" in pin and pin.split("==")[1][0].isdigit() for pin in pins), pins
