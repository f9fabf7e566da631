"""A yes/no question about doing a thing, whose best fact names the things done with that
verb and not the one asked ("Can I bring my dog?" and "Bring a yoga mat, a water bottle
and a towel."): declined, not answered with the fact's list (agent/answers/routing.py,
`yes_no_other_thing_rule`). A fact naming the thing asked, or no thing, or any thing
("return any item") still answers. docs/ANSWERS.md, section 23. Runs on a yoga studio's
file written for it, through the real index, sentence encoder and WordNet."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

STUDIO = """Studio name: Quiet Lotus Yoga.
Opening hours: Monday to Friday 7 a.m. to 9 p.m.; Saturday 9 a.m. to 1 p.m.
What to bring: bring a yoga mat, a water bottle and a towel to every class.
Shop returns: return any item from the shop within 30 days with the receipt.
Lockers: free lockers by the changing rooms.
"""

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")


@pytest.fixture(scope="module")
def studio(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The file's index as the product builds it: words, meaning and WordNet."""
    return KnowledgeIndex(STUDIO.strip().splitlines(), encoder=encoder,
                          thesaurus=Thesaurus.system())


def test_a_thing_the_fact_does_not_name_among_those_done_is_declined(
        studio: KnowledgeIndex) -> None:
    for asked in ("Can I bring my dog?", "Can I bring my dog with me?",
                  "Could we bring our parrot to class?"):
        assert plan_turn(studio, asked).reply == studio.lines.dont_know, asked


def test_a_thing_the_fact_names_or_any_thing_still_answers(studio: KnowledgeIndex) -> None:
    for asked in ("Can I bring my own mat?", "Can I return a towel I bought in the shop?"):
        reply = plan_turn(studio, asked).reply
        assert reply != studio.lines.dont_know, asked
