"""A thread that sends the voice's 20 ms packets at their time, whatever the loop does.

Why: the browser's audio jitter buffer grows whenever packets arrive in bursts,
and it stays grown for the reply. aiortc sends every packet from the event loop,
so each stall of the pipeline (a reply's first tokens, the face starting, Python
garbage collection) delayed the voice and then sent it in a burst. Here one thread
per audio track waits on the monotonic clock, takes the next packet from the
track (`MediaClockAudioTrack.next_packet`: Opus encoded at the track's rate),
builds its SRTP datagram on an `RtpLink` PREPARE_SECS ahead, and writes it
straight to the peer's socket at its time. The loop only
queues PCM and receives the writers' releases and the images' marks. The track
lets its writer run PACER_LEAD_SECS ahead, so a stall of the loop that long does
not leave the pacer short of speech either.

If the link breaks (the peer left, ICE picked another path) the thread ends and
the track goes back to being sent by aiortc from the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from av import AudioFrame, Packet

from pipelines.wire.webrtc_pacer import PacerThread
from pipelines.wire.webrtc_rtp_link import LinkLost, RtpLink

#: each packet is built this long before its time, so that at its time only the
#: datagram's write is left (the build waits for the interpreter lock, which a busy
#: event loop hands over only every few milliseconds)
PREPARE_SECS = 0.01
#: a packet written later than this after its time is counted (TrackCounters)
WRITE_LATE_MS = 10.0


class LatenessCounters(Protocol):
    """Where the pacer books late writes (wire/webrtc_tracks.py's TrackCounters)."""

    audio_written_late_10ms: int
    audio_written_late_ms_max: float


class PacedTrack(Protocol):
    """What the pacer needs of a track (wire/webrtc_tracks.py's MediaClockAudioTrack)."""

    sample_rate: int

    @property
    def counters(self) -> LatenessCounters: ...

    @property
    def media_secs(self) -> float: ...

    def due(self, media_secs: float) -> float: ...

    def catch_up(self, late: float) -> None: ...

    def next_packet(self) -> AudioFrame | Packet: ...


class AudioPacer(PacerThread):
    """Sends one audio track's packets at their due time, off the event loop."""

    def __init__(self, track: PacedTrack, link: RtpLink, loop: asyncio.AbstractEventLoop,
                 on_exit: Callable[[], None]) -> None:
        super().__init__("webrtc-audio-pacer", link, loop, on_exit)
        self.track = track

    def pace(self) -> None:
        """Until stopped: build the next packet PREPARE_SECS before its time (take,
        encode, protect: the calls that wait for the interpreter lock), then at its
        time only write the datagram."""
        track = self.track
        while not self.stopping:
            media_secs = track.media_secs
            early = track.due(media_secs) - PREPARE_SECS - time.monotonic()
            if early > 0:
                if self.sleep(early):
                    break
            else:
                track.catch_up(-early - PREPARE_SECS)
                media_secs = track.media_secs
            packet = track.next_packet()
            if not isinstance(packet, Packet):  # the pacer runs where the track encodes
                raise LinkLost("the track gave a raw frame, not an Opus packet")
            datagram = self.link.build(bytes(packet), int(packet.pts or 0), track.sample_rate)
            due = track.due(media_secs)
            wait = due - time.monotonic()
            if wait > 0 and self.sleep(wait):
                break
            self.link.write(datagram)
            self._count_lateness(time.monotonic() - due)

    def _count_lateness(self, late_secs: float) -> None:
        """Book how late a packet left (the receiver's jitter buffer grows on it)."""
        counters = self.track.counters
        late_ms = 1000 * late_secs
        if late_ms > WRITE_LATE_MS:
            counters.audio_written_late_10ms += 1
        if late_ms > counters.audio_written_late_ms_max:
            counters.audio_written_late_ms_max = late_ms
