"""The held-out questions stay held out: no held-out question of any answers set appears in
tests, code or docs, nor in a set that may be tuned on, so a figure reported on them says how
the kiosk answers wordings nobody tuned it to (scripts/held_out_leaks.py says how it is
checked, and moves a seen question to its tune half).

On a failure the message names files and counts, never the question: reading it here would
be reading the held-out half.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
LEAKS = load_script(ROOT / "scripts" / "held_out_leaks.py", "held_out_leaks")


def test_every_business_has_a_tune_half_and_a_held_out_half_in_its_own_folder() -> None:
    businesses = sorted(p.name for p in LEAKS.BUSINESSES.iterdir() if (p / "knowledge.md").is_file())
    assert len(businesses) >= 4
    sizes = {name: len(questions) for name, questions in LEAKS.held_out().items()}
    for name in businesses:
        tune = json.loads((LEAKS.BUSINESSES / name / "tune.json").read_text(encoding="utf-8"))
        assert sizes[name] >= 12 and len(tune["questions"]) >= 12, name
        assert {q["kind"] for q in tune["questions"]} == {"fact", "unknown"}, name
    assert sizes[LEAKS.SPOKEN_SET] >= 12


@pytest.fixture(scope="module")
def leaks() -> dict[str, dict[str, int]]:
    return LEAKS.leaks()


@pytest.mark.parametrize("name", sorted(LEAKS.held_out()))
def test_no_held_out_question_is_in_tests_code_docs_or_a_tuned_set(
        name: str, leaks: dict[str, dict[str, int]]) -> None:
    assert not leaks[name], (
        f"held-out questions of '{name}' appear word for word in {leaks[name]} (file: how "
        "many): run scripts/held_out_leaks.py --move, which puts each in its tune half")


def test_a_question_written_into_a_test_counts_as_seen() -> None:
    question = "Where, exactly, do I park my bicycle?"
    texts = {"tests/x.py": LEAKS.normalised("ask('where exactly do I park my bicycle')"),
             "docs/y.md": LEAKS.normalised("Where do I park my bicycle exactly?")}
    assert LEAKS.leaked([question], texts) == {"tests/x.py": [0]}
