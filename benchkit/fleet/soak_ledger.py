"""The soak's books: faults, sessions and turns on one timeline, and what they add up to.

Why pure and apart: whether a lost session or a failed turn is "the fault's" or an
error of ours is the whole verdict of bench/fleet/fleet_soak.py, so the rules are kept
here, with no I/O and no clock, where tests/bench/test_soak_ledger.py checks them
on a synthetic timeline. Times are seconds from the start of the soak.

The rules:

* a lost session is the fault's when a node fault (a killed worker, a cut network)
  hit its node between `start - 1 s` and `end + grace`; anything else lost (a
  session dropped by an LLM death, or with no fault at all) is `lost_unfaulted`;
* a session's reconnect is the time from the fault's start (and from the loss the
  client saw) to the first face frame of the next session of the same client;
* a failed turn (an `llm_unavailable` apology, or no whole reply on a session that
  stayed up), timed when it was seen failing, belongs to the last fault started
  before that, if that fault ended at most `turn_grace` before; failed turns per
  fault are counted per session (goal <= 1 per session per fault); a failed turn
  no fault explains is an error;
* a session is untouched when no node fault hit its node while it was live: its
  largest frame gap is the one held to < 1 s;
* RSS growth is a least-squares slope per node life, after its warm-up, with the
  node's live sessions held apart when they are known.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: fault kinds that take a node (and its sessions) away; an LLM kill does not
NODE_FAULTS = ("worker_kill", "net_cut")


@dataclass
class Fault:
    """One fault as run: `target` is the node id (node faults) or the LLM's address."""

    kind: str
    target: str
    start: float
    end: float
    #: when the fleet was whole again (the replacement machine serving), if seen
    recovered: float | None = None
    note: str = ""

    def hits(self, node: str, t: float, grace: float) -> bool:
        """Whether this fault explains something that happened on `node` at `t`."""
        return (self.kind in NODE_FAULTS and self.target == node
                and self.start - 1.0 <= t <= self.end + grace)


@dataclass
class Session:
    """One conversation of one client slot, as the client saw it."""

    slot: int
    node: str
    opened: float
    first_frame: float | None = None
    ended: float | None = None
    #: "completed" (all turns, closed by us), "lost" (closed by the server, or frozen),
    #: "running" (still up when the soak ended)
    outcome: str = "running"
    reason: str = ""
    turns_ok: int = 0
    #: when turns that failed while the session stayed up were seen failing (their end:
    #: a turn started a moment before a fault fails of that fault)
    failed_turns: list[float] = field(default_factory=list)
    #: largest interval between two face frames (ms)
    gap_max_ms: float = 0.0
    #: (time, ms) of every interval over `BIG_GAP_MS`, for the plot
    big_gaps: list[tuple[float, float]] = field(default_factory=list)
    #: `server_busy` answers the client got before this session opened: a reconnect
    #: that waited for a free slot (a full fleet that lost a machine) rather than a door
    busy_before: int = 0


#: frame intervals above this are kept with their time (25 images/s: 40 ms each)
BIG_GAP_MS = 250.0


@dataclass
class Incident:
    """Something that went wrong that is not a session or a turn: a failed connect, an
    error event. `expected` when it happened inside a fault's window."""

    t: float
    slot: int
    what: str


def touched(session: Session, faults: list[Fault], grace: float = 30.0) -> bool:
    """Whether a node fault hit the session's node while it was live (or `grace` after)."""
    end = session.ended if session.ended is not None else float("inf")
    return any(f.kind in NODE_FAULTS and f.target == session.node
               and f.start - 1.0 <= end and session.opened <= f.end + grace for f in faults)


def _fault_for_turn(faults: list[Fault], t: float, turn_grace: float) -> int | None:
    """Index of the last fault started before `t` that ended at most `turn_grace` before."""
    chosen = None
    for index, fault in enumerate(faults):
        if fault.start <= t <= max(fault.end, fault.recovered or fault.end) + turn_grace:
            chosen = index
    return chosen


def _in_any_window(faults: list[Fault], t: float, grace: float) -> bool:
    return any(f.start - 1.0 <= t <= max(f.end, f.recovered or f.end) + grace for f in faults)


