"""WebRTC output tracks whose audio and video share one media clock.

Why: pipecat's SmallWebRTC tracks stamp audio by a sample counter and
video by aiortc's `next_timestamp()`, +1/30 s per image whatever time the image
belongs to. The two RTP clocks then agree only by arrival order, so no receiver's
own audio/video sync (RTCP sender reports: RTP time against the sender's wall
clock) can put the lips on the voice, and the face drifted up to 0.9 s off it.

Here the audio track is the clock. Its media time is the count of samples it has
sent, paced at real time from its first packet. An image enters the video track
in order with the audio (`MediaClockVideoTrack.add_image`, called by
pipelines/wire/webrtc_output.py from pipecat's audio queue, behind the audio
before it) and leaves a mark in the audio queue; when the audio track sends the
first sample after that mark, the image is stamped with that sample's media time
on the 90 kHz video clock and released. An image therefore carries the time its
own audio is heard even when the audio ran dry in between (silence goes out
first and the image waits for its voice). Any receiver (Chromium, pipecat's
prebuilt client, aiortc, a phone) then syncs both by itself.

The audio leaves in steady 20 ms packets, each one Opus frame encoded right here
at the pipeline's own rate (libopus takes 8, 12, 16, 24 and 48 kHz) and handed
to aiortc's sender as an `av.Packet`: no executor round trip per packet, no
resampler holding each packet back by one (aiortc's Opus path resamples to
48 kHz and sends the packet of media time t with the input of t + 20 ms), and no
per-sample Python loop for the audio-level header. At another rate the track
gives aiortc raw frames as pipecat's does. Silence whose time has passed while
the event loop was busy is not sent late: the media time jumps over it, as Opus
DTX does, so a stall during silence never reaches the browser's jitter buffer
as a burst. Speech is never dropped: late speech goes out at once, in order.

Each distinct image is encoded once, and nothing is redrawn to fill a frame rate.
An image that comes already encoded as VP8 (the face's worker process encodes it:
avatar/live/video_codec.py) is only packetized here, as an `av.Packet`, when the
peer negotiated VP8; otherwise aiortc's sender encodes the RGB image in its
executor thread. The track asks for a keyframe when the receiver does (PLI/FIR,
`request_keyframe`).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, Packet, VideoFrame

#: the audio is sent in packets of this length: one Opus frame each
PACKET_SECS = 0.02
#: pipecat's audio track takes audio in multiples of 10 ms
CHUNK_SECS = 0.01
#: the RTP clock rate of video (RFC 3551)
VIDEO_CLOCK = 90_000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)
#: a packet of silence this late (the event loop was busy) is skipped, not sent late
SKIP_SILENCE_AFTER_SECS = 0.06
#: an image this far behind the audio, with a newer one waiting, is dropped
STALE_IMAGE_SECS = 0.12
#: the rate aiortc's Opus encoder takes without resampling; from any other rate its
#: resampler holds each packet back by one (measured on aiortc 1.16: the packet of
#: media time t leaves with the input of t + 20 ms), and the video waits as long, so
#: both streams' sender reports map media time to the same wall clock
OPUS_RATE = 48_000
#: the input rates libopus encodes directly (the track's own encoder)
OPUS_INPUT_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
#: the voice's Opus bitrate (mono speech; aiortc's own path sends 96 kbit/s stereo)
OPUS_BITRATE = 48_000


@dataclass
class TrackCounters:
    """What the tracks did (read by tests and the session's metrics)."""

    audio_packets: int = 0
    speech_packets: int = 0
    late_packets: int = 0  # sent more than a packet after their time (speech, in order)
    silence_skipped_secs: float = 0.0
    images_in: int = 0
    images_sent: int = 0
    images_repeated_dropped: int = 0  # the same image written again (a redraw loop)
    images_stale_dropped: int = 0
    images_released_without_audio: int = 0  # no audio followed within MARK_WAIT_PACKETS
    images_preencoded: int = 0  # sent as the face's own VP8 frames
    keyframes_requested: int = 0  # by the receiver (PLI/FIR)


#: an image whose audio has not come after this many packets of silence is shown anyway
MARK_WAIT_PACKETS = 3

#: called with the media time (s) at which a mark's audio starts
MarkCallback = Callable[[float], None]


class _Mark:
    """A place in the audio queue where an image starts."""

    __slots__ = ("on_start", "waited")

    def __init__(self, on_start: MarkCallback) -> None:
        self.on_start = on_start
        self.waited = 0  # packets of silence sent while it led the queue


class MediaClockAudioTrack(MediaStreamTrack):
    """The voice, paced at real time in 20 ms packets, stamped with the media clock.

    A drop-in for pipecat's `RawAudioTrack`: `add_audio_bytes` takes 16-bit mono
    PCM in multiples of 10 ms and returns a future that completes when the last of
    it has been sent (pipecat's output transport waits on it, which paces its
    audio queue at real time).
    """

    kind = "audio"

    def __init__(self, sample_rate: int, auto_silence: bool = True,
                 counters: TrackCounters | None = None) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self._auto_silence = auto_silence
        self._chunk_bytes = round(sample_rate * CHUNK_SECS) * 2
        self._packet_samples = round(sample_rate * PACKET_SECS)
        #: 10 ms chunks (the last of each write carrying its future) and image marks
        self._queue: deque[tuple[bytes, asyncio.Future[bool] | None] | _Mark] = deque()
        #: samples of media time sent so far (the next packet's pts)
        self._sent = 0
        #: the monotonic time of media time 0 (the first packet)
        self._origin: float | None = None
        self._audio_added = asyncio.Event()  # wakes a track without auto-silence
        self.counters = counters or TrackCounters()
        self._opus = _opus_encoder(sample_rate) if sample_rate in OPUS_INPUT_RATES else None

    # ------------------------------------------------------------- the clock
    @property
    def media_secs(self) -> float:
        """The media time of the next sample to go out."""
        return self._sent / self.sample_rate

    def due(self, media_secs: float) -> float:
        """The monotonic time at which the audio at `media_secs` is sent (now if the
        track has not started)."""
        if self._origin is None:
            return time.monotonic()
        return self._origin + media_secs

    @property
    def encoder_delay_secs(self) -> float:
        """How much later than its `due` time the encoded audio leaves (OPUS_RATE)."""
        return 0.0 if self._opus is not None or self.sample_rate == OPUS_RATE else PACKET_SECS

    # ---------------------------------------------------------------- input
    def add_audio_bytes(self, audio: bytes) -> asyncio.Future[bool]:
        """Queue PCM (a multiple of 10 ms); the future completes once it is all sent."""
        if len(audio) % self._chunk_bytes:
            raise ValueError(f"audio must be a multiple of 10 ms ({self._chunk_bytes} bytes "
                             f"at {self.sample_rate} Hz), got {len(audio)} bytes")
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if not audio:
            future.set_result(True)
            return future
        for start in range(0, len(audio), self._chunk_bytes):
            last = start + self._chunk_bytes >= len(audio)
            self._queue.append((audio[start:start + self._chunk_bytes], future if last else None))
        self._audio_added.set()
        return future

    def mark(self, on_start: MarkCallback) -> None:
        """Call `on_start(media_secs)` when the audio queued after this call starts
        to go out (or, if none comes, after MARK_WAIT_PACKETS packets of silence)."""
        self._queue.append(_Mark(on_start))

    def clear(self) -> None:
        """Drop the queued audio (an interruption); its writers are released, and
        the images waiting for it are shown now."""
        marks = [entry for entry in self._queue if isinstance(entry, _Mark)]
        while self._queue:
            entry = self._queue.popleft()
            if not isinstance(entry, _Mark) and entry[1] is not None and not entry[1].done():
                entry[1].set_result(False)
        for entry in marks:
            entry.on_start(self.media_secs)

    # --------------------------------------------------------------- output
    async def recv(self) -> AudioFrame | Packet:
        """The next 20 ms packet at its time (Opus, or raw for aiortc to encode);
        silence when nothing is queued."""
        if self.readyState != "live":
            raise MediaStreamError
        if self._origin is None:
            self._origin = time.monotonic()
        late = time.monotonic() - self.due(self.media_secs)
        if late < 0:
            await asyncio.sleep(-late)
        elif late > SKIP_SILENCE_AFTER_SECS and not self._has_audio():
            # nothing to say and behind: let the media time catch up with the wall
            # clock instead of sending the missed silence in a burst
            skipped = int(late / PACKET_SECS) * self._packet_samples
            self._sent += skipped
            self.counters.silence_skipped_secs += skipped / self.sample_rate
        elif late > PACKET_SECS:
            self.counters.late_packets += 1
        if not self._auto_silence:
            while not self._has_audio():
                self._audio_added.clear()
                await self._audio_added.wait()
        pcm = self._take(self._packet_samples * 2)
        frame = AudioFrame.from_ndarray(np.frombuffer(pcm, np.int16)[None, :], layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = self._sent
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        self._sent += self._packet_samples
        self.counters.audio_packets += 1
        if self._opus is None:
            return frame
        encoded = b"".join(bytes(packet) for packet in self._opus.encode(frame))
        packet = Packet(encoded)
        packet.pts, packet.time_base = frame.pts, frame.time_base  # our media time
        return packet

    def _has_audio(self) -> bool:
        return any(not isinstance(entry, _Mark) for entry in self._queue)

    def _take(self, size: int) -> bytes:
        """`size` bytes from the queue, padded with silence. Writers whose audio is
        now all taken are released; marks passed are called with their media time."""
        parts: list[bytes] = []
        taken = 0
        while self._queue and taken < size:
            entry = self._queue.popleft()
            if isinstance(entry, _Mark):
                if self._has_audio() or entry.waited >= MARK_WAIT_PACKETS:
                    if not self._has_audio():
                        self.counters.images_released_without_audio += 1
                    entry.on_start((self._sent + taken // 2) / self.sample_rate)
                    continue
                entry.waited += 1  # its audio has not come yet: it waits at the head
                self._queue.appendleft(entry)
                break
            chunk, future = entry
            parts.append(chunk)
            taken += len(chunk)
            if future is not None and not future.done():
                future.set_result(True)
        if taken:
            self.counters.speech_packets += 1
        if taken < size:
            parts.append(bytes(size - taken))
        return b"".join(parts)


def _opus_encoder(sample_rate: int) -> av.AudioCodecContext:
    """libopus for one mono voice at `sample_rate`, 20 ms a packet, as WebRTC sends it."""
    codec = av.CodecContext.create("libopus", "w")
    assert isinstance(codec, av.AudioCodecContext)
    codec.sample_rate = sample_rate
    codec.format = "s16"
    codec.layout = "mono"
    codec.bit_rate = OPUS_BITRATE
    codec.time_base = fractions.Fraction(1, sample_rate)
    codec.options = {"application": "voip", "frame_duration": str(round(PACKET_SECS * 1000))}
    return codec


@dataclass
class _TimedImage:
    rgb: np.ndarray  # (H, W, 3) uint8
    media_secs: float
    vp8: bytes | None = None  # the same image, encoded as the stream's next VP8 frame
    keyframe: bool = False  # `vp8` is a keyframe


class MediaClockVideoTrack(MediaStreamTrack):
    """The face's images, each stamped with the media time of its own audio.

    `add_image` is the way in for images queued in order with their audio (the
    next audio written to `audio` is theirs). `add_video_frame` takes pipecat's
    `OutputImageRawFrame`s that reach the transport another way (another
    processor's images, pipecat's redraw loop): the same, with an exact repeat of
    the last one dropped.
    """

    kind = "video"

    def __init__(self, audio: MediaClockAudioTrack, counters: TrackCounters | None = None) -> None:
        super().__init__()
        self.audio = audio
        self.counters = counters or audio.counters
        self._images: asyncio.Queue[_TimedImage] = asyncio.Queue()
        self._last_pts = -1
        self._last_written: object | None = None
        #: the stream is sent as the face's VP8 frames (from its first keyframe on)
        self._packets = False
        self._keyframe_wanted = False

    def request_keyframe(self) -> None:
        """The receiver asked for a keyframe (PLI/FIR): the next encoding is one."""
        self._keyframe_wanted = True
        self.counters.keyframes_requested += 1

    def take_keyframe_request(self) -> bool:
        """Whether the next image should be a keyframe (the request is then taken)."""
        wanted, self._keyframe_wanted = self._keyframe_wanted, False
        return wanted

    def add_image(self, rgb: np.ndarray, vp8: bytes | None = None,
                  keyframe: bool = False) -> None:
        """Queue an RGB image (and its VP8 frame, if encoded already), shown when the
        audio written next starts to play."""
        self.counters.images_in += 1
        self.audio.mark(lambda media_secs: self._images.put_nowait(
            _TimedImage(rgb, media_secs, vp8, keyframe)))

    def add_video_frame(self, frame: object) -> None:
        """pipecat's `RawVideoTrack` interface: an `OutputImageRawFrame` (RGB)."""
        if frame is self._last_written:  # pipecat's non-live output redraws its image
            self.counters.images_repeated_dropped += 1
            return
        self._last_written = frame
        image: bytes = frame.image  # type: ignore[attr-defined]
        width, height = frame.size  # type: ignore[attr-defined]
        self.add_image(np.frombuffer(image, np.uint8).reshape(height, width, 3))

    async def recv(self) -> VideoFrame | Packet:
        """The next image, once its audio is being sent, stamped on the media clock:
        the face's own VP8 frame when it has one, else the RGB image to encode."""
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._next_image()
        wait = self.audio.due(item.media_secs) + self.audio.encoder_delay_secs - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        pts = max(self._last_pts + 1, round(item.media_secs * VIDEO_CLOCK))
        self._last_pts = pts
        self.counters.images_sent += 1
        if self._packets:
            self.counters.images_preencoded += 1
            assert item.vp8 is not None
            packet = Packet(item.vp8)
            packet.pts, packet.time_base = pts, VIDEO_TIME_BASE
            return packet
        frame = VideoFrame.from_ndarray(np.ascontiguousarray(item.rgb), format="rgb24")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        return frame

    async def _next_image(self) -> _TimedImage:
        """The next image to send. Behind the audio, the newest (a dropped VP8 frame
        breaks the stream's references, so a keyframe is asked for). The stream
        switches to the face's VP8 frames at one of their keyframes (a decoder starts
        afresh there) and then sends no raw image (aiortc's own encoder would not
        share their state): one without a VP8 frame waits for the next keyframe."""
        while True:
            item = await self._images.get()
            while not self._images.empty() and (
                    self.audio.media_secs - item.media_secs > STALE_IMAGE_SECS):
                item = self._images.get_nowait()
                self.counters.images_stale_dropped += 1
                self._keyframe_wanted = True
            if item.vp8 is not None and item.keyframe:
                self._packets = True
            if self._packets and item.vp8 is None:  # not encoded (a frame planned before
                self._keyframe_wanted = True         # the peer connected): skipped
                continue
            if not self._packets and item.vp8 is not None:
                self._keyframe_wanted = True  # wait for the face's next keyframe
                continue
            return item
