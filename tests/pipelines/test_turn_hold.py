"""Which transcripts sound unfinished (the turn-end hold of pipelines/turn_hold.py)."""

from __future__ import annotations

import pytest

from pipelines.turn_hold import sounds_unfinished


@pytest.mark.parametrize("text", [
    "I'd like a coffee and", "I need apples,", "Could you tell me where the",
    "My order number is", "I'm looking for a present for my", "Um, I want the...", "So",
    "I'm looking for the.",
])
def test_promising_more(text: str) -> None:
    assert sounds_unfinished(text)


@pytest.mark.parametrize("text", [
    "Where are the toilets?", "A croissant, please.", "Two coffees.", "Thanks!", "Yes", "",
    "I need apples, bananas and milk.", "Thank you.", "Yes, it is.", "Thank you",
])
def test_complete_looking(text: str) -> None:
    assert not sounds_unfinished(text)
