"""rtsync's benchmark suite: run it with ``python -m benchmarks`` (``make bench``).

How it works, what it measures and how to add a benchmark: see ``benchmarks/__main__.py``.

This module is the registry. A benchmark is a function that takes the run's :class:`Config`
and returns :class:`Row` objects; :func:`benchmark` registers it. The runner imports every
``benchmarks/bench_*.py`` module, so a new benchmark is a new module (or a new function in an
existing one) and nothing else::

    from benchmarks import Config, Row, benchmark

    @benchmark("ring buffer", order=40)
    def ring_buffer(cfg: Config) -> list[Row]:
        ...
        return [Row("ring buffer: write+read 20 ms blocks", value, "samples/s", baseline,
                    "numpy copy", higher_is_better=True, target_ratio=0.5)]

Kept free of third-party imports: the client and server processes import this package too.
"""

from __future__ import annotations

import math
import statistics
import sys
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["BENCHMARKS", "Benchmark", "Config", "Row", "benchmark", "fmt_value", "median"]


class Config:
    """What one run of the suite may spend.

    Attributes:
        quick: the smoke mode (``--quick``): tiny sizes, one run of each measurement.
        runs: how many times each measurement is repeated (interleaved); the median is kept.
        audio_deltas, transcript_deltas: the size of the blast response (plus 10 framing events).
        latency_events, latency_rate: the paced stream of the latency benchmark (events, per second).
        import_runs: fresh interpreters per import-time measurement.
        verbose: print progress to stderr.
        candidate: a directory holding another copy of the ``rtsync`` package (``--candidate``);
            benchmarks that support it add rows measuring that copy against the same baselines.
    """

    def __init__(self, quick: bool = False, runs: int | None = None, verbose: bool = True,
                 candidate: str | None = None) -> None:
        self.quick = quick
        self.candidate = candidate
        self.runs = runs if runs is not None else (1 if quick else 3)
        if quick:
            self.audio_deltas, self.transcript_deltas = 6_000, 1_200
            self.latency_events, self.latency_rate = 300, 1_000
            self.import_runs = 3
        else:
            self.audio_deltas, self.transcript_deltas = 20_000, 4_000
            self.latency_events, self.latency_rate = 2_000, 1_000
            self.import_runs = 5
        self.verbose = verbose

    def log(self, msg: str) -> None:
        """Progress on stderr (the table goes to stdout)."""
        if self.verbose:
            print(f"  .. {msg}", file=sys.stderr, flush=True)


