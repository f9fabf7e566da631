"""Figure: bench/results/turn_end_offline.json and turn_end_curve.png, turn-end detectors offline.

Turn-end detectors side by side, offline: false cut-offs against response delay.

The same decision points for every detector: each pause inside the 31 real paused
utterances of bench/voice/turn_splits.py --real (bench/voice/paused_utterances.py's rule,
0.3-1.5 s; the speaker goes on after it: a turn end there is a *false cut-off*),
and each utterance's end, plus the ends of the kiosk's complete questions
and statements (benchkit/visitor.py's QUESTIONS and STATEMENTS, spoken by piper),
and the same for the held-out clips (`--held-out` of bench/voice/turn_splits.py; their
false cut-offs reported apart and never used to choose). At each point the audio so
far goes to smart-turn v3 (its probability), the bundled whisper (greedy,
temperature 0; the whole clip so far) and the LLM's reading of that transcript
(agent/turn_end_text.py on the embedded server, persona in front, as live). A
detector turns the readings into the silence it waits before taking the turn;
a pause is cut when that wait is shorter than the pause; an end's response delay
is the wait. Detectors, each swept over its own waits:

- `silence`: one wait for every point;
- `smart_turn`: `a` when smart-turn says complete (p >= 0.5), else its 1.0 s fallback
  (pipecat's; `TurnParams.smart_turn_stop_secs`);
- `words` (the default before the reading): smart-turn, then the word tiers' holds
  (pipelines/turns/turn_hold.py: 0.8 / 1.6 s, 0.8 s after an unmarked transcript);
- `reader`: the same, with the verdict of a text classifier fitted here on written
  dialogue (benchkit/voice/turn_end_combiner.py; tried, not shipped) in place of the LLM's;
- `semantic` (the shipped default): the longer of the word tiers' hold and the reading's: `b` after
  "unsure", `c` after "unfinished", none after "done" or a question mark.

Per detector: the false cut-off rate at a response budget of 300 and 600 ms (the
lowest over its sweep with the median delay at the ends within the budget, as
eot-bench reports it) and the median delay at <= 5 % false cut-offs. The live
run of the same clips (the pipeline, old detector against new in one run) is
`bench/voice/turn_splits.py --real --semantic`. Prints one JSON object; writes
bench/results/turn_end_offline.json and bench/results/turn_end_curve.png (docs/ keeps the
quoted one).

    .venv/bin/python bench/voice/turn_end.py [--again]    (--again: re-sweep the saved readings)

Runs: ~15 min on its defaults (estimated for the 2-core host).
Quoted: docs/LATENCY.md, "Figures": false cut-off at 300 / 600 ms: + reading 0.03 / 0.03 (silence 1.00 / 0.41)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.paths import RESULTS
from benchkit.visitor import QUESTIONS, STATEMENTS, speech_end_secs, synthesize
from benchkit.voice.turn_splits import real_clips

RATE = 16000
FALLBACK_S = 1.0  # smart-turn's fallback in the pipeline (TurnParams.smart_turn_stop_secs)
WAITS = [round(x, 2) for x in np.arange(0.2, 2.01, 0.1)]
#: each detector's shipped setting: the VAD's 0.2 s stop, and the TurnParams holds
DEFAULTS = {"silence": (0.2,), "smart_turn": (0.2,), "words": (0.2,), "semantic": (0.2, 0.5, 2.0),
            "reader": (0.2, 0.5, 2.0)}


def decision_points(models: Any) -> list[dict[str, Any]]:
    """(audio so far, kind, pause length) for every pause and end; see the module doc."""
    points = []
    clips = real_clips(original_only=False) + real_clips(original_only=False, held_out=True)
    for clip in clips:
        audio = clip["audio"]
        for at, length in clip["rule_pauses"]:
            points.append({"clip": clip["clip"], "set": clip["set"], "kind": "pause",
                           "length": length, "audio": audio[: int(at * RATE)]})
        end = clip["speech_end_s"] or len(audio) / RATE
        points.append({"clip": clip["clip"], "set": clip["set"], "kind": "end", "length": None,
                       "audio": audio[: int(end * RATE)]})
    for kiosk_set, texts in (("kiosk", QUESTIONS), ("kiosk statements", STATEMENTS)):
        for text in texts:
            pcm = synthesize(models, text)
            audio = np.frombuffer(pcm, np.int16)[: int(speech_end_secs(pcm, RATE) * RATE)]
            points.append({"clip": text, "set": kiosk_set, "kind": "end", "length": None,
                           "audio": audio})
    return points


async def read_points(points: list[dict[str, Any]], models: Any) -> None:
    """Fill each point's smart-turn probability, transcript and LLM reading."""
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

    from agent.llm_client import make_client, warm_up
    from agent.llm_server import aresolve_llm_endpoint
    from agent.persona import build_system_prompt
    from agent.turn_end_text import TurnEndReader
    from pipelines.settings import Settings
    from pipelines.voice_pipeline import spoken_system_prompt

    settings = Settings.load()
    system = spoken_system_prompt(build_system_prompt(settings.persona))
    smart_turn = LocalSmartTurnAnalyzerV3()
    endpoint = await aresolve_llm_endpoint(settings.llm)
    try:
        client = make_client(endpoint.base_url, endpoint.api_key, timeout_s=600.0)
        await warm_up(client, model=endpoint.model, system_prompt=system)
        reader = TurnEndReader(base_url=endpoint.base_url, api_key=endpoint.api_key)
        for point in points:
            audio = point.pop("audio").astype(np.float32) / 32768.0
            point["p_turn"] = round(smart_turn._predict_endpoint(audio)["probability"], 4)
            segments, _ = models.whisper.transcribe(audio, beam_size=1, language="en",
                                                temperature=0.0)
            point["text"] = " ".join(s.text.strip() for s in segments).strip()
            if point["text"]:
                reading = await reader.read(point["text"], [{"role": "system",
                                                             "content": system}])
                point |= {"state": reading.state, "p_end": round(reading.p_end, 4),
                          "p_close": round(reading.p_close, 4),
                          "read_ms": round(reading.seconds * 1000), "new_tokens":
                          reading.new_tokens}
            print(f"point: { {k: v for k, v in point.items()} }", file=sys.stderr, flush=True)
        await reader.aclose()
    finally:
        if endpoint.server is not None:
            endpoint.server.stop()


