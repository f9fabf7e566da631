"""Figure: bench/results/readout_solve_<tag>.json, the expression read-out's compiled Gauss-Newton solve against its numpy reference: quality, cost, threads.

Each frame the renderer inverts the readout model (avatar/render/calibration.py,
`ReadoutModel.solve`): 8 damped Gauss-Newton steps, now one compiled call that
releases the GIL (avatar/render/readout_kernel.py); before, about 150 small numpy
calls holding it (benchkit/face/numpy_readout.py keeps that path). On a spoken reply
(piper speech through the shipped generator, as a live session shows it) on the
six bench portraits at 512 px, every frame both ways:

- quality: the largest difference of the solved amplitudes (float64, each frame's
  own solve replayed through the numpy path), of the frame's actuator amplitudes
  (float32, `PortraitRenderer.amplitudes`), and of the whole rendered frames (max
  8-bit difference, frames not identical, the lowest PSNR, numpy as reference);
- cost, one thread (Grace Hopper, the same frames): median ms of one solve and of
  `PortraitRenderer.amplitudes` a frame (face_cost.py's "expression amplitudes"
  stage: curves, targets, caps, the rest reading and the solve), each way, and of
  the compiled kernel alone (the rest of `solve` is its Python wrapper, which holds
  the GIL: `gil_share_solve_compiled`);
- threads: two sessions' solves (two portraits' recorded solves, replayed) by two
  threads at once over one thread doing the longer alone (1.0: fully parallel, 2.0:
  serial), compiled and numpy, and the same for the whole `amplitudes` call. Two
  free cores are needed: the load averages are recorded, and a GIL-free busy
  loop's ratio shows what the machine's load allowed in the same run.

    python bench/face/readout_solve.py [--tag kernel]

Prints ONE JSON object (the summary) as the last stdout line.

Runs: ~2 min on its defaults (estimated for the 2-core host).
Quoted: docs/renderer.md, "Figures": 0.090 ms a solve against 0.165 for the numpy path, frames identical
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one thread per session: the cost is per core
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from benchkit.bench_args import compile_secs, tagged_parser, write_results
from benchkit.face.spoken_reply import REPLY, reply_motion

Solve = tuple[Any, dict[str, Any]]  # the model, solve's arguments


def psnr(new: np.ndarray, old: np.ndarray) -> float:
    mse = float(np.mean((new.astype(np.float64) - old) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def compare(renderer: Any, motion: np.ndarray) -> tuple[dict[str, Any], list[Solve]]:
    """Every frame rendered both ways; each frame's solves kept (model, arguments)."""
    from avatar.render.calibration import ReadoutModel
    from benchkit.face.numpy_readout import numpy_readout, solve_numpy

    solves: list[Solve] = []
    compiled = ReadoutModel.solve

    def keep(self: ReadoutModel, target: np.ndarray, start: np.ndarray,
             **kwargs: Any) -> np.ndarray:
        solves.append((self, {"target": target.copy(), "start": start.copy(), **kwargs}))
        return compiled(self, target, start, **kwargs)

    amps_worst, pixel_worst, differing, psnrs = 0.0, 0, 0, []
    for row in motion:
        ReadoutModel.solve = keep  # type: ignore[method-assign,assignment]
        try:
            amps_new = renderer.amplitudes(row)
        finally:
            ReadoutModel.solve = compiled  # type: ignore[method-assign]
        new = renderer.render(row).copy()
        with numpy_readout():
            amps_old = renderer.amplitudes(row)
            old = renderer.render(row).copy()
        amps_worst = max(amps_worst, float(np.abs(amps_new - amps_old).max()))
        diff = int(np.abs(new.astype(np.int16) - old).max())
        pixel_worst = max(pixel_worst, diff)
        differing += int(diff > 0)
        psnrs.append(psnr(new, old))
    solve_worst = max(float(np.abs(model.solve(**a) - solve_numpy(model, **a)).max())
                      for model, a in solves)
    finite = [p for p in psnrs if np.isfinite(p)]
    return {"frames": len(motion), "solves": len(solves),
            "solve_amps_max_abs": solve_worst, "frame_amps_max_abs": amps_worst,
            "frame_max_pixel_diff": pixel_worst, "frames_not_identical": differing,
            "frame_psnr_min_db": round(min(finite), 1) if finite else None}, solves


def median_ms(calls: Sequence[Callable[..., Any]], repeats: int = 5) -> float:
    """Median ms of one call, best of `repeats` passes' medians (the machine is shared)."""
    medians = []
    for _ in range(repeats):
        times = []
        for call in calls:
            t0 = time.perf_counter()
            call()
            times.append(time.perf_counter() - t0)
        medians.append(float(np.median(times)) * 1e3)
    return min(medians)


def kernel_calls(solves: list[Solve]) -> list[tuple[Any, ...]]:
    """The compiled kernel's arguments for each solve (recorded by replaying them):
    timing the kernel alone against the whole `solve` leaves the GIL-held share."""
    from avatar.render import calibration

    recorded: list[tuple[Any, ...]] = []
    kernel = calibration.solve_readout
    calibration.solve_readout = lambda *a: recorded.append(a)  # type: ignore[assignment]
    try:
        for model, a in solves:
            model.solve(**a)
    finally:
        calibration.solve_readout = kernel
    return recorded


