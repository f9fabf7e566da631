"""The text-classifier experiment of issue 25 (benchkit/turn_text_corpus.py,
benchkit/turn_end_combiner.py): its labels are what they claim, its splits never mix
a conversation, and the fitted weights it reports still load.

The corpus comes from the pinned chatterbot-corpus wheel on PyPI (fetched once into
cache/real_media, checked by hash), so this runs on the real text."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.turn_end_text import split_final_mark
from benchkit.turn_end_combiner import (
    DEFAULT_MODEL_PATH,
    FEATURES,
    TurnEndModel,
    features,
    load_model,
)
from benchkit.turn_text_corpus import MAX_WORDS, labelled_texts, split_of
from benchkit.voice import QUESTIONS, STATEMENTS


@pytest.fixture(scope="module")
def corpus() -> list:
    return labelled_texts()


def test_finished_turns_are_whole_and_cuts_are_inside_one(corpus: list) -> None:
    finished = {t.text for t in corpus if t.finished}
    cuts = [t for t in corpus if not t.finished]
    assert len(finished) > 500 and len(cuts) > 1000
    # every finished turn ends on a final mark, as whisper writes one (quotes may follow)
    assert all(split_final_mark(t)[1] and len(t.split()) <= MAX_WORDS for t in finished)
    # a cut is a strict beginning of some turn of its conversation, never a whole turn
    bare = {t.rstrip(".?!").rstrip() for t in finished}
    for cut in cuts[:300]:
        words = cut.text.rstrip(".,").split()
        assert words and cut.text not in finished
        assert any(w.startswith(" ".join(words)) for w in bare), cut.text


def test_a_conversation_lies_on_one_side_of_the_split(corpus: list) -> None:
    sides: dict[str, set[str]] = {}
    for text in corpus:
        sides.setdefault(text.conversation, set()).add(text.split)
        assert text.split == split_of(text.conversation)
    assert all(len(s) == 1 for s in sides.values())
    test_share = sum(t.split == "test" for t in corpus) / len(corpus)
    assert 0.1 < test_share < 0.4


def test_the_kiosk_sets_it_is_judged_on_are_not_in_it(corpus: list) -> None:
    texts = {t.text for t in corpus}
    assert not texts & set(QUESTIONS) and not texts & set(STATEMENTS)


def test_whisper_marks_are_features_of_their_own() -> None:
    names = dict.fromkeys(FEATURES)
    read = {name: value for name, value in zip(names, features("So, um...", 0.2, 0.01),
                                               strict=True)}
    assert read["hesitation_mark"] == 1.0 and read["period"] == 0.0
    read = dict(zip(names, features("Where are the toilets?", 0.9, 0.5), strict=True))
    assert read["question"] == 1.0 and read["no_mark"] == 0.0
    assert dict(zip(names, features("and the", 0.0, 0.0), strict=True))["no_mark"] == 1.0


def test_the_reported_weights_load_and_refuse_a_stale_file(tmp_path: Path) -> None:
    model = load_model(DEFAULT_MODEL_PATH)
    assert 0.0 < model.unfinished_below < model.done_above < 1.0
    assert model.p_done("Where are the toilets?", 0.95, 0.6) > model.p_done("and the", 0.0, 0.0)
    stale = tmp_path / "stale.json"
    TurnEndModel.from_weights([0.0] * len(FEATURES), 0.0, done_above=0.5,
                              unfinished_below=0.1).to_json(stale)
    stale.write_text(stale.read_text().replace('"logit_p_end"', '"p_end"'))
    with pytest.raises(ValueError, match="refit"):
        load_model(stale)
