"""Figure: bench/results/portrait_switch.json and .png: how long the video stops while
`AvatarForcingVideoService` switches its portrait on pipecat's `ServiceUpdateSettingsFrame`.

The service runs as a pipecat developer runs it (`Pipeline([service, transport])`
with pipecat's own output path, benchkit/pipecat_sink.py; the face in its worker
process, as in every app), idles, and is switched `--switches` times between the
bundled portrait and another photo (an image path: loaded and analysed on each
switch, as an app's upload would be), `--every` seconds apart. The goal (issue 46):
no gap over 300 ms between images at the transport.

JSON (last stdout line): per size, the largest gap between images around each switch
(ms), their max and median, the gap between images away from switches (the
baseline), and the load average before and after. Plot: the gaps over time, one
line per size, switches marked.

    .venv/bin/python bench/portrait_switch.py [--switches 6] [--every 3] [--sizes 512 256]
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

OTHER = ROOT / "examples" / "voice_assistant" / "portraits" / "astronaut.jpg"
OUT_RATE = 24000
GOAL_MS = 300.0
#: a switch's window: from its request to this long after
WINDOW_SECS = 2.0


async def run_size(size: int, switches: int, every: float, assets: Any) -> dict[str, Any]:
    """One session at `size` px, switched `switches` times; its gaps."""
    from pipecat.frames.frames import ServiceUpdateSettingsFrame

    from pipelines import AvatarForcingVideoService

    settings = AvatarForcingVideoService.Settings(size=size, adapt_video=False, camera_fps=0.0)
    service = AvatarForcingVideoService(settings=settings, assets=assets)
    run = await start_face_run(service, out_rate=OUT_RATE, size=size)
    await asyncio.sleep(2.0)
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
    return {
        "size": size, "switches": switches, "switched": service.counters["settings_updates"],
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
    assets = await asyncio.to_thread(AvatarAssets.load, face_workers=1)
    try:
        runs = [await run_size(size, args.switches, args.every, assets) for size in args.sizes]
    finally:
        assets.close()
    return {"goal_ms": GOAL_MS, "load_avg_start": load_start,
            "load_avg_end": [round(v, 2) for v in os.getloadavg()], "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--switches", type=int, default=6)
    parser.add_argument("--every", type=float, default=3.0)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 256])
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    if not args.no_save:
        (RESULTS / "portrait_switch.json").write_text(json.dumps(result, indent=1) + "\n")
        plot(result["runs"], RESULTS / "portrait_switch.png")
    summary = {**result, "runs": [{k: v for k, v in r.items() if k != "series"}
                                  for r in result["runs"]]}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
