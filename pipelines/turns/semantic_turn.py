"""The text half of the end-of-turn decision, read while the VAD's silence runs.

agent/turn_end_text.py reads a transcript with the LLM ("done", "unsure",
"unfinished"); this module decides *when* to read and keeps the readings of the
turn in flight, so the stop strategy (pipelines/turns/turn_hold.py) finds the verdict
ready when smart-turn calls the turn complete, or waits a bounded time for it.

When: the speculative transcript at the visitor's first pause
(pipelines/speech/speculative_stt.py's `InterimTranscriptionFrame`, ~0.1 s before the
VAD's stop) starts a reading at once, and the committed transcript starts one only
if its text differs. The reading goes to the LLM server before the eager reply
does (pipelines/turns/speculative_turn.py starts the reply on the same transcript a hop
later), and leaves that transcript in llama.cpp's cache: the reply then reads only
the end-of-message tokens, so the reading costs the reply ~one token, not the
visitor's words. A reading that queues behind a reply already generating would
wait seconds: the stop strategy's bound (`wait_secs`) lets it fall back to the
word tiers then.

How long a verdict holds the turn (`SemanticHolds`): none when both models say
done; `unsure_secs` after a statement the LLM expects more after ("So we had a
long problem."); `unfinished_secs` when the words cannot end a sentence ("I'd
like to ask about the, um"). A transcript whisper closed with "?" is not read and
never waits: the audio and whisper have both heard a question, and its eager reply
keeps the LLM server to itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from loguru import logger

from agent.turn_end_text import TurnEndReader, TurnEndReading

#: how a coroutine becomes a task the owner can cancel (the stop strategy's task manager)
TaskFactory = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


@dataclass(frozen=True)
class SemanticHolds:
    """How much longer a turn smart-turn calls complete waits, by the text's verdict."""

    #: the LLM expects more after a finished-looking statement
    unsure_secs: float = 1.0
    #: the words cannot end a sentence
    unfinished_secs: float = 2.0
    #: at most this long after smart-turn's "complete" for a reading not yet back;
    #: then the word tiers decide (pipelines/turns/turn_hold.py)
    wait_secs: float = 0.6

    def for_reading(self, reading: TurnEndReading) -> float:
        """The hold a verdict asks for."""
        return {"done": 0.0, "unsure": self.unsure_secs,
                "unfinished": self.unfinished_secs}[reading.state]


class TurnReadings:
    """The readings of one session's current turn, keyed by transcript text."""

    def __init__(self, *, reader: TurnEndReader,
                 messages: Callable[[], Sequence[Mapping[str, Any]]],
                 with_notes: Callable[[Sequence[Mapping[str, Any]]],
                                      Sequence[Mapping[str, Any]]] | None = None) -> None:
        """`messages`: the system prompt and history the reply will send, read on the
        event loop at the moment a reading starts (the turn's own words are not in it
        yet); `with_notes`: what the reply adds to them (the knowledge notes), run in a
        worker thread, since a note may need a sentence encoded."""
        self._reader = reader
        self._messages = messages
        self._with_notes = with_notes
        self._readings: dict[str, asyncio.Task[TurnEndReading | None]] = {}
        self.counts = {"started": 0, "ready": 0, "waited": 0, "late": 0, "failed": 0}
        #: (seconds, new tokens) of each reading that came back, for the benches
        self.costs: list[tuple[float, int]] = []
        self.verdicts: list[tuple[str, str, float, float]] = []

    def start(self, text: str, create_task: TaskFactory) -> None:
        """Start reading `text` unless it is being read already."""
        text = " ".join(text.split())
        if not text or text in self._readings:
            return
        self.counts["started"] += 1
        self._readings[text] = create_task(self._read(text), "turn-end-reading")

    def ready(self, text: str) -> TurnEndReading | None:
        """The reading of `text` if it is back (None: not started, not done, or failed)."""
        task = self._readings.get(" ".join(text.split()))
        if task is None or not task.done() or task.cancelled():
            return None
        return task.result()

    async def wait(self, text: str, timeout_s: float) -> TurnEndReading | None:
        """The reading of `text`, waiting up to `timeout_s` (None: late or failed)."""
        task = self._readings.get(" ".join(text.split()))
        if task is None:
            return None
        if not task.done():
            self.counts["waited"] += 1
        try:
            return await asyncio.wait_for(asyncio.shield(task), timeout_s)
        except TimeoutError:
            self.counts["late"] += 1
            return None

    def clear(self) -> list[asyncio.Task[Any]]:
        """Forget the turn's readings; returns those still running, for the owner to
        cancel (a reading already at the server finishes there anyway)."""
        running = [task for task in self._readings.values() if not task.done()]
        self._readings.clear()
        return running

    async def aclose(self) -> None:
        """Close the reader's connections (the session ended; safe twice)."""
        await self._reader.aclose()

    async def _read(self, text: str) -> TurnEndReading | None:
        try:
            messages = self._messages()
            if self._with_notes is not None:
                messages = await asyncio.to_thread(self._with_notes, messages)
            reading = await self._reader.read(text, messages)
        except Exception as error:
            # an endpoint without the route (an external server: 404), a failed request
            # or an odd answer: never the end of the turn, which falls back to the
            # audio and the word tiers
            if not isinstance(error, httpx.HTTPError):
                logger.bind(transcript=True).warning(f"turn-end reading of {text!r} failed: {error!r}")
            self.counts["failed"] += 1
            logger.bind(transcript=True).debug(f"turn-end reading of {text!r} failed: {error!r}")
            return None
        self.counts["ready"] += 1
        self.costs.append((reading.seconds, reading.new_tokens))
        self.verdicts.append((text, reading.state, round(reading.p_end, 4),
                              round(reading.p_close, 4)))
        logger.debug(f"turn-end reading: {reading.state} p_end={reading.p_end:.3f} "
                     f"p_close={reading.p_close:.3f} {reading.seconds * 1000:.0f} ms {text!r}")
        return reading
