"""Figure: bench/results/density_<tag>.json and .png, how many live faces one machine holds.

Issue 48: the face's cost decides how many visitors a server takes. Here N live
face sessions run at once, each in its own process as the face worker pool runs
them (the project's `AvatarSession` with a `LocalFace`: the real generator, the
bundled portrait, the renderer, JPEG 80; torch and OpenCV on one thread each),
each paced at 25 fps and speaking (a voiced tone with syllables, the jaw moving),
with the visitor's camera unless `--no-camera`: the 320 px JPEGs the SDKs send of a
real visitor's webcam clip (benchkit/face_inputs.py) offered at 10 a second, and
analysed as the product's rule admits them (pipelines/face/rate_gate.py `CameraGate`
at the `[avatar]` defaults: `camera_fps`, and `camera_fps_while_speaking` while the
session's reply plays, which is all the time here). A tree from before that rule
(`--against` an older revision) analyses every frame offered, as the product then did.

Every session draws frame k at t0 + k / 25 s, or as soon as it can when it is
late (a late frame is not skipped: a session that cannot keep up shows it as a
lower rate). Per N and size the JSON holds each session's frames a second over
the window (min and median), the CPU per frame (the sessions' own CPU over the
frames they drew), the cores the sessions used (their CPU over the wall time) and
the load average. `sessions_at_25fps_<size>` is the largest N at which every
session drew >= 24 frames a second.

`--against REV` runs every step twice, alternating, the sessions once with git
revision REV's packages (a worktree in cache/face_cost_trees/) and once with this
tree's: before and after in one run. `--batch-steps off on` runs each
multi-session worker variant both without and with its sessions' generator steps
batched when they fall due together (`FaceWorkerPool(batch_steps=...)`,
avatar/live/step_batcher.py), alternating; a batched step's JSON has the worker's
batcher counters (`step_batches`: steps, alone, batches, batched_steps). Batched
is the default, as in the product (`[avatar] batch_steps`). With no flags the sessions
are housed as the product houses them (`[avatar] faces_per_worker`, one a worker: no
batching to do).

`--drawn-by client` runs faces drawn by their pages (issue 76): the worker steps the
generator and draws nothing (`ClientDrawnWorkerFace`), the driver solves each frame's
motion frame and writes its kind-6 message, as the server does for a page that draws
(`server client`: both, alternating). `--one-server` puts every session's server part in
one driver process, as the product's one server process holds them (by default each face
worker has a driver process of its own, which spreads that part over processes).

    .venv/bin/python bench/live/density.py [--sessions 1 2 3 4] [--sizes 512 256] [--secs 20]

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/BROWSER_SDK.md, "What it costs (issue 76), and a plan for a 16-core server": on a lent 16-core machine, 64 faces drawn by their pages held at 25 fps in one server process (80 not), 320 with a server process a face worker, 24 server-painted (40 not) (bench/quoted/density_device16_s6.json; earlier: 8 live faces held at 512 px on 2 cores, docs/RESULTS.md)
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from tqdm import tqdm

from avatar.procfs import cpu_seconds, smaps_rollup
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.revision_tree import baseline_tree, path_with

FPS = 25.0
#: camera frames a second the visitor's client sends (the product's rule picks those analysed)
CAMERA_FPS = 10.0
#: a session "holds" 25 fps when it draws at least this many frames a second
HELD_FPS = 24.0


def product_faces_per_worker() -> int:
    """Sessions a face worker draws, as the product runs them by default (read only when
    `--faces-per-worker` is not given: the settings pull the voice's packages, which a
    lent machine that measures faces alone does not carry)."""
    from pipelines.settings import AvatarSettings

    return int(AvatarSettings.model_fields["faces_per_worker"].default)


def paced(draw: Callable[[], None], start_at: float, secs: float) -> list[int]:
    """From wall-clock `start_at`, call `draw` for frame k at k / FPS s, or at once when
    late (a late frame is not skipped), for `secs`; the frames drawn in each second."""
    while time.time() < start_at:
        time.sleep(0.001)
    per_second = [0] * int(np.ceil(secs))
    wall0, k = time.perf_counter(), 0
    while True:
        elapsed = time.perf_counter() - wall0
        if elapsed >= secs:
            return per_second
        due = k / FPS
        if elapsed < due:
            time.sleep(min(due - elapsed, secs - elapsed))
            continue
        draw()
        per_second[min(int(time.perf_counter() - wall0), len(per_second) - 1)] += 1
        k += 1


def camera_admission() -> Callable[[Any], bool]:
    """The product's camera rule for one session: `admit(session)` for a frame arriving
    now (`CameraGate` at the `[avatar]` defaults; speaking while the session's reply
    plays). With a tree from before that rule, every frame offered is analysed."""
    try:
        from pipelines.face.rate_gate import CameraGate
        from pipelines.settings import AvatarSettings
    except ImportError:
        return lambda session: True
    defaults = AvatarSettings()
    gate = CameraGate(defaults.camera_fps, defaults.camera_fps_while_speaking)
    return lambda session: gate.admit(time.monotonic(), speaking=session.reply_playing)


def worker(size: int, secs: float, camera: bool) -> int:
    """One session in this process: prime, say READY, wait for GO, draw paced frames,
    print RESULT with its counts."""
    import cv2
    import torch

    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
    from avatar.live import AvatarSession, SessionOptions
    from avatar.live.face import LocalFace
    from avatar.portrait import Portrait, default_portrait_path
    from benchkit.face_inputs import RATE, camera_feed, reply_tone

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    portrait = Portrait.load(default_portrait_path())
    face = LocalFace(load_generator(DEFAULT_CHECKPOINT))
    face.prime(portrait, sizes=(size,))
    session = AvatarSession(portrait, None, output_rate=RATE, face=face,
                            options=SessionOptions(size=size, jpeg_quality=80))
    session.push_avatar_audio(reply_tone(secs + 8.0), RATE)
    jpegs = camera_feed(raw=False).jpegs if camera else []
    admit = camera_admission()
    drawn = analysed = 0

    def draw_one() -> None:
        nonlocal drawn, analysed
        if camera and int(drawn * CAMERA_FPS / FPS) != int((drawn - 1) * CAMERA_FPS / FPS):
            analysis = int(drawn * CAMERA_FPS / FPS)  # the clip's next frame each time
            if admit(session):
                session.analyze_camera_jpeg(jpegs[analysis % len(jpegs)],
                                            int(drawn * 1000 / FPS))
                analysed += 1
        session.render(planned_frames.pop(0))
        drawn += 1

    planned_frames: list[Any] = []
    for _ in range(25):  # warm-up: lazy set-up, the first keyframe, the landmarker
        if not planned_frames:
            planned_frames.extend(session.next_block())
        draw_one()
    print("READY", flush=True)
    line = sys.stdin.readline().split()
    start_at = float(line[1])
    cpu0 = time.process_time()
    analysed_before = analysed

    def next_frame() -> None:
        if not planned_frames:
            planned_frames.extend(session.next_block())
        draw_one()

    per_second = paced(next_frame, start_at, secs)
    k = sum(per_second)
    cpu_ms = (time.process_time() - cpu0) * 1000.0
    memory = memory_mb()
    session.close()
    print("RESULT " + json.dumps({"frames": k, "secs": secs, "cpu_ms": cpu_ms,
                                  "fps_each": [k / secs], "per_second": per_second,
                                  "camera_analysed": [analysed - analysed_before],
                                  "memory": {"worker": [memory]}}), flush=True)
    return 0


def memory_mb(pid: int | str = "self") -> dict[str, float]:
    """A process's resident, proportional (PSS) and own (USS) memory, MB (Linux)."""
    fields = {key: value / 2**20 for key, value in smaps_rollup(pid).items()}
    if not fields:
        return {}
    return {"rss_mb": round(fields.get("Rss", 0.0), 1), "pss_mb": round(fields.get("Pss", 0.0), 1),
            "uss_mb": round(fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0), 1)}


