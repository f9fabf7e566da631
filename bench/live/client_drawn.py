"""Figure: bench/results/client_drawn.json, a face session drawn by its client against one
drawn by the server: server CPU, bytes on the wire, sessions a box serves (issue 76).

One process holds N speaking sessions (the bundled portrait, the shipped generator, a
voiced tone with syllables as the reply: benchkit/face_inputs.py), as one face worker
would with torch and OpenCV on one thread. Two arms, interleaved round by round:

- `motion`: the session's face draws nothing (pipelines/server/client_drawn_face.py);
  each frame is its generator's motion solved into the client's motion frame
  (`BrowserFace.motion_frame`) and written as the kind-6 message the wire carries;
- `motion_batched`: the `motion` arm as a face worker holding several such sessions runs
  them: a thread each, blocks on the product's 0.2 s step grid (real time), the
  generator steps that fall due together run as one batched pass (`StepBatcher`, on by
  default in a worker with several faces);
- `pixels`: the server's face as today: each frame rendered at 512 px and encoded as a
  JPEG (quality 80), written as the kind-2 message.

Each round runs `--secs` of media per session as fast as the CPU allows (not paced): the
process CPU over the media seconds it made is what one session costs at full rate, in
cores. Nothing else runs in the process; the camera's analysis (the server's, when the
page sends JPEGs of the visitor) is measured apart, per analysed frame, since a page
that draws may send its motion (kind 4) instead.

Also: the assets' size and export time (once per portrait, on the server), and from the
per-session cores, the sessions a 2-core box serves at full rate (one core kept for the
voice, as the server's capacity board does) and a 16-core plan.

    .venv/bin/python bench/live/client_drawn.py [--sessions 8] [--secs 4] [--rounds 2]

Before and after a change: `--against REV` runs this script `--repeats` times on REV's
code (a git worktree, benchkit/revision_tree.py) and on this tree's, back to back
(before, after, before, after...: the two meet the same machine), each run a process with
that tree's packages first on its path, and writes every run's figures, the load around
each and the medians over all rounds. The motion arm's rounds also split its CPU into the
blocks' planning (the generator's step in it) and the motion frames' solve.

Runs: ~2-4 min (estimated for the 2-core host); `--against REV --repeats 3 --secs 6 --rounds 3` ~7 min (measured).
Quoted: docs/BROWSER_SDK.md, "What it costs (issue 76), and a plan for a 16-core server": 0.083 -> 0.059 cores a session drawn by the page (--against 2ed0370), 0.254 drawn by the server (bench/quoted/client_drawn_s20.json, docs/client_drawn_s20.png); the block solve and the features once, 0.070 -> 0.074 (--against 25d4a13, within noise; bench/quoted/client_drawn_s21.json, docs/client_drawn_s21.png); the generator's steady step traced, 0.074 -> 0.060 (--against df5bff0; bench/quoted/client_drawn_s24.json, docs/client_drawn_s24.png); the solve's tanh and the mel sums compiled, 0.036 -> 0.032 (--against 10b43cb; bench/quoted/client_drawn_s25.json, docs/client_drawn_s25.png)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from avatar.live.capacity import VOICE_RESERVE_CORES
from benchkit.load import load_average
from benchkit.paths import RESULTS


def build_sessions(n: int, drawn_by_client: bool, secs: float, batcher: Any = None) -> list[Any]:
    """N speaking sessions of the bundled portrait at 512 px (`batcher`: one
    `StepBatcher` their faces share, as one face worker's sessions do)."""
    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
    from avatar.live import AvatarSession, SessionOptions
    from avatar.live.face import LocalFace
    from avatar.portrait import Portrait
    from benchkit.face_inputs import RATE, reply_tone
    from pipelines.server.client_drawn_face import ClientDrawnLocalFace

    checkpoint = load_generator(DEFAULT_CHECKPOINT)
    portrait = Portrait.default()
    sessions = []
    for _ in range(n):
        face = (ClientDrawnLocalFace(checkpoint, batcher=batcher) if drawn_by_client
                else LocalFace(checkpoint, batcher=batcher))
        session = AvatarSession(portrait, None, output_rate=RATE, face=face,
                                options=SessionOptions(size=512, jpeg_quality=80))
        session.push_avatar_audio(reply_tone(secs * 8 + 10.0), RATE)
        sessions.append(session)
    return sessions


def run_round(sessions: list[Any], secs: float, motion_frame: Any) -> dict[str, float]:
    """`secs` of media for every session, frame by frame across the sessions; the CPU
    and the bytes they cost."""
    from sdk.protocol import MediaKind, encode_face_motion, encode_media

    frames = int(secs * 25)
    planned: list[list[Any]] = [[] for _ in sessions]
    wire_bytes = 0
    plan_cpu = solve_cpu = 0.0  # the blocks' planning (the generator in it); the solves
    clock = time.process_time
    cpu0, wall0 = clock(), time.perf_counter()
    for k in range(frames):
        for i, session in enumerate(sessions):
            if not planned[i]:
                t0 = clock()
                planned[i].extend(session.next_block())
                plan_cpu += clock() - t0
            frame = session.render(planned[i].pop(0))
            pts = k * 40_000
            if motion_frame is not None:
                t0 = clock()
                values = motion_frame(frame.motion)
                solve_cpu += clock() - t0
                wire_bytes += len(encode_face_motion(values, pts, 1))
            else:
                wire_bytes += len(encode_media(MediaKind.VIDEO, frame.jpeg or b"", pts))
    cpu = clock() - cpu0
    media_secs = secs * len(sessions)
    return {"cpu_secs": cpu, "wall_secs": time.perf_counter() - wall0, "media_secs": media_secs,
            "cores_per_session": cpu / media_secs,
            "planning_cores_per_session": plan_cpu / media_secs,
            "solve_cores_per_session": solve_cpu / media_secs,
            "bytes_per_session_per_sec": wire_bytes / media_secs}


def run_round_batched(sessions: list[Any], secs: float, motion_frame: Any) -> dict[str, float]:
    """`secs` of media for every session as a face worker runs them: a thread each, the
    blocks on the product's 0.2 s step grid (real time, so the round takes `secs`), the
    generator steps of blocks due together in one pass (the faces' shared `StepBatcher`).
    The process CPU over the media seconds is one session's cost."""
    import threading

    from avatar.live.step_batcher import STEP_GRID_SECS
    from sdk.protocol import encode_face_motion

    blocks = int(secs * 25) // 5
    wire = [0] * len(sessions)
    errors: list[BaseException] = []
    start = time.monotonic() + 0.1

    def run(i: int) -> None:
        try:
            for block in range(blocks):
                time.sleep(max(0.0, start + block * STEP_GRID_SECS - time.monotonic()))
                for planned in sessions[i].next_block():
                    frame = sessions[i].render(planned)
                    wire[i] += len(encode_face_motion(motion_frame(frame.motion),
                                                      planned.pts_us, 1))
        except BaseException as error:  # reported by the caller
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sessions))]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cpu = time.process_time() - cpu0
    if errors:
        raise errors[0]
    media_secs = blocks * 0.2 * len(sessions)
    return {"cpu_secs": cpu, "wall_secs": time.perf_counter() - wall0, "media_secs": media_secs,
            "cores_per_session": cpu / media_secs,
            "bytes_per_session_per_sec": sum(wire) / media_secs}


