"""A message that asks about several things at once gets a fact for each part
(agent/answers/parts.py, `plan_turn` in agent/answers/routing.py), on the real sentence
encoder and real operators' files: the shipped store file and two other businesses'
(bench/answers/businesses/). Before, "Please tell me everything about delivery and
returns and gift cards." reached the LLM with the gift cards' fact alone, and "What are
your opening hours and how does delivery work?" was answered with the hours alone.

One-topic messages are routed whole, as before: a join inside one topic ("tables and
chairs") is no split, and no tune question of the four businesses is cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.answers.guard import FactGuard, contradicted
from agent.answers.index import KnowledgeIndex, label_of
from agent.answers.lines import DONT_KNOW_LINE
from agent.answers.parts import CONTEXT, QUESTION, REQUEST, TOPIC, message_parts, segments
from agent.answers.plan import TurnPlan
from agent.answers.routing import plan_turn, with_notes
from agent.sentence_embedding import SentenceEncoder

BUSINESSES = Path(__file__).resolve().parents[2] / "bench" / "answers" / "businesses"


@pytest.fixture(scope="module")
def store(store_hybrid: KnowledgeIndex) -> KnowledgeIndex:
    return store_hybrid


@pytest.fixture(scope="module")
def museum(encoder: SentenceEncoder) -> KnowledgeIndex:
    return KnowledgeIndex.from_file(BUSINESSES / "museum" / "knowledge.md", encoder=encoder)


@pytest.fixture(scope="module")
def pharmacy(encoder: SentenceEncoder) -> KnowledgeIndex:
    return KnowledgeIndex.from_file(BUSINESSES / "pharmacy" / "knowledge.md", encoder=encoder)


def labels(plan: TurnPlan) -> list[str | None]:
    """The labels of the facts a plan is answered from, in order."""
    return [label_of(fact) for fact in plan.facts]


def test_where_a_message_may_join_parts() -> None:
    """Sentences, commas, "and": each piece with what it is."""
    cut = segments("Please tell me everything about delivery and returns and gift cards.")
    assert [(s.text, s.kind) for s in cut] == [
        ("Please tell me everything about delivery", REQUEST), ("returns", TOPIC),
        ("gift cards", TOPIC)]
    cut = segments("I lost my receipt, can I still get my money back? And where do I park?")
    assert [(s.text, s.kind) for s in cut] == [
        ("I lost my receipt", CONTEXT), ("can I still get my money back", QUESTION),
        ("where do I park", QUESTION)]
    # "9 a.m." ends no sentence; a number's comma joins nothing
    assert [s.text for s in segments("Do you open at 9 a.m. on Mondays?")] == [
        "Do you open at 9 a.m. on Mondays"]
    assert len(segments("Is delivery free over 1,000 dollars?")) == 1


def test_three_topics_each_reach_the_llm_note(store: KnowledgeIndex) -> None:
    """Before: the note held the gift cards' fact alone (top 2 facts, note of 1)."""
    message = "Please tell me everything about delivery and returns and gift cards."
    plan = plan_turn(store, message)
    assert plan.reply is None and plan.note is not None
    assert labels(plan) == ["Delivery", "Returns", "Gift cards"]
    for fact in plan.facts:
        assert fact in plan.note
    assert plan.message(message).endswith(message)


def test_a_rule_answered_part_and_an_llm_part_both_reach_the_note(store: KnowledgeIndex) -> None:
    """Before: the hours' sentence alone was said, without the LLM; delivery was dropped.
    Now the LLM answers with both parts' facts (the hours, and delivery's two
    sentences: the note holds at most three facts)."""
    plan = plan_turn(store, "What are your opening hours and how does delivery work?")
    assert plan.reply is None and plan.note is not None
    assert labels(plan) == ["Opening hours", "Delivery", "Delivery"]
    assert "9 a.m." in plan.note and "49 dollars" in plan.note


