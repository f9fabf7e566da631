"""The client side of a live session: a microphone at real-time pace, a log of all
that arrives, and one connected session (mic, camera, receiver as tasks).

Why here: bench/live/live.py, bench/live/adapt.py, bench/live/session_churn.py and
bench/kiosk/presence.py all talk to the server as a kiosk would and measure on the
client's clock; they share this so their figures mean the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.clocks import CpuMark
from benchkit.stats import rounded_percentile

USER_RATE = 16000
CHUNK_SAMPLES = 320  # 20 ms mic chunks
USER_FRAME_SAMPLES = 640  # one 40 ms user-audio frame: what `user_frames` counts
FRAME_US = 40_000
MAX_LAG_FRAMES = 10  # +-400 ms
#: a reply is over when the bot has been quiet this long (it may pause between sentences)
REPLY_QUIET_SECS = 2.0


class Mic:
    """A live microphone: 20 ms chunks of 16 kHz PCM from connect until closed, at
    real-time pace (a stall is caught up by sending faster, as a mic buffer would),
    silence between utterances. `sent_at[n]` is when chunk n left, so the time of
    any sample and of any 40 ms user frame is known on the client's clock."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.sent_at: list[float] = []
        self.samples_sent = 0
        self._queue: asyncio.Queue[tuple[bytes, asyncio.Future[int]]] = asyncio.Queue()

    async def run(self) -> None:
        """Stream until cancelled (or the socket closes)."""
        silence = bytes(2 * CHUNK_SAMPLES)
        pcm, offset, start_sample = b"", 0, 0
        done: asyncio.Future[int] | None = None
        started = time.monotonic()
        n = 0
        while True:
            if offset >= len(pcm):
                if done is not None:
                    done.set_result(start_sample)
                    done = None
                if not self._queue.empty():
                    pcm, done = self._queue.get_nowait()
                    offset, start_sample = 0, self.samples_sent
            if offset < len(pcm):
                chunk = pcm[offset:offset + len(silence)].ljust(len(silence), b"\x00")
                offset += len(silence)
            else:
                chunk = silence
            await self.client.send_audio(chunk)
            self.sent_at.append(time.monotonic())
            self.samples_sent += CHUNK_SAMPLES
            n += 1
            delay = started + n * CHUNK_SAMPLES / USER_RATE - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

    async def say(self, pcm: bytes) -> int:
        """Speak `pcm` at the next chunk boundary; returns its first sample's index
        once the last of it has been sent."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        await self._queue.put((pcm, done))
        return await done

    def time_of_sample(self, sample: int) -> float:
        """When sample `sample` was captured (its chunk's send time + its place in it),
        the convention of the SDK's `talk()` (voice-to-voice from the same instant)."""
        chunk = sample // CHUNK_SAMPLES
        return self.sent_at[chunk] + (sample % CHUNK_SAMPLES) / USER_RATE

    def frame_sent_at(self, frame: int) -> float:
        """When user frame `frame` was completely sent (its last 20 ms chunk left)."""
        return self.sent_at[((frame + 1) * USER_FRAME_SAMPLES - 1) // CHUNK_SAMPLES]


@dataclass(slots=True)
class AudioIn:
    """One received audio message (payload dropped once a turn is done with it)."""

    at: float
    pts_us: int
    samples: int
    loud: bool  # any non-zero sample (the avatar's idle audio is digital silence)
    pcm: bytes | None


@dataclass(slots=True)
class VideoIn:
    """One received avatar frame."""

    at: float
    pts_us: int
    user_frames: int  # unwrapped (the header carries it mod 65536)
    mic_frames: int  # whole user frames the client had sent when this arrived
    repeated: bool  # the same JPEG as the frame before
    jpeg: bytes | None


class SessionLog:
    """Everything one client received, stamped on arrival (a background task)."""

    def __init__(self, mic: Mic, output_rate: int) -> None:
        self.mic = mic
        self.output_rate = output_rate
        self.audio: list[AudioIn] = []
        self.video: list[VideoIn] = []
        self.events: list[tuple[float, Any]] = []
        #: motion frames of a face the client draws (v2.3): (arrival, pts_us)
        self.motion: list[tuple[float, int]] = []
        #: a client that draws: fetch an `assets` event's bundle and say it is loaded
        self.on_assets: Callable[[Any], Awaitable[None]] | None = None
        self.closed = False
        self._changed = asyncio.Event()
        self._wraps = 0
        self._last_raw = 0
        self._last_jpeg = b""

    async def run(self, client: Any) -> None:
        """Receive until the socket closes."""
        from sdk.events import AssetsEvent
        from sdk.items import BotAudio, BotMotion, BotVideo, Closed

        async for item in client.receive():
            if isinstance(item, BotAudio):
                self.audio.append(AudioIn(item.received_at, item.pts_us, len(item.pcm) // 2,
                                          bool(item.pcm.strip(b"\x00")), item.pcm))
            elif isinstance(item, BotVideo):
                if item.user_frames < self._last_raw - 32768:
                    self._wraps += 1
                self._last_raw = item.user_frames
                self.video.append(VideoIn(
                    item.received_at, item.pts_us, item.user_frames + 65536 * self._wraps,
                    self.mic.samples_sent // USER_FRAME_SAMPLES, item.jpeg == self._last_jpeg,
                    item.jpeg))
                self._last_jpeg = item.jpeg
            elif isinstance(item, BotMotion):
                self.motion.append((item.received_at, item.pts_us))
            elif isinstance(item, Closed):
                break
            else:
                self.events.append((time.monotonic(), item))
                if isinstance(item, AssetsEvent) and self.on_assets is not None:
                    await self.on_assets(item)
            self._changed.set()
        self.closed = True
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], Any], limit_secs: float) -> Any:
        """The first truthy value of `predicate`, re-checked on every arrival; None on
        timeout or close."""
        deadline = time.monotonic() + limit_secs
        while True:
            value = predicate()
            if value or self.closed:
                return value or None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.1))

    def event_after(self, start: int, kind: str, after: float = 0.0) -> tuple[int, float] | None:
        """(index, time) of the first event of type `kind` at index >= start, time >= after."""
        for i in range(start, len(self.events)):
            at, event = self.events[i]
            # a live caption (`final: false`) is not what was heard
            if (getattr(event, "type", "") == kind and at >= after
                    and getattr(event, "final", True)):
                return i, at
        return None

    def reply_done(self, start: int, quiet_secs: float = REPLY_QUIET_SECS) -> tuple[int, float] | None:
        """The reply that started at event index >= start is over: its last
        `bot-stopped-speaking` is `quiet_secs` old with no `bot-started-speaking` since.

        One reply can start and stop speaking several times: the transport's speaking
        detection stops at any gap in the audio, e.g. when piper has not finished the
        next sentence when the previous one has played (under load), so the first
        `bot-stopped-speaking` is not the end of the reply.
        """
        began = self.event_after(start, "bot-started-speaking")
        if began is None:
            return None
        last_start = began
        while (later := self.event_after(last_start[0] + 1, "bot-started-speaking")) is not None:
            last_start = later
        stopped = self.event_after(last_start[0] + 1, "bot-stopped-speaking")
        if stopped is None or time.monotonic() - stopped[1] < quiet_secs:
            return None
        return stopped

    def first_loud_after(self, start: int, after: float) -> AudioIn | None:
        """The first non-silent audio at index >= start received after `after`."""
        return next((a for a in self.audio[start:] if a.loud and a.at > after), None)

    def avatar_stats(self) -> dict[str, Any] | None:
        """The last `metrics` event of kind "avatar" (the face service's counters)."""
        for _, event in reversed(self.events):
            if getattr(event, "type", "") == "metrics" and getattr(event, "kind", "") == "avatar":
                return dict(event.values or {})
        return None

    def avatar_trace(self, keys: tuple[str, ...]) -> list[tuple[float, dict[str, Any]]]:
        """(arrival, the named counters) of every `metrics` event of kind "avatar": what
        the face service's quality governor saw (busy share, late frames, level) over time."""
        return [(at, {key: (event.values or {}).get(key) for key in keys})
                for at, event in self.events
                if getattr(event, "type", "") == "metrics" and getattr(event, "kind", "") == "avatar"]

    def drop_payloads(self) -> None:
        """Forget PCM and JPEG bytes received so far (turn windows keep copies)."""
        for a in self.audio:
            a.pcm = None
        for v in self.video:
            v.jpeg = None


