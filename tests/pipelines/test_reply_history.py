"""The turn-end reading reads what the reply will send (pipelines/voice_pipeline.py
`reply_history`): the note in front of the session's first store question included, so
its prompt and the last reply's share their prefix in llama.cpp's cache."""

from __future__ import annotations

from typing import Any

from pipecat.processors.aggregators.llm_context import LLMContext

from agent import PersonaSettings
from agent.answers.index import KnowledgeIndex
from agent.answers.routing import FACTS_NOTE
from agent.turn_end_text import chatml_prompt
from pipelines.turns.knowledge_injector import with_fact_notes
from pipelines.voice_pipeline import noted_history, reply_history, said_history

INDEX = KnowledgeIndex.from_file(PersonaSettings().knowledge_file)
SYSTEM = "You are Sam."


def as_dict(message: Any) -> dict[str, Any]:
    return dict(message)


def chat() -> LLMContext:
    return LLMContext(messages=[
        {"role": "user", "content": "Tell me about the restrooms."},
        {"role": "assistant", "content": "The restrooms are on the second floor."},
    ])


def test_the_history_read_carries_the_note_the_reply_sent() -> None:
    context = chat()
    sent: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM},
                                  *(as_dict(m) for m in with_fact_notes(context, INDEX).messages)]
    history = reply_history(SYSTEM, context, INDEX)
    assert history == sent
    assert history[1]["content"].startswith(FACTS_NOTE.split("{")[0])
    # the reading of the next words extends the last reply's prompt: its cache holds it all
    last_reply = chatml_prompt(sent[:2], "")[: -len("<|im_start|>user\n")]
    assert chatml_prompt(history, "And where is the ca").startswith(last_reply)
    # the session's history itself is left as it was (it keeps what was said)
    assert as_dict(context.get_messages()[0])["content"] == "Tell me about the restrooms."


def test_without_knowledge_or_a_store_question_the_history_is_as_said() -> None:
    context = chat()
    assert reply_history(SYSTEM, context, None)[1:] == context.get_messages()
    small_talk = LLMContext(messages=[{"role": "user", "content": "Hi there."},
                                      {"role": "assistant", "content": "Hello!"}])
    assert reply_history(SYSTEM, small_talk, INDEX)[1:] == small_talk.get_messages()


def test_the_reading_takes_the_history_in_two_steps_to_the_same_messages() -> None:
    """The turn-end reading copies the history on the event loop and writes its notes in
    a worker thread: the two steps send what `reply_history` sends."""
    context = chat()
    said = said_history(SYSTEM, context)
    context.add_message({"role": "user", "content": "And the cafe?"})  # said after the copy
    assert noted_history(INDEX, said) == reply_history(SYSTEM, chat(), INDEX)


def test_with_a_knowledge_index_the_llm_reads_the_persona_alone() -> None:
    """The facts come with each question (the injector's notes), so the system prompt the
    pipeline sends (and warms) holds no line of the file, however long it is."""
    from agent import build_system_prompt
    from pipelines.voice_pipeline import (
        KIOSK_STYLE,
        VOICE_STYLE,
        YES_NO_STYLE,
        spoken_system_prompt,
    )

    prompt = build_system_prompt(PersonaSettings())
    with_file = spoken_system_prompt(prompt)
    alone = spoken_system_prompt(prompt, INDEX)
    assert "Restrooms: on the second floor" in with_file  # no index: the whole file, as before
    assert alone.endswith(VOICE_STYLE + KIOSK_STYLE)
    assert not any(fact in alone for fact in INDEX.facts)
    # a kiosk's yes/no hint comes with each yes/no question, an assistant's in its prompt
    assert YES_NO_STYLE not in alone and with_file.endswith(VOICE_STYLE + YES_NO_STYLE)
    assert "Facts (" not in alone and alone.startswith("You are Sam")
