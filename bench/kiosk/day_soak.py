"""Figure: bench/results/day_soak_<tag>.json and .png, a kiosk machine's memory over a working day.

A store runs its kiosk from opening to closing: the server must not grow until the
machine swaps. This runs one kiosk machine under a steady stream of realistic
sessions for `--hours` (default 1), as the plain server (`--mode plain`), as a Ray
fleet replica on a one-machine loopback fleet (`--mode fleet`, no faults), or both
one after the other (`--mode both`, the default), and samples the memory of each
process every `--sample-every` seconds (benchkit/kiosk/day_memory.py).

The sessions (benchkit/kiosk/day_session.py): `--clients` real v2 clients back to back, each
with its camera on (a clip of a real face), asking three spoken questions (the bundled
piper voice); every third session cuts the avatar's second reply off at its first
audio (a barge-in) and every fifth vanishes (its socket aborted, no close).

Reported per mode: the growth after `--warmup-min` of each process role, in MB per
hour and per 100 sessions, the slopes over the first and last third, and whether it
levelled off (last third <= a quarter of the first, or below a quarter of the goal).
The issue's measures:
- plain.rss_growth_mb_per_hour <= 20 and plain.rss_growth_mb_per_100_sessions <= 5
  (the server process's RSS);
- fleet.pss_growth_mb_per_hour <= 50 (the kiosk replica process's PSS);
- plain.levelled and fleet.levelled.
The LLM server's memory (its prompt cache) is reported beside it.

    python bench/kiosk/day_soak.py [--mode both] [--hours 1] [--clients 2] [--tag NAME]
    python bench/kiosk/day_soak.py --mode plain --hours 0.1 --warmup-min 1 --tag smoke
    python bench/kiosk/day_soak.py --mode fleet --memray --hours 0.5 --warmup-min 5 --tag NAME

`--memray` (fleet mode): memray with native traces inside the kiosk replica process
from the end of warm-up to the end (benchkit/kiosk/replica_memray.py); the sites whose
memory was allocated in that window and is still alive are written to
bench/results/memory/day_soak_fleet_replica_memray_<tag>.txt and the JSON (docs/memory/
keeps the ones a page quotes).

Runs: ~130 min (one hour a mode, both modes) on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": plain server RSS +2.5 MB/h after warm-up, 0.81 MB per 100 sessions; fleet replica PSS +13.9 MB/h
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from tqdm import tqdm

from avatar.procfs import command_name, open_file_count, thread_count
from benchkit import clocks
from benchkit.kiosk import replica_memray
from benchkit.kiosk.arenas import arena_count
from benchkit.kiosk.day_memory import MemorySampler, Reading, growth
from benchkit.kiosk.day_session import Visit, visit
from benchkit.live.camera import camera_photo, make_camera_clip
from benchkit.load import load_average
from benchkit.paths import RESULTS, ROOT
from benchkit.speech import load_test_voice, piper_pcm16k
from benchkit.visitor import QUESTIONS

GOALS = {"plain_rss_mb_per_hour": 20.0, "plain_rss_mb_per_100_sessions": 5.0,
         "fleet_pss_mb_per_hour": 50.0}


def _rss_pss(pids: list[int]) -> tuple[float, float]:
    return (round(sum(clocks.rss_mb(p) for p in pids), 1),
            round(sum(clocks.pss_mb(p) for p in pids), 1))


def plain_reader(server_pid: int, llm_pid: int | None) -> Reading:
    """The server process, its face workers and fork server, the LLM server."""
    llm = [] if llm_pid is None else [llm_pid, *clocks.descendants(llm_pid)]
    workers = [p for p in clocks.descendants(server_pid) if p not in llm]
    reading = {"server": _rss_pss([server_pid]), "face workers": _rss_pss(workers)}
    if llm:
        reading["llm"] = _rss_pss(llm)
    reading["machine"] = _rss_pss([server_pid, *workers, *llm])
    return reading


def kiosk_replica_pid(cluster: Any) -> int | None:
    """The kiosk node's Serve replica process (the largest, should Ray start another)."""
    from benchkit.fleet.fleet_faults import node_pids

    replicas = [p for p in node_pids(cluster.workers[0])
                if command_name(p).startswith("ray::ServeRepli")]
    return max(replicas, key=clocks.pss_mb) if replicas else None


def process_facts(pid: int | None) -> dict[str, Any]:
    """Threads, open files and glibc malloc arenas of a process (benchkit/kiosk/arenas.py)."""
    if pid is None:
        return {}
    return {"pid": pid, "threads": thread_count(pid), "fds": open_file_count(pid),
            "malloc_arenas": arena_count(pid)}


