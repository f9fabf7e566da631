"""The live avatar end to end: the whole voice + avatar server, measured from the client.

Starts the real server in this process (bundled whisper tiny.en + piper joe +
the embedded llama.cpp LLM + the avatar: default portrait, shipped generator,
costs measured at start-up) on 127.0.0.1 and talks to it over a real loopback
websocket with the client SDK, like a kiosk would: each client streams its
"microphone" (16 kHz PCM, 20 ms chunks, real-time pace) from the moment it
connects until it leaves, with silence between the questions, and, in video
sessions, its "webcam": a clip of a real face (skimage's astronaut photo,
rendered with a small scripted head motion) at 15 fps, so the server's camera
analysis is part of what is measured. Questions are kiosk questions spoken by
the bundled piper voice.

Measured on the client's clock (names as in the JSON):

- video_fps: avatar frames received / seconds of audio received (25 nominal),
  per video session; distinct_fps counts only frames whose JPEG differs from
  the previous one (the server repeats the last image when rendering is late);
  frame_interval_ms_p95: arrival intervals of video frames.
- av_offset_ms, lip_sync_r: jawOpen re-measured on the received frames
  (FaceAnalyzer, video mode) against the RMS envelope of the received reply
  audio per 40 ms, both placed on the stream clock (audio pts counts samples
  sent; a frame's pts is the start of its 40 ms audio chunk). The lag (40 ms
  steps, +-400 ms) maximising their correlation over each reply; > 0 means
  the mouth moves after the sound. Pooled over replies (length-weighted
  correlation curve); per reply in `turns`.
- reaction_latency_ms: each video message carries `user_frames`, the 40 ms
  user-audio frames the server had heard when it generated that frame. The
  mic counts the samples it sends, so for the onset of each question (first
  20 ms above 5 % of the peak level) at user frame k: receive time of the
  first frame with user_frames > k minus the time frame k was completely sent
  (its last 20 ms chunk left the client: the earliest the server can count it).
- voice_to_voice_ms_p50/_p95: end of the question's speech -> first
  non-silent reply audio (video sessions send silence while idle), for avatar
  sessions and, alternating with them on the same server, voice-only sessions
  (no video in hello: the server builds the voice-only pipeline):
  voice_only_voice_to_voice_ms_p50/_p95 and avatar_adds_ms_p50.
- barge_in_ms: the client interrupts a long reply 1 s into it with piper
  speech; onset of that speech -> last non-silent reply audio received.
  stale_audio_ms_after_interrupt: milliseconds of non-silent old-reply audio
  received later than `bot-interrupted` + 100 ms (goal 0).
- cpu_percent: the avatar worker's CPU per session (the server's `metrics`
  events of kind "avatar"); process_cpu_percent: this whole process (server,
  speech models, avatar and the bench client; 100 = one core) and
  llm_cpu_percent: the llama.cpp child, per session and over the run.
- user_frames_lead: most user frames the server counted beyond what the
  client had sent (> 0 means the server filled missing audio with silence,
  which skews reaction latency).

Modes:
  python bench/live.py [--turns 8] [--barge-ins 3]    # avatar and voice-only, alternating
  python bench/live.py --sessions 2 [--turns 4]        # 2 concurrent video sessions
  python bench/live.py --soak 1800 [--turn-every 20]   # one video session, RSS and stalls
  --model smollm2 for a quick run (the product default is qwen2.5-0.5b).

The process runs the product's defaults (1 llama.cpp thread, the avatar worker
pinned to 1 torch thread by the node, nothing else pinned). The last stdout
line is one JSON object; it is also saved as bench/results/live_<tag>.json,
and the default mode plots one reply (bench/results/live_av_sync.png).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm  # noqa: E402

from bench.voice_latency import (  # noqa: E402
    INTERRUPTION,
    QUESTIONS,
    percentile,
    rss_mb,
    speech_end_secs,
    speech_start_secs,
    start_server,
    synthesize,
)

RESULTS = ROOT / "bench" / "results"
USER_RATE = 16000
CHUNK_SAMPLES = 320  # 20 ms mic chunks
USER_FRAME_SAMPLES = 640  # one 40 ms user-audio frame: what `user_frames` counts
FRAME_US = 40_000
MAX_LAG_FRAMES = 10  # +-400 ms
#: a reply is over when the bot has been quiet this long (it may pause between sentences)
REPLY_QUIET_SECS = 2.0
#: Asked before a barge-in: long enough that the reply is still going 1 s in.
LONG_QUESTION = ("Please tell me about your opening hours and your return policy "
                 "and your delivery options.")


#: The server under test: its pid (None: this process, --in-process) for CPU and RSS.
SERVER: dict[str, Any] = {"pid": None}

# --------------------------------------------------------------------------- clocks


def cpu_secs(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one when None; 0 if gone)."""
    if pid is None:
        times = os.times()
        return times.user + times.system
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMark:
    """Wall and CPU clocks at one instant, to turn intervals into CPU percentages."""

    wall: float
    process: float
    llm: float

    @classmethod
    def now(cls, llm_pid: int | None) -> CpuMark:
        """The clocks now."""
        return cls(time.monotonic(), cpu_secs(SERVER["pid"]),
                   cpu_secs(llm_pid) if llm_pid else 0.0)

    def since(self, start: CpuMark) -> dict[str, float]:
        """CPU% (100 = one core) of this process and the LLM between `start` and here."""
        wall = max(1e-6, self.wall - start.wall)
        return {"process_cpu_percent": round(100 * (self.process - start.process) / wall, 1),
                "llm_cpu_percent": round(100 * (self.llm - start.llm) / wall, 1),
                "secs": round(wall, 1)}


# --------------------------------------------------------------------------- the client side


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
        self.closed = False
        self._changed = asyncio.Event()
        self._wraps = 0
        self._last_raw = 0
        self._last_jpeg = b""

    async def run(self, client: Any) -> None:
        """Receive until the socket closes."""
        from sdk.connection import BotAudio, BotVideo, Closed

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
            elif isinstance(item, Closed):
                break
            else:
                self.events.append((time.monotonic(), item))
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
        """The last `metrics` event of kind "avatar" (the node's counters)."""
        for _, event in reversed(self.events):
            if getattr(event, "type", "") == "metrics" and getattr(event, "kind", "") == "avatar":
                return dict(event.values or {})
        return None

    def drop_payloads(self) -> None:
        """Forget PCM and JPEG bytes received so far (turn windows keep copies)."""
        for a in self.audio:
            a.pcm = None
        for v in self.video:
            v.jpeg = None


