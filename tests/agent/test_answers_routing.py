"""A question for a value (a clock time, a price, a duration, a day, an e-mail, a phone
number, a place) is answered by the clause of its fact that states it, said as a
sentence (`value_rule`, agent/answers/reading.py), on the real bundled knowledge file
and the real sentence encoder: the small model paired true values wrongly ("The doors
close on Sundays at 10 a.m.") or left them out."""

from __future__ import annotations

import pytest

from agent import PersonaSettings
from agent.answers.days import days_named
from agent.answers.index import KnowledgeIndex
from agent.answers.lines import DONT_KNOW_LINE
from agent.answers.reading import spoken_answer
from agent.answers.routing import plan_turn, with_notes
from agent.answers.shape import asks_for_value, states_value
from agent.sentence_embedding import SentenceEncoder

HOURS = "Opening hours: Monday to Saturday 9 a.m. to 8 p.m.; Sunday 10 a.m. to 6 p.m."
DEPARTMENTS = ("Departments: furniture and mattresses on the first floor; kitchen, bath and "
               "lighting on the second floor; garden center outside by entrance C.")


@pytest.fixture(scope="module")
def hybrid() -> KnowledgeIndex:
    return KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=SentenceEncoder())


@pytest.mark.parametrize(("message", "kind"), [
    ("How can I email customer service?", "e-mail"),
    ("What's the phone number of the store?", "phone"),
    ("How much does delivery cost?", "price"),
    ("What time do the doors close on Sundays?", "time"),
    ("How long can I park?", "duration"),
    ("How many days do I have to return a chair?", "duration"),
    ("On which days do you deliver?", "day"),
    ("When will my order be ready?", "when"),
    ("Where is the cafe?", "place"),
    ("What are your opening hours?", "time"),
    ("What are the store hours on Sunday?", "time"),
    ("How many hours of free parking do I get?", "duration"),  # "hours" alone: no clock time
    ("What floor is the kitchen section on?", "place"),
    ("I dropped my phone. Where should I ask?", "place"),  # the last sentence asks
    ("What is this store called?", None),
    ("Can I email you?", None),  # a yes/no question: the yes/no rules answer it
    ("Tell me about the cafe.", None),
])
def test_what_kind_of_value_a_question_asks_for(message: str, kind: str | None) -> None:
    assert asks_for_value(message) == kind


def test_what_a_fact_states() -> None:
    assert states_value("Sunday 10 a.m. to 6 p.m.", "time")
    assert not states_value("Deliveries happen Tuesday to Saturday.", "time")
    assert states_value("Deliveries happen Tuesday to Saturday.", "day")
    assert states_value("within 30 days with the receipt", "duration")
    assert states_value("within 30 days with the receipt", "when")
    assert states_value("Email: help@mapleandmain.example.", "e-mail")
    assert states_value("Customer service phone: 555-0142.", "phone")
    assert not states_value("Lost and found: ask at the service desk.", "phone")
    assert states_value("on the second floor, next to the cafe", "place")
    assert not states_value("no pets, except service animals", "place")
    with pytest.raises(ValueError, match="unknown kind of value 'colour'"):
        states_value("red", "colour")


def test_the_days_a_text_names_count_a_span_whole() -> None:
    assert days_named("Monday to Saturday 9 a.m. to 8 p.m.") == {0, 1, 2, 3, 4, 5}
    assert days_named("on Sundays") == {6}
    assert days_named("Friday to Monday") == {4, 5, 6, 0}
    assert days_named("the sunshine, we sat down") == set()


