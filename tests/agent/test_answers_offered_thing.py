"""A yes/no question ending on a thing the place would have, sell or serve, which the file
never names, even in a common word (agent/answers/index.py `unheld_offered_thing`;
docs/ANSWERS.md, sections 26-27): declined, not answered with a neighbouring fact's yes.
A bookshop's file written for it, through the real index and sentence encoder."""

from __future__ import annotations

from agent.answers.index import KnowledgeIndex, unheld_offered_thing
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder

BOOKSHOP = """Shop name: Dog-Ear Books.
Opening hours: Monday to Saturday 9 a.m. to 7 p.m. Closed on Sunday.
Cafe: the cafe upstairs serves coffee, tea and cakes until 6 p.m.
Gift cards: sold at the till, from 10 to 100 dollars.
"""


def _index(encoder: SentenceEncoder) -> KnowledgeIndex:
    return KnowledgeIndex(BOOKSHOP.strip().splitlines(), encoder=encoder)


def test_a_common_thing_the_file_never_names_is_declined(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    dont_know = index.lines.dont_know
    # "milk" is a common word, so the rarer-word rule alone lets the cafe's fact say yes
    assert unheld_offered_thing(index, "Does the cafe have milk?") == "milk"
    assert plan_turn(index, "Does the cafe have milk?").reply == dont_know
    assert plan_turn(index, "Does the cafe have boat milk?").reply == dont_know
    assert plan_turn(index, "Do you sell any soap?").reply == dont_know


def test_a_thing_the_file_names_or_means_is_still_answered(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    assert unheld_offered_thing(index, "Does the cafe serve cakes?") is None
    said = plan_turn(index, "Does the cafe serve cakes?").reply
    assert said is not None and said.startswith("Yes")
    said = plan_turn(index, "Do you sell gift cards?").reply
    assert said is not None and "10" in said
    # not at the question's end, or a pronoun after the verb: no thing is named there
    assert unheld_offered_thing(index, "Do you have milk for the tea?") is None
    assert unheld_offered_thing(index, "Do you have one I can use?") is None


def test_a_thing_asked_to_exist_the_file_never_names_is_declined(
        encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    dont_know = index.lines.dont_know
    # "cash" leads to a payment fact, but the thing asked to be there is a machine
    shop = KnowledgeIndex([*BOOKSHOP.strip().splitlines(),
                           "Payment: we take cash and every major card."], encoder=encoder)
    assert unheld_offered_thing(shop, "Is there a cash machine in the shop?") == "machine"
    assert plan_turn(shop, "Is there a cash machine in the shop?").reply == shop.lines.dont_know
    assert unheld_offered_thing(index, "Are there any lockers here?") == "lockers"
    assert plan_turn(index, "Are there any lockers here?").reply == dont_know


def test_a_thing_asked_to_exist_the_file_names_is_not_declined(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    assert unheld_offered_thing(index, "Is there a cafe in the shop?") is None
    said = plan_turn(index, "Is there a cafe in the shop?").reply
    assert said != index.lines.dont_know
    # any place or way asked for is no thing the file could lack
    assert unheld_offered_thing(index, "Is there somewhere I can get a coffee?") is None
    # a compound the file writes joined
    drive = KnowledgeIndex(["Drive-through: no, we do not have a drive-through window."],
                           encoder=encoder)
    assert unheld_offered_thing(drive, "Is there a drive thru where I can stay in the car?") is None
