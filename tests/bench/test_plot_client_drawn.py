"""benchkit/live/plot_client_drawn.py on the quoted session-20 run: the medians it draws
are the ones the bench computed, and a run without both sides is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchkit.live.plot_client_drawn import plot

QUOTED = Path(__file__).resolve().parents[2] / "bench" / "quoted" / "client_drawn_s20.json"


def test_the_plot_draws_the_runs_medians(tmp_path: Path) -> None:
    report = json.loads(QUOTED.read_text())
    out = tmp_path / "client_drawn.png"
    drawn = plot(report, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for side in ("before", "after"):
        medians = report["cores_per_session"][side]
        assert drawn[f"motion_{side}"] == pytest.approx(medians["motion"], abs=1e-4)
        assert drawn[f"motion_batched_{side}"] == pytest.approx(medians["motion_batched"], abs=1e-4)
        assert drawn[f"planning_{side}"] == pytest.approx(medians["motion_planning"], abs=1e-4)
        assert drawn[f"solve_{side}"] == pytest.approx(medians["motion_solve"], abs=1e-4)


def test_a_run_without_a_revision_is_refused(tmp_path: Path) -> None:
    report = json.loads(QUOTED.read_text())
    del report["against"]
    with pytest.raises(SystemExit, match="--against"):
        plot(report, tmp_path / "x.png")
