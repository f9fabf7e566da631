"""Figure: bench/results/video_service.json and video_service.png: what one
`AvatarForcingVideoService` costs and delivers inside a pipecat pipeline.

The service runs as a pipecat developer runs it: `Pipeline([service, transport])`
with pipecat's own output path (`BaseOutputTransport`, video_out_is_live, audio
written at real-time pace: benchkit/pipecat_sink.py), fed a spoken reply by the
bundled piper voice as `TTSAudioRawFrame`s and, with the camera on, a real face
(Grace Hopper animated by our renderer) as `UserImageRawFrame`s at 15 fps, as
SmallWebRTC delivers a webcam. Variants, in one run, each on the same reply:

- 512 px with the camera, 256 px with the camera, 512 px without it.

Per variant:
- start_secs: StartFrame to the first image (an untimed warm-up session runs
  first and loads the generator, the portrait and measures the machine; the
  variants share them, as the sessions of one process do);
- images_per_sec and distinct_images_per_sec written by the transport, gap_ms_p95
  and gap_ms_max between written images;
- cpu_percent: this process's CPU over the variant's wall time, % of one core
  (the service, pipecat and the transport; nothing else runs in the process);
- lip_sync_lag_ms and lip_sync_r: jawOpen re-measured by the landmarker on the
  written images against the written audio's RMS, both on the transport's write
  clock in 40 ms slots; the lag (-400..+400 ms) that correlates best (positive:
  the mouth follows the sound) and its correlation;
- camera_analysed: camera frames the service analysed.

    .venv/bin/python bench/live/video_service.py [--secs-idle 3]

Runs: ~2 min on its defaults (estimated for the 2-core host).
Quoted: docs/PIPECAT.md, "CPU cost per session": 512 px with the camera at 10/s: 48 % of one core, 25.0 images/s, lip-sync lag +40 ms
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import time
from typing import Any

import numpy as np

from benchkit.paths import RESULTS
from benchkit.pipecat_sink import FaceRun, lip_sync, start_face_run
from benchkit.stats import pct

REPLY = ("Hello there! The garden centre is at the back of the store, past the paint "
         "aisle. It opens at nine every morning, and on Sundays at ten.")
OUT_RATE = 24000
VARIANTS = [("512px-camera", 512, True), ("256px-camera", 256, True), ("512px-no-camera", 512, False)]


async def run_variant(name: str, size: int, camera: bool, reply: tuple[np.ndarray, int],
                      webcam: list[np.ndarray], idle_secs: float) -> dict[str, Any]:
    """One session: idle, the reply while the camera streams, a tail; measured."""
    from pipecat.frames.frames import UserImageRawFrame

    from pipelines import AvatarForcingVideoService

    settings = AvatarForcingVideoService.Settings(size=size, adapt_video=False,
                                                  camera_fps=10.0 if camera else 0.0)
    service = AvatarForcingVideoService(settings=settings)
    started = time.monotonic()
    run: FaceRun = await start_face_run(service, out_rate=OUT_RATE, size=size)
    start_secs = time.monotonic() - started
    cpu0, wall0 = time.process_time(), time.monotonic()
    pcm, rate = reply
    length = idle_secs + len(pcm) / rate + 1.5

    async def stream_camera() -> None:
        index = 0
        while time.monotonic() - wall0 < length:
            rgb = webcam[index % len(webcam)]
            await run.send(UserImageRawFrame(image=rgb.tobytes(), size=(rgb.shape[1], rgb.shape[0]),
                                             format="RGB", user_id="visitor"))
            index += 1
            await asyncio.sleep(1 / 15)

    camera_task = asyncio.create_task(stream_camera()) if camera else None
    await asyncio.sleep(idle_secs)
    spoken_at = time.monotonic()
    await run.speak(pcm, rate)
    await asyncio.sleep(max(0.0, wall0 + length - time.monotonic()))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    if camera_task is not None:
        await camera_task
    await run.end()

    images = [(t, f) for t, f in run.played.images if wall0 <= t <= wall0 + wall]
    times = np.array([t for t, _ in images])
    gaps = np.diff(times) * 1000.0
    distinct = len({hashlib.blake2b(f.image, digest_size=8).digest() for _, f in images})
    lag_ms, r = lip_sync([(t, f) for t, f in images if t >= spoken_at - 0.5], run.played)
    return {
        "variant": name, "size": size, "camera": camera,
        "start_secs": round(start_secs, 2),
        "images_per_sec": round(len(images) / wall, 2),
        "distinct_images_per_sec": round(distinct / wall, 2),
        "gap_ms_p95": pct(list(gaps), 95), "gap_ms_max": round(float(gaps.max()), 1),
        "cpu_percent": round(100.0 * cpu / wall, 1),
        "lip_sync_lag_ms": lag_ms, "lip_sync_r": r,
        "camera_analysed": service.counters.camera_analysed,
        "frames_repeated_late": service.counters.frames_repeated_late,
    }


def plot(rows: list[dict[str, Any]], path: os.PathLike[str]) -> None:
    """CPU, distinct images/s and lip-sync lag per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [row["variant"] for row in rows]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    for ax, key, title in zip(axes, ("cpu_percent", "distinct_images_per_sec", "lip_sync_lag_ms"),
                              ("process CPU, % of one core", "distinct images / s",
                               "lip-sync lag (ms, + = mouth late)"), strict=True):
        values = [row[key] if row[key] is not None else 0 for row in rows]
        ax.bar(names, values, color=["#4c72b0", "#55a868", "#c44e52"])
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
        for i, value in enumerate(values):
            ax.annotate(f"{value:g}", (i, value), ha="center", va="bottom", fontsize=8)
    fig.suptitle("AvatarForcingVideoService in a pipecat pipeline (one session, this machine)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def measure(idle_secs: float) -> dict[str, Any]:
    from benchkit.browser_media import webcam_clip
    from benchkit.speech import load_test_voice, piper_int16

    voice = load_test_voice()
    reply = (piper_int16(voice, REPLY), voice.config.sample_rate)
    webcam = webcam_clip(2.0, width=640, height=480, fps=15.0)
    # the first session of a process pays torch's, mediapipe's and the allocator's
    # warm-up (100 % of a core against 50 % for the same variant run again): one
    # untimed session first, so every variant is measured warm
    await run_variant("warm-up", 512, True, reply, webcam, 1.0)
    rows = []
    for name, size, camera in VARIANTS:
        rows.append(await run_variant(name, size, camera, reply, webcam, idle_secs))
        print(json.dumps(rows[-1]), flush=True)
    return {"bench": "video_service", "load_average": [round(x, 2) for x in os.getloadavg()],
            "cpu_count": os.cpu_count(), "reply_secs": round(len(reply[0]) / reply[1], 2),
            "variants": rows}


def main() -> None:
    """Run every variant, write the JSON and the plot, print the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secs-idle", type=float, default=3.0)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    result = asyncio.run(measure(args.secs_idle))
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "video_service.json").write_text(json.dumps(result, indent=2) + "\n")
    plot(result["variants"], RESULTS / "video_service.png")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
