"""Figure: bench/results/portrait_switch.json and .png: how long the video stops while
`AvatarForcingVideoService` switches its portrait on pipecat's `ServiceUpdateSettingsFrame`.

The service runs as a pipecat developer runs it (`Pipeline([service, transport])`
with pipecat's own output path, benchkit/pipecat_sink.py; the face in its worker
process, as in every app), idles, and is switched `--switches` times between the
bundled portrait and another photo (an image path, as an app's own photo would be),
`--every` seconds apart. With `--fresh-at` it is the first call of the process
instead: the service loads its own assets and the first switch is asked that long
after the pipeline starts. The goals: no gap over 300 ms between images at the
transport, and the new face on the transport within a second of the frame.

JSON (last stdout line): `switch_latency_ms_p95` (512 px, or the first size asked)
first; per size, the latency from each frame to the first image of the new face
(ms: the first image nearer the face shown at the next switch than the one before
it, or the first image at all when none was shown yet), the largest gap between
images around each switch (ms), their max and median, the gap between images away
from switches (the baseline), and the load average before and after. Plot: the
gaps over time, one line per size, switches marked.

    .venv/bin/python bench/live/portrait_switch.py [--switches 6] [--every 3] [--sizes 512 256]
    .venv/bin/python bench/live/portrait_switch.py --fresh-at 1.5 --sizes 512   # a fresh process

Runs: ~2 min on its defaults (estimated for the 2-core host).
Quoted: docs/PIPECAT.md, "Settings while it runs": a portrait switch's latency p95 174 ms (p50 120 ms), largest gap 259 ms
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import numpy as np
from tqdm import tqdm

from benchkit.paths import RESULTS, ROOT
from benchkit.pipecat_sink import start_face_run
from benchkit.stats import pct

OTHER = ROOT / "examples" / "voice_assistant" / "portraits" / "astronaut.jpg"
OUT_RATE = 24000
GOAL_MS = 300.0
LATENCY_GOAL_MS = 1000.0
#: a switch's window: from its request to this long after
WINDOW_SECS = 2.0


async def run_size(size: int, switches: int, every: float, assets: Any,
                   first_at: float | None = None) -> dict[str, Any]:
    """One session at `size` px, switched `switches` times; its gaps. `first_at`: the
    service loads its own assets (none given) and the first switch is asked this
    long after the pipeline starts, whether a face is shown yet or not."""
    from pipecat.frames.frames import ServiceUpdateSettingsFrame

    from pipelines import AvatarForcingVideoService

    settings = AvatarForcingVideoService.Settings(size=size, adapt_video=False, camera_fps=0.0)
    service = AvatarForcingVideoService(settings=settings, assets=assets)
    run = await start_face_run(service, out_rate=OUT_RATE, size=size,
                               wait_for_image=first_at is None)
    await asyncio.sleep(2.0 if first_at is None else first_at)
    asked: list[float] = []
    for i in tqdm(range(switches), desc=f"{size} px switches"):
        portrait = str(OTHER) if i % 2 == 0 else "grace_hopper"
        asked.append(time.monotonic())
        await run.send(ServiceUpdateSettingsFrame(
            delta=AvatarForcingVideoService.Settings(portrait=portrait), service=service))
        await asyncio.sleep(every)
    await run.end()
    times = np.array([t for t, _ in run.played.images])
    gaps = np.diff(times)
    starts = times[:-1]
    per_switch = []
    for at in asked:
        window = gaps[(starts >= at - 0.1) & (starts < at + WINDOW_SECS)]
        per_switch.append(round(float(window.max()) * 1000, 1) if len(window) else None)
    away = np.ones(len(gaps), bool)
    for at in asked:
        away &= ~((starts >= at - 0.1) & (starts < at + WINDOW_SECS))
    found = [g for g in per_switch if g is not None]
    latencies = switch_latencies(run.played.images, asked)
    measured = [lat for lat in latencies if lat is not None]
    return {
        "size": size, "switches": switches, "switched": service.counters.settings_updates,
        "latency_ms_per_switch": latencies,
        "latency_ms_p50": pct(measured, 50), "latency_ms_p95": pct(measured, 95),
        "latency_goal_met": len(measured) == len(asked) and max(measured) <= LATENCY_GOAL_MS,
        "max_gap_ms_per_switch": per_switch,
        "max_gap_ms": max(found) if found else None,
        "median_switch_gap_ms": round(float(np.median(found)), 1) if found else None,
        "baseline_gap_ms_p99": round(float(np.percentile(gaps[away], 99)) * 1000, 1)
        if away.any() else None,
        "goal_met": bool(found) and max(found) <= GOAL_MS,
        "series": {"t": [round(float(t - times[0]), 3) for t in starts],
                   "gap_ms": [round(float(g) * 1000, 1) for g in gaps],
                   "switch_t": [round(at - float(times[0]), 3) for at in asked]},
    }


def _thumb(frame: Any) -> np.ndarray:
    """A 32x32 grey thumbnail of an RGB image frame (what tells two portraits apart)."""
    import cv2

    width, height = frame.size
    rgb = np.frombuffer(frame.image, np.uint8).reshape(height, width, 3)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def switch_latencies(images: list[tuple[float, Any]], asked: list[float]) -> list[float | None]:
    """Per switch, ms from its frame to the first image nearer the new face (the last
    image before the next switch) than the old one (the last image before this one)."""
    times = np.array([t for t, _ in images])
    latencies: list[float | None] = []
    for i, at in enumerate(asked):
        end = asked[i + 1] if i + 1 < len(asked) else float(times[-1]) + 1.0
        before = np.flatnonzero(times < at)
        window = np.flatnonzero((times >= at) & (times < end))
        if not len(window):
            latencies.append(None)
            continue
        new = _thumb(images[window[-1]][1])
        if not len(before):  # no face was shown yet: the first one shows the new portrait
            latencies.append(round(float(times[window[0]] - at) * 1000, 1))
            continue
        old = _thumb(images[before[-1]][1])
        if np.abs(new - old).mean() < 10:  # the picture never changed
            latencies.append(None)
            continue
        first = next(k for k in window if np.abs(_thumb(images[k][1]) - new).mean()
                     < np.abs(_thumb(images[k][1]) - old).mean())
        latencies.append(round(float(times[first] - at) * 1000, 1))
    return latencies


def plot(runs: list[dict[str, Any]], path: Any) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4))
    for run in runs:
        series = run["series"]
        ax.plot(series["t"], series["gap_ms"], lw=0.8,
                label=f"{run['size']} px (max at a switch {run['max_gap_ms']} ms)")
        for at in series["switch_t"]:
            ax.axvline(at, color="grey", lw=0.5, ls=":")
    ax.axhline(GOAL_MS, color="red", lw=0.8, ls="--", label="goal: 300 ms")
    ax.set_xlabel("session time (s); dotted: a switch asked")
    ax.set_ylabel("gap between images at the transport (ms)")
    ax.set_title("The video while the portrait is switched (ServiceUpdateSettingsFrame)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from avatar.live import AvatarAssets

    load_start = [round(v, 2) for v in os.getloadavg()]
    if args.fresh_at is not None:  # this process's first call: the service loads alone
        runs = [await run_size(args.sizes[0], args.switches, args.every, None, args.fresh_at)]
    else:
        assets = await asyncio.to_thread(AvatarAssets.load, face_workers=1)
        try:
            runs = [await run_size(size, args.switches, args.every, assets)
                    for size in args.sizes]
        finally:
            assets.close()
    top = next((r for r in runs if r["size"] == 512), runs[0])
    return {"switch_latency_ms_p95": top["latency_ms_p95"], "latency_size": top["size"],
            "fresh_at": args.fresh_at,
            "goal_ms": GOAL_MS, "latency_goal_ms": LATENCY_GOAL_MS, "load_avg_start": load_start,
            "load_avg_end": [round(v, 2) for v in os.getloadavg()], "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--switches", type=int, default=6)
    parser.add_argument("--every", type=float, default=3.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 256])
    parser.add_argument("--fresh-at", type=float, default=None,
                        help="the first call of this process instead: the service loads its "
                        "own assets, the first switch this many seconds after the start "
                        "(the first size only; portrait_switch_fresh.json)")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    if not args.no_save:
        name = "portrait_switch" if args.fresh_at is None else "portrait_switch_fresh"
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
        plot(result["runs"], RESULTS / f"{name}.png")
    summary = {**result, "runs": [{k: v for k, v in r.items() if k != "series"}
                                  for r in result["runs"]]}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
