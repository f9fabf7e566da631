"""Retrieval by meaning (agent/sentence_embedding.py + `KnowledgeIndex(encoder=...)`) on
the real all-MiniLM-L6-v2 from its PyPI package and the shipped knowledge file: a
question worded without the fact's label or words finds the fact, which the word
match alone does not; questions about nothing in the store still find nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from agent import PersonaSettings
from agent.answers.index import KnowledgeIndex
from agent.answers.lines import DONT_KNOW_LINE
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder


@pytest.fixture(scope="module")
def hybrid(store_hybrid: KnowledgeIndex) -> KnowledgeIndex:
    return store_hybrid


WORDS = KnowledgeIndex.from_file(PersonaSettings().knowledge_file)

# visitor wordings that share no label word with their fact (cars, toilets, fees, refunds)
PARAPHRASES = [
    ("Where can I leave my car while I shop?", "Parking:"),
    ("Where is the ladies' room?", "Restrooms:"),
    ("I really need to pee, where do I go?", "Restrooms:"),
    ("Can I ring somebody about my order?", "Customer service phone:"),
    ("Will you do the same price as the shop down the road?", "Price match:"),
    ("What if I threw away the proof of purchase?", "Without a receipt"),
    ("How late are you around on weekdays?", "Opening hours:"),
]


def test_embeddings_are_unit_vectors_that_rank_meaning(encoder: SentenceEncoder) -> None:
    vectors = encoder.encode(["Where can I leave my car?", "Parking for cars behind the store.",
                              "The cafe sells sandwiches."])
    assert vectors.shape == (3, 384)
    assert torch.allclose(vectors.norm(dim=1), torch.ones(3), atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.1


@pytest.mark.parametrize(("question", "fact"), PARAPHRASES)
def test_a_paraphrase_finds_its_fact(hybrid: KnowledgeIndex, question: str, fact: str) -> None:
    found = hybrid.retrieve(question)
    assert found.found and found.facts[0].startswith(fact), found
    # the word match alone finds nothing, or another fact first
    words = WORDS.retrieve(question)
    assert not words.found or not words.facts[0].startswith(fact), words


@pytest.mark.parametrize("question", ["Tell me a joke.", "What's the capital of France?",
                                      "Sing me a song.", "Do you sell electric bikes?"])
def test_a_question_about_nothing_in_the_store_still_finds_nothing(
        hybrid: KnowledgeIndex, question: str) -> None:
    assert not hybrid.retrieve(question).found
    assert plan_turn(hybrid, question).reply == DONT_KNOW_LINE


def test_the_word_sets_keep_their_facts(hybrid: KnowledgeIndex) -> None:
    for question, fact in [("What time do you open on Saturday?", "Opening hours:"),
                           ("Can I pay with a personal check?", "Personal checks:"),
                           ("Which days do you deliver?", "Delivery: Deliveries happen")]:
        assert hybrid.retrieve(question).facts[0].startswith(fact)


def test_the_settings_turn_meaning_on_by_default_and_off() -> None:
    from agent import LLMSettings

    on = KnowledgeIndex.from_settings(LLMSettings(), PersonaSettings())
    off = KnowledgeIndex.from_settings(LLMSettings(retrieval_semantic=False), PersonaSettings())
    assert on is not None and on.encoder is not None
    assert off is not None and off.encoder is None
    question = "Where can I leave my car while I shop?"
    assert on.retrieve(question).facts[0].startswith("Parking:")
    assert not off.retrieve(question).found


def test_an_amount_found_by_meaning_alone_is_not_an_answer(hybrid: KnowledgeIndex) -> None:
    """"How much does a sofa cost?" is near the delivery price in meaning; the model, given
    it, said "A sofa costs 49 dollars". An amount must be found by the question's words."""
    from agent.answers.lines import DONT_KNOW_LINE

    for question in ("How much does a sofa cost?", "How much is a dining table?"):
        assert plan_turn(hybrid, question).reply == DONT_KNOW_LINE
    # worded with the fact's own topic, the amount is the fact's
    reply = plan_turn(hybrid, "Is there a fee for home delivery?").reply
    assert reply is not None and "49 dollars" in reply


def test_a_yes_no_fact_is_spoken_only_where_the_words_agree(encoder: SentenceEncoder) -> None:
    """The bike shop example: by meaning "Is my bike ready yet?" comes closest to "New
    bikes: ...", whose label shares the shop's own word; that fact is not said as the
    answer: a question about the visitor's own case is declined with the don't-know
    line (the file holds no one's repair status), while a question the words and the
    meaning both lead to is still answered with its fact."""
    from pathlib import Path

    shop = Path(__file__).resolve().parents[2] / "examples/voice_assistant/knowledge.md"
    index = KnowledgeIndex.from_file(shop, answer_rules=True, encoder=encoder)
    own_case = plan_turn(index, "Is my bike ready yet?")
    assert own_case.reply == DONT_KNOW_LINE and not own_case.facts, own_case
    reply = plan_turn(index, "Is the shop open on Monday?").reply
    assert reply is not None and "Closed on Sunday and Monday" in reply


