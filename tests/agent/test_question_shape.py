"""Yes/no questions and amounts (agent/question_shape.py), and the answers `plan_turn`
gives them without the LLM, on the real bundled knowledge file."""

from __future__ import annotations

import pytest

from agent import LLMSettings, PersonaSettings
from agent.knowledge_retrieval import (
    OUTSIDE_REPLY,
    UNKNOWN_AMOUNT_REPLY,
    KnowledgeIndex,
    plan_turn,
    spoken_fact,
)
from agent.question_shape import (
    asks_for_amount,
    is_yes_no_question,
    last_sentence,
    question_part,
    states_amount,
)


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex.from_file(PersonaSettings().knowledge_file)


@pytest.mark.parametrize("message", [
    "Can I pay with a personal check?", "Is there a bathroom here?", "do you take amex",
    "Are you open on Christmas Day?", "I lost my receipt. Can I still return this lamp?",
    "Won't you match a competitor's price?", "Doesn\u2019t the cafe sell sandwiches?",
    # whisper writes the pause after a statement as a comma
    "I lost the receipt, will I get a refund?", "If I buy it online, can I return it here?",
])
def test_yes_no_questions_are_recognised(message: str) -> None:
    assert is_yes_no_question(message), message


@pytest.mark.parametrize("message", [
    "Where are the restrooms?", "What time do you open on Saturday?", "How much is a sofa?",
    "Tell me a joke.", "Can I pay? Where is the checkout?", "", "Canada has good stores.",
    "I dropped my phone, where should I ask?", "I was here yesterday, is that fine.",
])
def test_other_messages_are_not(message: str) -> None:
    assert not is_yes_no_question(message), message


def test_the_last_sentence_carries_the_question() -> None:
    assert last_sentence("I lost my receipt. Can I still return this lamp?") == (
        "Can I still return this lamp?")
    assert last_sentence("Hello...") == "Hello..."


@pytest.mark.parametrize(("message", "part"), [
    ("I lost the receipt, will I get a refund?", "will I get a refund?"),
    ("I dropped my phone, where should I ask?", "where should I ask?"),
    # a question that opens as one keeps its comma clause ("is it 9?" is not what it asks)
    ("What time do you open, is it 9?", "What time do you open, is it 9?"),
    ("Yes, please.", "Yes, please."),  # no question
    ("Thanks. I paid by card, Visa?", "I paid by card, Visa?"),  # no question word after it
])
def test_the_question_told_after_a_statement_and_a_comma_is_its_last_clause(
        message: str, part: str) -> None:
    assert question_part(message) == part


def test_amounts_asked_and_stated() -> None:
    for asked in ("How much does delivery cost?", "What's the price of a gift card?",
                  "Is there a fee for delivery?", "how expensive is parking"):
        assert asks_for_amount(asked), asked
    for other in ("Will you match a competitor's price?", "Where is the cafe?"):
        assert not asks_for_amount(other), other
    assert states_amount("Parking: free parking for 2 hours.")
    assert states_amount("Loyalty program: members get five percent back.")
    assert not states_amount("Departments: furniture and mattresses on the first floor.")


def test_facts_are_spoken_without_a_yes_no_that_could_contradict_the_question() -> None:
    # "Is the store closed on Christmas?" -> a leading "No" would read as "it is open"
    assert spoken_fact("Holidays: no, we are not open on Christmas Day; the store is closed.") \
        == "We are not open on Christmas Day; the store is closed."
    # the label names what "they" are: kept
    assert spoken_fact("Opened mattresses and cut fabric: no, they cannot be returned.") == (
        "Opened mattresses and cut fabric: they cannot be returned.")
    assert spoken_fact("Restrooms: on the second floor,\n next to the cafe.") == (
        "Restrooms: on the second floor, next to the cafe.")
    assert spoken_fact("no label, as it is.") == "no label, as it is."


@pytest.mark.parametrize(("question", "said"), [
    ("Can I pay with a personal check?", "We do not accept personal checks."),
    ("Is the store closed on Christmas?", "the store is closed"),
    ("Can I bring my dog into the store?", "except service animals"),
    ("Do you deliver on Mondays?", "Tuesday to Saturday"),
    ("I lost my receipt. Can I still return this lamp?", "store credit only"),
])
def test_a_yes_no_store_question_is_answered_by_its_fact_without_the_llm(
    index: KnowledgeIndex, question: str, said: str
) -> None:
    plan = plan_turn(index, question)
    assert plan.note is None and plan.reply is not None, (question, plan)
    assert said in plan.reply, (question, plan.reply)
    assert not plan.reply.lower().startswith(("yes", "no,")), plan.reply


def test_an_amount_is_answered_only_from_a_fact_that_states_one(index: KnowledgeIndex) -> None:
    # the departments fact (furniture) is about a sofa, but states no price
    assert plan_turn(index, "How much does a sofa cost?").reply == UNKNOWN_AMOUNT_REPLY
    # "Deliveries happen Tuesday to Saturday." outscores the price: the price's fact is
    # said, both branches of its condition (they belong together)
    delivery = plan_turn(index, "How much does delivery cost?")
    assert delivery.note is None and delivery.reply is not None
    assert "over 300 dollars" in delivery.reply and "49 dollars" in delivery.reply
    # off the store's facts altogether: the outside reply, as before
    assert plan_turn(index, "How much is a television?").reply == OUTSIDE_REPLY


def test_without_the_rules_both_go_to_the_llm(index: KnowledgeIndex) -> None:
    plain = KnowledgeIndex(index.facts, answer_rules=False)
    for question in ("Can I pay with a personal check?", "How much does a sofa cost?"):
        plan = plan_turn(plain, question)
        assert plan.reply is None and plan.note is not None, question


def test_the_rules_are_on_by_default_and_an_operator_can_turn_them_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipelines.settings import Settings

    settings = Settings.load()
    assert settings.llm.answer_rules is True
    built = KnowledgeIndex.from_settings(settings.llm, settings.persona)
    assert built is not None and built.answer_rules
    monkeypatch.setenv("AVATAR_FORCING_LLM_ANSWER_RULES", "0")
    settings = Settings.load()
    built = KnowledgeIndex.from_settings(settings.llm, settings.persona)
    assert built is not None and not built.answer_rules
    assert KnowledgeIndex.from_settings(LLMSettings(retrieval=False), PersonaSettings()) is None


@pytest.mark.parametrize(("message", "price", "time", "person"), [
    ("How much does a coffee cost?", True, False, False),
    ("Is there a fee for store pickup?", True, False, False),
    ("How much time do I have to return it?", False, False, False),
    ("What time does the bus leave?", False, True, False),
    ("How late is the cafe open?", False, True, False),
    ("Who is the manager?", False, False, True),
    ("What's the name of the person at the desk?", False, False, True),
    ("What is this store called?", False, False, False),
    ("Who can I ask about returns?", False, False, False),
])
def test_what_a_question_asks_for(message: str, price: bool, time: bool, person: bool) -> None:
    from agent.question_shape import asks_for_person, asks_for_price, asks_for_time

    assert (asks_for_price(message), asks_for_time(message), asks_for_person(message)) == (
        price, time, person)


def test_what_a_fact_states() -> None:
    from agent.question_shape import person_words, states_price, states_time

    cafe = "Cafe: the Maple Cafe on the second floor serves coffee and sandwiches until 7 p.m."
    assert states_time(cafe) and not states_price(cafe)
    assert states_price("Loyalty program: Maple Rewards is free to join.")
    assert not states_time("Address: 250 Harbor Road, Springfield.")
    assert person_words("Manager: Dana Lee runs the shop.") == {"manager"}
