"""Barge-in on recorded sounds: which ones stop the bot, and how fast real speech does.

Two servers share one runtime (the bundled whisper, piper, the embedded LLM):
`pipecat` (every VAD start interrupts: pipecat's own barge-in) and `ours`
(pipelines/turns/barge_in.py: a sound pauses the reply, words interrupt it, a
backchannel / cough / laugh lets it play on). For every clip of the labelled
set (bench/barge_in_set.py: human backchannels and speech cut from real
recordings, acted coughs and laughs, a few TTS ones), alternating the two
servers clip by clip so both see the same machine state:

1. a fresh session asks a question with a long answer;
2. 0.6 s into the reply audio the clip is streamed at real-time pace;
3. the client then sends silence until the reply is interrupted, or for 6 s.

Every clip is scaled to the loudness of the spoken question (the RMS of its
voiced frames), as a microphone's gain control would: the meeting recordings
are quiet (AMI peaks at 0.08) and would otherwise never reach the VAD.

Per clip, on the client's clock:
- interrupted: a `bot-interrupted` event came after the clip started;
- stop_ms: clip onset (first loud 20 ms) -> the last voiced chunk of the reply
  before it fell silent (a pause or an interruption; the avatar and the pacer
  send silence, so "silent" is judged by level, not by the absence of audio);
- resumed: voiced reply audio came again after that silence, with no interruption.

Summary per server: false_interruptions (share of clips that should not
interrupt but did), missed_interruptions (speech clips that did not),
barge_in_ms_p50 (stop_ms over speech clips), pause_ms_p50 (stop_ms over the
others, ours only: how long a backchannel silences the bot is in resume_ms).
false_pauses (ours only, from the session's barge-in strategy): the share of the
clips that should not interrupt that paused the reply at all (a quick pause or
a VAD one), and false_pause_gap_ms_mean, the mean silence such a clip put into a
reply that then played on (a pause that resumes is still heard). quick: how
many quick pauses (pipelines/turns/speech_onset.py) the VAD confirmed or not.

Variants: `pipecat`, `ours` (VAD start --vad-start), `ours_vad010` (VAD start
0.1 s), `ours_quick` (VAD start 0.1 s and the quick pause on silero's window
score, `TurnParams.quick_pause_secs`); `ours*` without "quick" have it off.
`ours`, `ours_vad010` and `ours_quick` let words whisper deems a failed decode
play the reply on (pipelines/speech/transcript_confidence.py); `ours_quick_anywords`
is `ours_quick` with any words interrupting, as before that.

Usage: python bench/barge_in.py [--labels speech backchannel ...] [--limit N] [--every N]
       [--servers pipecat ours ours_vad010 ours_quick ours_quick_anywords] [--vad-start 0.2]
       [--quick-pause 0.3] [--noise-db -60] [--out bench/results/barge_in.json]
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm

from benchkit.barge_in_set import barge_in_clips
from benchkit.server import start_server
from benchkit.stats import percentile
from benchkit.voice import speech_start_secs, synthesize

QUESTION = "Please tell me everything about delivery and returns and gift cards."
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
    from sdk.connection import BotAudio

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


def _voiced_rms(pcm: bytes) -> float:
    """RMS over the 20 ms frames within 30 dB of the loudest (the speech, not the pauses)."""
    audio = np.frombuffer(pcm, np.int16).astype(np.float64)
    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    return float(np.sqrt((rms[rms > rms.max() / 31.6] ** 2).mean()))


def _scaled(pcm: bytes, level: float) -> bytes:
    """`pcm` at voiced RMS `level` (peaks clipped at full scale)."""
    audio = np.frombuffer(pcm, np.int16).astype(np.float64)
    gain = level / max(_voiced_rms(pcm), 1.0)
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


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from agent.settings import AgentSettings
    from benchkit.runtime import bench_runtime, voice_only
    from pipelines.server.app import ServerConfig
    from pipelines.voice_pipeline import TurnParams

    clips = [c for c in barge_in_clips() if not args.labels or c.label in args.labels]
    if args.every > 1:  # a stratified subset: every n-th clip of each label
        clips = [c for label in dict.fromkeys(c.label for c in clips)
                 for c in [c for c in clips if c.label == label][:: args.every]]
    if args.limit:
        clips = clips[: args.limit]
    load_start = os.getloadavg()
    # the server's runtime, voice only, no knowledge routing (the reply is a long one)
    runtime, llm_server = await bench_runtime(voice_only(AgentSettings.load(), knowledge=False))
    models = runtime.models
    try:
        turns = {
            "pipecat": TurnParams(backchannel_barge_in=False, vad_start_secs=args.vad_start),
            "ours": TurnParams(backchannel_barge_in=True, vad_start_secs=args.vad_start),
            # a false start only pauses now: how much does a shorter VAD start buy?
            "ours_vad010": TurnParams(backchannel_barge_in=True, vad_start_secs=0.1,
                                      quick_pause_secs=0.0),
            # ...and silero's window score pauses the reply before the VAD commits
            "ours_quick": TurnParams(backchannel_barge_in=True, vad_start_secs=0.1,
                                     quick_pause_secs=args.quick_pause),
        }
        turns["ours"] = replace(turns["ours"], quick_pause_secs=0.0)
        # the quick pause, with any words interrupting (before whisper's confidence was used)
        turns["ours_quick_anywords"] = replace(turns["ours_quick"], unsure_words_interrupt=True)
        sessions: dict[str, list[Any]] = {name: [] for name in args.servers}
        servers = {name: start_server(runtime, ServerConfig(
            turn=turns[name], max_sessions=2, on_session=sessions[name].append))
            for name in args.servers}
        question = synthesize(models, QUESTION)
        level = _voiced_rms(question)
        rows: list[dict[str, Any]] = []
        for clip in tqdm(clips, desc="clips", file=sys.stderr):
            for name in args.servers:
                url = servers[name][0]
                before = len(sessions[name])
                result = await run_clip(url, question, _scaled(clip.pcm, level),
                                        noise_db=args.noise_db)
                strategy = (sessions[name][-1].barge_in if len(sessions[name]) > before
                            else None)
                row = {"server": name, "clip": clip.name, "label": clip.label,
                       "source": clip.source, "text": clip.text,
                       "should_interrupt": clip.should_interrupt,
                       "load1": round(os.getloadavg()[0], 2), **result,
                       "counters": None if strategy is None else dict(strategy.counters),
                       "pause_gap_ms": (None if strategy is None
                                        else round(sum(strategy.pause_gaps) * 1000.0))}
                rows.append(row)
                tqdm.write(f"{name:8s} {clip.label:11s} {clip.name:28s} "
                           f"interrupted={result['interrupted']!s:5s} "
                           f"stop={result['stop_ms']} resumed={result['resumed']} "
                           f"gap={row['pause_gap_ms']} "
                           f"heard={result['transcripts']}", file=sys.stderr)
            if args.out is not None:  # a run cut short keeps its rows
                partial = args.out.with_suffix(".partial.jsonl")
                with partial.open("a") as out:
                    for row in rows[-len(args.servers):]:
                        out.write(json.dumps(row) + "\n")
        for _, server, thread in servers.values():
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        if llm_server is not None:
            llm_server.stop()
    return {
        "question": QUESTION,
        "vad_start_secs": args.vad_start,
        "quick_pause_secs": args.quick_pause,
        "noise_db": args.noise_db,
        "onset_tap_cost": tap_cost(),
        "load_avg_start": [round(v, 2) for v in load_start],
        "load_avg_end": [round(v, 2) for v in os.getloadavg()],
        "summary": {name: summarise(rows, name) for name in args.servers},
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", nargs="*", default=None)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--every", type=int, default=1, help="every n-th clip of each label")
    parser.add_argument("--servers", nargs="+", default=["pipecat", "ours"],
                        choices=["pipecat", "ours", "ours_vad010", "ours_quick",
                                 "ours_quick_anywords"])
    parser.add_argument("--vad-start", type=float, default=0.2)
    parser.add_argument("--quick-pause", type=float, default=0.3,
                        help="ours_quick: seconds a quick pause waits for the VAD to confirm")
    parser.add_argument("--noise-db", type=float, default=None,
                        help="a microphone noise floor (dBFS RMS) under all the client sends")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
