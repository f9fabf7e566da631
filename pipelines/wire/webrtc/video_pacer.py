"""A thread that sends the face's VP8 frames at their time, whatever the loop does.

Why: Chromium plays the voice no earlier than the video it is synced to, and the
video's playout delay follows how unevenly its frames arrive. aiortc sends each
frame's packets from the event loop (await the track, packetize, protect, write,
one packet at a time), so every stall of the pipeline delayed the images, the
browser's video delay grew, and the voice was heard later with it; the packets'
Python was also the largest per-packet cost left on the loop. Here one thread per
video track takes each image as its audio's pacer releases it
(`MediaClockVideoTrack.wait_image`), packetizes the face's VP8 frame with aiortc's
own packetizer (the sender's encoder object: one picture id sequence), builds the
SRTP datagrams on an `RtpLink`, and has them written when the image's audio goes
out: by the link's writer process (wire/webrtc/datagram_writer.py), which needs no
interpreter lock at that time, or by this thread where there is none.

If the link breaks (the peer left, ICE picked another path) the thread ends and
the track goes back to being sent by aiortc from the loop.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from typing import Any, Protocol

from aiortc.codecs.vpx import Vp8Encoder
from av import Packet

from pipelines.wire.webrtc.pacer import PacerThread
from pipelines.wire.webrtc.rtp_link import (
    LINK_CLOCKS,
    RtpDatagram,
    RtpLink,
)

#: how long the thread waits for an image before it looks whether it should stop
IDLE_POLL_SECS = 0.05
#: the RTP clock rate of video (RFC 3551), on which a frame's pts is counted
VIDEO_CLOCK = LINK_CLOCKS["video/vp8"]
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)


class PacedVideoTrack(Protocol):
    """What the pacer needs of a track (wire/webrtc/video_track.py's
    MediaClockVideoTrack; its images carry `vp8`, the face's encoded frame)."""

    def wait_image(self, timeout: float) -> Any: ...

    def stamp(self, image: Any) -> int: ...

    def due(self, image: Any) -> float: ...


class VideoPacer(PacerThread):
    """Sends one video track's VP8 frames at their audio's time, off the event loop."""

    def __init__(self, track: PacedVideoTrack, link: RtpLink, loop: asyncio.AbstractEventLoop,
                 on_exit: Callable[[], None]) -> None:
        super().__init__("webrtc-video-pacer", link, loop, on_exit)
        self.track = track

    def pace(self) -> None:
        """Until stopped: take the next released image, build its datagrams, and
        write them all at its time."""
        track, link = self.track, self.link
        packer = link.sender_encoder()
        link.start_writer()
        while not self.stopping:
            self.book_writer_reports()  # late writes are the voice's measure
            image = track.wait_image(IDLE_POLL_SECS)
            if image is None or image.vp8 is None:
                continue
            datagrams = self._datagrams(packer, image.vp8, track.stamp(image))
            due = track.due(image)
            wait = due - time.monotonic()
            if not link.writes_ahead and wait > 0 and self.sleep(wait):
                break
            if datagrams:
                link.write_all(datagrams, due if link.writes_ahead else None)

    def _datagrams(self, packer: Vp8Encoder, vp8: bytes, pts: int) -> list[RtpDatagram]:
        """One frame's datagrams: aiortc's VP8 payloads, the marker on the last."""
        packet = Packet(vp8)
        packet.pts = pts
        packet.time_base = VIDEO_TIME_BASE
        payloads, _ = packer.pack(packet)
        last = len(payloads) - 1
        return [self.link.build(payload, pts, VIDEO_CLOCK, marker=index == last)
                for index, payload in enumerate(payloads)]