class Row:
    """One line of the table.

    Args:
        name: what was measured (and against what, when a baseline is given).
        value: the measurement (a number in ``unit``), or a short text for yes/no checks.
        unit: the unit of ``value`` and ``baseline`` (``"ev/s"``, ``"ms"``, ``"µs"``, ``"MB"``...).
        baseline: the same measurement for the baseline, taken in the same run; ``None`` if none.
        baseline_name: what the baseline is.
        higher_is_better: how a ratio is judged.
        target_ratio: the target for ``value / baseline`` (a floor when ``higher_is_better``, a
            ceiling otherwise); ``None`` for no ratio target.
        target_abs: an absolute target for ``value`` (same direction rule).
        ok: pass/fail for a text check (overrides the computed status).
        target_text: how to print the target when ``ok`` is given.
        note: a short remark printed after the status.
    """

    __slots__ = ("baseline", "baseline_name", "higher_is_better", "name", "note", "ok_override",
                 "target_abs", "target_ratio", "target_text", "unit", "value")

    def __init__(
        self,
        name: str,
        value: float | str | None,
        unit: str = "",
        baseline: float | None = None,
        baseline_name: str = "",
        *,
        higher_is_better: bool = True,
        target_ratio: float | None = None,
        target_abs: float | None = None,
        ok: bool | None = None,
        target_text: str = "",
        note: str = "",
    ) -> None:
        self.name = name
        self.value = value
        self.unit = unit
        self.baseline = baseline
        self.baseline_name = baseline_name
        self.higher_is_better = higher_is_better
        self.target_ratio = target_ratio
        self.target_abs = target_abs
        self.ok_override = ok
        self.target_text = target_text
        self.note = note

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` when both are numbers."""
        v, b = self.value, self.baseline
        if isinstance(v, (int, float)) and isinstance(b, (int, float)) and b:
            return float(v) / float(b)
        return None

    @property
    def target(self) -> str:
        """The target as printed."""
        if self.target_text:
            return self.target_text
        parts = []
        sign = "≥" if self.higher_is_better else "≤"
        if self.target_ratio is not None:
            parts.append(f"{sign} {self.target_ratio:.2f}×")
        if self.target_abs is not None:
            sign_abs = "≥" if self.higher_is_better else "<"
            parts.append(f"{sign_abs} {fmt_value(self.target_abs, self.unit)}")
        return ", ".join(parts)

    @property
    def ok(self) -> bool | None:
        """True/False against the target; ``None`` when there is no target or no value."""
        if self.ok_override is not None:
            return self.ok_override
        checks: list[bool] = []
        r = self.ratio
        if self.target_ratio is not None:
            if r is None:
                return None
            checks.append(r >= self.target_ratio if self.higher_is_better else r <= self.target_ratio)
        if self.target_abs is not None:
            v = self.value
            if not isinstance(v, (int, float)):
                return None
            checks.append(v >= self.target_abs if self.higher_is_better else v < self.target_abs)
        return all(checks) if checks else None

    def as_dict(self) -> dict[str, Any]:
        """The row as JSON-ready data (``--json``)."""
        return {"name": self.name, "value": self.value, "unit": self.unit, "baseline": self.baseline,
                "baseline_name": self.baseline_name, "ratio": self.ratio, "target": self.target,
                "ok": self.ok, "note": self.note}

    def __repr__(self) -> str:
        return f"Row({self.name!r}, {self.value!r} {self.unit}, ratio={self.ratio!r}, ok={self.ok!r})"


class Benchmark:
    """A registered benchmark: ``fn(cfg) -> rows``, run in ``order`` (then by name)."""

    __slots__ = ("fn", "name", "order")

    def __init__(self, name: str, fn: Callable[[Config], Sequence[Row]], order: int) -> None:
        self.name = name
        self.fn = fn
        self.order = order


#: Every registered benchmark, by name.
BENCHMARKS: dict[str, Benchmark] = {}


def benchmark(name: str, order: int = 100) -> Callable[[Callable[[Config], Sequence[Row]]],
                                                       Callable[[Config], Sequence[Row]]]:
    """Register ``fn(cfg: Config) -> list[Row]`` under ``name`` (``--only name`` selects it)."""

    def deco(fn: Callable[[Config], Sequence[Row]]) -> Callable[[Config], Sequence[Row]]:
        if name in BENCHMARKS and BENCHMARKS[name].fn is not fn:
            raise ValueError(f"a benchmark named {name!r} is already registered")
        BENCHMARKS[name] = Benchmark(name, fn, order)
        return fn

    return deco


def median(values: Sequence[float]) -> float:
    """The median (``nan`` for no values)."""
    return statistics.median(values) if values else math.nan


def fmt_value(v: float | str | None, unit: str = "") -> str:
    """A number with its unit, compactly (``92.3k ev/s``, ``41.2 ms``)."""
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and math.isnan(v):
        return "n/a"
    a = abs(v)
    if unit.endswith("/s") and a >= 1e6:
        s = f"{v / 1e6:.2f}M"
    elif unit.endswith("/s") and a >= 1e3:
        s = f"{v / 1e3:.1f}k"
    elif a >= 100 or float(v).is_integer():
        s = f"{v:.0f}"
    elif a >= 10:
        s = f"{v:.1f}"
    else:
        s = f"{v:.2f}"
    return f"{s} {unit}".rstrip()
