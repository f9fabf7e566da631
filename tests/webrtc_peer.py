"""A browser stand-in for the WebRTC tests: a real aiortc peer that sends
a microphone and a camera and records what the bot sends back.

It signals as pipecat's prebuilt client does: `POST /start` for a session id, then
the SDP offer to `/sessions/{id}/api/offer`, with a data channel on which it says
`client-ready` (RTVI) and records pipecat's events. aiortc gathers its ICE
candidates before the offer goes out, so it never trickles them with PATCH.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import av
import httpx
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from pipecat.processors.frameworks.rtvi.models import PROTOCOL_VERSION as RTVI_VERSION

MIC_RATE = 48_000  # what browsers send: Opus at 48 kHz, mono from a microphone
MIC_CHUNK = 960  # 20 ms, one Opus frame
VIDEO_CLOCK = 90_000


class MicrophoneTrack(MediaStreamTrack):
    """Silence in real time, with the speech queued by `say` when its turn comes."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queued: deque[np.ndarray] = deque()
        self._sent = 0
        self._start: float | None = None
        #: (monotonic start, end) of each queued utterance as it went out
        self.spoken: list[tuple[float, float]] = []
        self._speaking_since: float | None = None

    def say(self, pcm48: np.ndarray) -> float:
        """Queue int16 mono 48 kHz speech; returns its duration (s)."""
        for i in range(0, len(pcm48), MIC_CHUNK):
            chunk = pcm48[i:i + MIC_CHUNK]
            self._queued.append(np.pad(chunk, (0, MIC_CHUNK - len(chunk))).astype(np.int16))
        self._queued.append(np.zeros(0, np.int16))  # marks the utterance's end
        return len(pcm48) / MIC_RATE

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        self._start = await _paced(self._start, self._sent / MIC_RATE)
        chunk = self._queued.popleft() if self._queued else None
        if chunk is not None and len(chunk) == 0:  # an utterance ended
            if self._speaking_since is not None:
                self.spoken.append((self._speaking_since, time.monotonic()))
                self._speaking_since = None
            chunk = None
        elif chunk is not None and self._speaking_since is None:
            self._speaking_since = time.monotonic()
        samples = chunk if chunk is not None else np.zeros(MIC_CHUNK, np.int16)
        frame = av.AudioFrame(format="s16", layout="mono", samples=MIC_CHUNK)
        frame.planes[0].update(samples.tobytes())
        frame.pts = self._sent
        frame.sample_rate = MIC_RATE
        frame.time_base = fractions.Fraction(1, MIC_RATE)
        self._sent += MIC_CHUNK
        return frame


async def _paced(start: float | None, position_secs: float) -> float:
    """A track sends in real time: wait until `position_secs` after `start` (None: this
    is the first frame, which starts the clock now); returns the start."""
    if start is None:
        return time.monotonic()
    wait = start + position_secs - time.monotonic()
    if wait > 0:
        await asyncio.sleep(wait)
    return start