class LiveSession:
    """One connected client: its mic, camera and receiver running as tasks."""

    def __init__(self, client: Any, camera_clip: Path | None, llm_pid: int | None,
                 start: bool = True) -> None:
        """`start`: start the tasks now (False: the caller sets the log up first)."""
        self.client = client
        self.mic = Mic(client)
        self.log = SessionLog(self.mic, client.output_rate)
        self.video = client.video_out is not None
        self.llm_pid = llm_pid
        self.camera_clip = camera_clip
        self.cpu_start = CpuMark.now(llm_pid)
        self.cpu: dict[str, float] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        if start:
            self.start()

    def start(self) -> None:
        """Run the mic, the receiver and (video sessions with a clip) the camera."""
        self.tasks = [asyncio.create_task(self.mic.run()),
                      asyncio.create_task(self.log.run(self.client))]
        if self.camera_clip is not None:
            self.tasks.append(asyncio.create_task(
                self.client.stream_video_file(self.camera_clip, fps=15.0, loop=True)))

    @classmethod
    async def open(cls, url: str, *, video: bool, camera_clip: Path | None, size: int,
                   name: str, llm_pid: int | None, draws_face: bool = False) -> LiveSession:
        """Connect (waiting for a free slot) and start streaming at once. `draws_face`:
        a video session's client draws the face (v2.3) as the kiosk page does: it
        fetches the assets and says so, then receives motion frames, not JPEGs."""
        from sdk.client import VoiceClient

        draws = video and draws_face
        client = await VoiceClient.connect(
            url, client_name=name, busy_retry_secs=30.0,
            video_out={"size": size} if video else None,
            video_in="camera" if video and camera_clip is not None else None,
            draws_face=draws)
        session = cls(client, camera_clip if video else None, llm_pid, start=False)
        if draws:
            async def load(event: Any) -> None:
                await client.fetch_assets(event)
                await client.assets_loaded(event.id)

            session.log.on_assets = load
        session.start()
        return session

    async def close(self) -> None:
        """Stop streaming and leave; keeps the log."""
        self.cpu = CpuMark.now(self.llm_pid).since(self.cpu_start)
        for task in self.tasks[:1] + self.tasks[2:]:
            task.cancel()
        await self.client.close()
        for task in self.tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)

    def summary(self) -> dict[str, Any]:
        """Per-session delivery figures (fps, intervals, gaps, CPU)."""
        log = self.log
        audio_secs = sum(a.samples for a in log.audio) / log.output_rate
        out: dict[str, Any] = {"video": self.video, "audio_secs": round(audio_secs, 1)}
        out.update(self.cpu)
        if self.video:
            arrivals = np.array([v.at for v in log.video])
            gaps = np.diff(arrivals) * 1000 if len(arrivals) > 1 else np.zeros(1)
            out.update({
                "frames": len(log.video),
                "video_fps": round(len(log.video) / max(audio_secs, 1e-6), 2),
                "distinct_fps": round(sum(not v.repeated for v in log.video)
                                      / max(audio_secs, 1e-6), 2),
                "frame_interval_ms_p50": round(float(np.percentile(gaps, 50)), 1),
                "frame_interval_ms_p95": round(float(np.percentile(gaps, 95)), 1),
                "max_frame_gap_ms": round(float(gaps.max()), 1),
                "user_frames_lead": max((v.user_frames - v.mic_frames for v in log.video),
                                        default=None),
                # user frames sent but not yet in a generated frame: in-flight + the
                # avatar's block quantisation (0-4) + any backlog kept by its queue
                "user_frames_behind_p50": rounded_percentile([v.mic_frames - v.user_frames
                                              for v in log.video], 50),
                "user_frames_behind_p95": rounded_percentile([v.mic_frames - v.user_frames
                                              for v in log.video], 95),
                "avatar": log.avatar_stats(),
                "welcome_video_out": self.client.video_out,
            })
            if log.motion:  # a face the client draws: motion frames, not images
                motion_gaps = (np.diff([at for at, _ in log.motion]) * 1000
                               if len(log.motion) > 1 else np.zeros(1))
                out.update({"draws_face": True, "motion_frames": len(log.motion),
                            "motion_fps": round(len(log.motion) / max(audio_secs, 1e-6), 2),
                            "motion_interval_ms_p95": round(float(np.percentile(motion_gaps, 95)), 1)})
            from benchkit.live.quality_log import changes_summary, level_changes

            out.update(changes_summary(level_changes(self)))
            stats = out["avatar"] or {}
            out["cpu_percent"] = stats.get("cpu_percent")
        return out