def fleet_reader(cluster: Any) -> Reading:
    """The kiosk node's replica process and what it forked (face workers), the whole
    kiosk node, and the head (Serve's controller and proxy, the LLM replica)."""
    from benchkit.fleet.fleet_faults import node_pids

    pids = node_pids(cluster.workers[0])
    replica = kiosk_replica_pid(cluster)
    reading: Reading = {}
    if replica is not None:
        reading["replica"] = _rss_pss([replica])
        reading["replica workers"] = _rss_pss(clocks.descendants(replica))
    reading["kiosk node"] = _rss_pss(pids)
    reading["head"] = _rss_pss(node_pids(cluster.cluster.head_node))
    return reading


async def drive(base_url: str, args: argparse.Namespace, sampler_box: dict[str, Any],
                read: Any) -> list[Visit]:
    """`--clients` visitors back to back for `--hours`, memory sampled meanwhile."""
    voice = load_test_voice()
    questions = [piper_pcm16k(voice, q) for q in QUESTIONS]
    visits: list[Visit] = []
    counter = iter(range(10**9))
    t0 = time.monotonic()
    length = args.hours * 3600.0
    with tempfile.TemporaryDirectory(prefix="day_soak_") as tmp:
        clip = make_camera_clip(camera_photo(None)[0], Path(tmp))
        sampler = MemorySampler(read=read, sessions=lambda: len(visits), every=args.sample_every)
        sampler_box["sampler"] = sampler
        sampler.start()

        async def visitor() -> None:
            while time.monotonic() - t0 < length:
                booked = await visit(next(counter), base_url, questions, clip, size=args.size,
                                     clock=t0)
                visits.append(booked)
                if booked.error is not None and booked.error.startswith("connect"):
                    await asyncio.sleep(2.0)  # the machine refused: do not spin

        tasks = [asyncio.create_task(visitor()) for _ in range(args.clients)]
        with tqdm(total=round(length), unit="s", desc=f"{args.mode_now} soak",
                  file=sys.stderr) as bar:
            while not all(task.done() for task in tasks):
                await asyncio.wait(tasks, timeout=10.0)
                bar.update(min(round(length), round(time.monotonic() - t0)) - bar.n)
                rss = sampler.rows[-1][2] if sampler.rows else {}
                bar.set_postfix(sessions=len(visits),
                                errors=sum(v.error is not None for v in visits),
                                **{k.split()[0]: round(v[0]) for k, v in rss.items()
                                   if k in ("server", "replica")})
        for task in tasks:
            task.result()  # a bug in the driver must not pass as a quiet soak
        sampler.stop()
    return visits


def _summary(visits: list[Visit], sampler: MemorySampler, args: argparse.Namespace,
             goal_role: str, flat: float) -> dict[str, Any]:
    roles = sorted({role for _, _, reading in sampler.rows for role in reading})
    warmup = args.warmup_min * 60.0
    by_role = {}
    for role in roles:
        by_role[role] = {
            kind: growth(*sampler.series(role, which), warmup_secs=warmup,
                         flat_mb_per_hour=flat)
            for kind, which in (("rss", 0), ("pss", 1))}
    errors = [v.error for v in visits if v.error is not None]
    return {
        "sessions": len(visits),
        "sessions_barge_in": sum(v.barge_in for v in visits),
        "sessions_vanished": sum(v.vanished for v in visits),
        "turns_ok": sum(v.turns_ok for v in visits),
        "turns_failed": sum(v.turns_failed for v in visits),
        "sessions_with_error": len(errors), "errors_first": errors[:10],
        "frames_received": sum(v.frames for v in visits),
        "growth": by_role, "goal_role": goal_role,
        "samples": [(round(t), n, {k: list(v) for k, v in reading.items()})
                    for t, n, reading in sampler.rows],
    }


async def run_plain(args: argparse.Namespace) -> dict[str, Any]:
    """The bench's server process (bench/live/live.py --serve-port: the product's runtime
    with the embedded LLM and the avatar), `--clients` slots."""
    from benchkit.live.live_server import LIVE_SCRIPT, server_under_test
    from pipelines.face.face_params import FacePacing

    server_args = argparse.Namespace(
        model=args.model, max_tokens=args.max_tokens, sessions=args.clients,
        in_process=False, llm_threads=1, llm_batch_threads=1, first_phrase_words=None,
        avatar_nice=FacePacing().worker_nice)
    box: dict[str, Any] = {}
    async with server_under_test(server_args, LIVE_SCRIPT) as (url, llm_pid, _costs):
        pid = clocks.SERVER["pid"]
        base = url.replace("ws://", "http://").removesuffix("/ws")
        start_facts = process_facts(pid)
        visits = await drive(base, args, box, lambda: plain_reader(pid, llm_pid))
        facts = {"server_at_start": start_facts, "server_at_end": process_facts(pid)}
    out = _summary(visits, box["sampler"], args, "server", GOALS["plain_rss_mb_per_hour"] / 4)
    out["process_facts"] = facts
    if args.memray:
        out["replica_memray"] = box.get("replica_sites", {"error": "never started: the soak "
                                                         "ended before its warm-up"})
    server = out["growth"]["server"]
    return {"rss_growth_mb_per_hour": server["rss"]["mb_per_hour"],
            "rss_growth_mb_per_100_sessions": server["rss"].get("mb_per_100_sessions"),
            "pss_growth_mb_per_hour": server["pss"]["mb_per_hour"],
            "levelled": server["rss"].get("levelled"), **out}


