"""The LLM's end-of-turn reading (agent/turn_end_text.py) on real transcripts.

Against the real embedded server on the bundled Qwen2.5-0.5B (the model that
answers the visitor) with the kiosk persona in front, as the pipeline reads them.
The fragments whisper closed with a period are its real output at a turn cut in
two (bench/results/turn_splits_real_large.json, `split_after`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agent.bundled_models import qwen_gguf
from agent.llm_server import EmbeddedLLMServer
from agent.persona import build_system_prompt
from agent.settings import PersonaSettings
from agent.turn_end_text import (
    TurnEndReader,
    TurnEndReading,
    chatml_prompt,
    split_final_mark,
    verdict,
)

#: finished kiosk questions, as whisper writes them
FINISHED = [
    "Where are the toilets?",
    "What time do you open on Sunday?",
    "Do you sell umbrellas?",
    "Can I return a lamp without a receipt?",
    "Could you tell me where the shoe department is?",
    "I'd like a coffee and a croissant, please.",
]
#: dangling fragments: the words cannot end a sentence
DANGLING = ["and the", "I want to", "so, um", "I'd like to ask about the, um",
            "I'd like a coffee and", "My order number is", "I need apples,"]
#: the same, closed by whisper with a period, and whisper's real transcripts of the
#: first halves of real paused utterances (the speaker went on after each)
CLOSED_FRAGMENTS = ["And the.", "I want to.", "So, um.", "I'd like to ask about the, um.",
                    "five years.", "I just go around and everyone says what they've.",
                    "So we had a long problem.", "Well, good luck with that.", "We think out."]


@pytest.fixture(scope="module")
def qwen_server() -> Iterator[EmbeddedLLMServer]:
    """The embedded server on the bundled Qwen2.5-0.5B, one thread, as the kiosk runs it."""
    with EmbeddedLLMServer(model_path=qwen_gguf(), model_alias="qwen", n_threads=1) as server:
        yield server


@pytest.fixture(scope="module")
def system() -> list[dict[str, Any]]:
    """The kiosk persona, as the reply's first message."""
    from pipelines.voice_pipeline import spoken_system_prompt

    return [{"role": "system",
             "content": spoken_system_prompt(build_system_prompt(PersonaSettings()))}]


def read_all(server: EmbeddedLLMServer, messages: list[dict[str, Any]],
             texts: list[str]) -> list[TurnEndReading]:
    """Read each text in turn with one reader (the first reads the persona: minutes
    on a loaded machine, hence the long timeout)."""
    async def run() -> list[TurnEndReading]:
        reader = TurnEndReader(base_url=server.base_url, timeout_s=600.0)
        try:
            return [await reader.read(text, messages) for text in texts]
        finally:
            await reader.aclose()
            await reader.aclose()  # safe twice

    return asyncio.run(run())


def test_finished_questions_read_done(qwen_server: EmbeddedLLMServer,
                                      system: list[dict[str, Any]]) -> None:
    readings = read_all(qwen_server, system, FINISHED)
    assert [r.state for r in readings] == ["done"] * len(FINISHED), [
        (r.text, r.p_end, r.p_close) for r in readings]


def test_dangling_fragments_read_unfinished(qwen_server: EmbeddedLLMServer,
                                            system: list[dict[str, Any]]) -> None:
    readings = read_all(qwen_server, system, DANGLING)
    assert [r.state for r in readings] == ["unfinished"] * len(DANGLING), [
        (r.text, r.p_end, r.p_close) for r in readings]


def test_fragments_whisper_closed_are_not_done(qwen_server: EmbeddedLLMServer,
                                               system: list[dict[str, Any]]) -> None:
    readings = read_all(qwen_server, system, CLOSED_FRAGMENTS)
    assert all(r.state != "done" for r in readings), [
        (r.text, r.state, r.p_end, r.p_close) for r in readings]
    # whisper's period does not fool the reading of the open sentence
    by_text = {r.text: r for r in readings}
    assert by_text["And the."].state == by_text["I want to."].state == "unfinished"


def test_a_reading_reuses_the_cached_prefix(qwen_server: EmbeddedLLMServer,
                                            system: list[dict[str, Any]]) -> None:
    """The persona is read once; a growing transcript costs only its new tokens."""
    _, longer = read_all(qwen_server, system, ["Where are the", "Where are the toilets?"])
    assert longer.new_tokens <= 4  # " toilets", then "?"; never the persona again
    assert longer.state == "done"


def test_history_comes_before_the_open_message() -> None:
    prompt = chatml_prompt([{"role": "system", "content": "S"},
                            {"role": "user", "content": "Hi."},
                            {"role": "assistant", "content": "Hello!"},
                            {"role": "tool", "content": None}], "Where are")
    assert prompt == ("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi.<|im_end|>\n"
                      "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nWhere are")


def test_final_marks_and_verdicts() -> None:
    assert split_final_mark("Is it  free?") == ("Is it free", "?")
    assert split_final_mark('He said "go."') == ('He said "go', '."')
    assert split_final_mark("and the") == ("and the", "")
    assert verdict(0.9, 0.5) == "done"
    assert verdict(0.3, 0.5) == "unsure"
    assert verdict(0.9, 0.001) == "unfinished"  # "five years." reads as a full message
    assert verdict(0.9, 0.001, question=True) == "done"


def test_the_route_refuses_a_token_that_is_not_one(qwen_server: EmbeddedLLMServer) -> None:
    root = qwen_server.base_url.removesuffix("/v1")
    response = httpx.post(f"{root}/extras/next-token", timeout=600.0,
                          json={"prompts": ["Hi"], "tokens": ["two words"]})
    assert response.status_code == 400