class LiveSession:
    """One connected client: its mic, camera and receiver running as tasks."""

    def __init__(self, client: Any, camera_clip: Path | None, llm_pid: int | None) -> None:
        self.client = client
        self.mic = Mic(client)
        self.log = SessionLog(self.mic, client.output_rate)
        self.video = client.video_out is not None
        self.llm_pid = llm_pid
        self.cpu_start = CpuMark.now(llm_pid)
        self.cpu: dict[str, float] = {}
        self.tasks = [asyncio.create_task(self.mic.run()),
                      asyncio.create_task(self.log.run(client))]
        if camera_clip is not None:
            self.tasks.append(asyncio.create_task(
                client.stream_video_file(camera_clip, fps=15.0, loop=True)))

    @classmethod
    async def open(cls, url: str, *, video: bool, camera_clip: Path | None, size: int,
                   name: str, llm_pid: int | None) -> LiveSession:
        """Connect (waiting for a free slot) and start streaming at once."""
        from sdk.client import VoiceClient

        client = await VoiceClient.connect(
            url, client_name=name, busy_retry_secs=30.0,
            video_out={"size": size} if video else None,
            video_in="camera" if video and camera_clip is not None else None)
        return cls(client, camera_clip if video else None, llm_pid)

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
                "user_frames_behind_p50": _p([v.mic_frames - v.user_frames
                                              for v in log.video], 50),
                "user_frames_behind_p95": _p([v.mic_frames - v.user_frames
                                              for v in log.video], 95),
                "avatar": log.avatar_stats(),
                "welcome_video_out": self.client.video_out,
            })
            stats = out["avatar"] or {}
            out["cpu_percent"] = stats.get("cpu_percent")
        return out


# --------------------------------------------------------------------------- turns


@dataclass
class Spoken:
    """A question as the mic will say it, with where its speech starts and ends."""

    text: str
    pcm: bytes
    onset: int  # samples into pcm
    end: int

    @classmethod
    def make(cls, models: Any, text: str) -> Spoken:
        """Piper speech at 16 kHz (0.3 s lead-in), onset and end found by level."""
        pcm = synthesize(models, text)
        return cls(text, pcm, round(speech_start_secs(pcm, USER_RATE) * USER_RATE),
                   round(speech_end_secs(pcm, USER_RATE) * USER_RATE))


@dataclass
class TurnWindow:
    """The received media around one reply, kept for the lip-sync analysis."""

    audio: list[tuple[int, bytes]]  # (pts_us, pcm)
    video: list[tuple[int, bytes]]  # (pts_us, jpeg)
    first_loud_pts: int
    last_loud_pts: int
    rate: int


@dataclass
class Turn:
    """One question -> reply exchange."""

    row: dict[str, Any]
    window: TurnWindow | None = None
    av: dict[str, Any] = field(default_factory=dict)


def _metric(log: SessionLog, start: int, prefix: str, kind: str) -> float | None:
    for _, event in log.events[start:]:
        if (getattr(event, "type", "") == "metrics" and getattr(event, "kind", "") == kind
                and str(getattr(event, "processor", "")).startswith(prefix)):
            return float(event.value_ms)
    return None


def _texts(log: SessionLog, start: int, kind: str) -> str:
    return " ".join(e.text for _, e in log.events[start:]
                    if getattr(e, "type", "") == kind and getattr(e, "final", True))


async def run_turn(session: LiveSession, spoken: Spoken, *, limit_secs: float,
                   keep_window: bool) -> Turn:
    """Ask `spoken`, wait for the whole reply; measure v2v, reaction latency and
    keep the media around the reply."""
    log, mic = session.log, session.mic
    a0, v0, e0 = len(log.audio), len(log.video), len(log.events)
    start = await mic.say(spoken.pcm)
    speech_end_at = mic.time_of_sample(start + spoken.end)
    onset_frame = (start + spoken.onset) // USER_FRAME_SAMPLES
    done = await log.wait_for(lambda: log.reply_done(e0), limit_secs)
    first = log.first_loud_after(a0, speech_end_at)
    row: dict[str, Any] = {
        "question": spoken.text,
        "video": session.video,
        "heard": _texts(log, e0, "user-transcription"),
        "reply": _texts(log, e0, "bot-output"),
        "completed": done is not None,
        "voice_to_voice_ms": None if first is None else round((first.at - speech_end_at) * 1000),
        "asr_ms": _metric(log, e0, "BundledWhisperSTTService", "processing"),
        "llm_first_token_ms": _metric(log, e0, "LocalOpenAILLMService", "ttfb"),
        "tts_first_audio_ms": _metric(log, e0, "SharedPiperTTSService", "ttfb"),
    }
    row["speaking_segments"] = sum(1 for _, e in log.events[e0:]
                                   if getattr(e, "type", "") == "bot-started-speaking")
    loud = [a for a in log.audio[a0:] if a.loud and a.at > speech_end_at]
    if loud:
        row["reply_audio_secs"] = round(
            (loud[-1].pts_us - loud[0].pts_us) / 1e6 + loud[-1].samples / log.output_rate, 2)
        if session.video:  # the avatar pads with digital silence when reply audio runs dry
            inside = [a for a in log.audio[a0:] if loud[0].pts_us < a.pts_us < loud[-1].pts_us]
            row["reply_silence_ms"] = round(
                1000 * sum(a.samples for a in inside if not a.loud) / log.output_rate)
    turn = Turn(row)
    if session.video:
        k = next((i for i in range(v0, len(log.video))
                  if log.video[i].user_frames > onset_frame), None)
        heard = None if k is None else log.video[k]
        row["reaction_latency_ms"] = (None if heard is None else
                                      round((heard.at - mic.frame_sent_at(onset_frame)) * 1000))
        # > 0: the server counted user frames the client never sent (silence filled in
        # while its loop stalled), so its user_frames run ahead and the latency reads low
        row["user_frames_lead"] = max((v.user_frames - v.mic_frames
                                       for v in log.video[:k if k is not None else None]),
                                      default=None)
        if keep_window and loud:
            lo = loud[0].pts_us - 2 * MAX_LAG_FRAMES * FRAME_US
            hi = loud[-1].pts_us + 2 * MAX_LAG_FRAMES * FRAME_US
            turn.window = TurnWindow(
                audio=[(a.pts_us, a.pcm) for a in log.audio[a0:]
                       if lo <= a.pts_us <= hi and a.pcm is not None],
                video=[(v.pts_us, v.jpeg) for v in log.video[v0:]
                       if lo <= v.pts_us <= hi and v.jpeg is not None],
                first_loud_pts=loud[0].pts_us, last_loud_pts=loud[-1].pts_us,
                rate=log.output_rate)
    log.drop_payloads()
    return turn


