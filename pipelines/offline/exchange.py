"""What one offline exchange takes (`ConverseOptions`) and gives back (`ConverseResult`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from avatar.motion import column_index
from pipelines.offline.clip import FPS, FRAME_SECS
from pipelines.offline.reply import Reply

JAW = column_index("jawOpen")


@dataclass(frozen=True)
class ConverseOptions:
    """How the exchange is run and drawn (defaults: a natural turn, a 512 px avatar)."""

    size: int = 512  # avatar video edge, 256..512 (the session's size)
    side_by_side: bool = False  # user clip | avatar instead of the avatar alone
    #: end of the user's speech -> first reply audio (a live pipeline's VAD stop
    #: + turn decision; offline the LLM and TTS take no time on the video's clock)
    turn_gap_secs: float = 0.5
    tail_secs: float = 0.5  # after the reply has played
    seed: int = 0
    sheet_columns: int = 4  # frames per contact-sheet row (one row listening, one speaking)
    sheet_height: int = 144  # thumbnail height in the contact sheet (px)
    progress: bool = True  # tqdm bars and stage lines

    def __post_init__(self) -> None:
        if not 256 <= self.size <= 512 or self.size % 2:
            raise ValueError(f"size must be an even number in 256..512, got {self.size}")
        if self.turn_gap_secs < 0 or self.tail_secs < 0:
            raise ValueError("turn_gap_secs and tail_secs must be >= 0")
        if self.sheet_columns < 1 or self.sheet_height < 32:
            raise ValueError("sheet_columns must be >= 1 and sheet_height >= 32")


@dataclass
class ConverseResult:
    """What `converse` wrote and measured (per output frame arrays have `frames` rows)."""

    video: Path
    sheet: Path
    frames: int
    sample_rate: int  # of the mixed audio track
    reply: Reply
    speech: tuple[float, float] | None  # the user's utterance in the clip (s)
    reply_start_secs: float
    motion: np.ndarray  # (frames, 58) the avatar's generated motion
    speaking: np.ndarray  # (frames,) the avatar's audio holds reply speech
    user_speaking: np.ndarray  # (frames,) inside the user's utterance
    user_face: np.ndarray  # (frames,) a user face was measured for this frame
    clip_frames_analysed: int = 0
    clip_faces_found: int = 0
    warnings: list[str] = field(default_factory=list)
    timings_secs: dict[str, float] = field(default_factory=dict)

    @property
    def duration_secs(self) -> float:
        """Length of the output video."""
        return self.frames * FRAME_SECS

    def jaw_open(self, mask: np.ndarray) -> float:
        """Mean generated jawOpen over the frames in `mask` (nan when none)."""
        return float(self.motion[mask, JAW].mean()) if mask.any() else float("nan")

    def summary(self) -> str:
        """A few lines for the command line."""
        listening = self.user_speaking & ~self.speaking
        speech = (f"{self.speech[0]:.2f}-{self.speech[1]:.2f} s" if self.speech
                  else "none detected")
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings_secs.items())
        lines = [
            f"{self.video}: {self.frames} frames ({self.duration_secs:.2f} s at {FPS} fps), "
            f"audio {self.sample_rate} Hz; contact sheet {self.sheet}",
            f"user: speech {speech}, face in {self.clip_faces_found}/"
            f"{self.clip_frames_analysed} clip frames; heard: {self.reply.transcript!r}",
            f"avatar ({self.reply.source}): {self.reply.text!r} ({self.reply.secs:.2f} s, "
            f"from {self.reply_start_secs:.2f} s)",
            f"jawOpen mean: listening {self.jaw_open(listening):.3f}, "
            f"speaking {self.jaw_open(self.speaking):.3f}",
            f"time: {timings}",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])
