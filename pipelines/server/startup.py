"""A server's start: its parts loaded side by side, and the LLM's prompt cache warmed
after the server already answers.

A kiosk's server is restarted by its service manager after a crash, and the page
and a visitor wait for it. The parts are independent: the embedded LLM loads in
a process of its own, the speech models, the avatar and the sentence encoder
each in a thread (most of their work is in native code that lets the others run).
Loaded one after the other they took the sum of their times; side by side the
longest (docs/KIOSK.md, "Install and boot").

The LLM's prompt-cache warm-up is the one step a visitor can do without: it saves
seconds on the first turn, but the page reconnects, the face draws and the
greeting is said without it. `LLMWarmUp` runs it once the server answers;
`/healthz` says `"warming": true` until it is done.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.errors import AgentError
from agent.knowledge_retrieval import KnowledgeIndex
from agent.llm_server import LLMEndpoint, aresolve_llm_endpoint
from avatar.errors import AvatarError
from avatar.live import AvatarAssets, CalibrationEvent
from pipelines.server.errors import ServerError
from pipelines.speech.models import ASRParams, SpeechModels

if TYPE_CHECKING:
    from pipelines.server.runtime import VoiceRuntime
    from pipelines.settings import Settings
    from pipelines.settings.sections import AvatarSettings


@dataclass
class StartedParts:
    """What a start loaded, and how long each part took (seconds, side by side)."""

    models: SpeechModels
    endpoint: LLMEndpoint
    avatar: AvatarAssets | None
    knowledge: KnowledgeIndex | None
    secs: dict[str, float] = field(default_factory=dict)


async def load_parts(settings: Settings, *, warm_speech: bool) -> StartedParts:
    """Start the LLM and load the speech models, the avatar and the knowledge index
    side by side; `warm_speech` runs each speech model once too (its first call's costs).

    Every part is waited for, even after one failed, so a failed start leaves
    nothing running: the parts that did load are stopped before the error is raised.

    Raises:
        ServerError: a part could not load (a missing model package, an unusable
            portrait, an unreachable LLM endpoint), naming it.
    """
    secs: dict[str, float] = {}

    async def timed(name: str, work: Any) -> Any:
        started = time.perf_counter()
        result = await work
        secs[name] = time.perf_counter() - started
        return result

    def speech() -> SpeechModels:
        models = SpeechModels.bundled(asr_model_path=settings.asr.model_path,
                                      tts_voice_path=settings.tts.voice_path,
                                      asr=ASRParams.from_section(settings.asr))
        if warm_speech:
            models.warm_up()
        return models

    parts: dict[str, asyncio.Task[Any]] = {
        "llm": asyncio.create_task(timed("llm", aresolve_llm_endpoint(
            settings.llm, video=settings.avatar.video))),
        "speech": asyncio.create_task(timed("speech", asyncio.to_thread(speech))),
        "knowledge": asyncio.create_task(timed("knowledge", asyncio.to_thread(
            KnowledgeIndex.from_settings, settings.llm, settings.persona))),
    }
    if settings.avatar.video:
        parts["avatar"] = asyncio.create_task(timed("avatar", asyncio.to_thread(
            load_avatar_assets, settings.avatar)))
    await asyncio.wait(parts.values())
    failures = [error for task in parts.values() if (error := task.exception()) is not None]
    if failures:
        _stop_loaded(parts)
        error = failures[0]
        if isinstance(error, AgentError):
            raise ServerError(str(error)) from error
        raise error
    avatar = parts["avatar"].result() if "avatar" in parts else None
    return StartedParts(models=parts["speech"].result(), endpoint=parts["llm"].result(),
                        avatar=avatar, knowledge=parts["knowledge"].result(), secs=secs)


def _stop_loaded(parts: dict[str, asyncio.Task[Any]]) -> None:
    """Stop what a failed start did load: the embedded LLM's process, the avatar's
    face workers and background fit."""
    for name, task in parts.items():
        if task.exception() is not None:
            continue
        if name == "llm" and task.result().server is not None:
            task.result().server.stop()
        elif name == "avatar" and task.result() is not None:
            task.result().close()


def load_avatar_assets(avatar: AvatarSettings) -> AvatarAssets:
    """Portraits, generator and this machine's measured costs, once per server.

    Raises:
        ServerError: the portrait folder or the default portrait is unusable.
    """
    try:
        assets = AvatarAssets.load(portrait_dir=avatar.portrait_dir,
                                   default_portrait=avatar.default_portrait,
                                   budget_ms=avatar.video_budget_ms,
                                   calibrate=avatar.calibrate_portraits,
                                   on_calibration=log_calibration,
                                   face_workers=(avatar.warm_face_workers
                                                 if avatar.face_process else None),
                                   face_worker_sessions=avatar.face_worker_sessions,
                                   faces_per_worker=avatar.faces_per_worker,
                                   batch_steps=avatar.batch_steps,
                                   face_threads=avatar.threads)
    except (AvatarError, FileNotFoundError) as error:
        raise ServerError(f"cannot prepare the avatar: {error}") from error
    costs = assets.costs
    logger.info(f"avatar ready: portraits {assets.portraits.names()}, render "
                f"{costs.render_ms[512]:.1f} ms at 512, block {costs.block_ms:.1f} ms, "
                f"camera analysis {costs.analysis_ms:.1f} ms")
    return assets


def log_calibration(event: CalibrationEvent) -> None:
    """A background portrait fit's progress in the server log (a failure is a
    warning: the portrait keeps the shipped table, nothing else changes)."""
    name = f"portrait {event.name!r} ({event.key})"
    if event.status == "failed":
        logger.warning(f"{name}: calibration failed after {event.secs:.0f} s, keeping the "
                       f"shipped table: {event.detail}")
    elif event.status == "ready":
        logger.info(f"{name}: own calibration ready in {event.secs:.0f} s ({event.detail})")
    elif event.status == "fitting":
        logger.info(f"{name}: fitting its own calibration in the background (nice 19)")


class LLMWarmUp:
    """The LLM's prompt-cache warm-up, run in the background of a server that answers.

    A turn that comes first is served as it would be without a warm-up (its prompt
    is read cold, seconds slower); a warm-up that fails is logged, never fatal:
    the LLM's own errors reach the visitor's turn as they always do.
    """

    def __init__(self, runtime: VoiceRuntime) -> None:
        self._task = asyncio.create_task(self._run(runtime), name="llm-warm-up")

    @property
    def warming(self) -> bool:
        """Whether the warm-up is still running."""
        return not self._task.done()

    def cancel(self) -> None:
        """Stop a warm-up still running (the server is stopping, its LLM with it)."""
        self._task.cancel()

    async def wait(self) -> None:
        """Until the warm-up has ended (done or failed)."""
        await asyncio.shield(self._task)

    @staticmethod
    async def _run(runtime: VoiceRuntime) -> None:
        try:
            secs = await runtime.warm_up_llm()
        except Exception as error:
            logger.warning(f"LLM prompt-cache warm-up failed, first turns read it cold: {error}")
            return
        logger.info(f"warm-up: LLM prompt cache {secs:.2f} s (in the background)")


__all__ = ["LLMWarmUp", "StartedParts", "load_avatar_assets", "load_parts", "log_calibration"]
