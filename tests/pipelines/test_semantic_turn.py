"""The end of a turn read in the words (pipelines/turns/semantic_turn.py), end to end.

A real server on the real models with the kiosk's LLM (Qwen2.5-0.5B on the
embedded llama.cpp server, which reads the turn end too), and a real paused
utterance: an AMI meeting speaker says "five years." and, after a 0.42 s pause,
goes on ("just because ..."). Smart-turn and whisper's period called that pause
the end of the turn with the word tiers alone (bench/results/turn_splits_real_large.json);
the LLM reads "five years" as an open sentence.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pipelines.voice_pipeline import TurnParams
from sdk.client import VoiceClient

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000


@pytest.fixture(scope="module")
def paused_clip() -> tuple[bytes, float]:
    """`ami_trn06[0:3.528]` (bench/paused_utterances.py) after 0.3 s of silence, and
    where its speech ends (s): the rule's silero end, as the bench counts it."""
    from benchkit.paused_utterances import paused_utterances

    clip = next(u for u in paused_utterances() if u.name.startswith("ami_trn06[0:"))
    lead = np.zeros(int(0.3 * RATE), np.int16)
    return np.concatenate([lead, clip.audio()]).tobytes(), 0.3 + clip.speech_end


@pytest.fixture(scope="module")
def qwen_runtime(runtime: Any) -> Iterator[Any]:
    """`runtime` with the kiosk's own LLM: the reading needs the model that answers."""
    from agent.bundled_models import qwen_gguf
    from agent.llm_server import EmbeddedLLMServer

    with EmbeddedLLMServer(model_path=qwen_gguf(), model_alias="qwen", n_threads=1) as server:
        llm = dataclasses.replace(runtime.llm, base_url=server.base_url, model="qwen",
                                  timeout_s=120.0)
        qwen = dataclasses.replace(runtime, llm=llm)
        asyncio.run(qwen.warm_up_llm())
        yield qwen


@pytest.mark.e2e
async def test_a_real_paused_utterance_is_answered_once_after_its_end(
        qwen_runtime: Any, start_server: Any, paused_clip: tuple[bytes, float]) -> None:
    from pipelines.server.app import ServerConfig

    sessions: list[Any] = []
    server = start_server(qwen_runtime, ServerConfig(turn=TurnParams(semantic_turn=True),
                                                     on_session=sessions.append))
    pcm, speech_end_s = paused_clip
    stops: list[float] = []
    replies: list[float] = []
    async with await VoiceClient.connect(server.url, busy_retry_secs=60) as client:
        async def listen() -> None:
            async for item in client.receive():
                kind = getattr(item, "type", "")
                if kind == "user-stopped-speaking":
                    stops.append(time.monotonic())
                elif kind == "bot-started-speaking":
                    replies.append(time.monotonic())

        listener = asyncio.create_task(listen())
        started = time.monotonic()
        await client.stream_pcm(pcm)
        await client.stream_pcm(bytes(int(6.0 * RATE) * 2))
        listener.cancel()
    session = sessions[-1]
    users = [str(dict(m)["content"]) for m in session.context.get_messages()
             if dict(m)["role"] == "user"]
    readings = session.turn_stop.readings
    print(f"\nturn ends {[round(t - started - speech_end_s, 2) for t in stops]} s after the "
          f"speech; replies {len(replies)}; user messages {users}; readings "
          f"{readings.verdicts}, counts {readings.counts}, costs {readings.costs}")
    assert readings.counts["ready"] >= 1, "the LLM never read the turn"
    # one turn, ended after the speech, answered once
    assert len(stops) == 1 and stops[0] > started + speech_end_s, "the turn ended mid-utterance"
    assert len(replies) == 1
    # both halves in the one transcript: "five years." and what came after the pause
    assert len(users) == 1, users
    words = users[0].lower()
    assert "five years" in words and len(words.split("five years", 1)[1].split()) >= 2, users
