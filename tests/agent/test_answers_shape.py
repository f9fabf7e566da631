"""Yes/no questions and amounts (agent/answers/shape.py), and the answers `plan_turn`
gives them without the LLM, on the real bundled knowledge file."""

from __future__ import annotations

import pytest

from agent import LLMSettings, PersonaSettings
from agent.answers.index import KnowledgeIndex
from agent.answers.lines import DONT_KNOW_LINE
from agent.answers.reading import spoken_answer
from agent.answers.routing import plan_turn
from agent.answers.shape import (
    asks_for_amount,
    is_yes_no_question,
    last_sentence,
    question_part,
    states_amount,
)
from agent.sentence_embedding import SentenceEncoder


@pytest.fixture(scope="module")
def index() -> KnowledgeIndex:
    return KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=SentenceEncoder(),
                                    own_names=("Sam",))


@pytest.mark.parametrize("message", [
    "Can I pay with a personal check?", "Is there a bathroom here?", "do you take amex",
    "Are you open on Christmas Day?", "I lost my receipt. Can I still return this lamp?",
    "Won't you match a competitor's price?", "Doesn\u2019t the cafe sell sandwiches?",
    # whisper writes the pause after a statement as a comma
    "I lost the receipt, will I get a refund?", "If I buy it online, can I return it here?",
    # ... and may end it with "." (docs/ANSWERS.md, section 20)
    "I was here yesterday, is that fine.",
])
def test_yes_no_questions_are_recognised(message: str) -> None:
    assert is_yes_no_question(message), message


@pytest.mark.parametrize("message", [
    "Where are the restrooms?", "What time do you open on Saturday?", "How much is a sofa?",
    "Tell me a joke.", "Can I pay? Where is the checkout?", "", "Canada has good stores.",
    "I dropped my phone, where should I ask?", "I was here yesterday, do come again.",
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


def test_facts_are_spoken_as_sentences_without_their_labels() -> None:
    # no question: the statement, without the fact's "no," (right after "Are you open?"
    # and "Are you closed?" alike)
    assert spoken_answer("Holidays: no, we are not open on Christmas Day; the store is closed.") \
        == "We are not open on Christmas Day. The store is closed."
    # the label names what "they" are: it becomes the subject
    assert spoken_answer("Opened mattresses and cut fabric: no, they cannot be returned.") == (
        "Opened mattresses and cut fabric cannot be returned.")
    assert spoken_answer("Restrooms: on the second floor,\n next to the cafe.") == (
        "The restrooms are on the second floor, next to the cafe.")
    assert spoken_answer("no label, as it is.") == "No label, as it is."


@pytest.mark.parametrize(("question", "said"), [
    # yes or no first where the fact says it (or the days asked are not the fact's)
    ("Can I pay with a personal check?", "No, we do not accept personal checks."),
    ("Can I bring my dog into the store?", "No, there are no pets, except service animals."),
    ("Do you deliver on Mondays?", "No, deliveries happen Tuesday to Saturday."),
    # asked with "closed", told with "open": no yes or no that would mislead
    ("Is the store closed on Christmas?", "We are not open on Christmas Day"),
])
def test_a_yes_no_store_question_is_answered_by_its_fact_without_the_llm(
    index: KnowledgeIndex, question: str, said: str
) -> None:
    plan = plan_turn(index, question)
    assert plan.note is None and plan.reply is not None, (question, plan)
    assert plan.reply.startswith(said), (question, plan.reply)
    assert plan.facts and plan.reply != plan.facts[0]


def test_a_yes_no_question_its_words_lead_elsewhere_goes_to_the_llm_with_its_fact(
    index: KnowledgeIndex,
) -> None:
    """The returns fact shares more words with it than the fact that answers it: the
    LLM answers, with that fact in front (the guard checks its yes or no)."""
    plan = plan_turn(index, "I lost my receipt. Can I still return this lamp?")
    assert plan.reply is None and plan.note is not None
    assert plan.note.startswith("Facts: Without a receipt: no refund, store credit only.")


def test_an_amount_is_answered_only_from_a_fact_that_states_one(index: KnowledgeIndex) -> None:
    # the departments fact (furniture) is about a sofa, but states no price
    assert plan_turn(index, "How much does a sofa cost?").reply == DONT_KNOW_LINE
    # "Deliveries happen Tuesday to Saturday." outscores the price: the price's fact is
    # said, both branches of its condition (they belong together)
    delivery = plan_turn(index, "How much does delivery cost?")
    assert delivery.note is None and delivery.reply is not None
    assert "over 300 dollars" in delivery.reply and "49 dollars" in delivery.reply
    # off the store's facts altogether: the outside reply, as before
    assert plan_turn(index, "How much is a television?").reply == DONT_KNOW_LINE


def test_without_the_rules_both_go_to_the_llm(index: KnowledgeIndex) -> None:
    plain = KnowledgeIndex(index.facts, answer_rules=False, encoder=index.encoder)
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
    from agent.answers.shape import asks_for_person, asks_for_price, asks_for_time

    assert (asks_for_price(message), asks_for_time(message), asks_for_person(message)) == (
        price, time, person)


def test_what_a_fact_states() -> None:
    from agent.answers.shape import person_words, states_price, states_time

    cafe = "Cafe: the Maple Cafe on the second floor serves coffee and sandwiches until 7 p.m."
    assert states_time(cafe) and not states_price(cafe)
    assert states_price("Loyalty program: Maple Rewards is free to join.")
    assert not states_time("Address: 250 Harbor Road, Springfield.")
    assert person_words("Manager: Dana Lee runs the shop.") == {"manager"}


def test_a_contraction_opens_a_question_as_its_word_does() -> None:
    assert question_part("Excuse me, where's the bathroom?") == "where's the bathroom?"
    from agent.answers.shape import asks_for_value

    assert asks_for_value("Excuse me, where's the bathroom?") == "place"
