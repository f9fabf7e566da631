"""Figure: bench/results/fleet_soak_<tag>.json and .png, the kiosk fleet under steady load with faults on a schedule.

A loopback cluster as bench/fleet/kiosk_fleet.py starts it (fleet.local_cluster: a head with
Serve's proxy and one LLM replica, `--workers` kiosk nodes of one CPU, each taking at
most `--max-per-machine` sessions). The fleet keeps one machine's slots spare for
clients whose machine died (`[fleet] failover_reserve_slots`, `--reserve-slots`): the
N+1 a store chain runs, without which a dead machine's kiosks wait for its replacement
(~35 s). One client per free slot the machines advertise at the start less that
reserve, each holding a scripted
conversation (`--turns` questions spoken by the bundled piper voice, real v2 SDK
clients, 256 px face) and starting the next as soon as one ends, for `--minutes`.
The clients reconnect in their own loop (benchkit/fleet/soak_session.py says why not the
SDK's). A session with no face frame for `--stall-secs` counts as lost.

Faults (benchkit/fleet/fleet_faults.py, schedule scaled by `--fault-every` minutes):
a worker node killed (kill -9 of its raylet) and a fresh one started every period;
the LLM replica's llama.cpp server killed once at 1.25 periods; one worker node's
"network cut" for `--cut-secs` at 1.5 periods. There is no iptables or nft here and
loopback has no per-node address, so the cut is SIGSTOP of every process of that node
(raylet, agents, the kiosk replica), SIGCONT after: clients get neither data nor a
close, and the GCS declares the node dead as it would a partitioned one (the thawed
raylet then exits and the node is replaced). It does not model the kernel: TCP
handshakes to the frozen node still complete, and the node does no work meanwhile.

Reported (benchkit/fleet/soak_ledger.py says how each is counted): sessions started,
completed, lost, and lost off any faulted node; reconnect seconds from each fault to
the client's next face frame (goal <= 5); failed turns per session per fault (goal
<= 1); the largest frame gap on untouched sessions (goal < 1000 ms); RSS per node over
time and its growth after `--warmup-min` (goal flat); errors no fault explains (goal 0).

    python bench/fleet/fleet_soak.py [--minutes 30] [--fault-every 5] [--tag NAME]
    python bench/fleet/fleet_soak.py --minutes 4 --fault-every 1.5 --tag smoke   # each fault once

JSON (last stdout line: the goals' keys, the fault schedule as run, the load average;
bench/results/fleet_soak_TAG.json has everything); plot: fleet_soak_TAG.png.

Runs: ~35 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 0 of 130 sessions lost off a faulted node; every client back in <= 4.73 s; 0 unexplained errors
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# fleet.loopback.prepare_environment()'s flag, before Ray is imported anywhere
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from tqdm import tqdm

from benchkit.fleet.fleet_faults import (
    PlannedFault,
    cut_network,
    kill_llm,
    kill_worker,
    plan_faults,
)
from benchkit.fleet.fleet_probe import FleetDoor
from benchkit.fleet.node_rss import NodeRss
from benchkit.fleet.soak_ledger import Fault, process_growth, soak_rss_growth, summarize, touched
from benchkit.fleet.soak_plot import plot
from benchkit.fleet.soak_session import NodeDirectory, SlotBooks, SoakClock, client_slot
from benchkit.load import load_average
from benchkit.paths import RESULTS
from benchkit.speech import load_test_voice, piper_pcm16k
from benchkit.visitor import QUESTIONS
from fleet import loopback
from fleet.launch import start_fleet
from fleet.local_cluster import local_fleet
from fleet.machines import reserve_slots
from fleet.settings import FleetSettings
from pipelines.settings import Settings

GOAL_KEYS = ("sessions_lost_unfaulted", "reconnect_secs_max", "failed_turns_per_fault_max",
             "frame_gap_ms_max_untouched", "errors_unexpected")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _whole_again(door: FleetDoor, workers: int, gone: str, timeout: float = 300.0) -> bool:
    """Until `/fleet` lists `workers` machines again, none of them `gone`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            nodes = [m["node_id"] for m in door.status()["machines"]]
            if len(nodes) >= workers and gone not in nodes:
                return True
        time.sleep(1.0)
    return False


def inject(cluster: Any, door: FleetDoor, plan: list[PlannedFault], clock: SoakClock,
           workers: int, faults: list[Fault]) -> None:
    """Each planned fault at its time, on the main thread (Ray starts a node only from
    there); the oldest worker is the one killed or cut. A fault that cannot be injected
    is booked with why, and the soak goes on."""
    for planned in plan:
        time.sleep(max(0.0, planned.at - clock()))
        start, node = clock(), cluster.workers[0]
        fault = Fault(planned.kind, node.node_id, start, start)
        try:
            if planned.kind == "llm_kill":
                fault.target = door.status()["machines"][0]["llm"]["base_url"]
                fault.note = kill_llm(cluster.cluster.head_node, fault.target)
            elif planned.kind == "worker_kill":
                fault.note = f"replaced by node {kill_worker(cluster, node).node_id[:8]}"
            else:
                _, fault.note = cut_network(cluster, node, planned.secs)
        except Exception as error:  # booked, the soak goes on
            fault.note = f"injection failed: {error!r}"[:200]
        fault.end = start + planned.secs if planned.kind == "net_cut" else clock()
        faults.append(fault)
        if planned.kind != "llm_kill" and _whole_again(door, workers, node.node_id):
            fault.recovered = clock()