def summarize(sessions: list[Session], faults: list[Fault], incidents: list[Incident], *,
              grace: float = 30.0, turn_grace: float = 60.0) -> dict[str, Any]:
    """Everything the soak reports about sessions, reconnects, turns and errors."""
    started = [s for s in sessions if s.first_frame is not None]
    lost = [s for s in started if s.outcome == "lost"]
    by_slot: dict[int, list[Session]] = defaultdict(list)
    for session in sorted(started, key=lambda s: s.opened):
        by_slot[session.slot].append(session)

    lost_faulted: list[Session] = []
    lost_unfaulted: list[Session] = []
    reconnects: list[dict[str, Any]] = []
    for session in lost:
        t = session.ended if session.ended is not None else session.opened
        fault = next((i for i, f in enumerate(faults) if f.hits(session.node, t, grace)), None)
        (lost_faulted if fault is not None else lost_unfaulted).append(session)
        after = [s for s in by_slot[session.slot] if s.opened >= t]
        back = after[0].first_frame if after else None
        reconnects.append({
            "slot": session.slot, "fault": fault, "lost_at": round(t, 1),
            "busy_refusals": after[0].busy_before if after else None,
            "from_fault_secs": (None if back is None or fault is None
                                else round(back - faults[fault].start, 2)),
            "from_loss_secs": None if back is None else round(back - t, 2),
        })

    per_fault: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    stray_turns: list[dict[str, Any]] = []
    for session in started:
        for t in session.failed_turns:
            index = _fault_for_turn(faults, t, turn_grace)
            if index is None:
                stray_turns.append({"t": round(t, 1), "slot": session.slot, "node": session.node})
            else:
                per_fault[index][id(session)] += 1
    failed_turns: list[dict[str, Any]] = [{"fault": i, "kind": f.kind, "total": sum(per_fault[i].values()),
                     "per_session_max": max(per_fault[i].values(), default=0)}
                    for i, f in enumerate(faults)]

    untouched = [s for s in started if not touched(s, faults, grace)]
    unexpected = [{"t": round(i.t, 1), "slot": i.slot, "what": i.what} for i in incidents
                  if not _in_any_window(faults, i.t, grace)]
    unexpected += [{"t": round(s.ended or 0.0, 1), "slot": s.slot,
                    "what": f"session lost on {s.node[:8]} with no fault there: {s.reason}"}
                   for s in lost_unfaulted]
    unexpected += [{"t": x["t"], "slot": x["slot"], "what": "a turn failed with no fault"}
                   for x in stray_turns]
    unfinished = [r for r in reconnects if r["from_loss_secs"] is None]
    from_fault = [r["from_fault_secs"] for r in reconnects if r["from_fault_secs"] is not None]
    free_slot = [r["from_fault_secs"] for r in reconnects
                 if r["from_fault_secs"] is not None and not r["busy_refusals"]]
    return {
        "sessions_started": len(started),
        "sessions_completed": sum(s.outcome == "completed" for s in started),
        "sessions_lost": len(lost),
        "sessions_lost_faulted": len(lost_faulted),
        "sessions_lost_unfaulted": len(lost_unfaulted),
        "sessions_running_at_end": sum(s.outcome == "running" for s in started),
        "lost_reasons": sorted({s.reason for s in lost}),
        "reconnects": reconnects,
        "reconnects_never_back": len(unfinished),
        "reconnect_secs_max": max(from_fault) if from_fault else None,
        # the same where the door had a free slot at once (no `server_busy` in between)
        "reconnect_secs_max_free_slot": max(free_slot) if free_slot else None,
        "reconnects_waited_for_a_slot": sum(bool(r["busy_refusals"]) for r in reconnects),
        "turns_ok": sum(s.turns_ok for s in started),
        "failed_turns": failed_turns,
        "failed_turns_per_fault_max": max((int(f["per_session_max"]) for f in failed_turns),
                                          default=0),
        "frame_gap_ms_max_untouched": round(max((s.gap_max_ms for s in untouched), default=0.0)),
        "frame_gap_ms_max_touched": round(max((s.gap_max_ms for s in started
                                               if touched(s, faults, grace)),
                                              default=0.0)),
        "untouched_sessions": len(untouched),
        "errors_unexpected": len(unexpected),
        "unexpected": unexpected[:40],
    }


def _live_sessions(series: list[tuple[float, float]], t: float) -> float | None:
    """The reading of `series` (time, sessions) nearest `t`, if one is within 15 s."""
    if not series:
        return None
    near = min(series, key=lambda point: abs(point[0] - t))
    return near[1] if abs(near[0] - t) <= 15.0 else None


