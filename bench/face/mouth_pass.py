"""Figure: bench/results/mouth_pass_<tag>.json, the mouth's compiled pass against its
numpy reference: quality, cost, threads.

The painter's per-pixel work is one compiled, GIL-free pass
(avatar/render/mouth_compose.py); before, its fields were numpy calls
(benchkit/face/numpy_mouth.py keeps that path). On a spoken reply (piper speech through
the shipped generator, as a live session shows it) on the six bench portraits at
512 px, every frame's mouth is painted both ways on the same warped frame:

- quality: max and mean absolute difference (8-bit levels) over the painted box,
  the share of its pixel channels that differ by more than one level, and the PSNR
  of the whole frame (numpy as the reference);
- cost: median ms of `MouthPainter.paint` a frame with an open mouth (Grace Hopper),
  one thread, each way, and of the compiled pass alone (the rest is the painter's
  Python prep, which holds the GIL);
- threads: two sessions' mouths (two portraits) painted by two threads at once,
  over the time one thread takes to paint one session's (1.0: fully parallel,
  2.0: serial), for the whole `paint`, for the compiled pass alone (the painter's
  Python prep, which holds the GIL, left out) and for the numpy path. Two free cores
  are needed: the load averages are recorded, and a GIL-free busy loop's ratio
  shows what the machine's load allowed in the same run.

    python bench/face/mouth_pass.py [--tag kernel]

Prints ONE JSON object (the summary) as the last stdout line.

Runs: ~2 min on its defaults (estimated for the 2-core host).
Quoted: docs/LIVE_AVATAR.md, "The face's CPU per frame (issue 48: `bench/face/face_cost.py`, `bench/face/render_same.py`, `bench/live/density.py`)": the compiled pass 0.39 ms a frame against 1.18 for the numpy reference
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per painter: the cost is per core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2
import numpy as np

from benchkit.bench_args import compile_secs, tagged_parser, write_results
from benchkit.face.mouth_calls import MouthCall, painted_calls
from benchkit.face.spoken_reply import REPLY, reply_motion
from benchkit.face.threads import spinning, thread_ratio


def quality(painter: Any, calls: list[MouthCall]) -> dict[str, Any]:
    """Compiled vs numpy on the same calls: differences over the box, frame PSNR."""
    from benchkit.face.numpy_mouth import paint_numpy

    worst, total, count, over_one, psnrs, painted = 0, 0.0, 0, 0, [], 0
    for before, xy, anchors, rounding in calls:
        new, old = before.copy(), before.copy()
        painter.paint(new, xy, anchors, rounding)
        paint_numpy(painter, old, xy, anchors, rounding)
        changed = np.any((new != before) | (old != before), axis=2)
        if not changed.any():
            continue
        painted += 1
        ys, xs = np.nonzero(changed)
        box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        diff = np.abs(new[box].astype(np.int16) - old[box].astype(np.int16))
        worst = max(worst, int(diff.max()))
        total += float(diff.sum())
        count += diff.size
        over_one += int((diff > 1).sum())
        mse = float(np.mean((new.astype(np.float64) - old) ** 2))
        psnrs.append(np.inf if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse))
    finite = [p for p in psnrs if np.isfinite(p)]
    return {"frames": len(calls), "painted_frames": painted, "box_max_abs": worst,
            "box_mean_abs": round(total / max(count, 1), 6),
            "box_share_over_1": round(over_one / max(count, 1), 6),
            "frame_psnr_min_db": round(min(finite), 1) if finite else None,
            "frame_psnr_median_db": round(float(np.median(finite)), 1) if finite else None,
            "frames_identical": len(psnrs) - len(finite)}


def paint_all(paint: Any, painter: Any, calls: list[MouthCall]) -> None:
    for before, xy, anchors, rounding in calls:
        paint(painter, before.copy(), xy, anchors, rounding)


def per_frame_ms(paint: Any, painter: Any, calls: list[MouthCall], repeats: int = 5) -> float:
    """Median ms of one paint (frame copy excluded), best of `repeats` passes' medians."""
    medians = []
    for _ in range(repeats):
        times = []
        for before, xy, anchors, rounding in calls:
            image = before.copy()
            t0 = time.perf_counter()
            paint(painter, image, xy, anchors, rounding)
            times.append(time.perf_counter() - t0)
        medians.append(float(np.median(times)) * 1e3)
    return min(medians)


def recorded_passes(painter: Any, calls: list[MouthCall]) -> list[tuple[Any, ...]]:
    """The compiled pass's arguments of each of `calls` (the pass itself not run)."""
    from avatar.render import mouth

    recorded: list[tuple[Any, ...]] = []
    kernel = mouth.paint_interior
    mouth.paint_interior = lambda *a: recorded.append(a)  # type: ignore[assignment]
    try:
        paint_all(mouth.MouthPainter.paint, painter, calls)
    finally:
        mouth.paint_interior = kernel
    return recorded


