"""The debug trace of a reply's first audio out (pipelines/wire/reply_trace.py): off
unless asked, a clear error for a bad value, one log line a reply."""

from __future__ import annotations

import pytest
from loguru import logger

from pipelines.wire.reply_trace import TRACE_ENV, ReplyAudioTrace


def test_off_unless_asked_and_a_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRACE_ENV, raising=False)
    assert ReplyAudioTrace.from_env() is None
    for value in ("many", "0", "-3"):
        monkeypatch.setenv(TRACE_ENV, value)
        with pytest.raises(ValueError, match=f"{TRACE_ENV}=.*positive whole number"):
            ReplyAudioTrace.from_env()
    monkeypatch.setenv(TRACE_ENV, "25")
    trace = ReplyAudioTrace.from_env("websocket")
    assert trace is not None and trace.frames == 25 and trace.where == "websocket"


def test_one_line_a_reply_with_each_frame_against_the_first_ones_grid() -> None:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), format="{message}")
    try:
        trace = ReplyAudioTrace(3)
        trace.pushed(True, 0.04)
        trace.pushed(False, 0.04)
        trace.pushed(False, 0.04)  # the third frame: the line goes out
        trace.pushed(False, 0.04)  # beyond the frames traced: nothing
        trace.pushed(True, 0.04)   # the next reply
    finally:
        logger.remove(sink)
    assert len(lines) == 1, lines
    assert "reply audio trace (clock) 1" in lines[0] and "least ahead" in lines[0]
    # pushed at once, one after another: ahead of the grid by a frame and by two
    assert " 0:0/0 1:0/40 2:0/80" in lines[0], lines[0]
