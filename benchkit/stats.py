"""Percentiles as the benches report them.

Why here: every bench summarises latencies the same way, and the JSON keys of
earlier runs were computed with these exact rules, so the rules live once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
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


def paired_interval_90(groups: Sequence[tuple[list[float], list[float]]],
                       statistic: Callable[[list[float], list[float]], float | None],
                       draws: int = 2000) -> tuple[float, float] | None:
    """A 90 % interval of `statistic(a, b)` over two arms, the groups (a round, a question:
    each with its turns of both arms, so a slow one stays paired) drawn again with
    replacement: how far another run of as many groups would likely read. Seeded, so the
    same turns give the same interval; None for fewer than 2 groups or no value."""
    if len(groups) < 2:
        return None
    rng = np.random.default_rng(0)
    found = []
    for _ in range(draws):
        picked = rng.integers(0, len(groups), len(groups))
        value = statistic([v for g in picked for v in groups[g][0]],
                          [v for g in picked for v in groups[g][1]])
        if value is not None:
            found.append(value)
    if not found:
        return None
    return float(np.percentile(found, 5)), float(np.percentile(found, 95))
