"""Whisper writes "floor" as "for" or "four" after "which" or "what" ("Which four is the
studio on?"): such an opening asks nothing in English, so it is read as "which floor"
before routing (agent/answers/shape.py, `as_meant`; docs/ANSWERS.md, section 24); "What
for?" and "Which four do you sell?" as they are. The routing test runs on a dance
school's file written for it, through the real index and sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import as_meant
from agent.sentence_embedding import SentenceEncoder

DANCE = """School name: Step Lively Dance School.
Studio: the main studio is on the third floor, by the stairs.
Opening hours: Monday to Friday 4 p.m. to 9 p.m.
"""


def test_which_for_is_read_as_which_floor() -> None:
    assert as_meant("Which four is the studio on?") == "Which floor is the studio on?"
    assert as_meant("What for do I go up to for the studio?") == (
        "What floor do I go up to for the studio?")
    for said in ("What for?", "Which four of these are free?", "What is it for?",
                 "What for do you need my card?"):
        assert as_meant(said) == said, said


def test_the_heard_question_gets_the_typed_answer(encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(DANCE.strip().splitlines(), encoder=encoder)
    typed = plan_turn(index, "Which floor is the studio on?").reply
    assert typed is not None and "third floor" in typed
    assert plan_turn(index, "Which four is the studio on?").reply == typed
