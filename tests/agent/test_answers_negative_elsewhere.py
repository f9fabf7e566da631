"""A yes/no question whose fact states the thing asked plainly, with a negative part about
another thing beside it ("Is the wifi free?" and "free Wi-Fi, network name X, no
password"): "Yes" first; the negative part was read as the fact's and no yes or no was
said (agent/answers/reading.py `_negates_what_is_asked`). A negative part about the thing
asked still holds the yes back. A laundrette's file written for it, through the real index,
sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

LAUNDRETTE = """Laundrette name: Suds and Bubbles.
Opening hours: every day 7 a.m. to 10 p.m.
Wi-Fi: free Wi-Fi, network name SudsNet, no password.
Parking: street parking outside, no parking on the forecourt.
Machines: ten washers and eight dryers; a wash is 5 dollars.
"""


@pytest.fixture(scope="module")
def laundrette(encoder: SentenceEncoder, system_thesaurus: Thesaurus) -> KnowledgeIndex:
    return KnowledgeIndex(LAUNDRETTE.strip().splitlines(), encoder=encoder,
                          thesaurus=system_thesaurus)


def test_a_negative_part_about_another_thing_keeps_the_yes(laundrette: KnowledgeIndex) -> None:
    for question in ("Is the wifi free?", "Is there free wifi I can use?"):
        said = plan_turn(laundrette, question).reply
        # before: "There is free Wi-Fi, network name SudsNet, no password." (no yes)
        assert said is not None and said.startswith("Yes") and "SudsNet" in said, question


def test_a_negative_part_about_the_thing_asked_gives_no_yes(laundrette: KnowledgeIndex) -> None:
    said = plan_turn(laundrette, "Is there parking on the forecourt?").reply
    assert said is None or not said.startswith("Yes"), said
