"""Figure: bench/results/render_same_<tag>.json, the renderer against an earlier revision:
the same pixels? how much faster? (issue 48)

Issue 48 asks for the face at half its CPU "at equal picture", identical pixels
where possible, checked in one run against the renderer of today. Here one
scripted motion track (bench/face/render_same.py's `motion_track`: talking with the
jaw, smiles and blinks, slow head sway, then turns to +-25 degrees yaw with pitch
and roll, where folds and the mirrored fill come in) is rendered by the default
portrait's `PortraitRenderer` at 256 and 512 px, once with git revision REV's
packages (a worktree in cache/face_cost_trees/) and once with this tree's, each
in a fresh process on one thread, alternating three times; every frame of both is
compared.

Per size: `identical_frames` (of `frames`), `identical_pixels` (share), the
largest difference of any channel, PSNR over the track, and each side's render
time a frame (process CPU, the best of the three alternations: the least
disturbed by the machine's load) with their ratio. When every frame is identical,
the round trip, pose error, background drift and mouth figures of `bench/face/render.py`
and `bench/face/mouth_realism.py` are unchanged by construction.

    .venv/bin/python bench/face/render_same.py --against REV [--tag NAME]

Runs: ~5 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 512 px pixel-identical to 4da9798
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.revision_tree import baseline_tree, path_with

FRAMES_TALK = 200
FRAMES_TURN = 120
SIZES = (512, 256)


def motion_track(reference: np.ndarray) -> np.ndarray:
    """(FRAMES_TALK + FRAMES_TURN, 58) absolute motion frames around `reference`."""
    from avatar.motion import column_index

    n = FRAMES_TALK + FRAMES_TURN
    t = np.arange(n) / 25.0
    track = np.repeat(reference[None].astype(np.float32), n, axis=0)

    def add(name: str, values: np.ndarray) -> None:
        track[:, column_index(name)] += values.astype(np.float32)

    add("jawOpen", 0.35 * np.clip(np.sin(2 * np.pi * 3.1 * t), 0, None) ** 2)
    add("mouthSmileLeft", 0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * 0.4 * t)))
    add("mouthSmileRight", 0.3 * (0.5 + 0.5 * np.sin(2 * np.pi * 0.4 * t + 0.3)))
    add("mouthFunnel", 0.25 * np.clip(np.sin(2 * np.pi * 0.7 * t), 0, None))
    blink = (np.mod(t, 2.3) < 0.12).astype(np.float32)
    add("eyeBlinkLeft", 0.9 * blink)
    add("eyeBlinkRight", 0.9 * blink)
    add("eyeLookInLeft", 0.3 * np.clip(np.sin(2 * np.pi * 0.3 * t), 0, None))
    add("yaw", 4.0 * np.sin(2 * np.pi * 0.25 * t))
    add("pitch", 2.5 * np.sin(2 * np.pi * 0.35 * t + 1.0))
    turn = np.zeros(n)
    turn[FRAMES_TALK:] = np.linspace(-1.0, 1.0, FRAMES_TURN)
    add("yaw", 25.0 * turn)
    add("pitch", 10.0 * np.sin(6.0 * turn) * (turn != 0))
    add("roll", 8.0 * np.sin(4.0 * turn) * (turn != 0))
    return track


def render_here(size: int, out: Path) -> float:
    """Render the track with whatever `avatar` is on the path; frames to `out` (.npy).
    Returns the CPU ms a frame."""
    import time

    import cv2

    from avatar.portrait import Portrait, default_portrait_path
    from avatar.render.renderer import PortraitRenderer

    cv2.setNumThreads(1)
    portrait = Portrait.load(default_portrait_path())
    renderer = PortraitRenderer(portrait, size)
    renderer.wait_for_plate(300)
    track = motion_track(np.asarray(portrait.reference_motion, np.float32))
    for motion in track[:10]:  # lazy set-up, compiled loops
        renderer.render(motion)
    frames = np.empty((len(track), size, size, 3), np.uint8)
    cpu = time.process_time()
    for k, motion in enumerate(track):
        frames[k] = renderer.render(motion)
    ms = (time.process_time() - cpu) * 1000.0 / len(track)
    np.save(out, frames)
    return ms


def render_in(tree: Path, size: int, out: Path) -> float:
    """`render_here` in a fresh process with `tree`'s packages first on the path."""
    env = path_with(tree)
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--emit",
                             "--size", str(size), "--out", str(out)], env=env,
                            capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("MS ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"render_same in {tree} failed:\n{result.stderr[-3000:]}")
    return float(lines[-1][3:])


def compare(before: np.ndarray, after: np.ndarray) -> dict[str, Any]:
    """Frame-by-frame equality and the size of any difference."""
    diff = np.abs(before.astype(np.int16) - after.astype(np.int16))
    mse = float((diff.astype(np.float64) ** 2).mean())
    return {"frames": len(before),
            "identical_frames": int((diff.reshape(len(diff), -1).max(axis=1) == 0).sum()),
            "identical_pixels": round(float((diff.max(axis=-1) == 0).mean()), 6),
            "max_difference": int(diff.max()),
            "psnr_db": None if mse == 0 else round(10 * np.log10(255.0 ** 2 / mse), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default=None, metavar="REV")
    parser.add_argument("--tag", default="run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--emit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=512, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emit:
        print(f"MS {render_here(args.size, args.out)}", flush=True)
        return 0
    if args.against is None:
        parser.error("--against REV is required: the revision to compare with")
    try:
        tree = baseline_tree(args.against)
    except ValueError as error:
        raise SystemExit(f"{Path(__file__).name}: error: {error}") from None
    report: dict[str, Any] = {"bench": "render_same", "tag": args.tag, "against": args.against,
                              "frames_talking": FRAMES_TALK, "frames_turning": FRAMES_TURN,
                              "load_average_start": load_average()}
    with tempfile.TemporaryDirectory() as folder:
        for size in tqdm(SIZES, desc=f"against {args.against}", unit="size"):
            ms: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.repeats):
                for code, where in (("before", tree), ("after", ROOT)):
                    ms[code].append(render_in(where, size, Path(folder) / f"{code}.npy"))
            same = compare(np.load(Path(folder) / "before.npy"),
                           np.load(Path(folder) / "after.npy"))
            before_ms, after_ms = min(ms["before"]), min(ms["after"])
            report[str(size)] = same | {
                "render_ms_before": round(before_ms, 2), "render_ms_after": round(after_ms, 2),
                "render_ratio": round(after_ms / before_ms, 3),
                "render_ms_each": {k: [round(v, 2) for v in vs] for k, vs in ms.items()}}
    report["load_average_end"] = load_average()
    out = RESULTS / f"render_same_{args.tag}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
