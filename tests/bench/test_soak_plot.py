"""bench/fleet/fleet_soak.py's plot draws a report as measured and as read back from its JSON.

Why: the JSON is written before the plot, and a plot that fails on what the JSON
turns tuples into (lists) would end a 30-minute run in a traceback (as
bench/fleet/kiosk_fleet.py's did, issue 37). A synthetic report, no cluster.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from benchkit.fleet.soak_ledger import Fault, Session, summarize, touched
from benchkit.fleet.soak_plot import plot


def _report() -> dict[str, Any]:
    faults = [Fault("worker_kill", "A", 60.0, 61.0, recovered=90.0),
              Fault("llm_kill", "http://127.0.0.1:5000/v1", 100.0, 100.0),
              Fault("net_cut", "B", 120.0, 150.0)]
    sessions = [
        Session(0, "A", 1.0, 1.3, 60.5, "lost", "closed 1006", 2, [], 300.0, [(30.0, 300.0)]),
        Session(0, "B", 61.0, 64.0, 119.0, "completed", "", 3, [101.0], 500.0, [(80.0, 500.0)]),
        Session(1, "B", 2.0, 2.2, 123.0, "lost", "frozen", 4, [], 3000.0, [(123.0, 3000.0)]),
        Session(1, "C", 123.5, 160.0, None, "running", "", 1, [], 80.0, []),
    ]
    return {
        "minutes": 3.0, "fault_every_min": 1.0, "soak_secs": 180.0,
        "load_average_start": 1.0, "load_average_end": 2.0,
        "faults": [dataclasses.asdict(f) for f in faults],
        "summary": summarize(sessions, faults, []),
        "rss_samples": [(float(t), "head", 2000.0 + t) for t in range(0, 180, 10)]
        + [(float(t), "worker aa", 2500.0) for t in range(0, 60, 10)],
        "rss_growth_mb_per_hour_max": 3600.0,
        "sessions": [dataclasses.asdict(s) | {"touched": touched(s, faults)} for s in sessions],
    }


def test_plot_draws_the_report_measured_and_read_back(tmp_path: Path) -> None:
    report = _report()
    figure = plot(report, tmp_path / "measured.png")
    assert (tmp_path / "measured.png").stat().st_size > 10_000
    assert len(figure.axes) == 3
    plot(json.loads(json.dumps(report)), tmp_path / "read_back.png")
    assert (tmp_path / "read_back.png").stat().st_size > 10_000