def camera_cost(frames: int = 30) -> dict[str, float]:
    """The server's analysis of the visitor's camera: CPU per 320 px JPEG analysed."""
    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
    from avatar.live.face import LocalFace
    from avatar.portrait import Portrait
    from benchkit.face_inputs import camera_feed

    face = LocalFace(load_generator(DEFAULT_CHECKPOINT))
    face.start(Portrait.default(), 512, None, 0)
    jpegs = camera_feed(frames, raw=False).jpegs
    face.analyze_jpeg(jpegs[0], 0)  # the landmarker's first call builds it
    cpu0 = time.process_time()
    for i, jpeg in enumerate(jpegs[1:], 1):
        face.analyze_jpeg(jpeg, i * 100)
    per_frame = (time.process_time() - cpu0) / (len(jpegs) - 1)
    face.close()
    return {"cpu_ms_per_frame": per_frame * 1000, "cores_at_5_fps": per_frame * 5,
            "cores_at_10_fps": per_frame * 10}


def assets_figures() -> tuple[dict[str, float], Any]:
    """The bundled portrait's browser assets: bytes and export time; the face that solves
    motion frames."""
    from avatar.portrait import Portrait
    from pipelines.server.browser_faces import BrowserFaces

    started = time.perf_counter()
    face = BrowserFaces().get(Portrait.default(), 512)
    export_secs = time.perf_counter() - started
    reference = Portrait.default().reference_motion  # loading the portrait is not the solve
    solve0 = time.process_time()
    for _ in range(200):
        face.motion_frame(reference)
    solve_ms = (time.process_time() - solve0) / 200 * 1000
    return {"bytes": len(face.data), "export_secs": export_secs,
            "motion_frame_cpu_ms": solve_ms}, face


def boxes(per_session: float) -> dict[str, float]:
    """Sessions at full rate from one session's cores: a 2-core box and a 16-core server,
    one core kept for the voice (the capacity board's reserve)."""
    return {"two_core_box": int((2 - VOICE_RESERVE_CORES) / per_session),
            "sixteen_core_server": int((16 - VOICE_RESERVE_CORES) / per_session)}


