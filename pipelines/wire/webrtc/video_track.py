"""The face's WebRTC video track: each image stamped with the media time of its voice.

An image enters in order with the audio (`add_image`, called by
pipelines/wire/webrtc/output.py from pipecat's audio queue, behind the audio
before it) and leaves a mark in the audio track's queue (wire/webrtc/tracks.py);
when the audio track sends the first sample after that mark, the image is stamped
with that sample's media time on the 90 kHz video clock and released. An image
therefore carries the time its own audio is heard even when the audio ran dry in
between, and any receiver syncs both by the RTCP sender reports.

Each distinct image is encoded once, and nothing is redrawn to fill a frame rate.
An image that comes already encoded as VP8 (the face's worker process encodes it:
avatar/live/video_codec.py) is only packetized. Once the peer is connected on a
path the pacer can use (`link_factory`), a thread of its own
(wire/webrtc/video_pacer.py) takes each released image straight from the audio
pacer's thread and writes its packets at their time, so neither a busy event
loop nor aiortc's per-packet Python on it delays the video: Chromium holds the
voice back to the video's playout delay, which grows with the video's send
jitter. Otherwise aiortc's sender takes the images through `recv` (its executor
encodes an RGB image when the peer did not negotiate VP8). The track asks the
face for a keyframe when the receiver does (PLI/FIR, `request_keyframe`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import Packet, VideoFrame

from pipelines.wire.webrtc.pacer import SentByPacer
from pipelines.wire.webrtc.rtp_link import RtpLink
from pipelines.wire.webrtc.tracks import MediaClockAudioTrack, TrackCounters
from pipelines.wire.webrtc.video_pacer import VIDEO_CLOCK, VIDEO_TIME_BASE, VideoPacer

#: an image this far behind the audio, with a newer one waiting, is dropped
STALE_IMAGE_SECS = 0.12


@dataclass
class TimedImage:
    """An image released by its audio: shown at `media_secs` of the audio's clock."""

    rgb: np.ndarray  # (H, W, 3) uint8
    media_secs: float
    vp8: bytes | None = None  # the same image, encoded as the stream's next VP8 frame
    keyframe: bool = False  # `vp8` is a keyframe


