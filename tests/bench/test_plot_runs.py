"""benchkit.live.plot_runs draws quoted live.py runs: one group of bars per run."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from benchkit.live.plot_runs import plot, read_runs

QUOTED = Path(__file__).resolve().parents[2] / "bench" / "quoted"


def test_the_quoted_runs_are_drawn_with_their_own_figures(tmp_path: Path) -> None:
    runs = read_runs([QUOTED / "live_drawn_asr_threads_s21.json.gz"])
    out = tmp_path / "runs.png"
    drawn = plot(runs, out)
    assert list(drawn) == [run["tag"] for run in runs]
    for run in runs:
        figures = drawn[run["tag"]]
        assert figures["adds"] == run["avatar_adds_ms_p50"]
        assert figures["face"] - figures["voice_only"] == figures["adds"]
    with Image.open(out) as image:
        assert image.size[0] > 400 and image.size[1] > 200
