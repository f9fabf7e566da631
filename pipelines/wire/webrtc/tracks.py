"""The WebRTC voice track, whose media time is the clock the video shares.

Why: pipecat's SmallWebRTC tracks stamp audio by a sample counter and
video by aiortc's `next_timestamp()`, +1/30 s per image whatever time the image
belongs to. The two RTP clocks then agree only by arrival order, so no receiver's
own audio/video sync (RTCP sender reports: RTP time against the sender's wall
clock) can put the lips on the voice, and the face drifted up to 0.9 s off it.

Here the audio track is the clock. Its media time is the count of samples it has
sent, paced at real time from its first packet. An image enters the video track
in order with the audio (`MediaClockVideoTrack.add_image`, called by
pipelines/wire/webrtc/output.py from pipecat's audio queue, behind the audio
before it) and leaves a mark in the audio queue; when the audio track sends the
first sample after that mark, the image is stamped with that sample's media time
on the 90 kHz video clock and released. An image therefore carries the time its
own audio is heard even when the audio ran dry in between (silence goes out
first and the image waits for its voice). Any receiver (Chromium, pipecat's
prebuilt client, aiortc, a phone) then syncs both by itself.

The audio leaves in steady 20 ms packets, each one Opus frame encoded right here
(wire/webrtc/opus.py: at the pipeline's own rate when libopus takes it) and, once
the peer is connected, sent by the track's own pacer thread
(wire/webrtc/audio_pacer.py; its datagrams written by the peer connection's writer process,
wire/webrtc/datagram_writer.py) at its time whatever the event loop is doing: a busy
pipeline no longer sends the voice late and then in a burst, which grew the
browser's jitter buffer. Where the pacer cannot send (a TURN relay), the packets
go to aiortc's sender as `av.Packet`s (raw frames at a rate libopus does not
take). Silence whose time has passed while the sender was held up is not sent
late: the media time jumps over it, as Opus DTX does. Speech is never dropped:
late speech goes out at once, in order.

The video track (wire/webrtc/video_track.py) is sent the same way, by a pacer
thread of its own (wire/webrtc/video_pacer.py).
"""

from __future__ import annotations

import asyncio
import fractions
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, Packet

from pipelines.wire.webrtc.audio_pacer import AudioPacer
from pipelines.wire.webrtc.opus import OPUS_INPUT_RATES, ResampledOpus, opus_encoder
from pipelines.wire.webrtc.pacer import SentByPacer
from pipelines.wire.webrtc.rtp_link import RtpLink

#: the audio is sent in packets of this length: one Opus frame each
PACKET_SECS = 0.02
#: pipecat's audio track takes audio in multiples of 10 ms
CHUNK_SECS = 0.01
#: a packet of silence this late (the event loop was busy) is skipped, not sent late
SKIP_SILENCE_AFTER_SECS = 0.06
#: the rate aiortc's Opus encoder takes without resampling; from any other rate its
#: resampler holds each packet back by one (measured on aiortc 1.16: the packet of
#: media time t leaves with the input of t + 20 ms), and the video waits as long, so
#: both streams' sender reports map media time to the same wall clock
OPUS_RATE = 48_000
#: with a pacer, a writer runs this far ahead of the send: a loop stall this long
#: never leaves the pacer without the speech that follows
PACER_LEAD_SECS = 0.1


@dataclass
class TrackCounters:
    """What the tracks did (read by tests and the session's metrics)."""

    audio_packets: int = 0
    speech_packets: int = 0
    late_packets: int = 0  # sent more than a packet after their time (speech, in order)
    #: packets the audio pacer wrote more than 10 ms after their time (the thread waited
    #: for a core or the interpreter lock): jitter the browser's audio buffer sees
    audio_written_late_10ms: int = 0
    audio_written_late_ms_max: float = 0.0
    silence_skipped_secs: float = 0.0
    images_in: int = 0
    images_sent: int = 0
    images_repeated_dropped: int = 0  # the same image written again (a redraw loop)
    images_stale_dropped: int = 0
    images_released_without_audio: int = 0  # no audio followed within MARK_WAIT_PACKETS
    images_preencoded: int = 0  # sent as the face's own VP8 frames
    keyframes_requested: int = 0  # by the receiver (PLI/FIR)
    audio_pacer_starts: int = 0  # times the audio went to a pacer thread (off the loop)
    video_pacer_starts: int = 0  # times the video went to a pacer thread


