"""The soak's accounting (benchkit/fleet/soak_ledger.py) and fault schedule on a synthetic
timeline: which losses are the faults', reconnect times, failed turns per fault,
untouched gaps, errors no fault explains, RSS growth per node life.

Why: bench/fleet/fleet_soak.py's verdict is these rules; a wrong attribution would pass
a leak or a dropped session as "the fault's". No clock, no cluster.
"""

from __future__ import annotations

import pytest

from benchkit.fleet.fleet_faults import plan_faults
from benchkit.fleet.soak_ledger import (
    Fault,
    Incident,
    Session,
    process_growth,
    rss_growth,
    soak_rss_growth,
    summarize,
    touched,
)

FAULTS = [
    Fault("worker_kill", "A", start=100.0, end=102.0, recovered=150.0),
    Fault("llm_kill", "http://127.0.0.1:5000/v1", start=200.0, end=200.0),
    Fault("net_cut", "B", start=300.0, end=330.0, recovered=360.0),
]


def _timeline() -> list[Session]:
    return [
        # on A when A is killed: the fault's; back on B 3 s after the kill
        Session(0, "A", opened=50.0, first_frame=50.5, ended=101.0, outcome="lost",
                reason="closed 1006", gap_max_ms=60.0),
        Session(0, "B", opened=101.2, first_frame=103.0, ended=160.0, outcome="completed",
                gap_max_ms=420.0),
        # on B through the LLM kill: two failed turns on one session
        Session(1, "B", opened=60.0, first_frame=60.5, ended=250.0, outcome="completed",
                failed_turns=[205.0, 230.0], turns_ok=4, gap_max_ms=700.0),
        # on B when B's network is cut: the fault's; back 12 s after the cut
        Session(1, "B", opened=251.0, first_frame=251.5, ended=304.0, outcome="lost",
                reason="frozen", gap_max_ms=3000.0),
        Session(1, "C", opened=304.5, first_frame=312.0, outcome="running",
                failed_turns=[600.0], gap_max_ms=90.0, busy_before=14),
        # lost on C with no fault there: an error
        Session(0, "C", opened=161.0, first_frame=161.5, ended=400.0, outcome="lost",
                reason="closed 1011", gap_max_ms=80.0),
        Session(0, "D", opened=400.5, first_frame=401.0, outcome="running", gap_max_ms=50.0),
        # opened, never a frame: not a started session
        Session(0, "D", opened=399.0),
    ]


def test_losses_are_split_by_the_node_faults() -> None:
    out = summarize(_timeline(), FAULTS, [])
    assert out["sessions_started"] == 7
    assert out["sessions_completed"] == 2
    assert out["sessions_lost"] == 3
    assert out["sessions_lost_faulted"] == 2
    assert out["sessions_lost_unfaulted"] == 1
    assert out["sessions_running_at_end"] == 2


def test_reconnect_is_timed_from_the_fault_to_the_next_face_frame() -> None:
    out = summarize(_timeline(), FAULTS, [])
    by_lost_at = {r["lost_at"]: r for r in out["reconnects"]}
    assert by_lost_at[101.0]["from_fault_secs"] == pytest.approx(3.0)
    assert by_lost_at[101.0]["from_loss_secs"] == pytest.approx(2.0)
    assert by_lost_at[304.0]["from_fault_secs"] == pytest.approx(12.0)
    assert by_lost_at[400.0]["fault"] is None  # no fault: no figure from a fault
    assert out["reconnect_secs_max"] == pytest.approx(12.0)
    # after the cut the client waited for a free slot (14 busy answers): left out here
    assert out["reconnect_secs_max_free_slot"] == pytest.approx(3.0)
    assert out["reconnects_waited_for_a_slot"] == 1


def test_failed_turns_count_per_session_per_fault_and_strays_are_errors() -> None:
    out = summarize(_timeline(), FAULTS, [])
    llm = out["failed_turns"][1]
    assert (llm["kind"], llm["total"], llm["per_session_max"]) == ("llm_kill", 2, 2)
    assert out["failed_turns_per_fault_max"] == 2
    # seen failing inside the worker kill's window, but after the LLM kill: the LLM's
    late = _timeline()
    late[2].failed_turns = [200.5, 205.0, 230.0]
    assert summarize(late, FAULTS, [])["failed_turns"][1]["total"] == 3
    whats = [u["what"] for u in out["unexpected"]]
    assert "a turn failed with no fault" in whats  # the turn at 600 s


