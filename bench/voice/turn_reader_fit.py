"""Figure: bench/voice/baselines/turn_end_combiner.json and docs/turn_end_reader.png, a text classifier for the turn end (issue 25; not shipped).

Reads every text of benchkit/turn_text_corpus.py (written dialogue turns, finished,
and cuts inside them, unfinished) with the LLM exactly as the live reader does (the
bundled Qwen2.5-0.5B on the embedded server, the kiosk persona in front), fits the
logistic combiner of benchkit/turn_end_combiner.py on the train conversations, sets its two
thresholds on them, and judges it where it was never fitted: the test conversations,
the kiosk's own questions and statements (benchkit/voice.py), and the transcripts at
the pauses and ends of the real clips, tuned and held out
(bench/results/turn_end_offline.json, written by bench/voice/turn_end.py: run that first). Both
the raw thresholds it replaces and the combiner are scored on the same readings.

The readings are cached (cache/turn_reader_readings.json, resumable: ~0.2 s each);
prints one JSON object; writes bench/results/turn_reader_fit.json, the weights
(bench/voice/baselines/turn_end_combiner.json, tracked: bench/voice/turn_end.py reads them) and
docs/turn_end_reader.png.

    .venv/bin/python bench/voice/turn_reader_fit.py [--threads N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from tqdm import tqdm

from agent.turn_end_text import TurnEndThresholds, verdict
from benchkit.paths import RESULTS, ROOT
from benchkit.turn_end_combiner import DEFAULT_MODEL_PATH, FEATURES, TurnEndModel, features
from benchkit.turn_text_corpus import LabelledText, labelled_texts
from benchkit.voice import QUESTIONS, STATEMENTS

CACHE = ROOT / "cache" / "turn_reader_readings.json"
#: the share of the train split's cuts allowed to read "done" (a cut-in); and of its
#: finished turns allowed to read "unfinished" (the long hold on a finished turn)
DONE_FALSE_RATE = 0.10
UNFINISHED_MISS_RATE = 0.03
L2 = 1.0


def read_all(texts: list[str], threads: int) -> dict[str, tuple[float, float]]:
    """{text: (p_end, p_close)}, from the cache or the embedded server."""
    from agent.bundled_models import qwen_gguf
    from agent.llm_server import EmbeddedLLMServer
    from agent.persona import build_system_prompt
    from agent.settings import PersonaSettings
    from agent.turn_end_text import TurnEndReader
    from pipelines.voice_pipeline import spoken_system_prompt

    cached: dict[str, list[float]] = json.loads(CACHE.read_text()) if CACHE.exists() else {}
    todo = [t for t in dict.fromkeys(texts) if t not in cached]
    if todo:
        system = [{"role": "system",
                   "content": spoken_system_prompt(build_system_prompt(PersonaSettings()))}]

        async def run(server: EmbeddedLLMServer) -> None:
            reader = TurnEndReader(base_url=server.base_url, timeout_s=600.0)
            try:
                for i, text in enumerate(tqdm(todo, desc="reading", file=sys.stderr)):
                    reading = await reader.read(text, system)
                    cached[text] = [reading.p_end, reading.p_close]
                    if i % 50 == 49:
                        CACHE.write_text(json.dumps(cached))
            finally:
                await reader.aclose()
                CACHE.parent.mkdir(parents=True, exist_ok=True)
                CACHE.write_text(json.dumps(cached))

        with EmbeddedLLMServer(model_path=qwen_gguf(), model_alias="qwen",
                               n_threads=threads) as server:
            asyncio.run(run(server))
    return {t: (cached[t][0], cached[t][1]) for t in texts}


def fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression, classes weighted equally (scipy's L-BFGS)."""
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-9
    xs = (x - mean) / scale
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = xs @ theta[:-1] + theta[-1]
        p = 1 / (1 + np.exp(-z))
        nll = np.sum(weight * (np.logaddexp(0, z) - y * z)) / len(y)
        grad_z = weight * (p - y) / len(y)
        grad = np.append(xs.T @ grad_z + L2 * theta[:-1] / len(y), grad_z.sum())
        return float(nll + 0.5 * L2 * theta[:-1] @ theta[:-1] / len(y)), grad

    theta = minimize(loss, np.zeros(x.shape[1] + 1), jac=True, method="L-BFGS-B").x
    weights = theta[:-1] / scale
    return weights, float(theta[-1] - weights @ mean)


def states(model: TurnEndModel | None, items: list[tuple[str, float, float]]) -> list[str]:
    """Each item's verdict under the combiner, or under the raw thresholds (None)."""
    if model is None:
        from agent.turn_end_text import split_final_mark
        return [verdict(pe, pc, question=split_final_mark(t)[1].startswith("?"),
                        thresholds=TurnEndThresholds()) for t, pe, pc in items]
    return [model.state(text, pe, pc) for text, pe, pc in items]


