"""The library part of bench/voice/barge_in.py: one clip spoken over a reply, a microphone
noise floor, loudness matching, the per-server summary and the onset tap's cost.

Why here: the script keeps the servers it compares and its flags; how a clip is
played over a reply and what the summary's keys mean live here.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from benchkit.stats import percentile
from benchkit.visitor import speech_start_secs

VOICED = 300  # int16 peak above which a received chunk is speech, not the pacer's silence


def noisy_microphone(client: Any, level_db: float, seed: int = 0) -> None:
    """Add a white noise floor at `level_db` dBFS (RMS) to everything `client` sends.

    A real microphone is never digitally silent, and pipecat's VAD gates on a
    smoothed loudness that climbs from 0 after digital zeros: with zeros around
    the clip the VAD start comes later than it would from a real microphone.
    """
    send = client.send_audio
    rng = np.random.default_rng(seed)
    sigma = 32768.0 * 10.0 ** (level_db / 20.0)

    async def send_with_noise(chunk: bytes) -> None:
        audio = np.frombuffer(chunk, np.int16) + rng.normal(0.0, sigma, len(chunk) // 2)
        await send(np.clip(audio, -32768, 32767).astype(np.int16).tobytes())

    setattr(client, "send_audio", send_with_noise)  # noqa: B010  (an instance, not the class)


async def run_clip(url: str, question: bytes, clip: bytes,
                   noise_db: float | None = None) -> dict[str, Any]:
    """One session: ask, play `clip` over the reply, watch what the bot does."""
    from sdk.client import VoiceClient
    from sdk.items import BotAudio

    client = await VoiceClient.connect(url, client_name="bench-barge-in", busy_retry_secs=60)
    if noise_db is not None:
        noisy_microphone(client, noise_db)
    items: list[tuple[float, Any]] = []
    first_audio = asyncio.Event()
    ended = asyncio.Event()
    clip_started: list[float] = []

    async def listen() -> None:
        async for item in client.receive():
            now = time.monotonic()
            items.append((now, item))
            kind = getattr(item, "type", "")
            if isinstance(item, BotAudio):
                first_audio.set()
            elif clip_started and kind in ("bot-interrupted", "closed"):
                await asyncio.sleep(1.0)  # let the last old audio arrive
                ended.set()
                return

    listener = asyncio.create_task(listen())
    try:
        if not await client.speak_until(question, first_audio, timeout_secs=120):
            raise TimeoutError("no reply audio within 120 s")
        await asyncio.sleep(0.6)
        clip_started.append(time.monotonic())
        onset = clip_started[0] + speech_start_secs(clip, 16000)
        # over: interrupted, or 6 s after the clip (a pause resumes sooner)
        await client.speak_until(clip, ended, timeout_secs=6.0)
    finally:
        listener.cancel()
        await client.close()

    kinds = [(t, getattr(item, "type", "")) for t, item in items]
    interrupted = any(k == "bot-interrupted" and t >= clip_started[0] for t, k in kinds)
    voiced = [t for t, item in items if isinstance(item, BotAudio)
              and np.abs(np.frombuffer(item.pcm, np.int16)).max(initial=0) > VOICED]
    after = [t for t in voiced if t >= onset]
    # the first silence of >= 0.2 s in the voiced chunks after the onset (or their end)
    stop_at = after[-1] if after else None
    for a, b in zip(after, after[1:], strict=False):
        if b - a >= 0.2:
            stop_at = a
            break
    resumed_at = next((t for t in after if stop_at is not None and t > stop_at + 0.2), None)
    return {
        "interrupted": interrupted,
        "stop_ms": None if stop_at is None else round((stop_at - onset) * 1000.0),
        "resumed": bool(resumed_at is not None and not interrupted),
        "resume_ms": (None if resumed_at is None or stop_at is None
                      else round((resumed_at - stop_at) * 1000.0)),
        "transcripts": [getattr(i, "text", "") for _, i in items
                        if getattr(i, "type", "") == "user-transcription"],
    }


def voiced_rms(pcm: bytes) -> float:
    """RMS over the 20 ms frames within 30 dB of the loudest (the speech, not the pauses)."""
    audio = np.frombuffer(pcm, np.int16).astype(np.float64)
    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return float(np.sqrt((rms[rms > rms.max() / 31.6] ** 2).mean()))


def scaled(pcm: bytes, level: float) -> bytes:
    """`pcm` at voiced RMS `level` (peaks clipped at full scale)."""
    audio = np.frombuffer(pcm, np.int16).astype(np.float64)
    gain = level / max(voiced_rms(pcm), 1.0)
    return np.clip(audio * gain, -32768, 32767).astype(np.int16).tobytes()


def summarise(rows: list[dict[str, Any]], server: str) -> dict[str, Any]:
    """False/missed interruption shares, pauses and stop times for one server."""
    mine = [r for r in rows if r["server"] == server]
    speech = [r for r in mine if r["should_interrupt"]]
    other = [r for r in mine if not r["should_interrupt"]]
    by_label: dict[str, dict[str, int]] = {}
    for r in mine:
        entry = by_label.setdefault(r["label"], {"clips": 0, "interrupted": 0})
        entry["clips"] += 1
        entry["interrupted"] += int(r["interrupted"])
    stops = [float(r["stop_ms"]) for r in speech
             if r["stop_ms"] is not None and r["interrupted"]]
    pauses = [float(r["stop_ms"]) for r in other if r["stop_ms"] is not None and r["resumed"]]
    return {
        "clips": len(mine),
        "false_interruptions": (round(sum(r["interrupted"] for r in other) / len(other), 3)
                                if other else None),
        "false_interruptions_human": _share([r for r in other if r["source"] == "human"]),
        "missed_interruptions": (round(sum(not r["interrupted"] for r in speech) / len(speech), 3)
                                 if speech else None),
        "missed_interruptions_human": _share([r for r in speech if r["source"] == "human"],
                                             missed=True),
        "barge_in_ms_p50": percentile(stops, 50),
        "barge_in_ms_p95": percentile(stops, 95),
        "backchannel_pause_ms_p50": percentile(pauses, 50),
        "resumed_share": (round(sum(r["resumed"] for r in other) / len(other), 3)
                          if other else None),
        **_pauses(mine, other),
        "load1_mean": round(float(np.mean([r["load1"] for r in mine])), 2) if mine else None,
        "by_label": by_label,
    }


def _pauses(mine: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    """false_pauses and the gaps they left, quick pauses confirmed or not (ours only)."""
    if not other or other[0]["counters"] is None:
        return {"false_pauses": None}
    paused = [r for r in other
              if r["counters"]["paused"] + r["counters"]["quick_paused"] > 0]
    played_on = [r for r in paused if not r["interrupted"]]
    quick = {key: sum(r["counters"][f"quick_{key}"] for r in mine)
             for key in ("paused", "confirmed", "resumed")}
    return {
        "false_pauses": round(len(paused) / len(other), 3),
        "false_pauses_quick_only": round(sum(
            r["counters"]["paused"] == 0 for r in paused) / len(other), 3),
        "false_pause_gap_ms_mean": (round(float(np.mean([r["pause_gap_ms"] for r in played_on])))
                                    if played_on else None),
        "false_pause_gap_ms_max": (max(r["pause_gap_ms"] for r in played_on)
                                   if played_on else None),
        "quick": quick,
    }


def _share(rows: list[dict[str, Any]], missed: bool = False) -> float | None:
    if not rows:
        return None
    hits = sum((not r["interrupted"]) if missed else r["interrupted"] for r in rows)
    return round(hits / len(rows), 3)


def tap_cost(windows: int = 3000) -> dict[str, float]:
    """CPU per 32 ms window: silero as pipecat runs it, and with the onset tap (its
    score kept, one RMS), alternating on the same speech-like noise; microseconds."""
    from pipecat.audio.vad.silero import SileroVADAnalyzer

    from pipelines.turns.speech_onset import OnsetDetector, WindowTapSileroVAD

    plain, tapped = SileroVADAnalyzer(), WindowTapSileroVAD()
    detector = OnsetDetector()
    for analyzer in (plain, tapped):
        analyzer.set_sample_rate(16000)
    rng = np.random.default_rng(0)
    audio = (rng.standard_normal((windows, 512)) * 3000).astype(np.int16)
    spent = {"silero_us": 0.0, "silero_with_tap_us": 0.0}
    for window in audio:
        buffer = window.tobytes()
        t0 = time.perf_counter()
        plain.voice_confidence(buffer)
        t1 = time.perf_counter()
        tapped.voice_confidence(buffer)
        for scored in tapped.take_windows():
            detector.feed(scored)
        t2 = time.perf_counter()
        spent["silero_us"] += t1 - t0
        spent["silero_with_tap_us"] += t2 - t1
    return {key: round(value / windows * 1e6, 1) for key, value in spent.items()}
