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
from sdk.items import BotAudio, BotVideo

ROOT = Path(__file__).resolve().parents[2]
RATE = 16000


def _voiced(pcm: bytes) -> bool:
    """Louder than the silence a video session streams while the avatar listens."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    return bool(samples.size) and float(np.sqrt(np.mean(samples**2))) > 200.0


@pytest.fixture(scope="module")
def paused_clip() -> tuple[bytes, float]:
    """`ami_trn06[0:3.528]` (bench/voice/paused_utterances.py) after 0.3 s of silence, and
    where its speech ends (s): the rule's silero end, as the bench counts it."""
    from benchkit.voice.paused_utterances import paused_utterances

    clip = next(u for u in paused_utterances() if u.name.startswith("ami_trn06[0:"))
    lead = np.zeros(int(0.3 * RATE), np.int16)
    return np.concatenate([lead, clip.audio()]).tobytes(), 0.3 + clip.speech_end


@pytest.fixture(scope="module")
def qwen_runtime(video_runtime: Any) -> Iterator[Any]:
    """`video_runtime` with the kiosk's own LLM: the reading needs the model that answers."""
    from agent.bundled_models import qwen_gguf
    from agent.llm_server import EmbeddedLLMServer

    with EmbeddedLLMServer(model_path=qwen_gguf(), model_alias="qwen", n_threads=1) as server:
        llm = dataclasses.replace(video_runtime.llm, base_url=server.base_url, model="qwen",
                                  timeout_s=120.0)
        qwen = dataclasses.replace(video_runtime, llm=llm)
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
    voiced: list[float] = []  # arrival of each reply audio chunk louder than silence
    frames: list[tuple[float, bytes]] = []
    async with await VoiceClient.connect(server.url, busy_retry_secs=60,
                                         video_out={"size": 256}) as client:
        async def listen() -> None:
            async for item in client.receive():
                kind = getattr(item, "type", "")
                if kind == "user-stopped-speaking":
                    stops.append(time.monotonic())
                elif kind == "bot-started-speaking":
                    replies.append(time.monotonic())
                elif isinstance(item, BotAudio) and _voiced(item.pcm):
                    voiced.append(item.received_at)
                elif isinstance(item, BotVideo):
                    frames.append((item.received_at, item.jpeg))

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
    # while the decision was pending (the pause and after) the face listened: no reply
    # audio before the speech was over, and the images kept changing
    speech_over = started + speech_end_s
    assert not [t for t in voiced if t < speech_over], "reply audio during the utterance"
    assert replies[0] > speech_over
    during = [jpeg for t, jpeg in frames if started + 1.0 <= t <= speech_over]
    assert len(during) >= 10 and len(set(during)) > 1, "the face froze while it listened"
    # both halves in the one transcript: "five years." and what came after the pause
    assert len(users) == 1, users
    words = users[0].lower()
    assert "five years" in words and len(words.split("five years", 1)[1].split()) >= 2, users
