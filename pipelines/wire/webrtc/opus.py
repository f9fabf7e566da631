"""The voice's Opus encoders: at the pipeline's own rate, or resampled to one libopus takes.

libopus encodes 8, 12, 16, 24 and 48 kHz. A voice at another rate (the bundled
piper voice speaks at 22,050 Hz) went to aiortc as raw frames, and aiortc then
resampled and encoded each packet in its executor, from the event loop. The audio
pacer (wire/webrtc/audio_pacer.py) sends from its own thread and needs the Opus
there: `ResampledOpus` resamples each 20 ms to RESAMPLED_RATE (libswresample,
about 17 samples of delay, made up once with silence at the start, so every packet
holds exactly 20 ms and the media clock is untouched) and encodes it.
"""

from __future__ import annotations

import fractions

import av
import numpy as np
from av import AudioFrame

#: the input rates libopus encodes directly
OPUS_INPUT_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
#: the voice's Opus bitrate (mono speech; aiortc's own path sends 96 kbit/s stereo)
OPUS_BITRATE = 48_000
#: what a voice at another rate is resampled to (22.05 kHz speech keeps its whole band)
RESAMPLED_RATE = 24_000


def opus_encoder(sample_rate: int, packet_secs: float) -> av.AudioCodecContext:
    """libopus for one mono voice at `sample_rate`, one packet of `packet_secs`."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = sample_rate
    codec.format = "s16"
    codec.layout = "mono"
    codec.bit_rate = OPUS_BITRATE
    codec.time_base = fractions.Fraction(1, sample_rate)
    codec.options = {"application": "voip", "frame_duration": str(round(packet_secs * 1000))}
    return codec


class ResampledOpus:
    """Opus packets of `packet_secs` from mono 16-bit frames at any rate."""

    def __init__(self, packet_secs: float) -> None:
        self._resampler = av.AudioResampler("s16", "mono", RESAMPLED_RATE)
        self._codec = opus_encoder(RESAMPLED_RATE, packet_secs)
        self._packet = round(RESAMPLED_RATE * packet_secs)
        self._pending = np.zeros(0, np.int16)
        self._started = False
        self._pts = 0

    def encode(self, frame: AudioFrame) -> bytes:
        """The Opus packet of `frame` (exactly one packet's time of it)."""
        frame.pts = None  # our media time may jump (skipped silence): not the resampler's
        out = [o.to_ndarray().reshape(-1) for o in self._resampler.resample(frame)]
        pending = np.concatenate([self._pending, *out])
        if not self._started:  # the resampler's delay, once
            self._started = True
            if len(pending) < self._packet:
                pending = np.concatenate([np.zeros(self._packet - len(pending), np.int16),
                                          pending])
        take, self._pending = pending[:self._packet], pending[self._packet:]
        if len(take) < self._packet:
            take = np.concatenate([take, np.zeros(self._packet - len(take), np.int16)])
        resampled = AudioFrame.from_ndarray(take[None, :], format="s16", layout="mono")
        resampled.sample_rate = RESAMPLED_RATE
        resampled.pts = self._pts
        resampled.time_base = fractions.Fraction(1, RESAMPLED_RATE)
        self._pts += self._packet
        return b"".join(bytes(packet) for packet in self._codec.encode(resampled))
