"""Figure: messages that ask about several things at once, answered whole (as before) and
part by part (as now), on the embedded LLM: how many of their parts the reply answers
(JSON and PNG, bench/results/multi_part.json and .png).

The questions (bench/answers/multi_part_questions.json, 20 messages of 2-3 parts over the
four businesses' knowledge files) are each planned two ways, alternating which goes
first, on the product's index (words + meaning, the answer rules):
- `whole`: `plan_whole`, the message taken as one part, as every message was before;
- `parts`: `plan_turn`, which cuts it into parts (agent/answers/parts.py) and answers
  each (agent/answers/routing.py `plan_parts`): the LLM with a note of each part's fact
  where a part needs it;
- `parts_said`: the same parts, each said from the file without the LLM (`plan_parts(...,
  use_llm=False)`: a part meant for the LLM by its best fact said as the answer).
A plan with a reply is said as it is; one for the LLM is sent to the embedded server as
the voice pipeline sends it (the persona and the voice style as system prompt, the note
in front of the message), at the product's temperature. The reply is then checked as
the voice pipeline speaks it, sentence by sentence by the turn's guard (`FactGuard.
for_turn` over the plan's facts): an invented first sentence becomes the don't-know line,
a later one ends the reply, a flipped condition becomes the fact.

Judged per part: one of the part's regexes is in the spoken reply
(benchkit/answers/llm_answers.py's judge). Reported per variant: parts answered, messages
with every part answered, replies given without the LLM, sentences the guard changed,
and the LLM's time for the turns it answered; the PNG beside the JSON shows the parts
answered per business and variant.

Usage: python bench/answers/multi_part.py [--out bench/results/multi_part.json]
       [--rejudge an earlier run's JSON: its spoken replies judged again, no LLM]
The last stdout line is one JSON object.

Runs: ~2 min (the LLM answers ~10 of the 60 turns).
Quoted: docs/ANSWERS.md, "11. Questions about several things at once": parts answered 15/42 whole, 35/42 by parts (38/42 all said from the file)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from agent import EmbeddedLLMServer, PersonaSettings, build_system_prompt, make_client, stream_reply
from agent.answers.guard import FactGuard, Kind
from agent.answers.index import KnowledgeIndex
from agent.answers.lines import AnswerLines
from agent.answers.parts import message_parts
from agent.answers.routing import TurnPlan, plan_parts, plan_turn, plan_whole
from agent.persona import read_prompt_file
from agent.sentence_embedding import SentenceEncoder
from benchkit.answers.llm_answers import judge
from benchkit.bench_args import save_plot, write_figure
from benchkit.paths import ROOT
from pipelines.settings import Settings
from pipelines.voice_pipeline import spoken_system_prompt

QUESTIONS = ROOT / "bench" / "answers" / "multi_part_questions.json"
BUSINESSES = ROOT / "bench" / "answers" / "businesses"
RESULTS = ROOT / "bench" / "results" / "multi_part.json"
VARIANTS = ("whole", "parts", "parts_said")
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def spoken(reply: str, plan: TurnPlan, persona: str, dont_know: str) -> tuple[str, int]:
    """(the reply as the turn's guard lets it be spoken, sentences it changed): an
    invented first sentence becomes `dont_know`, a later one ends the reply, a flipped
    condition is replaced by its fact (pipelines/speech/fact_check.py, per sentence)."""
    guard = FactGuard.for_turn(plan.facts, persona)
    out: list[str] = []
    changed = 0
    for sentence in _SENTENCE.split(reply.strip()):
        verdict = guard.check(sentence)
        if verdict.ok:
            out.append(sentence)
            continue
        changed += 1
        if verdict.kind == Kind.FLIPPED and verdict.fact is not None:
            out.append(verdict.fact)
            continue
        if not out:
            out.append(dont_know)
        break
    return " ".join(out), changed


async def answer(client: Any, model: str, settings: Settings, system: str, message: str,
                 plan: TurnPlan) -> tuple[str, float | None]:
    """(the reply, the LLM's seconds or None when the plan says it without the LLM)."""
    if plan.reply is not None:
        return plan.reply, None
    started = time.perf_counter()
    text = ""
    async for delta in stream_reply(client, model=model,
                                    messages=[{"role": "system", "content": system},
                                              {"role": "user", "content": plan.message(message)}],
                                    max_tokens=settings.llm.max_tokens,
                                    temperature=settings.llm.temperature):
        text += delta
    return text.strip(), time.perf_counter() - started


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: parts answered, messages with every part, without the LLM, guard."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = [r for r in rows if r["variant"] == variant]
        parts = [hit for r in mine for hit in r["parts_answered"]]
        llm = sorted(r["llm_s"] for r in mine if r["llm_s"] is not None)
        out[variant] = {
            "parts_answered": f"{sum(parts)}/{len(parts)}",
            "parts_answered_share": round(sum(parts) / len(parts), 3),
            "messages_all_parts": f"{sum(all(r['parts_answered']) for r in mine)}/{len(mine)}",
            "without_llm": f"{sum(r['llm_s'] is None for r in mine)}/{len(mine)}",
            "guard_changed_sentences": sum(r["guard_changed"] for r in mine),
            "facts_per_turn_mean": round(sum(r["facts"] for r in mine) / len(mine), 2),
            "llm_reply_s_p50": llm[len(llm) // 2] if llm else None,
        }
    return out


def planned(variant: str, index: KnowledgeIndex, message: str, lines: AnswerLines) -> TurnPlan:
    """The message's plan in one of `VARIANTS`."""
    if variant == "whole":
        return plan_whole(index, message, lines=lines)
    parts = message_parts(index, message)
    if variant == "parts_said" and len(parts) > 1:
        return plan_parts(index, parts, lines, use_llm=False)
    return plan_turn(index, message, lines=lines)


def plot(result: dict[str, Any], out: Path) -> None:
    """Parts answered, a bar per variant, for each business and for all of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    groups = [*dict.fromkeys(r["business"] for r in rows), "all"]
    figure, axis = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(VARIANTS)
    for k, variant in enumerate(VARIANTS):
        for g, group in enumerate(groups):
            hits = [h for r in rows if r["variant"] == variant
                    and group in ("all", r["business"]) for h in r["parts_answered"]]
            x = g + (k - (len(VARIANTS) - 1) / 2) * width
            axis.bar(x, sum(hits) / len(hits), width, color=f"C{k}",
                     label=variant if g == 0 else None)
            axis.text(x, sum(hits) / len(hits) + 0.01, f"{sum(hits)}/{len(hits)}",
                      ha="center", fontsize=7)
    axis.set_xticks(range(len(groups)), groups)
    axis.set_ylim(0, 1.35)  # room for the legend above the bars
    axis.set_ylabel("parts answered")
    axis.set_title(f"Messages of 2-3 parts, {result.get('llm')} (commit {result.get('commit')})")
    save_plot(figure, axis, out)


async def run(questions: list[dict[str, Any]], settings: Settings) -> list[dict[str, Any]]:
    """Every message, both variants, alternating which goes first."""
    encoder = SentenceEncoder()
    rows: list[dict[str, Any]] = []
    indexes: dict[str, tuple[KnowledgeIndex, str, str, AnswerLines]] = {}
    with EmbeddedLLMServer.from_settings(settings.llm) as server:
        client = make_client(server.base_url, settings.llm.api_key, timeout_s=120)
        try:
            for n, question in enumerate(questions):
                business = question["business"]
                if business not in indexes:
                    folder = BUSINESSES / business
                    persona = PersonaSettings(knowledge_file=folder / "knowledge.md",
                                              persona_file=folder / "persona.md")
                    index = KnowledgeIndex.from_file(persona.knowledge_file, encoder=encoder,
                                                     note_facts=settings.llm.retrieval_facts)
                    system = spoken_system_prompt(build_system_prompt(persona), index)
                    lines = AnswerLines.from_persona(persona.persona_file)
                    indexes[business] = (index, system, read_prompt_file(persona.persona_file), lines)
                index, system, persona_text, lines = indexes[business]
                order = VARIANTS if n % 2 == 0 else VARIANTS[::-1]
                for variant in order:
                    message = question["q"]
                    plan = planned(variant, index, message, lines)
                    reply, llm_s = await answer(client, server.model_alias, settings, system,
                                                message, plan)
                    said, changed = spoken(reply, plan, persona_text, lines.dont_know)
                    hits = [judge({"kind": "fact", "all_of": [part]}, said, []) for part in question["parts"]]
                    rows.append({"business": business, "q": message, "variant": variant,
                                 "reply": reply, "spoken": said, "parts_answered": hits,
                                 "guard_changed": changed, "facts": len(plan.facts),
                                 "llm_s": None if llm_s is None else round(llm_s, 2)})
                    print(f"{variant:10} {sum(hits)}/{len(hits)} {message!r} -> {said!r}", flush=True)
        finally:
            await client.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rejudge", type=Path, default=None)
    args = parser.parse_args()
    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))["questions"]
    if args.rejudge is not None:
        earlier = json.loads(args.rejudge.read_text(encoding="utf-8"))
        parts = {q["q"]: q["parts"] for q in questions}
        for row in earlier["rows"]:
            row["parts_answered"] = [judge({"kind": "fact", "all_of": [part]}, row["spoken"], [])
                                     for part in parts[row["q"]]]
        write_figure(args.out, {**earlier, "summary": summarise(earlier["rows"]),
                                "rejudged": str(args.rejudge)}, plot)
        return 0
    settings = Settings.load()
    load_before = os.getloadavg()
    started = time.perf_counter()
    rows = asyncio.run(run(questions, settings))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True, check=False).stdout.strip()
    write_figure(args.out, {
        "summary": summarise(rows),
        "commit": commit,
        "llm": settings.llm.embedded_model if settings.llm.base_url is None else settings.llm.model,
        "temperature": settings.llm.temperature,
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "wall_s": round(time.perf_counter() - started, 1),
        "rows": rows,
    }, plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