class MediaClockVideoTrack(SentByPacer, MediaStreamTrack):
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
        #: released images, oldest first (the audio pacer's thread appends to it)
        self._images: deque[TimedImage] = deque()
        self._images_changed = threading.Condition()
        self._image_added = asyncio.Event()  # wakes `recv` on the loop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._last_pts = -1
        self._last_written: object | None = None
        #: the stream is sent as the face's VP8 frames (from its first keyframe on)
        self._packets = False
        self._keyframe_wanted = False
        #: builds the link a `VideoPacer` sends on (set by the fitting; None: aiortc sends)
        self.link_factory: Callable[[], RtpLink | None] | None = None
        self._pacer: VideoPacer | None = None
        self._pacer_exited = asyncio.Event()

    # ---------------------------------------------------------------- input
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
        self.audio.mark(lambda media_secs: self._released(
            TimedImage(rgb, media_secs, vp8, keyframe)), threadsafe=True)

    def add_video_frame(self, frame: object) -> None:
        """pipecat's `RawVideoTrack` interface: an `OutputImageRawFrame` (RGB)."""
        if frame is self._last_written:  # pipecat's non-live output redraws its image
            self.counters.images_repeated_dropped += 1
            return
        self._last_written = frame
        image: bytes = frame.image  # type: ignore[attr-defined]
        width, height = frame.size  # type: ignore[attr-defined]
        self.add_image(np.frombuffer(image, np.uint8).reshape(height, width, 3))

    def _released(self, image: TimedImage) -> None:
        """Its audio starts (called on the loop or on the audio pacer's thread)."""
        with self._images_changed:
            self._images.append(image)
            self._images_changed.notify()
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._image_added.set()
        else:
            loop.call_soon_threadsafe(self._image_added.set)

    # --------------------------------------------------------------- output
    def due(self, image: TimedImage) -> float:
        """The monotonic time at which `image` goes out: with its audio."""
        return self.audio.due(image.media_secs) + self.audio.encoder_delay_secs

    def stamp(self, image: TimedImage) -> int:
        """The image's pts on the 90 kHz clock (strictly increasing), counted as sent."""
        pts = max(self._last_pts + 1, round(image.media_secs * VIDEO_CLOCK))
        self._last_pts = pts
        self.counters.images_sent += 1
        if image.vp8 is not None and self._packets:
            self.counters.images_preencoded += 1
        return pts

    async def recv(self) -> VideoFrame | Packet:
        """The next image, once its audio is being sent, stamped on the media clock:
        the face's own VP8 frame when it has one, else the RGB image to encode. With
        a pacer this waits while the pacer sends (aiortc's sender sends nothing)."""
        if self.readyState != "live":
            raise MediaStreamError
        self._loop = asyncio.get_running_loop()
        await self._wait_while_paced()
        if self.readyState != "live":  # ended while its pacer sent
            raise MediaStreamError
        item = await self._next_image()
        wait = self.due(item) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        pts = self.stamp(item)
        if self._packets:
            assert item.vp8 is not None
            packet = Packet(item.vp8)
            packet.pts, packet.time_base = pts, VIDEO_TIME_BASE
            return packet
        frame = VideoFrame.from_ndarray(np.ascontiguousarray(item.rgb), format="rgb24")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        return frame

    async def _next_image(self) -> TimedImage:
        while True:
            self._image_added.clear()
            item = self.take_image(vp8_only=False)
            if item is not None:
                return item
            await self._image_added.wait()

    def wait_image(self, timeout: float) -> TimedImage | None:
        """The next VP8 image to send, waiting at most `timeout` s (the pacer's way in)."""
        with self._images_changed:
            self._images_changed.wait_for(lambda: bool(self._images), timeout)
        return self.take_image(vp8_only=True)

    def take_image(self, vp8_only: bool) -> TimedImage | None:
        """The next image to send, if one is released. Behind the audio, the newest (a
        dropped VP8 frame breaks the stream's references, so a keyframe is asked for).
        The stream switches to the face's VP8 frames at one of their keyframes (a
        decoder starts afresh there) and then sends no raw image (aiortc's own encoder
        would not share their state): one without a VP8 frame waits for the next
        keyframe, as does every raw image when `vp8_only` (the pacer sends no raw)."""
        with self._images_changed:
            while self._images:
                item = self._images.popleft()
                heard = self.audio.heard_secs
                while self._images and heard - item.media_secs > STALE_IMAGE_SECS:
                    item = self._images.popleft()
                    self.counters.images_stale_dropped += 1
                    self._keyframe_wanted = True
                if item.vp8 is not None and item.keyframe:
                    self._packets = True
                if (self._packets or vp8_only) and item.vp8 is None:
                    self._keyframe_wanted = True  # not encoded (planned before the peer
                    continue                      # connected): skipped
                if not self._packets and item.vp8 is not None:
                    self._keyframe_wanted = True  # wait for the face's next keyframe
                    continue
                return item
        return None

    # ---------------------------------------------------------------- pacer
    def stop(self) -> None:
        """End the track (and its pacer's thread)."""
        super().stop()
        if self._pacer is not None:
            self._pacer.stop()

    def hand_over(self) -> None:
        """Another track replaces this one on its sender (a reconnect): its pacer ends
        (joined, so only one thread sends on the SSRC)."""
        self.link_factory = None
        pacer = self._pacer
        if pacer is not None:
            pacer.stop()
            pacer.join(timeout=0.2)

    def _start_pacer(self) -> None:
        factory, self.link_factory = self.link_factory, None
        link = factory() if factory is not None else None
        if link is None:
            return
        self._pacer_exited.clear()
        self._pacer = VideoPacer(self, link, asyncio.get_running_loop(),
                                 on_exit=self._back_to_loop)
        self.counters.video_pacer_starts += 1
        self._pacer.start()

    def _back_to_loop(self) -> None:
        """The pacer stopped (on the loop): aiortc's sender sends the track again."""
        self._pacer = None
        self._keyframe_wanted = True  # aiortc's packets continue the stream from here
        self._pacer_exited.set()
