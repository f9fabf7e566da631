"""Fit our media-clock tracks only where a SmallWebRTC output is really there.

pipecat's SmallWebRTC module raises on import without aiortc (the `webrtc` extra),
which an app on Daily, LiveKit or a websocket transport does not install. An app
that has a SmallWebRTC output has imported that module already, so the module's
presence in `sys.modules` tells, without importing anything, whether to look
downstream for one; only then is our WebRTC code (and aiortc) imported.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from pipecat.processors.frame_processor import FrameProcessor

if TYPE_CHECKING:
    from pipelines.wire.webrtc.output import MediaClockOutput

#: the pipecat module that defines SmallWebRTCOutputTransport
SMALL_WEBRTC_MODULE = "pipecat.transports.smallwebrtc.transport"


def fit_media_clock(processor: FrameProcessor) -> MediaClockOutput | None:
    """Our media-clock tracks in the SmallWebRTC output downstream of `processor`,
    or None (no such output, or SmallWebRTC never imported by this app)."""
    if SMALL_WEBRTC_MODULE not in sys.modules:
        return None
    from pipelines.wire.webrtc.output import MediaClockOutput, find_small_webrtc_output

    output = find_small_webrtc_output(processor)
    return None if output is None else MediaClockOutput.install(output)


__all__ = ["SMALL_WEBRTC_MODULE", "fit_media_clock"]
