"""The phases of bench/live/live.py: avatar and voice-only sessions alternating, concurrent
sessions, a soak; each returns its turns and per-session summaries.

Why here: the phases are the measuring loop, the script only picks one and writes
its figure; bench/live/adapt.py builds on the same `Bench`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchkit.clocks import SERVER, rss_mb
from benchkit.live.live_client import LiveSession
from benchkit.live.live_turns import Spoken, Turn, barge_in, run_turn


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
    #: video sessions' clients draw the face (v2.3): motion frames, not JPEGs
    draws_face: bool = False

    async def open(self, video: bool, name: str, camera_hold: bool = True) -> LiveSession:
        """A new client session; `camera_hold` False: its camera sends every frame, also
        while the server thinks up a reply (`camera_hold.secs = 0`; the SDK holds it)."""
        session = await LiveSession.open(self.url, video=video, camera_clip=self.camera_clip,
                                         size=self.size, name=name, llm_pid=self.llm_pid,
                                         draws_face=self.draws_face)
        if not camera_hold:
            session.client.camera_hold.secs = 0.0
        return session


#: the kinds of session `phase_alternating` can alternate: (video, camera held while a
#: reply is thought up); "face_no_hold" is a face session whose camera sends every frame
ARMS: dict[str, tuple[bool, bool]] = {"face": (True, True), "voice": (False, True),
                                      "face_no_hold": (True, False)}


def _log_turn(prefix: str, row: dict[str, Any]) -> None:
    tqdm.write(f"{prefix}: v2v {row.get('voice_to_voice_ms')} ms reaction "
               f"{row.get('reaction_latency_ms', '-')} ms asr {row.get('asr_ms')} llm "
               f"{row.get('llm_first_token_ms')} tts {row.get('tts_first_audio_ms')} | "
               f"{row.get('heard', '')[:40]!r} -> {row.get('reply', '')[:50]!r}", file=sys.stderr)


def alternation(turns: int, per_session: int, arms: tuple[str, ...]
                ) -> list[tuple[str, list[int]]]:
    """The sessions of `phase_alternating` in order, each an arm and the questions it
    asks: blocks of `per_session` questions, each asked by one session of every arm, the
    arm that asks first turned round by one each block. The same questions, but each
    later session of a block asks them turned round by its place: llama.cpp's saved
    prompt states (llm_prompt_cache_mb) would otherwise hand it the first one's whole
    conversation as a cache hit."""
    plan = []
    for block_no, first in enumerate(range(0, turns, per_session)):
        block = list(range(first, min(turns, first + per_session)))
        turned = block_no % len(arms)
        for place, arm in enumerate(arms[turned:] + arms[:turned]):
            shift = place % len(block)
            plan.append((arm, block[shift:] + block[:shift]))
    return plan


async def phase_alternating(bench: Bench, turns: int, per_session: int,
                            barge_ins: int, arms: tuple[str, ...] = ("face", "voice")
                            ) -> dict[str, Any]:
    """Avatar and voice-only sessions (the `arms`, kinds of `ARMS`) alternating on one
    server, then barge-ins.

    Each block of `per_session` questions is asked by one session of each arm, and the
    arm that asks first turns round from block to block (over len(arms) blocks each asks
    in each place): the server keeps what it worked out for a question it heard before
    (the knowledge index's cosines, a sentence encoding of 20-40 ms on the event loop),
    so a later asker of a question answers sooner: with the face always first,
    `avatar_adds_ms_p50` would read the face's turns slower by that encoding
    (docs/LIVE_AVATAR.md). Each turn's row and session's summary name its `arm`."""
    turns_out: list[Turn] = []
    sessions: list[dict[str, Any]] = []
    bar = tqdm(total=len(arms) * turns + barge_ins, desc="turns", file=sys.stderr)
    for arm, order in alternation(turns, per_session, arms):
        video, hold = ARMS[arm]
        session = await bench.open(video, "bench-live-video" if video else "bench-live-voice",
                                   camera_hold=hold)
        try:
            await asyncio.sleep(bench.idle_secs)
            for i in order:
                turn = await run_turn(session, bench.questions[i % len(bench.questions)],
                                      limit_secs=bench.timeout, keep_window=video and hold)
                turn.row["arm"] = arm
                turns_out.append(turn)
                _log_turn(f"{arm:<12} turn {i}", turn.row)
                bar.update()
                await asyncio.sleep(bench.idle_secs)
        finally:
            await session.close()
        sessions.append(session.summary() | {
            "arm": arm, "camera_frames_held": session.client.camera_hold.frames_held})
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
