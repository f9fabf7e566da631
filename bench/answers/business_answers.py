"""Figure: the kiosk's answers for four businesses, each from its own operator's files, through
the real server, spoken by two voices (or as text); tune and held-out halves apart (JSON + PNG).

For every business in bench/answers/businesses/<name>/ (knowledge.md, persona.md, tune.json;
its held-out half is bench/answers/heldout/<name>.json) the product's server is started as
an operator would point it at their files, by settings alone (AVATAR_FORCING_PERSONA_
KNOWLEDGE_FILE and AVATAR_FORCING_PERSONA_PERSONA_FILE, then `Settings.load()`, voice only:
whisper, the knowledge routing, the embedded LLM, the fact guard). Every question is a new
visit (a fresh session; a `session`'s turns are asked in order in one):

- `--mode spoken` (default): said by each voice (the bundled piper voice and espeak-ng,
  benchkit/answers/spoken_questions.py) and streamed at real-time pace over a loopback websocket;
- `--mode text`: no speech; the question goes into the session as the visitor's message
  (pipecat's `LLMMessagesAppendFrame`, as the user aggregator would append a transcript),
  and everything after the recognizer is the server's own: routing, LLM, guard, TTS,
  the reply's events. Faster, for iterating; the same judging.

Each reply is judged:
- `right`: a fact question's keywords (benchkit/answers/llm_answers.py's judge), or for an unknown
  a decline ("I don't know", "not sure", a pointer to staff or a desk: `DECLINES`), and
  no invented fact;
- `invented`: a number, time, price, phone, name, e-mail or entrance the reply states that
  the business's knowledge file does not hold (the product's fact guard over the file
  alone), or a condition read backwards;
- `label_read`: the reply reads one of the file's labels aloud ("Opening hours: ...");
- `cut_off`: the reply stops mid-sentence (no end mark, a dangling last word, a sentence
  glued to a fallback, or no end of the reply before the time limit);
- `yes_no_first`: for a fact question asked yes/no ("Can I ...?", "Do you ...?"), the
  reply opens with yes or no;
- `yes_no_first_by_part`: the same, but a message of several questions ("What time do you
  open, and is the parking free?") counts when each of its yes/no questions has an answer
  of its own (a sentence of the reply, or a clause after ", and") that opens with yes or no,
  whichever comes first; a message of one question as `yes_no_first` (docs/ANSWERS.md,
  section 19).

The held-out half is scored and counted, never shown: its rows keep no question, transcript
or reply (only a hash and the verdicts), and nothing about it is printed but counts. The
tune half's wrong replies are listed in full, and a business's `probe` set's (probe.json, a
second tuning set by a later writer), reported as a third half with `--half probe` (not in
`--half all`, the default, so its run time stays as quoted below).

Resumable: rows go to `--raw` after every turn; a rerun asks only what is missing.

Usage: python bench/answers/business_answers.py [--mode spoken|text] [--voices piper espeak]
       [--half tune|probe|heldout|all] [--businesses store pharmacy ...] [--limit N]
       [--raw bench/results/business_answers_raw.json] [--out bench/results/business_answers.json]
       [--plot docs/business_answers.png] [--summarise-only]
The last stdout line is one JSON object.

Runs: ~60 min on its defaults (4 businesses, ~200 questions, 2 voices); ~15 min --mode text.
Quoted: docs/EVAL_ANSWERS.md, "First run: text, both halves (answers-core's work in progress)": held-out facts right 0.71-0.79, unknowns 2/6-6/6, invented 0 (no business at the goals)
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loguru import logger

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from benchkit.answers.llm_answers import judge
from benchkit.answers.visits import TURN_TIMEOUT_SECS, ask_aloud, visits
from benchkit.paths import ROOT

BUSINESSES_DIR = ROOT / "bench" / "answers" / "businesses"
HELD_OUT_DIR = ROOT / "bench" / "answers" / "heldout"
RESULTS = ROOT / "bench" / "results" / "business_answers.json"
RAW = ROOT / "bench" / "results" / "business_answers_raw.json"
PLOT = ROOT / "docs" / "business_answers.png"
GOAL = 0.9
ENV_KNOWLEDGE = "AVATAR_FORCING_PERSONA_KNOWLEDGE_FILE"
ENV_PERSONA = "AVATAR_FORCING_PERSONA_PERSONA_FILE"

#: A reply that declines: it says it does not know, or sends the visitor to a person or a
#: desk (every persona asks for one of these; none names a fact).
DECLINES = [
    r"don'?t know", r"do not know", r"not sure", r"no information",
    r"(?:don'?t|do not) have (?:that|this|any|the|those) (?:information|detail|answer)s?",
    r"can'?t (?:say|tell)", r"cannot (?:say|tell)", r"unable to", r"not able to",
    r"I'?m (?:sorry|afraid)", r"sorry,? (?:but )?I", r"unfortunately", r"staff",
    r"ask (?:at|the|a|an|our|one of)",
]
#: words that open a yes/no question (after a greeting or "excuse me")
_AUXILIARIES = frozenset(
    "am is are was were do does did have has had can could will would shall should may "
    "might must isn't aren't wasn't weren't don't doesn't didn't haven't hasn't can't "
    "couldn't won't wouldn't shouldn't".split())
_OPENERS = re.compile(r"^(?:(?:hi|hello|hey|so|um|uh|oh|ok|okay|excuse me|sorry|please|and|"
                      r"quick question|just wondering)[,.!]?\s+)+", re.IGNORECASE)
_DANGLING = frozenset("a an the and or but to of at on in for with by from is are was were "
                      "be your our my their its this that if as than".split())
# a lower-case word, then a fallback that starts a sentence: "The store is Sorry, I don't know"
_GLUED = re.compile(r"\b[a-z]+\s+(?:Sorry|I'm sorry|I am sorry)\b")


def question_id(question: str) -> str:
    """A held-out row's name: the question's hash, so the row never shows the question."""
    return hashlib.sha1(question.encode("utf-8")).hexdigest()[:12]


def businesses() -> list[str]:
    """The businesses with a knowledge file, a persona and both halves."""
    return sorted(p.name for p in BUSINESSES_DIR.iterdir()
                  if (p / "knowledge.md").is_file() and (p / "persona.md").is_file()
                  and (p / "tune.json").is_file() and (HELD_OUT_DIR / f"{p.name}.json").is_file())


def load_half(business: str, half: str) -> list[dict[str, Any]]:
    """A business's questions of one half, each marked with its `half` and `business`.

    `probe` is a second tuning set (probe.json beside tune.json, written later by a fresh
    writer who saw only the file): where its misses show kinds the tune half did not, they
    are fixed by general rules, so it is tuning data too; a business without one has none."""
    if half == "heldout":
        path = HELD_OUT_DIR / f"{business}.json"
    else:
        path = BUSINESSES_DIR / business / f"{half}.json"
        if half == "probe" and not path.is_file():
            return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [{**q, "half": half, "business": business} for q in data["questions"]]


def is_yes_no(question: str) -> bool:
    """A question answered by yes or no: its last clause opens with an auxiliary ("Can I
    park here?", "I lost it, will I get a refund?"), and it offers no choice ("... or ...?")."""
    clauses = [c.strip() for c in re.split(r"[,.;]\s+", question.strip()) if c.strip()]
    if not clauses or re.search(r"\bor\b", clauses[-1], re.IGNORECASE):
        return False
    first = _OPENERS.sub("", clauses[-1]).split()
    return bool(first) and first[0].lower().replace("\u2019", "'") in _AUXILIARIES


#: where a message joins its questions: between sentences and clauses, and at an "and" before
#: a word that opens a question ("... and is it free?", "... and how do I get one?")
#: ("... and has a guide dog" tells, it does not ask: "have" opens no question joined after)
_JOINED_AUXILIARIES = _AUXILIARIES - {"have", "has", "had"}
_QUESTION_JOIN = re.compile(r"[,.;?!]\s+|\s+and\s+(?=(?:" + "|".join(sorted(_JOINED_AUXILIARIES))
                            + r"|what|where|when|which|who|how|why)\b)", re.IGNORECASE)
_WH_WORDS = frozenset("what what's where where's when which who who's how why".split())
#: where a reply joins its answers: between sentences, and at ", and" ("..., and yes, ...")
_ANSWER_JOIN = re.compile(r"(?<=[.!?])\s+|,\s+and\s+", re.IGNORECASE)


def yes_no_parts(question: str) -> int | None:
    """How many yes/no questions a message of several questions asks (its clauses that open
    with an auxiliary and offer no choice, beside one or more that open with a wh-word or an
    auxiliary); None for a message of one question (judged whole, as `is_yes_no` reads it)."""
    clauses = [_OPENERS.sub("", c.strip()).split() for c in _QUESTION_JOIN.split(question.strip())]
    firsts = [(c[0].lower().replace("\u2019", "'"), " ".join(c)) for c in clauses if c]
    asking = [(w, c) for w, c in firsts if w in _JOINED_AUXILIARIES or w in _WH_WORDS]
    if len(asking) < 2:
        return None
    return sum(1 for w, c in asking
               if w in _JOINED_AUXILIARIES and not re.search(r"\bor\b", c, re.IGNORECASE))


def opens_each_with_yes_or_no(reply: str, parts: int) -> bool:
    """At least `parts` of the reply's answers (its sentences, and clauses after ", and")
    open with yes or no: each yes/no question of a message of several is answered so."""
    return sum(opens_with_yes_or_no(a) for a in _ANSWER_JOIN.split(reply) if a.strip()) >= parts


def opens_with_yes_or_no(reply: str) -> bool:
    """The reply's first word is yes or no."""
    words = re.findall(r"[a-z']+", reply.lower())
    return bool(words) and words[0] in ("yes", "no", "yeah", "yep", "nope")


def labels_read(reply: str, labels: list[str]) -> list[str]:
    """The file's labels the reply reads aloud as labels ("Parking: free ...")."""
    return [label for label in labels
            if re.search(rf"(?<!\w){re.escape(label)}\s*:", reply, re.IGNORECASE)]


def cut_reason(reply: str, completed: bool) -> str | None:
    """Why the reply stops before its sentence does, or None: "empty" (nothing said),
    "not_completed" (no end of the reply before the time limit), "no_end_mark", "dangling"
    (a last word that leads on: "... is the"), "glued" (a sentence glued to a fallback:
    "The store is Sorry, I don't know"). Kept for a held-out row too: it shows no question."""
    text = reply.strip().rstrip("\"')]\u201d")
    if not text:
        return "empty"
    if not completed:
        return "not_completed"
    word = text.split()[-1].strip(".!?\u2026,;:")
    # a capital "A" that ends a sentence of several words is a name ("by entrance A."), not
    # the article
    if word.lower() in _DANGLING and not (word == "A" and len(text.split()) > 1):
        return "dangling"
    if text[-1] not in ".!?\u2026":
        return "no_end_mark"
    return "glued" if _GLUED.search(text) is not None else None


def stops_mid_sentence(reply: str, completed: bool) -> bool:
    """The reply stops before its sentence does (`cut_reason` names why)."""
    return cut_reason(reply, completed) is not None


def decline_lines(persona_file: Path) -> tuple[str, ...]:
    """The lines a business's kiosk says where its file does not answer (its persona's
    don't-know and off-topic lines)."""
    from agent.answers.lines import AnswerLines

    lines = AnswerLines.from_persona(persona_file)
    return (lines.dont_know, lines.off_topic)


def verdicts(question: dict[str, Any], reply: str, completed: bool, guard: Any,
             labels: list[str], declines: Sequence[str] = ()) -> dict[str, Any]:
    """Every judgement of one reply (see the module docstring); `declines`: the lines the
    kiosk says where the file does not answer (the persona's), never right for a fact
    question, even where its keywords allow a "don't" or a "not" of a no."""
    from agent.answers.values import extract_facts

    facts = extract_facts(reply)
    invented = ([f.text for f in facts if not guard.known(f)]
                + [f.text for f in facts if guard.flipped(f) is not None])
    keywords = judge(question, reply, DECLINES, [])
    if question["kind"] == "fact" and reply.strip() in declines:
        keywords = False
    yes_no = question["kind"] == "fact" and is_yes_no(question["q"])
    # by part: a message of several questions, each yes/no one's own answer; else as above
    parts = yes_no_parts(question["q"])
    by_part = yes_no if parts is None else question["kind"] == "fact" and parts > 0
    return {"keywords": keywords, "invented": invented, "right": keywords and not invented,
            "label_read": labels_read(reply, labels), "cut_off": stops_mid_sentence(reply, completed),
            "cut_reason": cut_reason(reply, completed),
            "yes_no": yes_no, "yes_no_first": opens_with_yes_or_no(reply) if yes_no else None,
            "yes_no_by_part": by_part,
            "yes_no_first_by_part": (None if not by_part else opens_with_yes_or_no(reply)
                                     if parts is None else opens_each_with_yes_or_no(reply, parts))}


def key(row: dict[str, Any]) -> str:
    """A row's identity in the raw file."""
    return f"{row['business']}|{row['voice']}|{row['half']}|{row.get('session', '')}|{row['qid']}"


def public_row(row: dict[str, Any]) -> dict[str, Any]:
    """A held-out row without what would show its question."""
    if row["half"] != "heldout" or "q" not in row:
        return row
    return {k: v for k, v in row.items() if k not in ("q", "heard", "reply", "invented",
                                                      "label_read")} | {
        "invented": len(row["invented"]), "label_read": len(row["label_read"])}


async def ask_business(business: str, todo: list[tuple[str, list[dict[str, Any]]]],
                       args: argparse.Namespace, done: list[dict[str, Any]]) -> dict[str, Any]:
    """Start the server on `business`'s files by settings alone, ask every (voice, visit)
    of `todo`, append the rows to `done` and the raw file; facts about the server."""
    from agent.answers.guard import FactGuard
    from agent.answers.knowledge_file import load_knowledge_file
    from agent.persona import read_prompt_file
    from benchkit.runtime import bench_runtime, voice_only
    from benchkit.server import start_server
    from pipelines.server.runtime import ServerConfig
    from pipelines.settings import Settings
    from sdk.client import VoiceClient

    folder = BUSINESSES_DIR / business
    os.environ[ENV_KNOWLEDGE] = str(folder / "knowledge.md")
    os.environ[ENV_PERSONA] = str(folder / "persona.md")
    settings = voice_only(Settings.load())
    knowledge = load_knowledge_file(settings.persona.knowledge_file, log=False)
    labels = knowledge.labels()
    guard = FactGuard(read_prompt_file(settings.persona.knowledge_file))
    declines = decline_lines(settings.persona.persona_file)
    started = time.perf_counter()
    runtime, llm_server = await bench_runtime(settings)
    startup_s = time.perf_counter() - started
    sessions: list[Any] = []
    try:
        url, server, thread = start_server(
            runtime, ServerConfig.from_settings(settings, on_session=sessions.append))
        for n, (voice, visit) in enumerate(todo):
            opened = len(sessions)
            client = await VoiceClient.connect(url, client_name="business-answers")
            try:
                for q in visit:
                    began = time.perf_counter()
                    if voice == "text" or voice.startswith(HEARD):
                        asked = args.heard_text.get((business, voice, q["q"]), q["q"])
                        result = await _text_turn(client, sessions, opened, asked)
                    else:
                        result = await ask_aloud(client, voice, q["q"])
                    reply = result.reply_text
                    row = {"business": business, "voice": voice, "half": q["half"],
                           "kind": q["kind"], "qid": question_id(q["q"]), "q": q["q"],
                           "heard": result.transcript if voice in SPOKEN else asked,
                           "reply": reply, "completed": result.completed,
                           # whether the visitor was heard at all (a held-out row keeps it)
                           "heard_nothing": voice in SPOKEN and not result.transcript.strip(),
                           # the exchange's event kinds in order (no text: a held-out row
                           # keeps them), to tell a reply stopped before its text from one
                           # never given
                           "event_kinds": [getattr(e, "type", "") for e in result.events
                                           if getattr(e, "type", "") != "metrics"],
                           "voice_to_voice_ms": result.voice_to_voice_ms if voice in SPOKEN else None,
                           "turn_s": round(time.perf_counter() - began, 2),
                           **verdicts(q, reply, result.completed, guard, labels, declines)}
                    if "session" in q:
                        row.update(session=q["session"], turn=q["turn"])
                    done.append(row)
                    args.raw.write_text(json.dumps([public_row(r) for r in done], indent=1),
                                        encoding="utf-8")
                    shown = (f"{q['q']!r} heard {row['heard']!r} -> {reply[:90]!r}"
                             if q["half"] != "heldout" else "(held out)")
                    print(f"[{business} {n + 1}/{len(todo)}] {voice} {q['half']} "
                          f"{'ok ' if row['right'] else 'BAD'}"
                          f"{' INVENTED' if row['invented'] else ''}"
                          f"{' LABEL' if row['label_read'] else ''}"
                          f"{' CUT' if row['cut_off'] else ''} {shown}", file=sys.stderr)
            finally:
                await client.close()
        server.should_exit = True
        thread.join(timeout=10)
    finally:
        if llm_server is not None:
            llm_server.stop()
    return {"startup_s": round(startup_s, 1), "facts_in_file": len(knowledge.facts),
            "file_warnings": [str(w) for w in knowledge.warnings]}


#: the voices a spoken run says its questions in (the bench's `--voices`)
SPOKEN = ("piper", "espeak")
#: a text run's voice asking a spoken voice's transcripts (`--heard`): "heard-piper"
HEARD = "heard-"


def read_heard(path: Path) -> dict[tuple[str, str, str], str]:
    """Transcripts kept from a spoken run (its raw file: rows with "business", "voice",
    "q", "heard") or a hearing script (JSON lines with "b", "voice", "q", "heard"), keyed
    (business, "heard-<voice>", question): the text mode asks them as the visitor's message.
    A held-out row keeps no question or transcript, so none can be asked again."""
    text = path.read_text(encoding="utf-8")
    rows = json.loads(text) if text.lstrip().startswith("[") else [
        json.loads(line) for line in text.splitlines() if line.strip()]
    return {(r.get("business") or r["b"], HEARD + r["voice"], r["q"]): r["heard"]
            for r in rows if r.get("heard") and r.get("q") and r.get("voice") in SPOKEN}


async def _text_turn(client: Any, sessions: list[Any], opened: int, question: str) -> Any:
    """The visitor's `question` given to the client's session (the first opened after
    `opened` sessions) as its message, no speech; the reply collected as `talk` collects
    it, with a quiet mic meanwhile."""
    from pipecat.frames.frames import LLMMessagesAppendFrame

    from sdk.talk import talk

    for _ in range(1000):  # the server builds the session as the client connects
        if len(sessions) > opened:
            break
        await asyncio.sleep(0.01)
    session = sessions[opened]
    quiet = bytes(2 * 16000 // 5)  # 0.2 s of silence at 16 kHz

    async def ask() -> None:
        await asyncio.sleep(0.1)
        await session.task.queue_frame(LLMMessagesAppendFrame(
            messages=[{"role": "user", "content": question}], run_llm=True))

    asking = asyncio.create_task(ask())
    result = await talk(client, quiet, timeout_secs=TURN_TIMEOUT_SECS)
    await asking
    return result


def rejudge(rows: list[dict[str, Any]]) -> None:
    """Judge again, with the judge as it is now, every row that kept its reply (the tune
    half's; a held-out row keeps only the verdicts it got when it was asked)."""
    from agent.answers.guard import FactGuard
    from agent.answers.knowledge_file import load_knowledge_file
    from agent.persona import read_prompt_file

    for business in sorted({r["business"] for r in rows if "reply" in r}):
        knowledge = BUSINESSES_DIR / business / "knowledge.md"
        guard = FactGuard(read_prompt_file(knowledge))
        labels = load_knowledge_file(knowledge, log=False).labels()
        declines = decline_lines(BUSINESSES_DIR / business / "persona.md")
        questions = {q["q"]: q for half in ("tune", "probe") for q in load_half(business, half)}
        for row in rows:
            if row["business"] == business and "reply" in row and row["q"] in questions:
                row.update(verdicts(questions[row["q"]], row["reply"], row["completed"],
                                    guard, labels, declines))


def _share(rows: list[dict[str, Any]], field: str) -> dict[str, Any] | None:
    if not rows:
        return None
    hits = sum(bool(r[field]) for r in rows)
    return {"share": round(hits / len(rows), 3), "of": f"{hits}/{len(rows)}"}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per business, half and voice (and all voices): facts right, unknowns declined,
    replies with an invented fact, a label read, a cut-off; yes/no first; voice-to-voice."""
    out: dict[str, Any] = {}
    for business in sorted({r["business"] for r in rows}):
        for half in ("tune", "probe", "heldout"):
            picked = [r for r in rows if r["business"] == business and r["half"] == half]
            voices = sorted({r["voice"] for r in picked})
            for voice in [*voices, *(["all"] if len(voices) > 1 else [])]:
                group = [r for r in picked if voice in ("all", r["voice"])]
                v2v = [r["voice_to_voice_ms"] for r in group if r.get("voice_to_voice_ms")]
                out[f"{business}/{half}/{voice}"] = {
                    "n": len(group),
                    "facts_right": _share([r for r in group if r["kind"] == "fact"], "right"),
                    "unknowns_declined": _share([r for r in group if r["kind"] == "unknown"],
                                                "right"),
                    "invented": sum(bool(r["invented"]) for r in group),
                    "label_read": sum(bool(r["label_read"]) for r in group),
                    "cut_off": sum(bool(r["cut_off"]) for r in group),
                    # rows judged before the reason was kept count as "unknown"
                    "cut_reasons": dict(Counter(r.get("cut_reason") or "unknown"
                                                for r in group if r["cut_off"])),
                    "heard_nothing": sum(bool(r.get("heard_nothing")) for r in group),
                    "yes_no_first": _share([r for r in group if r.get("yes_no")], "yes_no_first"),
                    # each yes/no question of a message of several by its own answer
                    # (docs/ANSWERS.md, section 19); rows judged before it have none
                    "yes_no_first_by_part": _share([r for r in group if r.get("yes_no_by_part")],
                                                   "yes_no_first_by_part"),
                    "voice_to_voice_p50_ms": round(statistics.median(v2v)) if v2v else None,
                }
    return out


def goals(summary: dict[str, Any]) -> dict[str, Any]:
    """Per business, whether its held-out half (all voices) meets the issue's goals."""
    out = {}
    for name, s in summary.items():
        business, half, voice = name.split("/")
        voices = {k.split("/")[2] for k in summary if k.startswith(f"{business}/heldout/")}
        if half != "heldout" or voice != ("all" if "all" in voices else next(iter(voices))):
            continue
        facts = (s["facts_right"] or {}).get("share", 0.0)
        unknowns = (s["unknowns_declined"] or {}).get("share", 0.0)
        yes_no = (s["yes_no_first"] or {}).get("share", 1.0)
        out[business] = {"facts_right": facts, "unknowns_declined": unknowns,
                         "invented": s["invented"], "label_read": s["label_read"],
                         "cut_off": s["cut_off"], "yes_no_first": yes_no,
                         "met": (facts >= GOAL and unknowns >= GOAL and s["invented"] == 0
                                 and s["label_read"] == 0 and s["cut_off"] == 0
                                 and yes_no >= GOAL)}
    return out


def plot(summary: dict[str, Any], path: Path, title: str) -> None:
    """Facts right and unknowns declined per business, tune beside held-out (all voices),
    the 0.9 goal drawn; the counts of invented, label and cut-off replies written above."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted({k.split("/")[0] for k in summary})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, metric, label in ((axes[0], "facts_right", "facts right"),
                              (axes[1], "unknowns_declined", "unknowns declined")):
        for offset, half, colour in ((-0.2, "tune", "#9db4d6"), (0.2, "heldout", "#2b5d9b")):
            for i, name in enumerate(names):
                voices = [k for k in summary if k.startswith(f"{name}/{half}/")]
                if not voices:
                    continue
                chosen = next((k for k in voices if k.endswith("/all")), voices[0])
                s = summary[chosen]
                share = (s[metric] or {}).get("share")
                if share is None:
                    continue
                ax.bar(i + offset, share, width=0.38, color=colour,
                       label=("held-out" if half == "heldout" else "tune") if i == 0 else None)
                ax.text(i + offset, share + 0.01, (s[metric] or {}).get("of", ""),
                        ha="center", va="bottom", fontsize=7)
                if metric == "facts_right":
                    ax.text(i + offset, 0.03, f"inv {s['invented']}\nlbl {s['label_read']}\n"
                            f"cut {s['cut_off']}", ha="center", va="bottom", fontsize=6,
                            color="white")
        ax.axhline(GOAL, color="#c0392b", linestyle="--", linewidth=1, label="goal 0.9")
        ax.set_xticks(range(len(names)), names)
        ax.set_ylim(0, 1.12)
        ax.set_title(label)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["spoken", "text"], default="spoken")
    parser.add_argument("--voices", nargs="+", default=["piper", "espeak"],
                        choices=["piper", "espeak"])
    parser.add_argument("--half", choices=["tune", "probe", "heldout", "all"], default="all",
                        help="all: tune and held-out (the probe sets only when asked: --half probe)")
    parser.add_argument("--businesses", nargs="+", default=None,
                        help="default: every business with both halves")
    parser.add_argument("--limit", type=int, default=0, help="first N visits a half (0: all)")
    parser.add_argument("--raw", type=Path, default=RAW)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--plot", type=Path, default=None, help=f"write the PNG here ({PLOT})")
    parser.add_argument("--summarise-only", action="store_true")
    parser.add_argument("--heard", type=Path, default=None,
                        help="text mode: ask these transcripts (a spoken run's raw JSON, or JSON "
                             "lines with b, voice, q, heard) instead of the typed questions, one "
                             "run per voice in it (heard-piper, heard-espeak); tune and probe only")
    parser.add_argument("--heard-only", action="store_true",
                        help="with --heard: ask only the visits a transcript of the file is for "
                             "(a few questions' transcripts: those a change routes otherwise)")
    args = parser.parse_args()
    args.heard_text = read_heard(args.heard) if args.heard is not None else {}
    if args.heard is not None and (args.mode != "text" or args.half in ("heldout", "all")):
        parser.error("--heard is for --mode text on a tune or probe half")
    names = args.businesses or businesses()
    unknown = set(names) - set(businesses())
    if unknown:
        parser.error(f"no such business (with knowledge, persona and both halves): {sorted(unknown)}")
    voices = ["text"] if args.mode == "text" else args.voices
    if args.heard is not None:
        voices = sorted({voice for _, voice, _ in args.heard_text})
    halves = ["tune", "heldout"] if args.half == "all" else [args.half]
    if "heldout" in halves:
        # the server logs each transcript and reading at DEBUG: a held-out half's questions
        # would stand in the log; warnings only
        logger.remove()
        logger.add(sys.stderr, level="WARNING")
    done: list[dict[str, Any]] = (json.loads(args.raw.read_text(encoding="utf-8"))
                                  if args.raw.is_file() else [])
    have = {key(r) for r in done}
    load_start = os.getloadavg()
    started = time.perf_counter()
    servers: dict[str, Any] = {}
    for business in names:
        todo = []
        for half in halves:
            for visit in visits(load_half(business, half))[: args.limit or None]:
                for voice in voices:
                    if args.heard_only and not any((business, voice, q["q"]) in args.heard_text
                                                   for q in visit):
                        continue
                    wanted = {key({**q, "voice": voice, "qid": question_id(q["q"])}) for q in visit}
                    if not wanted <= have:
                        done[:] = [r for r in done if key(r) not in wanted]  # redone whole
                        todo.append((voice, visit))
        if todo and not args.summarise_only:
            args.raw.parent.mkdir(parents=True, exist_ok=True)
            servers[business] = asyncio.run(ask_business(business, todo, args, done))
    rows = [public_row(r) for r in done if r["business"] in names and r["voice"] in voices
            and r["half"] in halves and (not args.heard_only or (
                r["business"], r["voice"], r["q"]) in args.heard_text)]
    rejudge(rows)
    summary = summarise(rows)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    result = {"mode": args.mode, "voices": voices, "businesses": names, "halves": halves,
              "commit": commit, "run_s": round(time.perf_counter() - started, 1),
              "servers": servers, "summary": summary, "held_out_goals": goals(summary),
              "tune_wrong": [{k: r.get(k) for k in ("business", "half", "voice", "kind", "q",
                                                    "heard", "reply", "invented", "label_read",
                                                    "cut_off")}
                             for r in rows if r["half"] != "heldout"
                             and (not r["right"] or r["label_read"] or r["cut_off"])],
              "load_avg_start": [round(v, 2) for v in load_start],
              "load_avg_end": [round(v, 2) for v in os.getloadavg()]}
    if args.plot is not None:
        plot(summary, args.plot, f"Kiosk answers per business ({', '.join(voices)}; "
             f"commit {commit}, load {load_start[0]:.1f})")
        result["plot"] = str(args.plot)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
