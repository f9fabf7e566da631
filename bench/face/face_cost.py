"""Figure: bench/results/face_cost_<tag>.json and .png, one live face's CPU per frame, stage by stage.

Issue 48 starts here: before halving the face's cost, know where a frame's
milliseconds go. One session (the project's `AvatarSession` with a `LocalFace`: the
real generator, the bundled portrait, the renderer) draws `--frames` frames of a
spoken reply (a voiced tone with syllables, so the jaw moves), unpaced, on one
thread (torch and OpenCV held to one, as a face worker runs), with the visitor's
camera analysed at the server's default rate (`[avatar] camera_fps`, 10 a second:
a real visitor's webcam clip, benchkit/face_inputs.py, each analysis its next frame,
decoded and measured by mediapipe; still frames skipped where the code does that). Each stage is timed
where it is one call (benchkit/face/stage_timer.py; a nested stage is booked to the
inner one only, so the stages add up):

- block: audio features, the generator's block step, listening cues and gaze,
  the motion filter, and the session's own glue (shared by the block's 5 frames);
- render: gaze painted into the portrait, expression amplitudes, mesh vertices
  (pose and shape), rasterising the inverse map, the warp (`cv2.remap`), the
  mirrored fill, compositing over the background plate, eyelids, the mouth (teeth
  anchors and painting), and the renderer's own glue;
- encode: JPEG 80 (the websocket) or VP8 (WebRTC: the face's own encoder);
- camera analysis, spread over the frames at its rate, on what each transport
  really hands the face: over the websocket a JPEG as the SDKs and the kiosk page
  send it (320 px wide), over WebRTC a raw 640x480 RGB frame (shrunk to the
  analysis width first, as pipelines/face/camera_input.py does).

Per size (256, 512) and transport (websocket: JPEG; webrtc: VP8, no JPEG):
`ms_per_frame` is the process's CPU per frame (every thread), and `stages_ms`
the breakdown; `unattributed_ms` is what no stage caught. The issue's measures
are `ms_per_frame_512` and `ms_per_frame_256` (websocket, camera on). Not yet
here: the hand-over to the pipeline's process (bench/live/face_worker.py measures it,
`parent_cpu_ms_per_frame`).

Before and after, in one run (issue 48 asks for today's renderer beside the new
one): `--against REV` checks REV out into a git worktree (cache/face_cost_trees/)
and measures every variant twice, alternating, each in a fresh process: once
with REV's packages on the path, once with this tree's (benchkit/revision_tree.py). The JSON then holds both,
and `ratio_512` / `ratio_256` (after / before).

    .venv/bin/python bench/face/face_cost.py [--frames 250] [--tag NAME] [--against REV]
    .venv/bin/python bench/face/face_cost.py --against-flat-mouth --sizes 512 --transports websocket

`--against-flat-mouth` does the same with this tree twice: once as it is and once with
the mouth as it was before lips that round (`--flat-mouth`: no portrait's lips turned
out, the opening's mask at 1x), so other work in the tree is on both sides.

Runs: ~5 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": x0.67 CPU a frame at 512 px against 4da9798 (11.7 against 17.5 ms), x0.55 at 256 px
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import cv2
import numpy as np
from tqdm import tqdm

from benchkit.face.stage_timer import StageTimer
from benchkit.face_inputs import RATE, CameraFeed, camera_feed, reply_tone
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.revision_tree import baseline_tree, path_with

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
            (AvatarSession, "analyze_camera_jpeg", "camera analysis"),
            (AvatarSession, "analyze_camera_rgb", "camera analysis")):
        timer.patch(owner, name, stage)
    renderer_module.cv2 = _TimedCv2(timer)  # type: ignore[assignment]


def measure(size: int, transport: str, frames: int, timer: StageTimer, checkpoint: Any,
            portrait: Any, camera: CameraFeed) -> dict[str, Any]:
    """One session at `size` over `transport`: CPU per frame and its stages."""
    from avatar.live import AvatarSession, SessionOptions
    from avatar.live.camera import raw_to_rgb
    from avatar.live.face import LocalFace
    from avatar.live.video_codec import VideoRequest

    webrtc = transport == "webrtc"
    raws = [raw.tobytes() for raw in camera.raws] if webrtc else []
    analysed = 0

    def analyse(stamp_ms: int) -> None:
        nonlocal analysed  # the clip's next frame each time, round and round
        if webrtc:  # as pipelines/face/camera_input.py hands a transport's raw frame over
            session.analyze_camera_rgb(raw_to_rgb(raws[analysed % len(raws)], (640, 480), "RGB"),
                                       stamp_ms)
        else:
            session.analyze_camera_jpeg(camera.jpegs[analysed % len(camera.jpegs)], stamp_ms)
        analysed += 1

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
                    analyse(int(drawn * 1000 / FPS))
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
    if "runs_before" in report:  # before and after side by side
        runs = [run for pair in zip(report["runs_before"], runs, strict=True) for run in pair]
    stages = sorted({stage for run in runs for stage in run["stages_ms"]})
    fig, ax = plt.subplots(figsize=(10 + 0.8 * max(len(runs) - 4, 0), 5.5))
    labels = [f"{run['size']} px\n{run['transport']}"
              + (f"\n{run['code']}" if "code" in run else "") for run in runs]
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
    ax.set_title(f"One live face's cost per frame, by stage (load "
                 f"{report['load_average_start']:.1f} -> {report['load_average_end']:.1f})",
                 fontsize=10)
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
    parser.add_argument("--against", default=None, metavar="REV",
                        help="also measure git revision REV, alternating, in one run")
    parser.add_argument("--against-flat-mouth", action="store_true",
                        help="also measure this tree with --flat-mouth, alternating, in one run")
    parser.add_argument("--flat-mouth", action="store_true",
                        help="the mouth before lips that round: flat lips, 1x opening mask")
    parser.add_argument("--emit", action="store_true",
                        help=argparse.SUPPRESS)  # one process of --against: print runs only
    args = parser.parse_args()
    if args.frames < 25:
        parser.error("--frames must be >= 25")
    if args.flat_mouth:
        flat_mouth()
    if args.against is not None or args.against_flat_mouth:
        return compare(args)
    runs = measure_here(args)
    if args.emit:
        print("RUNS " + json.dumps(runs), flush=True)
        return 0
    save(summarise(args, runs, None), args.tag)
    return 0


def measure_here(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every asked variant, in this process, with whatever `avatar` is on the path."""
    import torch

    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
    from avatar.portrait import Portrait, default_portrait_path

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    timer = StageTimer()
    instrument(timer)
    checkpoint = load_generator(DEFAULT_CHECKPOINT)
    portrait = Portrait.load(default_portrait_path())
    camera = camera_feed(raw="webrtc" in args.transports)
    runs = []
    for size in args.sizes:
        for transport in args.transports:
            load = load_average()
            run = measure(size, transport, args.frames, timer, checkpoint, portrait, camera)
            runs.append(run | {"load_average_start": load, "load_average_end": load_average()})
    return runs


