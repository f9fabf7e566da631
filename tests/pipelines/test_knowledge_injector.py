"""The per-turn facts (pipelines/turns/knowledge_injector.py): on the LLM's request, in front of
each question the facts answer, never in the session's history; what a reply's values may
come from, kept per turn and forgotten with the visit; on the real knowledge file and
pipecat's real LLMContext."""

from __future__ import annotations

from pipecat.frames.frames import (
    AggregatedTextFrame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_text_processor import LLMTextProcessor
from pipecat.tests.utils import run_test

from agent import PersonaSettings
from agent.answers.index import KnowledgeIndex
from agent.answers.lines import DONT_KNOW_LINE
from pipelines.speech.first_clause import FirstClauseAggregator
from pipelines.turns.context_window import ContextWindow
from pipelines.turns.knowledge_injector import KnowledgeInjector, last_user_text

INDEX = KnowledgeIndex.from_file(PersonaSettings().knowledge_file)
# questions the LLM answers (a yes/no one is answered by its fact: see below)
SESSION = ["Tell me about the restrooms.", "Hi there!", "Which cards do you accept?",
           "Tell me about delivery."] * 4


async def test_each_question_carries_its_facts_and_the_history_stays_clean() -> None:
    """Many turns through ContextWindow -> KnowledgeInjector, as in the pipeline: every
    request has the facts found in front of each question they answer (small talk gets
    none), the stored context holds only questions and answers, and each request starts
    with the one before it (what llama.cpp's prompt cache needs) until the window trims."""
    context = LLMContext()
    previous: list = []
    for turn, question in enumerate(SESSION):
        context.add_message({"role": "user", "content": question})
        window = ContextWindow(max_messages=24, keep_messages=8)
        injector = KnowledgeInjector(index=INDEX)
        frame = LLMContextFrame(context=context)
        down, _ = await run_test(window, frames_to_send=[frame], expected_down_frames=None)
        down, _ = await run_test(injector, frames_to_send=down, expected_down_frames=None)
        requests = [f for f in down if isinstance(f, LLMContextFrame)]
        assert len(requests) == 1
        sent = requests[0].context.get_messages()
        stored = context.get_messages()
        assert requests[0].context is not context  # a copy: the history stays as said
        noted = [i for i, m in enumerate(sent) if m["content"] != stored[i]["content"]]
        questions = [i for i, m in enumerate(stored)
                     if m["role"] == "user" and m["content"] != "Hi there!"]
        assert noted == questions, (turn, sent)
        for i in noted:
            assert sent[i]["content"].startswith("Facts: ")
            assert sent[i]["content"].endswith("\n" + stored[i]["content"])
        assert len(sent) == len(stored)
        assert not any("Facts:" in str(m["content"]) for m in stored), "a note leaked"
        assert injector.sources is not None and injector.sources.question == question
        if previous and len(stored) > len(previous):  # no trim this turn
            assert sent[: len(previous)] == previous, "the request must extend the last one"
        previous = sent
        context.add_message({"role": "assistant", "content": f"answer {turn}"})
    assert len(context.get_messages()) <= 24


async def test_a_conversation_opened_by_small_talk_goes_as_it_is() -> None:
    context = LLMContext([{"role": "user", "content": "Hi there!"}])
    frame = LLMContextFrame(context=context)
    down, _ = await run_test(KnowledgeInjector(index=INDEX), frames_to_send=[frame],
                             expected_down_frames=[LLMContextFrame])
    assert down[0] is frame


async def test_off_topic_is_answered_without_the_llm() -> None:
    """"Say I am a banana." never reaches the LLM: the fixed reply comes out as an LLM
    response (what the text cutter and TTS expect), and the context is left alone."""
    context = LLMContext([{"role": "user", "content": "Say I am a banana."}])
    injector = KnowledgeInjector(index=INDEX)
    down, _ = await run_test(injector, frames_to_send=[LLMContextFrame(context=context)],
                             expected_down_frames=[LLMFullResponseStartFrame, LLMTextFrame,
                                                   LLMFullResponseEndFrame])
    assert down[1].text == DONT_KNOW_LINE and "banana" not in down[1].text
    assert injector.answered_without_llm == 1
    assert context.get_messages() == [{"role": "user", "content": "Say I am a banana."}]


async def test_a_yes_no_store_question_is_answered_by_its_fact_without_the_llm() -> None:
    """The 0.5B model said "Yes, you can" next to a fact that says no; the operator's own
    sentence goes out instead, as an LLM response, and the context is left alone."""
    question = "Can I pay with a personal check?"
    context = LLMContext([{"role": "user", "content": question}])
    injector = KnowledgeInjector(index=INDEX)
    down, _ = await run_test(injector, frames_to_send=[LLMContextFrame(context=context)],
                             expected_down_frames=[LLMFullResponseStartFrame, LLMTextFrame,
                                                   LLMFullResponseEndFrame])
    assert down[1].text == "No, we do not accept personal checks."
    assert injector.answered_without_llm == 1
    assert context.get_messages() == [{"role": "user", "content": question}]
    # with the rules off the LLM is asked, with the fact in front
    plain = KnowledgeIndex(INDEX.facts, answer_rules=False)
    down, _ = await run_test(KnowledgeInjector(index=plain),
                             frames_to_send=[LLMContextFrame(context=context)],
                             expected_down_frames=[LLMContextFrame])
    assert "no, we do not accept personal checks" in str(down[0].context.get_messages())


async def test_the_fixed_reply_is_cut_for_tts_like_an_llm_reply() -> None:
    """Through the pipeline's own text cutter: a first clause, then the rest."""
    context = LLMContext([{"role": "user", "content": "Tell me a joke."}])
    pipeline = Pipeline([KnowledgeInjector(index=INDEX),
                         LLMTextProcessor(text_aggregator=FirstClauseAggregator())])
    down, _ = await run_test(pipeline, frames_to_send=[LLMContextFrame(context=context)],
                             expected_down_frames=None)
    spoken = [f.text for f in down if isinstance(f, AggregatedTextFrame)]
    assert spoken[0] == "Sorry, I don't know that."
    assert " ".join(spoken) == DONT_KNOW_LINE


async def test_other_frames_and_contexts_without_a_question_pass_unchanged() -> None:
    context = LLMContext([{"role": "user", "content": "hi"},
                          {"role": "assistant", "content": "Hello!"}])
    assert last_user_text(context) is None and last_user_text(LLMContext()) is None
    frame = LLMContextFrame(context=context)
    text = TextFrame(text="passing through")
    down, _ = await run_test(KnowledgeInjector(index=INDEX), frames_to_send=[frame, text],
                             expected_down_frames=None)
    assert down[0] is frame and down[0].context is context
    assert isinstance(down[1], TextFrame) and down[1].text == "passing through"


async def test_without_notes_a_store_question_reaches_the_llm_untouched() -> None:
    """note_facts=0 (llm_retrieval_facts=0): only off-topic is routed."""
    index = KnowledgeIndex(INDEX.facts, note_facts=0)
    context = LLMContext([{"role": "user", "content": "Tell me about the restrooms."}])
    frame = LLMContextFrame(context=context)
    down, _ = await run_test(KnowledgeInjector(index=index), frames_to_send=[frame],
                             expected_down_frames=[LLMContextFrame])
    assert down[0] is frame and len(context.get_messages()) == 1


async def test_the_sources_hold_the_visit_and_are_forgotten_with_it() -> None:
    """What a reply may say back: the turn's facts and what this visitor said; after
    `forget` (the kiosk's visitor changed) nothing of it is left."""
    context = LLMContext(messages=[
        {"role": "user", "content": "My locker number is 42."},
        {"role": "assistant", "content": "Okay."},
        {"role": "user", "content": "What was my locker number again?"}])
    injector = KnowledgeInjector(index=INDEX)
    down, _ = await run_test(injector, frames_to_send=[LLMContextFrame(context=context)],
                             expected_down_frames=None)
    assert any(isinstance(f, LLMContextFrame) for f in down)  # the LLM reads the visit
    assert injector.sources is not None
    assert injector.sources.visitor == ("My locker number is 42.",
                                        "What was my locker number again?")
    injector.forget()
    assert injector.sources is None


def test_a_multipart_user_message_is_read_as_text() -> None:
    context = LLMContext([{"role": "user", "content": [
        {"type": "text", "text": "Is there a"}, {"type": "text", "text": "bathroom?"}]}])
    assert last_user_text(context) == "Is there a bathroom?"


async def test_a_follow_up_is_planned_with_the_visitors_question_before_it() -> None:
    """"For how long?" alone is about nothing and got the fixed "I can help with the
    store" reply; after "Is there parking?" it goes to the LLM with the visit."""
    alone = LLMContext([{"role": "user", "content": "For how long?"}])
    down, _ = await run_test(KnowledgeInjector(index=INDEX),
                             frames_to_send=[LLMContextFrame(context=alone)],
                             expected_down_frames=[LLMFullResponseStartFrame, LLMTextFrame,
                                                   LLMFullResponseEndFrame])
    assert down[1].text == DONT_KNOW_LINE
    visit = LLMContext([
        {"role": "user", "content": "Is there parking?"},
        {"role": "assistant", "content": "Parking: free parking for 2 hours in the garage "
                                         "behind the store."},
        {"role": "user", "content": "For how long?"}])
    injector = KnowledgeInjector(index=INDEX)
    down, _ = await run_test(injector, frames_to_send=[LLMContextFrame(context=visit)],
                             expected_down_frames=[LLMContextFrame])
    assert injector.answered_without_llm == 0
    assert down[0].context.get_messages()[-1]["content"] == "For how long?"
