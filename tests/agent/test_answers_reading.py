"""A fact said the way a person would say it (agent/answers/reading.py): no label read
out, the clause that answers the question, yes or no first where the fact says it; on
the shipped file and on facts of other kinds of business written in the same format."""

from __future__ import annotations

import pytest

from agent import PersonaSettings
from agent.answers.index import split_facts
from agent.answers.reading import fact_answer_word, spoken_answer
from agent.answers.shape import asks_for_value
from agent.persona import read_prompt_file

SHIPPED = split_facts(read_prompt_file(PersonaSettings().knowledge_file))

# facts of other businesses, in the documented format (a labelled line per fact)
OTHERS = {
    "Opening hours: Tuesday to Sunday 10 a.m. to 5 p.m.; Thursday open late until 9 p.m.; "
    "closed on Mondays.",
    "Flu shots: walk-in flu shots every weekday from 10 a.m. to 4 p.m.; no appointment needed.",
    "Restrooms: down the hall past the waiting room, on the right.",
    "Coat check: free coat check by the main entrance; no large suitcases.",
    "Prescription transfers: yes, we can transfer a prescription; it takes one business day.",
    "Phone: 555-0100.",
    "Lost and found: ask at the information desk.",
    "Walk-ins: no, we do not see walk-in patients; every visit needs an appointment.",
}


@pytest.mark.parametrize("fact", [*SHIPPED, *sorted(OTHERS)])
def test_no_label_is_read_aloud(fact: str) -> None:
    label = fact.split(":")[0]
    said = spoken_answer(fact)
    assert not said.startswith(f"{label}:") and f"{label}:" not in said, said
    assert said.endswith((".", "!", "?")) and said[0].isupper(), said


@pytest.mark.parametrize(("fact", "question", "answer"), [
    # yes or no first, where the fact says it
    ("Personal checks: no, we do not accept personal checks.",
     "Can I pay with a personal check?", "No, we do not accept personal checks."),
    ("Walk-ins: no, we do not see walk-in patients; every visit needs an appointment.",
     "Can I just walk in without an appointment?",
     "No, we do not see walk-in patients. Every visit needs an appointment."),
    ("Prescription transfers: yes, we can transfer a prescription; it takes one business day.",
     "Can you transfer my prescription from another pharmacy?",
     "Yes, we can transfer a prescription. It takes one business day."),
    # the clause that answers, the label told as the subject
    ("Opening hours: Monday to Saturday 9 a.m. to 8 p.m.; Sunday 10 a.m. to 6 p.m.",
     "What time do you open on Sunday?", "On Sunday, the opening hours are 10 a.m. to 6 p.m."),
    ("Restrooms: on the second floor, next to the cafe.", "Where are the restrooms?",
     "The restrooms are on the second floor, next to the cafe."),
    ("Opening hours: Tuesday to Sunday 10 a.m. to 5 p.m.; Thursday open late until 9 p.m.; "
     "closed on Mondays.", "How late are you open on Thursday?",
     "On Thursday, we are open late until 9 p.m."),
    ("Phone: 555-0100.", "What's your phone number?", "The phone is 555-0100."),
])
def test_the_answer_is_the_clause_asked_for(fact: str, question: str, answer: str) -> None:
    assert spoken_answer(fact, question, asks_for_value(question)) == answer


def test_a_fact_that_says_there_is_none_answers_no() -> None:
    fact = "Wi-Fi: free guest Wi-Fi, no password."
    assert fact_answer_word(fact, "Is there a password for the wifi?") == "no"
    assert spoken_answer(fact, "Is there a password for the wifi?").startswith("No, ")
    assert fact_answer_word(fact, "Where is the wifi?") is None  # not a yes/no question


def test_a_statement_keeps_its_no_only_for_a_yes_no_question() -> None:
    fact = "Holidays: no, we are not open on New Year's Day."
    assert spoken_answer(fact, "Are you open on New Year's Day?").startswith("No, we are not")
    assert spoken_answer(fact, "When are you closed?") == "We are not open on New Year's Day."


@pytest.mark.parametrize(("fact", "question", "answer"), [
    # a plain statement of the thing asked: yes
    ("Language help: our pharmacists speak English and Spanish.",
     "Does anybody there speak Spanish?", "Yes, our pharmacists speak English and Spanish."),
    # of its opposite: no
    ("Opening hours: Monday to Friday 8 a.m. to 9 p.m.; Saturday 9 a.m. to 5 p.m.; Sunday closed.",
     "Are you open on Sundays?", "No, on Sunday, we are closed."),
    ("Blood pressure: a free blood pressure machine stands next to the entrance.",
     "Does it cost anything to use the blood pressure machine?",
     "No, a free blood pressure machine stands next to the entrance."),
    # a common word shared ("bring") is no yes
    ("What to bring: bring your insurance card and a photo ID.", "Can I bring my dog?",
     "Bring your insurance card and a photo ID."),
])
def test_a_statement_answers_yes_or_no_by_what_it_states(fact: str, question: str,
                                                         answer: str) -> None:
    assert spoken_answer(fact, question) == answer


@pytest.mark.parametrize(("question", "answer"), [
    ("Do you open at eight in the morning on Tuesdays?", "No, Monday to Saturday"),
    ("Do you open at 9 a.m. on Mondays?", "Yes, Monday to Saturday"),
    ("Are you open until nine on Saturdays?", "No, Monday to Saturday"),
    ("Do you close at 6 p.m. on Sunday?", "Yes, on Sunday"),
])
def test_a_clock_time_asked_is_read_against_the_facts_hours(question: str, answer: str) -> None:
    hours = "Opening hours: Monday to Saturday 9 a.m. to 8 p.m.; Sunday 10 a.m. to 6 p.m."
    assert spoken_answer(hours, question).startswith(answer)


def test_an_opening_time_does_not_answer_when_it_closes() -> None:
    from agent.answers.reading import tells_the_other_time

    lab = "Lab tests: the blood draw lab is in room 210 and opens at 7:30 a.m."
    assert tells_the_other_time("What time does the lab close?", lab)
    assert not tells_the_other_time("What time does the lab open?", lab)
    cafe = "Cafe: the cafe on the second floor serves coffee until 7 p.m."
    assert not tells_the_other_time("When does the cafe close?", cafe)  # until: its closing