def word_hold(text: str) -> float:
    """The shipped word tiers' hold (pipelines/turns/turn_hold.py defaults)."""
    from pipelines.turns.turn_hold import cannot_end_here, sounds_unfinished, unmarked

    if sounds_unfinished(text):
        return 1.6 if cannot_end_here(text) else 0.8
    return 0.8 if unmarked(text) else 0.0


def smart_turn_wait(point: dict[str, Any], a: float) -> float:
    return a if point["p_turn"] >= 0.5 else max(a, FALLBACK_S)


def reading_wait(verdict_of: Callable[[dict[str, Any]], str]) -> Callable[..., float]:
    """A detector that reads words: smart-turn, then the longer of the word tiers' hold
    and the verdict's (`b` after "unsure", `c` after "unfinished", none after "done" or
    a question mark). `verdict_of`: the LLM's (`semantic`) or the classifier's (`reader`)."""
    def wait(p: dict[str, Any], a: float, b: float, c: float) -> float:
        hold = word_hold(p["text"])
        if p.get("state") and not p["text"].rstrip().endswith("?"):
            hold = max(hold, {"done": 0.0, "unsure": b, "unfinished": c}[verdict_of(p)])
        return smart_turn_wait(p, a) + hold

    return wait


def detectors() -> dict[str, tuple[list[tuple[float, ...]], Callable[..., float]]]:
    """name -> (parameter grid, wait(point, *params))."""
    def words(p: dict[str, Any], a: float) -> float:
        return smart_turn_wait(p, a) + word_hold(p["text"])

    from benchkit.voice.turn_end_combiner import load_model

    combiner = load_model()
    combined: dict[int, str] = {}  # each point's verdict, computed once for the whole grid

    def combiner_verdict(p: dict[str, Any]) -> str:
        if id(p) not in combined:
            combined[id(p)] = combiner.state(p["text"], p["p_end"], p["p_close"])
        return combined[id(p)]

    holds = [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0]  # the defaults 1.0 / 2.0 among them
    return {"silence": ([(w,) for w in WAITS], lambda p, w: w),
            "smart_turn": ([(w,) for w in WAITS], smart_turn_wait),
            "words": ([(w,) for w in WAITS], words),
            "semantic": (list(itertools.product(WAITS[:5], holds, holds)),
                         reading_wait(lambda p: p["state"])),
            "reader": (list(itertools.product(WAITS[:5], holds, holds)),
                       reading_wait(combiner_verdict))}


def _cut_share(pauses: list[dict[str, Any]], waits: dict[int, float]) -> float:
    """The share of `pauses` a detector's waits cut (NaN for none)."""
    if not pauses:
        return float("nan")
    return round(float(np.mean([waits[id(p)] < p["length"] for p in pauses])), 3)


