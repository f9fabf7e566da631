"""The business answers bench never counts the kiosk's don't-know line as a fact answered
(bench/answers/business_answers.py `verdicts`): a fact question whose keywords allow a
"don't" or a "not" (the file's answer is a no) matched "Sorry, I don't know that." and was
counted right; a real no still is."""

from __future__ import annotations

from pathlib import Path

from tests.bench.scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
BENCH = load_script(ROOT / "bench/answers/business_answers.py", "business_answers_declines_under_test")
#: a fact question whose right answer is a no
NO_QUESTION = {"kind": "fact", "q": "Can I bring my scooter inside?",
               "all_of": [["no|not|can't|cannot|don't|isn't"]]}


class _NoGuard:
    """No fact of the reply is checked here: only the keywords are."""

    def known(self, fact: object) -> bool:
        return True

    def flipped(self, fact: object) -> None:
        return None


def _right(question: dict[str, object], reply: str, declines: tuple[str, ...]) -> bool:
    return bool(BENCH.verdicts(question, reply, True, _NoGuard(), [], declines)["right"])


def test_the_dont_know_line_is_no_answer_to_a_fact_question() -> None:
    declines = BENCH.decline_lines(ROOT / "bench/answers/businesses/museum/persona.md")
    dont_know = declines[0]
    assert "don't" in dont_know  # what the keywords matched before
    assert not _right(NO_QUESTION, dont_know, declines)
    assert _right(NO_QUESTION, "No, scooters cannot come inside.", declines)
    # an unknown question is still right to be declined so
    assert _right({"kind": "unknown", "q": "Is there a cash machine?", "all_of": []}, dont_know,
                  declines)
