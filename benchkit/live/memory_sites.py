"""The allocation sites that grew between two tracemalloc snapshots of a server
(benchkit/memory_trace/sitecustomize.py takes them), as the profiler reports them.

Python allocations only: a native allocator's high-water mark or a C library's own
heap (mediapipe, onnxruntime, torch's) shows in RSS but not here, so a report
gives both, the traced growth beside the process's RSS growth, and says how much of
it the sites explain.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

#: frames of the tracing machinery itself and of the import system
_NOISE = (tracemalloc.__file__, "<frozen importlib._bootstrap>",
          "<frozen importlib._bootstrap_external>", "sitecustomize.py")


def _clean(snapshot: tracemalloc.Snapshot) -> tracemalloc.Snapshot:
    return snapshot.filter_traces([tracemalloc.Filter(False, pattern) for pattern in _NOISE])


def grown_sites(first: Path, last: Path, *, top: int = 25,
                frames: int = 6) -> dict[str, Any]:
    """The `top` sites (file:line) whose live allocations grew most from `first` to
    `last`, each with its growth, count and the deepest `frames` frames of the
    allocation's traceback (the caller that made it grow), and the total traced."""
    before = _clean(tracemalloc.Snapshot.load(str(first)))
    after = _clean(tracemalloc.Snapshot.load(str(last)))
    # compare_to sorts by the size of the change either way: growth first here
    by_line = sorted(after.compare_to(before, "lineno"), key=lambda stat: -stat.size_diff)
    # a Traceback runs from the oldest frame to the allocation (Python >= 3.7)
    by_trace: dict[tracemalloc.Frame, tracemalloc.StatisticDiff] = {}
    for stat in after.compare_to(before, "traceback"):
        site = stat.traceback[-1]
        if stat.size_diff > 0 and (site not in by_trace
                                   or stat.size_diff > by_trace[site].size_diff):
            by_trace[site] = stat
    total_before = sum(stat.size for stat in before.statistics("filename"))
    total_after = sum(stat.size for stat in after.statistics("filename"))
    sites = []
    for stat in by_line[:top]:
        site = stat.traceback[0]
        deep = by_trace.get(site)
        sites.append({
            "site": f"{site.filename}:{site.lineno}",
            "growth_kb": round(stat.size_diff / 1024, 1),
            "size_kb": round(stat.size / 1024, 1),
            "count_growth": stat.count_diff,
            "traceback": [] if deep is None else
            [f"{frame.filename}:{frame.lineno}" for frame in list(deep.traceback)[-frames:]],
        })
    return {"traced_mb_before": round(total_before / 2**20, 2),
            "traced_mb_after": round(total_after / 2**20, 2),
            "traced_growth_mb": round((total_after - total_before) / 2**20, 2),
            "sites": sites}


def as_text(report: dict[str, Any], title: str) -> str:
    """The report as the profiler's summary a person reads (docs/memory/)."""
    lines = [title, "", f"traced Python heap: {report['traced_mb_before']} MB -> "
             f"{report['traced_mb_after']} MB ({report['traced_growth_mb']:+} MB)", "",
             "growth KB  live KB  blocks  site (and the deepest frames of its traceback)"]
    for site in report["sites"]:
        lines.append(f"{site['growth_kb']:9.1f} {site['size_kb']:8.1f} "
                     f"{site['count_growth']:7d}  {site['site']}")
        lines += [f"{'':28}<- {frame}" for frame in reversed(site["traceback"][:-1])]
    return "\n".join(lines) + "\n"


__all__ = ["as_text", "grown_sites"]