class CountingEncoder(SentenceEncoder):
    """The real encoder, counting the texts it encodes."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def encode(self, texts: list[str]) -> torch.Tensor:
        self.encoded += texts
        return super().encode(texts)


def test_a_question_asked_again_is_not_encoded_again(hybrid: KnowledgeIndex) -> None:
    """A turn retrieves its question several times (the plan, the note, the next turns'
    history): each encoder pass costs the turn ~8 ms, so the cosines are kept."""
    counting = CountingEncoder()
    index = KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=counting)
    question = "Where can I leave my car while I shop?"
    first = plan_turn(index, question)
    once = len(counting.encoded)  # the question, and its words the file does not use
    assert plan_turn(index, question) == first
    assert index.semantic_scores(question) == hybrid.semantic_scores(question)
    assert len(counting.encoded) == once
    assert index.retrieve("Where is the ladies' room?").facts == hybrid.retrieve(
        "Where is the ladies' room?").facts
    again = len(counting.encoded)
    index.retrieve("Where is the ladies' room?")
    assert len(counting.encoded) == again


# What a question asks for decides which facts may answer it: a price, a clock time or a
# person the file does not state is "I don't know" with the staff pointer, never the
# LLM's guess from a neighbouring fact.

@pytest.mark.parametrize("question", [
    "What does a latte cost in the cafe?",          # the cafe fact's "7 p.m." is no price
    "Do you charge anything for picking up an online order?",  # "within 2 hours" is none
])
def test_a_price_is_answered_only_by_a_fact_that_states_one(hybrid: KnowledgeIndex,
                                                            question: str) -> None:
    from agent.answers.lines import DONT_KNOW_LINE

    assert hybrid.retrieve(question).found
    assert plan_turn(hybrid, question).reply == DONT_KNOW_LINE


def test_a_price_the_file_states_still_goes_to_its_fact(hybrid: KnowledgeIndex) -> None:
    plan = plan_turn(hybrid, "What do you charge to deliver a lamp?")
    assert plan.reply is not None and "49 dollars" in plan.reply  # the fact's own words


def test_a_clock_time_is_answered_only_by_a_fact_that_states_one(hybrid: KnowledgeIndex) -> None:
    from agent.answers.lines import DONT_KNOW_LINE

    # the address names the bus station, but no time of a bus
    assert plan_turn(hybrid, "What time does the next bus stop at the Riverside station?"
                     ).reply == DONT_KNOW_LINE
    # "Thursday" is nearer the delivery days by words; the time is the opening hours'
    plan = plan_turn(hybrid, "How early do you let people in on a Thursday?")
    assert plan.reply == "Monday to Saturday, the opening hours are 9 a.m. to 8 p.m."


@pytest.mark.parametrize("question", [
    "Who is the manager of the cafe?",
    "What's the name of the lady at the service desk?",
    "Can I speak to the owner? What's her name?",
])
def test_a_person_the_file_does_not_name_is_not_guessed(hybrid: KnowledgeIndex,
                                                        question: str) -> None:
    from agent.answers.lines import DONT_KNOW_LINE

    assert plan_turn(hybrid, question).reply == DONT_KNOW_LINE


def test_a_person_the_file_names_goes_to_the_llm(tmp_path: Path, encoder: SentenceEncoder) -> None:
    """Another store's file that names its manager: the question is the LLM's, with the fact."""
    knowledge = tmp_path / "knowledge.md"
    knowledge.write_text("Store name: Corner Books.\nManager: Dana Lee runs the shop.\n"
                         "Opening hours: every day 9 a.m. to 5 p.m.\n", encoding="utf-8")
    index = KnowledgeIndex.from_file(knowledge, encoder=encoder)
    plan = plan_turn(index, "Who is the manager here?")
    assert plan.reply is None and plan.note is not None and "Dana Lee" in plan.note


def test_a_yes_no_question_a_fact_neither_names_nor_means_is_declined(
        hybrid: KnowledgeIndex) -> None:
    """"Is the oak dining table in stock?" finds the departments by one word (table:
    furniture); the model said "It is not in stock", a no the file does not give."""
    from agent.answers.lines import DONT_KNOW_LINE

    question = "Is the oak dining table in stock?"
    assert plan_turn(hybrid, question).reply == DONT_KNOW_LINE
    # a fact that holds what is asked still answers it, through the LLM
    for question in ("Do you have sofas?",):
        plan = plan_turn(hybrid, question)
        assert plan.reply is None and plan.note is not None and "Departments:" in plan.note
    # a yes/no question that names its fact is still answered by it
    reply = plan_turn(hybrid, "Can I take a mattress back after sleeping on it?").reply
    assert reply == "No, opened mattresses and cut fabric cannot be returned."


def test_a_question_that_names_a_fact_finds_it_before_one_that_mentions_it(
        hybrid: KnowledgeIndex) -> None:
    """"Restrooms: on the second floor, next to the cafe." is a place sentence that
    mentions the cafe; a question about the cafe is about the fact labelled "Cafe:"."""
    assert hybrid.retrieve("Where can I find the cafe?").facts[0].startswith("Cafe:")
    assert hybrid.retrieve("Which street are you on?").facts[0].startswith("Address:")
    assert hybrid.retrieve("Where is the nearest toilet?").facts[0].startswith("Restrooms:")


def test_a_follow_up_is_read_with_the_question_before_it(hybrid: KnowledgeIndex) -> None:
    """"For how long?" is about nothing alone; after "Is there parking?" it is the LLM's
    (which reads the visit), and an amount no fact states stays "I don't know"."""
    from agent.answers.lines import DONT_KNOW_LINE

    assert plan_turn(hybrid, "For how long?").reply == DONT_KNOW_LINE
    assert plan_turn(hybrid, "For how long?", previous="Is there parking?").reply is None
    assert plan_turn(hybrid, "And how much is it?",
                     previous="Is there somewhere to get lunch?").reply == DONT_KNOW_LINE
    # a new topic is no follow-up
    assert plan_turn(hybrid, "Tell me a joke.",
                     previous="Is there parking?").reply == DONT_KNOW_LINE
