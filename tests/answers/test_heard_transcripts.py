"""The text mode's `--heard` (bench/answers/business_answers.py): transcripts kept from a
spoken run (its raw JSON) or a hearing script (JSON lines) are read per business, voice and
question, to be asked again as text; a held-out row, which keeps no question or transcript,
gives none."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.scripts import load_script

BENCH = load_script(Path(__file__).resolve().parents[2] / "bench/answers/business_answers.py",
                    "business_answers_heard_under_test")


def test_transcripts_of_a_spoken_run_or_a_hearing_script_are_read_by_voice(tmp_path: Path) -> None:
    raw = tmp_path / "raw.json"
    raw.write_text(json.dumps([
        {"business": "gym", "voice": "piper", "half": "tune", "q": "Where's the loo?",
         "heard": "Where's the loop?"},
        {"business": "gym", "voice": "espeak", "half": "heldout", "qid": "ab12"},  # kept nothing
    ]), encoding="utf-8")
    assert BENCH.read_heard(raw) == {("gym", "heard-piper", "Where's the loo?"): "Where's the loop?"}
    lines = tmp_path / "heard.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in (
        {"b": "gym", "voice": "espeak", "q": "Can I pay by card?", "heard": "Can I pay by car."},
        {"b": "gym", "voice": "text", "q": "Can I pay by card?", "heard": "Can I pay by card?"},
    )) + "\n", encoding="utf-8")
    assert BENCH.read_heard(lines) == {
        ("gym", "heard-espeak", "Can I pay by card?"): "Can I pay by car."}
