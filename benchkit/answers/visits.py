"""A question set as the kiosk meets it: visits of questions, each question said aloud.

Why here: bench/answers/spoken_answers.py (the shipped store) and
bench/answers/business_answers.py (every business) ask their sets the same way: a
single question is a visit of its own (a fresh session), a `session`'s turns are one
visit asked in turn order, and a spoken question is said by one of the set's voices
and streamed at real-time pace; shared so their figures mean the same thing.
"""

from __future__ import annotations

import zlib
from typing import Any

from benchkit.answers.spoken_questions import say, with_noise
from benchkit.visitor import speech_end_secs

#: how long one spoken turn may take before it counts as unanswered (s)
TURN_TIMEOUT_SECS = 90

Question = dict[str, Any]


def visits(questions: list[Question]) -> list[list[Question]]:
    """The questions grouped into visits: one per single question, one per `session`
    (in the order each visit first appears; a session's turns sorted by `turn`)."""
    out: list[list[Question]] = []
    by_session: dict[str, list[Question]] = {}
    for q in questions:
        if "session" in q:
            if q["session"] not in by_session:
                by_session[q["session"]] = []
                out.append(by_session[q["session"]])
            by_session[q["session"]].append(q)
        else:
            out.append([q])
    return [sorted(v, key=lambda q: q.get("turn", 0)) for v in out]


async def ask_aloud(client: Any, voice: str, question: str, *,
                    snr_db: float | None = None) -> Any:
    """`question` said by `voice` (with the hall's babble at `snr_db`, seeded by the
    question so every run hears the same noise) to a connected `VoiceClient` at
    real-time pace; the reply as `sdk.talk.talk` collects it."""
    from sdk.talk import talk

    pcm = say(voice, question)
    if snr_db is not None:
        pcm = with_noise(pcm, snr_db, seed=zlib.crc32(question.encode()) % 10_000)
    return await talk(client, pcm, speech_end_secs=speech_end_secs(pcm, 16000),
                      timeout_secs=TURN_TIMEOUT_SECS)


__all__ = ["TURN_TIMEOUT_SECS", "ask_aloud", "visits"]
