"""Figure: the bundled LLMs compared (JSON on stdout; --plot docs/llm_compare.png).

Compare the bundled LLMs as the kiosk's brain: latency to speech and correctness.

For each embedded model (SmolLM2-135M Q4_1, Qwen2.5-Coder-0.5B Q4_K_M) this starts
the real embedded llama.cpp server with the kiosk persona + knowledge, then asks
every question of bench/answers/llm_questions.json `--repeats` times, each as a fresh
conversation (system prompt + one user turn, as a kiosk visitor would), streaming.

Measured per model: server start, the cold first request (the system prompt is
evaluated once, then llama.cpp reuses its KV prefix), warm time to first token and
to the end of the first sentence (what TTS can start speaking), decode tokens/s,
answer length in words, and accuracy judged automatically by expected keywords.

Usage: python bench/answers/llm_compare.py [--models smollm2 qwen2.5-0.5b] [--repeats 3]
       [--plot docs/llm_compare.png] [--raw /tmp/llm_compare_raw.json]
The last stdout line is one JSON object with the summary.

Runs: ~15 min on its defaults (estimated for the 2-core host).
Quoted: docs/LLM_CHOICE.md, "How it was measured": Qwen2.5-0.5B chosen over SmolLM2-135M (latency to speech and correctness)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from agent import (
    EmbeddedLLMServer,
    ReplyTiming,
    build_messages,
    build_system_prompt,
    make_client,
    stream_reply,
    warm_up,
)
from benchkit.answers.llm_answers import QUESTIONS_FILE, SENTENCE_END, judge
from benchkit.stats import nearest_rank
from pipelines.settings import Settings

MODELS = ("smollm2", "qwen2.5-0.5b")


# --- measuring ----------------------------------------------------------------------
async def _ask(client: Any, model: str, settings: Settings, system: str, q: str) -> dict:
    timing = ReplyTiming()
    first_sentence_s: float | None = None
    started = time.perf_counter()
    text = ""
    async for delta in stream_reply(
        client,
        model=model,
        messages=build_messages(system, q),
        max_tokens=settings.llm.max_tokens,
        temperature=settings.llm.temperature,
        timing=timing,
    ):
        text += delta
        if first_sentence_s is None and SENTENCE_END.search(text):
            first_sentence_s = time.perf_counter() - started
    if first_sentence_s is None:
        first_sentence_s = timing.total_s  # a reply with no full stop is spoken whole
    decode_s = timing.total_s - (timing.first_token_s or 0.0)
    return {
        "q": q,
        "answer": text.strip(),
        "ttft_s": timing.first_token_s if timing.first_token_s is not None else timing.total_s,
        "first_sentence_s": first_sentence_s,
        "total_s": timing.total_s,
        "tokens": timing.chunks,
        "tok_per_s": (timing.chunks - 1) / decode_s if timing.chunks > 1 and decode_s > 0 else None,
        "words": len(text.split()),
    }


async def run_model(
    name: str,
    repeats: int,
    questions: list[dict],
    refusals: list[str],
    threads: int | None,
    redirects: Sequence[str] = (),
) -> dict:
    """Start the embedded server for `name`, ask everything, stop it; return raw rows."""
    settings = Settings.load(llm={"embedded_model": name, "threads": threads})
    system = build_system_prompt(settings.persona)
    server = EmbeddedLLMServer.from_settings(settings.llm)  # Qwen's one-time join happens here
    t0 = time.perf_counter()
    async with server:
        start_s = time.perf_counter() - t0
        client = make_client(server.base_url, settings.llm.api_key, timeout_s=120)
        cold_s = await warm_up(client, model=server.model_alias, system_prompt=system)
        rows = []
        bar = tqdm(total=repeats * len(questions), desc=name, file=sys.stderr)
        for repeat in range(repeats):
            for question in questions:
                row = await _ask(client, server.model_alias, settings, system, question["q"])
                row.update(repeat=repeat, kind=question["kind"])
                row["correct"] = judge(question, row["answer"], refusals, redirects)
                rows.append(row)
                bar.update()
        bar.close()
        await client.close()
    return {
        "model": name,
        "server_start_s": start_s,
        "cold_s": cold_s,
        "rows": rows,
        "gguf": server.model_path.name,
        "gguf_mb": server.model_path.stat().st_size / 2**20,
    }


def summarise(result: dict) -> dict:
    """Medians and p95s of the warm requests, accuracy by question kind."""
    rows = result["rows"]
    ttft = [r["ttft_s"] for r in rows]
    sentence = [r["first_sentence_s"] for r in rows]
    rates = [r["tok_per_s"] for r in rows if r["tok_per_s"]]
    facts = [r["correct"] for r in rows if r["kind"] == "fact"]
    unknown = [r["correct"] for r in rows if r["kind"] == "unknown"]
    offtopic = [r["correct"] for r in rows if r["kind"] == "offtopic"]
    return {
        "gguf": result["gguf"],
        "gguf_mb": round(result["gguf_mb"], 1),
        "server_start_s": round(result["server_start_s"], 2),
        "cold_first_token_s": round(result["cold_s"], 3),
        "ttft_p50_s": round(nearest_rank(ttft, 0.5), 3),
        "ttft_p95_s": round(nearest_rank(ttft, 0.95), 3),
        "first_sentence_p50_s": round(nearest_rank(sentence, 0.5), 3),
        "first_sentence_p95_s": round(nearest_rank(sentence, 0.95), 3),
        "tokens_per_s_p50": round(statistics.median(rates), 1) if rates else None,
        "words_p50": statistics.median([r["words"] for r in rows]),
        "words_p95": nearest_rank([float(r["words"]) for r in rows], 0.95),
        "fact_accuracy": round(sum(facts) / len(facts), 3) if facts else None,
        "unknown_accuracy": round(sum(unknown) / len(unknown), 3) if unknown else None,
        "offtopic_accuracy": round(sum(offtopic) / len(offtopic), 3) if offtopic else None,
        "overall_accuracy": round(sum(facts + unknown) / len(facts + unknown), 3),
        "n_requests": len(rows),
    }


def plot(summary: dict[str, dict], path: Path, note: str = "") -> None:
    """Two panels: latency to speech (p50 with p95 whisker) and accuracy by kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.38
    for offset, key, label in (
        (-width / 2, "ttft", "first token"),
        (width / 2, "first_sentence", "first sentence"),
    ):
        p50 = [summary[n][f"{key}_p50_s"] for n in names]
        p95 = [summary[n][f"{key}_p95_s"] for n in names]
        xs = [i + offset for i in range(len(names))]
        bars = left.bar(xs, p50, width, label=f"{label} p50")
        left.errorbar(
            xs,
            p50,
            yerr=[[0] * len(names), [b - a for a, b in zip(p50, p95, strict=True)]],
            fmt="none",
            ecolor="black",
            capsize=4,
        )
        left.bar_label(bars, fmt="%.2f s", fontsize=8, label_type="center")
    left.set_xticks(range(len(names)), names)
    left.set_ylabel("seconds (warm prompt cache; whisker = p95)")
    left.set_title("LLM latency to speech, 2-core CPU")
    left.legend(fontsize=8)
    for offset, key, label in (
        (-width / 2, "fact_accuracy", "facts from knowledge"),
        (width / 2, "unknown_accuracy", "says 'I don't know'"),
    ):
        values = [100 * (summary[n][key] or 0) for n in names]
        bars = right.bar([i + offset for i in range(len(names))], values, width, label=label)
        right.bar_label(bars, fmt="%.0f%%", fontsize=8)
    right.set_xticks(range(len(names)), names)
    right.set_ylim(0, 110)
    right.set_ylabel("% correct (keyword judge)")
    right.set_title("Kiosk answer accuracy")
    right.legend(fontsize=8, loc="lower right")
    if note:
        fig.suptitle(note, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> int:
    """Run the comparison and print the summary JSON last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: the settings' llm.threads")
    parser.add_argument("--plot", type=Path, default=None, help="write a PNG chart here")
    parser.add_argument("--raw", type=Path, default=None, help="write every answer here (JSON)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    spec = json.loads(QUESTIONS_FILE.read_text(encoding="utf-8"))
    results = [
        asyncio.run(
            run_model(name, args.repeats, spec["questions"], spec["refusal_any_of"], args.threads,
                      spec.get("redirect_any_of", []))
        )
        for name in args.models
    ]
    summary = {result["model"]: summarise(result) for result in results}
    if args.raw:
        args.raw.write_text(json.dumps(results, indent=1), encoding="utf-8")
    threads = args.threads or Settings.load().llm.thread_count()
    load = os.getloadavg()[0]
    if args.plot:
        note = f"{threads} llama.cpp thread(s); shared machine, 1-min load average {load:.1f}"
        plot(summary, args.plot, note)
    report = {
        "bench": "llm_compare",
        "questions": len(spec["questions"]),
        "repeats": args.repeats,
        "threads": threads,
        "load_average_1m": round(load, 2),
        "models": summary,
    }
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