def sweep(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Every detector's curve, and the eot-bench-style figures read off it."""
    pauses = [p for p in points if p["kind"] == "pause"]
    tuned = [p for p in pauses if p["set"] != "held out"]
    held_out = [p for p in pauses if p["set"] == "held out"]
    ends = [p for p in points if p["kind"] == "end"]
    out: dict[str, Any] = {}
    for name, (grid, wait) in detectors().items():
        curve: list[dict[str, Any]] = []
        for params in grid:
            waits = {id(p): wait(p, *params) for p in points}
            delays = [waits[id(p)] for p in ends]
            statements = [waits[id(p)] for p in ends if p["set"] == "kiosk statements"]
            curve.append({"params": params, "false_cutoff": _cut_share(tuned, waits),
                          "false_cutoff_held_out": _cut_share(held_out, waits),
                          "median_delay_s": float(np.median(delays)),
                          "p90_delay_s": round(float(np.percentile(delays, 90)), 2),
                          "kiosk_median_delay_s": float(np.median(
                              [waits[id(p)] for p in ends if p["set"] == "kiosk"])),
                          "statement_median_delay_s": float(np.median(statements or [np.nan])),
                          "statement_mean_delay_s": round(float(np.mean(statements or [np.nan])),
                                                          3)})
        out[name] = {
            # the budget holds for the complete questions' median wait (eot-bench's
            # "response budget" on finished turns); the real clips' ends are reported
            # beside it (many end mid-thought, as meetings do)
            **{f"false_cutoff_at_{ms}ms": min(
                (c["false_cutoff"] for c in curve if c["kiosk_median_delay_s"] <= ms / 1000),
                default=None) for ms in (300, 600)},
            # the same budget held for the kiosk's statements too ("Yes, please.")
            **{f"false_cutoff_at_{ms}ms_statements_too": min(
                (c["false_cutoff"] for c in curve
                 if max(c["kiosk_median_delay_s"], c["statement_median_delay_s"]) <= ms / 1000),
                default=None) for ms in (300, 600, 1000)},
            "kiosk_median_delay_at_5pct_false_cutoff_s": min(
                (c["kiosk_median_delay_s"] for c in curve if c["false_cutoff"] <= 0.05),
                default=None),
            "median_delay_at_5pct_false_cutoff_s": min(
                (c["median_delay_s"] for c in curve if c["false_cutoff"] <= 0.05),
                default=None),
            "at_defaults": next(c for c in curve if c["params"] == DEFAULTS[name]),
            "curve": curve}
    return out


def plot(result: dict[str, Any], path: Path) -> None:
    """Each detector's lower envelope: false cut-offs (tuned pauses solid, held-out
    dashed) against the median wait after complete questions, and after statements."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10.0, 4.2), sharey=True)
    for ax, delay, what in ((axes[0], "kiosk_median_delay_s", "question"),
                            (axes[1], "statement_median_delay_s", "statement")):
        for index, (name, detector) in enumerate(result["detectors"].items()):
            colour = f"C{index}"
            for cut, style in (("false_cutoff", "-"), ("false_cutoff_held_out", "--")):
                by_delay: dict[float, float] = {}
                for c in detector["curve"]:
                    if c.get(cut) is None or c.get(delay) is None:
                        continue
                    by_delay[c[delay]] = min(by_delay.get(c[delay], 1.0), c[cut])
                if not by_delay:
                    continue
                xs = sorted(by_delay)
                ys = np.minimum.accumulate([by_delay[x] for x in xs])
                ax.step([x * 1000 for x in xs], ys, where="post", color=colour, ls=style,
                        label=name if style == "-" else None)
        for ms in (300, 600):
            ax.axvline(ms, color="grey", lw=0.6, ls=":")
        ax.set_xlabel(f"median wait at the end of a complete kiosk {what} (ms)")
    axes[0].set_ylabel("false cut-offs (share of pauses cut)")
    axes[0].legend(title="solid: tuned clips, dashed: held out", fontsize=8, title_fontsize=8)
    fig.suptitle(f"Turn-end detectors on {result['pauses']} real pauses, {result['ends']} ends")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


async def main() -> dict[str, Any]:
    from pipelines.speech.models import SpeechModels

    models = SpeechModels.bundled()
    load = os.getloadavg()
    started = time.perf_counter()
    points = decision_points(models)
    await read_points(points, models)
    reads = [p["read_ms"] for p in points if "read_ms" in p]
    result = {"pauses": sum(p["kind"] == "pause" for p in points),
              "ends": sum(p["kind"] == "end" for p in points),
              "read_ms_p50": float(np.median(reads)), "read_ms_p90": float(np.percentile(reads, 90)),
              "new_tokens_p50": float(np.median([p["new_tokens"] for p in points
                                                 if "new_tokens" in p])),
              "detectors": sweep(points), "points": points,
              "load_avg_start": [round(x, 2) for x in load],
              "load_avg_end": [round(x, 2) for x in os.getloadavg()],
              "seconds": round(time.perf_counter() - started)}
    return result


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    saved = RESULTS / "turn_end_offline.json"
    if "--again" in sys.argv:  # the sweep again on the saved readings (no models)
        output = json.loads(saved.read_text())
        output["detectors"] = sweep(output["points"])
    else:
        output = asyncio.run(main())
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(
        json.dumps(output, indent=2) + "\n")
    plot(output, RESULTS / "turn_end_curve.png")  # docs/ keeps the quoted one
    print(json.dumps({k: v if k != "detectors" else {
        n: {m: x for m, x in d.items() if m != "curve"} for n, d in v.items()}
        for k, v in output.items() if k != "points"}))
