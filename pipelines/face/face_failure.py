"""When the face cannot go on, the voice does: the face service's failure path.

The reply audio the face had taken goes out as it was, then the frames held behind
it; our clients get an `error` event, and one permanent `ErrorFrame` lets the app's
`processor_unusable_policy` decide whether the call goes on (CONTINUE) or ends (END).
"""

from __future__ import annotations

from loguru import logger
from pipecat.frames.frames import TTSAudioRawFrame

from avatar.errors import AvatarError
from pipelines.face.face_host import FaceHost
from sdk.protocol import ErrorCode

#: errors whose message says it all (bad input, a missing file): logged without a traceback
EXPLAINED = (AvatarError, OSError, ValueError, KeyError, ImportError)


async def face_failed(service: FaceHost, what: str, error: Exception) -> None:
    """Mark the face failed and hand the voice everything it was owed."""
    failure = f"{what}: {error}"
    service._life.fail(failure)
    service._held.audio_out.set()
    if isinstance(error, EXPLAINED):
        logger.error(failure)
    else:  # a defect: keep the traceback
        logger.opt(exception=error).error(failure)
    service._server.unregister()
    session, clock = service._session, service._clock
    if session is not None:
        owed = (clock.unplayed_audio() if clock is not None else b"") + session.take_reply_audio()
        if owed:
            await service.push_frame(TTSAudioRawFrame(audio=owed, sample_rate=session.output_rate,
                                                      num_channels=1))
        service._held.reply.emitted_position = session.queued_total
        await service._held.release()
    await service.events.error(ErrorCode.INTERNAL, f"{failure}; the voice goes on")
    await service.push_error(f"{failure}; the voice goes on without the face",
                             exception=error, force_treat_as_permanent=True)
