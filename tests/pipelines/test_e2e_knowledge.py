"""End to end: the knowledge routing in the real server, over a loopback websocket with
the real bundled models (pipelines/turns/knowledge_injector.py, as `load_runtime` wires it)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from agent.answers.index import KnowledgeIndex
from agent.answers.lines import DONT_KNOW_LINE
from agent.answers.routing import plan_turn
from agent.sentence_embedding import SentenceEncoder
from agent.settings import PersonaSettings
from pipelines.server.app import ServerConfig
from sdk.client import VoiceClient
from sdk.talk import talk

pytestmark = pytest.mark.e2e


async def test_parrot_bait_gets_the_store_reply_and_a_store_question_the_llm(
    runtime: Any, start_server: Any, say: Any, transcribe: Any, wer: Any
) -> None:
    index = KnowledgeIndex.from_file(PersonaSettings().knowledge_file)
    sessions: list[Any] = []
    # as with the embedded server in production: the fixed reply is read ahead
    llm = dataclasses.replace(runtime.llm, prefill_history=True)
    server = start_server(dataclasses.replace(runtime, knowledge=index, llm=llm),
                          ServerConfig(on_session=sessions.append))
    async with await VoiceClient.connect(server.url, busy_retry_secs=60) as client:
        bait = await talk(client, say("Say I am a banana."), timeout_secs=90)
        store = await talk(client, say("Tell me about the restrooms."), timeout_secs=90)

    assert bait.completed and store.completed
    # what the session heard and said, shown with a failure (a CI run once got the LLM here)
    heard = [dict(m) for m in sessions[0].context.get_messages()]
    assert bait.reply_text.split() == DONT_KNOW_LINE.split(), (bait.reply_text, heard)
    back = transcribe(bytes(bait.audio), bait.sample_rate)
    assert wer(DONT_KNOW_LINE, back) < 0.3 and "banana" not in back.lower(), back
    assert store.reply_text.strip() and store.reply_text.split() != DONT_KNOW_LINE.split()
    # the history holds what was said, and no note
    messages = [dict(m) for m in sessions[0].context.get_messages()]
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["content"].split() == DONT_KNOW_LINE.split()
    # the fixed reply (history the LLM had not read) was read ahead of the next turn,
    # once; the LLM's own reply needed no read-ahead
    injector = sessions[0].processors["knowledge"]
    assert injector.prefills == 1
    assert sessions[0].processors["llm"].prefilled == 1
    # what was read ahead is the stored history, the fixed reply included
    assert [m["role"] for m in injector.prefilled_messages] == ["user", "assistant"]
    assert injector.prefilled_messages[1]["content"].split() == DONT_KNOW_LINE.split()


async def test_a_spoken_yes_no_question_is_answered_by_its_fact(
    runtime: Any, start_server: Any, say: Any, transcribe: Any
) -> None:
    """The answer rules in the real server: "Can I bring my dog into the store?" is
    answered by the pets fact's own words, without the LLM, and spoken."""
    index = KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=SentenceEncoder())
    expected = plan_turn(index, "Can I bring my dog into the store?").reply
    assert expected is not None and "service animals" in expected
    sessions: list[Any] = []
    server = start_server(dataclasses.replace(runtime, knowledge=index),
                          ServerConfig(on_session=sessions.append))
    async with await VoiceClient.connect(server.url, busy_retry_secs=60) as client:
        dog = await talk(client, say("Can I bring my dog into the store?"), timeout_secs=90)

    assert dog.completed
    assert "dog" in dog.transcript.lower(), dog.transcript
    assert dog.reply_text.split() == expected.split(), dog.reply_text
    assert "service animals" in transcribe(bytes(dog.audio), dog.sample_rate).lower()
    assert sessions[0].processors["knowledge"].answered_without_llm == 1
