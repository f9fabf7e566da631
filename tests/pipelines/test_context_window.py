"""The bounded LLM context (pipelines/turns/context_window.py), on pipecat's real LLMContext."""

from __future__ import annotations

import pytest
from pipecat.processors.aggregators.llm_context import LLMContext

from pipelines.turns.context_window import ContextWindow, trim_context


def exchange(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": f"answer {i}"}]


def test_long_session_keeps_the_last_whole_exchanges() -> None:
    context = LLMContext([m for i in range(50) for m in exchange(i)])
    assert trim_context(context, 16) == 84
    kept = context.get_messages()
    assert len(kept) == 16 and kept[0] == {"role": "user", "content": "question 42"}
    assert kept[-1] == {"role": "assistant", "content": "answer 49"}


def test_never_starts_with_an_orphan_answer() -> None:
    messages = [m for i in range(5) for m in exchange(i)] + [{"role": "user", "content": "q"}]
    context = LLMContext(messages)
    trim_context(context, 4)  # the last 4 would start with "answer 3"
    assert [m["content"] for m in context.get_messages()] == ["question 4", "answer 4", "q"]


def test_short_context_is_untouched() -> None:
    context = LLMContext(exchange(0))
    assert trim_context(context, 16) == 0 and len(context.get_messages()) == 2
    with pytest.raises(ValueError):
        ContextWindow(max_messages=4, keep_messages=1)


def test_trimming_in_steps_keeps_the_prefix_stable_between_cuts() -> None:
    """llama.cpp's prompt cache needs an unchanged prefix: cut rarely, not every turn."""
    context = LLMContext()
    cuts = 0
    for i in range(40):
        context.add_messages(exchange(i))
        before = [m["content"] for m in context.get_messages()]
        cuts += trim_context(context, 24, 8) > 0
        after = [m["content"] for m in context.get_messages()]
        assert len(after) <= 24
        if after[0] == before[0]:
            continue
        assert len(after) == 8  # a cut goes all the way down, then the history grows again
    assert cuts == 40 // 8 - 1  # once every 8 exchanges after the first fill


async def test_a_speculative_copy_trims_the_session_context_alike() -> None:
    """A kept speculation sends no real request: the session's own history must be
    cut as the copy was, or it grows unbounded and the prompt cache misses."""
    from pipecat.frames.frames import LLMContextFrame
    from pipecat.tests.utils import run_test

    session = LLMContext([m for i in range(12) for m in exchange(i)])
    copy = LLMContext([*session.get_messages(), {"role": "user", "content": "guess"}])
    window = ContextWindow(max_messages=24, keep_messages=8, context=session)
    down, _ = await run_test(window, frames_to_send=[LLMContextFrame(copy, speculation=True)],
                             expected_down_frames=[LLMContextFrame])
    sent = down[0].context.get_messages()  # type: ignore[attr-defined]
    assert sent[-1] == {"role": "user", "content": "guess"} and len(sent) <= 8
    assert session.get_messages() == sent[:-1]