async def drive(door: FleetDoor, args: argparse.Namespace, clients: int, clock: SoakClock,
                books: SlotBooks, faults: list[Fault]) -> list[dict[str, Any]]:
    """The clients for `--minutes`, with `/fleet` read every 10 s (returned) for the
    machines' own counters (sessions, failed LLM turns, failovers)."""
    voice = load_test_voice()
    questions = [piper_pcm16k(voice, q) for q in QUESTIONS]
    stop = asyncio.Event()
    samples: list[dict[str, Any]] = []
    slots = [asyncio.create_task(client_slot(i, door, questions, turns=args.turns, clock=clock,
                                             stop=stop, books=books, nodes=NodeDirectory(door),
                                             stall_secs=args.stall_secs))
             for i in range(clients)]
    length = args.minutes * 60.0
    with tqdm(total=round(length), unit="s", desc=f"soak, {clients} clients") as bar:
        while clock() < length:
            await asyncio.sleep(min(10.0, max(0.1, length - clock())))
            with contextlib.suppress(OSError, ValueError):
                status = await asyncio.to_thread(door.status)
                samples.append({"t": round(clock(), 1), "machines": [
                    {k: m.get(k) for k in ("node_id", "sessions", "free", "cpu_percent",
                                           "video_fps", "llm")} for m in status["machines"]]})
            bar.update(max(0, round(clock()) - bar.n))
            bar.set_postfix(sessions=len(books.sessions), faults=len(faults),
                            lost=sum(s.outcome == "lost" for s in books.sessions))
    stop.set()
    await asyncio.wait(slots, timeout=60)
    if books.closing:
        await asyncio.wait(books.closing, timeout=15)
    return samples


def soak(cluster: Any, door: FleetDoor, args: argparse.Namespace) -> dict[str, Any]:
    """The clients (their own thread and event loop), the faults (this thread) and the
    RSS sampler for `--minutes`; the books at the end."""
    machines = door.status()["machines"]
    free = sum(int(m["free"]) for m in machines)
    reserve = reserve_slots(machines, args.reserve_slots)
    clients = args.sessions or max(1, free - reserve)
    plan = plan_faults(args.minutes, args.fault_every, args.cut_secs)
    books, faults, box = SlotBooks(), [], {}
    clock = SoakClock()
    rss = NodeRss(cluster, clock, every=args.rss_every)
    rss.start()
    thread = threading.Thread(target=lambda: box.update(samples=asyncio.run(
        drive(door, args, clients, clock, books, faults))), name="clients")
    thread.start()
    try:
        inject(cluster, door, plan, clock, args.workers, faults)
    finally:
        thread.join()
        rss.stop()
    summary = summarize(books.sessions, faults, books.incidents)
    growth = soak_rss_growth(rss.samples, box.get("samples", []),
                             [dataclasses.asdict(f) for f in faults], args.warmup_min * 60.0)
    pss_growth = soak_rss_growth(rss.pss_samples, box.get("samples", []),
                                 [dataclasses.asdict(f) for f in faults], args.warmup_min * 60.0)
    return {
        "clients": clients, "free_at_start": free, "reserve_at_start": reserve,
        "free_per_machine_at_start": [int(m["free"]) for m in machines],
        "soak_secs": round(clock(), 1),
        "fault_schedule": [{"kind": f.kind, "start": round(f.start, 1), "end": round(f.end, 1),
                            "recovered": None if f.recovered is None else round(f.recovered, 1),
                            "target": f.target if f.kind == "llm_kill" else f.target[:12],
                            "note": f.note} for f in faults],
        "faults_planned": [dataclasses.asdict(p) for p in plan],
        "faults": [dataclasses.asdict(f) for f in faults],
        "summary": summary | {"busy_refusals": books.busy_refusals},
        "rss_growth": growth,
        "rss_growth_mb_per_hour_max": max((g["mb_per_hour"] for g in growth.values()),
                                          default=None),
        "rss_samples": [(round(t, 1), node, round(mb)) for t, node, mb in rss.samples],
        "pss_growth": pss_growth,
        "pss_growth_mb_per_hour_max": max((g["mb_per_hour"] for g in pss_growth.values()),
                                          default=None),
        "pss_samples": [(round(t, 1), node, round(mb)) for t, node, mb in rss.pss_samples],
        "processes_growth": {node: process_growth(
            [(t, procs) for t, label, procs in rss.processes if label == node],
            args.warmup_min * 60.0) for node in sorted({label for _, label, _ in rss.processes})},
        "fleet_samples": box.get("samples", []),
        "sessions": [dataclasses.asdict(s) | {"touched": touched(s, faults)}
                     for s in books.sessions],
    }


