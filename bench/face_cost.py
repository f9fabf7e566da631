"""Figure: bench/results/face_cost_<tag>.json and .png, one live face's CPU per frame, stage by stage.

Issue 48 starts here: before halving the face's cost, know where a frame's
milliseconds go. One session (the project's `AvatarSession` with a `LocalFace`: the
real generator, the bundled portrait, the renderer) draws `--frames` frames of a
spoken reply (a voiced tone with syllables, so the jaw moves), unpaced, on one
thread (torch and OpenCV held to one, as a face worker runs), with the visitor's
camera analysed at the server's default rate (`[avatar] camera_fps`, 10 a second:
a real face photo as JPEG, decoded and measured by mediapipe). Each stage is timed
where it is one call (benchkit/stage_timer.py; a nested stage is booked to the
inner one only, so the stages add up):

- block: audio features, the generator's block step, listening cues and gaze,
  the motion filter, and the session's own glue (shared by the block's 5 frames);
- render: gaze painted into the portrait, expression amplitudes, mesh vertices
  (pose and shape), rasterising the inverse map, the warp (`cv2.remap`), the
  mirrored fill, compositing over the background plate, eyelids, the mouth (teeth
  anchors and painting), and the renderer's own glue;
- encode: JPEG 80 (the websocket) or VP8 (WebRTC: the face's own encoder);
- camera analysis, spread over the frames at its rate.

Per size (256, 512) and transport (websocket: JPEG; webrtc: VP8, no JPEG):
`ms_per_frame` is the process's CPU per frame (every thread), and `stages_ms`
the breakdown; `unattributed_ms` is what no stage caught. The issue's measures
are `ms_per_frame_512` and `ms_per_frame_256` (websocket, camera on). Not yet
here: the hand-over to the pipeline's process (bench/face_worker.py measures it,
`parent_cpu_ms_per_frame`).

    .venv/bin/python bench/face_cost.py [--frames 250] [--tag NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import cv2
import numpy as np
from tqdm import tqdm

from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.stage_timer import StageTimer

RATE = 22050
CAMERA_FPS = 10.0
FPS = 25.0


class _TimedCv2:
    """The renderer's `cv2` with `remap` timed (other modules keep the plain one)."""

    def __init__(self, timer: StageTimer) -> None:
        self._remap = timer.wrap("render: warp (remap)", cv2.remap)

    def __getattr__(self, name: str) -> Any:
        return self._remap if name == "remap" else getattr(cv2, name)


def instrument(timer: StageTimer) -> None:
    """Wrap every stage's callable (classes and modules: every session made after)."""
    import avatar.live.face as face_module
    import avatar.render.renderer as renderer_module
    from avatar.audio_features import CausalAudioFeaturizer
    from avatar.generator.streaming import StreamingGenerator
    from avatar.live.face import LocalFace
    from avatar.live.gaze import GazeFollower
    from avatar.live.listening import ListeningCues
    from avatar.live.session import AvatarSession
    from avatar.live.video_codec import Vp8Stream
    from avatar.motion_filter import MotionFilter
    from avatar.render.eyes import EyelidPainter, GazePainter
    from avatar.render.mesh import BackwardMapper
    from avatar.render.mirror import MirrorFill
    from avatar.render.mouth import MouthPainter

    renderer_class = renderer_module.PortraitRenderer
    for owner, name, stage in (
            (AvatarSession, "next_block", "block: session glue"),
            (CausalAudioFeaturizer, "push", "block: audio features"),
            (StreamingGenerator, "step_window", "block: generator"),
            (ListeningCues, "offsets", "block: listening cues and gaze"),
            (GazeFollower, "offsets", "block: listening cues and gaze"),
            (MotionFilter, "__call__", "block: motion filter"),
            (AvatarSession, "render", "frame: session glue"),
            (LocalFace, "draw", "frame: draw glue (resize)"),
            (renderer_class, "render", "render: renderer glue"),
            (GazePainter, "paint", "render: gaze"),
            (renderer_class, "amplitudes", "render: expression amplitudes"),
            (renderer_class, "vertices", "render: mesh vertices (shape and pose)"),
            (BackwardMapper, "__call__", "render: rasterise inverse map"),
            (MirrorFill, "blend", "render: mirrored fill"),
            (renderer_module, "compose", "render: layers (compose)"),
            (EyelidPainter, "paint", "render: eyelids"),
            (renderer_class, "mouth_anchors", "render: mouth"),
            (MouthPainter, "paint", "render: mouth"),
            (face_module, "encode_jpeg", "encode: JPEG 80"),
            (Vp8Stream, "encode", "encode: VP8"),
            (AvatarSession, "analyze_camera_jpeg", "camera analysis")):
        timer.patch(owner, name, stage)
    renderer_module.cv2 = _TimedCv2(timer)  # type: ignore[assignment]


