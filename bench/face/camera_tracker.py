"""Figure: bench/results/camera_tracker.json and .png, the camera's landmarker cost,
looking for two faces on every frame against the tracker that looks for one and
surveys for a second (avatar/live/visitor_tracker.py).

A real visitor's webcam clip (benchkit/face_inputs.py, one man who moves and speaks)
at the SDKs' 320 px: each variant analyses every frame, the two alternated in rounds
in one run; the process's CPU a frame (mediapipe runs its graph in threads of its own), and
how far the tracker's visitor motion lies from the two-face landmarker's. Then the
presence scenes' passers-by (faces that move far between analyses): how many frames
each variant finds a face in.

    .venv/bin/python bench/face/camera_tracker.py [--rounds 3] [--frames 150]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from avatar.face_analysis import BLENDSHAPE_COLUMNS, FaceAnalyzer
from avatar.live.camera import decode_jpeg, visitor_face
from avatar.live.visitor_tracker import CAMERA_FACES, SURVEY_EVERY, VisitorTracker
from avatar.motion import column_index
from benchkit.bench_args import save_plot, write_figure
from benchkit.face_inputs import CAMERA_CLIP, camera_feed
from benchkit.load import load_average
from benchkit.paths import RESULTS

POSE = ("yaw", "pitch", "roll")


def run_variant(name: str, frames: list[np.ndarray], start_ms: int) -> dict[str, Any]:
    """Every frame through one variant: CPU ms per frame and each frame's visitor motion."""
    tracker = VisitorTracker() if name == "tracker" else None
    two = FaceAnalyzer(mode="video", num_faces=CAMERA_FACES) if tracker is None else None
    cpu_ms: list[float] = []
    motions: list[np.ndarray | None] = []
    try:
        for index, frame in enumerate(frames):
            stamp = start_ms + 100 * index
            started = time.process_time()
            faces = (tracker.faces(frame, stamp) if tracker is not None
                     else two.analyze_all(frame, stamp))  # type: ignore[union-attr]
            found = visitor_face(faces)
            cpu_ms.append(1000.0 * (time.process_time() - started))
            motions.append(None if found is None else found.motion)
    finally:
        if tracker is not None:
            tracker.close()
        if two is not None:
            two.close()
    return {"cpu_ms": cpu_ms, "motions": motions,
            "surveys": tracker.surveys if tracker is not None else 0}


def passers_by_frames() -> list[np.ndarray]:
    """People walking past, glancing, and standing across the room (the presence
    scenes' footage, benchkit/presence_scenes.py) at 5 frames a second as the SDK sends
    them: faces that move far between two analyses, where a tracker loses its face."""
    from benchkit import presence_scenes
    from sdk.images import encode_camera_jpeg

    scene = presence_scenes.passers_by()
    return [decode_jpeg(encode_camera_jpeg(rgb)) for t, rgb in scene.frames(5.0)
            if scene.people(t)]


def compare(tracked: list[np.ndarray | None], looked: list[np.ndarray | None]) -> dict[str, Any]:
    """How far the tracker's visitor motion lies from the two-face landmarker's."""
    pairs = [(a, b) for a, b in zip(tracked, looked, strict=True) if a is not None and b is not None]
    pose = np.array([[abs(a[column_index(n)] - b[column_index(n)]) for n in POSE] for a, b in pairs])
    shapes = np.array([[abs(a[column_index(n)] - b[column_index(n)]) for n in BLENDSHAPE_COLUMNS]
                       for a, b in pairs])
    return {"frames_both_found": len(pairs),
            "found_tracker": sum(m is not None for m in tracked),
            "found_two_faces": sum(m is not None for m in looked),
            "pose_deg_mean_abs_diff": round(float(pose.mean()), 3),
            "pose_deg_p95_abs_diff": round(float(np.percentile(pose, 95)), 3),
            "blendshape_mean_abs_diff": round(float(shapes.mean()), 4),
            "blendshape_p95_abs_diff": round(float(np.percentile(shapes, 95)), 4)}


def plot(result: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6.5, 3.5))
    for name, colour in (("two_faces", "tab:grey"), ("tracker", "tab:blue")):
        values = [r[name]["cpu_ms_mean"] for r in result["rounds"]]
        axis.plot(range(1, len(values) + 1), values, "o-", color=colour,
                  label=f"{name.replace('_', ' ')}: {result[name + '_cpu_ms_mean']} ms")
    axis.set_xticks(range(1, len(result["rounds"]) + 1))
    axis.set_xlabel("round")
    axis.set_ylabel("CPU a camera analysis (ms)")
    axis.set_ylim(bottom=0)
    axis.set_title(f"landmarker, real webcam clip at 320 px ({result['frames']} frames a round)")
    save_plot(figure, axis, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--out", type=Path, default=RESULTS / "camera_tracker.json")
    args = parser.parse_args()
    frames = [decode_jpeg(jpeg) for jpeg in camera_feed(args.frames, raw=False).jpegs]
    load_start = load_average()
    rounds: list[dict[str, Any]] = []
    last: dict[str, dict[str, Any]] = {}
    steps = tqdm(total=2 * args.rounds, desc="camera variants", file=sys.stderr)
    for round_index in range(args.rounds):
        summary: dict[str, Any] = {}
        for name in ("two_faces", "tracker"):
            last[name] = run_variant(name, frames, start_ms=round_index * 100_000)
            cpu = np.asarray(last[name]["cpu_ms"][5:])  # past each landmarker's first frames
            summary[name] = {"cpu_ms_mean": round(float(cpu.mean()), 2),
                             "cpu_ms_p50": round(float(np.median(cpu)), 2)}
            steps.update()
        rounds.append(summary)
    steps.close()
    means = {name: float(np.mean([r[name]["cpu_ms_mean"] for r in rounds]))
             for name in ("two_faces", "tracker")}
    passing = passers_by_frames()
    moving = {name: run_variant(name, passing, start_ms=10_000_000) for name in ("two_faces", "tracker")}
    result = {"bench": "camera_tracker", "clip": CAMERA_CLIP, "frames": args.frames,
              "survey_every": SURVEY_EVERY,
              "two_faces_cpu_ms_mean": round(means["two_faces"], 2),
              "tracker_cpu_ms_mean": round(means["tracker"], 2),
              "tracker_over_two_faces": round(means["tracker"] / means["two_faces"], 3),
              "surveys_a_round": last["tracker"]["surveys"],
              "motion_difference": compare(last["tracker"]["motions"], last["two_faces"]["motions"]),
              "passers_by": {"frames": len(passing), **{
                  f"found_{name}": sum(m is not None for m in run["motions"])
                  for name, run in moving.items()}, **{
                  f"cpu_ms_mean_{name}": round(float(np.mean(run["cpu_ms"][5:])), 2)
                  for name, run in moving.items()}},
              "rounds": rounds,
              "load_average_start": load_start, "load_average_end": load_average()}
    write_figure(args.out, result, plot)


if __name__ == "__main__":
    main()
