"""`avatar-forcing fleet up|status|drain|down`: the kiosk fleet from the command line.

Found by `avatar-forcing` through the `avatar_forcing.commands` entry point, so
`pipelines/` never imports the fleet; Ray is imported only when a fleet command
runs (`pip install avatar-forcing[fleet]`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import threading
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `fleet` and its actions."""
    parser = subparsers.add_parser(
        "fleet", help="run the kiosk fleet on a Ray cluster (docs/FLEET.md)",
        description="Deploy, watch and drain the kiosk fleet on a Ray cluster started the "
        "usual way (ray start --head; ray start --address=... --resources='{\"kiosk\": 1}'). "
        "Needs the fleet extra: pip install 'avatar-forcing[fleet]'.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="deploy the fleet (LLM pool, kiosk machines, front door)")
    up.add_argument("--config", type=Path, default=None,
                    help="fleet TOML: the machine settings plus a [fleet] table")
    up.add_argument("--address", default="auto", help="Ray cluster address (default: auto)")
    up.add_argument("--local", type=int, default=0, metavar="N",
                    help="no cluster: start a head and N kiosk nodes on this host, on "
                    "127.0.0.1, and serve until Ctrl-C (a try-out and the benches)")
    status = actions.add_parser("status", help="per machine: sessions, slots, CPU, images/s")
    status.add_argument("--address", default="auto")
    drain = actions.add_parser("drain", help="stop new sessions on a machine, wait for its "
                               "live ones, then release it")
    drain.add_argument("node", help="the node id (or its first characters), from `status`")
    drain.add_argument("--timeout", type=float, default=None,
                       help="seconds to wait for live sessions (default [fleet] drain_timeout_secs)")
    drain.add_argument("--address", default="auto")
    down = actions.add_parser("down", help="remove the fleet's applications (Ray stays up)")
    down.add_argument("--address", default="auto")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Dispatch to the chosen action."""
    from fleet import loopback

    loopback.prepare_environment()  # before `import ray`: 127.0.0.1 stays 127.0.0.1
    if args.action == "up" and args.local:
        return _up_local(args)
    import ray

    ray.init(address=args.address, log_to_driver=False, logging_level=logging.WARNING)
    if args.action == "up":
        return _up(args)
    if args.action == "status":
        from fleet.machines import machine_statuses, summarize

        machines = asyncio.run(machine_statuses())
        print(json.dumps({"totals": summarize(machines), "machines": machines}, indent=2))
        return 0
    if args.action == "drain":
        from fleet.drain import drain
        from fleet.settings import FleetSettings

        timeout = args.timeout or FleetSettings().drain_timeout_secs
        result = asyncio.run(drain(args.node, timeout))
        print(json.dumps(result.__dict__))
        if result.drained:
            print(f"machine {result.node_id[:12]} is drained: stop it (`ray stop` there)")
            return 0
        print(f"time limit reached with {result.sessions_left} session(s) live")
        return 1
    from fleet.launch import stop_fleet

    stop_fleet()
    return 0


def _up(args: argparse.Namespace) -> int:
    from fleet.launch import start_fleet
    from fleet.settings import load_fleet_config

    fleet, settings = load_fleet_config(args.config)
    print(json.dumps(start_fleet(fleet, settings)))
    return 0


def _up_local(args: argparse.Namespace) -> int:
    """A loopback cluster on this host, the fleet on it, until Ctrl-C or SIGTERM."""
    from fleet.launch import start_fleet
    from fleet.local_cluster import local_fleet
    from fleet.settings import load_fleet_config

    fleet, settings = load_fleet_config(args.config)
    fleet = fleet.model_copy(update={"kiosk_machines": args.local})
    stop = threading.Event()
    with local_fleet(workers=args.local) as _cluster:
        info: dict[str, Any] = start_fleet(fleet, settings)
        # after ray.init, which installs its own SIGTERM handler: stop cleanly instead
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        print(json.dumps(info), flush=True)
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
    return 0
