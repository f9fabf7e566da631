"""Which words over a reply count as a backchannel (pipelines/turns/barge_in.py)."""

from __future__ import annotations

import pytest

from pipelines.turns.barge_in import is_backchannel


@pytest.mark.parametrize("text", [
    "", "  ", "Mm-hm.", "Mhm", "Uh-huh.", "Yeah.", "Yeah, yeah.", "Okay.", "OK!", "Right.",
    "Sure.", "Oh, wow.", "I see.", "Got it.", "Go on.", "Yeah, go for it.", "Thank you.",
    "Ha ha ha.", "Haha!", "(laughs)", "[Laughter]", "*cough*", "Hmm.", "All right.",
    "Okay, I see.", "Yes.", "Makes sense.",
])
def test_acknowledgements_laughter_and_non_speech_tags_are_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize("text", [
    "Stop.", "Wait.", "No.", "No, I meant the garden center.", "Where is the restroom?",
    "Sorry, can I ask something else?", "Go back.", "I see a problem.", "For how long?",
    "It is broken.", "Okay, but where do I park?", "Yeah, what about delivery?", "On Sunday?",
    "Hold on.", "Excuse me.",
])
def test_requests_and_content_words_interrupt(text: str) -> None:
    assert not is_backchannel(text)


@pytest.mark.parametrize("text", ["Daaahhahhahhahhahh", "hahaha", "Hehehe!", "Ahahah, haha."])
def test_whisper_spellings_of_a_laugh_are_backchannels(text: str) -> None:
    assert is_backchannel(text)


@pytest.mark.parametrize("text", ["Had.", "Nah.", "Ohio?", "Aha, stop.", "Behave."])
def test_words_shaped_like_laughter_but_english_interrupt(text: str) -> None:
    assert not is_backchannel(text)