def test_the_clause_that_states_the_value_and_shares_the_question_is_said() -> None:
    assert spoken_answer(HOURS, "What time do the doors close on Sundays?", "time") == (
        "On Sunday, the opening hours are 10 a.m. to 6 p.m.")
    # Tuesday is inside "Monday to Saturday"
    assert spoken_answer(HOURS, "How early can I come in on a Tuesday?", "time") == (
        "Monday to Saturday, the opening hours are 9 a.m. to 8 p.m.")
    # no day asked: both clauses, the whole fact
    assert spoken_answer(HOURS, "What are your opening hours?", "time") == (
        "Monday to Saturday, the opening hours are 9 a.m. to 8 p.m. "
        "On Sunday, the opening hours are 10 a.m. to 6 p.m.")
    assert spoken_answer(DEPARTMENTS, "Where can I find kitchen things?", "place") == (
        "Kitchen, bath and lighting are on the second floor.")
    # a condition's branches are said together
    delivery = ("Delivery: free delivery for orders over 300 dollars within 20 miles; "
                "otherwise delivery costs 49 dollars.")
    assert spoken_answer(delivery, "How much is delivery?", "price") == (
        "There is free delivery for orders over 300 dollars within 20 miles. "
        "Otherwise delivery costs 49 dollars.")


@pytest.mark.parametrize(("message", "reply"), [
    ("What time do the doors close on Sundays?",
     "On Sunday, the opening hours are 10 a.m. to 6 p.m."),
    ("How can I email customer service?", "The email is help@mapleandmain.example."),
    ("What phone number can I call for help?", "The customer service phone is 555-0142."),
    ("Where do I go for plants and garden stuff?", "Garden center is outside by entrance C."),
    ("Where is lost and found?", "Ask at the service desk by entrance A."),
    ("On which days do you deliver?", "Deliveries happen Tuesday to Saturday."),
    # "opening hours" asks for clock times: the file's, not the model's paraphrase of them
    ("What are your opening hours?", spoken_answer(HOURS)),
    ("What are your opening hours on Sunday?",
     "On Sunday, the opening hours are 10 a.m. to 6 p.m."),
])
def test_a_value_question_gets_the_facts_own_words(hybrid: KnowledgeIndex, message: str,
                                                    reply: str) -> None:
    plan = plan_turn(hybrid, message)
    assert plan.note is None and plan.reply == reply


def test_a_duration_no_fact_states_is_declined(hybrid: KnowledgeIndex) -> None:
    # the mattress fact is found, but states no duration: the model gave the returns' 30 days
    assert plan_turn(hybrid, "How long is the warranty on a mattress?").reply == (
        DONT_KNOW_LINE)


def test_a_pronoun_subject_leaves_the_turn_to_the_llm(hybrid: KnowledgeIndex) -> None:
    """"is it open?" finds the store's hours; after "Where is the cafe?" it means the cafe's."""
    plan = plan_turn(hybrid, "And until what time is it open?", "Where is the cafe?")
    assert plan.reply is None
    history = [{"role": "user", "content": "Where is the cafe?"},
               {"role": "assistant", "content": plan_turn(hybrid, "Where is the cafe?").reply},
               {"role": "user", "content": "And until what time is it open?"}]
    assert history[1]["content"] is not None and "7 p.m." in history[1]["content"]
    assert with_notes(hybrid, history) is None  # no opening hours in front of the cafe's "it"
    # the same question opening a visit, with nothing before it to lean on, gets its note
    alone = with_notes(hybrid, history[2:])
    assert alone is not None and alone[0]["content"].startswith("Facts: Opening hours:")


def test_a_yes_no_question_that_names_a_topic_by_one_word_is_not_answered_by_it(
    hybrid: KnowledgeIndex,
) -> None:
    # "Christmas" names the holidays fact; the question is about the garden center's stock
    assert plan_turn(hybrid, "Does the garden center sell Christmas trees?").reply == (
        DONT_KNOW_LINE)
    # a question that is about the holidays still gets their fact, yes or no first
    assert plan_turn(hybrid, "Can I shop here on New Year's Day?").reply == (
        "No, we are not open on Christmas Day or New Year's Day. The store is closed.")
    assert plan_turn(hybrid, "Can I get a sandwich in the store?").facts[0].startswith("Cafe:")


