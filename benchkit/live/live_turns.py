"""One question -> reply exchange, and one barge-in, over a live session.

Why here: the live benches (bench/live/live.py, bench/live/adapt.py) ask the same way and
measure voice-to-voice, reaction latency and barge-in from the same instants.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from benchkit.live.live_client import (
    FRAME_US,
    MAX_LAG_FRAMES,
    USER_FRAME_SAMPLES,
    USER_RATE,
    LiveSession,
    SessionLog,
)
from benchkit.live.live_stages import face_path
from benchkit.visitor import speech_end_secs, speech_start_secs, synthesize

#: Asked before a barge-in: long enough that the reply is still going 1 s in.
LONG_QUESTION = ("Please tell me about your opening hours and your return policy "
                 "and your delivery options.")


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


#: whisper's service names (bundled; speculative, the product's default)
WHISPER = ("BundledWhisperSTTService", "SpeculativeWhisperSTTService")


def _metric(log: SessionLog, start: int, prefix: str | tuple[str, ...],
            kind: str) -> float | None:
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
        "asr_ms": _metric(log, e0, WHISPER, "processing"),
        "llm_first_token_ms": _metric(log, e0, "LocalOpenAILLMService", "ttfb"),
        "tts_first_audio_ms": _metric(log, e0, "SharedPiperTTSService", "ttfb"),
    }
    # the instants the server's stage marks are joined to (live_stages.turn_stages)
    row["at"] = {"speech_start": mic.time_of_sample(start + spoken.onset),
                 "speech_end": speech_end_at, "first_audio": None if first is None else first.at}
    if session.video:  # the face's way out for this reply (its last `metrics` event)
        row["face_path"] = face_path(log.avatar_stats(), row["at"]["first_audio"],
                                     speech_end_at)
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
        if keep_window and loud and any(v.jpeg is not None for v in log.video[v0:]):
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