def test_gap_on_untouched_sessions_leaves_out_the_faulted_node() -> None:
    sessions = _timeline()
    out = summarize(sessions, FAULTS, [])
    # B's 700 ms session ended before B's cut, and an LLM kill touches no node
    assert [touched(s, FAULTS) for s in sessions[:4]] == [True, False, False, True]
    assert out["frame_gap_ms_max_untouched"] == 700
    assert out["frame_gap_ms_max_touched"] == 3000


def test_incidents_inside_a_fault_window_are_expected() -> None:
    incidents = [Incident(101.5, 0, "connect: refused"), Incident(900.0, 1, "connect: refused")]
    out = summarize(_timeline(), FAULTS, incidents)
    # the one at 900 s, the session lost on C, the failed turn at 600 s
    assert out["errors_unexpected"] == 3


def test_rss_growth_is_fitted_after_each_node_lives_warm_up() -> None:
    samples = [(t, "head", 1000.0 + (500.0 if t >= 60 else 0.0) + t * 10.0 / 3600.0)
               for t in range(0, 1800, 10)]
    samples += [(t, "worker aa", 800.0) for t in range(300, 900, 10)]
    samples += [(t, "worker bb", 900.0) for t in range(1700, 1790, 10)]  # too short a life
    growth = rss_growth(samples, warmup=120.0, min_span=120.0)
    assert growth["head"]["mb_per_hour"] == pytest.approx(10.0, abs=0.1)
    assert growth["worker aa"]["mb_per_hour"] == pytest.approx(0.0, abs=0.1)
    assert "worker bb" not in growth


def test_rss_growth_holds_live_sessions_apart_and_splits_lives_at_restarts() -> None:
    # a worker whose RSS is 2000 MB + 500 per live session, with no growth: the last
    # minutes hold more sessions, which a plain slope reads as a leak
    counts = [1 if t < 400 else 2 for t in range(0, 600, 10)]
    samples = [(float(t), "worker aaaaaa", 2000.0 + 500.0 * n)
               for t, n in zip(range(0, 600, 10), counts, strict=True)]
    plain = rss_growth(samples, warmup=0.0, min_span=120.0)
    assert plain["worker aaaaaa"]["mb_per_hour"] > 1000
    fleet = [{"t": float(t), "machines": [{"node_id": "aa" * 28, "sessions": n}]}
             for t, n in zip(range(0, 600, 10), counts, strict=True)]
    held = soak_rss_growth(samples, fleet, [], warmup=0.0)
    assert held["worker aaaaaa"]["mb_per_hour"] == pytest.approx(0.0, abs=1.0)
    assert held["worker aaaaaa"]["mb_per_session"] == pytest.approx(500.0, abs=1.0)
    # the head drops at the LLM kill and reloads: a new life from there
    head = [(float(t), "head", 3000.0 if t < 300 else 1500.0 + min(t - 300, 100) * 10)
            for t in range(0, 1200, 10)]
    growth = soak_rss_growth(head, [], [{"kind": "llm_kill", "start": 300.0}], warmup=120.0)
    assert set(growth) == {"head@300"}  # the first life: 180 s after warm-up, too short
    assert growth["head@300"]["mb_per_hour"] == pytest.approx(0.0, abs=1.0)


def test_process_growth_names_the_process_that_grew_after_warm_up() -> None:
    samples = [(0.0, {"llama:7": 100.0, "raylet:2": 50.0}),
               (200.0, {"llama:7": 900.0, "raylet:2": 51.0}),  # warm-up: not counted
               (400.0, {"llama:7": 1000.0, "raylet:2": 52.0, "python:9": 30.0}),
               (600.0, {"llama:7": 1600.0, "raylet:2": 52.0, "python:9": 30.0})]
    rows = process_growth(samples, warmup=180.0)
    assert rows[0] == {"process": "llama:7", "mb_first": 900, "mb_last": 1600, "mb_change": 700,
                       "from_secs": 200, "to_secs": 600}
    born = next(row for row in rows if row["process"] == "python:9")
    assert born["mb_first"] is None and born["mb_change"] == 30  # born after warm-up
    assert process_growth([], warmup=180.0) == []
    assert len(process_growth(samples, warmup=0.0, top=1)) == 1


def test_fault_schedule_fits_each_fault_into_a_short_run() -> None:
    short = [(p.kind, p.at) for p in plan_faults(4, 1.5)]
    assert short == [("worker_kill", 90.0), ("llm_kill", 112.5), ("net_cut", 135.0),
                     ("worker_kill", 180.0)]
    long = plan_faults(30, 5)
    assert [p.at for p in long if p.kind == "worker_kill"] == [300, 600, 900, 1200, 1500]
    assert [p.kind for p in long].count("llm_kill") == 1
    assert [p.kind for p in long].count("net_cut") == 1
    with pytest.raises(ValueError):
        plan_faults(0, 5)
