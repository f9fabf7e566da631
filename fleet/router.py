"""Serve's request router for kiosk machines: the one with most free slots first
(of equals, the one with fewest sessions).

Serve's default router (power of two choices on queue length) sees each open
websocket as one ongoing request, so it spreads connections but knows nothing of
what a machine can hold. Ours ranks by the `free` slots each replica reports in
its routing stats (fleet/kiosk_replica.py, from its live capacity measure; Serve polls them
every second). Connections routed since are counted against the machine so two
quick connects do not both land on it: each until the machine has sent stats taken
two seconds after the stats the router had when it sent the connection (by the
machine's own clock, `uptime_secs`), however late a busy box's stats come.

A machine reporting no free slot is still ranked, last: a full fleet must answer
the visitor with 1013 and a reason, which only a replica can send.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ray.serve.request_router import (
    FIFOMixin,
    PendingRequest,
    ReplicaID,
    RequestRouter,
    RunningReplica,
)

#: a connection routed within this many seconds is not yet in the machine's stats
ROUTED_MEMORY_SECS = 2.0
#: ... nor before the machine's stats are this much younger, by its own clock, than
#: those the router had when it routed (Serve asks for them every second)
REPORTED_AFTER_SECS = 2.0
#: ... but never counted longer (a machine that stops reporting is replaced by Serve)
ROUTED_MEMORY_MAX_SECS = 30.0


@dataclass(frozen=True)
class RoutedConnection:
    """A connection sent to a machine: when, and the age of the machine's stats then
    (`uptime_secs`, its own clock)."""

    at: float
    stats_uptime: float | None

    def pending(self, now: float, stats_uptime: float | None) -> bool:
        """Not yet in the machine's stats: too recent, or no stats taken long enough
        after the ones the router had when it routed."""
        age = now - self.at
        if age < ROUTED_MEMORY_SECS:
            return True
        if age >= ROUTED_MEMORY_MAX_SECS or self.stats_uptime is None or stats_uptime is None:
            return False
        return stats_uptime < self.stats_uptime + REPORTED_AFTER_SECS


class FreeSlotsRouter(FIFOMixin, RequestRouter):
    """Rank kiosk replicas by free slots (measured), minus connections just sent there."""

    def initialize_state(self, **kwargs: Any) -> None:
        """Serve calls this once; the recent-routing memory starts empty."""
        self._routed: dict[ReplicaID, list[RoutedConnection]] = {}
        self._stats_uptime: dict[ReplicaID, float | None] = {}

    def free(self, replica: RunningReplica, now: float) -> float:
        """Slots the replica reported free, less what was routed to it since."""
        stats = replica.routing_stats or {}
        uptime = stats.get("uptime_secs")
        uptime = float(uptime) if isinstance(uptime, int | float) else None
        self._stats_uptime[replica.replica_id] = uptime
        recent = [c for c in self._routed.get(replica.replica_id, []) if c.pending(now, uptime)]
        self._routed[replica.replica_id] = recent
        free = float(stats.get("free", 1))  # no stats yet: a fresh machine has room
        return free - len(recent)

    @staticmethod
    def sessions(replica: RunningReplica) -> float:
        """The replica's live sessions as last reported (of machines with the same room,
        the emptier one goes first: a machine's death then cuts fewer visitors)."""
        return float((replica.routing_stats or {}).get("sessions", 0))

    async def choose_replicas(
        self,
        candidate_replicas: list[RunningReplica],
        pending_request: PendingRequest | None = None,
    ) -> list[list[RunningReplica]]:
        """Machines with room, most room first; then the full ones (they answer 1013)."""
        now = time.monotonic()
        scored = sorted(((self.free(r, now), r) for r in candidate_replicas),
                        key=lambda pair: (pair[0], -self.sessions(pair[1])), reverse=True)
        with_room = [[replica] for free, replica in scored if free > 0]
        full = [replica for free, replica in scored if free <= 0]
        return with_room + ([full] if full else [])

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID,
                          result: Any) -> None:
        """Remember the connection until the machine's own stats include it."""
        self._routed.setdefault(replica_id, []).append(
            RoutedConnection(time.monotonic(), self._stats_uptime.get(replica_id)))