async def barge_in(session: LiveSession, question: Spoken, interruption: Spoken, *,
                   after_secs: float = 1.0, limit_secs: float = 90.0) -> dict[str, Any]:
    """Ask a long question, speak over the reply `after_secs` into it; measure how
    long the old reply went on and whether any of it came after `bot-interrupted`."""
    log, mic = session.log, session.mic
    a0, e0 = len(log.audio), len(log.events)
    start = await mic.say(question.pcm)
    end_at = mic.time_of_sample(start + question.end)
    first = await log.wait_for(lambda: log.first_loud_after(a0, end_at), limit_secs)
    if first is None:
        return {"error": "no reply audio"}
    await asyncio.sleep(max(0.0, first.at + after_secs - time.monotonic()))
    # speak over speech, not over a pause between two sentences
    await log.wait_for(lambda: log.audio[-1].loud, 5.0)
    e1 = len(log.events)
    start2 = await mic.say(interruption.pcm)
    onset_at = mic.time_of_sample(start2 + interruption.onset)
    heard = await log.wait_for(lambda: log.event_after(e1, "user-transcription"), limit_secs)
    cut = heard[1] if heard is not None else time.monotonic()
    await log.wait_for(lambda: log.reply_done(heard[0] if heard else len(log.events)), limit_secs)
    await asyncio.sleep(0.5)
    old = [a for a in log.audio[a0:] if a.loud and first.at <= a.at < cut]
    interrupted = log.event_after(e1, "bot-interrupted")
    vad = log.event_after(e1, "user-started-speaking")
    row: dict[str, Any] = {
        "question": question.text,
        "reply_before": _texts(log, e0, "bot-output")[:200],
        "interrupted_event": interrupted is not None,
        "reply_was_playing_at_onset": bool(old) and old[-1].at > onset_at,
        "barge_in_ms": round((old[-1].at - onset_at) * 1000) if old else None,
    }
    for name, event in (("interrupt", interrupted), ("user_started", vad)):
        if event is None:
            continue
        late = [a for a in old if a.at > event[1] + 0.1]
        row[f"{'bot_interrupted' if name == 'interrupt' else 'user_started_speaking'}_ms"] = (
            round((event[1] - onset_at) * 1000))
        row[f"stale_audio_ms_after_{name}"] = round(
            1000 * sum(a.samples for a in late) / log.output_rate)
    log.drop_payloads()
    return row


# --------------------------------------------------------------------------- lip sync


def _rms_per_frame(window: TurnWindow, base_pts: int, slots: int) -> np.ndarray:
    """RMS of the received audio in each 40 ms slot from `base_pts` (NaN: none received)."""
    rate = window.rate
    spf = rate * FRAME_US // 1_000_000
    audio = np.full(slots * spf, np.nan, np.float32)
    for pts, pcm in window.audio:
        offset = round((pts - base_pts) * rate / 1e6)
        samples = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        lo, hi = max(0, offset), min(len(audio), offset + len(samples))
        if hi > lo:
            audio[lo:hi] = samples[lo - offset:hi - offset]
    frames = audio.reshape(slots, spf)
    with np.errstate(invalid="ignore"):
        return np.sqrt(np.mean(frames ** 2, axis=1))


