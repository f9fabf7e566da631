"""bench/fleet/kiosk_fleet.py's plot draws the report it measured and the report read back.

Why: the first-token table is keyed by int in the measured report and by str once
the JSON is read back (`--plot-only`); the plot read str only, so a fresh run ended
in `KeyError: '1'` after writing its JSON (issue 37).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.bench.scripts import load_script

BENCH = Path(__file__).resolve().parents[2] / "bench"
#: a report the bench wrote (3-node loopback cluster, 2026-11-24 run), kept as test
#: data: bench/results/ is git-ignored output
SAVED = Path(__file__).resolve().parents[1] / "data" / "kiosk_fleet_nov24.json"


@pytest.fixture(scope="module")
def kiosk_fleet() -> ModuleType:
    """The bench script as a module (its `main` is not run)."""
    return load_script(BENCH / "fleet" / "kiosk_fleet.py", "_bench_kiosk_fleet_plot")


def _as_measured(report: dict[str, Any]) -> dict[str, Any]:
    """The report as `measure()` returns it: the first-token table keyed by int."""
    measured = copy.deepcopy(report)
    table = measured["llm_replica"]["first_token_by_concurrency"]
    measured["llm_replica"]["first_token_by_concurrency"] = {int(n): t for n, t in table.items()}
    return measured


def _first_token_lines(figure: Any) -> dict[str, tuple[list[float], list[float]]]:
    """The right panel's lines by label: (concurrency, ms)."""
    right = figure.axes[1]
    return {line.get_label(): (list(line.get_xdata()), list(line.get_ydata()))
            for line in right.get_lines() if not line.get_label().startswith("_")}


@pytest.mark.parametrize("source", ["measured", "json"])
def test_plot_draws_the_first_token_table_keyed_by_int_or_str(
        kiosk_fleet: ModuleType, tmp_path: Path, source: str) -> None:
    saved = json.loads(SAVED.read_text())
    report = _as_measured(saved) if source == "measured" else saved
    path = tmp_path / "kiosk_fleet.png"
    figure = kiosk_fleet.plot(report, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = saved["llm_replica"]["first_token_by_concurrency"]
    counts = sorted(int(n) for n in table)
    lines = _first_token_lines(figure)
    assert lines["slowest"] == (counts, [table[str(n)]["max_ms"] for n in counts])
    assert lines["median"] == (counts, [table[str(n)]["p50_ms"] for n in counts])


def test_plot_of_a_small_fresh_report(kiosk_fleet: ModuleType, tmp_path: Path) -> None:
    """Two concurrency levels, straight from memory, then re-read from its JSON."""
    report = _as_measured(json.loads(SAVED.read_text()))
    report["llm_replica"]["first_token_by_concurrency"] = {
        1: {"max_ms": 210, "p50_ms": 210}, 2: {"max_ms": 400, "p50_ms": 320}}
    path = tmp_path / "fresh.json"
    path.write_text(json.dumps(report))
    for drawn in (report, json.loads(path.read_text())):
        lines = _first_token_lines(kiosk_fleet.plot(drawn, path.with_suffix(".png")))
        assert lines["slowest"] == ([1, 2], [210, 400])
