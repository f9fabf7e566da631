"""A yes/no question asking to come without booking ("Can I just walk in for a colour?")
of a fact that says its thing is by appointment only: "No" first, not the "Yes" the thing's
own name in the fact gave before (agent/answers/settle.py `walk_in_answer`); a fact that
says no booking is needed gives "Yes". A hair salon's file written for it, through the
real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.settle import walk_in_answer
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

SALON = """Salon name: Bright Locks Hair Studio.
Opening hours: Tuesday to Saturday 9 a.m. to 6 p.m.
Haircuts: walk-in haircuts all day; no appointment needed.
Colour: colour and highlights by appointment only.
Prices: a haircut is 25 dollars; colour from 60 dollars.
"""


@pytest.fixture(scope="module")
def salon(encoder: SentenceEncoder, system_thesaurus: Thesaurus) -> KnowledgeIndex:
    return KnowledgeIndex(SALON.strip().splitlines(), encoder=encoder, thesaurus=system_thesaurus)


def test_walking_in_for_a_thing_booked_only_is_a_no(salon: KnowledgeIndex) -> None:
    for question in ("Can I just walk in for highlights?",
                     "My friend recommended you. Can I pop in for colour today?"):
        said = plan_turn(salon, question).reply
        # before: "Yes, colour and highlights are by appointment only."
        assert said is not None and said.startswith("No") and "appointment" in said, question


def test_walking_in_for_a_thing_that_needs_no_booking_is_a_yes(salon: KnowledgeIndex) -> None:
    said = plan_turn(salon, "Can I walk in for a haircut?").reply
    assert said is not None and said.startswith("Yes") and "haircut" in said


def test_only_a_question_about_coming_unbooked_is_read_so() -> None:
    fact = "Colour: colour and highlights by appointment only."
    assert walk_in_answer(fact, "Can I get highlights without an appointment?") == "no"
    assert walk_in_answer(fact, "Do you do highlights?") is None
    # a fact that says both ways settles nothing
    assert walk_in_answer("Cuts: walk-ins welcome; colour by appointment only.",
                          "Can I walk in?") is None
    assert walk_in_answer("Hours: open daily 9 to 5.", "Can I drop in on Sunday?") is None
