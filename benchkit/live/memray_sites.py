"""The allocation sites whose memory grew over a window of a server's life, Python and
native alike, from memray's aggregated file (benchkit/memory_trace/sitecustomize.py
tracks between the bench's two signals).

Why memray beside tracemalloc: tracemalloc sees only Python's allocator. The server's
RSS also holds what torch, onnxruntime, libvpx, mediapipe and glibc's own arenas
allocate, and that is where the growth pointed once the Python heap was flat
(docs/memory/session_churn_sites_traced_new.txt). memray hooks malloc, C++ new and mmap
with the native stack of each call, so a site reads like "numpy's ones <- our
renderer.py:120" or "libvpx vpx_codec_encode <- video_codec.py:88".

What "grew" means here: allocated after tracking started and still alive when it
stopped (memray's leaked records of the window). A cache filling to its cap, a queue
with items in flight and a real leak all show; the session count in the title says
which is which when two windows are compared.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

#: native frames of the allocator itself: the site is the first frame past these
_ALLOCATOR = ("malloc", "calloc", "realloc", "free", "operator new", "posix_memalign",
              "aligned_alloc", "memalign", "mmap", "default_malloc", "default_calloc",
              "default_realloc", "PyDataMem_", "PyMem_", "PyObject_Malloc", "_PyObject_",
              "pymalloc", "_PyMem_", "memray::")


def _is_allocator(function: str) -> bool:
    return any(function.startswith(name) or name in function for name in _ALLOCATOR)


def _native_site(record: Any, depth: int) -> list[str]:
    frames = [f for f, _file, _line in record.native_stack_trace(max_stacks=24)
              if not _is_allocator(f)]
    return frames[:depth]


def _python_site(record: Any, depth: int) -> list[str]:
    return [f"{Path(file).name}:{line} {function}"
            for function, file, line in record.stack_trace(max_stacks=depth)]


def grown_sites(path: Path, *, top: int = 25, native_depth: int = 3,
                python_depth: int = 4) -> dict[str, Any]:
    """The `top` sites by bytes still alive from the window, each with its count and
    its native and Python stacks (innermost first); totals of the window."""
    from memray import FileReader

    reader = FileReader(str(path))
    try:
        sizes: dict[tuple[tuple[str, ...], tuple[str, ...]], list[int]] = defaultdict(
            lambda: [0, 0])
        total = 0
        for record in reader.get_leaked_allocation_records(merge_threads=True):
            key = (tuple(_native_site(record, native_depth)),
                   tuple(_python_site(record, python_depth)))
            sizes[key][0] += record.size
            sizes[key][1] += record.n_allocations
            total += record.size
        meta = reader.metadata
    finally:
        reader.close()
    ranked = sorted(sizes.items(), key=lambda item: -item[1][0])
    return {
        "window_secs": round((meta.end_time - meta.start_time).total_seconds(), 1),
        "alive_at_stop_mb": round(total / 2**20, 2),
        "peak_in_window_mb": round(meta.peak_memory / 2**20, 1),
        "sites": [{"kb": round(size / 1024, 1), "allocations": count,
                   "native": list(native), "python": list(python)}
                  for (native, python), (size, count) in ranked[:top]],
    }


def as_text(report: dict[str, Any], title: str) -> str:
    """The report as people read it (docs/memory/)."""
    lines = [title, "",
             f"memray (native traces, aggregated): allocated in the {report['window_secs']} s "
             f"window and still alive at its end: {report['alive_at_stop_mb']} MB; "
             f"the window's peak: {report['peak_in_window_mb']} MB.", "",
             "Sites, largest first (native frames past the allocator, innermost first; "
             "then the Python stack, innermost first):", ""]
    for rank, site in enumerate(report["sites"], 1):
        lines.append(f"{rank:2d}. {site['kb']:>10.1f} KB in {site['allocations']} allocations")
        if site["native"]:
            lines.append("      native: " + " <- ".join(site["native"]))
        if site["python"]:
            lines.append("      python: " + " <- ".join(site["python"]))
    return "\n".join(lines) + "\n"
