"""A question as whisper writes it down is read as the same question typed (agent/answers/
shape.py): a yes/no question said after the visitor's situation, which whisper ends with a
"." where a writer puts a comma ("I've got a Gold Card. Is that OK here?"), speaks of what
was told; a question whisper ends with "." instead of "?" still asks where it is turned as a
question is ("..., can someone help him."). Transcripts of the tuning halves spoken by two
voices (docs/ANSWERS.md, section 20). The shape tests need no model; the routing ones run
on a gym's file written for them, through the real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.shape import is_yes_no_question, last_sentence, question_part, tells_situation
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

GYM = """Gym name: Northgate Fitness.
Opening hours: Monday to Friday 6 a.m. to 10 p.m.; Saturday and Sunday 8 a.m. to 6 p.m.
Passes: we accept the Gold Card and the City Pass; no, we do not accept gift vouchers.
Trainers: personal trainers can show new members the machines; ask at the front desk.
Towels: free towels at the changing rooms.
"""


def test_a_question_after_a_told_sentence_is_one_question_with_it() -> None:
    # whisper's "." between them stands where a writer puts a comma
    assert last_sentence("I've got a Gold Card. Is that OK here?") == (
        "I've got a Gold Card, is that OK here?")
    assert last_sentence("I only have a gift voucher. Can I use it here?") == (
        "I only have a gift voucher, can I use it here?")
    assert question_part("I've got a Gold Card. Is that OK here?") == "is that OK here?"


def test_a_question_with_an_act_of_its_own_or_after_a_question_stands_alone() -> None:
    # the pronoun is not what the question is about, but what its own act is done for
    assert last_sentence("My doctor told me to get fit. Can I just walk in for it today?") == (
        "Can I just walk in for it today?")
    # no pronoun: nothing leans back
    assert last_sentence("I'm new here. Do you have towels?") == "Do you have towels?"
    # the sentence before asks: two questions
    assert last_sentence("Where is the gym? Is it open now?") == "Is it open now?"


def test_a_question_whisper_ends_with_a_full_stop_is_still_a_question() -> None:
    said = "My son only speaks French, can someone show him the machines."
    assert is_yes_no_question(said)
    assert question_part(said) == "can someone show him the machines."
    assert not tells_situation(said)
    assert is_yes_no_question("I have a City Pass, is that one of the passes you take.")
    # a clause that does not turn its auxiliary before a subject tells: "do come back"
    assert not is_yes_no_question("I'm off now, do come back later.")
    assert tells_situation("I lost my card, do tell me later.")
    # a piece of a sentence with no end mark at all (a part of a message) is not read so
    assert not is_yes_no_question("I hurt my knee, do you do massages")


pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")


@pytest.fixture(scope="module")
def gym(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The file's index as the product builds it: words, meaning and WordNet."""
    return KnowledgeIndex(GYM.strip().splitlines(), encoder=encoder, thesaurus=Thesaurus.system())


def test_a_told_thing_asked_of_in_the_next_sentence_gets_its_yes_or_no(
        gym: KnowledgeIndex) -> None:
    # typed with a comma, and as whisper writes it: the same answer, no first
    for said in ("I only have a gift voucher, can I use it here?",
                 "I only have a gift voucher. Can I use it here?"):
        assert plan_turn(gym, said).reply == "No, we do not accept gift vouchers.", said


def test_a_yes_no_question_ended_with_a_full_stop_opens_with_yes(gym: KnowledgeIndex) -> None:
    for said in ("My son is new here, can someone show him the machines?",
                 "My son is new here, can someone show him the machines."):
        assert plan_turn(gym, said).reply == (
            "Yes, personal trainers can show new members the machines."), said


def test_a_question_told_after_a_comma_keeps_the_question_joined_on_to_it() -> None:
    # whisper writes the pause after the situation as a comma; "and how ..." joins on after
    said = "My son is new here, can someone show him the machines, and how long does it take?"
    assert question_part(said) == "can someone show him the machines, and how long does it take?"
    assert is_yes_no_question(said)
    assert is_yes_no_question(said.replace("here,", "here."))
    # a question opening the sentence is read from its start, as before
    assert question_part("Where are the towels, and are they free?") == (
        "Where are the towels, and are they free?")


def test_a_yes_no_question_after_a_comma_with_a_second_question_opens_with_yes(
        gym: KnowledgeIndex) -> None:
    for said in ("My son is new here. Can someone show him the machines, and where do we ask?",
                 "My son is new here, can someone show him the machines, and where do we ask?"):
        reply = plan_turn(gym, said).reply
        assert reply is not None and reply.startswith("Yes, personal trainers"), (said, reply)