def shares(found: list[str]) -> dict[str, float]:
    n = max(len(found), 1)
    return {s: round(found.count(s) / n, 3) for s in ("done", "unsure", "unfinished")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    corpus = labelled_texts()
    offline = RESULTS / "turn_end_offline.json"
    if not offline.is_file():  # bench/results/ is git-ignored output: not in a fresh clone
        parser.error(f"{offline.relative_to(ROOT)} is missing: run bench/voice/turn_end.py first")
    clips = [p for p in json.loads(offline.read_text())["points"]
             if p.get("text") and not p["set"].startswith("kiosk")]
    kiosk = list(QUESTIONS) + list(STATEMENTS)
    readings = read_all([t.text for t in corpus] + kiosk + [p["text"] for p in clips],
                        args.threads)

    def rows(texts: list[LabelledText]) -> tuple[np.ndarray, np.ndarray]:
        x = np.array([features(t.text, *readings[t.text]) for t in texts])
        return x, np.array([float(t.finished) for t in texts])

    train = [t for t in corpus if t.split == "train"]
    test = [t for t in corpus if t.split == "test"]
    weights, bias = fit(*rows(train))
    raw = TurnEndModel.from_weights(weights.tolist(), bias, done_above=0.5, unfinished_below=0.0)
    p_train = np.array([raw.p_done(t.text, *readings[t.text]) for t in train])
    y_train = np.array([t.finished for t in train])
    # thresholds from the train split only: few cuts read done, few turns unfinished
    done_above = float(np.quantile(p_train[~y_train], 1 - DONE_FALSE_RATE))
    unfinished_below = float(np.quantile(p_train[y_train], UNFINISHED_MISS_RATE))
    model = TurnEndModel.from_weights(weights.tolist(), bias, done_above=round(done_above, 4),
                                      unfinished_below=round(unfinished_below, 4))

    def judged(items: list[tuple[str, float, float]]) -> dict[str, Any]:
        return {"n": len(items), "combiner": shares(states(model, items)),
                "raw_thresholds": shares(states(None, items))}

    def of(texts: list[str]) -> list[tuple[str, float, float]]:
        return [(t, *readings[t]) for t in texts]

    sets = {
        "test_finished": judged(of([t.text for t in test if t.finished])),
        "test_cut": judged(of([t.text for t in test if not t.finished])),
        "train_finished": judged(of([t.text for t in train if t.finished])),
        "train_cut": judged(of([t.text for t in train if not t.finished])),
        "kiosk_questions": judged(of(list(QUESTIONS))),
        "kiosk_statements": judged(of(list(STATEMENTS))),
        "clip_pauses": judged(of([p["text"] for p in clips if p["kind"] == "pause"])),
        "clip_ends": judged(of([p["text"] for p in clips if p["kind"] == "end"])),
    }
    per_text = {t: {"p_done": round(model.p_done(t, *readings[t]), 3),
                    "state": states(model, of([t]))[0]}
                for t in list(STATEMENTS) + [p["text"] for p in clips]}
    result = {"features": list(FEATURES), "weights": [round(w, 4) for w in weights],
              "bias": round(bias, 4), "done_above": model.done_above,
              "unfinished_below": model.unfinished_below, "sets": sets,
              "corpus": {"train": len(train), "test": len(test)},
              "per_text": per_text, "load_avg_start": round(load, 2),
              "load_avg_end": round(os.getloadavg()[0], 2)}
    model.to_json(DEFAULT_MODEL_PATH, fitted_by="bench/voice/turn_reader_fit.py",
                  corpus="chatterbot-corpus 1.3.3 (benchkit/turn_text_corpus.py), train split",
                  train_texts=len(train), test_figures={k: v["combiner"] for k, v in sets.items()})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "turn_reader_fit.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(model, readings, {"corpus: finished (test)": [t.text for t in test if t.finished],
                           "corpus: cut (test)": [t.text for t in test if not t.finished],
                           "kiosk statements": list(STATEMENTS),
                           "kiosk questions": list(QUESTIONS),
                           "real clips: pauses": [p["text"] for p in clips
                                                  if p["kind"] == "pause"],
                           "real clips: ends": [p["text"] for p in clips
                                                if p["kind"] == "end"]},
         ROOT / "docs" / "turn_end_reader.png")
    print(json.dumps({k: v for k, v in result.items() if k != "per_text"}, indent=1))


def plot(model: TurnEndModel, readings: dict[str, tuple[float, float]],
         groups: dict[str, list[str]], path: Path) -> None:
    """P(done) of each group's texts, with the two thresholds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    for row, texts in enumerate(groups.values()):
        ps = [model.p_done(t, *readings[t]) for t in texts]
        jitter = np.random.default_rng(row).uniform(-0.25, 0.25, len(ps))
        ax.scatter(ps, row + jitter, s=6, alpha=0.5)
    ax.axvline(model.done_above, color="green", lw=0.8, label="done at or above")
    ax.axvline(model.unfinished_below, color="red", lw=0.8, label="unfinished below")
    ax.set_yticks(range(len(groups)), list(groups))
    ax.set_xlabel("P(the visitor is done), the fitted combiner of the LLM readings and marks")
    ax.set_title("Text classifier (not shipped): written dialogue against speech")
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