def reply_tone(secs: float) -> np.ndarray:
    """A voiced-like tone with a syllable envelope (the jaw moves with it)."""
    t = np.arange(int(secs * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * 160 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
            ).astype(np.float32)


def camera_jpeg() -> bytes:
    """A real face as a client's camera sends it (640 px wide, JPEG)."""
    from benchkit.camera import camera_photo
    from sdk.images import encode_jpeg

    return encode_jpeg(camera_photo(None)[0], width=640, quality=80, bgr=False)


def measure(size: int, transport: str, frames: int, timer: StageTimer, checkpoint: Any,
            portrait: Any, jpeg: bytes) -> dict[str, Any]:
    """One session at `size` over `transport`: CPU per frame and its stages."""
    from avatar.live import AvatarSession, SessionOptions
    from avatar.live.face import LocalFace
    from avatar.live.video_codec import VideoRequest

    webrtc = transport == "webrtc"
    face = LocalFace(checkpoint)
    face.prime(portrait, sizes=(size,))  # the background plate made before the clock runs
    session = AvatarSession(portrait, None, output_rate=RATE, face=face,
                            options=SessionOptions(size=size, jpeg_quality=0 if webrtc else 80))
    request = VideoRequest() if webrtc else None
    session.push_avatar_audio(reply_tone((frames + 60) / FPS + 2.0), RATE)
    drawn = 0

    def draw(count: int, bar: Any = None) -> None:
        nonlocal drawn
        done = 0
        while done < count:
            for planned in session.next_block():
                if int(drawn * CAMERA_FPS / FPS) != int((drawn - 1) * CAMERA_FPS / FPS):
                    session.analyze_camera_jpeg(jpeg, int(drawn * 1000 / FPS))
                session.render(planned, video=request)
                drawn += 1
                done += 1
                if bar is not None:
                    bar.update()

    try:
        draw(50)  # warm-up: lazy set-up, the first keyframe, the landmarker
        timer.reset()
        cpu, wall = time.process_time(), time.perf_counter()
        with tqdm(total=frames, desc=f"{size} px, {transport}", unit="frame") as bar:
            draw(frames, bar)
        count = bar.n
        cpu_ms = (time.process_time() - cpu) * 1000.0 / count
        wall_ms = (time.perf_counter() - wall) * 1000.0 / count
    finally:
        session.close()
    stages = dict(sorted(timer.per_frame_ms(count).items()))
    return {"size": size, "transport": transport, "frames": count,
            "ms_per_frame": round(cpu_ms, 2), "wall_ms_per_frame": round(wall_ms, 2),
            "stages_ms": stages,
            "unattributed_ms": round(wall_ms - sum(stages.values()), 2),
            "camera_analyses_per_frame": CAMERA_FPS / FPS}


def plot(report: dict[str, Any], out: Path) -> None:
    """A stacked bar per size and transport: where a frame's milliseconds go."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = report["runs"]
    stages = sorted({stage for run in runs for stage in run["stages_ms"]})
    fig, ax = plt.subplots(figsize=(10, 5.5))
    labels = [f"{run['size']} px\n{run['transport']}" for run in runs]
    bottom = np.zeros(len(runs))
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, len(stages)))
    for stage, color in zip(stages, colors, strict=True):
        values = np.array([run["stages_ms"].get(stage, 0.0) for run in runs])
        ax.bar(labels, values, bottom=bottom, label=stage, color=color)
        bottom += values
    for index, run in enumerate(runs):
        ax.text(index, bottom[index] + 0.2, f"{run['ms_per_frame']} ms CPU", ha="center",
                fontsize=8)
    ax.set_ylabel("ms per frame (one thread)")
    ax.set_title(f"One live face's cost per frame, by stage (load {report['load_average_start']}"
                 f" -> {report['load_average_end']})", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--transports", nargs="+", default=["websocket", "webrtc"],
                        choices=["websocket", "webrtc"])
    parser.add_argument("--tag", default="run")
    args = parser.parse_args()
    if args.frames < 25:
        parser.error("--frames must be >= 25")
    import torch

    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
    from avatar.portrait import Portrait, default_portrait_path

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    timer = StageTimer()
    instrument(timer)
    checkpoint = load_generator(DEFAULT_CHECKPOINT)
    portrait = Portrait.load(default_portrait_path())
    jpeg = camera_jpeg()
    start = load_average()
    runs = [measure(size, transport, args.frames, timer, checkpoint, portrait, jpeg)
            for size in args.sizes for transport in args.transports]
    report: dict[str, Any] = {"bench": "face_cost", "tag": args.tag, "frames": args.frames,
                              "camera_fps": CAMERA_FPS, "load_average_start": start,
                              "load_average_end": load_average(), "runs": runs}
    for run in runs:
        if run["transport"] == "websocket":
            report[f"ms_per_frame_{run['size']}"] = run["ms_per_frame"]
    out = RESULTS / f"face_cost_{args.tag}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(report, out.with_suffix(".png"))
    report["plot"] = str(out.with_suffix(".png").relative_to(ROOT))
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}
                     | {"stages": {f"{r['size']}_{r['transport']}": r["stages_ms"]
                                   for r in runs}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
