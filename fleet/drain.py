"""`fleet drain NODE`: take a kiosk machine out of service without cutting anyone off.

Ray's own node drain does the work: the GCS stops placing anything on the node,
and Serve takes its replica out of routing and migrates it. The kiosk replica sees
its node draining (fleet/kiosk_replica.py) and answers any new conversation, on either door,
with 1013 and a reason. Live conversations go on; this waits until they have ended,
or the time limit has passed, then the machine may be stopped (`ray stop` there).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import ray
from ray.core.generated import autoscaler_pb2

from fleet.machines import machine_statuses

#: how often the drain looks at the machine's live sessions
POLL_SECS = 1.0


@dataclass(frozen=True)
class DrainResult:
    """How a drain ended: `drained` (no live session left) or the time limit."""

    node_id: str
    drained: bool
    waited_secs: float
    sessions_left: int


def request_drain(node_id: str, timeout_secs: float) -> None:
    """Ask Ray's GCS to drain `node_id` with a deadline `timeout_secs` from now.

    Raises:
        ValueError: the id is not a live node, or the GCS refused the drain.
    """
    node_id = full_node_id(node_id)
    gcs = ray._private.worker.global_worker.gcs_client  # type: ignore[attr-defined] # the driver's, as `ray drain-node`
    deadline_ms = int((time.time() + timeout_secs) * 1000)
    accepted, why = gcs.drain_node(
        node_id,
        autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"),  # type: ignore[attr-defined]
        "avatar-forcing fleet drain", deadline_ms)
    if not accepted:
        raise ValueError(f"Ray refused to drain {node_id}: {why}")


def full_node_id(node_id: str) -> str:
    """The whole hex id of the live node whose id starts with `node_id`."""
    live = [node["NodeID"] for node in ray.nodes() if node.get("Alive")]
    matches = [full for full in live if full.startswith(node_id)]
    if len(matches) != 1:
        raise ValueError(f"no single live node matches {node_id!r} (live: {', '.join(live)})")
    return str(matches[0])


async def drain(node_id: str, timeout_secs: float) -> DrainResult:
    """Drain a kiosk machine and wait for its conversations to end (or the limit)."""
    node_id = full_node_id(node_id)
    request_drain(node_id, timeout_secs)
    started = time.monotonic()
    sessions = 0
    while time.monotonic() - started < timeout_secs:
        machines = {m["node_id"]: m for m in await machine_statuses()}
        machine = machines.get(node_id)
        sessions = 0 if machine is None else int(machine["sessions"])
        if sessions == 0:
            return DrainResult(node_id, True, round(time.monotonic() - started, 1), 0)
        await asyncio.sleep(POLL_SECS)
    return DrainResult(node_id, False, round(time.monotonic() - started, 1), sessions)