def before_and_after(rev: str, repeats: int, bench_args: list[str]) -> dict[str, Any]:
    """This bench run alternately on `rev`'s code and on this checkout's,
    `repeats` times each (a process each, that tree first on the import path; this
    script in both, so only the code measured differs); every run's report, the load
    around it, and each tree's median over all its rounds of cores a session per arm,
    and of the motion arm's planning (the generator) and solve parts."""
    import subprocess
    import sys
    import tempfile

    from benchkit.paths import ROOT
    from benchkit.revision_tree import baseline_tree, path_with

    trees = {"before": baseline_tree(rev), "after": ROOT}
    runs: list[dict[str, Any]] = []
    for _ in range(repeats):
        for label, tree in trees.items():
            with tempfile.TemporaryDirectory() as scratch:
                out = Path(scratch) / "client_drawn.json"
                load = load_average()
                subprocess.run([sys.executable, str(Path(__file__).resolve()),
                                *bench_args, "--out", str(out)], cwd=tree, check=True,
                               env=path_with(tree), stdout=subprocess.DEVNULL)
                report = json.loads(out.read_text())
            runs.append({"tree": label, "load_before": load, "load_after": load_average(),
                         "report": report})
            print(label, {arm: report[arm]["cores_per_session"]
                          for arm in ("motion", "motion_batched", "pixels")}, flush=True)
    def median_of(label: str, arm: str, figure: str) -> float:
        return round(statistics.median(
            one[figure] for r in runs if r["tree"] == label
            for one in r["report"]["rounds"][arm]), 4)

    medians = {label: {**{arm: median_of(label, arm, "cores_per_session")
                          for arm in ("motion", "motion_batched", "pixels")},
                       "motion_planning": median_of(label, "motion", "planning_cores_per_session"),
                       "motion_solve": median_of(label, "motion", "solve_cores_per_session")}
               for label in trees}
    return {"against": rev, "before_tree": str(trees["before"]), "repeats": repeats,
            "bench_args": bench_args,
            "cores_per_session": medians, "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=6, help="sessions in the process")
    parser.add_argument("--pixel-sessions", type=int, default=2,
                        help="sessions of the pixel arm (each costs ~0.3 core)")
    parser.add_argument("--secs", type=float, default=4.0, help="media seconds a round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=str(RESULTS / "client_drawn.json"))
    parser.add_argument("--against", metavar="REV", default=None,
                        help="a revision of the old code: run the bench on it and on this "
                             "tree, alternately (see the docstring)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs on each tree's code with --against")
    args = parser.parse_args()
    if args.against is not None:
        bench_args = ["--sessions", str(args.sessions), "--pixel-sessions",
                      str(args.pixel_sessions), "--secs", str(args.secs),
                      "--rounds", str(args.rounds)]
        try:
            both = before_and_after(args.against, args.repeats, bench_args)
        except ValueError as error:  # not a revision of this repository
            raise SystemExit(f"{Path(__file__).name}: error: {error}") from None
        print(json.dumps(both["cores_per_session"]))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(both, indent=1))
        return 0

    import cv2
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    load_before = load_average()
    assets, face = assets_figures()
    from avatar.live.step_batcher import StepBatcher

    motion = build_sessions(args.sessions, True, args.secs * args.rounds)
    batcher = StepBatcher()
    batched = build_sessions(args.sessions, True, args.secs * args.rounds + 2.0, batcher)
    pixels = build_sessions(args.pixel_sessions, False, args.secs * args.rounds)
    run_round(motion, 0.4, face.motion_frame)  # warm-up: lazy set-up of each arm
    run_round_batched(batched, 1.0, face.motion_frame)
    run_round(pixels, 0.4, None)
    rounds: dict[str, list[dict[str, float]]] = {"motion": [], "motion_batched": [], "pixels": []}
    for _ in range(args.rounds):  # interleaved: the arms meet the same machine
        rounds["motion"].append(run_round(motion, args.secs, face.motion_frame))
        rounds["motion_batched"].append(run_round_batched(batched, args.secs, face.motion_frame))
        rounds["pixels"].append(run_round(pixels, args.secs, None))
    camera = camera_cost()
    report: dict[str, Any] = {"sessions": {"motion": args.sessions, "pixels": args.pixel_sessions},
                              "secs_per_round": args.secs, "rounds": rounds, "assets": assets,
                              "camera_analysis": camera, "cpu_count": os.cpu_count()}
    for arm, results in rounds.items():
        per_session = statistics.median(r["cores_per_session"] for r in results)
        report[arm] = {
            "cores_per_session": round(per_session, 4),
            "bytes_per_session_per_sec": round(statistics.median(
                r["bytes_per_session_per_sec"] for r in results)),
            "sessions_at_full_rate": boxes(per_session),
            "with_camera_at_10_fps": {
                "cores_per_session": round(per_session + camera["cores_at_10_fps"], 4),
                "sessions_at_full_rate": boxes(per_session + camera["cores_at_10_fps"])},
        }
    report["motion_over_pixels_cpu"] = round(
        report["motion"]["cores_per_session"] / report["pixels"]["cores_per_session"], 4)
    report["motion_batched_over_pixels_cpu"] = round(
        report["motion_batched"]["cores_per_session"] / report["pixels"]["cores_per_session"], 4)
    report["batcher"] = batcher.counters.as_dict()
    report["load_average"] = {"before": load_before, "after": load_average()}
    for session in motion + batched + pixels:
        session.close()
    print(json.dumps(report))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
