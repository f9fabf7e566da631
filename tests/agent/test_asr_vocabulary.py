"""The recognizer's prompt is made of the knowledge file's own names and labels
(agent/asr_vocabulary.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.asr_vocabulary import (
    MAX_PROMPT_WORDS,
    recognizer_prompt,
    recognizer_prompt_from_file,
    vocabulary,
)

SHIPPED = Path(__file__).resolve().parents[2] / "agent" / "data" / "kiosk_knowledge.md"


def test_shipped_file_prompt_names_the_store_words() -> None:
    prompt = recognizer_prompt_from_file(SHIPPED)
    for name in ("Maple & Main Home Store", "Harbor Road", "MapleGuest", "Apple Pay",
                 "Delivery", "Restrooms"):
        assert name in prompt
    assert len(prompt.split()) <= MAX_PROMPT_WORDS
    assert "<!--" not in prompt and "Operators" not in prompt  # comments are dropped


def test_another_store_gets_its_own_words() -> None:
    knowledge = ("Store name: Pinecrest Hardware.\n"
                 "Opening hours: Monday to Friday 8 a.m. to 6 p.m.\n"
                 "Key cutting: at the Lockwood counter, 5 dollars a key.\n")
    terms = vocabulary(knowledge)
    assert terms[:2] == ["Pinecrest Hardware", "Lockwood"]  # names first, in file order
    assert {"Store name", "Opening hours", "Key cutting"} <= set(terms)
    assert "Monday" not in terms and "Opening" not in terms  # days and a label's word
    assert "Maple" not in recognizer_prompt(knowledge)


def test_prompt_is_cut_at_whole_terms() -> None:
    knowledge = "\n".join(f"Label{i}: see the Counter{i} desk." for i in range(50))
    prompt = recognizer_prompt(knowledge, max_words=10)
    assert len(prompt.split()) <= 10
    assert prompt.endswith(".") and prompt.startswith("Counter0,")


def test_a_file_without_words_is_an_error() -> None:
    with pytest.raises(ValueError, match="no labels or names"):
        vocabulary("just some lower case text without labels.")
