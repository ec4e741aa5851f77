"""Import time of ``rtsync`` in a fresh interpreter, and what that import drags in."""

from __future__ import annotations

from benchmarks import Config, Row, benchmark, median
from benchmarks._proc import has_module, run_python

__all__ = ["import_time"]

#: Modules ``import rtsync`` must not load (they load on first use).
HEAVY = ("numpy", "pyaudio", "rtsync.server")

# Only sys and time (both already loaded by the interpreter) before the clock starts.
_PROBE = (
    "import sys, time\n"
    "t = time.perf_counter()\n"
    "import {mods}\n"
    "t = time.perf_counter() - t\n"
    "print(t * 1e3, ' '.join(m for m in {heavy!r} if m in sys.modules))\n"
)


def _probe(mods: str) -> tuple[float, list[str]]:
    out = run_python(["-c", _PROBE.format(mods=mods, heavy=HEAVY)], timeout=120, write_bytecode=True).split()
    return float(out[0]), out[1:]


@benchmark("import", order=30)
def import_time(cfg: Config) -> list[Row]:
    """``import rtsync`` vs its unavoidable dependencies (and openai-python for scale)."""
    subjects = {"rtsync": "rtsync", "deps": "websocket, attrs"}
    if has_module("openai"):
        subjects["openai"] = "openai"
    for mods in subjects.values():  # warm the bytecode caches
        _probe(mods)
    times: dict[str, list[float]] = {k: [] for k in subjects}
    loaded: set[str] = set()
    for _ in range(cfg.import_runs):
        for key, mods in subjects.items():
            ms, heavy = _probe(mods)
            times[key].append(ms)
            if key == "rtsync":
                loaded.update(heavy)
    med = {k: median(v) for k, v in times.items()}
    cfg.log("import: " + ", ".join(f"{k} {v:.1f} ms" for k, v in med.items()))
    deps = "import websocket, attrs"
    rows = [
        Row("import rtsync (fresh interpreter)", med["rtsync"], "ms", med["deps"], deps,
            higher_is_better=False, target_abs=80.0),
        Row("import rtsync loads numpy / pyaudio / rtsync.server", ", ".join(sorted(loaded)) or "none",
            ok=not loaded, target_text="none"),
    ]
    if "openai" in med:
        rows.append(Row("import openai (for scale)", med["openai"], "ms", med["deps"], deps, higher_is_better=False))
    return rows
