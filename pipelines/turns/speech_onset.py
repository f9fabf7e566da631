"""A quick, uncommitted "someone may be speaking" from silero's per-window score.

Barge-in (pipelines/turns/barge_in.py) pauses the reply at the VAD start, and the VAD
start is slow to commit: pipecat's analyzer needs `start_secs` of windows above
its confidence *and* a loudness, smoothed over a 400 ms window, above
`min_volume`. On the barge-in set that is ~260 ms after the onset of speech
(docs/LATENCY.md), of a ~320 ms barge-in. The score of a
single 32 ms window crosses the same confidence much sooner (~70 ms after the
onset, the same set offline).

So this module raises `SpeechOnsetFrame` as soon as `windows` consecutive
windows score at least `confidence` and are louder than `min_level_db`. It
commits to nothing: the barge-in strategy pauses the reply on it and plays on
if the VAD does not confirm a start shortly after (a click, a breath). No user
turn starts and the client sees no event until the VAD confirms.

It costs no second model: `WindowTapSileroVAD` is pipecat's silero analyzer
that also keeps each window's score and level (one RMS of 512 samples), and
`OnsetVADProcessor` is pipecat's VAD processor that reads them after each audio
chunk. `OnsetDetector` is the rule alone, without I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pipecat.audio.vad.vad_analyzer import VADState
from pipecat.frames.frames import Frame, InputAudioRawFrame
from pipecat.processors.audio.vad_processor import VADProcessor
from pipecat.processors.frame_processor import FrameDirection

from pipelines.turns.shared_models import SharedSileroVAD
from pipelines.wire.frames import SpeechOnsetFrame


@dataclass(frozen=True)
class VADWindow:
    """One silero window (512 samples at 16 kHz = 32 ms) as the VAD scored it."""

    confidence: float
    level_db: float  # RMS, dBFS
    vad_quiet: bool  # the VAD had not confirmed speech before this window


class OnsetDetector:
    """The onset rule: `windows` loud windows in a row at or above `confidence`.

    It fires once per sound: after an onset it re-arms only once `rearm_windows`
    windows in a row score below `confidence` (so a long laugh is one onset,
    not one per syllable). It never fires while the VAD has confirmed speech:
    the VAD start has said it already.
    """

    def __init__(self, *, confidence: float = 0.7, windows: int = 1,
                 min_level_db: float = -45.0, rearm_windows: int = 5) -> None:
        """`confidence`: the VAD's own threshold by default (pipecat 0.7).
        `windows`: 1 is ~70 ms after the onset on the barge-in set, 2 ~100 ms and
        fewer unconfirmed onsets. `min_level_db`: a far-away sound does not
        count (the spoken question of the bench is at -18 dBFS).
        `rearm_windows`: 5 windows = 160 ms of quiet between two sounds."""
        self.confidence = confidence
        self.windows = windows
        self.min_level_db = min_level_db
        self.rearm_windows = rearm_windows
        self._run = 0
        self._below = rearm_windows
        self._fired = False

    def feed(self, window: VADWindow) -> bool:
        """One scored window in; True if it completes an onset."""
        voiced = window.confidence >= self.confidence
        if not voiced:
            self._run = 0
            self._below += 1
            if self._below >= self.rearm_windows:
                self._fired = False
            return False
        self._below = 0
        if not window.vad_quiet:
            self._run = 0
            self._fired = True  # the VAD holds speech: this sound has its start
            return False
        self._run = self._run + 1 if window.level_db >= self.min_level_db else 0
        if self._run >= self.windows and not self._fired:
            self._fired = True
            return True
        return False


class WindowTapSileroVAD(SharedSileroVAD):
    """pipecat's silero analyzer (on the process's model) that also keeps every
    window's score and level."""

    def __init__(self, **kwargs: Any) -> None:
        """As `SileroVADAnalyzer`."""
        super().__init__(**kwargs)
        self._windows: list[VADWindow] = []

    def voice_confidence(self, buffer: bytes) -> float:
        """Score the window as silero does, and keep it for `take_windows`.

        Runs on the analyzer's worker thread; `take_windows` runs on the event
        loop after `analyze_audio` has returned, so the two never overlap.
        """
        score = super().voice_confidence(buffer)
        confidence = float(np.asarray(score).reshape(-1)[0])
        audio = np.frombuffer(buffer, np.int16).astype(np.float32)
        rms = math.sqrt(float(np.dot(audio, audio)) / max(len(audio), 1))
        self._windows.append(VADWindow(
            confidence=confidence,
            level_db=20.0 * math.log10(max(rms, 1.0) / 32768.0),
            # the state before this window: the caller updates it from this score
            vad_quiet=self._vad_state in (VADState.QUIET, VADState.STARTING),
        ))
        return score

    def take_windows(self) -> list[VADWindow]:
        """The windows scored since the last call."""
        windows, self._windows = self._windows, []
        return windows


class OnsetVADProcessor(VADProcessor):
    """pipecat's VAD processor plus `SpeechOnsetFrame` from the same silero scores."""

    def __init__(self, *, vad_analyzer: WindowTapSileroVAD,
                 detector: OnsetDetector | None = None, **kwargs: Any) -> None:
        """`vad_analyzer` must be the tapping analyzer; `detector`: the onset rule."""
        super().__init__(vad_analyzer=vad_analyzer, **kwargs)
        self._tap = vad_analyzer
        self.detector = detector or OnsetDetector()
        self.onsets = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """VAD as pipecat does; then an onset frame if this chunk's windows hold one."""
        await super().process_frame(frame, direction)
        if isinstance(frame, InputAudioRawFrame):
            if any([self.detector.feed(w) for w in self._tap.take_windows()]):
                self.onsets += 1
                await self.push_frame(SpeechOnsetFrame())
