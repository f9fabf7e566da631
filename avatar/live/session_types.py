"""What a live avatar session is given and hands out: its options, its planned and
drawn frames, and the counters it keeps.

Apart from `AvatarSession` (avatar/live/session.py) so that the user-input and
reply queues it is built from, and callers that only pass frames along, need not
import the session itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from avatar.live.video_codec import EncodedImage

FPS = 25
FRAME_US = 1_000_000 // FPS  # 40 ms


@dataclass(frozen=True)
class SessionOptions:
    """Per-session choices (the face service picks size from the machine's measured cost)."""

    size: int = 512  # square video edge, 256..512
    jpeg_quality: int = 80  # 0: no JPEG (offline renders keep only RGB)
    seed: int = 0
    smooth: bool = True  # causal One-Euro filter on generated motion (jitter)
    #: a camera measurement stands for the user's face this long; after it, "no face"
    motion_hold_secs: float = 0.3
    #: user frames kept waiting beyond one block; older ones are dropped (bounded lag)
    max_user_backlog: int = 2
    #: attention while the user speaks and a nod when they stop (avatar/live/listening.py)
    listening_cues: bool = True
    #: eyes (and a little of the head) turn toward the visitor's face (avatar/live/gaze.py)
    mutual_gaze: bool = True
    #: the voice's share of the speaking jaw (avatar/live/voice_jaw.py); 0: the generator's
    voice_jaw: float = 0.3


@dataclass(frozen=True)
class PlannedFrame:
    """One generated 40 ms frame before rendering: motion and its exact audio."""

    index: int
    pts_us: int
    audio: bytes  # PCM s16le mono at the session's output rate, one frame long
    motion: np.ndarray  # (58,) absolute motion in the portrait's frame
    speaking: bool  # the audio holds reply speech (not padding silence)
    #: reply samples output up to and including this frame (session-cumulative)
    reply_position: int
    #: user-audio frames (40 ms) heard when this frame was generated (reaction latency)
    user_frames: int = 0
    #: the session's clear() count when generated: an older frame is stale (barge-in)
    generation: int = 0
    #: reply samples (output rate) in this frame's audio
    reply_samples: int = 0


@dataclass(frozen=True)
class AvatarFrame:
    """A frame ready to send: image and audio share one pts."""

    index: int
    pts_us: int
    audio: bytes
    image: np.ndarray  # (size, size, 3) uint8 RGB
    jpeg: bytes | None
    motion: np.ndarray
    speaking: bool
    reply_position: int
    user_frames: int = 0
    repeated: bool = False  # the image of an earlier frame (rendering skipped under load)
    #: the image as the next frame of the session's VP8 stream (render(video=...))
    video: EncodedImage | None = None


@dataclass
class SessionStats:
    """Counters a caller reports (metrics events, benches)."""

    blocks: int = 0
    held_blocks: int = 0  # blocks planned without a generator step (held_block)
    hand_over_blocks: int = 0  # replies whose first block was shown from mouths drawn ahead
    late_mouths: int = 0  # frames after a hand-over block shown from its mouths, late
    frames: int = 0
    speaking_frames: int = 0
    user_frames_padded: int = 0  # user audio missing when its block was due: silence used
    user_frames_dropped: int = 0  # user audio arriving in a burst beyond the backlog
    cleared: int = 0
    pauses: int = 0
    block_ms: deque[float] = field(default_factory=lambda: deque(maxlen=250))
    render_ms: deque[float] = field(default_factory=lambda: deque(maxlen=250))


__all__ = ["FPS", "FRAME_US", "AvatarFrame", "PlannedFrame", "SessionOptions", "SessionStats"]
