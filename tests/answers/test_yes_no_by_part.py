"""The business answers bench's yes/no-first count by part (bench/answers/business_answers.py,
docs/ANSWERS.md section 19): in a message of several questions each yes/no question is
counted by its own answer (a sentence of the reply, or a clause after ", and"), not by the
reply's first word; a message of one question is counted as before."""

from __future__ import annotations

from pathlib import Path

from tests.bench.scripts import load_script

BENCH = load_script(Path(__file__).resolve().parents[2] / "bench/answers/business_answers.py",
                    "business_answers_by_part_under_test")


def _first_by_part(question: str, reply: str) -> bool | None:
    return BENCH.verdicts({"kind": "fact", "q": question, "all_of": []}, reply, True,
                          _NoGuard(), [])["yes_no_first_by_part"]


class _NoGuard:
    """No fact of the reply is checked here: only the yes/no counts are."""

    def known(self, fact: object) -> bool:
        return True

    def flipped(self, fact: object) -> None:
        return None


def test_a_yes_no_question_after_a_wh_question_is_counted_by_its_own_answer() -> None:
    asked = "When does the ferry leave, and is the cafe on board open?"
    assert BENCH.yes_no_parts(asked) == 1
    assert _first_by_part(asked, "It leaves at 8 a.m. Yes, the cafe is open.")
    assert _first_by_part(asked, "It leaves at 8 a.m., and yes, the cafe is open.")
    assert not _first_by_part(asked, "It leaves at 8 a.m. The cafe is open.")
    # the whole-reply count, as before, reads only the reply's first word
    assert BENCH.is_yes_no(asked) and not BENCH.opens_with_yes_or_no("It leaves at 8 a.m. Yes.")


def test_a_message_of_one_question_is_counted_as_before() -> None:
    assert BENCH.yes_no_parts("My bike is old and has a flat, can you fix it?") is None
    assert _first_by_part("My bike is old and has a flat, can you fix it?", "Yes, we can.")
    assert not _first_by_part("Can I bring my dog?", "Dogs are welcome.")
    assert _first_by_part("Where is the ferry?", "At pier 3.") is None
