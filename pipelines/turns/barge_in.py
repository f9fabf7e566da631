"""Barge-in that a kiosk can live with: pause at once, interrupt only for words.

pipecat interrupts the bot on every VAD start. At a kiosk that is wrong twice:
a visitor's "mm-hm", a cough or a laugh cuts the reply off (and the bot then
answers the noise), while real speech still has to wait for the VAD's start
window before anything happens. LiveKit's agents answer this with a *false
interruption* rule (pause the audio, resume it if no words follow); this
module does the same with pipecat's own turn machinery:

- While the bot speaks, a VAD start does not interrupt. It starts the user
  turn *without* an interruption and sends `ReplyPauseFrame` downstream: the
  output (the face service, or `ReplyPacer` in a voice-only session) stops
  playing at the next 40 ms frame and keeps the rest of the reply.
- The transcript decides. Words that are only a backchannel ("mm-hm",
  "yeah", "okay", "go on", ...), or whisper's renderings of laughter and
  coughs, are swallowed (the aggregation is reset, so the LLM never sees
  them) and `ReplyResumeFrame` resumes the reply where it paused. So are
  words whisper itself deems a failed decode (mean token log-probability
  below -1.0: "I'm so sorry." for an acted laugh; see
  pipelines/speech/transcript_confidence.py). Any other
  words broadcast the interruption: the reply is dropped and the words become
  the user's turn, as with pipecat's own barge-in.
- No words at all (a cough whisper hears as nothing: the STT says so with
  `NoWordsFrame`) resumes the reply at once; if neither words nor that signal
  come, the reply plays on `resume_after_secs` after the VAD stop (a safety
  net, long enough for whisper on a loaded 2-core CPU).

A quicker pause (`quick_pause_secs` > 0): the VAD start comes ~260 ms after the
onset of speech, most of the barge-in time. pipelines/turns/speech_onset.py raises
`SpeechOnsetFrame` from silero's score of single windows (~70 ms after the
onset); while a reply is active it pauses the reply at once, and if the VAD
does not confirm a start within `quick_pause_secs` the reply plays on (a click
costs a short gap, never a stop). A confirmed start then goes the way above.
Nothing is announced to the client until the VAD confirms.

The same holds while the bot is *thinking* (the user's turn has ended and no
reply has played yet, at most `thinking_secs`): a cough or an "um" after a
question must not cancel its answer. The pause then holds the reply back if it
becomes ready meanwhile; words interrupt it (and pipelines/turns/turn_join.py joins
them to the question they continue). Otherwise, while the bot is idle, a VAD
start starts the turn at once, as pipecat does.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from loguru import logger
from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    InterruptionFrame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.types import ProcessFrameResult
from pipecat.turns.user_start.base_user_turn_start_strategy import BaseUserTurnStartStrategy

from pipelines.speech.transcript_confidence import failed_decode
from pipelines.wire.frames import NoWordsFrame, ReplyPauseFrame, ReplyResumeFrame, SpeechOnsetFrame

#: Words that acknowledge without taking the floor. A transcript made only of
#: these (and of the phrases below) does not interrupt the bot.
BACKCHANNEL_WORDS = frozenset({
    "mm", "mmm", "mhm", "mm-hm", "mm-hmm", "mmhmm", "mmhm", "hm", "hmm", "hmmm", "uh-huh",
    "uhhuh", "uh", "um", "umm", "ah", "aha", "oh", "ooh", "wow", "yeah", "yea", "yep", "yup",
    "yes", "ok", "okay", "k", "right", "sure", "alright", "cool", "nice", "great", "fine",
    "good", "true", "exactly", "indeed", "totally", "ha", "haha", "hahaha", "heh", "hehe",
    "huh", "whoa", "gotcha", "thanks", "i", "see", "go", "on", "ahead", "for", "it", "got",
    "makes", "sense", "sounds", "that's", "of", "course", "all", "thank", "you",
})
#: Multi-word acknowledgements; their words are in BACKCHANNEL_WORDS, but only
#: these combinations count (so "go for it" is a backchannel, "for" alone is not).
BACKCHANNEL_PHRASES = (
    "i see", "go on", "go ahead", "go for it", "got it", "makes sense", "sounds good",
    "that's right", "that's great", "of course", "all right", "thank you", "thanks",
)
_PHRASES_LONGEST_FIRST = sorted(BACKCHANNEL_PHRASES, key=len, reverse=True)
#: Words that may only appear inside a phrase above.
_PHRASE_ONLY = frozenset({"i", "see", "go", "on", "ahead", "for", "it", "got", "makes",
                          "sense", "sounds", "that's", "of", "course", "all", "thank", "you"})
#: whisper's renderings of non-speech: "(laughs)", "[coughing]", "*cough*", "♪".
_NON_SPEECH = re.compile(r"\([^)]*\)|\[[^\]]*\]|\*[^*]*\*|♪")
_WORD = re.compile(r"[a-z]+(?:['-][a-z]+)*")
#: whisper's spelling of a laugh as one made-up word: "hahaha", "hehehe",
#: "daaahhahhahh" (two or more h/vowel beats, at most one other letter in front;
#: no English word has that shape)
_LAUGHTER = re.compile(r"[a-z]?(?:h*[aeiou]+h+){2,}[aeiou]*")


def is_backchannel(text: str) -> bool:
    """True if `text` is only an acknowledgement, laughter or a non-speech tag.

    An empty transcript counts (nothing to answer). A single "no", "stop",
    "wait" or any content word is real speech.
    """
    spoken = _NON_SPEECH.sub(" ", text.lower()).replace("’", "'")
    words = [word for word in _WORD.findall(spoken) if not _LAUGHTER.fullmatch(word)]
    if not words:
        return True
    if any(word not in BACKCHANNEL_WORDS for word in words):
        return False
    if not any(word in _PHRASE_ONLY for word in words):
        return True
    # Remove the known phrases; what is left must be standalone backchannel words.
    rest = " " + " ".join(words) + " "
    for phrase in _PHRASES_LONGEST_FIRST:
        rest = rest.replace(f" {phrase} ", " ")
    return all(word not in _PHRASE_ONLY for word in rest.split())


class BackchannelTolerantStartStrategy(BaseUserTurnStartStrategy):
    """Start strategy: pause on sound, interrupt on words (see the module docstring).

    Replaces pipecat's `VADUserTurnStartStrategy` and
    `TranscriptionUserTurnStartStrategy` in the user aggregator.
    """

    def __init__(self, *, resume_after_secs: float = 3.0, thinking_secs: float = 8.0,
                 quick_pause_secs: float = 0.0, unsure_words_interrupt: bool = False,
                 **kwargs: Any) -> None:
        """`resume_after_secs`: after the VAD stop, how long to wait for the STT's
        verdict before a paused reply plays on anyway (whisper takes ~0.4 s on a
        quiet 2-core CPU, 1-2.5 s under load). `thinking_secs`: after the user's
        turn ends, how long a reply counts as on its way. `quick_pause_secs`:
        pause on `SpeechOnsetFrame` and play on if the VAD has not confirmed a
        start this long after it (0: onsets are ignored, the VAD start pauses).
        `unsure_words_interrupt`: words whisper deems a failed decode interrupt like
        any others (default: they are taken for a laugh or a noise)."""
        super().__init__(**kwargs)
        self._resume_after_secs = resume_after_secs
        self._thinking_secs = thinking_secs
        self._quick_pause_secs = quick_pause_secs
        self._unsure_words_interrupt = unsure_words_interrupt
        self._bot_speaking = False
        self._turn_ended_at: float | None = None  # the user's last turn end, until a reply
        #: the reply is paused for a sound whose transcript has not come yet
        self._tentative = False
        self._resume_task: asyncio.Task[None] | None = None
        #: the reply is paused on a speech onset the VAD has not confirmed yet
        self._quick: asyncio.Task[None] | None = None
        self.counters = {"paused": 0, "resumed": 0, "interrupted": 0, "backchannels": 0,
                         "unsure": 0,
                         "quick_paused": 0, "quick_confirmed": 0, "quick_resumed": 0}
        #: seconds each pause held a reply that then played on (what a listener hears)
        self.pause_gaps: list[float] = []
        self._paused_at: float | None = None
        self._aggregator: FrameProcessor | None = None
        #: set when the assistant aggregator has written the interrupted reply's
        #: spoken part to the context (see `assistant_turn_stopped`)
        self._assistant_stopped = asyncio.Event()

    def attach(self, aggregator: FrameProcessor) -> None:
        """The user aggregator this strategy runs in: the interruption is pushed from
        it directly. A strategy's own push/broadcast is queued behind the frame being
        processed, so the turn's LLMContextFrame would overtake the interruption and
        the interruption would cancel the answer to the very words that caused it."""
        self._aggregator = aggregator

    async def cleanup(self) -> None:
        """Stop a pending resume timer."""
        await super().cleanup()
        await self._cancel_resume_timer()
        await self._end_quick_pause()

    async def process_frame(self, frame: Frame) -> ProcessFrameResult:
        """Follow the bot's speaking state, VAD and transcripts."""
        if isinstance(frame, BotStartedSpeakingFrame):
            self._bot_speaking = True
            self._turn_ended_at = None
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self._bot_speaking = False
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self._turn_ended_at = time.monotonic()
        elif isinstance(frame, SpeechOnsetFrame):
            await self._on_onset()
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            if await self._end_quick_pause():
                self.counters["quick_confirmed"] += 1
            return await self._on_speech_start()
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            if self._tentative:
                await self._start_resume_timer()
        elif isinstance(frame, TranscriptionFrame):
            unsure = not self._unsure_words_interrupt and failed_decode(frame.result)
            return await self._on_transcript(frame.text, unsure=unsure)
        elif isinstance(frame, NoWordsFrame) and self._tentative:
            await self._play_on("no words in the sound")
        return ProcessFrameResult.CONTINUE

    async def _on_speech_start(self) -> ProcessFrameResult:
        await self._cancel_resume_timer()
        if self._tentative:
            return ProcessFrameResult.STOP  # more sound while paused: still undecided
        if not self.reply_active:
            self._paused_at = None  # a quick pause over a reply that has ended since
            await self.trigger_user_turn_started()
            return ProcessFrameResult.STOP
        self._tentative = True
        self.counters["paused"] += 1
        await self._pause()
        await self.trigger_user_turn_started(enable_interruptions=False)
        return ProcessFrameResult.STOP

    async def _on_onset(self) -> None:
        """Maybe speech: pause now, unless the VAD already holds the sound."""
        if (self._quick_pause_secs <= 0 or self._tentative or self._quick is not None
                or not self.reply_active):
            return
        self.counters["quick_paused"] += 1
        await self._pause()
        self._quick = self.task_manager.create_task(self._quick_resume_later(),
                                                    f"{self}::quick-resume")

    async def _quick_resume_later(self) -> None:
        await asyncio.sleep(self._quick_pause_secs)
        self._quick = None
        if not self._tentative:
            logger.debug(f"{self}: no VAD start {self._quick_pause_secs} s after an onset: "
                         "the reply plays on")
            self.counters["quick_resumed"] += 1
            await self._resume()

    async def _end_quick_pause(self) -> bool:
        """Stop waiting for the VAD's confirmation; True if a quick pause was pending."""
        task, self._quick = self._quick, None
        if task is None:
            return False
        if task is not asyncio.current_task():
            await self.task_manager.cancel_task(task)
        return True

    async def _pause(self) -> None:
        if self._paused_at is None:
            self._paused_at = time.monotonic()
        await self.push_frame(ReplyPauseFrame())

    async def _resume(self) -> None:
        if self._paused_at is not None:
            self.pause_gaps.append(time.monotonic() - self._paused_at)
            self._paused_at = None
        await self.push_frame(ReplyResumeFrame(), FrameDirection.DOWNSTREAM)

    async def _on_transcript(self, text: str, *, unsure: bool = False) -> ProcessFrameResult:
        """`unsure`: whisper deemed the decode failed (pipelines/speech/transcript_confidence.py);
        over a reply such words are taken for a laugh or a noise, not an interruption."""
        # Without a pause pending (no VAD start, or the pause was resolved already),
        # words while no reply is active start the turn, as pipecat's
        # TranscriptionUserTurnStartStrategy does.
        if not self._tentative and not self.reply_active:
            await self.trigger_user_turn_started()
        elif not unsure and not is_backchannel(text):
            self._tentative = False
            await self._cancel_resume_timer()
            await self._interrupt(text)
        elif self._tentative:
            self.counters["unsure" if unsure else "backchannels"] += 1
            await self._play_on(f"{'unsure words' if unsure else 'backchannel'} {text!r}")
        else:  # a backchannel over a reply that is playing again
            self.counters["backchannels"] += 1
            await self.trigger_reset_aggregation()
        return ProcessFrameResult.STOP

    @property
    def reply_active(self) -> bool:
        """The bot speaks, or a reply to the user's last turn is on its way (then a
        guess at the user's first pause is not answered early either: its words decide
        interruption first; pipelines/turns/speculative_turn.py)."""
        thinking = (self._turn_ended_at is not None
                    and time.monotonic() - self._turn_ended_at < self._thinking_secs)
        return self._bot_speaking or thinking

    async def _interrupt(self, text: str) -> None:
        logger.bind(transcript=True).debug(f"{self}: words over the reply ({text!r}): interrupting")
        self.counters["interrupted"] += 1
        self._paused_at = None
        await self._end_quick_pause()
        # the turn may have ended already (stop strategy timeout): start it again
        await self.trigger_user_turn_started(enable_interruptions=False)
        if self._aggregator is None:
            raise RuntimeError(f"{self} is not attached to its user aggregator")
        speaking = self._bot_speaking
        self._assistant_stopped.clear()
        # One interruption sent both ways, marked as broadcast siblings as pipecat's
        # `broadcast_frame` does: observers then see one interruption, not two (two
        # unrelated frames sent the client two `bot-interrupted` events).
        downstream, upstream = InterruptionFrame(), InterruptionFrame()
        downstream.broadcast_sibling_id, upstream.broadcast_sibling_id = upstream.id, downstream.id
        await self._aggregator.push_frame(downstream, FrameDirection.DOWNSTREAM)
        await self._aggregator.push_frame(upstream, FrameDirection.UPSTREAM)
        if speaking:
            # The words are pushed as the user's message right after this returns.
            # pipecat interrupts at the VAD start, long before; here the spoken part
            # of the cut reply must reach the context first, or the context reads
            # [question, interruption, cut reply] (and a joined turn would drop it).
            try:
                await asyncio.wait_for(self._assistant_stopped.wait(), timeout=0.5)
            except TimeoutError:
                logger.warning(f"{self}: the cut reply was not recorded within 0.5 s")

    def assistant_turn_stopped(self) -> None:
        """Called by the assistant aggregator's `on_assistant_turn_stopped` handler."""
        self._assistant_stopped.set()

    async def _play_on(self, why: str) -> None:
        """The paused sound was not words: forget it and resume the reply."""
        logger.debug(f"{self}: {why}: the reply plays on")
        await self._cancel_resume_timer()
        self._tentative = False
        await self.trigger_reset_aggregation()
        self.counters["resumed"] += 1
        await self._resume()

    async def _start_resume_timer(self) -> None:
        await self._cancel_resume_timer()
        self._resume_task = self.task_manager.create_task(self._resume_later(),
                                                          f"{self}::resume")

    async def _cancel_resume_timer(self) -> None:
        task, self._resume_task = self._resume_task, None
        if task is not None and task is not asyncio.current_task():
            await self.task_manager.cancel_task(task)

    async def _resume_later(self) -> None:
        await asyncio.sleep(self._resume_after_secs)
        self._resume_task = None
        if self._tentative:
            await self._play_on(f"no verdict {self._resume_after_secs} s after the sound")
