"""The text classifier of issue 25's turn-end experiment (benchkit/voice/turn_end_combiner.py):
whisper's marks are features of their own, and the fitted weights bench/voice/turn_end.py
scores still load (its fit, turn_reader_fit.py, is retired: docs/history/retired_bench.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchkit.voice.turn_end_combiner import (
    DEFAULT_MODEL_PATH,
    FEATURES,
    TurnEndModel,
    features,
    load_model,
)


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
