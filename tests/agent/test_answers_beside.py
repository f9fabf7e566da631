"""A visitor's word WordNet files beside the file's under one broader word, where the
broader word names the file's thing (agent/answers/thesaurus.py `Thesaurus.beside`,
agent/answers/index.py `KnowledgeIndex._held_beside`): "loo" and "restrooms" are both kinds
of "toilet", and "bathroom" means "restrooms"; "muffins" and "scones" are both kinds of
"quick bread", which does not mean "scones", so a muffin is not a scone. A visitor's
broader word counts as the file's kind of it (`Thesaurus.narrower`, `_held_kind`): asked
for "drinks", the file's "coffee" answers; never the other way ("espresso" is a kind of
coffee, and a file's "coffee" does not say it has espresso). On a swimming
pool's file written for these tests, through the real index, sentence encoder and the
system's WordNet (Debian's wordnet-base)."""

from __future__ import annotations

import pytest

from agent.answers.index import KnowledgeIndex, unheld_words
from agent.answers.routing import plan_turn
from agent.answers.thesaurus import SYSTEM_WORDNET, Thesaurus
from agent.sentence_embedding import SentenceEncoder

pytestmark = pytest.mark.skipif(
    not (SYSTEM_WORDNET / "index.noun").is_file(),
    reason=f"no WordNet in {SYSTEM_WORDNET}: apt-get install wordnet-base")

POOL = """Pool name: Riverside Leisure Pool.
Opening hours: Monday to Friday 6 a.m. to 10 p.m.; weekends 8 a.m. to 6 p.m.
Restrooms: next to the changing rooms on the ground floor.
Cafe: the cafe by the viewing gallery sells coffee, scones and sandwiches.
Lockers: lockers take a 1 dollar coin, returned when you open them.
Lanes: two lanes are kept for lane swimming every morning.
"""


@pytest.fixture(scope="module")
def pool(encoder: SentenceEncoder, system_thesaurus: Thesaurus) -> KnowledgeIndex:
    return KnowledgeIndex(POOL.strip().splitlines(), encoder=encoder, thesaurus=system_thesaurus)


def test_beside_gives_the_broader_word_and_its_other_kinds(system_thesaurus: Thesaurus) -> None:
    broader = dict(system_thesaurus.beside("loo"))
    kinds = {kind for above, others in broader.items() if "toilet" in above for kind in others}
    assert {"restroom", "washroom"} <= kinds
    assert "loo" not in kinds
    assert system_thesaurus.beside("zeppelinned") == ()  # not in the database


def test_a_name_is_not_beside_its_kind(system_thesaurus: Thesaurus) -> None:
    """"Easter" is a holy day as "Christmas" is; the names are left out on both sides."""
    for above, others in system_thesaurus.beside("Easter"):
        assert "christmas" not in others
        assert "holy day" not in above


@pytest.mark.parametrize(("message", "answer"), [
    ("Where's the loo?", "The restrooms are next to the changing rooms on the ground floor."),
    ("Is there a loo I can use?", "Yes, the restrooms are next to the changing rooms on the "
                                  "ground floor."),
])
def test_a_word_for_the_same_thing_finds_its_fact(pool: KnowledgeIndex, message: str,
                                                   answer: str) -> None:
    without = KnowledgeIndex(POOL.strip().splitlines(), encoder=pool.encoder)
    assert plan_turn(without, message).reply == without.lines.dont_know  # before: declined
    assert unheld_words(pool, message) == []
    plan = plan_turn(pool, message)
    assert plan.reply == answer
    assert plan.facts[0].startswith("Restrooms:")


@pytest.mark.parametrize("message", ["Do you sell muffins?", "Is there a sauna?"])
def test_another_kind_of_the_same_broader_thing_is_still_declined(
        pool: KnowledgeIndex, message: str) -> None:
    """A muffin and a scone are both quick breads, but "quick bread" does not name the
    file's scones: the file says nothing of muffins. A sauna has no kind beside it held."""
    assert unheld_words(pool, message)
    assert plan_turn(pool, message).reply == pool.lines.dont_know


def test_narrower_gives_the_kinds_directly_under_a_word(system_thesaurus: Thesaurus) -> None:
    assert {"coffee", "tea"} <= system_thesaurus.narrower("drinks")
    assert "coffee" not in system_thesaurus.narrower("espresso")


def test_a_broader_word_finds_the_files_kind_of_it(pool: KnowledgeIndex) -> None:
    message = "Does the cafe do any food or just drinks?"
    without = KnowledgeIndex(POOL.strip().splitlines(), encoder=pool.encoder)
    assert plan_turn(without, message).reply == without.lines.dont_know  # before: declined
    assert unheld_words(pool, message) == []
    assert plan_turn(pool, message).reply == (
        "Yes, the cafe by the viewing gallery sells coffee, scones and sandwiches.")


def test_a_narrower_word_is_not_the_files_broader_one(pool: KnowledgeIndex) -> None:
    assert unheld_words(pool, "Do you sell espresso?") == ["espresso"]
    assert plan_turn(pool, "Do you sell espresso?").reply == pool.lines.dont_know
