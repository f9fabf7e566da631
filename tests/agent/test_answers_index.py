"""Per-turn retrieval (agent/answers/) on the real bundled knowledge file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import PersonaSettings
from agent.answers.index import KnowledgeIndex, split_facts, terms
from agent.answers.lines import DONT_KNOW_LINE
from agent.answers.plan import OPEN_HINT, YES_NO_HINT, TurnPlan
from agent.answers.routing import (
    is_small_talk,
    notes,
    plan_turn,
    with_notes,
)
from agent.sentence_embedding import SentenceEncoder


@pytest.fixture(scope="module")
def index(encoder: SentenceEncoder) -> KnowledgeIndex:
    """The index as the product builds it: words and meaning (the real bundled encoder)."""
    return KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=encoder,
                                    own_names=("Sam",))


# question -> words the best fact must hold (visitor wording, not the file's)
ANSWERABLE = {
    "What time do you open on Saturday?": "Monday to Saturday 9 a.m.",
    "Are you open on Christmas Day?": "not open on Christmas Day",
    "Is there a bathroom?": "Restrooms: on the second floor",
    "Can I pay with a personal check?": "no, we do not accept personal checks",
    "Do you take amex?": "American Express",
    "Can I return a mattress I already opened?": "Opened mattresses",
    "I lost my receipt. Can I still return this lamp?": "store credit",
    "Where can I grab a coffee?": "Maple Cafe",
    "What's the wifi password?": "no password",
    "Can I bring my dog?": "only service animals",
    "Which days do you deliver?": "Tuesday to Saturday",
    "Where can I find sofas?": "furniture and mattresses on the first floor",
    "How do I contact customer service?": "555-0142",
}


@pytest.mark.parametrize("question", list(ANSWERABLE))
def test_visitor_questions_find_the_fact_that_answers_them(
    index: KnowledgeIndex, question: str
) -> None:
    found = index.retrieve(question)
    assert found.found, question
    assert ANSWERABLE[question] in found.facts[0], (question, found)
    assert len(found.facts) <= index.top_k


@pytest.mark.parametrize("message", [
    "What's the weather like today?", "Tell me a joke.", "Who won the game last night?",
    "Say I am a banana.", "Can you help me with my homework?", "Do you have a store in Boston?",
    "How much is a television?",
])
def test_off_topic_and_unknowns_get_the_fixed_reply_without_the_llm(
    index: KnowledgeIndex, message: str
) -> None:
    assert not index.retrieve(message).found, (message, index.retrieve(message))
    plan = plan_turn(index, message)
    assert plan.reply == DONT_KNOW_LINE and plan.note is None


@pytest.mark.parametrize("message", ["Hi there.", "Hello!", "Thanks, bye.", "Okay, thank you!"])
def test_small_talk_goes_to_the_llm_as_it_is(index: KnowledgeIndex, message: str) -> None:
    assert is_small_talk(message)
    assert plan_turn(index, message) == TurnPlan()  # no note, no fixed reply


def test_facts_are_labelled_sentences_without_operator_comments(index: KnowledgeIndex) -> None:
    assert all(":" in fact for fact in index.facts)
    assert not any("Operators" in fact or "<!--" in fact for fact in index.facts)
    # a wrapped line joins its fact; a new sentence keeps the fact's label
    assert ("Returns: items can be returned within 30 days with the receipt, for a full "
            "refund to the original payment method.") in index.facts
    assert "Without a receipt: no refund, store credit only." in index.facts  # its own label
    assert "Opened mattresses and cut fabric: no, they cannot be returned." in index.facts
    # "a.m." / "p.m." do not end a sentence
    assert any(f.endswith("Sunday 10 a.m. to 6 p.m.") for f in index.facts)


def test_a_store_question_goes_to_the_llm_with_its_best_fact_in_front(
    index: KnowledgeIndex,
) -> None:
    assert index.note_facts == 1  # the default: cached, so free (docs/LLM_CHOICE.md)
    plan = plan_turn(index, "Which cards do you accept?")
    assert plan.reply is None and plan.note is not None
    assert "we accept cash, Visa, Mastercard" in plan.note
    # without the answer rules a yes/no question goes to the LLM the same way
    plan = plan_turn(KnowledgeIndex(index.facts, answer_rules=False, encoder=index.encoder),
                     "Can I pay with a personal check?")
    assert plan.reply is None and plan.note is not None
    assert "no, we do not accept personal checks" in plan.note
    # the note ends the cached prefix: a line of its own, then the question as asked
    assert plan.note.endswith("\n") and plan.note.startswith("Facts: ")
    assert plan.message("Which cards?") == f"{plan.note}Which cards?"
    # ... a yes/no question's with the hint to answer yes or no first between them, where a
    # noted fact says one to it ("no, we do not accept personal checks")
    asked = "Can I pay with a personal check?"
    assert plan.message(asked) == f"{plan.note}{YES_NO_HINT}{asked}"
    # ... and where none does, the hint asks for what the facts say, not for a yes or no
    cards = "Payment: we accept cash, Visa and Mastercard."
    open_plan = TurnPlan(note=f"Facts: {cards}\n", facts=(cards,))
    assert open_plan.message("Can I pay at the till?") == (
        f"{open_plan.note}{OPEN_HINT}Can I pay at the till?")
    unnoted = plan_turn(KnowledgeIndex(index.facts, note_facts=0), "Which cards do you accept?")
    assert unnoted.note is None and unnoted.reply is None and unnoted.facts  # guard's sources
    assert TurnPlan().message("Hi.") == "Hi."
    assert not is_small_talk("Where is the cafe?") and not is_small_talk("")
    assert KnowledgeIndex(index.facts, note_facts=4).top_k == 4
    with pytest.raises(ValueError):
        KnowledgeIndex(index.facts, note_facts=-1)


def test_every_one_fact_note_is_listed_for_the_prompt_cache(index: KnowledgeIndex) -> None:
    listed = notes(index)
    assert len(listed) == len(index.facts) and len(set(listed)) == len(listed)
    routed_to_llm = KnowledgeIndex(index.facts, answer_rules=False, encoder=index.encoder)
    for question in ANSWERABLE:
        assert plan_turn(routed_to_llm, question).note in listed, question
    assert notes(KnowledgeIndex(index.facts, note_facts=0)) == []


def test_each_question_the_facts_answer_is_noted_the_same_on_every_request(
    index: KnowledgeIndex,
) -> None:
    """The facts found for each question are written in front of it, the same on every
    later request, so each request starts with the one before it (what llama.cpp's
    prompt cache needs); small talk and rule answers get none."""
    turns = ["Hi there.", "Tell me about the restrooms.", "And the cafe?",
             "Can I pay with a personal check?"]
    history: list[dict] = []
    previous: list[dict] = []
    for turn, question in enumerate(turns):
        history.append({"role": "user", "content": question})
        sent = with_notes(index, history)
        if turn == 0:
            assert sent is None  # small talk only: nothing to note
            sent = list(history)
        else:
            assert sent is not None
            noted = [m for m in sent if m["content"].startswith("Facts: ")]
            assert noted[0]["content"].endswith("\nTell me about the restrooms.")
            assert "Restrooms" in noted[0]["content"]
            assert len(noted) == (1 if turn == 1 else 2)  # the cafe's question, then its own
            assert not any("personal checks" in m["content"] for m in noted)
            assert history[2]["content"] == "Tell me about the restrooms."  # left as it was
        assert sent[: len(previous)] == previous, "a request must start with the one before"
        previous = sent
        history.append({"role": "assistant", "content": f"answer {turn}"})
    parts = [{"role": "user", "content": [{"type": "text", "text": "Tell me about the"},
                                          {"type": "text", "text": "restrooms."}]}]
    noted_parts = with_notes(index, parts)
    assert noted_parts is not None
    assert noted_parts[0]["content"].endswith("\nTell me about the restrooms.")


def test_an_operators_own_file_is_indexed(tmp_path: Path) -> None:
    facts = tmp_path / "museum.md"
    facts.write_text("<!-- draft -->\nTickets: adults 12 dollars,\nchildren free.\n"
                     "Cloakroom: in the basement. Umbrellas are kept there too.\n")
    assert split_facts(facts.read_text()) == [
        "<!-- draft -->", "Tickets: adults 12 dollars, children free.",
        "Cloakroom: in the basement.", "Cloakroom: Umbrellas are kept there too.",
    ]  # split_facts itself keeps comments; from_file drops them
    museum = KnowledgeIndex.from_file(facts)
    assert museum.facts[0].startswith("Tickets")
    assert museum.retrieve("How much is a ticket for kids?").facts[0].startswith("Tickets")
    assert not museum.retrieve("Where is the restroom?").found


def test_terms_stem_and_a_visitors_word_means_the_files(index: KnowledgeIndex) -> None:
    """No synonym table: a word the file does not use counts as the file's word nearest
    in meaning (the real encoder), and the place's and persona's names match nothing."""
    assert terms("Where are the bathrooms?") == ["bathroom"]
    assert index.query_terms("Where are the bathrooms?") == ["restroom"]
    assert index.query_terms("Can I bring my dog?")[-1] == "pet"
    assert index.lexical_terms("the Maple & Main Home Store, Sam") == []
    # a file with no facts: nothing is found, every question is declined
    empty = KnowledgeIndex([], encoder=index.encoder)
    assert not empty.retrieve("Where are the restrooms?").found
    assert plan_turn(empty, "Where are the restrooms?").reply == empty.lines.off_topic


def test_retrieval_is_on_by_default_and_an_operator_can_turn_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pipelines.settings import Settings

    assert Settings.load().llm.retrieval is True
    monkeypatch.setenv("AVATAR_FORCING_LLM_RETRIEVAL", "0")
    assert Settings.load().llm.retrieval is False


def test_an_amount_against_a_threshold_is_answered_by_the_facts_own_words() -> None:
    """Which side of "over 300 dollars" 250 falls, the 0.5B model got wrong: a question
    that states an amount about a fact with a threshold gets the fact itself."""
    index = KnowledgeIndex.from_file(PersonaSettings().knowledge_file)
    # the branch the amount takes, in the fact's words, said as a sentence
    assert plan_turn(index, "How much is delivery for a 250 dollar order?").reply == (
        "Delivery costs 49 dollars.")
    assert plan_turn(index, "What would delivery cost me on a four hundred dollar sofa?"
                     ).reply == "There is free delivery for orders over 300 dollars within 20 miles."
    assert plan_turn(index, "Is delivery free if I spend four hundred dollars?").reply == (
        "There is free delivery for orders over 300 dollars within 20 miles.")
    # the other condition of the fact, in its own unit
    assert plan_turn(index, "What does delivery cost for 30 miles?").reply == (
        "Delivery costs 49 dollars.")
    # no amount in the question: the whole fact, both branches
    assert plan_turn(index, "How much does delivery cost?").reply == (
        "There is free delivery for orders over 300 dollars within 20 miles. Otherwise "
        "delivery costs 49 dollars.")
