"""Figure: bench/results/session_churn_<tag>.json and .png, server memory across many sessions.

Memory across many short video sessions: does the server give back what a session took?

A kiosk serves hundreds of short conversations a day without a restart (issue 27),
so a few MB left behind per session is gigabytes a week. This starts the real
server in its own process (bench/live/live.py's `server_under_test`: the product's
defaults, the embedded LLM, the avatar) and runs `--sessions` short v2 video
sessions one after the other at a steady rate (one starts every `--every`
seconds): each connects with video_out (and a camera clip unless --no-camera),
asks one kiosk question spoken by the bundled piper voice, waits for the reply
(its first audio with --first-audio), and disconnects. After each session the
server's RSS, open fds and threads are read from /proc/PID, and the PSS of the
server with every process below it (its fork server and face workers, issue 36:
each page counted once). `--face-process both` runs the faces in the server's
process, then in workers, one after the other.

With `--base-root DIR` the same run is made first against the server code in DIR
(e.g. a copy of the tree before a fix) and then against this tree, one after the
other with the same N, so old and new are compared on the same machine load.

JSON (last stdout line; also bench/results/session_churn_TAG.json), per variant:
rss_mb_start/end, rss_growth_mb_per_100_sessions (a least-squares slope of RSS
from the end of session `--warm-up` on, goal <= 5; `_endpoints`: last minus
that one; tree_pss_growth_mb_per_100_sessions: the same for the process tree), fds/threads at start and end, RSS every 10 sessions, replies heard,
the load average. Plot: RSS against sessions (bench/results/session_churn_TAG.png).

    python bench/live/session_churn.py [--sessions 200] [--every 12] [--model smollm2]
        [--base-root /tmp/base] [--first-audio] [--no-camera] [--tag NAME]

Runs: ~30 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 200 sessions, 2.5 MB per 100 (742 -> 737 MB)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm

from avatar.procfs import open_file_count, thread_count
from benchkit import clocks
from benchkit.clocks import rss_mb, tree_pss_mb
from benchkit.live.camera import camera_photo, make_camera_clip
from benchkit.live.live_client import LiveSession
from benchkit.live.live_server import LIVE_SCRIPT, live_script_in, server_under_test
from benchkit.live.live_turns import Spoken
from benchkit.paths import RESULTS, ROOT
from benchkit.visitor import QUESTIONS

GOAL_MB_PER_100 = 5.0
#: the setting that puts each session's face in a worker process (issue 36)
FACE_PROCESS_ENV = "AVATAR_FORCING_AVATAR_FACE_PROCESS"


def proc_status(pid: int) -> dict[str, float]:
    """RSS (MiB), threads and open fds of a process, read from /proc (the server's
    own view: what a kiosk's monitoring sees)."""
    return {"rss_mb": round(rss_mb(pid), 1), "threads": thread_count(pid),
            "fds": open_file_count(pid)}


async def one_session(url: str, spoken: Spoken, clip: Path | None, args: argparse.Namespace,
                      llm_pid: int | None, name: str) -> tuple[bool, int | None]:
    """Connect with video, ask, wait for the reply (or its first audio), leave.
    (reply audio heard, the video size the session ended at): a size not seen
    before builds a renderer, one suspect for a step in RSS."""
    session = await LiveSession.open(url, video=True, camera_clip=clip, size=args.size,
                                     name=name, llm_pid=llm_pid)
    log = session.log
    try:
        e0 = len(log.events)
        asked_at = time.monotonic()
        await session.mic.say(spoken.pcm)
        heard = await log.wait_for(lambda: log.first_loud_after(0, asked_at), args.limit)
        if heard is not None and not args.first_audio:
            await log.wait_for(lambda: log.reply_done(e0, quiet_secs=1.0), args.limit)
        video_out = session.client.video_out
        return heard is not None, None if video_out is None else int(video_out["width"])
    finally:
        await session.close()


async def churn(args: argparse.Namespace, label: str, spoken: list[Spoken],
                clip: Path | None, script: Path = LIVE_SCRIPT) -> dict[str, Any]:
    """One server (this tree's or --base-root's: `script` is the live.py whose
    `--serve-port` runs it), `args.sessions` sessions; the figures."""
    clocks.SERVER["pid"] = None
    # what bench/live/live.py's server_under_test passes on to the server process (its
    # --sessions is the server's slots: one session at a time here)
    server_args = argparse.Namespace(
        **{**vars(args), "sessions": 1, "in_process": False, "llm_threads": 1,
           "llm_batch_threads": 1, "first_phrase_words": None, "avatar_nice": args.avatar_nice})
    async with server_under_test(server_args, script) as (url, llm_pid, _costs):
        pid = clocks.SERVER["pid"]
        start = proc_status(pid)
        rss: list[float] = []
        tree: list[float] = []
        faces: list[float] = []  # the tree less the LLM server: the server and its workers
        sizes: list[int | None] = []
        heard = 0
        started = time.monotonic()
        bar = tqdm(total=args.sessions, desc=f"sessions ({label})", file=sys.stderr)
        for i in range(args.sessions):
            await asyncio.sleep(max(0.0, started + i * args.every - time.monotonic()))
            replied, size = await one_session(url, spoken[i % len(spoken)], clip, args,
                                              llm_pid, f"churn-{label}-{i}")
            heard += replied
            sizes.append(size)
            await asyncio.sleep(args.settle)  # the server tears the session down
            rss.append(rss_mb(pid))
            tree.append(tree_pss_mb(pid))
            faces.append(tree_pss_mb(pid, skip=(llm_pid,)) if llm_pid else tree[-1])
            if args.trace_memory and i + 1 in (args.warm_up, args.sessions):
                # after the readings: taking a snapshot costs the server hundreds of MB
                await snapshot_heap(pid, args.trace_memory)
            if args.memray and i + 1 == args.warm_up:  # memray tracks from here ...
                os.kill(pid, signal.SIGUSR1)
            if args.memray and i + 1 == args.sessions:  # ... to here
                await stop_memray(pid, args.memray)
            bar.set_postfix(rss_mb=round(rss[-1]), heard=heard)
            bar.update()
        bar.close()
        end = proc_status(pid)
    after = np.asarray(rss[max(0, args.warm_up - 1):])  # from the end of session warm_up
    slope = (float(np.polyfit(np.arange(len(after)), after, 1)[0]) * 100
             if len(after) >= 2 else None)  # least squares: robust to one noisy reading
    tree_slope = slope_per_100(tree, args.warm_up)
    faces_slope = slope_per_100(faces, args.warm_up)
    endpoints = (float(after[-1] - after[0]) * 100 / (len(after) - 1)
                 if len(after) >= 2 else None)
    return {
        "label": label, "sessions": args.sessions, "replies_heard": heard,
        "secs": round(time.monotonic() - started, 1),
        "rss_mb_start": start["rss_mb"], "rss_mb_end": end["rss_mb"],
        "rss_mb_after_warm_up": round(rss[args.warm_up - 1], 1)
        if len(rss) >= args.warm_up > 0 else None,
        "rss_growth_mb_per_100_sessions": None if slope is None else round(slope, 1),
        "rss_growth_mb_per_100_sessions_endpoints": None if endpoints is None
        else round(endpoints, 1),
        "goal_met": None if slope is None else slope <= GOAL_MB_PER_100,
        # the server with its fork server and face workers, each page counted once
        "tree_pss_mb_start": round(tree[0], 1) if tree else None,
        "tree_pss_mb_end": round(tree[-1], 1) if tree else None,
        "tree_pss_growth_mb_per_100_sessions": None if tree_slope is None
        else round(tree_slope, 1),
        "tree_goal_met": None if tree_slope is None else tree_slope <= GOAL_MB_PER_100,
        # the measure: the pipeline process plus its fork server and face
        # workers, without the LLM server (whose prompt cache is the LLM's own)
        "server_and_workers_pss_mb_start": round(faces[0], 1) if faces else None,
        "server_and_workers_pss_mb_end": round(faces[-1], 1) if faces else None,
        "server_and_workers_pss_growth_mb_per_100_sessions": None if faces_slope is None
        else round(faces_slope, 1),
        "server_and_workers_goal_met": None if faces_slope is None
        else faces_slope <= GOAL_MB_PER_100,
        "tree_pss_mb": [round(v, 1) for v in tree],
        "server_and_workers_pss_mb": [round(v, 1) for v in faces],
        "load_avg_end": [round(v, 2) for v in os.getloadavg()],
        "fds_start": start["fds"], "fds_end": end["fds"],
        "threads_start": start["threads"], "threads_end": end["threads"],
        "rss_mb_every_10": [round(v, 1) for v in rss[9::10]],
        "rss_mb": [round(v, 1) for v in rss],
        "video_size_at_end": sizes,
    }


async def stop_memray(pid: int, path: Path) -> None:
    """Stop the server's memray tracker (SIGUSR2) and wait for its file to be complete."""
    os.kill(pid, signal.SIGUSR2)
    done = Path(str(path) + ".done")
    deadline = time.monotonic() + 300
    while not await asyncio.to_thread(done.exists):
        if time.monotonic() > deadline:
            raise TimeoutError("the server's memray tracker did not stop in 300 s")
        await asyncio.sleep(0.5)


def native_sites(path: Path, run: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """memray's sites alive from the end of warm-up to the end (native and Python),
    written for people to docs/memory/ beside the RSS growth over the same sessions."""
    from benchkit.live.memray_sites import as_text, grown_sites

    report = grown_sites(path)
    rss = run["rss_mb"]
    report["rss_growth_mb_same_sessions"] = round(rss[-1] - rss[args.warm_up - 1], 1)
    title = (f"session_churn {args.tag or ''} ({run['label']}): memray --native, sessions "
             f"{args.warm_up} -> {args.sessions}; server RSS "
             f"{report['rss_growth_mb_same_sessions']:+} MB over the same sessions")
    name = f"session_churn_native_sites_{args.tag or 'run'}_{run['label'].replace(' ', '_')}.txt"
    if not args.no_save:
        out = RESULTS / "memory"  # docs/memory/ keeps the ones a page quotes
        out.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(as_text(report, title))
    return report


async def snapshot_heap(pid: int, folder: Path) -> None:
    """Ask the traced server for a tracemalloc snapshot (SIGUSR2) and wait for it."""
    import signal

    def taken() -> int:
        return len(list(folder.glob("snapshot-*.pickle")))

    count = taken()
    os.kill(pid, signal.SIGUSR2)
    deadline = time.monotonic() + 120
    while await asyncio.to_thread(taken) <= count:
        if time.monotonic() > deadline:
            raise TimeoutError("the server wrote no heap snapshot in 120 s")
        await asyncio.sleep(0.5)


def slope_per_100(series: list[float], warm_up: int) -> float | None:
    """Least-squares growth in MB per 100 sessions from the end of session `warm_up`."""
    after = np.asarray(series[max(0, warm_up - 1):])
    return float(np.polyfit(np.arange(len(after)), after, 1)[0]) * 100 if len(after) >= 2 else None


def plot(runs: list[dict[str, Any]], out: Path, note: str) -> None:
    """RSS after each session, one line per server variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for run in runs:
        ax.plot(np.arange(1, len(run["rss_mb"]) + 1), run["rss_mb"],
                label=f"{run['label']}: {run['rss_growth_mb_per_100_sessions']} MB / 100 sessions")
    ax.axvline(runs[0].get("warm_up", 20), color="grey", lw=0.8, ls="--")
    ax.set_xlabel("sessions")
    ax.set_ylabel("server RSS (MiB)")
    ax.set_title("Server memory across short video sessions", fontsize=11)
    ax.legend(fontsize=8)
    fig.text(0.01, 0.01, note, fontsize=7, color="grey")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(out, dpi=110)
    plt.close(fig)


def heap_sites(folder: Path, run: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """tracemalloc's growing sites from the end of warm-up to the end, written for
    people to docs/memory/ (beside the RSS growth over the same sessions)."""
    from benchkit.live.memory_sites import as_text, grown_sites

    first, last = sorted(folder.glob("snapshot-*.pickle"))[:2]
    report = grown_sites(first, last)
    rss = run["rss_mb"]
    report["rss_growth_mb_same_sessions"] = round(rss[-1] - rss[args.warm_up - 1], 1)
    out = RESULTS / "memory"  # docs/memory/ keeps the ones a page quotes
    title = (f"session_churn {args.tag or ''} ({run['label']}): tracemalloc, sessions "
             f"{args.warm_up} -> {args.sessions}; server RSS "
             f"{report['rss_growth_mb_same_sessions']:+} MB over the same sessions")
    name = f"session_churn_sites_{args.tag or 'run'}_{run['label'].replace(' ', '_')}.txt"
    if not args.no_save:  # the report is in the JSON either way
        out.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(as_text(report, title))
    return report


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Speech and camera clip once, then each server variant in turn."""
    from loguru import logger

    from pipelines.speech.models import SpeechModels

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    load = [round(v, 2) for v in os.getloadavg()]
    models = SpeechModels.bundled()  # the client's piper speaks the questions
    spoken = [Spoken.make(models, q) for q in QUESTIONS]
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench_churn_") as tmp:
        clip = None if args.no_camera else make_camera_clip(camera_photo(None)[0], Path(tmp))
        variants = [("new", LIVE_SCRIPT, None)]
        if args.base_root is not None:
            variants.insert(0, ("base", live_script_in(args.base_root.resolve()), None))
        if args.face_process == "both":  # issue 36: in the server's process, then in workers
            variants = [("face in process", LIVE_SCRIPT, "false"),
                        ("face in workers", LIVE_SCRIPT, "true")]
        elif args.face_process != "default":
            variants = [(label, script, "true" if args.face_process == "on" else "false")
                        for label, script, _ in variants]
        for label, script, face_process in variants:
            # server_under_test starts `python SCRIPT --serve-port`, which reads the settings
            # from the environment it inherits
            if face_process is None:
                os.environ.pop(FACE_PROCESS_ENV, None)
            else:
                os.environ[FACE_PROCESS_ENV] = face_process
            # the base's packages come first: an editable install would otherwise
            # import this tree's under the base's live.py
            paths = [str(script.parent.parent)]  # the tree under test, never an install
            if args.trace_memory:  # the server traces its heap (benchkit/memory_trace)
                folder = Path(tmp) / f"snapshots-{len(runs)}"
                folder.mkdir()
                paths.append(str(ROOT / "benchkit" / "memory_trace"))
                os.environ["AVATAR_FORCING_BENCH_SNAPSHOTS"] = str(folder)
                args.trace_memory = folder
            if args.memray:  # the server tracks native allocations (memory_trace)
                paths.append(str(ROOT / "benchkit" / "memory_trace"))
                args.memray = Path(tmp) / f"memray-{len(runs)}.bin"
                os.environ["AVATAR_FORCING_BENCH_MEMRAY"] = str(args.memray)
            if paths:
                os.environ["PYTHONPATH"] = os.pathsep.join(paths)
            else:
                os.environ.pop("PYTHONPATH", None)
            run = await churn(args, label, spoken, clip, script) | {"warm_up": args.warm_up}
            if args.trace_memory:
                run["heap_sites"] = heap_sites(args.trace_memory, run, args)
            if args.memray:
                run["native_sites"] = native_sites(args.memray, run, args)
            runs.append(run)
        os.environ.pop(FACE_PROCESS_ENV, None)
    return {"tag": args.tag, "model": args.model, "camera": not args.no_camera,
            "every_s": args.every, "first_audio_only": args.first_audio,
            "load_avg_start": load, "load_avg_end": [round(v, 2) for v in os.getloadavg()],
            "goal_mb_per_100_sessions": GOAL_MB_PER_100, "runs": runs}


def main() -> None:
    from pipelines.face.face_params import FacePacing
    from pipelines.face.quiet_moment import COLLECT_AFTER_SECS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--every", type=float, default=12.0,
                        help="a session starts every this many seconds (steady rate)")
    parser.add_argument("--warm-up", type=int, default=20,
                        help="sessions left out of the growth slope (caches filling)")
    parser.add_argument("--settle", type=float, default=COLLECT_AFTER_SECS + 2.0,
                        help="seconds after a disconnect before RSS is read: after the "
                             "node's collection of the ended session (it starts "
                             f"{COLLECT_AFTER_SECS} s after, and takes up to ~1 s)")
    parser.add_argument("--limit", type=float, default=60.0, help="seconds to wait for a reply")
    parser.add_argument("--first-audio", action="store_true",
                        help="leave at the reply's first audio, not its end")
    parser.add_argument("--no-camera", action="store_true")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--model", default="qwen2.5-0.5b", choices=["qwen2.5-0.5b", "smollm2"])
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--base-root", type=Path, default=None,
                        help="also run the server from this tree first (the code before a fix)")
    parser.add_argument("--face-process", choices=["default", "on", "off", "both"],
                        default="default", help="faces in worker processes or in the "
                        "server's (both: one run each, in process first)")
    parser.add_argument("--trace-memory", action="store_true",
                        help="the server traces its heap (tracemalloc): the sites that grew "
                        "from the end of warm-up to the end go to bench/results/memory/ and the JSON")
    parser.add_argument("--memray", action="store_true",
                        help="the server runs memray with native traces from the end of "
                        "warm-up to the end: the sites still holding memory go to "
                        "bench/results/memory/ and the JSON (Python and native allocations)")
    parser.add_argument("--tag", default=None)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    if args.memray and args.trace_memory:
        parser.error("--memray and --trace-memory each trace the server: one at a time")
    if args.sessions < 2 or args.every < 0 or args.warm_up < 0:
        parser.error("--sessions must be >= 2, --every and --warm-up >= 0")
    args.avatar_nice = FacePacing().worker_nice
    args.tag = args.tag or (f"n{args.sessions}" if args.model == "qwen2.5-0.5b"
                            else f"n{args.sessions}_{args.model}")
    summary = asyncio.run(measure(args))
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        note = (f"{args.model}, camera {not args.no_camera}, a session every {args.every} s, "
                f"load avg {summary['load_avg_start']} -> {summary['load_avg_end']}")
        png = RESULTS / f"session_churn_{args.tag}.png"
        plot(summary["runs"], png, note)
        summary["plot"] = str(png.relative_to(ROOT))
        (RESULTS / f"session_churn_{args.tag}.json").write_text(json.dumps(summary, indent=1))
    for run in summary["runs"]:
        run.pop("rss_mb")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
