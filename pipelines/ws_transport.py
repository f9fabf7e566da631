"""The websocket transport of a protocol session: pipecat's, with 40 ms audio messages.

pipecat's output transport cuts audio into multiples of 10 ms of
`int(rate / 100)` samples. At the voice's 22,050 Hz that is 220 samples, so
its 40 ms message held 880 samples (39.909 ms), while the avatar makes one
video frame per 882 samples (`output_rate // 25`). The two clocks then slid
past each other: a video frame was written before the audio chunk that
happened to be current, up to 878 samples away from its own, and the wire
did not carry the 882-sample, 40 ms messages docs/PROTOCOL.md describes
(issue 27). Cutting the audio at exactly `rate // 25` samples makes every
audio message one video frame long, so each video message carries the exact
start pts of its frame's audio.
"""

from __future__ import annotations

from typing import Any

from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.transports.websocket.fastapi import (
    FastAPIWebsocketOutputTransport,
    FastAPIWebsocketTransport,
)

#: Audio messages a second on the wire: one per avatar video frame (25 fps).
AUDIO_MESSAGES_PER_SEC = 25


def frame_samples(sample_rate: int) -> int | None:
    """Samples in one 40 ms audio message at `sample_rate`, None if 40 ms is not whole samples."""
    if sample_rate <= 0 or sample_rate % AUDIO_MESSAGES_PER_SEC:
        return None
    return sample_rate // AUDIO_MESSAGES_PER_SEC


class FrameAlignedOutputTransport(FastAPIWebsocketOutputTransport):
    """pipecat's websocket output, sending audio in messages of exactly 40 ms."""

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]
        """Set the chunk to `rate // 25` samples once the rate is known (pipecat's own
        setup picks 4 x int(rate / 100)), and the playback-pacing interval with it."""
        await super().setup(setup)
        samples = frame_samples(self.sample_rate)
        if samples is not None:
            self._audio_chunk_size = samples * self._params.audio_out_channels * 2
            # pipecat paces its writes at one chunk's duration (bytes / rate / 2 for
            # mono s16, its own formula): recompute it for the new chunk
            self._send_interval = (self.audio_chunk_size / self.sample_rate) / 2  # type: ignore[assignment]


class ProtocolWebsocketTransport(FastAPIWebsocketTransport):
    """`FastAPIWebsocketTransport` whose output sends 40 ms audio messages."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Same arguments as pipecat's transport; only the output processor differs."""
        super().__init__(*args, **kwargs)
        self._output = FrameAlignedOutputTransport(
            self, self._client, self._params, name=self._output_name
        )