def test_parts_each_said_from_the_file_are_joined(store: KnowledgeIndex) -> None:
    """Every part answered by a rule: the answers one after the other, no LLM; a topic
    joined to a question ("..., the cafe") is asked as the question asks."""
    plan = plan_turn(store, "Where are the restrooms, the cafe and the pickup desk?")
    assert plan.note is None and plan.reply is not None
    assert labels(plan) == ["Restrooms", "Cafe", "Store pickup"]
    assert plan.reply.startswith("The restrooms are on the second floor")
    assert "7 p.m." in plan.reply and "entrance B" in plan.reply
    alone = plan_turn(store, "Where are the restrooms?")
    assert alone.reply is not None and plan.reply.startswith(alone.reply)


def test_a_part_no_fact_answers_gets_the_dont_know_line_after_the_answer(
        store: KnowledgeIndex) -> None:
    """The answered part is said, and the part the file does not hold is declined in a
    sentence of its own (not dropped unsaid), in the message's order."""
    hours = plan_turn(store, "What are your opening hours?").reply
    assert hours is not None
    plan = plan_turn(store, "What are your opening hours and do you rent out moving trucks?")
    assert plan.reply == f"{hours} {DONT_KNOW_LINE}"
    assert labels(plan) == ["Opening hours"]
    plan = plan_turn(store, "Do you rent out moving trucks? What are your opening hours?")
    assert plan.reply == f"{DONT_KNOW_LINE} {hours}"


def test_with_a_part_no_fact_answers_the_llm_is_not_asked(store: KnowledgeIndex) -> None:
    """The LLM, given a message with a question its note does not answer, would answer
    it anyway (a yes or no no fact gives, which no value check catches): the part the
    LLM would have answered is said by its fact instead, and the other part declined."""
    plan = plan_turn(store, "Tell me about parking. Do you rent out moving trucks?")
    assert plan.note is None and plan.reply is not None
    assert plan.reply.endswith(DONT_KNOW_LINE) and "garage" in plan.reply
    assert labels(plan) == ["Parking"]
    # the parking part alone goes to the LLM, with its fact
    assert plan_turn(store, "Tell me about parking.").reply is None


@pytest.mark.parametrize("message", [
    "Do you sell tables and chairs?",
    "Is parking free for customers and visitors?",
    "Do you sell bread and butter?",
    "Do you take Visa, and can I pay with Apple Pay?",      # one fact: payment
    "Where is the cafe and is it open late?",               # "it": the cafe
    "Is parking free and how long can I stay?",             # how long: the parking
    "Can I return opened mattresses and cut fabric?",       # one label
    "Do you open at 9 and close at 8?",
    "Hi, what time do you close?",
    "Thanks, and where is the cafe?",
    "I lost my receipt, can I still get my money back?",    # context, then the question
    "If I come back tomorrow, can I still return it?",
    "Excuse me, where's the bathroom?",
])
def test_one_topic_is_one_part(store: KnowledgeIndex, message: str) -> None:
    """A join inside one topic, a pronoun back to it, or context before a question is
    no split: the message is routed whole, exactly as before."""
    assert message_parts(store, message) == [message]


def test_a_follow_up_question_in_common_words_stays_with_its_topic(store: KnowledgeIndex) -> None:
    """"how long can I stay" finds no fact alone, but asks about the parking: the
    parking's answer is not followed by a don't-know line."""
    plan = plan_turn(store, "Is parking free and how long can I stay?")
    assert plan.reply is not None and DONT_KNOW_LINE not in plan.reply
    assert labels(plan) == ["Parking"]


@pytest.mark.parametrize("business", ["store", "pharmacy", "museum", "clinic"])
def test_no_tune_question_of_the_four_businesses_is_cut(encoder: SentenceEncoder,
                                                        business: str) -> None:
    """Their questions are one topic each, many with a comma, "and" or two sentences
    ("I'm stuck in traffic and I'll be about twenty minutes late, is that a problem?")."""
    index = KnowledgeIndex.from_file(BUSINESSES / business / "knowledge.md", encoder=encoder)
    questions = json.loads((BUSINESSES / business / "tune.json").read_text())["questions"]
    asked = [q["q"] for q in questions if "q" in q]
    joined = [q for q in asked if len(segments(q)) > 1]
    assert joined, "the tune half has questions with a join to check"
    assert [q for q in joined if message_parts(index, q) != [q]] == []


