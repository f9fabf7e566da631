""""Which teachers work here?" asks for people, as "Who runs the cafe?" does
(agent/answers/shape.py, `asks_for_person`, `role_asked`): a file whose facts found hold
no word for that role declines it, not answered with a neighbouring fact (a glued "Book by
phone ... Sorry, I don't know that." when asked with a second question); a file that speaks
of the role still answers from it (routing's `person_rule`; docs/ANSWERS.md, section 24).
Run on a dance school's files written for them, through the real index and sentence
encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import asks_for_person, role_asked
from agent.sentence_embedding import SentenceEncoder

DANCE = """School name: Step Lively Dance School.
Classes: book a class by phone at 555-0199 or on our website.
Opening hours: Monday to Friday 4 p.m. to 9 p.m.; Saturday 9 a.m. to 1 p.m.
Changing rooms: the changing rooms are on the first floor.
"""
TEACHERS = DANCE + "Teachers: our teachers are Ana Ruiz for ballet and Sam Cole for tap.\n"


def test_which_people_work_here_asks_for_people() -> None:
    assert role_asked("Which teachers work here?") == "teachers"
    assert role_asked("What nurses are on duty today?") == "nurses"
    assert role_asked("Which teacher's work here?") == "teacher"  # as whisper may write it
    assert asks_for_person("Which teachers work here?")
    for asked in ("Which days work best for a trial?", "What time do classes start?",
                  "Which room is the class in?"):
        assert not asks_for_person(asked), asked


def test_which_people_work_here_is_declined_where_no_fact_holds_them(
        encoder: SentenceEncoder) -> None:
    index = KnowledgeIndex(DANCE.strip().splitlines(), encoder=encoder)
    dont_know = index.lines.dont_know
    assert plan_turn(index, "Which teachers work here?").reply == dont_know
    assert plan_turn(index, "Which teachers work here? Is Miss Ruiz in today?").reply == dont_know
    held = KnowledgeIndex(TEACHERS.strip().splitlines(), encoder=encoder)
    assert plan_turn(held, "Which teachers work here?").reply != held.lines.dont_know
