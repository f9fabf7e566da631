"""A "where" question about a thing the file never speaks of ("Where are the nearest
lockers?" of a gallery with a cloakroom and no lockers): declined, not answered with the
place of a fact another of its words leads to (agent/answers/index.py
`unheld_place_thing`, rules.py `place_unheld_rule`). A gallery's file written for it,
through the real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex, unheld_place_thing
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

GALLERY = """Gallery name: Northlight Gallery.
Opening hours: Tuesday to Sunday 10 a.m. to 5 p.m.
Shop: the shop is by the exit and closes 15 minutes before the gallery.
Cloakroom: free cloakroom by the entrance for coats and bags.
Cafe: on the top floor, with a view of the river.
"""


@pytest.fixture(scope="module")
def gallery(encoder: SentenceEncoder, system_thesaurus: Thesaurus) -> KnowledgeIndex:
    return KnowledgeIndex(GALLERY.strip().splitlines(), encoder=encoder, thesaurus=system_thesaurus)


def test_the_place_of_a_thing_the_file_never_names_is_declined(gallery: KnowledgeIndex) -> None:
    assert unheld_place_thing(gallery, "Where are the nearest lockers?") == "lockers"
    # before: "Free cloakroom is by the entrance for coats and bags."
    assert plan_turn(gallery, "Where are the nearest lockers?").reply == gallery.lines.dont_know
    assert plan_turn(gallery, "Where is the nearest cash machine?").reply == gallery.lines.dont_know


def test_the_place_of_a_thing_the_file_names_or_means_is_said(gallery: KnowledgeIndex) -> None:
    for question in ("Where is the cloakroom?", "Where can I leave my coat?"):
        assert unheld_place_thing(gallery, question) is None
        said = plan_turn(gallery, question).reply
        assert said is not None and "entrance" in said
    # a pronoun or the place itself is no thing the file could lack
    assert unheld_place_thing(gallery, "Where is it?") is None
    assert unheld_place_thing(gallery, "Where are you located?") is None
