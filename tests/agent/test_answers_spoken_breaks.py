"""A question as the server's recognizer cuts it (its voice activity detection ends a
sentence at a pause, where a writer puts a comma) is read as the same question typed
(agent/answers/shape.py, `last_sentence`): a yes/no question after the visitor's situation
with "." for "?" ("I've got a Metro Card. Is that OK here."), a wh-question whose pronoun
stands for the thing told ("I left my bike in for a repair. How soon will it be ready?"),
and a question opened by "And" after a question ("Where can I leave my bike? And is it
free?"); "Which floors the workshop on?" (whisper's "floors" for "floor's") asks where.
docs/ANSWERS.md, section 23. The shape tests need no model; the routing ones run on
a bike shop's file written for them, through the real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import is_yes_no_question, last_sentence, question_part, yes_no_tail
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

BIKES = """Shop name: Spoke and Chain Cycles.
Opening hours: Monday to Saturday 9 a.m. to 6 p.m.; closed on Sundays.
Repairs: a standard bike repair is ready within 2 days.
Bike parking: free bike racks are in front of the shop.
Workshop: the repair workshop is on the first floor, by the lift.
Payment: we accept the Metro Card; no, we do not accept cheques.
"""


def test_a_yes_no_question_heard_with_a_full_stop_after_a_told_sentence_asks_of_it() -> None:
    assert last_sentence("I've got a Metro Card. Is that OK here.") == (
        "I've got a Metro Card, is that OK here.")
    assert question_part("I've got a Metro Card. Is that OK here.") == "is that OK here."
    assert is_yes_no_question("I only have a cheque. Can I use it here.")
    # told, then told: the last sentence, as before
    assert last_sentence("I lost my card. I want a new one.") == "I want a new one."


def test_a_wh_question_whose_pronoun_stands_for_the_told_thing_is_one_question_with_it() -> None:
    for end in ("?", "."):
        assert last_sentence(f"I left my bike in for a repair. How soon will it be ready{end}") == (
            f"I left my bike in for a repair, how soon will it be ready{end}")
    assert last_sentence("My mum uses a wheelchair. How does she get in?") == (
        "My mum uses a wheelchair, how does she get in?")
    # no pronoun, or a question before: each stands alone
    assert last_sentence("I'm new here. Where are the racks?") == "Where are the racks?"
    assert last_sentence("Where is the shop? How late is it open?") == "How late is it open?"


def test_a_question_opened_by_and_after_a_question_is_said_after_it() -> None:
    for said in ("Where can I leave my bike? And is it free?",
                 "Where can I leave my bike. And is it free."):
        assert last_sentence(said).startswith("Where can I leave my bike, and is it free"), said
        assert yes_no_tail(said) == "is it free?", said
    # "And you?" asks nothing of its own: as before
    assert last_sentence("I love it. And you?") == "And you?"


pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")


@pytest.fixture(scope="module")
def bikes(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The file's index as the product builds it: words, meaning and WordNet."""
    return KnowledgeIndex(BIKES.strip().splitlines(), encoder=encoder, thesaurus=Thesaurus.system())


def test_heard_questions_get_the_typed_answers(bikes: KnowledgeIndex) -> None:
    typed_and_heard = {
        "I've got a Metro Card, is that OK here?": "I've got a Metro Card. Is that OK here.",
        "I only have a cheque, can I use it here?": "I only have a cheque. Can I use it here.",
        "Where can I leave my bike, and is it free?": "Where can I leave my bike? And is it free?",
    }
    for typed, heard in typed_and_heard.items():
        answer = plan_turn(bikes, typed).reply
        assert answer is not None and answer.startswith(("Yes", "No", "Free")), typed
        assert plan_turn(bikes, heard).reply == answer, heard
    assert plan_turn(bikes, "I've got a Metro Card. Is that OK here.").reply.startswith("Yes")
    assert plan_turn(bikes, "I only have a cheque. Can I use it here.").reply.startswith("No")
    assert plan_turn(bikes, "Where can I leave my bike. And is it free.").reply.endswith(
        "Yes, it is free.")


def test_a_wh_question_after_a_told_sentence_is_answered_from_its_fact(
        bikes: KnowledgeIndex) -> None:
    reply = plan_turn(bikes, "I left my bike in for a repair. How soon will it be ready?").reply
    assert reply is not None and "2 days" in reply


def test_which_floors_as_whisper_writes_which_floors_asks_a_place(bikes: KnowledgeIndex) -> None:
    # whisper writes "floor's" as "floors"
    for said in ("Which floor's the workshop on?", "Which floors the workshop on?"):
        reply = plan_turn(bikes, said).reply
        assert reply is not None and "first floor" in reply, said
