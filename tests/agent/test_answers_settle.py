"""A yes/no question a fact settles is answered from the fact, its yes or no read from the
fact's own words (agent/answers/settle.py): days and hours, a named thing said under a
"no" or plainly; where the fact settles nothing, no yes or no is said. On a file of its own
(a swimming pool's, written for these tests), through the real index and sentence encoder;
and the label a reply reads out after a word of its own ("Yes, lockers: ...")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from agent.answers.clock import asked_time
from agent.answers.index import KnowledgeIndex
from agent.answers.reading import fact_answer_word, relabelled, spoken_answer
from agent.answers.routing import plan_turn
from agent.answers.settle import (
    hours_answer,
    opening_hours,
    settled_answer,
    settling_part,
    thing_answer,
)

POOL = """<!-- Facts for the help kiosk of a swimming pool, for tests. -->
Pool name: Eastgate Lido.
Opening hours: Wednesday to Sunday 6 a.m. to 8 p.m.; Friday open late until 10 p.m.; closed on Mondays and Tuesdays.
Swimwear: yes, swim shorts are allowed, but no wetsuits and no snorkels.
Passes: we accept Aqua Card, Fit Pass and Silver Leisure; no, we do not accept Gymbox vouchers.
Lockers: coin lockers by the changing rooms; bring a 1 dollar coin.
Sauna: the sauna on the upper deck costs 4 dollars extra.
Lessons: children's lessons on Saturday mornings; book at reception.
"""
HOURS = ("Opening hours: Wednesday to Sunday 6 a.m. to 8 p.m.; Friday open late until 10 p.m.; "
         "closed on Mondays and Tuesdays.")
SWIMWEAR = "Swimwear: yes, swim shorts are allowed, but no wetsuits and no snorkels."


@pytest.fixture(scope="module")
def pool(index_of_file: Callable[[str, str], KnowledgeIndex]) -> KnowledgeIndex:
    return index_of_file(POOL, "pool")


def test_the_days_and_hours_a_fact_lists() -> None:
    open_days, closed = opening_hours(HOURS)
    assert closed == {0, 1}  # Monday, Tuesday
    assert open_days[2] == (6 * 60, 20 * 60)  # Wednesday 6 a.m. to 8 p.m.
    assert open_days[4] == (6 * 60, 22 * 60)  # Friday: open late until 10 p.m.


@pytest.mark.parametrize(("question", "window"), [
    ("Could I come in Saturday afternoon, like around three?", (15 * 60, 15 * 60)),
    ("Can I swim at 7 a.m.?", (7 * 60, 7 * 60)),
    ("Are you open until nine on Fridays?", (21 * 60, 21 * 60)),
    ("Can we come on Sunday morning?", (6 * 60, 12 * 60)),
    ("Can I come on Sunday?", None),
    ("Can I come with 3 friends?", None),  # a count, not an hour
    # an hour told by what follows it, the word before it misheard ("at" heard "it")
    ("Do you open it 5 in the morning on Sundays?", (5 * 60, 5 * 60)),
    ("Is ten o'clock too early to come?", (10 * 60, 10 * 60)),
])
def test_the_time_a_visitor_asks_about(question: str, window: tuple[int, int] | None) -> None:
    assert asked_time(question) == window


@pytest.mark.parametrize(("question", "word"), [
    ("Can we come by on Monday?", "no"),  # "closed on Mondays": not "yes" for the day named
    ("Are you closed on Tuesdays?", "yes"),
    ("Are you open on Thursday?", "yes"),
    ("Could I come in Saturday evening, like around nine?", "no"),  # closes at 8 p.m.
    ("Could I come in Friday around nine?", "yes"),  # open late until 10 p.m.
    ("Are you open until nine on Fridays?", "yes"),
    ("Are you open until nine on Sundays?", "no"),
    ("Can I drop in on Sunday at 5 a.m.?", "no"),
    ("Do you sell goggles on Monday?", None),  # not about coming or being open
    ("Is the sauna hot?", None),  # no day named
])
def test_a_question_about_a_day_is_settled_by_the_days_and_hours(question: str,
                                                                   word: str | None) -> None:
    assert hours_answer(HOURS, question) == word


@pytest.mark.parametrize(("things", "word"), [
    ({"wetsuit"}, "no"),  # "no wetsuits and no snorkels"
    ({"snorkel"}, "no"),
    ({"short"}, "yes"),  # "yes, swim shorts are allowed"
    ({"wetsuit", "short"}, None),  # said both ways
    ({"goggle"}, None),  # not in the fact
    ({"wetsuit", "goggle", "cap"}, None),  # most of what is asked is not the fact's
])
def test_a_named_thing_said_under_a_no_or_plainly(things: set[str], word: str | None) -> None:
    assert thing_answer(SWIMWEAR, things) == word


def test_a_no_ends_at_except() -> None:
    assert thing_answer("Pets: no pets, except service animals.", {"animal"}) == "yes"
    assert thing_answer("Pets: no pets, except service animals.", {"pet"}) == "no"


@pytest.mark.parametrize("question", [
    "Do I have to bring swim shorts?",  # an obligation: a plain mention does not answer it
    "Does it cost anything to wear swim shorts?",
    "Are swim shorts not allowed?",
])
def test_a_question_taking_a_side_is_not_settled_by_a_plain_mention(question: str) -> None:
    assert settled_answer(SWIMWEAR, question) is None


@pytest.mark.parametrize(("question", "reply"), [
    ("Can we come by on Monday?", "No, we are closed on Mondays and Tuesdays."),
    ("Could I come in Saturday evening, like around nine?",
     "No, Wednesday to Sunday, the opening hours are 6 a.m. to 8 p.m."),
    ("Can I wear my wetsuit in the pool?",
     "No, swim shorts are allowed, but no wetsuits and no snorkels."),
    ("I've got a Silver Leisure card, is that okay here?",
     "Yes, we accept Aqua Card, Fit Pass and Silver Leisure."),
    ("I only have Gymbox vouchers, can I use them here?", "No, we do not accept Gymbox vouchers."),
    ("Do you take FitPass?", "Yes, we accept Aqua Card, Fit Pass and Silver Leisure."),  # said as one word
    ("Do you open it 5 in the morning on Sundays?",  # "at" as whisper may hear it
     "No, Wednesday to Sunday, the opening hours are 6 a.m. to 8 p.m."),
])
def test_a_settled_yes_no_is_said_from_the_fact_without_the_llm(pool: KnowledgeIndex,
                                                                question: str, reply: str) -> None:
    plan = plan_turn(pool, question)
    assert plan.reply == reply and plan.note is None


def test_a_thing_the_file_only_neighbours_gets_no_yes_or_no(pool: KnowledgeIndex) -> None:
    """"Do you have a jacuzzi?" is near the sauna in meaning, but the fact does not say
    jacuzzi: whatever answers, it does not open with a yes or no read from that fact."""
    plan = plan_turn(pool, "Do you have a jacuzzi?")
    assert plan.reply is None or not plan.reply.lower().startswith(("yes", "no,"))


def test_the_guard_reads_the_days_a_fact_says_are_closed() -> None:
    """The guard's word for a yes/no (agent/answers/guard.py `contradicted`): "no" for a
    day the fact says is closed, so the model's "Yes, you can come on Monday." is turned
    round."""
    assert fact_answer_word(HOURS, "Can we come by on Monday?") == "no"
    assert spoken_answer(HOURS, "Can we come by on Monday?") == "No, we are closed on Mondays and Tuesdays."


def test_a_label_read_after_a_word_of_the_replys_own_is_said_as_an_answer() -> None:
    facts = ["Lockers: coin lockers by the changing rooms; bring a 1 dollar coin."]
    question = "Are there lockers?"
    said = relabelled("Yes, lockers: coin lockers by the changing rooms.", facts, question)
    assert said is not None and "lockers:" not in said.lower()
    assert said.startswith("Yes, ")
    assert relabelled("Yes, there are coin lockers by the changing rooms.", facts, question) is None


def test_the_part_said_keeps_what_follows_the_answer_and_drops_another_things_no() -> None:
    passes = "Passes: we accept Aqua Card and Fit Pass; no, we do not accept Gymbox vouchers."
    assert settling_part(passes, {"fit", "pass"}) == "Passes: we accept Aqua Card and Fit Pass."
    scans = "Scans: no, we do not do scans here; we refer you to the imaging centre next door."
    assert settling_part(scans, {"scan"}) == scans  # where to go instead is part of the answer


def test_the_guard_reads_the_thing_the_rules_read() -> None:
    """The guard's word agrees with the rule's: the reply "No, ... no wetsuits ..." is kept,
    and a "Yes" to it would be turned into the fact said with its "No"."""
    question = "Can I wear my wetsuit in the pool?"
    assert fact_answer_word(SWIMWEAR, question) == "no"
    assert spoken_answer(SWIMWEAR, question).startswith("No, ")
