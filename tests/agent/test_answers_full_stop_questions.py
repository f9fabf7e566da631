"""A wh-question whisper ends with "." instead of "?" is still the question (agent/answers/
shape.py, `asks`): after the visitor's situation and a comma ("I need new shoes, where should
I go."), or as the first of two sentences, the told one after it ("What's your fax number. My
boss needs it."). A relative clause after a comma ("..., where I always park.") still tells.
Whisper drops the comma before "and": "dump my coat and do I ..." still acts on the coat
(agent/answers/index.py, `unheld_words`). docs/ANSWERS.md, section 22. The shape tests need no model; the routing ones run on a bowling
alley's file written for them, through the real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex, unheld_words
from agent.answers.routing import plan_turn
from agent.answers.shape import last_sentence, question_part, tells_situation
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

ALLEY = """Alley name: Riverside Lanes.
Opening hours: Monday to Thursday 12 p.m. to 11 p.m.; Friday to Sunday 10 a.m. to midnight.
Shoes: rental shoes are at the counter by the front door, 4 dollars a pair.
Restrooms: behind lane 12, next to the arcade.
Phone: 555-0142.
Emergencies: this is not a first aid post; for an injury ask any staff member.
Coat check: free coat check by the front door.
"""


def test_a_wh_clause_after_a_comma_asks_whatever_its_end_mark() -> None:
    for end in ("?", "."):
        assert question_part(f"Excuse me, where's the toilet{end}") == f"where's the toilet{end}"
        assert question_part(f"I need new shoes, where should I go{end}") == (
            f"where should I go{end}")
        assert question_part(f"We came at ten, which lane is ours{end}") == f"which lane is ours{end}"
        assert not tells_situation(f"I need new shoes, where do I get them{end}")
    # a relative clause after a comma is not turned as a question: it tells
    for told in ("I parked outside, where I always park.",
                 "I bought them last week, which is why I came.",
                 "I bowled here once, how nice it was."):
        assert question_part(told) == told, told
    assert tells_situation("I parked outside, where I always park.")


def test_a_question_ended_with_a_full_stop_before_a_told_sentence_is_the_question() -> None:
    assert last_sentence("What's your phone number. My boss needs it.") == (
        "What's your phone number.")
    assert last_sentence("Is this a first aid post. My friend hurt his hand.") == (
        "Is this a first aid post.")
    # told, then told: the last sentence, as before
    assert last_sentence("I lost my shoes. I want new ones.") == "I want new ones."
    # a question with its "?" before a told sentence: as before
    assert last_sentence("Is this a first aid post? My friend hurt his hand.") == (
        "Is this a first aid post?")


pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")


@pytest.fixture(scope="module")
def alley(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The file's index as the product builds it: words, meaning and WordNet."""
    return KnowledgeIndex(ALLEY.strip().splitlines(), encoder=encoder, thesaurus=Thesaurus.system())


def test_a_heard_question_gets_the_typed_questions_answer(alley: KnowledgeIndex) -> None:
    # typed, and as whisper may write it: the same answer from the rules, not the LLM's
    for typed, heard in (
            ("Excuse me, where's the restroom?", "Excuse me, where's the restroom."),
            ("I forgot my own pair, where can I get shoes?",
             "I forgot my own pair, where can I get shoes."),
            ("Is this a first aid post? My friend hurt his hand.",
             "Is this a first aid post. My friend hurt his hand.")):
        reply = plan_turn(alley, typed).reply
        assert reply is not None, typed
        assert plan_turn(alley, heard).reply == reply, heard


def test_a_yes_no_question_joined_by_and_without_its_comma_is_read_as_with_it(
        alley: KnowledgeIndex) -> None:
    # "dump" is what is done with the visitor's coat, which the file holds, whether or not
    # whisper writes the comma before "and"
    typed = "Is there somewhere I can dump my coat, and do I have to pay for it?"
    heard = "Is there somewhere I can dump my coat and do I have to pay for it?"
    assert unheld_words(alley, heard) == unheld_words(alley, typed) == []
    reply = plan_turn(alley, typed).reply
    assert reply is not None and "coat check" in reply, reply
    assert plan_turn(alley, heard).reply == reply
