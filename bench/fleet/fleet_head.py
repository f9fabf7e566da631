"""Figure: bench/results/fleet_head_<mode>.json, what the head node's death does to the kiosk fleet.

A 3-node loopback cluster as the fleet runs it (fleet.local_cluster: a head with the
GCS, Serve's controller and proxy (the public door) and the LLM replica, and
`--workers` kiosk nodes of one CPU), one 256 px video session per kiosk machine on
its direct door, opened the way a kiosk opens it (`/session` at the public door).
Then every process of the head is killed (SIGKILL), and for `--watch` seconds,
every 3 s: what a new visitor gets at the public door, what a new session gets
straight at each direct door, whether each kiosk node's raylet still runs; and for
each live session, its frames and its close.

    --mode plain   the GCS keeps its tables in memory (the default `ray start`)
    --mode redis   GCS fault tolerance: the GCS keeps its tables in a redis-server on
                   loopback (RAY_REDIS_ADDRESS); a new head is started on the same
                   port `--restart-after` s after the kill (what KubeRay does when it
                   replaces a head pod)

    python bench/fleet/fleet_head.py --mode plain [--watch 90] [--workers 2]
    python bench/fleet/fleet_head.py --mode redis [--watch 120] [--restart-after 10]

JSON (last stdout line; also bench/results/fleet_head_<mode>.json): the sessions'
summaries (frames after the kill, last frame, close), the timeline's changes, and
the load average. Needs the Debian package redis-server for `--mode redis`.

Runs: ~5 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": without GCS fault tolerance faces go on 60 s, then the fleet is gone; with Redis the door is back at 19.5 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# fleet.loopback.prepare_environment()'s flag, before Ray is imported anywhere
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from benchkit.fleet.fleet_head import (
    changes,
    free_port,
    get_json,
    kill_head,
    open_watched,
    redis_server,
    restart_head,
    timeline,
)
from benchkit.load import load_average
from benchkit.paths import RESULTS
from fleet import loopback
from fleet.launch import start_fleet
from fleet.local_cluster import FAST_HEALTH_CHECK, LLM_RESOURCE, local_fleet
from fleet.settings import FleetSettings
from pipelines.settings import Settings


async def measure(cluster: Any, door: str, args: argparse.Namespace,
                  head_args: dict[str, Any]) -> dict[str, Any]:
    """Sessions up, the head killed (and restarted with `--mode redis`), the timeline."""
    sessions = [await open_watched(door, f"session {i}") for i in range(args.workers)]
    readers = [asyncio.create_task(s.run()) for s in sessions]
    await asyncio.sleep(5.0)  # frames flowing
    machines = get_json(f"{door}/fleet")["machines"]
    direct_urls = [f"{m['direct_url']}/ws" for m in machines]
    placed = [m["sessions"] for m in machines]
    killed_at = time.monotonic()
    await asyncio.to_thread(kill_head, cluster)
    restarted: dict[str, Any] = {}

    async def restart() -> None:
        await asyncio.sleep(args.restart_after)
        started = time.monotonic()
        # on the main thread (Ray sets signal handlers when a node starts): the
        # timeline's probes wait meanwhile
        restart_head(cluster, head_args)
        restarted.update(at_secs=round(started - killed_at, 1),
                         took_secs=round(time.monotonic() - started, 1))

    restarter = asyncio.create_task(restart()) if args.mode == "redis" else None
    rows = await timeline(door, direct_urls, cluster.workers, killed_at, args.watch)
    if restarter is not None:
        await restarter
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    for session in sessions:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(session.connection.close(), 5)
    public_back = next((row["t"] for row in rows if row["public_door"].startswith("ok")), None)
    return {
        "sessions_per_machine_before": placed,
        "sessions": [s.summary(killed_at) for s in sessions],
        "head_restarted": restarted or None,
        "public_door_back_secs": public_back,
        "timeline_changes": changes(rows),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("plain", "redis"), default="plain")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--watch", type=float, default=90.0, help="seconds after the kill")
    parser.add_argument("--restart-after", type=float, default=10.0,
                        help="--mode redis: seconds from the kill to the new head")
    args = parser.parse_args()
    load_at_start = load_average()
    port = free_port()
    temp_dir = f"/tmp/rfhead-{os.getpid()}"
    settings = Settings.load(llm={"embedded_model": "smollm2"},
                             avatar={"calibrate_portraits": False})
    fleet = FleetSettings(port=port, kiosk_machines=args.workers, llm_replicas=1)
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        if args.mode == "redis":
            address = stack.enter_context(redis_server(tempfile.mkdtemp(prefix="rfredis-")))
            os.environ["RAY_REDIS_ADDRESS"] = address  # read by the head node at its start
            os.environ["RAY_external_storage_namespace"] = f"fleet-head-{os.getpid()}"
        import ray

        with local_fleet(workers=args.workers, temp_dir=temp_dir) as cluster:
            deploy = start_fleet(fleet, settings)
            gcs_port = int(cluster.address.rsplit(":", 1)[1])
            # what local_fleet gave the head, on the same GCS port
            head_args = {"num_cpus": 1, "node_ip_address": loopback.LOOPBACK,
                         "dashboard_host": loopback.LOOPBACK, "include_dashboard": False,
                         "resources": {LLM_RESOURCE: 1}, "_system_config": FAST_HEALTH_CHECK,
                         "temp_dir": temp_dir, "gcs_server_port": gcs_port}
            # a driver whose GCS is gone for good exits its whole process: leave first
            ray.shutdown()
            results = asyncio.run(measure(cluster, f"http://{loopback.LOOPBACK}:{port}", args,
                                          head_args))
    report = {"bench": "fleet_head", "mode": args.mode, "workers": args.workers,
              "watch_secs": args.watch, "deploy_secs": deploy["deploy_secs"],
              "load_average_start": load_at_start, "load_average_end": load_average(),
              "wall_secs": round(time.monotonic() - started, 1), **results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    Path(RESULTS / f"fleet_head_{args.mode}.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
