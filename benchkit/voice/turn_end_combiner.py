"""The "small classifier trained here on text" of issue 25, tried and not shipped.

The LLM's readings (agent/turn_end_text.py) alone hold complete statements: Qwen2.5-0.5B
gives "Yes, please." almost no chance of ending a message (p_end 0.00-0.05), so a
kiosk answer waited the `unsure` hold. This logistic combiner, fitted on written
dialogue turns and their cuts (turn_reader_fit.py, retired: docs/history/retired_bench.md),
weighs the two readings against whisper's own marks and the length of the turn, and
reads 95 % of the kiosk's statements "done" (the raw thresholds: none).

Why it is not in agent/: on speech it reads "done" wherever whisper closed a whole
sentence, and whisper closes one at most pauses of real speakers ("So we had a long
problem." | "about not finding out why"): offline (bench/voice/turn_end.py, `reader`) it
cut 0.26 of the tuned clips' pauses and 0.37 of the held-out ones, about what the
word tiers cut without any reading. Written turns and their cuts do not teach where
speakers pause. Its weights stay in bench/voice/baselines/turn_end_combiner.json (tracked:
bench/results/ is git-ignored output) so the bench can put it beside the shipped reading.

Why a logistic regression on these, not the LLM's hidden state: the readings are
already paid for (one request, mostly cached), eight weights cannot memorise the
2,000 training texts, and its decisions can be read off the weights.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from benchkit.paths import ROOT

#: what the model reads, in the order of its weights
FEATURES = ("logit_p_end", "logit_p_close", "question", "period", "hesitation_mark",
            "no_mark", "log_words", "one_word")
DEFAULT_MODEL_PATH = ROOT / "bench" / "voice" / "baselines" / "turn_end_combiner.json"
_CLIP = 1e-4


def _logit(p: float) -> float:
    p = min(max(p, _CLIP), 1.0 - _CLIP)
    return math.log(p / (1.0 - p))


def features(text: str, p_end: float, p_close: float) -> list[float]:
    """The model's inputs for one transcript and its two readings (FEATURES' order).

    Whisper's final mark is a signal of its own: it writes "..." or "," where the
    speaker's voice trailed off into a pause, "." or "?" where it fell."""
    text = " ".join(text.split())
    words = len(text.split())
    trailing = text.rstrip("\"')\u201d\u2019")
    hesitation = trailing.endswith(("...", "\u2026", ",", ";", ":", "-"))
    question = trailing.endswith("?")
    period = trailing.endswith((".", "!")) and not hesitation
    return [_logit(p_end), _logit(p_close), float(question), float(period),
            float(hesitation), float(not (question or period or hesitation)),
            math.log1p(words), float(words == 1)]


@dataclass(frozen=True)
class TurnEndModel:
    """The fitted combiner: P(done) = sigmoid(bias + weights . features)."""

    weights: tuple[float, ...]
    bias: float
    #: P(done) at or above this: the turn is over
    done_above: float
    #: P(done) below this: plainly unfinished (the longer hold)
    unfinished_below: float

    def p_done(self, text: str, p_end: float, p_close: float) -> float:
        """The probability that the turn ended with `text`."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features(text, p_end, p_close),
                                                  strict=True))
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))

    def state(self, text: str, p_end: float, p_close: float) -> str:
        """The three-way verdict the LLM's reading gives ("done", "unsure", "unfinished"),
        from this model's probability and thresholds."""
        p_done = self.p_done(text, p_end, p_close)
        if p_done >= self.done_above:
            return "done"
        return "unfinished" if p_done < self.unfinished_below else "unsure"

    def to_json(self, path: Path, **provenance: object) -> None:
        """Write the weights, with what they were fitted on and how they scored."""
        path.write_text(json.dumps({
            "features": list(FEATURES), "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6), "done_above": self.done_above,
            "unfinished_below": self.unfinished_below, **provenance}, indent=1) + "\n")

    @classmethod
    def from_weights(cls, weights: Sequence[float], bias: float, *, done_above: float,
                     unfinished_below: float) -> TurnEndModel:
        """A model from fitted numbers (bench/voice/turn_reader_fit.py)."""
        if len(weights) != len(FEATURES):
            raise ValueError(f"{len(weights)} weights for {len(FEATURES)} features")
        return cls(tuple(float(w) for w in weights), float(bias), done_above, unfinished_below)


@cache
def load_model(path: Path = DEFAULT_MODEL_PATH) -> TurnEndModel:
    """The fitted combiner (read once). A missing or foreign file is an error that
    names it."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise FileNotFoundError(f"turn-end model {path} is missing; "
                                "it was written by bench/voice/turn_reader_fit.py, retired: "
                                "docs/history/retired_bench.md") from error
    if data.get("features") != list(FEATURES):
        raise ValueError(f"turn-end model {path} reads {data.get('features')}, "
                         f"this code computes {list(FEATURES)}: refit it")
    return TurnEndModel.from_weights(data["weights"], data["bias"],
                                     done_above=data["done_above"],
                                     unfinished_below=data["unfinished_below"])
