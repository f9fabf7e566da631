"""Figure: bench/results/webrtc_media_clock.json and .png: do the face's video and
voice keep one media clock over pipecat's WebRTC transport? Before and after, in
one run.

An outside WebRTC client (an aiortc peer, no browser, on this machine) connects to
`avatar-forcing serve` at `/api/offer` as the kiosk page does, sends a microphone
(a question in the bundled piper voice) and a camera (a real face, 320x240 at 10/s),
and records every frame the bot sends with its RTP time and its arrival time. Per
5 s window, each stream's offset is arrival minus media time (10th percentile,
relative to the first window): a stream whose RTP clock follows its media stays
flat; pipecat's stock video clock (+1/30 s per image) drifts. The two streams'
difference is what a receiver that trusts the timestamps (every WebRTC receiver's
own A/V sync) shows as the mouth ahead of (negative) or behind the voice.

The same conversation runs against a server from another checkout (`--before`, a
git ref checked out into a temporary worktree: default the commit before the media
clock) and against this one, in that order, on one quiet machine.

    .venv/bin/python bench/webrtc/webrtc_media_clock.py [--seconds 45] [--before REF]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.browser_media import webcam_clip
from benchkit.kiosk_server import ROOT, free_port, product_server
from benchkit.paths import RESULTS
from benchkit.webrtc_peer import CameraTrack, clock_offsets, connect, spoken_48k

WINDOW_SECS = 5.0
QUESTION_AT = 6.0
QUESTION = "What time do you open on Sunday?"


def window_offsets_ms(samples: list[tuple[float, float]]) -> list[float]:
    """Per window: the stream's clock against the wall clock (benchkit), in ms."""
    return [round(float(v) * 1000, 1) for v in clock_offsets(samples, WINDOW_SECS)]


async def conversation(root: Path, seconds: float) -> dict[str, Any]:
    camera = CameraTrack(webcam_clip(2.0, width=320, height=240, fps=10.0), fps=10.0)
    question = spoken_48k(QUESTION)  # before connecting: piper would block this peer's loop
    with product_server(free_port(), root=root) as (http, _pid):
        peer = await connect(http, camera, keep_every=0,
                             direct_offer={"video": True, "size": 512, "camera": True,
                                           "client": "bench-media-clock"})
        try:
            await asyncio.sleep(QUESTION_AT)
            peer.mic.say(question)
            await asyncio.sleep(seconds - QUESTION_AT)
        finally:
            await peer.close()
    received = peer.received
    video, audio = received.video_pts, received.audio_pts
    video_offsets, audio_offsets = window_offsets_ms(video), window_offsets_ms(audio)
    arrivals = np.array([a for a, _ in video])
    media = np.array([m for _, m in video])
    together = [round(v - a, 1) for v, a in zip(video_offsets, audio_offsets, strict=False)]
    return {
        "video_images_per_s": round((len(video) - 1) / (arrivals[-1] - arrivals[0]), 2),
        "video_stamps_per_media_s": round((len(video) - 1) / (media[-1] - media[0]), 2),
        "video_offset_ms": video_offsets,
        "audio_offset_ms": audio_offsets,
        "video_minus_audio_ms": together,
        "video_minus_audio_ms_max_abs": max(abs(x) for x in together),
    }


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 3.5))
    for name, style in (("before", "--"), ("after", "-")):
        run = result[name]
        x = np.arange(len(run["video_minus_audio_ms"])) * WINDOW_SECS
        axis.plot(x, run["video_minus_audio_ms"], style, label=f"{name}: video minus audio")
    axis.axhline(40, color="grey", lw=0.5)
    axis.axhline(-40, color="grey", lw=0.5)
    axis.set_xlabel("s into the conversation")
    axis.set_ylabel("RTP time against arrival, ms")
    axis.legend()
    figure.suptitle("aiortc receiver: the video's RTP clock against the audio's")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    worktree = Path(tempfile.mkdtemp(prefix="media-clock-before-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree),
                    args.before], check=True, capture_output=True)
    try:
        before = asyncio.run(conversation(worktree, args.seconds))
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)],
                       check=False, capture_output=True)
    after = asyncio.run(conversation(ROOT, args.seconds))
    result = {"before": before, "after": after, "before_ref": args.before,
              "seconds": args.seconds, "window_secs": WINDOW_SECS,
              "load_avg_before": [round(x, 2) for x in load_before],
              "load_avg_end": [round(x, 2) for x in os.getloadavg()],
              "cpu_count": os.cpu_count()}
    plot(result, args.out.with_suffix(".png"))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=45.0)
    parser.add_argument("--before", default="afd0aeb",
                        help="git ref of the server to compare against (default: before issue 45)")
    parser.add_argument("--out", type=Path, default=RESULTS / "webrtc_media_clock.json")
    arguments = parser.parse_args()
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = main(arguments)
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
