"""A kiosk machine that has grown past a memory ceiling recycles itself gracefully.

Why: a store's kiosk fleet runs from opening to closing. If something in a replica
grows (a library's allocator, a leak not yet found), the machine must not swap or
meet the kernel's OOM killer mid-conversation. This is the safety net, not the
fix: a day's soak shows the replica flat without it (docs/FLEET.md).

How: `[fleet] recycle_above_mb`. Every `CHECK_SECS` the replica reads its process
tree's PSS (the replica and its face workers, each shared page counted once: what
the machine really holds for it). Once over the ceiling it is *recycling*, for good:
- (only once a conversation has ended: a fresh replica is what a restart gives)
- it takes no new conversation (the same 1013 "try again" a draining machine gives,
  so the SDKs go to another machine or come back when it is replaced);
- live conversations go on to their end (or `drain_timeout_secs`);
- then its health check fails, and Serve replaces the replica with a fresh process
  on the same machine. The SDKs already reconnect; nobody was mid-sentence.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

from avatar.procfs import process_tree, pss_bytes

#: how often a replica reads its memory (a /proc walk: ~1 ms)
CHECK_SECS = 10.0


def tree_pss_mb(pid: int) -> float:
    """PSS of `pid` and every process below it, in MB."""
    return sum(pss_bytes(member) for member in process_tree(pid)) / 2**20


@dataclass
class MemoryCeiling:
    """The recycle decision for one replica. `ceiling_mb` None: never recycles."""

    ceiling_mb: float | None
    read_mb: Callable[[], float]
    drain_timeout_secs: float = 600.0
    last_mb: float | None = None
    #: when the ceiling was first passed (time.monotonic), None while under it
    over_since: float | None = field(default=None)
    warned: bool = False

    def check(self, ended_sessions: int) -> float:
        """Read the memory now; latch `recycling` once it passes the ceiling after at
        least one conversation has ended (a fresh replica already over it would only
        restart into the same state, and Serve would never see it healthy: the ceiling
        is then below the machine's idle footprint, which the log says)."""
        self.last_mb = self.read_mb()
        over = self.ceiling_mb is not None and self.last_mb > self.ceiling_mb
        if over and self.over_since is None:
            if ended_sessions > 0:
                self.over_since = time.monotonic()
            elif not self.warned:
                self.warned = True
                logger.warning(f"[fleet] recycle_above_mb = {self.ceiling_mb:.0f} is below this "
                               f"replica's memory before any conversation ({self.last_mb:.0f} "
                               "MB): it recycles only after its first conversation")
        return self.last_mb

    @property
    def recycling(self) -> bool:
        """Past the ceiling: take no new conversation."""
        return self.over_since is not None

    def restart_now(self, sessions: int) -> bool:
        """Recycling and nobody left to cut off (or the drain time limit has passed)."""
        if self.over_since is None:
            return False
        return sessions == 0 or time.monotonic() - self.over_since > self.drain_timeout_secs

    def refusal(self, retry_after_secs: float) -> str | None:
        """The reason a new conversation is refused, while recycling."""
        if not self.recycling:
            return None
        return (f"this machine is restarting to give back memory ({self.last_mb:.0f} MB over "
                f"its {self.ceiling_mb:.0f} MB ceiling); try again in {retry_after_secs:g} s "
                "(another machine will answer)")

    def why_unhealthy(self, sessions: int) -> str | None:
        """The health check's failure once it is time to restart, else None."""
        if not self.restart_now(sessions):
            return None
        return (f"recycling: the replica's memory ({self.last_mb:.0f} MB) passed "
                f"[fleet] recycle_above_mb = {self.ceiling_mb:.0f}; its sessions have ended")