def pass_ms(painter: Any, calls: list[MouthCall], repeats: int = 5) -> float:
    """`per_frame_ms` of the compiled pass alone (its recorded arguments replayed)."""
    from avatar.render.mouth_compose import paint_interior

    recorded = recorded_passes(painter, calls)
    medians = []
    for _ in range(repeats):
        times = []
        for a in recorded:
            t0 = time.perf_counter()
            paint_interior(*a)
            times.append(time.perf_counter() - t0)
        medians.append(float(np.median(times)) * 1e3)
    return min(medians)


def opened(painter: Any, calls: list[MouthCall]) -> list[MouthCall]:
    """The calls whose frame the painter paints into (the mouth open)."""
    kept = []
    for call in calls:
        image = call[0].copy()
        painter.paint(image, *call[1:])
        if not np.array_equal(image, call[0]):
            kept.append(call)
    return kept


def painting(paint: Callable[..., None], painter: Any,
             calls: list[MouthCall]) -> Callable[[], None]:
    """One session's mouths painted with `paint` (`MouthPainter.paint` or `paint_numpy`)."""
    return lambda: paint_all(paint, painter, calls)


def replaying_pass(painter: Any, calls: list[MouthCall]) -> Callable[[], None]:
    """One session's compiled passes alone (the painter's Python prep left out): the
    pass's arguments are recorded once, then replayed."""
    from avatar.render.mouth_compose import paint_interior

    recorded = recorded_passes(painter, calls)

    def replay() -> None:
        for a in recorded:
            paint_interior(*a)
    return replay


def main() -> int:
    parser = tagged_parser(__doc__, tag="kernel")
    args = parser.parse_args()
    from avatar.render.mouth import MouthPainter
    from avatar.render.mouth_compose import compile_now
    from benchkit.face.numpy_mouth import paint_numpy
    from benchkit.face.portraits import bench_renderers

    cv2.setNumThreads(1)
    compile_s = compile_secs(compile_now)
    load_start = os.getloadavg()
    motion = reply_motion()
    per_portrait: dict[str, Any] = {}
    sessions: list[tuple[Any, list[MouthCall]]] = []
    for name, renderer in bench_renderers(args.portrait_cache):
        calls = painted_calls(renderer, motion)
        per_portrait[name] = quality(renderer.mouth, calls)
        print(name, per_portrait[name], file=sys.stderr, flush=True)
        sessions.append((renderer.mouth, calls))
    timed = (sessions[0][0], opened(*sessions[0]))  # Grace Hopper, frames with a mouth
    cost = {"compiled_ms": per_frame_ms(MouthPainter.paint, *timed),
            "numpy_ms": per_frame_ms(paint_numpy, *timed), "pass_ms": pass_ms(*timed)}
    pair = [sessions[0], sessions[-1]]  # Grace Hopper and Takeo Kanade: mouths open as often
    threads = {"compiled": thread_ratio([painting(MouthPainter.paint, *s) for s in pair]),
               "pass": thread_ratio([replaying_pass(*s) for s in pair]),
               "numpy": thread_ratio([painting(paint_numpy, *s) for s in pair]),
               "gil_free_spin": thread_ratio([spinning(), spinning()])}
    q = list(per_portrait.values())
    summary = {
        "frames": sum(p["frames"] for p in q), "painted_frames": sum(p["painted_frames"] for p in q),
        "box_max_abs": max(p["box_max_abs"] for p in q),
        "box_mean_abs": round(float(np.mean([p["box_mean_abs"] for p in q])), 6),
        "box_share_over_1": max(p["box_share_over_1"] for p in q),
        "frame_psnr_min_db": min(p["frame_psnr_min_db"] for p in q
                                 if p["frame_psnr_min_db"] is not None),
        "frames_identical": sum(p["frames_identical"] for p in q),
        "paint_ms_512_compiled": round(cost["compiled_ms"], 3),
        "paint_ms_512_numpy": round(cost["numpy_ms"], 3),
        "pass_alone_ms_512": round(cost["pass_ms"], 3),
        # what of `paint` holds the GIL (its Python prep): two threads at best take
        # 1 + this share of one thread's time
        "gil_share_compiled": round(1.0 - cost["pass_ms"] / cost["compiled_ms"], 2),
        "two_threads_over_one_compiled": round(threads["compiled"], 2),
        "two_threads_over_one_numpy": round(threads["numpy"], 2),
        "two_threads_over_one_pass_alone": round(threads["pass"], 2),
        "two_threads_over_one_gil_free_spin": round(threads["gil_free_spin"], 2),
    }
    write_results(args, "mouth_pass", __doc__, summary, reply=REPLY,
                  first_compile_or_cache_load_s=round(compile_s, 2), portraits=per_portrait,
                  load_start=load_start, load_end=os.getloadavg())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
