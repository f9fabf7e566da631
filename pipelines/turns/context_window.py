"""A bounded LLM context: a long kiosk session must not outgrow the model's window.

The embedded llama.cpp server holds 2,048 tokens; the persona and knowledge take
about 900 of them (sent as the system instruction, not as a message), and every
question and answer adds 30-60 more. Found in a soak: after
about 45 turns in one session the prompt no longer fitted and every later turn
got no answer. `ContextWindow`, placed between the user aggregator and the LLM,
keeps the most recent messages (whole exchanges, starting at a user message),
so a session can last all day.

It trims in steps, not one message at a time: once the history passes
`max_messages` it is cut back to `keep_messages`. llama.cpp reuses the cached
prompt only up to the first change, so dropping the oldest message on every
turn made every turn re-read the whole history (first token 3.9 s instead of
0.3 s, measured in a soak); cutting in steps costs that once every few turns.
"""

from __future__ import annotations

from typing import Any

from pipecat.frames.frames import Frame, LLMContextFrame
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor


def trim_context(context: LLMContext, max_messages: int, keep_messages: int | None = None) -> int:
    """Past `max_messages`, keep the last `keep_messages` (default: `max_messages`)
    messages, starting at a user turn; returns how many were dropped. Never leaves
    an assistant or tool message without its question."""
    messages = list(context.get_messages())
    if len(messages) <= max_messages:
        return 0
    keep = messages[-(keep_messages or max_messages):]
    while keep and _role(keep[0]) != "user":
        keep = keep[1:]
    context.set_messages(keep)
    return len(messages) - len(keep)


def _role(message: Any) -> str | None:
    """A message's role (provider-specific messages have none we can read)."""
    return message.get("role") if isinstance(message, dict) else None


class ContextWindow(FrameProcessor):
    """Trims each context on its way to the LLM (see the module docstring)."""

    def __init__(self, *, max_messages: int = 24, keep_messages: int = 8,
                 context: LLMContext | None = None, **kwargs: Any) -> None:
        """Past `max_messages` (24: 12 exchanges, ~300-700 tokens beside the ~900 of
        the persona) the history is cut back to the last `keep_messages`.
        `context`: the session's own context, trimmed alike when a speculative
        request (a provisional copy, pipelines/turns/speculative_turn.py) is trimmed."""
        super().__init__(**kwargs)
        self._context = context
        if not 2 <= keep_messages <= max_messages:
            raise ValueError(f"need 2 <= keep_messages <= max_messages, got {keep_messages}, "
                             f"{max_messages}")
        self.max_messages = max_messages
        self.keep_messages = keep_messages
        self.dropped = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Trim LLM contexts going downstream; pass everything on."""
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame) and direction == FrameDirection.DOWNSTREAM:
            dropped = trim_context(frame.context, self.max_messages, self.keep_messages)
            self.dropped += dropped
            if dropped and frame.speculation and self._context is not None:
                # the copy is the session's messages plus the guess: drop the same ones, so
                # a kept speculation leaves the history as a normal turn would have
                self._context.set_messages(list(self._context.get_messages())[dropped:])
        await self.push_frame(frame, direction)