def test_another_business_gets_both_parts_said(museum: KnowledgeIndex,
                                               pharmacy: KnowledgeIndex) -> None:
    """Nothing here knows the store: the museum's and the pharmacy's files split alike."""
    plan = plan_turn(museum, "How much are tickets and where is the dinosaur hall?")
    assert labels(plan) == ["Tickets", "Dinosaur hall"]
    assert plan.reply is not None and "18 dollars" in plan.reply and "ground floor" in plan.reply
    plan = plan_turn(museum, "Can I bring my dog and my stroller?")
    assert labels(plan) == ["Pets", "Strollers"]
    assert plan.reply is not None and plan.reply.startswith("No, ") and "Yes, strollers" in plan.reply
    plan = plan_turn(pharmacy, "Do you have a drive-through, and what's your phone number?")
    assert labels(plan) == ["Drive-through", "Phone"]
    assert plan.reply is not None and plan.reply.startswith("No, ") and "555-0188" in plan.reply
    # one topic at the pharmacy: Medicare and Medicaid are both the insurance fact
    assert message_parts(pharmacy, "Do you take Medicare and Medicaid?") == [
        "Do you take Medicare and Medicaid?"]


def test_the_guard_allows_every_parts_facts(store: KnowledgeIndex) -> None:
    """`TurnPlan.facts` holds each part's facts: a reply stating both parts' values
    passes the turn's guard, and a value of neither is still invented."""
    plan = plan_turn(store, "What are your opening hours and how does delivery work?")
    guard = FactGuard.for_turn(plan.facts)
    assert guard.check("We open at 9 a.m. and close at 8 p.m. on weekdays.").ok
    assert guard.check("Delivery costs 49 dollars, free over 300 dollars.").ok
    assert guard.check("Deliveries happen Tuesday to Saturday.").ok
    assert not guard.check("Delivery costs 59 dollars.").ok
    said = plan_turn(store, "Where are the restrooms, the cafe and the pickup desk?")
    assert said.reply is not None
    guard = FactGuard.for_turn(said.facts)
    assert all(guard.check(sentence).ok for sentence in said.reply.split(". "))


def test_a_yes_is_checked_against_the_part_it_answers(store: KnowledgeIndex) -> None:
    """Two yes/no parts: each answered from its own fact, yes then no; and where the LLM
    answers them, its "Yes, we accept American Express." is not taken for an answer to
    whether gift cards expire (whose fact says no); a yes to that part still is."""
    message = "Do you take American Express, and do gift cards expire?"
    plan = plan_turn(store, message)
    assert labels(plan) == ["Payment", "Gift cards"]
    assert plan.reply is not None and plan.reply.startswith("Yes, we accept")
    assert "No, gift cards do not expire." in plan.reply
    assert contradicted("Yes, we accept American Express.", message, plan.facts) is None
    fixed = contradicted("Yes, gift cards expire after a year.", message, plan.facts)
    assert fixed is not None and fixed.startswith("No, ")


def test_the_note_is_written_in_the_history_too(store: KnowledgeIndex) -> None:
    """`with_notes` writes the same several-fact note in front of the message on every
    later request (the LLM's prompt cache reads the history as it was sent)."""
    message = "Tell me about parking and the Wi-Fi."
    noted = with_notes(store, [{"role": "user", "content": message}])
    assert noted is not None
    text = noted[0]["content"]
    assert text.endswith(message) and "garage" in text and "MapleGuest" in text


def test_at_most_three_parts(store: KnowledgeIndex) -> None:
    """A fourth topic stays with the third part: the note holds at most three facts."""
    plan = plan_turn(store, "Tell me about parking, the Wi-Fi, gift cards and the cafe.")
    assert plan.note is not None and len(plan.facts) <= 3
    assert labels(plan)[:2] == ["Parking", "Wi-Fi"]