def summarise(args: argparse.Namespace, runs: list[dict[str, Any]],
              before: list[dict[str, Any]] | None) -> dict[str, Any]:
    """The report: every run, the issue's measures, and with --against the ratios."""
    report: dict[str, Any] = {
        "bench": "face_cost", "tag": args.tag, "frames": args.frames,
        "camera_fps": CAMERA_FPS, "against": args.against,
        "load_average_start": runs[0]["load_average_start"],
        "load_average_end": runs[-1]["load_average_end"], "runs": runs}
    for run in runs:
        if run["transport"] == "websocket":
            report[f"ms_per_frame_{run['size']}"] = run["ms_per_frame"]
    if before is not None:
        report["runs_before"] = before
        report["load_average_start"] = before[0]["load_average_start"]
        for old, new in zip(before, runs, strict=True):
            key = f"{new['size']}_{new['transport']}"
            report[f"ratio_{key}"] = round(new["ms_per_frame"] / old["ms_per_frame"], 3)
            if new["transport"] == "websocket":
                report[f"ms_per_frame_{new['size']}_before"] = old["ms_per_frame"]
                report[f"ratio_{new['size']}"] = report[f"ratio_{key}"]
    return report


def save(report: dict[str, Any], tag: str) -> None:
    out = RESULTS / f"face_cost_{tag}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(report, out.with_suffix(".png"))
    report["plot"] = str(out.with_suffix(".png").relative_to(ROOT))
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if not k.startswith("runs")}
                     | {"stages": {f"{r['size']}_{r['transport']}": r["stages_ms"]
                                   for r in report["runs"]}}))


def flat_mouth() -> None:
    """Every renderer made after this draws the mouth as before lips that round: no
    portrait's lips are turned out (as on a portrait that cannot round) and the
    opening's mask is drawn at the frame's own resolution."""
    from avatar.render import mouth, renderer

    mouth.SUPERSAMPLE = 1
    renderer.rounding_blockers = lambda image, landmarks: ["the bench asked for the flat mouth"]


def run_variant(tree: Path, args: argparse.Namespace, size: int,
                transport: str, flat: bool = False) -> dict[str, Any]:
    """One variant in a fresh process, with `tree`'s packages first on the path (this
    script stays this tree's, so both sides draw the same frames the same way)."""
    env = path_with(tree)
    command = [sys.executable, str(Path(__file__).resolve()), "--emit", "--frames",
               str(args.frames), "--sizes", str(size), "--transports", transport]
    if flat:
        command.append("--flat-mouth")
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RUNS ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"face_cost in {tree} failed ({result.returncode}):\n"
                           f"{result.stderr[-3000:]}")
    runs: list[dict[str, Any]] = json.loads(lines[-1][5:])
    return runs[0] | {"code": "before" if tree != ROOT or flat else "after"}


def compare(args: argparse.Namespace) -> int:
    """--against (or --against-flat-mouth): every variant before and after, alternating,
    in one run."""
    if args.against_flat_mouth:
        tree, flat, label = ROOT, True, "the flat mouth"
        args.against = "flat mouth (this tree, --flat-mouth)"
    else:
        try:
            tree, flat, label = baseline_tree(args.against), False, args.against
        except ValueError as error:
            raise SystemExit(f"{Path(__file__).name}: error: {error}") from None
    before, after = [], []
    variants = [(size, transport) for size in args.sizes for transport in args.transports]
    for size, transport in tqdm(variants, desc=f"against {label}", unit="variant"):
        before.append(run_variant(tree, args, size, transport, flat))
        after.append(run_variant(ROOT, args, size, transport))
    save(summarise(args, after, before), args.tag)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
