"""Percentiles as the benches report them.

Why here: every bench summarises latencies the same way, and the JSON keys of
earlier runs were computed with these exact rules, so the rules live once.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (None for no values)."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def pct(values: list[float], q: float) -> float | None:
    """`percentile` rounded to 0.1 (the browser benches' figures)."""
    return round(float(np.percentile(values, q)), 1) if values else None


def nearest_rank(values: list[float], q: float) -> float:
    """The value at rank round(q * (n - 1)) of the sorted values, q in 0..1 (NaN for
    none): the LLM answer benches' percentile, kept so their figures stay comparable."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def rounded_percentile(values: list[Any], q: float) -> float | None:
    """`percentile` of the values that are not None, rounded to 0.1 (None for none):
    the live benches' per-session and per-run figures."""
    value = percentile([float(v) for v in values if v is not None], q)
    return None if value is None else round(value, 1)