def _free_port() -> int:
    from fleet import loopback

    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _start_replica_trace(cluster: Any, folder: Path, box: dict[str, Any],
                         window: dict[str, Any]) -> None:
    """After warm-up: memray on in the kiosk replica process (what grows from here)."""
    pid = kiosk_replica_pid(cluster)
    if pid is None:
        return
    sampler = box.get("sampler")
    window.update(pid=pid, t=time.monotonic(), pss=clocks.pss_mb(pid),
                  sessions=sampler.rows[-1][1] if sampler and sampler.rows else 0)
    replica_memray.start(folder, pid)


def _stop_replica_trace(folder: Path, box: dict[str, Any], window: dict[str, Any],
                        args: argparse.Namespace) -> dict[str, Any]:
    """memray off; the sites still alive from the window, written for people."""
    from benchkit.live.memray_sites import as_text, grown_sites

    pid = window["pid"]
    pss_end = clocks.pss_mb(pid)
    capture = replica_memray.stop(folder, pid)
    report = grown_sites(capture)
    sampler = box["sampler"]
    sessions = (sampler.rows[-1][1] if sampler.rows else 0) - window["sessions"]
    report.update(replica_pid=pid, sessions_in_window=sessions,
                  replica_pss_growth_mb_same_window=round(pss_end - window["pss"], 1))
    title = (f"day_soak {args.tag} (fleet, the kiosk replica process): memray --native from "
             f"minute {args.warmup_min:g} to the end, {sessions} sessions; replica PSS "
             f"{report['replica_pss_growth_mb_same_window']:+} MB over the same window")
    out = RESULTS / "memory"  # docs/memory/ keeps the ones a page quotes
    out.mkdir(parents=True, exist_ok=True)
    (out / f"day_soak_fleet_replica_memray_{args.tag}.txt").write_text(as_text(report, title))
    return report


def run_fleet(args: argparse.Namespace) -> dict[str, Any]:
    """A loopback fleet with one kiosk machine (`--clients` slots, none kept spare)
    and the LLM replica on the head; the clients come in through the fleet's door."""
    from fleet import loopback
    from fleet.launch import start_fleet
    from fleet.local_cluster import local_fleet
    from fleet.settings import FleetSettings
    from pipelines.settings import Settings

    port = _free_port()
    settings = Settings.load(llm={"embedded_model": args.model, "max_tokens": args.max_tokens},
                             avatar={"calibrate_portraits": False})
    fleet = FleetSettings(port=port, kiosk_machines=1, llm_replicas=1,
                          max_sessions_per_machine=args.clients, failover_reserve_slots=0)
    box: dict[str, Any] = {}
    trace = Path(tempfile.mkdtemp(prefix="day_soak_memray_")) if args.memray else None
    if trace is not None:
        replica_memray.prepare(trace)  # before the cluster: its workers inherit it
    with local_fleet(workers=1, cpus_per_node=2,
                     temp_dir=f"/tmp/rfday-{os.getpid()}") as cluster:
        start_fleet(fleet, settings)
        start_facts = process_facts(kiosk_replica_pid(cluster))
        window: dict[str, Any] = {}
        timer = None
        if trace is not None:
            timer = threading.Timer(args.warmup_min * 60.0, _start_replica_trace,
                                    (cluster, trace, box, window))
            timer.daemon = True
            timer.start()
        visits = asyncio.run(drive(f"http://{loopback.LOOPBACK}:{port}", args, box,
                                   lambda: fleet_reader(cluster)))
        if timer is not None:
            timer.cancel()
        if trace is not None and "pid" in window:
            box["replica_sites"] = _stop_replica_trace(trace, box, window, args)
        facts = {"replica_at_start": start_facts,
                 "replica_at_end": process_facts(kiosk_replica_pid(cluster))}
    out = _summary(visits, box["sampler"], args, "replica", GOALS["fleet_pss_mb_per_hour"] / 4)
    out["process_facts"] = facts
    if args.memray:
        out["replica_memray"] = box.get("replica_sites", {"error": "never started: the soak "
                                                         "ended before its warm-up"})
    replica = out["growth"].get("replica", {"pss": {"mb_per_hour": None}, "rss": {}})
    return {"pss_growth_mb_per_hour": replica["pss"]["mb_per_hour"],
            "pss_growth_mb_per_100_sessions": replica["pss"].get("mb_per_100_sessions"),
            "rss_growth_mb_per_hour": replica["rss"].get("mb_per_hour"),
            "levelled": replica["pss"].get("levelled"), **out}


