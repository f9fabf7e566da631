"""The library part of bench/voice/turn_splits.py (and bench/voice/turn_end.py's clips): paused
requests and real paused utterances streamed to the server, the variants of the
turn hold, and the summary of how often a turn was cut in two.

Why here: bench/voice/turn_end.py sweeps the same real clips offline that
bench/voice/turn_splits.py --real streams, so the clips and their pauses are one list.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from benchkit.server import start_server
from benchkit.visitor import speech_end_secs, synthesize

if TYPE_CHECKING:  # imported where used: the rule's modules read media caches
    from benchkit.real_media import MediaSource
    from benchkit.voice.paused_utterances import PausedUtterance

#: pieces of one request; the pause goes between them
REQUESTS = [
    ["I'd like a coffee and", "a croissant, please."],
    ["I need apples,", "bananas,", "and some milk."],
    ["Could you tell me where the", "shoe department is?"],
    ["My order number is", "four five seven two."],
    ["I'm looking for a present for my", "daughter."],
    ["Two coffees", "please."],
]
CONTROLS = ["Where are the toilets?", "What time do you open on Sunday?", "Do you sell umbrellas?"]
RATE = 16000


async def run_request(url: str, pieces: list[bytes], pause: float) -> dict[str, Any]:
    """Stream the pieces with pauses; when each turn ended and when the reply came."""
    from sdk.client import VoiceClient
    from sdk.items import BotAudio

    events: list[tuple[float, str]] = []
    piece_starts: list[float] = []
    first_audio: list[float] = []
    async with await VoiceClient.connect(url, busy_retry_secs=60) as client:
        async def listen() -> None:
            async for item in client.receive():
                now = time.monotonic()
                if isinstance(item, BotAudio):
                    if not first_audio:
                        first_audio.append(now)
                elif hasattr(item, "type"):
                    events.append((now, item.type))

        listener = asyncio.create_task(listen())
        silence = bytes(int(pause * RATE) * 2)
        for i, pcm in enumerate(pieces):
            piece_starts.append(time.monotonic())
            await client.stream_pcm(pcm)
            if i < len(pieces) - 1:
                await client.stream_pcm(silence)
        end_of_speech = time.monotonic() - (len(pieces[-1]) / 2 / RATE - speech_end_secs(pieces[-1], RATE))
        await client.stream_pcm(bytes(int(5.0 * RATE) * 2))
        listener.cancel()
    stops = [t for t, kind in events if kind == "user-stopped-speaking"]
    splits = sum(1 for t in stops if t < piece_starts[-1] + 0.3)  # a turn ended mid-request
    return {"splits": splits, "turn_ends": len(stops),
            "v2v_ms": round((first_audio[0] - end_of_speech) * 1000) if first_audio else None}


async def run_variant(models: Any, runtime: Any, hold_secs: float, unfinished_hold_secs: float,
                      uncertain_hold_secs: float, pauses: list[float]) -> dict[str, Any]:
    from pipelines.server.app import ServerConfig
    from pipelines.voice_pipeline import TurnParams

    config = ServerConfig(turn=TurnParams(incomplete_hold_secs=hold_secs,
                                          unfinished_hold_secs=unfinished_hold_secs,
                                          uncertain_hold_secs=uncertain_hold_secs),
                          max_sessions=2)
    name = variant_name(hold_secs, unfinished_hold_secs, uncertain_hold_secs)
    url, server, thread = start_server(runtime, config)
    try:
        rows = []
        for pause in pauses:
            for pieces in REQUESTS:
                pcm = [synthesize(models, text) for text in pieces]
                result = await run_request(url, pcm, pause)
                rows.append({"request": " | ".join(pieces), "pause": pause, **result})
                print(f"{name}: pause {pause} {rows[-1]}", file=sys.stderr)
        controls = []
        for text in CONTROLS:
            result = await run_request(url, [synthesize(models, text)], 0.0)
            controls.append(result["v2v_ms"])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    split = [r for r in rows if r["splits"]]
    return {"hold_secs": hold_secs, "unfinished_hold_secs": unfinished_hold_secs,
            "uncertain_hold_secs": uncertain_hold_secs, "variant": name,
            "requests": len(rows), "split_requests": len(split),
            "split_rate": round(len(split) / len(rows), 3), "rows": rows,
            "control_v2v_ms": controls}


#: (incomplete_hold_secs, unfinished_hold_secs, uncertain_hold_secs): no hold; one
#: 0.8 s hold (two releases ago); 0.8 s and 1.6 s after a word no sentence ends on
#: (the last release); the default, which also holds 0.8 s after a transcript with
#: no closing mark or from a decode whisper deems failed
VARIANTS = [(0.0, 0.0, 0.0), (0.8, 0.8, 0.0), (0.8, 1.6, 0.0), (0.8, 1.6, 0.8)]


def variant_name(hold_secs: float, unfinished_hold_secs: float,
                 uncertain_hold_secs: float = 0.0, semantic: bool = False) -> str:
    """'hold 0.8/1.6' as in earlier results; '/0.8' added for the uncertain-end hold,
    ' + semantic' for the LLM's reading."""
    name = f"hold {hold_secs}/{unfinished_hold_secs}"
    name = f"{name}/{uncertain_hold_secs}" if uncertain_hold_secs else name
    return f"{name} + semantic" if semantic else name


