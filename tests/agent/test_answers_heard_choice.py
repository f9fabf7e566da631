"""Of whisper's near hypotheses, one the file answers where the best gets no answer
(agent/answers/heard.py; docs/ANSWERS.md, section 25): a bakery's file written for it,
through the real index and sentence encoder. The hypotheses are shaped as whisper's beam
gave them on the tuning halves (a word misheard in the best, the right one just below)."""

from __future__ import annotations

from agent.answers.heard import MARGIN, choose_heard
from agent.answers.index import KnowledgeIndex
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder

BAKERY = """Bakery name: Crumb and Crust.
Opening hours: Monday to Friday 7 a.m. to 6 p.m. Saturday 8 a.m. to 2 p.m. Closed on Sunday.
Cakes: birthday cakes are made to order, two days ahead, from 30 dollars.
Payment: we accept cash and all major cards.
Seating: ten tables inside, no seating outside.
"""


def _index(encoder: SentenceEncoder) -> KnowledgeIndex:
    return KnowledgeIndex(BAKERY.strip().splitlines(), encoder=encoder)


def test_a_near_hypothesis_the_file_answers_is_taken(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    best, near = "How great are you open on a Friday?", "How late are you open on a Friday?"
    assert plan_turn(index, best).reply is None or plan_turn(index, best).reply == index.lines.dont_know
    said = plan_turn(index, near).reply
    assert said is not None and "6 p.m." in said
    assert choose_heard(index, [(best, -0.40), (near, -0.42)]) == near
    # 0.08 below: taken at MARGIN 0.1, not at section 25's 0.05
    assert choose_heard(index, [(best, -0.40), (near, -0.48)]) == near
    # the same words punctuated otherwise are no other hypothesis; too far below: the best
    assert choose_heard(index, [(best, -0.40), (best.rstrip("?") + ".", -0.41),
                                (near, -0.40 - MARGIN - 0.01)]) == best


def test_a_best_hypothesis_the_file_answers_is_kept(encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    best, near = "Do you take cards?", "Do you make cakes?"
    assert plan_turn(index, best).reply not in (None, index.lines.dont_know)
    assert choose_heard(index, [(best, -0.30), (near, -0.31)]) == best


def test_an_unknown_stays_declined_and_short_messages_stay_as_heard(
        encoder: SentenceEncoder) -> None:
    index = _index(encoder)
    # a thing the file does not hold, a near hypothesis the file does not answer either
    unknown = ("Do you sell gluten free bread?", -0.35)
    assert choose_heard(index, [unknown, ("Do you sell blue ten free bread?", -0.36)]) == unknown[0]
    # a follow-up leans on the visit, which the choice does not read
    assert choose_heard(index, [("For how long?", -0.2), ("For how loan?", -0.21)]) == "For how long?"
    assert choose_heard(index, []) == ""