def process_cpu_secs(pid: int) -> float:
    """A process's CPU seconds so far (user + system, all its threads)."""
    seconds = cpu_seconds(pid)
    if seconds is None:
        raise ProcessLookupError(f"process {pid} is gone")
    return seconds


def pool_driver(size: int, secs: float, camera: bool, faces: int, serial: bool,
                batch: bool = False, sessions_in_all: int = 0,
                drawn_by_client: bool = False) -> int:
    """Sessions on the product's FaceWorkerPool and WorkerFace, `faces` a worker process,
    each paced by a thread of this process, which plays the server's part; prints READY,
    waits for GO, prints RESULT. `sessions_in_all` (default `faces`: one worker): this
    process holds that many, on as many workers as it takes, as the product's one server
    process does. `drawn_by_client`: each session's face draws nothing
    (`ClientDrawnWorkerFace`) and this process solves every frame's motion frame for the
    page (`BrowserFace.motion_frame`) and writes its kind-6 message, as the server does
    for a page that draws."""
    import threading

    import cv2
    import torch

    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT
    from avatar.live import AvatarSession, SessionOptions
    from avatar.live.face_pool import FaceWorkerPool, WorkerFace
    from avatar.portrait import Portrait, default_portrait_path
    from benchkit.face_inputs import RATE, camera_feed, reply_tone

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    n = sessions_in_all or faces
    portrait = Portrait.load(default_portrait_path())
    pool = FaceWorkerPool(DEFAULT_CHECKPOINT, warm=n, faces_per_worker=faces, threads=1,
                          prime=portrait, serial=serial, batch_steps=batch)
    if not pool.wait_warm(600):
        raise RuntimeError("the face workers did not start")
    motion_message = client_motion(portrait, size) if drawn_by_client else None
    jpegs = camera_feed(raw=False).jpegs if camera else []
    sessions, backends = [], []
    for _ in range(n):
        backends.append(client_drawn_backend(pool) if drawn_by_client else WorkerFace(pool))
        session = AvatarSession(portrait, None, output_rate=RATE, face=backends[-1],
                                options=SessionOptions(size=size, jpeg_quality=80))
        session.push_avatar_audio(reply_tone(secs + 8.0), RATE)
        sessions.append(session)
    per_second = [[0] * int(np.ceil(secs)) for _ in sessions]
    admits = [camera_admission() for _ in sessions]
    analysed = [0] * n  # camera frames analysed in the timed window
    frames = [0] * n
    wire_bytes = [0] * n  # the kind-6 messages' bytes in the timed window (drawn by client)
    clock: dict[str, float] = {}

    def pace(index: int, warm_only: bool) -> None:
        session, drawn = sessions[index], 0
        planned: list[Any] = []

        def draw_one() -> None:
            nonlocal drawn
            if camera and int(drawn * CAMERA_FPS / FPS) != int((drawn - 1) * CAMERA_FPS / FPS) \
                    and admits[index](session):
                analysis = int(drawn * CAMERA_FPS / FPS)
                session.analyze_camera_jpeg(jpegs[analysis % len(jpegs)],
                                            int(drawn * 1000 / FPS) + (0 if warm_only else 10**6))
                analysed[index] += 0 if warm_only else 1
            if not planned:
                planned.extend(session.next_block())
            frame = session.render(planned.pop(0))
            if motion_message is not None:
                sent = len(motion_message(frame.motion, drawn * 40_000))
                wire_bytes[index] += 0 if warm_only else sent
            drawn += 1

        if warm_only:
            for _ in range(25):
                draw_one()
            return
        per_second[index] = paced(draw_one, clock["start_at"], secs)
        frames[index] = sum(per_second[index])

    for index in range(n):  # warm-up: lazy set-up, the landmarker
        pace(index, warm_only=True)
    pids = pool.worker_pids()
    print("READY", flush=True)
    clock["start_at"] = float(sys.stdin.readline().split()[1])
    threads = [threading.Thread(target=pace, args=(i, False)) for i in range(n)]
    cpu0 = time.process_time()
    worker_cpu0 = sum(process_cpu_secs(pid) for pid in pids)
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, clock["start_at"] - time.time() + secs * 0.8))
    memory = {"worker": [memory_mb(pid) for pid in pids], "driver": memory_mb()}
    for thread in threads:
        thread.join()
    worker_cpu_ms = (sum(process_cpu_secs(pid) for pid in pids) - worker_cpu0) * 1000.0
    driver_cpu_ms = (time.process_time() - cpu0) * 1000.0
    step_batches = backends[0].worker.call("step_batches")  # None: no batcher
    for session in sessions:
        session.close()
    pool.close()
    print("RESULT " + json.dumps({
        "frames": sum(frames), "secs": secs, "cpu_ms": worker_cpu_ms,
        "driver_cpu_ms": driver_cpu_ms, "fps_each": [k / secs for k in frames],
        "per_second": per_second, "camera_analysed": analysed, "memory": memory,
        "step_batches": step_batches, "wire_bytes": sum(wire_bytes)}), flush=True)
    return 0