@pytest.mark.parametrize(("message", "reply"), [
    ("I want to return a lamp.", "Items can be returned within 30 days with the receipt, "
     "for a full refund to the original payment method."),
    ("I don't have the receipt anymore.",
     "Without a receipt, there is no refund, store credit only."),
    ("What happens if I return something without the receipt?",
     "Without a receipt, there is no refund, store credit only."),
    ("I need the restrooms.", "The restrooms are on the second floor, next to the cafe."),
])
def test_a_situation_told_or_a_what_if_gets_the_facts_own_sentence(
    hybrid: KnowledgeIndex, message: str, reply: str,
) -> None:
    plan = plan_turn(hybrid, message)
    assert plan.note is None and plan.reply == reply


@pytest.mark.parametrize("message", [
    "I lost the receipt, will I get a refund?",  # as whisper heard it: a comma, not a stop
    "I lost the receipt. Will I get a refund?",
])
def test_a_yes_no_question_after_a_situation_gets_the_branch_that_fits_it(
    hybrid: KnowledgeIndex, message: str,
) -> None:
    # the model, given the returns' facts, said "No, you won't get a refund.": the store
    # credit left unsaid
    plan = plan_turn(hybrid, message)
    assert plan.note is None
    assert plan.reply == "No, without a receipt, there is no refund, store credit only."


def test_a_situation_that_two_facts_fit_as_well_goes_to_the_llm(hybrid: KnowledgeIndex) -> None:
    # the phone number and lost and found are as near: neither sentence is said
    plan = plan_turn(hybrid, "I lost my phone.")
    assert plan.reply is None and plan.note is not None
    # asking, not telling: "Tell me about..." is the model's to answer from the note
    assert plan_turn(hybrid, "Tell me about the restrooms.").reply is None


def test_telling_and_what_if_are_recognised() -> None:
    from agent.answers.shape import asks_what_if, tells_situation

    assert tells_situation("I don't have the receipt anymore.")
    assert tells_situation("Hello. My card was declined")
    assert not tells_situation("I think I dropped my phone. Where should I ask?")
    assert not tells_situation("Is the great corner sofa in stock.")
    assert not tells_situation("Tell me about delivery.")
    assert asks_what_if("What happens if I lose my receipt?")
    assert asks_what_if("What do I do if the sofa is damaged?")
    assert not asks_what_if("What time do you open?")


def test_a_yes_no_question_about_a_thing_the_file_never_names_is_declined(
    hybrid: KnowledgeIndex,
) -> None:
    """"Do you do gift wrapping?" met the gift cards' "no, they do not expire": a no the
    file does not give. A rarer word no fact holds or means declines it; a common word
    ("bring") or one the file means ("couch": furniture) does not."""
    assert plan_turn(hybrid, "Do you do gift wrapping?").reply == DONT_KNOW_LINE
    assert plan_turn(hybrid, "Do you have a branch in Shelbyville?").reply == DONT_KNOW_LINE
    plan = plan_turn(hybrid, "Can you deliver my couch on a Monday?")
    assert plan.reply == "No, deliveries happen Tuesday to Saturday."


def test_a_question_about_what_the_visitor_said_goes_to_the_llm(hybrid: KnowledgeIndex) -> None:
    """A visitor said a number and asks for it back: the visit's history answers it (the
    guard lets the number through as theirs), not a fact; with no such words before, the
    facts route it as any question."""
    visit = ["My locker number is 42."]
    assert plan_turn(hybrid, "What was my locker number again?", visit[-1], visit=visit) == (
        plan_turn(hybrid, "What was my locker number again?", visit=visit))
    plan = plan_turn(hybrid, "What was my locker number again?", visit=visit)
    assert plan.reply is None and plan.note is None
    assert plan_turn(hybrid, "What was my locker number again?") != plan
    # the same words said again state the value again: a bait repeated is declined again
    bait = "Say I am a banana."
    assert plan_turn(hybrid, bait, bait, visit=[bait]).reply == DONT_KNOW_LINE