class CameraTrack(MediaStreamTrack):
    """RGB frames played forwards and backwards at `fps`, as a webcam would send them."""

    kind = "video"

    def __init__(self, frames: list[np.ndarray], fps: float) -> None:
        super().__init__()
        self._frames = frames
        self._fps = fps
        self._index = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        self._start = await _paced(self._start, self._index / self._fps)
        period = max(1, 2 * len(self._frames) - 2)
        i = self._index % period
        rgb = self._frames[i if i < len(self._frames) else period - i]
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = int(self._index * VIDEO_CLOCK / self._fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self._index += 1
        return frame


@dataclass
class Received:
    """What the bot sent: audio (arrival time, int16 mono 48 kHz chunk) and video."""

    audio: list[tuple[float, np.ndarray]] = field(default_factory=list)
    audio_rate: int = MIC_RATE
    #: (arrival time, RTP timestamp in s) of every audio frame: its media time
    audio_pts: list[tuple[float, float]] = field(default_factory=list)
    #: (arrival time, width, height) of every video frame
    video: list[tuple[float, int, int]] = field(default_factory=list)
    #: (arrival time, RTP timestamp in s) of every video frame
    video_pts: list[tuple[float, float]] = field(default_factory=list)
    #: (arrival time, RGB image) of the frames kept for analysis
    images: list[tuple[float, np.ndarray]] = field(default_factory=list)
    #: keep one video frame in this many (0: keep none), scaled to keep_size px square
    keep_every: int = 2
    keep_size: int = 256
    #: messages that came on the data channel (pipecat's RTVI events)
    messages: list[dict[str, Any]] = field(default_factory=list)


async def _record_audio(track: Any, received: Received) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            pcm = frame.to_ndarray().reshape(-1)
            channels = len(frame.layout.channels)
            received.audio_rate = frame.sample_rate
            now = time.monotonic()
            received.audio.append((now, pcm[::channels].astype(np.int16)))
            if frame.pts is not None and frame.time_base is not None:
                received.audio_pts.append((now, float(frame.pts * frame.time_base)))


async def _record_video(track: Any, received: Received) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            now = time.monotonic()
            received.video.append((now, frame.width, frame.height))
            if frame.pts is not None and frame.time_base is not None:
                received.video_pts.append((now, float(frame.pts * frame.time_base)))
            if received.keep_every and len(received.video) % received.keep_every == 0:
                small = frame.reformat(width=received.keep_size, height=received.keep_size,
                                       format="rgb24")
                received.images.append((now, small.to_ndarray()))


@dataclass
class Peer:
    """A connected peer: its connection, its microphone, and what it received."""

    pc: RTCPeerConnection
    mic: MicrophoneTrack
    received: Received
    pc_id: str
    tasks: list[asyncio.Task[None]]

    async def close(self) -> None:
        await self.pc.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def connect(base_url: str, camera: CameraTrack | None, *, keep_every: int = 2,
                  direct_offer: dict[str, Any] | None = None) -> Peer:
    """Offer a microphone and `camera` to the example as the prebuilt client does, or
    (`direct_offer`: its request_data) to our server's `/api/offer` as the kiosk page does.
    `camera` None: a browser whose camera is off (a video transceiver, no track)."""
    pc = RTCPeerConnection()  # no ICE servers: host candidates, as the example's server
    mic = MicrophoneTrack()
    pc.addTrack(mic)
    if camera is not None:
        pc.addTrack(camera)
    else:
        pc.addTransceiver("video", direction="sendrecv")
    received = Received(keep_every=keep_every)
    # pipecat's RTVI messages go both ways on this channel, as with the prebuilt client
    channel = pc.createDataChannel("chat", ordered=True)

    @channel.on("open")
    def on_open() -> None:
        channel.send(json.dumps({"label": "rtvi-ai", "type": "client-ready", "id": "ready",
                                 "data": {"version": RTVI_VERSION,
                                          "about": {"library": "aiortc test peer"}}}))

    @channel.on("message")
    def on_message(message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode()
        with contextlib.suppress(ValueError):
            received.messages.append(json.loads(text))
    tasks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: Any) -> None:
        record = _record_audio if track.kind == "audio" else _record_video
        tasks.append(asyncio.ensure_future(record(track, received)))

    await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
    offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        if direct_offer is not None:
            reply = await http.post("/api/offer", json={**offer, "request_data": direct_offer})
        else:
            start = await http.post("/start", json={"transport": "webrtc"})
            start.raise_for_status()
            session = start.json()["sessionId"]
            reply = await http.post(f"/sessions/{session}/api/offer", json=offer)
        reply.raise_for_status()
        answer = reply.json()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type=answer["type"]))
    return Peer(pc, mic, received, answer["pc_id"], tasks)


def spoken_48k(text: str) -> np.ndarray:
    """`text` in the bundled piper voice, resampled to 48 kHz (a browser's mic). Make it
    before connecting: synthesis blocks the caller's event loop for seconds."""
    import soxr

    from benchkit.speech import load_test_voice, piper_int16

    voice = load_test_voice()
    pcm = piper_int16(voice, text).astype(np.float32)
    return soxr.resample(pcm, voice.config.sample_rate, MIC_RATE).clip(
        -32768, 32767).astype(np.int16)


def clock_offsets(samples: list[tuple[float, float]], window_secs: float = 5.0) -> np.ndarray:
    """How a stream's media clock moves against the wall clock, from (arrival time, RTP
    time in s) samples: per `window_secs` window the 10th percentile of arrival minus
    media time (a receiver on a busy machine sometimes decodes late, which only ever
    adds), relative to the first window, in s. Flat: the RTP clock follows the media."""
    arrival = np.array([a for a, _ in samples])
    media = np.array([m for _, m in samples])
    offset = (arrival - arrival[0]) - (media - media[0])
    values = []
    for begin in np.arange(arrival[0], arrival[-1] - window_secs / 2, window_secs):
        inside = (arrival >= begin) & (arrival < begin + window_secs)
        if inside.sum() >= 10:
            values.append(float(np.percentile(offset[inside], 10)))
    return np.asarray(values) - values[0]
