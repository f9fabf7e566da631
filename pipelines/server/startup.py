"""A server's start: its parts loaded side by side, begun before the server's own
imports, and the LLM's prompt cache warmed after the server already answers.

A kiosk's server is restarted by its service manager after a crash, and the page
and a visitor wait for it. The parts are independent: the embedded LLM loads in
a process of its own, the speech models, the avatar and the sentence encoder
each in a thread (most of their work is in native code that lets the others run).
Loaded one after the other they took the sum of their times; side by side the
longest (docs/KIOSK.md, "Install and boot").

`begin_parts` starts the threads as soon as each part's own modules are imported,
before the rest of the server (pipecat, FastAPI, the sessions) is: those imports
hold the interpreter's lock for seconds, and the parts' native work runs beside
them instead of after them. `avatar-forcing serve` calls it first thing;
`load_parts` waits for what it began (or begins it itself).

The warm-ups are the steps a visitor can do without: the speech models' first
calls and the LLM's prompt cache save time on the first turn, but the page
reconnects, the face draws and the greeting is said without them. `WarmUp` runs
them once the server answers; `/healthz` says `"warming": true` until they are done.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger

from avatar.memory import limit_malloc_arenas
from avatar.procfs import seconds_since_start
from pipelines.server.errors import ServerError

if TYPE_CHECKING:
    from agent.answers.index import KnowledgeIndex
    from agent.llm_server import LLMEndpoint
    from avatar.live import AvatarAssets, CalibrationEvent
    from pipelines.server.runtime import VoiceRuntime
    from pipelines.settings import Settings
    from pipelines.settings.sections import AvatarSettings
    from pipelines.speech.models import SpeechModels


#: the cyclic collector's thresholds while a server starts: its imports and parts make
#: about half a million objects that live as long as it does, and at the defaults
#: (700, 10, 10) the collector ran about 850 times over them, 7 of them over all of
#: them; young objects are still collected, so the start's garbage is too
START_GC_THRESHOLD = (20_000, 100, 1_000)


@dataclass
class StartedParts:
    """What a start loaded, and when each part was ready (seconds after the start
    began, the parts side by side)."""

    models: SpeechModels
    endpoint: LLMEndpoint
    avatar: AvatarAssets | None
    knowledge: KnowledgeIndex | None
    secs: dict[str, float] = field(default_factory=dict)


@dataclass
class BegunParts:
    """The parts `begin_parts` started, each loading in its own thread."""

    futures: dict[str, Future[Any]]
    #: seconds from `begin_parts` being called to each part being ready
    secs: dict[str, float] = field(default_factory=dict)
    #: when `begin_parts` was called (time.perf_counter)
    began: float = 0.0
    #: the collector's thresholds before the start (`load_parts` puts them back)
    gc_threshold: tuple[int, ...] = (700, 10, 10)


def begin_parts(settings: Settings, *, warm_speech: bool) -> BegunParts:
    """Start loading the speech models, the knowledge index and the avatar, each in a
    thread, as soon as its own modules are imported; `warm_speech` runs each speech
    model once too (its first call's costs). Returns at once: `load_parts` waits.

    The embedded LLM is not begun here: its process is tied to the thread that starts
    it, the event loop's (`load_parts` starts it).
    """
    # before the threads allocate (avatar/memory.py; a no-op off glibc)
    limit_malloc_arenas()
    begun = BegunParts(futures={}, began=time.perf_counter(), gc_threshold=gc.get_threshold())
    gc.set_threshold(*START_GC_THRESHOLD)
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="start")

    def submit(name: str, work: Callable[[], Any]) -> None:
        future = pool.submit(work)
        future.add_done_callback(
            lambda _f: begun.secs.__setitem__(name, time.perf_counter() - begun.began))
        begun.futures[name] = future

    if settings.avatar.video:  # the longest part first
        import avatar.live  # noqa: F401  torch and the renderer

        submit("avatar", lambda: load_avatar_assets(settings.avatar))
    from pipelines.speech.models import ASRParams, SpeechModels

    def speech() -> SpeechModels:
        models = SpeechModels.bundled(asr_model_path=settings.asr.model_path,
                                      tts_voice_path=settings.tts.voice_path,
                                      asr=ASRParams.from_section(settings.asr),
                                      second_opinion=settings.asr.second_opinion)
        if warm_speech:
            models.warm_up()
        return models

    submit("speech", speech)
    from agent.answers.index import KnowledgeIndex

    submit("knowledge", lambda: KnowledgeIndex.from_settings(settings.llm, settings.persona))
    pool.shutdown(wait=False)  # its threads end with their part
    return begun


async def load_parts(settings: Settings, *, warm_speech: bool,
                     begun: BegunParts | None = None) -> StartedParts:
    """Start the LLM and wait for the speech models, the avatar and the knowledge
    index, loading side by side (`begun`: already started by `begin_parts` with these
    settings; None: started here).

    Every part is waited for, even after one failed, so a failed start leaves
    nothing running: the parts that did load are stopped before the error is raised.

    Raises:
        ServerError: a part could not load (a missing model package, an unusable
            portrait, an unreachable LLM endpoint), naming it.
    """
    from agent.errors import AgentError
    from agent.llm_server import aresolve_llm_endpoint

    begun = begun or begin_parts(settings, warm_speech=warm_speech)
    secs: dict[str, float] = {}

    async def timed(name: str, work: Any) -> Any:
        result = await work
        secs[name] = time.perf_counter() - begun.began
        return result

    parts: dict[str, asyncio.Future[Any]] = {
        name: asyncio.wrap_future(future) for name, future in begun.futures.items()}
    parts["llm"] = asyncio.create_task(timed("llm", aresolve_llm_endpoint(
        settings.llm, video=settings.avatar.video)))
    try:
        await asyncio.wait(parts.values())
    finally:
        gc.set_threshold(*begun.gc_threshold)
    failures = [error for task in parts.values() if (error := task.exception()) is not None]
    if failures:
        _stop_loaded(parts)
        error = failures[0]
        if isinstance(error, AgentError):
            raise ServerError(str(error)) from error
        raise error
    secs.update(begun.secs)
    avatar = parts["avatar"].result() if "avatar" in parts else None
    return StartedParts(models=parts["speech"].result(), endpoint=parts["llm"].result(),
                        avatar=avatar, knowledge=parts["knowledge"].result(), secs=secs)


def _stop_loaded(parts: dict[str, asyncio.Future[Any]]) -> None:
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
    """Portraits, generator and this machine's measured costs, once per server; the
    portraits' background plates are kept on disk for the next start.

    Raises:
        ServerError: the portrait folder or the default portrait is unusable.
    """
    from avatar.cache_paths import avatar_cache_root
    from avatar.errors import AvatarError
    from avatar.live import AvatarAssets
    from avatar.render.layers import PLATES

    # a restart takes its portraits' background plates from the last start's files
    # (seconds of a core each, on the way to answering)
    PLATES.keep_in(avatar_cache_root() / "plates")
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


def process_age_secs() -> float | None:
    """Seconds since this process started, from the kernel's start time (so a
    re-executed process, avatar/memory.py, counts from its first start); None where
    there is no /proc."""
    return seconds_since_start()


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


class WarmUp:
    """The warm-up a visitor can do without, run in the background of a server that
    answers: each speech model's first call (whisper's buffers, piper's espeak data),
    then the LLM's prompt cache.

    A turn that comes first is served as it would be without a warm-up (its first
    calls cost a little more, its prompt is read cold, seconds slower); a warm-up
    that fails is logged, never fatal: the models' and the LLM's own errors reach the
    visitor's turn as they always do.
    """

    def __init__(self, runtime: VoiceRuntime) -> None:
        self._task = asyncio.create_task(self._run(runtime), name="warm-up")

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
            secs = await asyncio.to_thread(runtime.models.warm_up)
        except Exception as error:
            logger.warning(f"speech models' warm-up failed, the first turn pays their "
                           f"first calls: {error}")
        else:
            logger.info(f"warm-up: speech models {secs:.2f} s (in the background)")
        try:
            secs = await runtime.warm_up_llm()
        except Exception as error:
            logger.warning(f"LLM prompt-cache warm-up failed, first turns read it cold: {error}")
            return
        logger.info(f"warm-up: LLM prompt cache {secs:.2f} s (in the background)")


__all__ = ["BegunParts", "WarmUp", "StartedParts", "begin_parts", "load_avatar_assets", "load_parts",
           "log_calibration", "process_age_secs"]
