"""`ReplyState`: where the bot's reply stands, shared by the face service (frames in),
its clock (frames out) and the frames held behind the reply's audio."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(eq=False)
class ReplyState:
    """Written by the service and by its clock, read by both (one per face: compared
    and hashed by identity, so a registry of live faces can hold it)."""

    #: the user paused or their turn ended and the reply has not started: whisper, the
    #: LLM and piper are on the critical path (monotonic deadline; 0 while the user
    #: speaks or the reply plays)
    thinking_until: float = 0.0
    #: when the current thinking window opened (monotonic s; an extension keeps it)
    thinking_since: float = 0.0
    #: between a reply's first audio out and its TTSStoppedFrame leaving the service
    in_reply: bool = False
    #: reply samples out so far (session-cumulative): held frames up to here may go
    emitted_position: int = 0
    #: seconds of the last interrupted reply that were output (`AvatarSession.clear`)
    last_played_secs: float = 0.0

    def thinking(self) -> bool:
        """The reply is being thought up now."""
        return time.monotonic() < self.thinking_until

    def think_for(self, secs: float) -> None:
        """Open the thinking window for `secs` from now, or extend the one open: its
        start stays where it opened (the user's first pause, then the VAD's stop)."""
        now = time.monotonic()
        if not self.thinking():
            self.thinking_since = now
        self.thinking_until = max(self.thinking_until, now + secs)

    def stop_thinking(self) -> None:
        """The user speaks again, or the reply's audio goes out: the window closes."""
        self.thinking_until = 0.0

    def thought_for(self) -> float | None:
        """Seconds since the thinking window opened (None: no reply is thought up)."""
        return time.monotonic() - self.thinking_since if self.thinking() else None

    def yielding(self, reply_playing: bool) -> bool:
        """The face gives way to the voice models: the reply is thought up and none of
        it plays (once its audio comes, its first images are what the voice waits for)."""
        return self.thinking() and not reply_playing


__all__ = ["ReplyState"]