def rss_growth(samples: list[tuple[float, str, float]], warmup: float, min_span: float,
               sessions: Mapping[str, list[tuple[float, float]]] | None = None,
               restarts: Mapping[str, list[float]] | None = None,
               ) -> dict[str, dict[str, float]]:
    """Per node life (`samples`: time, node, MB), the RSS slope in MB/hour after `warmup`
    seconds from the life's first sample; lives with less than `min_span` s after it
    are left out.

    Why per life: a killed worker comes back as a new node with a fresh RSS, so a fit
    over one slot's whole line would read the restart as a leak (or hide one). A node
    whose big process was restarted in place (the head when its LLM replica is
    killed) starts a new life at each time in `restarts[node]` ("head@375").

    Why with the node's live sessions (`sessions[node]`: time, count) when given: a
    kiosk machine's RSS steps by hundreds of MB as each session opens and closes, so
    over a worker's few minutes of life a plain slope reads the last session's open or
    close as a leak; the fit is then MB ~ a + b t + c sessions, and b is the growth at a
    steady load (c, `mb_per_session`, is reported too).
    """
    lives: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for t, node, mb in samples:
        cuts = [r for r in (restarts or {}).get(node, []) if r <= t]
        lives[f"{node}@{max(cuts):.0f}" if cuts else node].append((t, mb))
    out: dict[str, dict[str, float]] = {}
    for life, points in lives.items():
        node = life.split("@")[0]
        born = points[0][0]
        kept = [(t, mb) for t, mb in points if t >= born + warmup]
        if len(kept) < 3 or kept[-1][0] - kept[0][0] < min_span:
            continue
        series = (sessions or {}).get(node) or []
        # with the sessions: only the readings /fleet also saw (not a frozen node's)
        known = [(t, mb, n) for t, mb in kept
                 if (n := _live_sessions(series, t)) is not None]
        if len(known) >= 3 and known[-1][0] - known[0][0] >= min_span \
                and len({n for _, _, n in known}) > 1:
            rows = [[1.0, t / 3600.0, n] for t, _, n in known]
            values = [mb for _, mb, _ in known]
        else:
            rows = [[1.0, t / 3600.0] for t, _ in kept]
            values = [mb for _, mb in kept]
        coefficients = np.linalg.lstsq(np.array(rows), np.array(values), rcond=None)[0]
        out[life] = {"mb_per_hour": round(float(coefficients[1]), 1),
                     "span_secs": round(kept[-1][0] - kept[0][0]),
                     "mb_first": round(kept[0][1]), "mb_last": round(kept[-1][1])}
        if len(coefficients) > 2:
            out[life]["mb_per_session"] = round(float(coefficients[2]), 1)
    return out


#: a node life shorter than this after its warm-up gives no growth figure
RSS_MIN_SPAN_SECS = 300.0


def soak_rss_growth(rss_samples: list[tuple[float, str, float]],
                    fleet_samples: list[dict[str, Any]], faults: list[dict[str, Any]],
                    warmup: float) -> dict[str, dict[str, float]]:
    """`rss_growth` from a soak report's parts: each worker's live sessions from the
    `/fleet` samples (the head's: the fleet's total), and a new head life at each LLM
    kill (its replica reloads the model)."""
    sessions: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for sample in fleet_samples:
        machines = sample["machines"]
        sessions["head"].append((sample["t"], float(sum(m["sessions"] for m in machines))))
        for machine in machines:
            sessions[f"worker {machine['node_id'][:6]}"].append((sample["t"],
                                                                  float(machine["sessions"])))
    restarts = {"head": [f["start"] for f in faults if f["kind"] == "llm_kill"]}
    return rss_growth([(t, node, mb) for t, node, mb in rss_samples], warmup,
                      RSS_MIN_SPAN_SECS, sessions, restarts)


def process_growth(samples: list[tuple[float, dict[str, float]]], warmup: float,
                   top: int = 8) -> list[dict[str, Any]]:
    """Which processes of a node grew: for each `name:pid` seen at the first reading
    after `warmup` s and at the last, its MB then and now, largest change first (the
    `top` of them). A process that died or was born in between (a killed LLM replica
    and its successor) is listed with the reading it has."""
    kept = [(t, procs) for t, procs in samples if t >= (samples[0][0] + warmup if samples else 0)]
    if not kept:
        return []
    (t0, first), (t1, last) = kept[0], kept[-1]
    rows: list[dict[str, Any]] = []
    for label in sorted(set(first) | set(last)):
        before, after = first.get(label), last.get(label)
        change = (after or 0.0) - (before or 0.0)
        rows.append({"process": label, "mb_first": None if before is None else round(before),
                     "mb_last": None if after is None else round(after),
                     "mb_change": round(change), "from_secs": round(t0), "to_secs": round(t1)})
    rows.sort(key=lambda row: abs(int(row["mb_change"])), reverse=True)
    return rows[:top]
