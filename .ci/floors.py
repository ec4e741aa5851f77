"""Print pip requirements pinning each dependency setup.cfg declares to its floor (``name==X``).

Usage: ``python .ci/floors.py [EXTRA ...] [--also NAME ...]``. The core ``install_requires``
always; the named extras whole; ``--also`` picks single entries of any extra (the test runners
of ``dev``, say). An entry without a ``>=`` floor is an error: every dependency declares the
lowest version we claim to work with, and ``make test-floors`` tests exactly that.
Standard library only, so that it runs before any virtual environment exists.
"""

from __future__ import annotations

import configparser
import re
import sys
from pathlib import Path

SETUP_CFG = Path(__file__).resolve().parents[1] / "setup.cfg"
_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$")


def _entries(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def floor(entry: str) -> str:
    """``"websockets>=13.0,<18"`` -> ``"websockets==13.0"``; ``ValueError`` without a ``>=``."""
    match = _ENTRY.match(entry)
    if match is None:
        raise ValueError(f"cannot read requirement {entry!r}")
    name, spec = match.groups()
    lows = [part.strip()[2:].strip() for part in spec.split(",") if part.strip().startswith(">=")]
    if len(lows) != 1:
        raise ValueError(f"{entry!r} declares no single '>=' floor")
    return f"{name}=={lows[0]}"


def main(argv: list[str]) -> int:
    extras, also = [], []
    target = extras
    for arg in argv:
        if arg == "--also":
            target = also
        else:
            target.append(arg)
    cfg = configparser.ConfigParser()
    cfg.read(SETUP_CFG)
    wanted = _entries(cfg["options"]["install_requires"])
    declared = cfg["options.extras_require"]
    for extra in extras:
        wanted += _entries(declared[extra])
    every_extra = [entry for name in declared for entry in _entries(declared[name])]
    for name in also:
        matches = [entry for entry in every_extra if _ENTRY.match(entry) and _ENTRY.match(entry).group(1) == name]
        if not matches:
            raise SystemExit(f"{name} is not declared in any extra of {SETUP_CFG}")
        wanted += matches[:1]
    for entry in wanted:
        print(floor(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