#: an image whose audio has not come after this many packets of silence is shown anyway
MARK_WAIT_PACKETS = 3

#: called with the media time (s) at which a mark's audio starts
MarkCallback = Callable[[float], None]


class _Mark:
    """A place in the audio queue where an image starts."""

    __slots__ = ("on_start", "threadsafe", "waited")

    def __init__(self, on_start: MarkCallback, threadsafe: bool) -> None:
        self.on_start = on_start
        self.threadsafe = threadsafe  # may be called from the pacer's thread
        self.waited = 0  # packets of silence sent while it led the queue


#: what `_take` owes: a call, its arguments, and whether any thread may make it
_Owed = tuple[Callable[..., None], tuple[object, ...], bool]


class MediaClockAudioTrack(SentByPacer, MediaStreamTrack):
    """The voice, paced at real time in 20 ms packets, stamped with the media clock.

    A drop-in for pipecat's `RawAudioTrack`: `add_audio_bytes` takes 16-bit mono
    PCM in multiples of 10 ms and returns a future that completes when the last of
    it has been sent (pipecat's output transport waits on it, which paces its
    audio queue at real time). With an `AudioPacer` sending (`link_factory` set,
    Opus at the track's rate), the future completes once no more than
    PACER_LEAD_SECS of audio is queued ahead of its end, so a busy loop that
    writes late never leaves the pacer without speech.
    """

    kind = "audio"

    def __init__(self, sample_rate: int, auto_silence: bool = True,
                 counters: TrackCounters | None = None) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self._auto_silence = auto_silence
        self._chunk_bytes = round(sample_rate * CHUNK_SECS) * 2
        self._packet_samples = round(sample_rate * PACKET_SECS)
        #: 10 ms chunks of PCM and image marks, in order (guarded by `_lock`: the
        #: pacer's thread takes from it)
        self._queue: deque[bytes | _Mark] = deque()
        self._lock = threading.Lock()
        self._queued_chunks = 0  # chunks of audio in `_queue`
        self._taken_chunks = 0  # chunks of audio taken since the start
        #: (taken-chunk count at which it completes, a writer's future), ascending
        self._releases: deque[tuple[int, asyncio.Future[bool]]] = deque()
        self._lead_chunks = 0  # audio a writer may run ahead of the send (pacer only)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: samples of media time sent so far (the next packet's pts)
        self._sent = 0
        #: the monotonic time of media time 0 (the first packet)
        self._origin: float | None = None
        self._audio_added = asyncio.Event()  # wakes a track without auto-silence
        self.counters = counters or TrackCounters()
        self._opus: av.AudioCodecContext | ResampledOpus | None = (
            opus_encoder(sample_rate, PACKET_SECS) if sample_rate in OPUS_INPUT_RATES else None)
        #: builds the link an `AudioPacer` sends on (set by the fitting; None: aiortc sends)
        self.link_factory: Callable[[], RtpLink | None] | None = None
        self._pacer: AudioPacer | None = None
        self._pacer_exited = asyncio.Event()

    # ------------------------------------------------------------- the clock
    @property
    def media_secs(self) -> float:
        """The media time of the next sample to go out."""
        return self._sent / self.sample_rate

    @property
    def heard_secs(self) -> float:
        """The media time going out now: `media_secs`, or less while packets are built
        ahead of their time for a writer process (wire/webrtc/audio_pacer.py)."""
        if self._origin is None:
            return self.media_secs
        return min(self.media_secs, time.monotonic() - self._origin)

    @property
    def audio_queued(self) -> bool:
        """Whether audio waits in the queue (its packets may be built ahead)."""
        return self._queued_chunks > 0

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
        """Queue PCM (a multiple of 10 ms); the future completes once it is all sent
        (or, with a pacer, is within PACER_LEAD_SECS of being sent)."""
        if len(audio) % self._chunk_bytes:
            raise ValueError(f"audio must be a multiple of 10 ms ({self._chunk_bytes} bytes "
                             f"at {self.sample_rate} Hz), got {len(audio)} bytes")
        self._loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = self._loop.create_future()
        with self._lock:
            for start in range(0, len(audio), self._chunk_bytes):
                self._queue.append(audio[start:start + self._chunk_bytes])
            self._queued_chunks += len(audio) // self._chunk_bytes
            release_at = self._taken_chunks + self._queued_chunks - self._lead_chunks
            if release_at > self._taken_chunks and audio:
                self._releases.append((release_at, future))
            else:
                future.set_result(True)
        self._audio_added.set()
        return future

    def mark(self, on_start: MarkCallback, threadsafe: bool = False) -> None:
        """Call `on_start(media_secs)` when the audio queued after this call starts
        to go out (or, if none comes, after MARK_WAIT_PACKETS packets of silence):
        on the event loop, or, `threadsafe`, right where the audio is taken (the
        pacer's thread: the video pacer then hears of its image without the loop)."""
        with self._lock:
            self._queue.append(_Mark(on_start, threadsafe))

    def clear(self) -> None:
        """Drop the queued audio (an interruption); its writers are released, and
        the images waiting for it are shown now."""
        with self._lock:
            marks = [entry for entry in self._queue if isinstance(entry, _Mark)]
            self._queue.clear()
            self._queued_chunks = 0
            releases, self._releases = self._releases, deque()
        if self._pacer is not None:
            self._pacer.drop_ahead()
        for _, future in releases:
            _settle(future, False)
        for entry in marks:
            entry.on_start(self.media_secs)

    # --------------------------------------------------------------- output
    async def recv(self) -> AudioFrame | Packet:
        """The next 20 ms packet at its time (Opus, or raw for aiortc to encode);
        silence when nothing is queued. With a pacer this waits while the pacer
        sends (aiortc's sender then sends no audio of its own)."""
        if self.readyState != "live":
            raise MediaStreamError
        await self._wait_while_paced()
        if self.readyState != "live":  # ended while its pacer sent
            raise MediaStreamError
        if self._origin is None:
            self._origin = time.monotonic()
        late = time.monotonic() - self.due(self.media_secs)
        if late < 0:
            await asyncio.sleep(-late)
        else:
            self.catch_up(late)
        if not self._auto_silence:
            while not self._queued_chunks:
                self._audio_added.clear()
                await self._audio_added.wait()
        return self.next_packet()

    def next_packet(self) -> AudioFrame | Packet:
        """The next 20 ms of the queue (padded with silence) as a packet: Opus at the
        track's rate, else a raw frame. Called at its due time, from the loop or the
        pacer's thread; writers and marks are answered on the loop."""
        with self._lock:
            pcm, calls = self._take(self._packet_samples * 2)
            pts = self._sent
            self._sent += self._packet_samples
        self.counters.audio_packets += 1
        self._dispatch(calls)
        frame = AudioFrame.from_ndarray(np.frombuffer(pcm, np.int16)[None, :], layout="mono")
        frame.sample_rate = self.sample_rate
        frame.pts = pts
        frame.time_base = fractions.Fraction(1, self.sample_rate)
        if self._opus is None:
            return frame
        if isinstance(self._opus, ResampledOpus):
            encoded = self._opus.encode(frame)
        else:
            encoded = b"".join(bytes(packet) for packet in self._opus.encode(frame))
        packet = Packet(encoded)
        packet.pts, packet.time_base = pts, frame.time_base  # our media time
        return packet

    def rewind(self, media_samples: int) -> None:
        """Send again from media time `media_samples` (the pacer's packets from there
        on were dropped before they left: an interruption)."""
        with self._lock:
            self._sent = min(self._sent, media_samples)

    def catch_up(self, late: float) -> None:
        """Behind the clock by `late` s: skip the silence whose time has passed (never
        sent late as a burst); speech goes out at once, in order."""
        if late > SKIP_SILENCE_AFTER_SECS and not self._queued_chunks:
            skipped = int(late / PACKET_SECS) * self._packet_samples
            self._sent += skipped
            self.counters.silence_skipped_secs += skipped / self.sample_rate
        elif late > PACKET_SECS:
            self.counters.late_packets += 1

    def stop(self) -> None:
        """End the track (and its pacer's thread)."""
        super().stop()
        if self._pacer is not None:
            self._pacer.stop()

    def hand_over(self) -> None:
        """Another track replaces this one on its sender (a reconnect): its pacer
        ends (joined, so only one thread sends on the SSRC) and its pending `recv`
        returns, so aiortc's sender goes on to the new track."""
        self.link_factory = None
        pacer = self._pacer
        if pacer is not None:
            # what its writer process holds would reach the receiver after the new
            # track's first packets: dropped, and the new link continues the sequence
            # after the last packet that leaves
            pacer.drop_ahead()
            pacer.stop()
            pacer.join(timeout=4 * PACKET_SECS)

    # ---------------------------------------------------------------- pacer
    def _start_pacer(self) -> None:
        factory, self.link_factory = self.link_factory, None
        if not self._auto_silence or factory is None:
            return
        link = factory()
        if link is None:
            return
        if self._opus is None:  # aiortc would encode (and resample) it: the pacer does
            self._opus = ResampledOpus(PACKET_SECS)
        self._loop = asyncio.get_running_loop()
        self._pacer_exited.clear()
        self._lead_chunks = round(PACER_LEAD_SECS / CHUNK_SECS)
        if self._origin is None:
            self._origin = time.monotonic()
        self._pacer = AudioPacer(self, link, self._loop, on_exit=self._back_to_loop)
        self.counters.audio_pacer_starts += 1
        self._pacer.start()

    def _back_to_loop(self) -> None:
        """The pacer stopped (on the loop): aiortc's sender sends the track again."""
        if isinstance(self._opus, ResampledOpus):
            self._opus = None  # raw frames for aiortc's encoder again
        self._pacer = None
        self._lead_chunks = 0
        self._pacer_exited.set()

    def _dispatch(self, calls: list[_Owed]) -> None:
        """Run what `_take` owes: at once on the loop (or where it is thread-safe),
        else handed to the loop."""
        if not calls:
            return
        on_loop = self._pacer is None or threading.current_thread() is not self._pacer
        loop = self._loop
        for call, args, threadsafe in calls:
            if on_loop or threadsafe:
                call(*args)
            elif loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(call, *args)

    def _take(self, size: int) -> tuple[bytes, list[_Owed]]:
        """`size` bytes from the queue, padded with silence (called holding the lock),
        and the calls owed: writers released, marks passed with their media time."""
        parts: list[bytes] = []
        calls: list[_Owed] = []
        taken = 0
        while self._queue and taken < size:
            entry = self._queue.popleft()
            if isinstance(entry, _Mark):
                if self._queued_chunks or entry.waited >= MARK_WAIT_PACKETS:
                    if not self._queued_chunks:
                        self.counters.images_released_without_audio += 1
                    calls.append((entry.on_start, ((self._sent + taken // 2) / self.sample_rate,),
                                  entry.threadsafe))
                    continue
                entry.waited += 1  # its audio has not come yet: it waits at the head
                self._queue.appendleft(entry)
                break
            if taken + len(entry) > size:  # 10 ms is not a whole number of packets'
                # samples at every rate (22,050 Hz): the rest waits at the head
                self._queue.appendleft(entry[size - taken:])
                entry = entry[:size - taken]
            else:
                self._queued_chunks -= 1
                self._taken_chunks += 1
            parts.append(entry)
            taken += len(entry)
        while self._releases and self._releases[0][0] <= self._taken_chunks:
            calls.append((_settle, (self._releases.popleft()[1], True), False))
        if taken:
            self.counters.speech_packets += 1
        if taken < size:
            parts.append(bytes(size - taken))
        return b"".join(parts), calls


def _settle(future: asyncio.Future[bool], sent: bool) -> None:
    if not future.done():
        future.set_result(sent)