def solving(solves: list[Solve], numpy_path: bool, passes: int = 10) -> Callable[[], None]:
    """One session's recorded solves replayed `passes` times, compiled or numpy."""
    from benchkit.face.numpy_readout import solve_numpy, wide

    nets = {id(m): wide(m) for m, _ in solves}

    def run() -> None:
        for _ in range(passes):
            for model, a in solves:
                if numpy_path:
                    solve_numpy(model, **a, net=nets[id(model)])
                else:
                    model.solve(**a)
    return run


def amplitudes_of(renderer: Any, motion: np.ndarray, numpy_path: bool,
                  passes: int = 3) -> Callable[[], None]:
    """One session's `PortraitRenderer.amplitudes` over the reply, `passes` times."""
    from contextlib import nullcontext

    from benchkit.face.numpy_readout import numpy_readout

    def run() -> None:
        with numpy_readout() if numpy_path else nullcontext():
            for _ in range(passes):
                for row in motion:
                    renderer.amplitudes(row)
    return run


def main() -> int:
    parser = tagged_parser(__doc__, tag="kernel")
    args = parser.parse_args()
    from avatar.render.readout_kernel import compile_now, solve_readout
    from benchkit.face.numpy_readout import numpy_readout, solve_numpy, wide
    from benchkit.face.portraits import bench_renderers
    from benchkit.face.threads import spinning, thread_ratio

    compile_s = compile_secs(compile_now)
    load_start = os.getloadavg()
    motion = reply_motion()
    per_portrait: dict[str, Any] = {}
    sessions: list[tuple[Any, list[Solve]]] = []
    for name, renderer in bench_renderers(args.portrait_cache):
        per_portrait[name], solves = compare(renderer, motion)
        print(name, per_portrait[name], file=sys.stderr, flush=True)
        sessions.append((renderer, solves))
    renderer, solves = sessions[0]  # Grace Hopper
    nets = {id(m): wide(m) for m, _ in solves}
    solve_compiled = median_ms([lambda m=m, a=a: m.solve(**a) for m, a in solves])
    solve_numpy_ms = median_ms([lambda m=m, a=a: solve_numpy(m, **a, net=nets[id(m)])
                                for m, a in solves])
    kernel_alone = median_ms([lambda a=a: solve_readout(*a) for a in kernel_calls(solves)])
    frame_calls = [lambda row=row: renderer.amplitudes(row) for row in motion]
    amps_compiled = median_ms(frame_calls)
    with numpy_readout():
        amps_numpy = median_ms(frame_calls)
    pair = [sessions[0], sessions[-1]]
    threads = {
        "solve_compiled": thread_ratio([solving(s, False) for _, s in pair]),
        "solve_numpy": thread_ratio([solving(s, True) for _, s in pair]),
        "amplitudes_compiled": thread_ratio([amplitudes_of(r, motion, False) for r, _ in pair]),
        "gil_free_spin": thread_ratio([spinning(), spinning()]),
    }
    q = list(per_portrait.values())
    finite = [p["frame_psnr_min_db"] for p in q if p["frame_psnr_min_db"] is not None]
    summary = {
        "frames": sum(p["frames"] for p in q), "solves": sum(p["solves"] for p in q),
        "solve_amps_max_abs": max(p["solve_amps_max_abs"] for p in q),
        "frame_amps_max_abs": max(p["frame_amps_max_abs"] for p in q),
        "frame_max_pixel_diff": max(p["frame_max_pixel_diff"] for p in q),
        "frames_not_identical": sum(p["frames_not_identical"] for p in q),
        "frame_psnr_min_db": min(finite) if finite else None,
        "solve_ms_compiled": round(solve_compiled, 4), "solve_ms_numpy": round(solve_numpy_ms, 4),
        "solve_kernel_alone_ms": round(kernel_alone, 4),
        # what of `solve` holds the GIL (its Python wrapper): two threads at best take
        # 1 + this share of one thread's time
        "gil_share_solve_compiled": round(1.0 - kernel_alone / solve_compiled, 2),
        "amplitudes_ms_512_compiled": round(amps_compiled, 4),
        "amplitudes_ms_512_numpy": round(amps_numpy, 4),
        "two_threads_over_one_solve_compiled": round(threads["solve_compiled"], 2),
        "two_threads_over_one_solve_numpy": round(threads["solve_numpy"], 2),
        "two_threads_over_one_amplitudes_compiled": round(threads["amplitudes_compiled"], 2),
        "two_threads_over_one_gil_free_spin": round(threads["gil_free_spin"], 2),
        "load_start": [round(x, 2) for x in load_start],
        "load_end": [round(x, 2) for x in os.getloadavg()],
    }
    write_results(args, "readout_solve", __doc__, summary, reply=REPLY,
                  first_compile_or_cache_load_s=round(compile_s, 2), portraits=per_portrait)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
