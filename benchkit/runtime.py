"""The runtime a bench serves: the product's composition root, with a bench's patience.

Why: the benches that run the server in this process (bench/voice/voice_latency.py,
barge_in.py, turn_splits.py, and bench/live/live.py's server process) used to build
`VoiceRuntime(` by hand, each a little differently from the server. They now call
`pipelines.server.app.load_runtime`, the one root `avatar-forcing serve` uses, so a
bench measures what ships. Two things it cannot express are kept here, and only
these:

- the LLM request timeout is 120 s, not the product's 30 s: a bench saturates the
  shared 2-core CPU itself, and a turn that times out measures nothing;
- `voice_only`: the voice benches run without the avatar. `load_runtime` loads it
  when `settings.avatar.video`, and video off would also give the embedded LLM 2 threads
  on 2 cores (`LLMSettings.thread_count`), so the thread counts the settings
  resolved to with the face on are kept: the figures on record were measured so.
  The barge-in and turn-split benches also leave the knowledge routing out, as
  they always have (their replies are long free answers, not store facts).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipelines.server.runtime import VoiceRuntime
    from pipelines.settings import Settings

#: The benches' LLM request timeout (the product's is `llm.request_timeout_s`, 30 s).
BENCH_LLM_TIMEOUT_S = 120.0


def voice_only(settings: Settings, *, knowledge: bool = True) -> Settings:
    """`settings` without the avatar, on the LLM threads `settings` resolved to;
    `knowledge=False` also turns the knowledge routing off (no `KnowledgeIndex`)."""
    video = settings.avatar.video
    llm: dict[str, Any] = {"threads": settings.llm.thread_count(video=video),
                           "batch_threads": settings.llm.batch_thread_count(video=video)}
    if not knowledge:
        llm["retrieval"] = False
    return settings.model_copy(update={
        "avatar": settings.avatar.model_copy(update={"video": False}),
        "llm": settings.llm.model_copy(update=llm)})


async def bench_runtime(settings: Settings, *, warm_up: bool = True
                        ) -> tuple[VoiceRuntime, Any]:
    """(runtime, llm_server) as `load_runtime` makes them, with the bench's LLM timeout
    (whisper's decoding options come from `settings.asr`). The caller stops
    `llm_server` (None for an external endpoint)."""
    from pipelines.server.app import load_runtime

    runtime, llm_server = await load_runtime(settings=settings, warm_up=warm_up)
    llm = replace(runtime.llm, timeout_s=BENCH_LLM_TIMEOUT_S)
    return replace(runtime, llm=llm), llm_server
