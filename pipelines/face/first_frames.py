"""`FirstFrames`: where a reply's first audio waited for its first frames.

`bot-started-speaking` (and the voice a client hears) waits for the reply's first
frame: its audio goes out right after the image it animates. This keeps the instants
of the last reply's way out, on the monotonic clock every process of the machine
shares, so a bench can put the server's instants beside its own:

    audio_in -> block_from -> block_done -> drawn -> image_out -> audio_out (+ held)

- `audio_in`: the reply's first TTS audio entered the session;
- `block_from`, `block_done`: the generator step of the block that holds the reply's
  first frame was asked and came back (the worker's hop included); both the instant
  the block was opened where the first frame went ahead of the step (`lead_in`);
- `drawn`: that frame's image came back from the renderer;
- `image_out`, `audio_out`: the image, then its audio, pushed to the transport;
- `held_secs`: audio the transport still held ahead of that first reply audio (a
  real-time device model, audio_sink.py): what the voice waits behind there.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FirstFrames:
    """The last reply's instants (monotonic s; 0: not reached yet)."""

    audio_in: float = 0.0
    block_from: float = 0.0
    block_done: float = 0.0
    drawn: float = 0.0
    image_out: float = 0.0
    audio_out: float = 0.0
    held_secs: float = 0.0
    #: the session's index of the reply's first frame (its image's `frame_index`)
    frame_index: int = -1
    #: replies timed so far
    replies: int = 0
    #: the reply's first frame was planned without waiting for its block's generator
    #: step (face_generator.py `REPLY_LEAD_IN`): block_from = block_done, no step between
    lead_in: bool = False
    #: that lead-in's picture was the last image drawn (`OpenedBlock.lead_in_shown`):
    #: shown again, so `drawn` follows `block_done` with no drawing between
    lead_in_shown: bool = False

    def began(self, audio_in: float, frame_index: int) -> None:
        """A reply's first audio came at `audio_in`, its first frame is `frame_index`:
        its instants start again."""
        self.audio_in, self.frame_index = audio_in, frame_index
        self.block_from = self.block_done = self.drawn = 0.0
        self.image_out = self.audio_out = self.held_secs = 0.0

    def as_stats(self) -> dict[str, float | int]:
        """The last finished reply's steps in ms from its first audio (flat, for the
        `metrics` event), with `audio_in` itself so a client can join its own clock."""
        if not self.audio_out:
            return {"first_frames_replies": self.replies}

        def since(instant: float) -> float:
            return round(1000.0 * (instant - self.audio_in), 1) if instant else -1.0

        return {
            "first_frames_replies": self.replies,
            "first_frames_audio_in_at": round(self.audio_in, 4),
            "first_frames_block_from_ms": since(self.block_from),
            "first_frames_block_done_ms": since(self.block_done),
            "first_frames_drawn_ms": since(self.drawn),
            "first_frames_image_out_ms": since(self.image_out),
            "first_frames_audio_out_ms": since(self.audio_out),
            "first_frames_held_ms": round(1000.0 * self.held_secs, 1),
            "first_frames_lead_in": int(self.lead_in),
            "first_frames_lead_in_shown": int(self.lead_in_shown),
        }


__all__ = ["FirstFrames"]