def plot(report: dict[str, Any], out: Path) -> None:
    """Each mode's processes over time, RSS solid and PSS dashed, warm-up shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = [m for m in ("plain", "fleet") if m in report]
    fig, axes = plt.subplots(len(modes), 1, figsize=(9, 4 * len(modes)), squeeze=False)
    for ax, mode in zip(axes[:, 0], modes, strict=True):
        part = report[mode]
        rows = part["samples"]
        roles = sorted({role for _, _, reading in rows for role in reading} - {"machine", "head",
                                                                                 "kiosk node"})
        for index, role in enumerate(roles):
            points = [(t / 60.0, reading[role]) for t, _, reading in rows if role in reading]
            minutes = [p[0] for p in points]
            color = f"C{index}"
            rss_slope = part["growth"][role]["rss"]["mb_per_hour"]
            ax.plot(minutes, [p[1][0] for p in points], color=color,
                    label=f"{role} RSS ({rss_slope} MB/h)")
            ax.plot(minutes, [p[1][1] for p in points], color=color, ls="--",
                    label=f"{role} PSS ({part['growth'][role]['pss']['mb_per_hour']} MB/h)")
        ax.axvspan(0, report["warmup_min"], color="grey", alpha=0.15, lw=0)
        ax.set_title(f"{mode}: {part['sessions']} sessions, load "
                     f"{part['load_average_start']:.2f} -> {part['load_average_end']:.2f}",
                     fontsize=10)
        ax.set_xlabel("minutes")
        ax.set_ylabel("MB")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("A kiosk machine's memory over a soak (growth after the shaded warm-up)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["plain", "fleet", "both"], default="both")
    parser.add_argument("--hours", type=float, default=1.0, help="length of each mode's soak")
    parser.add_argument("--clients", type=int, default=2,
                        help="visitors at once (the machine's slots)")
    parser.add_argument("--size", type=int, default=512, help="the face's size in px")
    parser.add_argument("--warmup-min", type=float, default=10.0,
                        help="minutes left out of the growth (caches filling)")
    parser.add_argument("--sample-every", type=float, default=15.0,
                        help="seconds between memory readings")
    parser.add_argument("--model", default="qwen2.5-0.5b", choices=["qwen2.5-0.5b", "smollm2"])
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--memray", action="store_true",
                        help="fleet mode: memray in the kiosk replica after warm-up "
                             "(bench/results/memory/day_soak_fleet_replica_memray_<tag>.txt)")
    parser.add_argument("--tag", default="run")
    parser.add_argument("--plot-only", type=Path, default=None,
                        help="redraw the plot of a saved JSON, measure nothing")
    args = parser.parse_args()
    if args.plot_only is not None:
        plot(json.loads(args.plot_only.read_text()), args.plot_only.with_suffix(".png"))
        return 0
    if args.hours <= 0 or args.clients < 1 or args.warmup_min < 0:
        parser.error("--hours must be > 0, --clients >= 1, --warmup-min >= 0")
    if args.memray and args.mode == "plain":
        parser.error("--memray traces the fleet's replica (bench/live/session_churn.py --memray "
                     "traces the plain server)")
    report: dict[str, Any] = {"bench": "day_soak", "tag": args.tag, "hours": args.hours,
                              "clients": args.clients, "size": args.size, "model": args.model,
                              "warmup_min": args.warmup_min, "goals": GOALS,
                              "cpus": os.cpu_count()}
    out = RESULTS / f"day_soak_{args.tag}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    for mode in (["plain", "fleet"] if args.mode == "both" else [args.mode]):
        args.mode_now = mode
        start = load_average()
        part = asyncio.run(run_plain(args)) if mode == "plain" else run_fleet(args)
        report[mode] = {"load_average_start": start, "load_average_end": load_average(),
                        **part}
        out.write_text(json.dumps(report, indent=1) + "\n")  # each mode kept as it ends
    plot(report, out.with_suffix(".png"))
    report["plot"] = str(out.with_suffix(".png").relative_to(ROOT))
    out.write_text(json.dumps(report, indent=1) + "\n")
    keys = ("rss_growth_mb_per_hour", "rss_growth_mb_per_100_sessions", "pss_growth_mb_per_hour",
            "levelled", "sessions", "turns_ok", "process_facts", "turns_failed", "sessions_with_error",
            "load_average_start", "load_average_end")
    print(json.dumps({"bench": "day_soak", "tag": args.tag, "hours": args.hours,
                      **{mode: {k: report[mode].get(k) for k in keys}
                         for mode in ("plain", "fleet") if mode in report}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
