"""Helpers to run a measurement in a fresh interpreter."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

__all__ = ["ROOT", "has_module", "run_client", "run_python"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CLIENT = os.path.join(ROOT, "benchmarks", "_client.py")


def has_module(name: str) -> bool:
    """True when ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def run_python(args: list[str], timeout: float = 300.0, pythonpath: str | None = None,
               write_bytecode: bool = False) -> str:
    """Run ``python ARGS`` from the checkout's root; return its stdout (raise on failure).

    ``pythonpath`` is put first on the child's ``PYTHONPATH`` (to measure another copy of rtsync).
    ``write_bytecode`` lets the child write ``.pyc`` caches even when ``PYTHONDONTWRITEBYTECODE``
    is set (installed packages have theirs; without it a checkout would be compiled every run).
    """
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (pythonpath, env.get("PYTHONPATH")) if p)
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-8:]
        raise RuntimeError(f"python {' '.join(args[:3])} failed ({proc.returncode}):\n  " + "\n  ".join(tail))
    return proc.stdout


def run_client(kind: str, mode: str, url: str, timeout: float = 300.0,
               pythonpath: str | None = None) -> dict[str, Any]:
    """One run of ``benchmarks/_client.py`` (see there); its JSON result."""
    out = run_python([_CLIENT, kind, mode, url], timeout, pythonpath)
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    if pythonpath and kind.startswith("rtsync"):
        where = os.path.realpath(result.get("rtsync_file", ""))
        if not where.startswith(os.path.realpath(pythonpath)):
            raise RuntimeError(f"the candidate run imported rtsync from {where}, not from {pythonpath}")
    return result