#: the default word tiers plus the LLM's end-of-turn reading (`--semantic`)
SEMANTIC = (*VARIANTS[-1], True)


REAL_UTTERANCES = [
    ("librivox_0870", 0.0, None), ("librivox_0880", 0.0, None), ("librivox_0890", 0.0, None),
    ("librivox_0920", 0.0, None), ("librivox_0930", 0.0, None),
    ("meeting_chan3", 0.0, 5.1), ("meeting_chan3", 5.1, 10.6),
    ("lecture", 0.0, 9.0), ("lecture", 9.0, 18.0), ("lecture", 18.0, 27.0),
]


def internal_pauses(pcm: bytes) -> list[float]:
    """Silences (>= 0.2 s, 20 ms frames 30 dB under the loudest) inside the speech."""
    audio = np.frombuffer(pcm, np.int16).astype(np.float64)
    frames = audio[: len(audio) // 320 * 320].reshape(-1, 320)
    rms = np.sqrt((frames ** 2).mean(axis=1))
    loud = np.flatnonzero(rms > rms.max() / 31.6)
    gaps = np.diff(loud) * 0.02
    return [round(float(g), 2) for g in gaps if g >= 0.2]


async def run_real(url: str, pcm: bytes, sessions: list[Any], speech_end_s: float | None = None,
                   lead_s: float = 0.0) -> dict[str, Any]:
    """One recorded utterance: turn ends before its end, and what reached the context.

    `speech_end_s`: where the speech ends in `pcm` when the caller knows it (the
    later of it and the loud-frame estimate counts); `lead_s`: silence before
    the recording in `pcm` (turn-end times are reported from the recording's start).
    """
    from sdk.client import VoiceClient

    events: list[tuple[float, str]] = []
    heard_before: list[str] = []  # the final transcript so far, at each turn end
    spoken: list[tuple[float, float]] = []  # (arrival, seconds) of bot audio that is not silence
    async with await VoiceClient.connect(url, busy_retry_secs=60) as client:
        async def listen() -> None:
            text = ""
            item: Any  # events are told apart by their `type`, as the wire names them
            async for item in client.receive():
                if hasattr(item, "type"):
                    events.append((time.monotonic(), item.type))
                if getattr(item, "type", "") == "bot-audio" and item.pcm and np.abs(
                        np.frombuffer(item.pcm, np.int16)).max() >= AUDIBLE_PEAK:
                    spoken.append((item.received_at, item.duration_secs))
                if getattr(item, "type", "") == "user-transcription" and item.final:
                    text = f"{text} {item.text}".strip()
                if getattr(item, "type", "") == "user-stopped-speaking":
                    heard_before.append(text)

        listener = asyncio.create_task(listen())
        started = time.monotonic()
        await client.stream_pcm(pcm)
        speech_end = started + max(speech_end_secs(pcm, RATE), speech_end_s or 0.0)
        await client.stream_pcm(bytes(int(6.0 * RATE) * 2))
        messages = [dict(m) for m in sessions[-1].context.get_messages()]
        stop = sessions[-1].turn_stop
        readings = stop.readings if stop is not None else None
        listener.cancel()
    stops = [t for t, kind in events if kind == "user-stopped-speaking"]
    users = [str(m["content"]) for m in messages if m.get("role") == "user"]
    early = [i for i, t in enumerate(stops) if t < speech_end - 0.05]
    final = [t for t in stops if t >= speech_end - 0.05]
    # the bot talking while the user was still mid-utterance: what a split sounds like
    into_pause = sum(secs for at, secs in spoken if at < speech_end - 0.05)
    return {"splits": len(early), "turn_ends": len(stops), "user_messages": len(users),
            "bot_spoke_before_end": into_pause > 0,
            "bot_audio_secs_before_end": round(into_pause, 2),
            # when the turn ended after the speech did: what the holds cost a clean end
            "end_ms": round((final[0] - speech_end) * 1000) if final else None,
            "joined": bool(early and len(users) == 1), "heard": users,
            # what the server had heard when it ended the turn early, and how early
            "split_after": [heard_before[i] if i < len(heard_before) else None for i in early],
            "split_secs_before_end": [round(speech_end - stops[i], 2) for i in early],
            "split_at_s": [round(stops[i] - started - lead_s, 2) for i in early],
            # the LLM's readings of this clip's turns (text, verdict, p_end, p_close), their
            # cost (s, tokens read) and counts; None with the reading off
            "readings": None if readings is None else {
                "verdicts": readings.verdicts, "costs": [[round(s, 3), n] for s, n in readings.costs],
                "counts": readings.counts, "holds": dict(stop.holds)}}


#: a bot-audio chunk with a sample this loud (of 32767) is speech, not the pacer's silence
AUDIBLE_PEAK = 500


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a share k / n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (round(float(max(0.0, centre - half)), 3), round(float(min(1.0, centre + half)), 3))


def real_clips(original_only: bool, held_out: bool = False) -> list[dict[str, Any]]:
    """The clips of `--real`: REAL_UTTERANCES, then (unless `original_only`) every
    utterance benchkit/voice/paused_utterances.py's rule keeps; each with its 16 kHz int16
    audio, where it comes from and its pauses by that rule. `held_out`: instead, the
    rule's utterances of the held-out recordings (benchkit/voice/held_out_media.py)."""
    import soundfile

    from benchkit.real_media import speech_clips
    from benchkit.voice.paused_utterances import (
        CUT_S,
        PAUSE_S,
        held_out_utterances,
        paused_utterances,
        source_of,
        speech_scores,
        utterances_in,
    )

    if held_out:
        return [_rule_clip(utterance, "held out", source_of(utterance.recording))
                for utterance in held_out_utterances()]
    wavs = {path.stem: path for path in speech_clips()}
    clips = []
    for name, start, end in REAL_UTTERANCES:
        audio, rate = soundfile.read(str(wavs[name]), dtype="int16")
        assert rate == RATE, (name, rate)
        piece = audio[int(start * RATE): None if end is None else int(end * RATE)]
        # the rule's pauses, for the first 10 as for the rest (the clip scored alone)
        found = utterances_in(speech_scores(piece), 0.0, len(piece) / RATE)
        pauses = [(round(at, 3), round(length, 3)) for _, _, gaps in found
                  for at, length in gaps if PAUSE_S <= length < CUT_S]
        source = source_of(name)
        clips.append({"clip": f"{name}[{start}:{end}]", "set": "first 10", "audio": piece,
                      "from": f"{source.package}=={source.version} {source.member}",
                      "start": start, "end": end if end is not None else len(audio) / RATE,
                      "speaker": "", "speech_end_s": found[-1][1] if found else None,
                      "rule_pauses": pauses})
    if not original_only:
        clips += [_rule_clip(utterance, "rule", source_of(utterance.recording))
                  for utterance in paused_utterances()]
    return clips


def _rule_clip(utterance: PausedUtterance, set_name: str, source: MediaSource
               ) -> dict[str, Any]:
    """One utterance the rule kept, as `real_clips` lists it."""
    return {"clip": utterance.name, "set": set_name, "audio": utterance.audio(),
            "from": f"{source.package}=={source.version} {source.member}",
            "start": utterance.start, "end": utterance.end,
            "speaker": utterance.speaker, "speech_end_s": utterance.speech_end,
            "rule_pauses": [list(p) for p in utterance.pauses]}


def pauses_split(pauses: list[Any], split_at_s: list[float], slack_s: float = 0.3
                 ) -> tuple[list[int], int]:
    """Which of the rule's pauses ((start, length) s) a turn ended in, and how many early
    turn ends fell in none of them (a pause the rule does not count: under 0.3 s by
    silero at 0.5, where the server's VAD at 0.7 heard silence). A turn end belongs
    to a pause from its start to `slack_s` after its end (the event's way to the client)."""
    hit: set[int] = set()
    elsewhere = 0
    for t in split_at_s:
        inside = [i for i, (at, length) in enumerate(pauses) if at <= t <= at + length + slack_s]
        if inside:
            hit.add(inside[-1])
        else:
            elsewhere += 1
    return sorted(hit), elsewhere


def split_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    split = [r for r in rows if r["splits"]]
    pauses = sum(len(r["rule_pauses"]) for r in rows)
    cut_pauses = sum(len(r["split_pauses"]) for r in rows)
    return {"premature_turn_ends": round(len(split) / len(rows), 3) if rows else None,
            "split": len(split), "clips": len(rows), "interval_95": wilson(len(split), len(rows)),
            "split_joined": sum(r["joined"] for r in split),
            # the same per pause: pauses (by the rule) at which a turn ended early
            "pauses": pauses, "pauses_split": cut_pauses,
            "pause_split_rate": round(cut_pauses / pauses, 3) if pauses else None,
            "splits_elsewhere": sum(r["splits_elsewhere"] for r in rows),
            # clips in which the bot's voice reached the client before the speaker was done
            "bot_spoke_into_utterance": sum(bool(r.get("bot_spoke_before_end")) for r in rows),
            "voice_heard_before_done": round(sum(bool(r.get("bot_spoke_before_end"))
                                                 for r in rows) / len(rows), 3) if rows else None,
            # the turn end after the end of speech, over clips that were not split
            "end_ms_p50_whole_clips": median_or_none([r.get("end_ms") for r in rows if not r["splits"]]),
            "end_ms_max_whole_clips": max((r["end_ms"] for r in rows
                                           if not r["splits"] and r.get("end_ms") is not None),
                                          default=None)}


def median_or_none(values: list[Any]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.median(present)) if present else None


def plot_detectors(results: dict[str, dict[str, Any]], path: Path) -> None:
    """Bars of premature turn ends and voice heard before done, per detector, for each
    clip set (`results`: a set's label -> a `--real --semantic` result JSON)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measures = (("premature_turn_ends", "turn ended early"),
                ("voice_heard_before_done", "bot heard before done"))
    fig, axes = plt.subplots(1, len(measures), figsize=(10, 3.8), sharey=True)
    for axis, (key, title) in zip(axes, measures, strict=True):
        for offset, label in enumerate(results):
            variants = results[label]["variants"]
            xs = [i + 0.8 * offset / len(results) for i in range(len(variants))]
            values = [v[key] for v in variants.values()]
            bars = axis.bar(xs, values, width=0.8 / len(results),
                            label=f"{label} ({results[label]['utterances']} clips)")
            axis.bar_label(bars, fmt="%.2f", fontsize=8)
        names = list(next(iter(results.values()))["variants"])
        axis.set_xticks([i + 0.4 - 0.4 / len(results) for i in range(len(names))],
                        ["word holds" if "semantic" not in n else "+ LLM reading" for n in names])
        axis.set_title(title)
    axes[0].set_ylabel("share of clips")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
