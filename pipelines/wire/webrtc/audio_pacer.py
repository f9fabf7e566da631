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

The thread itself needs the interpreter lock, and the server's other threads can
hold it for longer than a packet (docs/PIPECAT.md). So the datagrams are written by the
peer connection's writer process (wire/webrtc/datagram_writer.py): while audio is queued the thread
builds it up to WRITER_LEAD_SECS ahead and hands it over, and that process writes
each packet at its time. Building queued audio early moves none of it: a packet's
slot is its place in the queue. The silence that pads an empty queue is built only
PREPARE_SECS ahead, so speech that comes in is sent in the next packet's slot. An
interruption drops what was handed over for the time from DROP_MARGIN_SECS on, and
those slots are built again with the same sequence numbers: a receiver sees no gap
(aiortc's jitter buffer, for one, would hold every later packet back by it). Where no
writer process can be started, the thread writes each datagram itself at its time.

If the link breaks (the peer left, ICE picked another path) the thread ends and
the track goes back to being sent by aiortc from the loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from av import AudioFrame, Packet

from pipelines.wire.webrtc.pacer import PacerThread
from pipelines.wire.webrtc.rtp_link import LinkLost, RtpLink

#: each packet is built this long before its time, so that at its time only the
#: datagram's write is left (the build waits for the interpreter lock, which a busy
#: event loop hands over only every few milliseconds)
PREPARE_SECS = 0.01
#: with a writer process, queued audio is built and handed over up to this far ahead of
#: its time (as far as the pipeline has queued it): longer than the waits for the
#: interpreter lock the server has shown (docs/PIPECAT.md)
WRITER_LEAD_SECS = 0.15
#: a packet written later than this after its time is counted (TrackCounters)
WRITE_LATE_MS = 10.0
#: an interruption drops the packets handed over for times this far from now on (the
#: writer process is not writing them yet) and builds those slots again
DROP_MARGIN_SECS = 0.02


class LatenessCounters(Protocol):
    """Where the pacer books late writes (wire/webrtc/tracks.py's TrackCounters)."""

    audio_written_late_10ms: int
    audio_written_late_ms_max: float


class PacedTrack(Protocol):
    """What the pacer needs of a track (wire/webrtc/tracks.py's MediaClockAudioTrack)."""

    sample_rate: int

    @property
    def counters(self) -> LatenessCounters: ...

    @property
    def media_secs(self) -> float: ...

    @property
    def audio_queued(self) -> bool: ...

    def due(self, media_secs: float) -> float: ...

    def catch_up(self, late: float) -> None: ...

    def rewind(self, media_samples: int) -> None: ...

    def next_packet(self) -> AudioFrame | Packet: ...


class AudioPacer(PacerThread):
    """Sends one audio track's packets at their due time, off the event loop."""

    def __init__(self, track: PacedTrack, link: RtpLink, loop: asyncio.AbstractEventLoop,
                 on_exit: Callable[[], None]) -> None:
        super().__init__("webrtc-audio-pacer", link, loop, on_exit)
        self.track = track
        #: (due, sequence number, media samples) of the packets handed to the writer
        #: process and maybe not written yet, oldest first
        self._handed: deque[tuple[float, int, int]] = deque()
        #: an interruption asked to drop what is due after this time (set on the loop)
        self._drop_after: float | None = None

    def pace(self) -> None:
        """Until stopped: build the next packet ahead of its time (take, encode,
        protect: the calls that wait for the interpreter lock), PREPARE_SECS ahead,
        or WRITER_LEAD_SECS while audio is queued and a writer process writes it;
        then hand it over, or at its time write it."""
        track, link = self.track, self.link
        link.start_writer()
        while not self.stopping:
            for late_ms in self.book_writer_reports():
                self._count_lateness(late_ms / 1000)
            self._drop_if_asked()
            media_secs = track.media_secs
            ahead = WRITER_LEAD_SECS if link.writes_ahead and track.audio_queued else PREPARE_SECS
            early = track.due(media_secs) - ahead - time.monotonic()
            if early > 0:
                if self.sleep(min(early, PREPARE_SECS)):
                    break
                continue  # look again: speech may have come meanwhile
            track.catch_up(time.monotonic() - track.due(media_secs))
            media_secs = track.media_secs
            packet = track.next_packet()
            if not isinstance(packet, Packet):  # the pacer runs where the track encodes
                raise LinkLost("the track gave a raw frame, not an Opus packet")
            datagram = link.build(bytes(packet), int(packet.pts or 0), track.sample_rate)
            due = track.due(media_secs)
            if link.writes_ahead:
                link.write(datagram, due)
                self._remember(due, datagram.packet.sequence_number, int(packet.pts or 0))
                continue
            wait = due - time.monotonic()
            if wait > 0 and self.sleep(wait):
                break
            link.write(datagram)
            self._count_lateness(time.monotonic() - due)
        self._drop_if_asked()  # a hand-over asks, then stops the thread

    def drop_ahead(self) -> None:
        """An interruption (called on the loop): the packets handed over for times from
        DROP_MARGIN_SECS on are dropped and their slots built again, from the queue as
        it is now, with the same sequence numbers (no gap a receiver would hold)."""
        self._drop_after = time.monotonic() + DROP_MARGIN_SECS

    def _remember(self, due: float, sequence: int, media_samples: int) -> None:
        handed = self._handed
        handed.append((due, sequence, media_samples))
        while handed and handed[0][0] < due - 1.0:
            handed.popleft()

    def _drop_if_asked(self) -> None:
        """Drop what an interruption asked to, in this thread (which builds the packets)."""
        after, self._drop_after = self._drop_after, None
        if after is None:
            return
        first = next((entry for entry in self._handed if entry[0] > after), None)
        if first is None:
            return
        self.link.clear_ahead(after, first[1])
        self.track.rewind(first[2])
        while self._handed and self._handed[-1][0] > after:
            self._handed.pop()

    def _count_lateness(self, late_secs: float) -> None:
        """Book how late a packet left (the receiver's jitter buffer grows on it)."""
        counters = self.track.counters
        late_ms = 1000 * late_secs
        if late_ms > WRITE_LATE_MS:
            counters.audio_written_late_10ms += 1
        if late_ms > counters.audio_written_late_ms_max:
            counters.audio_written_late_ms_max = late_ms