def client_motion(portrait: Any, size: int) -> Callable[[Any, int], bytes]:
    """What the server does each frame for a page that draws: the motion frame solved
    from the generator's motion, written as a kind-6 message (assets serial 1)."""
    from pipelines.server.browser_faces import BrowserFaces
    from sdk.protocol import MediaKind, encode_media

    face = BrowserFaces().get(portrait, size)  # as the server's render switch and serializer
    return lambda motion, pts_us: encode_media(
        MediaKind.FACE_MOTION, face.motion_payload(motion), pts_us, aux=1)


def client_drawn_backend(pool: Any) -> Any:
    """A session's face on `pool` that draws nothing until asked, as the server gives a
    page that draws (pipelines/server/client_drawn_face.py)."""
    from pipelines.server.client_drawn_face import ClientDrawnWorkerFace

    return ClientDrawnWorkerFace(pool)


def run_step(tree: Path, n: int, size: int, secs: float, camera: bool, faces: int = 0,
             serial: bool = False, batch: bool = False, drawn_by_client: bool = False,
             one_server: bool = False) -> dict[str, Any]:
    """N sessions at once with `tree`'s packages first on the path: each a process of
    its own drawing in process (`faces` 0), or `faces` sessions to a face worker
    process of the pool, each worker with a driver process playing the server's part,
    or (`one_server`) all N in one driver process, as the product's one server process
    holds them; `drawn_by_client`: faces that draw nothing, the motion frames solved."""
    env = path_with(tree)
    for threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(threads, "1")  # one core a session: no idle BLAS pools per process
    base = [sys.executable, str(Path(__file__).resolve()), "--size", str(size),
            "--secs", str(secs), *([] if camera else ["--no-camera"])]
    if faces:
        groups = [min(faces, n - start) for start in range(0, n, faces)]
        flags = [*(["--serial"] if serial else []), *(["--batched"] if batch else []),
                 *(["--client-drawn"] if drawn_by_client else [])]
        commands = ([base + ["--driver", str(faces), "--in-all", str(n), *flags]]
                    if one_server else [base + ["--driver", str(k), *flags] for k in groups])
    else:
        commands = [base + ["--worker"] for _ in range(n)]
    logs = [tempfile.TemporaryFile(mode="w+") for _ in commands]  # each process's stderr
    procs = [subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=log, text=True)
             for command, log in zip(commands, logs, strict=True)]

    def failed(proc: subprocess.Popen[str], what: str) -> RuntimeError:
        log = logs[procs.index(proc)]
        log.seek(0)
        return RuntimeError(f"a density worker {what} (exit {proc.poll()}):\n"
                            f"{log.read()[-3000:]}")

    try:
        for proc in procs:  # every session primed before the clock runs
            assert proc.stdout is not None
            while True:
                ready, _, _ = select.select([proc.stdout], [], [], 300)
                line = proc.stdout.readline() if ready else ""
                if line.startswith("READY") or not line:
                    break
            if not line:
                raise failed(proc, "exited before it was ready")
        load_start = load_average()
        start_at = time.time() + 1.0
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"GO {start_at}\n")
            proc.stdin.flush()
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=secs + 120)
            lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
            if not lines:
                raise failed(proc, "gave no result")
            results.append(json.loads(lines[-1][7:]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        for log in logs:
            log.close()
    fps = [f for r in results for f in r["fps_each"]]
    frames = sum(r["frames"] for r in results)
    cpu_ms = sum(r["cpu_ms"] for r in results)
    driver_ms = sum(r.get("driver_cpu_ms", 0.0) for r in results)
    workers = [m for r in results for m in r["memory"]["worker"] if m]
    drivers = [r["memory"]["driver"] for r in results if r["memory"].get("driver")]
    return {"sessions": n, "size": size, "camera": camera, "secs": secs,
            "faces_per_worker": faces, "serial": serial, "batch_steps": batch,
            "drawn_by": "client" if drawn_by_client else "server",
            "driver_processes": len(commands) if faces else 0,
            # the motion frames' bytes a session sends a second (drawn by client)
            "wire_bytes_per_session_per_sec": round(
                sum(r.get("wire_bytes", 0) for r in results) / n / secs, 1),
            # the worker's StepBatcher counters (batched variants)
            "step_batches": [r["step_batches"] for r in results if r.get("step_batches")],
            "fps_min": round(min(fps), 2), "fps_median": round(statistics.median(fps), 2),
            "fps_each": [round(f, 2) for f in fps],
            # camera frames analysed a second, each session (the product's rule admits them)
            "camera_analysed_fps": [round(a / secs, 2) for r in results
                                    for a in r.get("camera_analysed", [])],
            # the face's CPU (the worker processes'; in-process: the session processes')
            "cpu_ms_per_frame": round(cpu_ms / max(frames, 1), 2),
            # the server's side of it (the drivers': planning, audio features, the hop)
            "driver_cpu_ms_per_frame": round(driver_ms / max(frames, 1), 2),
            "cores_used": round((cpu_ms + driver_ms) / 1000.0 / secs, 2),
            "face_pss_mb_per_session": round(sum(m["pss_mb"] for m in workers) / n, 1),
            "face_uss_mb_per_session": round(sum(m["uss_mb"] for m in workers) / n, 1),
            "face_rss_mb_per_process": round(statistics.mean(m["rss_mb"] for m in workers), 1),
            "driver_pss_mb_per_session": round(sum(m["pss_mb"] for m in drivers) / n, 1),
            "held": min(fps) >= HELD_FPS,
            "load_average_start": load_start, "load_average_end": load_average()}


def variant_name(faces: int, batch: bool = False, drawn_by_client: bool = False) -> str:
    """A variant's name in the report: how its sessions are housed (and stepped), and
    who draws them."""
    if faces == 0:
        return "process_per_session"
    return (f"{faces}_per_worker" + ("_batched" if batch else "")
            + ("_client_drawn" if drawn_by_client else ""))


def housings(faces_per_worker: list[int], batch_modes: list[bool]) -> list[tuple[int, bool]]:
    """The (faces a worker, batched) variants to run, in order: a worker of one face (or
    a process per session) has nothing to batch, so it runs once, unbatched."""
    return list(dict.fromkeys((k, batch and k > 1) for k in faces_per_worker
                              for batch in batch_modes))


def held(steps: list[dict[str, Any]], size: int) -> int:
    """The largest N whose every session held 25 fps (0: not even one)."""
    return max([s["sessions"] for s in steps if s["size"] == size and s["held"]], default=0)


def plot(report: dict[str, Any], out: Path) -> None:
    """Left: frames a second per session (min) against N; right: the cores the sessions
    used, per size, before and after."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rate, cores) = plt.subplots(1, 2, figsize=(11, 4.5))
    by_variant = report.get("steps_by_variant") or {"": report["steps"]}
    for index, (name, steps) in enumerate(by_variant.items()):
        for size in report["sizes"]:
            rows = [s for s in steps if s["size"] == size]
            if not rows:
                continue
            ns = [s["sessions"] for s in rows]
            style = ["--", "-", "-.", ":"][index % 4]
            label = f"{size} px {name}".strip()
            rate.plot(ns, [s["fps_min"] for s in rows], style, marker="o", label=label)
            cores.plot(ns, [s["cores_used"] for s in rows], style, marker="o",
                       label=f"{label} ({rows[-1]['cpu_ms_per_frame']} ms/frame at N={ns[-1]})")
    rate.axhline(HELD_FPS, color="grey", lw=0.8)
    rate.set_ylim(0, 27)
    rate.set_xlabel("live face sessions at once")
    rate.set_ylabel("frames a second, slowest session")
    cores.axhline(report["cpus"], color="grey", lw=0.8)
    cores.set_xlabel("live face sessions at once")
    cores.set_ylabel("cores the sessions used")
    for ax in (rate, cores):
        ax.legend(fontsize=7)
    fig.suptitle(f"Live faces on {report['cpus']} cores, paced at 25 fps, camera "
                 f"{'on' if report['camera'] else 'off'} (load {report['load_average_start']:.1f}"
                 f" -> {report['load_average_end']:.1f})", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 256])
    parser.add_argument("--secs", type=float, default=20.0)
    parser.add_argument("--no-camera", action="store_true")
    parser.add_argument("--against", default=None, metavar="REV")
    parser.add_argument("--tag", default="run")
    parser.add_argument("--plot-only", type=Path, default=None,
                        help="redraw the plot of a saved JSON, measure nothing")
    parser.add_argument("--faces-per-worker", type=int, nargs="+", default=None,
                        help="sessions per face worker process of the pool (several: "
                        "each is run, alternating, in one run; default: the product's "
                        "[avatar] faces_per_worker); 0: each session in a process of its "
                        "own, drawing in process (the design before multi-session workers)")
    parser.add_argument("--against-same-design", action="store_true",
                        help="run REV with the first variant's faces a worker and batching "
                        "(default: a process per session drawing in process)")
    parser.add_argument("--serial", action="store_true",
                        help="a worker answers its sessions one at a time (not a thread each)")
    parser.add_argument("--batch-steps", choices=["off", "on"], nargs="+", default=["on"],
                        help="a worker's sessions' generator steps that fall due together "
                        "in one batched pass, as the product runs them by default ([avatar] "
                        "batch_steps); off on: each multi-session variant is run "
                        "both ways, alternating, in one run)")
    parser.add_argument("--drawn-by", choices=["server", "client"], nargs="+",
                        default=["server"],
                        help="who draws the face: the server (pixels, as today's pipecat "
                        "transports and Python clients get them) or the page (motion frames "
                        "only: the face worker steps the generator, the driver solves each "
                        "motion frame); both: each variant run both ways, alternating")
    parser.add_argument("--one-server", action="store_true",
                        help="every session's server part in one driver process, as the "
                        "product's one server process holds them (default: a driver "
                        "process a face worker)")
    parser.add_argument("--batched", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--in-all", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--client-drawn", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--driver", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=512, help=argparse.SUPPRESS)
    args = parser.parse_args()
    camera = not args.no_camera
    if args.worker:
        return worker(args.size, args.secs, camera)
    if args.driver:
        return pool_driver(args.size, args.secs, camera, args.driver, args.serial,
                           args.batched, args.in_all, args.client_drawn)
    if args.plot_only is not None:
        plot(json.loads(args.plot_only.read_text()), args.plot_only.with_suffix(".png"))
        return 0
    if args.secs < 5 or min(args.sessions) < 1:
        parser.error("--secs must be >= 5 and --sessions >= 1")
    args.faces_per_worker = args.faces_per_worker or [product_faces_per_worker()]
    batch_modes = [mode == "on" for mode in dict.fromkeys(args.batch_steps)]
    drawers = [who == "client" for who in dict.fromkeys(args.drawn_by)]
    if (any(drawers) or args.one_server) and 0 in args.faces_per_worker:
        parser.error("--drawn-by client and --one-server run sessions on face workers: "
                     "--faces-per-worker >= 1")
    variants = [(variant_name(k, batch, client), ROOT, k, batch, client)
                for k, batch in housings(args.faces_per_worker, batch_modes)
                for client in drawers]
    if args.against:
        try:
            # REV in the design it shipped with (a process per session, drawing in
            # process), or in the first variant's own (a change inside the face worker)
            faces, batch = variants[0][2:4] if args.against_same_design else (0, False)
            variants.insert(0, ("before", baseline_tree(args.against), faces, batch, False))
        except ValueError as error:
            parser.error(str(error))
    steps: dict[str, list[dict[str, Any]]] = {name: [] for name, *_ in variants}
    plan = [(size, n) for size in args.sizes for n in sorted(args.sessions)]
    for size, n in tqdm(plan, desc="density", unit="step"):
        for name, tree, faces, batch, client in variants:  # alternating: the same machine
            step = run_step(tree, n, size, args.secs, camera, faces, args.serial, batch,
                            client, args.one_server)
            steps[name].append(step | {"code": name})
            tqdm.write(f"{name} {size} px x{n}: min {step['fps_min']} fps, "
                       f"{step['cpu_ms_per_frame']}+{step['driver_cpu_ms_per_frame']} ms/frame, "
                       f"{step['cores_used']} cores, PSS {step['face_pss_mb_per_session']} MB"
                       f"/session")
    last = variants[-1][0]
    first_steps = steps[variants[0][0]]
    report: dict[str, Any] = {
        "bench": "density", "tag": args.tag, "cpus": os.cpu_count(), "camera": camera,
        "camera_fps": CAMERA_FPS if camera else 0.0, "secs": args.secs, "sizes": args.sizes,
        "against": args.against, "held_fps": HELD_FPS, "serial": args.serial,
        "one_server": args.one_server,
        "variants": [name for name, *_ in variants], "steps": steps[last],
        "steps_by_variant": steps,
        "load_average_start": first_steps[0]["load_average_start"],
        "load_average_end": steps[last][-1]["load_average_end"]}
    for size in args.sizes:
        report[f"sessions_at_25fps_{size}"] = held(steps[last], size)
        report[f"sessions_at_25fps_{size}_by_variant"] = {
            name: held(rows, size) for name, rows in steps.items()}
        if args.against:
            report[f"sessions_at_25fps_{size}_before"] = held(steps["before"], size)
    out = RESULTS / f"density_{args.tag}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot(report, out.with_suffix(".png"))
    report["plot"] = str(out.with_suffix(".png").relative_to(ROOT))
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: v for k, v in report.items() if not k.startswith("steps")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
