"""How the face service's session comes to be and changes: built off the loop at the
pipeline's output rate, started in this process while no worker process is ready,
moved to one once it is, sized by the machine's measured costs; then pipecat's
runtime settings (`ServiceUpdateSettingsFrame`) and our websocket's portrait requests."""

from __future__ import annotations

import asyncio
import time
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, cast

from loguru import logger
from pipecat.processors.frame_processor import FrameProcessor

from avatar.errors import AvatarError
from avatar.live import AvatarAssets, AvatarSession, PortraitLibrary, SessionOptions
from avatar.live.assets import VideoChoice, level_cost_ms
from avatar.live.face import FaceBackend
from avatar.live.face_pool import FaceWorkerPool, WorkerFace, with_worker_face
from avatar.live.quality import QualityGovernor
from avatar.live.session import StartedFace
from avatar.portrait import Portrait
from pipelines.face.face_assets import FirstFace, SharedAssets, resolve_portrait, shared_loading
from pipelines.face.face_failure import face_failed
from pipelines.face.face_host import FaceHost
from pipelines.face.face_state import FaceState
from pipelines.wire.frames import PortraitRequestFrame
from pipelines.wire.webrtc.fitting import fit_media_clock
from sdk.protocol import ErrorCode

if TYPE_CHECKING:
    from pipelines.wire.webrtc.output import MediaClockOutput

#: how long StartFrame waits for the face to be built before it goes on without it
#: (pipecat tears a pipeline down when StartFrame takes 20 s to reach its end; a cold
#: face pool takes 10-15 s on 2 cores, the face started in this process meanwhile
#: about 2 s). Meanwhile the voice passes through unchanged and the face takes over
#: at the next reply
START_WAIT_SECS = 3.0
#: how often a face started in this process looks for a ready worker process
MOVE_POLL_SECS = 0.1
#: the largest size a face started in this process draws at before the machine is
#: measured (None: the size asked for). The asked size is assumed safe until measured:
#: a face that started low and stepped up drew a pipecat app's whole first reply at
#: 256 px when 512 was asked (the worker and the costs come ~8 s after the start)
INTERIM_SIZE_CAP: int | None = None
#: the settings a running session takes from ServiceUpdateSettingsFrame
LIVE_SETTINGS = frozenset({"portrait", "size", "camera_fps", "adapt_video"})


class _Later(Enum):
    """`_adopt_face`'s answer when a reply began since the loop looked: not now."""

    LATER = "later"


_LATER = _Later.LATER