def _reserve(value: str) -> int | str:
    """`--reserve-slots`: `one_machine` or a whole number >= 0."""
    if value == "one_machine":
        return value
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"a number >= 0 or one_machine, got {value!r}")
    return int(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the soak")
    parser.add_argument("--fault-every", type=float, default=5.0,
                        help="minutes between worker kills (the other faults scale with it)")
    parser.add_argument("--cut-secs", type=float, default=30.0, help="the network cut's length")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--max-per-machine", type=int, default=2,
                        help="[fleet] max_sessions_per_machine: most sessions one machine takes")
    parser.add_argument("--reserve-slots", default="one_machine", type=_reserve,
                        help="[fleet] failover_reserve_slots, kept for clients back after a "
                        "drop: a number, or one_machine (what the largest machine holds)")
    parser.add_argument("--sessions", type=int, default=0,
                        help="clients (0: the free slots less the reserve)")
    parser.add_argument("--turns", type=int, default=3, help="questions per conversation")
    parser.add_argument("--stall-secs", type=float, default=3.0,
                        help="no face frame this long: the session counts as lost")
    parser.add_argument("--warmup-min", type=float, default=3.0,
                        help="minutes of a node's life left out of its RSS growth")
    parser.add_argument("--rss-every", type=float, default=10.0)
    parser.add_argument("--model", default="qwen2.5-0.5b", help="the LLM pool's model")
    parser.add_argument("--tag", default="run")
    parser.add_argument("--plot-only", type=Path, default=None,
                        help="redraw the plot of a saved JSON, measure nothing")
    parser.add_argument("--reanalyse-rss", type=Path, default=None,
                        help="recompute a saved JSON's RSS growth (sessions held apart), replot")
    args = parser.parse_args()
    if args.reanalyse_rss is not None:
        report = json.loads(args.reanalyse_rss.read_text())
        growth = soak_rss_growth(report["rss_samples"], report["fleet_samples"],
                                 report["faults"], args.warmup_min * 60.0)
        report.setdefault("rss_growth_as_run", report["rss_growth"])
        report.setdefault("rss_growth_mb_per_hour_max_as_run", report["rss_growth_mb_per_hour_max"])
        report["rss_growth"] = growth
        report["rss_growth_mb_per_hour_max"] = max((g["mb_per_hour"] for g in growth.values()),
                                                   default=None)
        args.reanalyse_rss.write_text(json.dumps(report, indent=2) + "\n")
        args.plot_only = args.reanalyse_rss
    if args.plot_only is not None:
        plot(json.loads(args.plot_only.read_text()), args.plot_only.with_suffix(".png"))
        return 0
    load_at_start = load_average()
    port = _free_port()
    settings = Settings.load(llm={"embedded_model": args.model},
                             avatar={"calibrate_portraits": False})
    fleet = FleetSettings(port=port, kiosk_machines=args.workers, llm_replicas=1,
                          max_sessions_per_machine=args.max_per_machine,
                          failover_reserve_slots=args.reserve_slots)
    started = time.monotonic()
    with local_fleet(workers=args.workers, temp_dir=f"/tmp/rfsoak-{os.getpid()}") as cluster:
        deploy = start_fleet(fleet, settings)
        door = FleetDoor(f"http://{loopback.LOOPBACK}:{port}")
        results = soak(cluster, door, args)
    summary = results["summary"]
    report = {"bench": "fleet_soak", "tag": args.tag, "minutes": args.minutes,
              "fault_every_min": args.fault_every, "cut_secs": args.cut_secs,
              "workers": args.workers, "cpus_per_node": 1, "turns": args.turns,
              "max_per_machine": args.max_per_machine, "reserve_slots": args.reserve_slots,
              "stall_secs": args.stall_secs, "model": args.model,
              **{key: summary[key] for key in GOAL_KEYS},
              "load_average_start": load_at_start, "load_average_end": load_average(),
              "deploy_secs": deploy["deploy_secs"],
              "wall_secs": round(time.monotonic() - started, 1), **results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    Path(RESULTS / f"fleet_soak_{args.tag}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, RESULTS / f"fleet_soak_{args.tag}.png")
    last = {key: report[key] for key in ("bench", "tag", "minutes", "clients", *GOAL_KEYS,
                                          "rss_growth_mb_per_hour_max",
                                          "pss_growth_mb_per_hour_max", "fault_schedule",
                                          "load_average_start", "load_average_end")}
    last |= {k: summary[k] for k in ("sessions_started", "sessions_completed", "sessions_lost",
                                     "reconnect_secs_max_free_slot")}
    print(json.dumps(last))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
