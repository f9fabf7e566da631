"""A shared kiosk keeps no transcript in its log unless the operator asks for one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger

from pipelines.server.log_redaction import visitor_words_filter


@pytest.fixture
def lines() -> Iterator[list[str]]:
    """What a sink behind the filter would write."""
    written: list[str] = []
    yield written


def _log_a_visit(written: list[str], log_transcripts: bool) -> None:
    sink = logger.add(lambda message: written.append(str(message)), level="DEBUG",
                      filter=visitor_words_filter(log_transcripts), format="{message}")
    try:
        # as pipecat logs a transcription (its module's name), and as our turn code
        # logs words (bound as a transcript); then an ordinary line of ours
        logger.patch(lambda r: r.update(name="pipecat.services.whisper.stt")).debug(
            "Transcription: [my room is 1207]")
        logger.bind(transcript=True).debug("words over the reply ('my room is 1207')")
        logger.info("[s1] the visitor left; conversation cleared")
    finally:
        logger.remove(sink)


def test_visitors_words_stay_out_of_the_log_by_default(lines: list[str]) -> None:
    _log_a_visit(lines, log_transcripts=False)
    assert not any("1207" in line for line in lines)
    assert any("conversation cleared" in line for line in lines)


def test_an_operator_may_turn_transcripts_on(lines: list[str]) -> None:
    _log_a_visit(lines, log_transcripts=True)
    assert sum("1207" in line for line in lines) == 2
