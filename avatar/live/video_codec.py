"""The face's images as a WebRTC video stream: VP8, encoded where the face is drawn.

Why here: over WebRTC each image must be encoded once. Encoding it in
the process that runs the voice pipeline (aiortc's sender does it there) cost
that process ~10 % of a core at 512 px, beside its interpreter lock, its event
loop and the Opus encoder. The face's worker process already holds the image;
encoding it there sends ~7 KB a frame to the pipeline instead of a 768 KB RGB
copy, and the pipeline only packetizes it.

VP8 because it is the cheaper of the two codecs every WebRTC receiver decodes:
4.3 ms an image at 512 px and 1.7 ms at 256 px against 13 and 6 ms for H.264
through libx264 at their loopback bitrates (docs/PIPECAT.md). The settings are a
real-time sender's, aiortc's own: libvpx in `realtime` mode, CBR at the bitrate the
receiver allows (REMB), no lag, one token partition; but without the temporal
denoiser, which is there for a camera's noise: on the renderer's noise-free images
it only cost time and blurred them (docs/PIPECAT.md, "Codecs"). A keyframe starts the stream,
follows a size change, comes when the receiver asks (PLI/FIR), and every
KEYFRAME_SECS.
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass

import av
import numpy as np

#: the codec this module encodes (RTP name)
CODEC = "vp8"
#: a keyframe at least this often: a receiver that lost one recovers by itself
KEYFRAME_SECS = 4.0
FPS = 25
#: aiortc's VP8 bitrate range (what a receiver's REMB is clamped to)
MIN_BITRATE, MAX_BITRATE = 250_000, 1_500_000
#: a new bitrate re-creates the encoder only past this relative change (as aiortc)
BITRATE_STEP = 0.1


@dataclass(frozen=True)
class VideoRequest:
    """What the sender wants of the next image's encoding."""

    bitrate: int = 1_000_000
    keyframe: bool = False
    codec: str = CODEC


@dataclass(frozen=True)
class EncodedImage:
    """One image as VP8: the frame's bitstream and whether it is a keyframe."""

    data: bytes
    keyframe: bool


class Vp8Stream:
    """One session's VP8 encoder: images in, one encoded frame each out."""

    def __init__(self) -> None:
        self._codec: av.VideoCodecContext | None = None
        self._frames = 0
        self._since_keyframe = 0

    def encode(self, rgb: np.ndarray, request: VideoRequest) -> EncodedImage:
        """Encode an (H, W, 3) uint8 RGB image."""
        if request.codec != CODEC:
            raise ValueError(f"this stream encodes {CODEC}, not {request.codec}")
        height, width = rgb.shape[:2]
        bitrate = max(MIN_BITRATE, min(MAX_BITRATE, request.bitrate))
        codec = self._codec
        if codec is not None:
            current = codec.bit_rate or bitrate
            if (codec.width, codec.height) != (width, height) or (
                    abs(bitrate - current) / current > BITRATE_STEP):
                codec = None
        if codec is None:
            codec = self._codec = realtime_vp8(width, height, bitrate)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
        frame.pts = self._frames
        frame.time_base = fractions.Fraction(1, FPS)
        keyframe = (request.keyframe or self._since_keyframe >= KEYFRAME_SECS * FPS
                    or self._frames == 0)
        if keyframe:
            frame.pict_type = av.video.frame.PictureType.I
        packets = codec.encode(frame)
        self._frames += 1
        data = b"".join(bytes(packet) for packet in packets)
        is_key = any(packet.is_keyframe for packet in packets)
        self._since_keyframe = 0 if is_key else self._since_keyframe + 1
        return EncodedImage(data, is_key)


def realtime_vp8(width: int, height: int, bitrate: int) -> av.VideoCodecContext:
    """libvpx as a real-time WebRTC sender runs it (aiortc's settings, no denoiser);
    its `options` may still be changed before the first frame is encoded."""
    codec = av.CodecContext.create("libvpx", "w")
    assert isinstance(codec, av.VideoCodecContext)
    codec.width, codec.height = width, height
    codec.bit_rate = bitrate
    codec.pix_fmt = "yuv420p"
    codec.framerate = fractions.Fraction(FPS, 1)
    codec.time_base = fractions.Fraction(1, FPS)
    codec.gop_size = 3000  # keyframes on request and every KEYFRAME_SECS, not by count
    codec.qmin, codec.qmax = 2, 56
    codec.options = {
        "bufsize": str(bitrate), "cpu-used": "-8", "deadline": "realtime",
        "lag-in-frames": "0", "minrate": str(bitrate), "maxrate": str(bitrate),
        "noise-sensitivity": "0", "overshoot-pct": "15", "partitions": "0",
        "static-thresh": "1", "undershoot-pct": "100",
    }
    codec.thread_count = 1  # one session, one core's share
    return codec
