"""`FaceHost`: what the face service's helpers (face_start.py, server_seam.py, the
kiosk's presence) use of the service, so they need not import it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from pipecat.frames.frames import Frame
from pipecat.processors.frame_processor import FrameDirection
from pipecat.utils.errors import ErrorCategory

from avatar.live import AvatarSession
from avatar.live.quality import QualityGovernor
from pipelines.face.camera_input import CameraInput
from pipelines.face.face_clock import FaceClock
from pipelines.face.face_params import FacePacing
from pipelines.face.face_state import Lifecycle
from pipelines.face.face_stats import FaceCounters
from pipelines.face.face_threads import FaceThreads
from pipelines.face.held_frames import HeldFrames
from pipelines.face.protocol_events import ProtocolEvents
from pipelines.face.server_hooks import ServerHooks
from pipelines.settings import AvatarSettings
from pipelines.wire.frames import PortraitRequestFrame

if TYPE_CHECKING:
    from pipelines.wire.webrtc.output import MediaClockOutput


class FaceHost(Protocol):
    """The face service, as its helpers see it."""

    counters: FaceCounters
    events: ProtocolEvents
    _session: AvatarSession | None
    _clock: FaceClock | None
    _life: Lifecycle
    _server: ServerHooks
    _worker: FaceThreads
    _camera: CameraInput
    _held: HeldFrames

    @property
    def session(self) -> AvatarSession: ...

    @property
    def avatar_settings(self) -> AvatarSettings: ...

    @property
    def governor(self) -> QualityGovernor | None: ...

    @property
    def media_clock(self) -> MediaClockOutput | None: ...

    @property
    def _params(self) -> FacePacing: ...

    @property
    def failed(self) -> str | None: ...

    @property
    def ready(self) -> bool: ...

    @property
    def clock(self) -> FaceClock: ...

    def create_task(self, coroutine: Coroutine[Any, Any, Any],
                    name: str | None = None) -> asyncio.Task[Any]: ...

    async def cancel_task(self, task: asyncio.Task[Any]) -> Any: ...

    async def push_frame(self, frame: Frame,
                         direction: FrameDirection = FrameDirection.DOWNSTREAM) -> Any: ...

    async def push_error(self, error_msg: str, exception: Exception | None = None,
                         fatal: bool = False, category: ErrorCategory | None = None,
                         force_treat_as_permanent: bool = False) -> Any: ...

    async def _call_event_handler(self, event_name: str, *args: Any, **kwargs: Any) -> Any: ...

    def _warn_unhandled_updated_settings(self, unhandled: Any) -> Any: ...

    async def _in_worker(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def _face_ready(self) -> None: ...

    async def answer_portrait_request(self, frame: PortraitRequestFrame) -> None: ...