class FaceStart:
    """Builds a face service's session, moves its face where it stays, and applies
    the settings and portraits asked while it runs."""

    def __init__(self, service: FaceHost,
                 portrait: str | Path | Portrait | None, assets: AvatarAssets | None,
                 session: AvatarSession | None, governor: QualityGovernor | None) -> None:
        self._service = service
        #: the session's quality governor (given by our server, or made from the costs)
        self.governor = governor
        #: our tracks in a SmallWebRTC output downstream (None: another transport)
        self.media_clock: MediaClockOutput | None = None
        #: the portrait asked for (a switch before the session exists changes it)
        self.choice = portrait
        self.assets = assets
        #: the pipeline's audio output rate (from `setup`)
        self.out_rate = session.output_rate if session is not None else 24000
        #: the process's shared assets, loading from now on (None: given, or a session)
        self.shared: SharedAssets | None = None
        if session is None and assets is None:
            self.shared = shared_loading(service.avatar_settings, holder=service)
        #: the portrait choice the session was built with
        self._built_choice: str | Path | Portrait | None = None
        self._building: asyncio.Task[None] | None = None
        self._moving: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """StartFrame: build the session, waiting at most START_WAIT_SECS for it."""
        self._building = self._service.create_task(self._build(), name="avatar-build")
        done, _ = await asyncio.wait({self._building}, timeout=START_WAIT_SECS)
        if not done:
            logger.info(f"avatar: the face is still starting after {START_WAIT_SECS:g} s; "
                        "the voice goes on without it until it is ready")

    async def stop(self) -> None:
        """The pipeline ends: building and moving stop; the next call finds a warm face."""
        for task in (self._building, self._moving):
            if task is not None and not task.done():
                await self._service.cancel_task(task)
        if self.shared is not None and self._service._session is not None:
            self.shared.keep_warm()

    async def _build(self) -> None:
        """Build the session; a face that cannot start never stops the voice."""
        service = self._service
        try:
            first = None
            if self.assets is None and self.shared is not None:
                first = await asyncio.wrap_future(self.shared.first)
                if self.shared.assets.done() and not self.shared.failed:
                    self.assets = self.shared.assets.result()
            building = asyncio.ensure_future(
                asyncio.to_thread(self._build_session, self.out_rate, first))
            try:
                service._session = await asyncio.shield(building)
            except asyncio.CancelledError:  # the pipeline ended first: close what is built
                building.add_done_callback(_close_built_session)
                raise
        except Exception as error:
            await face_failed(service, "the avatar could not start", error)
            return
        if service._life.stopping:  # the pipeline ended while the face was starting
            if service._life.state is FaceState.STOPPED:  # its shutdown found no face
                await service._worker.close_when_idle(service.session.close)
            return
        service._face_ready()
        if self._built_choice is not self.choice:  # switched while it was built
            service.create_task(self.switch_portrait(self.choice))
        if not isinstance(service.session.face, WorkerFace) and (
                self.shared is not None or self.pool() is not None):
            self._moving = service.create_task(self._move_to_worker(), name="avatar-move")

    def _build_session(self, output_rate: int, first: FirstFace | None) -> AvatarSession:
        """The portrait, the session and its governor (blocking). Its face goes to a
        ready worker process when the assets keep a pool; else it starts here (the
        first call of a process: `first`, before the machine is measured)."""
        settings, assets = self._service.avatar_settings, self.assets
        self._built_choice = self.choice
        portrait = resolve_portrait(self.choice, self.portraits(first))
        pool = assets.faces if assets is not None else None
        # no worker process ready yet (or the machine not measured yet): the face starts
        # here, at the asked size (assumed safe until measured, never started low and
        # stepped up); it moves to a worker, and takes its measured level, later
        interim = assets is None or (pool is not None and pool.idle == 0)
        size = settings.size if INTERIM_SIZE_CAP is None else min(settings.size,
                                                                   INTERIM_SIZE_CAP)
        reason = "as asked, until the machine is measured"
        if not interim:
            assert assets is not None
            self._take_costs(assets)
            choice = self._choose(assets, settings.size)
            size, reason = choice.size, choice.reason
        options = SessionOptions(size=size, jpeg_quality=self._service._server.jpeg_quality)
        calibrator = assets.calibrator if assets is not None else None
        if assets is not None:
            checkpoint = assets.checkpoint
        else:
            assert first is not None  # loading: its first stage is done
            checkpoint = first.checkpoint
        if not interim:
            where = "in a worker process" if pool is not None else "in this process"
            logger.info(f"avatar: {portrait.name} at {size} px, {output_rate} Hz audio, "
                        f"{where} ({reason})")
            return with_worker_face(pool, lambda face: AvatarSession(
                portrait, checkpoint, output_rate=output_rate, options=options,
                calibrator=calibrator, face=face))
        logger.info(f"avatar: {portrait.name} at {size} px, {output_rate} Hz audio, in this "
                    f"process until a worker process is ready ({reason})")
        session = AvatarSession(portrait, checkpoint, output_rate=output_rate, options=options,
                                calibrator=calibrator)
        # the first drawing pays for lazy set-up (compiled kernels): here, not at frame 0
        session.face.draw(portrait.reference_motion, size, 0)
        return session

    def follow_restarts(self) -> None:
        """Hear when the face's worker process is lost and replaced."""
        face = self._service.session.face
        if isinstance(face, WorkerFace) and face.on_restart is None:
            loop = asyncio.get_running_loop()

            def on_restart(reason: str) -> None:  # called in the worker thread
                loop.call_soon_threadsafe(self._restarted, reason)

            face.on_restart = on_restart

    def _restarted(self, reason: str) -> None:
        """The face's worker was lost and replaced (on the event loop): count it and
        tell the client; the video goes on from the fresh worker."""
        service = self._service
        service.counters.face_restarts += 1
        logger.warning(f"avatar: the face worker was replaced: {reason}")
        if not service._life.stopping:
            service.create_task(service.events.error(
                ErrorCode.AVATAR_RESTARTED,
                "the avatar's face process stopped and was restarted; the video goes on"))

    def portraits(self, first: FirstFace | None = None) -> PortraitLibrary:
        """The portrait library (from the assets, or the first stage of their loading)."""
        if self.assets is not None:
            return self.assets.portraits
        if first is None:
            assert self.shared is not None
            first = self.shared.first.result()
        return first.portraits

    def pool(self) -> FaceWorkerPool | None:
        return self.assets.faces if self.assets is not None else None

    def _choose(self, assets: AvatarAssets, size: int) -> VideoChoice:
        camera = self._service._params.camera_fps > 0
        return assets.choose_video(size, camera=camera, codec=self.codec())

    def _camera_rate(self, camera_fps: float) -> None:
        asked = self._service._params.camera_fps
        if camera_fps > 0 and asked > 0:
            self._service._camera.set_rate(min(asked, camera_fps))

    def _take_costs(self, assets: AvatarAssets) -> None:
        """A session built at its level: the camera rate the machine's costs allow,
        and a governor (when the session adapts and none was given)."""
        settings = self._service.avatar_settings
        choice = self._choose(assets, settings.size)
        if self.governor is None and settings.adapt_video:
            self.governor = self.new_governor(assets, settings.size)
        self._camera_rate(choice.camera_fps)

    async def _move_to_worker(self) -> None:
        """The face started in this process: once a worker process is ready, the face
        moves there between two frames (started there while this one draws on) at the
        first moment it voices no reply (`_voicing`); then, with the machine measured,
        the session takes its quality level."""
        service = self._service
        try:
            if self.assets is None and self.shared is not None:
                self.assets = await asyncio.wrap_future(self.shared.assets)
            pool = self.pool()
            if pool is None:  # faces run in this process
                await self._costs_known()
                return
            # the pool signals through threads' conditions: nothing to await, so look
            # (a pool that keeps none warm starts one for the face when it asks)
            while pool.idle == 0 and pool.warm > 0:  # noqa: ASYNC110
                await asyncio.sleep(MOVE_POLL_SECS)
            face = WorkerFace(pool)
            adopted: bool | None = None
            try:
                while adopted is None:  # None: the portrait changed meanwhile, start again
                    starting = asyncio.ensure_future(
                        asyncio.to_thread(service.session.start_face, face))
                    started = await asyncio.shield(starting)
                    moved: FaceBackend | bool | _Later | None = _LATER
                    while moved is _LATER:  # a reply began since the loop looked: wait again
                        while self._voicing():  # noqa: ASYNC110 (flags set by the clock)
                            await asyncio.sleep(MOVE_POLL_SECS)
                        moved = await service._in_worker(self._adopt_face, started)
                    adopted = None if moved is None else moved is not False
            finally:
                if not adopted:  # failed, stopped or cancelled: the worker goes back
                    starting.add_done_callback(lambda _: face.close())
            if not adopted:
                return
            self.follow_restarts()
            logger.info("avatar: the face moved to a worker process")
            old = cast(FaceBackend, moved)  # adopted: the face that drew until now
            await asyncio.to_thread(old.close)  # the face that drew until now, off the clock
            await self._costs_known()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the face goes on: slower, never silent
            logger.opt(exception=error).warning(f"avatar: the face did not move: {error}")

    def _voicing(self) -> bool:
        """The face voices a reply, holds one queued or paused, or waits for one being
        thought up. A face that moves restarts the generator's memory from the portrait's
        reference: mid-reply, the rest of the reply's jaw opened wider and off its voice
        for seconds, so a face moves between replies. Thread-safe reads (the worker
        thread asks too)."""
        service = self._service
        reply, session = service._held.reply, service.session
        return (reply.in_reply or reply.thinking() or session.reply_playing
                or session.reply_pending_secs > 0)

    def _adopt_face(self, started: StartedFace) -> FaceBackend | bool | _Later | None:
        """In the worker thread, between two frames: the session goes on with the
        worker's face; returns the face that drew until now (to close). False:
        stopped; None: the portrait changed since the worker's face started; _LATER:
        a reply began since the loop looked (`_voicing`)."""
        if self._service._life.stopping:
            return False
        if self._voicing():
            return _LATER
        return self._service.session.move_face(started)

    async def _costs_known(self) -> None:
        """The face started before the machine was measured now runs where it stays:
        the measured costs give its camera rate and its level (the governor's start,
        or the size they allow)."""
        service, assets, settings = self._service, self.assets, self._service.avatar_settings
        assert assets is not None
        if service._life.stopping or service.failed is not None:
            return
        choice = self._choose(assets, settings.size)
        self._camera_rate(choice.camera_fps)
        if self.governor is None and settings.adapt_video:
            await self.resize(settings.size, True)
            return
        size = self.governor.quality.size if self.governor is not None else choice.size
        if size != service.session.options.size:
            await service._in_worker(service.session.set_size, size)

    def new_governor(self, assets: AvatarAssets, size: int) -> QualityGovernor:
        """A governor for `size` px from this machine's measured costs."""
        codec = self.codec()
        choice = self._choose(assets, size)
        return QualityGovernor(list(choice.ladder),
                               lambda level: level_cost_ms(assets.costs, level, codec),
                               start=choice.level, now=time.monotonic())

    def fit_webrtc_output(self, service: FrameProcessor) -> None:
        """Over SmallWebRTC, stamp the video from the audio's clock (wire/webrtc/output.py)."""
        if self.media_clock is None:
            self.media_clock = fit_media_clock(service)

    def codec(self) -> str:
        """How the service's images go out, as the face's cost counts them: the face's
        own VP8 over SmallWebRTC, JPEG on our websocket, raw to any other transport."""
        if self.media_clock is not None:
            return "vp8"
        return "jpeg" if self._service._server.jpeg_quality else "raw"

    # ------------------------------------------------- runtime settings, portraits
    async def apply_settings(self, changed: set[str]) -> None:
        """Act on settings just changed while the pipeline runs (the video goes on):
        the portrait, the size and adapting, the camera rate. Others are pipecat's
        "not supported at runtime" warning."""
        service = self._service
        service._warn_unhandled_updated_settings(changed - LIVE_SETTINGS - {"model"})
        changed &= LIVE_SETTINGS
        if not changed:
            return
        service.counters.settings_updates += 1
        settings = service.avatar_settings
        if service._session is None or service.failed is not None:
            if "portrait" in changed:  # the face starts with it
                self.choice = settings.default_portrait
            return
        if "portrait" in changed:
            await self.switch_portrait(settings.default_portrait)
        if "camera_fps" in changed:
            service._camera.set_rate(float(settings.camera_fps))
        if {"size", "adapt_video"} & changed:
            await self.resize(settings.size, settings.adapt_video)

    async def resize(self, size: int, adapt: bool) -> None:
        """A new asked size (and whether it adapts): a fresh governor for it, or the
        size itself when the session does not adapt (or the machine is not measured
        yet: the governor comes with its costs)."""
        service = self._service
        assets = self.assets
        if assets is None:
            await service._in_worker(service.session.set_size, size)
            return
        service._server.unregister()
        self.governor = self.new_governor(assets, size) if adapt else None
        if service._clock is not None:
            service._clock.quality.use_governor(self.governor)
        start_size = self.governor.quality.size if self.governor is not None else size
        await service._in_worker(service.session.set_size, start_size)
        service._server.register(self.governor)

    async def switch_portrait(self, choice: str | Path | Portrait | None) -> Portrait | None:
        """Load the portrait off the worker (the clock keeps drawing the current one),
        then hand it to the session in one job. A bad choice keeps the current one."""
        service = self._service
        try:
            portrait = await asyncio.to_thread(resolve_portrait, choice, self.portraits())
            await service._in_worker(service.session.set_portrait, portrait)
        except (AvatarError, KeyError, ValueError, OSError) as error:
            logger.info(f"portrait {choice!r} refused: {error}")
            await service.push_error(f"avatar portrait {choice!r} refused: {error}; the current "
                                     "portrait stays")
            return None
        logger.info(f"avatar: now showing {portrait.name}")
        return portrait

    async def answer_portrait_request(self, frame: PortraitRequestFrame) -> None:
        """Our websocket's portrait request (a name or an upload): loaded off the loop
        with the server's loader (none: refused), then shown."""
        service = self._service
        loader = service._server.load_portrait

        async def load(name: str | None, upload: bytes | None) -> Portrait:
            assert loader is not None
            portrait: Portrait = await service._in_worker(loader, name, upload)
            return portrait

        async def show(portrait: Portrait) -> None:
            await service._in_worker(service.session.set_portrait, portrait)

        await service.events.answer_portrait_request(
            frame.portrait_name, frame.upload, load if loader is not None else None, show)


def _close_built_session(building: asyncio.Future[AvatarSession]) -> None:
    """A session finished building after its pipeline ended: give its face back."""
    if not building.cancelled() and building.exception() is None:
        building.result().close()
