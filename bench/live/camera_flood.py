"""Figure: bench/results/camera_flood_<tag>.json, one session's camera flood against the others.

Is one session's camera flood isolated from the others? (issue 27)

An independent client sent 250 camera frames a second: the flooding session fell
to 9 fps and the OTHER session's video fell too. Since then camera and motion
messages are rate-limited per session on arrival (docs/PROTOCOL.md, Limits).

This starts the real server in its own process (bench/live/live.py's
`server_under_test`), opens a steady video session (B: a camera clip at 15 fps,
the product's defaults) and a second video session (A; both at a fixed quality, adaptation off) that first sends a
steady camera at 10 frames/s, then floods 250 frames/s, then is steady again. For
each phase it reports B's video messages and distinct images a second, B's
longest gap between video messages, A's own video rate, and how many of A's
frames the server dropped (`rate_limited` counts). The isolation figure is B's
distinct images a second during the flood over the mean of the steady phases
around it (`b_drawn_ratio`, goal >= 0.9): two video sessions at a fixed quality
load a 2-core machine fully, so the steady phases are the control.

JSON (last stdout line; also bench/results/camera_flood_TAG.json), with the
load average at start and end.

    python bench/live/camera_flood.py [--phase-secs 15] [--flood-fps 250] [--size 256] [--tag NAME]

Runs: ~2 min on its defaults (estimated for the 2-core host).
Quoted: docs/LIVE_AVATAR.md, "All day at a kiosk (`bench/live/session_churn.py`, `bench/live/camera_flood.py`)": the steady session drew 4.2 images/s during the flood against 4.0 around it (x1.05)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchkit.live.camera import camera_photo, make_camera_clip
from benchkit.live.live_client import LiveSession
from benchkit.live.live_server import server_under_test
from benchkit.paths import RESULTS

PHASES = ("steady", "flood", "steady_again")


def phase_rates(arrivals: list[tuple[float, bool]], start: float, end: float) -> dict[str, float]:
    """Video messages and distinct images a second, and the longest gap (ms), in [start, end)."""
    inside = [(at, repeated) for at, repeated in arrivals if start <= at < end]
    secs = end - start
    times = [at for at, _ in inside]
    gaps = np.diff([start, *times, end]) if times else np.array([secs])
    return {"video_per_s": round(len(inside) / secs, 1),
            "distinct_per_s": round(sum(not r for _, r in inside) / secs, 1),
            "max_gap_ms": round(float(gaps.max()) * 1000)}


async def flooding_session(url: str, size: int, jpeg: bytes, schedule: list[tuple[float, float]],
                           ) -> dict[str, Any]:
    """Session A on a raw socket: sends `jpeg` at each (fps, secs) of `schedule` in turn,
    and counts its own video messages per phase and the camera frames the server dropped."""
    from websockets.asyncio.client import connect

    from sdk.protocol import MediaKind, decode_media, encode_media

    hello = {"type": "hello", "protocol": 2, "audio_in": {"sample_rate": 16000},
             "video_out": {"size": size}, "video_in": {"kind": "camera"}}
    video_at: list[float] = []
    dropped = 0
    sent = 0
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps(hello))
        welcome = json.loads(await ws.recv())
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"session A was refused: {welcome}")

        async def receive() -> None:
            nonlocal dropped
            async for message in ws:
                if isinstance(message, bytes):
                    if decode_media(message).kind == MediaKind.VIDEO:
                        video_at.append(time.monotonic())
                elif '"rate_limited"' in message:
                    found = re.search(r"(\d+) camera", json.loads(message).get("message", ""))
                    dropped += int(found.group(1)) if found else 0

        reader = asyncio.create_task(receive())
        bounds = []
        for fps, secs in schedule:
            start = time.monotonic()
            n = 0
            while (now := time.monotonic()) < start + secs:
                if fps > 0:
                    await ws.send(encode_media(MediaKind.CAMERA, jpeg, int(now * 1e6)))
                    sent += 1
                    n += 1
                    await asyncio.sleep(max(0.0, start + n / fps - time.monotonic()))
                else:
                    await asyncio.sleep(start + secs - now)
            bounds.append((start, time.monotonic()))
        reader.cancel()
    return {"bounds": bounds, "video_at": video_at, "camera_sent": sent,
            "camera_dropped": dropped}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start the server, run B steadily and A through its three phases."""
    import cv2
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    load = [round(v, 2) for v in os.getloadavg()]
    photo, _ = camera_photo(None)
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(cv2.resize(photo, (320, 320)),
                                                    cv2.COLOR_RGB2BGR))
    assert ok
    with tempfile.TemporaryDirectory(prefix="bench_flood_") as tmp:
        clip = make_camera_clip(photo, Path(tmp))
        async with server_under_test(args) as (url, llm_pid, _costs):
            b = await LiveSession.open(url, video=True, camera_clip=clip, size=args.size,
                                       name="steady", llm_pid=llm_pid)
            try:
                await asyncio.sleep(args.settle_secs)  # B's quality settles first
                schedule = [(10.0, args.phase_secs), (args.flood_fps, args.phase_secs),
                            (10.0, args.phase_secs)]
                a = await flooding_session(url, args.size, encoded.tobytes(), schedule)
            finally:
                await b.close()
    b_arrivals = [(v.at, v.repeated) for v in b.log.video]
    b_audio = [(a.at, False) for a in b.log.audio]
    a_arrivals = [(at, False) for at in a["video_at"]]
    phases = {}
    for name, (start, end) in zip(PHASES, a["bounds"], strict=True):
        phases[name] = {"b": phase_rates(b_arrivals, start, end),
                        "b_audio_per_s": phase_rates(b_audio, start, end)["video_per_s"],
                        "a_video_per_s": phase_rates(a_arrivals, start, end)["video_per_s"]}
    flood = phases["flood"]["b"]
    steady = {key: (phases["steady"]["b"][key] + phases["steady_again"]["b"][key]) / 2
              for key in ("video_per_s", "distinct_per_s")}
    return {"tag": args.tag, "size": args.size, "flood_fps": args.flood_fps,
            "phase_secs": args.phase_secs, "phases": phases,
            "a_camera_sent": a["camera_sent"], "a_camera_dropped": a["camera_dropped"],
            "b_video_ratio": round(flood["video_per_s"] / max(steady["video_per_s"], 1e-9), 2),
            "b_drawn_ratio": round(flood["distinct_per_s"] / max(steady["distinct_per_s"], 1e-9),
                                   2),
            "goal_b_drawn_ratio": 0.9,
            "load_avg_start": load, "load_avg_end": [round(v, 2) for v in os.getloadavg()]}


def main() -> None:
    from pipelines.face.face_params import FacePacing

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phase-secs", type=float, default=15.0)
    parser.add_argument("--settle-secs", type=float, default=8.0)
    parser.add_argument("--flood-fps", type=float, default=250.0)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--tag", default="nov23")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    # what bench/live/live.py's server_under_test reads: the product's defaults, two sessions
    args.in_process = False
    args.model, args.max_tokens, args.llm_threads, args.llm_batch_threads = \
        "qwen2.5-0.5b", 96, 1, 1
    args.sessions, args.first_phrase_words = 2, None
    args.avatar_nice = FacePacing().worker_nice
    # two video sessions at a fixed quality: on a 2-core machine the live capacity
    # admits one (rightly), and a session that adapts would hide the flood's cost
    args.no_adapt = True
    summary = asyncio.run(measure(args))
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"camera_flood_{args.tag}.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