def lip_sync(window: TurnWindow) -> dict[str, Any]:
    """jawOpen re-measured on the received frames vs the received audio's envelope.

    Both on the stream clock: slot j = frame pts (base + j * 40 ms); the
    correlation is taken over the reply's slots (first to last non-silent
    chunk) for lags of -400..+400 ms; lag > 0: the jaw follows the sound.
    """
    import cv2

    from avatar.face_analysis import FaceAnalyzer
    from avatar.motion import column_index

    frames = sorted({pts: jpeg for pts, jpeg in window.video}.items())
    if len(frames) < 3 * MAX_LAG_FRAMES:
        return {"error": f"only {len(frames)} frames around the reply"}
    base = frames[0][0]
    slots = (frames[-1][0] - base) // FRAME_US + 1
    jaw = np.full(slots, np.nan, np.float32)
    jaw_col = column_index("jawOpen")
    missing_face = 0
    with FaceAnalyzer(mode="video") as analyzer:
        for pts, jpeg in frames:
            j = (pts - base) // FRAME_US
            bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                missing_face += 1
                continue
            found = analyzer.analyze(np.ascontiguousarray(bgr[:, :, ::-1]),
                                     timestamp_ms=(pts - base) // 1000 + 1)
            if found is None:
                missing_face += 1
            else:
                jaw[j] = found.motion[jaw_col]
    env = _rms_per_frame(window, base, slots)
    core = np.arange(max(MAX_LAG_FRAMES, (window.first_loud_pts - base) // FRAME_US),
                     min(slots - MAX_LAG_FRAMES, (window.last_loud_pts - base) // FRAME_US + 1))
    curve: dict[int, tuple[float, int]] = {}
    for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        x, y = env[core], jaw[core + lag]
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= 20 and np.std(x[ok]) > 0 and np.std(y[ok]) > 0:
            curve[lag] = (float(np.corrcoef(x[ok], y[ok])[0, 1]), int(ok.sum()))
    if not curve:
        return {"error": "too few frames with a face and audio"}
    best = max(curve, key=lambda k: curve[k][0])
    return {"lag_ms": best * FRAME_US // 1000, "r": round(curve[best][0], 3),
            "r_at_0": round(curve.get(0, (float("nan"), 0))[0], 3),
            "slots": int(len(core)), "frames_without_face": missing_face,
            "curve": {k: v for k, v in curve.items()},
            "series": {"t_ms": ((np.arange(slots) * FRAME_US - (window.first_loud_pts - base))
                                / 1000).tolist(),
                       "env": env.tolist(), "jaw": jaw.tolist()}}


def pooled_lip_sync(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One lag for all replies: the correlation curves averaged, weighted by length."""
    curves = [r["curve"] for r in results if "curve" in r]
    if not curves:
        return {"av_offset_ms": None, "lip_sync_r": None}
    pooled = {}
    for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        pairs = [c[lag] for c in curves if lag in c]
        if pairs:
            pooled[lag] = sum(r * n for r, n in pairs) / sum(n for _, n in pairs)
    best = max(pooled, key=lambda k: pooled[k])
    fine = float(best)
    if best - 1 in pooled and best + 1 in pooled:  # parabola through the peak: sub-frame lag
        left, mid, right = pooled[best - 1], pooled[best], pooled[best + 1]
        bend = left - 2 * mid + right
        fine = best + (0.5 * (left - right) / bend if bend < 0 else 0.0)
    return {"av_offset_ms": best * FRAME_US // 1000, "lip_sync_r": round(pooled[best], 3),
            "av_offset_ms_interpolated": round(fine * FRAME_US / 1000, 1),
            "lip_sync_r_at_0": round(pooled.get(0, float("nan")), 3),
            "lip_sync_curve": {str(k * 40): round(v, 3) for k, v in sorted(pooled.items())}}


def plot_av_sync(results: list[dict[str, Any]], pooled: dict[str, Any], out: Path,
                 note: str) -> None:
    """One reply's envelope and jawOpen over time, and the lag curves, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    usable = [r for r in results if "series" in r]
    if not usable:
        return
    shown = max(usable, key=lambda r: r["slots"])
    series = shown["series"]
    t = np.asarray(series["t_ms"]) / 1000
    env = np.asarray(series["env"], np.float64)
    jaw = np.asarray(series["jaw"], np.float64)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.5),
                                      gridspec_kw={"height_ratios": [3, 2]})
    top.plot(t, env / np.nanmax(env), color="tab:blue", lw=1.2,
             label="received reply audio, RMS per 40 ms (normalised)")
    top.set_ylabel("audio envelope")
    top.set_xlabel("seconds from the first non-silent reply chunk (stream clock)")
    right = top.twinx()
    right.plot(t, jaw, color="tab:red", lw=1.2, label="jawOpen re-measured on received frames")
    right.set_ylabel("jawOpen")
    right.set_ylim(bottom=0)
    lines = top.get_lines() + right.get_lines()
    top.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper right")
    top.set_title(f"one reply: best lag {shown['lag_ms']} ms, r {shown['r']} "
                  f"(r at 0 ms {shown['r_at_0']})", fontsize=10)
    for r in usable:
        lags = sorted(r["curve"])
        bottom.plot([k * 40 for k in lags], [r["curve"][k][0] for k in lags], color="0.7", lw=0.8)
    curve = pooled.get("lip_sync_curve") or {}
    bottom.plot([int(k) for k in curve], list(curve.values()), color="black", lw=2,
                label="pooled over replies")
    bottom.axvline(0, color="tab:green", ls="--", lw=1)
    bottom.set_xlabel("lag of jawOpen behind the audio (ms; > 0: mouth after sound)")
    bottom.set_ylabel("correlation r")
    bottom.set_title(f"pooled: av_offset_ms {pooled.get('av_offset_ms')}, "
                     f"lip_sync_r {pooled.get('lip_sync_r')} ({len(usable)} replies; grey: each)",
                     fontsize=10)
    bottom.legend(fontsize=8)
    fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- the user's camera


def camera_photo(path: Path | None) -> tuple[np.ndarray, str]:
    """The user's face: --camera-photo, else skimage's astronaut, else Grace Hopper."""
    from avatar.portrait import default_portrait_path, read_image

    if path is not None:
        return read_image(path), str(path)
    try:
        from skimage.data import astronaut

        return np.asarray(astronaut()), "skimage.data.astronaut"
    except ImportError:
        tqdm.write("scikit-image is not installed: the camera shows Grace Hopper instead "
                   "of the astronaut (pass --camera-photo astronaut.png)", file=sys.stderr)
        return read_image(default_portrait_path()), "grace_hopper (skimage missing)"


def make_camera_clip(photo: np.ndarray, folder: Path, secs: float = 4.0) -> Path:
    """The photo animated with a small scripted head motion (turn, nod, a little
    jaw), rendered by the avatar renderer and encoded like a webcam recording."""
    from avatar.motion import column_index
    from avatar.portrait import Portrait
    from avatar.render import PortraitRenderer
    from avatar.render.portrait_calibration import calibration_for
    from avatar.video_io import VideoWriter

    portrait = Portrait.load(photo, 512)
    renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
    frames = round(secs * 25)
    t = np.arange(frames) / 25.0
    path = folder / "user_camera.mp4"
    with VideoWriter(path, 25.0, 512) as writer:
        for k in range(frames):
            motion = portrait.reference_motion.astype(np.float32).copy()
            motion[column_index("yaw")] += 8.0 * np.sin(2 * np.pi * t[k] / secs)
            motion[column_index("pitch")] += 4.0 * np.sin(2 * np.pi * 2 * t[k] / secs + 1.0)
            jaw = column_index("jawOpen")
            motion[jaw] = min(1.0, motion[jaw] + 0.15 * np.sin(2 * np.pi * 3 * t[k]) ** 2)
            writer.write(renderer.render(motion))
    return path


# --------------------------------------------------------------------------- phases


@dataclass
class Bench:
    """What the phases share: the server URL, spoken questions, camera clip."""

    url: str
    questions: list[Spoken]
    interruption: Spoken
    long_question: Spoken
    camera_clip: Path | None
    size: int
    llm_pid: int | None
    timeout: float = 90.0
    idle_secs: float = 1.0

    async def open(self, video: bool, name: str) -> LiveSession:
        """A new client session."""
        return await LiveSession.open(self.url, video=video, camera_clip=self.camera_clip,
                                      size=self.size, name=name, llm_pid=self.llm_pid)


def _log_turn(prefix: str, row: dict[str, Any]) -> None:
    tqdm.write(f"{prefix}: v2v {row.get('voice_to_voice_ms')} ms reaction "
               f"{row.get('reaction_latency_ms', '-')} ms asr {row.get('asr_ms')} llm "
               f"{row.get('llm_first_token_ms')} tts {row.get('tts_first_audio_ms')} | "
               f"{row.get('heard', '')[:40]!r} -> {row.get('reply', '')[:50]!r}", file=sys.stderr)


async def phase_alternating(bench: Bench, turns: int, per_session: int,
                            barge_ins: int) -> dict[str, Any]:
    """Avatar and voice-only sessions alternating on one server, then barge-ins."""
    turns_out: list[Turn] = []
    sessions: list[dict[str, Any]] = []
    plan = [(video, start) for start in range(0, turns, per_session) for video in (True, False)]
    bar = tqdm(total=2 * turns + barge_ins, desc="turns", file=sys.stderr)
    for video, first in plan:
        session = await bench.open(video, "bench-live-video" if video else "bench-live-voice")
        try:
            await asyncio.sleep(bench.idle_secs)
            block = list(range(first, min(turns, first + per_session)))
            # the same questions, but the voice-only session asks them in another order:
            # llama.cpp's saved prompt states (llm_prompt_cache_mb) would otherwise hand
            # the second session the first one's whole conversation as a cache hit
            order = block if video else block[1:] + block[:1]
            for i in order:
                turn = await run_turn(session, bench.questions[i % len(bench.questions)],
                                      limit_secs=bench.timeout, keep_window=video)
                turns_out.append(turn)
                _log_turn(f"{'avatar' if video else 'voice '} turn {i}", turn.row)
                bar.update()
                await asyncio.sleep(bench.idle_secs)
        finally:
            await session.close()
        sessions.append(session.summary())
    barges: list[dict[str, Any]] = []
    for i in range(barge_ins):
        session = await bench.open(True, "bench-live-barge")
        try:
            await asyncio.sleep(bench.idle_secs)
            row = await barge_in(session, bench.long_question, bench.interruption,
                                 limit_secs=bench.timeout)
        finally:
            await session.close()
        barges.append(row)
        sessions.append(session.summary() | {"barge_in": True})
        tqdm.write(f"barge-in {i}: {row}", file=sys.stderr)
        bar.update()
    bar.close()
    return {"turns": turns_out, "sessions": sessions, "barge_ins": barges}


async def phase_concurrent(bench: Bench, count: int, turns: int) -> dict[str, Any]:
    """`count` video sessions at once, each asking `turns` questions (staggered)."""
    bar = tqdm(total=count * turns, desc="turns", file=sys.stderr)
    opened = [await bench.open(True, f"bench-live-{k}") for k in range(count)]

    async def drive(k: int, session: LiveSession) -> list[Turn]:
        await asyncio.sleep(bench.idle_secs + 4.0 * k)  # replies overlap, not in lock-step
        out = []
        for i in range(turns):
            turn = await run_turn(session, bench.questions[(i * count + k) % len(bench.questions)],
                                  limit_secs=bench.timeout, keep_window=True)
            out.append(turn)
            _log_turn(f"session {k} turn {i}", turn.row)
            bar.update()
            await asyncio.sleep(bench.idle_secs)
        return out

    try:
        per = await asyncio.gather(*(drive(k, s) for k, s in enumerate(opened)))
    finally:
        for session in opened:
            await session.close()
    bar.close()
    return {"turns": [t for turns_k in per for t in turns_k],
            "sessions": [s.summary() for s in opened]}


async def phase_soak(bench: Bench, secs: float, every: float) -> dict[str, Any]:
    """One video session for `secs`: a question every `every` seconds; RSS and stalls."""
    pid = SERVER["pid"] or os.getpid()
    session = await bench.open(True, "bench-live-soak")
    started = time.monotonic()
    rss = [(0.0, rss_mb(pid), rss_mb(bench.llm_pid) if bench.llm_pid else 0.0)]
    turns: list[Turn] = []
    bar = tqdm(total=round(secs), desc="soak s", file=sys.stderr)
    try:
        i = 0
        while (slot := started + i * every) < started + secs:
            await asyncio.sleep(max(0.0, slot - time.monotonic()))
            turn = await run_turn(session, bench.questions[i % len(bench.questions)],
                                  limit_secs=min(bench.timeout, every * 3), keep_window=False)
            turns.append(turn)
            elapsed = time.monotonic() - started
            rss.append((round(elapsed), rss_mb(pid),
                        rss_mb(bench.llm_pid) if bench.llm_pid else 0.0))
            _log_turn(f"soak turn {i} at {elapsed:.0f} s (rss {rss[-1][1]:.0f} MB)", turn.row)
            bar.update(min(round(secs), round(elapsed)) - bar.n)
            i += 1
            if elapsed >= secs:  # a slow turn ran past the end: no turns beyond it
                break
        await asyncio.sleep(max(0.0, started + secs - time.monotonic()))
        bar.update(round(secs) - bar.n)
    finally:
        rss.append((round(time.monotonic() - started), rss_mb(pid),
                    rss_mb(bench.llm_pid) if bench.llm_pid else 0.0))
        await session.close()
        bar.close()
    return {"turns": turns, "sessions": [session.summary()],
            "rss_mb": [(t, round(a, 1), round(b, 1)) for t, a, b in rss]}


# --------------------------------------------------------------------------- summary


def _p(values: list[Any], q: float) -> float | None:
    value = percentile([float(v) for v in values if v is not None], q)
    return None if value is None else round(value, 1)


def summarise(args: argparse.Namespace, result: dict[str, Any], meta: dict[str, Any],
              lips: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON: the brief's figures at the top level, details below."""
    turns: list[Turn] = result["turns"]
    video_rows = [t.row for t in turns if t.row["video"]]
    voice_rows = [t.row for t in turns if not t.row["video"]]
    sessions = result["sessions"]
    video_sessions = [s for s in sessions if s["video"]]
    frames = sum(s["frames"] for s in video_sessions)
    audio_secs = sum(s["audio_secs"] for s in video_sessions)
    out: dict[str, Any] = {
        "tag": meta["tag"],
        "mode": meta["mode"],
        "model": args.model,
        "video_fps": round(frames / audio_secs, 2) if audio_secs else None,
        "video_fps_per_session": [s["video_fps"] for s in video_sessions],
        "distinct_fps_per_session": [s["distinct_fps"] for s in video_sessions],
        "frame_interval_ms_p95": max((s["frame_interval_ms_p95"] for s in video_sessions),
                                     default=None),
        "max_frame_gap_ms": max((s["max_frame_gap_ms"] for s in video_sessions), default=None),
    }
    pooled = pooled_lip_sync(lips)
    if lips:
        out.update({k: pooled[k] for k in ("av_offset_ms", "lip_sync_r", "lip_sync_r_at_0",
                                           "av_offset_ms_interpolated")})
        out["av_offset_ms_per_reply"] = [r.get("lag_ms") for r in lips]
        out["lip_sync_r_per_reply"] = [r.get("r") for r in lips]
    reaction = [r.get("reaction_latency_ms") for r in video_rows]
    trusted = [r.get("reaction_latency_ms") for r in video_rows
               if (r.get("user_frames_lead") or 0) <= 0]
    out["reaction_latency_ms"] = _p(trusted, 50)
    out["reaction_latency_ms_p95"] = _p(trusted, 95)
    out["reaction_latency_ms_all"] = reaction
    out["reaction_turns_excluded"] = len(reaction) - len(trusted)
    out["reply_silence_ms_p50"] = _p([r.get("reply_silence_ms") for r in video_rows], 50)
    out["speaking_segments_per_reply"] = [r.get("speaking_segments") for r in video_rows]
    v2v = [r["voice_to_voice_ms"] for r in video_rows]
    out["voice_to_voice_ms_p50"] = _p(v2v, 50)
    out["voice_to_voice_ms_p95"] = _p(v2v, 95)
    if voice_rows:
        only = [r["voice_to_voice_ms"] for r in voice_rows]
        out["voice_only_voice_to_voice_ms_p50"] = _p(only, 50)
        out["voice_only_voice_to_voice_ms_p95"] = _p(only, 95)
        if out["voice_to_voice_ms_p50"] is not None and out["voice_only_voice_to_voice_ms_p50"]:
            out["avatar_adds_ms_p50"] = round(out["voice_to_voice_ms_p50"]
                                              - out["voice_only_voice_to_voice_ms_p50"], 1)
        out["voice_only_voice_to_voice_ms"] = only
    out["voice_to_voice_ms"] = v2v
    def stage_sum(rows: list[dict[str, Any]]) -> float | None:
        return _p([r["asr_ms"] + r["llm_first_token_ms"] + r["tts_first_audio_ms"]
                   for r in rows if None not in (r["asr_ms"], r["llm_first_token_ms"],
                                                 r["tts_first_audio_ms"])], 50)

    # where the avatar's extra time goes: slower stages (CPU contention) vs the rest
    # (reply audio waiting for the avatar's next block, pacing, the wire)
    out["stage_sum_ms_p50_avatar"] = stage_sum(video_rows)
    if voice_rows:
        out["stage_sum_ms_p50_voice_only"] = stage_sum(voice_rows)
        if None not in (out.get("avatar_adds_ms_p50"), out["stage_sum_ms_p50_avatar"],
                        out["stage_sum_ms_p50_voice_only"]):
            out["avatar_adds_outside_stages_ms"] = round(
                out["avatar_adds_ms_p50"] - out["stage_sum_ms_p50_avatar"]
                + out["stage_sum_ms_p50_voice_only"], 1)
    for stage in ("asr_ms", "llm_first_token_ms", "tts_first_audio_ms"):
        out[f"{stage}_p50_avatar"] = _p([r[stage] for r in video_rows], 50)
        if voice_rows:
            out[f"{stage}_p50_voice_only"] = _p([r[stage] for r in voice_rows], 50)
    barges = result.get("barge_ins") or []
    if barges:
        values = [b.get("barge_in_ms") for b in barges if b.get("reply_was_playing_at_onset")]
        out["barge_in_ms"] = _p(values, 50)
        out["barge_in_ms_all"] = [b.get("barge_in_ms") for b in barges]
        stale = [b["stale_audio_ms_after_interrupt"] for b in barges
                 if "stale_audio_ms_after_interrupt" in b]
        out["stale_audio_ms_after_interrupt"] = max(stale) if stale else None
        out["bot_interrupted_ms_all"] = [b.get("bot_interrupted_ms") for b in barges]
        late = [b["stale_audio_ms_after_user_started"] for b in barges
                if "stale_audio_ms_after_user_started" in b]
        out["stale_audio_ms_after_user_started"] = max(late) if late else None
        out["barge_ins_without_bot_interrupted"] = sum(not b.get("interrupted_event")
                                                       for b in barges)
    out["cpu_percent"] = [s.get("cpu_percent") for s in video_sessions]
    out["process_cpu_percent"] = {
        "avatar_sessions": _p([s["process_cpu_percent"] for s in video_sessions], 50),
        "voice_only_sessions": _p([s["process_cpu_percent"] for s in sessions
                                   if not s["video"]], 50),
        "whole_run": meta["cpu_run"]["process_cpu_percent"],
    }
    out["llm_cpu_percent_whole_run"] = meta["cpu_run"]["llm_cpu_percent"]
    out["user_frames_lead_max"] = max((s["user_frames_lead"] for s in video_sessions
                                       if s["user_frames_lead"] is not None), default=None)
    if "rss_mb" in result:
        rss = result["rss_mb"]
        out.update({"rss_mb_start": rss[0][1], "rss_mb_end": rss[-1][1],
                    "llm_rss_mb_start": rss[0][2], "llm_rss_mb_end": rss[-1][2],
                    "rss_mb_series": rss, "soak_secs": args.soak})
    out["turns"] = len(turns)
    out["answered"] = sum(1 for t in turns if t.row["completed"])
    out["goals"] = _goals(out, meta["mode"])
    out["load_avg"] = meta["load_avg"]
    out["load_avg_1m"] = [meta["load_avg"][0], round(os.getloadavg()[0], 2)]
    out["camera"] = meta["camera"]
    out["llm_batch_threads"] = meta["llm_batch_threads"]
    out["avatar_nice"] = meta["avatar_nice"]
    out["machine_costs_ms"] = meta["costs"]
    out["welcome_video_out"] = next((s["welcome_video_out"] for s in video_sessions), None)
    out["startup_s"] = meta["startup_s"]
    out["wall_s"] = round(time.monotonic() - meta["t0"], 1)
    out["sessions"] = sessions
    return out


def _goals(out: dict[str, Any], mode: str) -> dict[str, bool | None]:
    def check(value: Any, ok: Callable[[float], bool]) -> bool | None:
        return None if value is None else bool(ok(value))

    fps_goal = 20.0 if mode.startswith("sessions") else 24.0
    fps = out.get("video_fps_per_session") or []
    goals = {
        f"video_fps>={fps_goal:g}": check(min(fps) if fps else None, lambda v: v >= fps_goal),
        "|av_offset_ms|<=40": check(out.get("av_offset_ms"), lambda v: abs(v) <= 40),
        "reaction_latency_ms<=300": check(out.get("reaction_latency_ms"), lambda v: v <= 300),
        "voice_to_voice_ms_p50<=1200": check(out.get("voice_to_voice_ms_p50"),
                                             lambda v: v <= 1200),
        "voice_to_voice_ms_p95<=2000": check(out.get("voice_to_voice_ms_p95"),
                                             lambda v: v <= 2000),
        "max_frame_gap_ms<=1000": check(out.get("max_frame_gap_ms"), lambda v: v <= 1000),
    }
    if "stale_audio_ms_after_interrupt" in out:
        goals["stale_audio_ms_after_interrupt==0"] = check(
            out["stale_audio_ms_after_interrupt"], lambda v: v == 0)
    return goals


# --------------------------------------------------------------------------- main


async def build_runtime(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    """Models, the embedded LLM, the avatar assets: the product's defaults, warmed up.

    Returns (runtime, config, endpoint); the caller stops `endpoint.server`.
    """
    from agent.knowledge_retrieval import KnowledgeIndex
    from agent.llm_server import aresolve_llm_endpoint
    from agent.persona import build_system_prompt
    from agent.settings import AgentSettings
    from avatar.live import AvatarAssets
    from pipelines.face.avatar_node import AvatarNodeParams
    from pipelines.server.app import ServerConfig, VoiceRuntime
    from pipelines.speech.models import SpeechModels
    from pipelines.voice_pipeline import LLMParams, TurnParams

    settings = AgentSettings.load(llm_embedded_model=args.model, llm_max_tokens=args.max_tokens,
                                  llm_threads=args.llm_threads,
                                  llm_batch_threads=args.llm_batch_threads)
    models = SpeechModels.bundled()
    endpoint = await aresolve_llm_endpoint(settings)
    try:
        assets = await asyncio.to_thread(AvatarAssets.load)
        runtime = VoiceRuntime(
            models=models,
            # the shared CPU can be saturated: a long timeout, not the product's 30 s
            llm=replace(LLMParams.from_settings(settings, endpoint), timeout_s=120.0),
            system_prompt=build_system_prompt(settings),
            avatar=assets,
            # the product's knowledge routing (fixed replies, fact notes, answer rules)
            knowledge=KnowledgeIndex.from_settings(settings),
        )
        models.warm_up()
        await runtime.warm_up_llm()
    except BaseException:
        if endpoint.server is not None:
            endpoint.server.stop()
        raise
    turn = TurnParams()
    if args.first_phrase_words is not None:  # an A/B of the first TTS chunk's length
        turn = replace(turn, first_phrase_words=args.first_phrase_words,
                       first_clause_min_words=args.first_phrase_words)
    config = ServerConfig(turn=turn, send_metrics=True, max_sessions=max(2, args.sessions),
                          avatar_node=AvatarNodeParams(worker_nice=args.avatar_nice),
                          adapt_quality=not getattr(args, "no_adapt", False))
    return runtime, config, endpoint


def _costs(assets: Any) -> dict[str, float]:
    costs = assets.costs
    return {"render_512": round(costs.render_ms[512], 2),
            "render_256": round(costs.render_ms[256], 2),
            "jpeg_512": round(costs.jpeg_ms[512], 2),
            "block": round(costs.block_ms, 2),
            "camera_analysis": round(costs.analysis_ms, 2)}


def serve(args: argparse.Namespace) -> None:
    """--serve-port: only the server, in this process; one JSON line once it listens."""
    import signal

    from pipelines.server.app import create_app, make_server

    async def run() -> None:
        from loguru import logger

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        runtime, config, endpoint = await build_runtime(args)
        try:
            app = create_app(runtime, config)
            server = make_server(app, "127.0.0.1", args.serve_port, config.limits)
            server.config.log_level = "warning"
            task = asyncio.create_task(server.serve())
            while not server.started:
                if task.done():
                    await task
                await asyncio.sleep(0.05)
            llm_pid = endpoint.server.pid if endpoint.server is not None else None
            print(json.dumps({"ready": True, "pid": os.getpid(), "llm_pid": llm_pid,
                              "costs": _costs(runtime.avatar)}), flush=True)
            await task
        finally:
            if endpoint.server is not None:
                endpoint.server.stop()

    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


@contextlib.asynccontextmanager
async def server_under_test(args: argparse.Namespace) -> Any:
    """Yields (url, llm_pid, costs): a server in its own process (default, as deployed:
    the bench client's own work, decoding the camera clip and receiving video, must
    not share the server's GIL), or in this process with --in-process."""
    import subprocess

    if args.in_process:
        runtime, config, endpoint = await build_runtime(args)
        try:
            url, server, thread = start_server(runtime, config)
            try:
                yield url, (endpoint.server.pid if endpoint.server else None), \
                    _costs(runtime.avatar)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
        finally:
            if endpoint.server is not None:
                endpoint.server.stop()
        return
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    command = [sys.executable, str(SCRIPT), "--serve-port", str(port),
               "--model", args.model, "--max-tokens", str(args.max_tokens),
               "--llm-threads", str(args.llm_threads), "--sessions", str(args.sessions),
               "--llm-batch-threads", str(args.llm_batch_threads),
               "--avatar-nice", str(args.avatar_nice),
               *(["--no-adapt"] if getattr(args, "no_adapt", False) else []),
               *([] if args.first_phrase_words is None
                 else ["--first-phrase-words", str(args.first_phrase_words)])]
    process = await asyncio.to_thread(subprocess.Popen, command, stdout=subprocess.PIPE,
                                      text=True)
    try:
        assert process.stdout is not None
        line = await asyncio.to_thread(process.stdout.readline)
        if not line:
            raise RuntimeError(f"the server process exited ({process.wait()}) before it was ready")
        ready = json.loads(line)
        SERVER["pid"] = ready["pid"]
        yield f"ws://127.0.0.1:{port}/ws", ready["llm_pid"], ready["costs"]
    finally:
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Start everything, run the chosen mode, analyse, return the summary."""
    from pipelines.speech.models import SpeechModels

    if not args.verbose:
        from loguru import logger

        logger.remove()  # pipecat logs every frame at DEBUG: keep warnings only
        logger.add(sys.stderr, level="WARNING")
    t0 = time.monotonic()
    load = [round(v, 2) for v in os.getloadavg()]
    async with server_under_test(args) as (url, llm_pid, costs):
        models = SpeechModels.bundled()  # the client's piper speaks the questions
        with tempfile.TemporaryDirectory(prefix="bench_live_") as tmp:
            photo, camera_source = camera_photo(args.camera_photo)
            clip = None if args.no_camera else make_camera_clip(photo, Path(tmp))
            bench = Bench(url=url, questions=[Spoken.make(models, q) for q in QUESTIONS],
                          interruption=Spoken.make(models, INTERRUPTION),
                          long_question=Spoken.make(models, LONG_QUESTION),
                          camera_clip=clip, size=args.size, llm_pid=llm_pid)
            startup_s = round(time.monotonic() - t0, 1)
            cpu0 = CpuMark.now(llm_pid)
            if args.soak:
                mode = f"soak{round(args.soak)}"
                result = await phase_soak(bench, args.soak, args.turn_every)
            elif args.sessions > 1:
                mode = f"sessions{args.sessions}"
                result = await phase_concurrent(bench, args.sessions, args.turns)
            else:
                mode = "default"
                result = await phase_alternating(bench, args.turns, args.turns_per_session,
                                                 args.barge_ins)
            cpu_run = CpuMark.now(llm_pid).since(cpu0)
    windows = [t for t in result["turns"] if t.window is not None]
    lips = []
    for turn in tqdm(windows, desc="lip sync", file=sys.stderr):
        assert turn.window is not None
        turn.av = lip_sync(turn.window)
        turn.row["av"] = {k: v for k, v in turn.av.items() if k not in ("curve", "series")}
        lips.append(turn.av)
    tag = args.tag or (mode if args.model == "qwen2.5-0.5b" else f"{mode}_{args.model}")
    meta = {"tag": tag, "mode": mode, "t0": t0, "load_avg": load, "camera": camera_source,
            "cpu_run": cpu_run, "startup_s": startup_s, "costs": costs,
            "server": "in-process" if args.in_process else "own process",
            "llm_batch_threads": args.llm_batch_threads, "avatar_nice": args.avatar_nice}
    summary = summarise(args, result, meta, lips)
    if lips and args.plot is not None:
        note = (f"{mode}, {args.model}, load avg {summary['load_avg_1m']}: "
                f"received over loopback websocket; jawOpen re-measured with FaceAnalyzer")
        plot_av_sync(lips, pooled_lip_sync(lips), args.plot, note)
        summary["plot"] = str(args.plot.relative_to(ROOT) if args.plot.is_absolute()
                              and ROOT in args.plot.parents else args.plot)
    summary["rows"] = [t.row for t in result["turns"]]
    if result.get("barge_ins"):
        summary["barge_in_rows"] = result["barge_ins"]
    return summary


def main() -> None:
    from pipelines.face.avatar_node import AvatarNodeParams

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=None,
                        help="questions per kind of session (default 8; 4 with --sessions)")
    parser.add_argument("--turns-per-session", type=int, default=4)
    parser.add_argument("--barge-ins", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=1,
                        help="> 1: that many concurrent video sessions")
    parser.add_argument("--soak", type=float, default=0.0,
                        help="seconds of one video session with a question every --turn-every")
    parser.add_argument("--turn-every", type=float, default=20.0)
    parser.add_argument("--model", default="qwen2.5-0.5b", choices=["qwen2.5-0.5b", "smollm2"])
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--llm-threads", type=int, default=1)
    parser.add_argument("--llm-batch-threads", type=int, default=1,
                        help="llama.cpp threads reading the prompt (the product's default: 1)")
    parser.add_argument("--first-phrase-words", type=int, default=None,
                        help="first TTS chunk's minimum words (default: TurnParams')")
    parser.add_argument("--avatar-nice", type=int, default=AvatarNodeParams().worker_nice,
                        help="the avatar worker thread's nice value (AvatarNodeParams)")
    parser.add_argument("--size", type=int, default=512, help="video size asked in hello")
    parser.add_argument("--no-adapt", action="store_true",
                        help="fixed video quality, no admission by capacity (ServerConfig)")
    parser.add_argument("--camera-photo", type=Path, default=None,
                        help="photo of the user's face (default: skimage's astronaut)")
    parser.add_argument("--no-camera", action="store_true")
    parser.add_argument("--tag", default=None, help="results file: bench/results/live_TAG.json")
    parser.add_argument("--plot", type=Path, default=None,
                        help="lip-sync PNG (default mode: bench/results/live_av_sync.png)")
    parser.add_argument("--no-save", action="store_true", help="print only (development)")
    parser.add_argument("--verbose", action="store_true", help="keep pipecat's DEBUG log")
    parser.add_argument("--in-process", action="store_true",
                        help="run the server in this process (shares the client's GIL)")
    parser.add_argument("--serve-port", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_port is not None:
        serve(args)
        return
    if args.turns is None:
        args.turns = 4 if args.sessions > 1 else 8
    if args.turns < 1 or args.sessions < 1 or args.soak < 0:
        parser.error("--turns and --sessions must be >= 1, --soak >= 0")
    if args.plot is None and not args.soak and args.sessions == 1 and not args.no_save:
        args.plot = RESULTS / "live_av_sync.png"
    summary = asyncio.run(measure(args))
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"live_{summary['tag']}.json").write_text(json.dumps(summary, indent=1))
    summary.pop("rows")
    summary.pop("barge_in_rows", None)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
