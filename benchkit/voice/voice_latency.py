"""The library part of bench/voice/voice_latency.py: a barge-in through the client SDK, the
run's summary (its JSON keys), the sides of `--against` and the comparison plot of
earlier runs.

Why here: the script keeps only the run itself and its flags; the summary's
keys and the plot are what later runs are compared with, so they live in one place.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from avatar.procfs import descendants
from benchkit.stats import percentile
from benchkit.visitor import speech_start_secs


async def barge_in(client: Any, question: bytes, interruption: bytes) -> float | None:
    """Ask, interrupt 0.5 s into the reply; ms from interruption onset to the last voiced
    old audio (a paused reply is sent on as silence)."""
    from sdk.items import BotAudio

    first_audio = asyncio.Event()
    audio_times: list[float] = []
    heard_after: list[float] = []
    barge_at: list[float] = []

    async def listen() -> None:
        async for item in client.receive():
            if isinstance(item, BotAudio):
                # a paused reply goes on as silence: only voiced audio is the old reply
                if np.abs(np.frombuffer(item.pcm, np.int16)).max(initial=0) > 300:
                    audio_times.append(item.received_at)
                first_audio.set()
            elif (getattr(item, "type", "") == "user-transcription" and barge_at
                  and getattr(item, "final", True)):
                heard_after.append(time.monotonic())
                return
            elif getattr(item, "type", "") == "closed":
                return

    listener = asyncio.create_task(listen())
    if not await client.speak_until(question, first_audio, timeout_secs=120):
        listener.cancel()
        return None
    await asyncio.sleep(0.5)
    barge_at.append(time.monotonic() + speech_start_secs(interruption, 16000))
    await client.stream_pcm(interruption)
    done = asyncio.Event()
    quiet = asyncio.create_task(client.send_silence_until(done))
    try:
        await asyncio.wait_for(listener, timeout=120)
    except TimeoutError:
        pass
    done.set()
    await quiet
    if not heard_after:
        return None
    old = [t for t in audio_times if t < heard_after[0]]
    # let the second reply finish so the next measurement starts clean
    return (old[-1] - barge_at[0]) * 1000.0 if old else None


def summarise(args: argparse.Namespace, rows: list[dict[str, Any]], barge_ms: list[float], *,
              rss_peak: float, startup_s: float, speculation: dict[str, int],
              load1: float) -> dict[str, Any]:
    """The run's JSON (the last stdout line), with the per-turn rows under "rows"."""

    def column(name: str) -> list[float]:
        return [float(r[name]) for r in rows if r[name] is not None]

    v2v = column("voice_to_voice_ms")
    # a turn the knowledge rules answered (a fact, "I don't know") never asked the LLM
    by_llm = [float(r["voice_to_voice_ms"]) for r in rows
              if r["voice_to_voice_ms"] is not None and r["llm_first_token_ms"] is not None]
    by_rules = [float(r["voice_to_voice_ms"]) for r in rows
                if r["voice_to_voice_ms"] is not None and r["llm_first_token_ms"] is None]
    stage_names = sorted({name for r in rows for name in r["stages_ms"]},
                         key=lambda n: percentile([r["stages_ms"][n] for r in rows
                                                   if n in r["stages_ms"]], 50) or 0.0)
    summary: dict[str, Any] = {
        "label": args.label,
        "model": args.model,
        "turns": len(rows),
        "answered": sum(1 for r in rows if r["completed"]),
        "voice_to_voice_ms_p50": percentile(v2v, 50),
        "voice_to_voice_ms_p95": percentile(v2v, 95),
        "llm_turns": len(by_llm),
        "voice_to_voice_ms_p50_llm_turns": percentile(by_llm, 50),
        "voice_to_voice_ms_p95_llm_turns": percentile(by_llm, 95),
        "voice_to_voice_ms_p50_rule_turns": percentile(by_rules, 50),
        "asr_ms_p50": percentile(column("asr_ms"), 50),
        "llm_first_token_ms_p50": percentile(column("llm_first_token_ms"), 50),
        "tts_first_audio_ms_p50": percentile(column("tts_first_audio_ms"), 50),
        "stages_ms_p50": {n: percentile([r["stages_ms"][n] for r in rows
                                          if n in r["stages_ms"]], 50) for n in stage_names},
        "barge_in_ms_p50": percentile(barge_ms, 50),
        "barge_in_ms": [round(v) for v in barge_ms],
        "rss_mb_peak": round(rss_peak, 1),
        "startup_s": round(startup_s, 2),
        "params": {
            "vad_start_secs": args.vad_start,
            "vad_stop_secs": args.vad_stop,
            "smart_turn_stop_secs": args.smart_turn_stop,
            "first_clause_min_words": args.first_clause_words,
            "first_phrase_words": args.first_phrase_words,
            "max_tokens": args.max_tokens,
            "llm_threads": args.llm_threads,
            "llm_batch_threads": args.llm_batch_threads,
            "warm_up": not args.no_warm_up,
            "encoder_min_secs": args.encoder_min_secs,
            "speculative_asr": not args.no_speculative_asr,
            "eager_reply": not args.no_eager_reply,
            "answer_rules": not args.no_answer_rules,
        },
        "speculation": speculation,
        "load_avg_1m": [round(load1, 2), round(os.getloadavg()[0], 2)],
        "voice_to_voice_ms": [round(v) for v in v2v],
    }
    summary["rows"] = rows
    return summary


#: the flags of the parent run of `--against`, not passed to its sides (flag: takes a value)
_PARENT_FLAGS = {"--against": True, "--raw": True, "--label": True, "--checks-off-too": False,
                 "--this-tree-too": True, "--against-too": True, "--turn-gate": True}
#: this tree's own flags for the side with the answer checks off
CHECKS_OFF = ["--no-fact-guard", "--no-semantic-retrieval"]
#: the figures `against` puts side by side, one value a side
COMPARED = ("voice_to_voice_ms_p50", "voice_to_voice_ms_p95", "voice_to_voice_ms_p50_llm_turns",
            "voice_to_voice_ms_p50_rule_turns", "asr_ms_p50", "llm_first_token_ms_p50",
            "tts_first_audio_ms_p50")
#: how long one turn of a side may take before the run is given up (s)
TURN_TIMEOUT_S = 240.0
#: how long a side resumed from its pause runs before its turn starts (its timers due)
SETTLE_S = 0.3


def side_argv(argv: list[str]) -> list[str]:
    """`argv` without the parent's own flags (`_PARENT_FLAGS`), for each side's run."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in _PARENT_FLAGS:
            skip = _PARENT_FLAGS[name] and "=" not in arg
            continue
        out.append(arg)
    return out


class TurnGate:
    """A side's turns, each taken when the parent run says so (files in `folder`):
    `ready` once warmed up, then `wait(i)` for go_i and `done(i)` after turn i."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def ready(self) -> None:
        (self.folder / "ready").touch()

    async def wait(self, turn: int) -> None:
        while not (self.folder / f"go_{turn}").exists():  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.02)

    def done(self, turn: int) -> None:
        (self.folder / f"done_{turn}").touch()


@dataclass
class _Side:
    """One side of `against`: its label, what it runs, its process and files."""

    label: str
    rev: str
    tree: Path | None
    argv: list[str]
    folder: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def raw(self) -> Path:
        return self.folder / "raw.json"

    def start(self, script: Path) -> None:
        from benchkit.revision_tree import path_with

        env = path_with(self.tree) if self.tree is not None else dict(os.environ)
        self.process = subprocess.Popen(
            [sys.executable, str(script), *self.argv, "--barge-ins", "0", "--label", self.label,
             "--raw", str(self.raw), "--turn-gate", str(self.folder)],
            env=env, stdout=subprocess.DEVNULL)

    def pause(self) -> None:
        """Stop the side and its children (its LLM server): a side waiting for its next
        turn keeps its session open, and an open voice session costs ~15 % of a core
        (silence through the VAD), which would fall on the side whose turn it is."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def until(self, name: str, timeout_s: float) -> None:
        """Wait for the side's file `name`.

        Raises:
            RuntimeError: the side ended first or took longer than `timeout_s`.
        """
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while not (self.folder / name).exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"side {self.label!r} ended (exit status "
                                   f"{self.process.returncode}) before {name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"side {self.label!r}: no {name} in {timeout_s:.0f} s")
            time.sleep(0.02)


def against(args: argparse.Namespace, script: Path, argv: list[str]) -> dict[str, Any]:
    """`--against REV ...`: this script with each REV's product (its worktree first on
    the path) and with this tree's (and with `--checks-off-too` this tree with the fact
    guard and retrieval by meaning off; each `--this-tree-too FLAGS`; each REV with each
    `--against-too FLAGS`, so a setting is compared on both products), all started at
    once, their turns taken one side after another, in an order that turns round; the
    sides not taking a turn are paused (`_Side.pause`).

    Raises:
        ValueError: a REV that names no commit.
        RuntimeError: a side failed.
    """
    from benchkit.revision_tree import baseline_tree

    common = side_argv(argv)
    load1 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="voice_latency_") as tmp:
        trees = {rev: baseline_tree(rev) for rev in args.against}
        plan: list[tuple[str, str, Path | None, list[str]]] = [
            (rev, rev, trees[rev], []) for rev in args.against]
        plan += [(f"{rev}, {extra}", f"{rev}_variant{i + 1}", trees[rev], extra.split())
                 for rev in args.against for i, extra in enumerate(args.against_too)]
        plan.append(("this tree", "this_tree", None, []))
        if args.checks_off_too:
            plan.append(("this tree, checks off", "checks_off", None, CHECKS_OFF))
        plan += [(f"this tree, {extra}", f"variant{i + 1}", None, extra.split())
                 for i, extra in enumerate(args.this_tree_too)]
        sides = []
        for rev, label, tree, extra in plan:
            folder = Path(tmp) / label
            folder.mkdir()
            sides.append(_Side(label=label, rev=rev, tree=tree, argv=[*common, *extra],
                               folder=folder))
        try:
            for side in sides:
                side.start(script)
            for side in sides:
                side.until("ready", TURN_TIMEOUT_S * 2)
                side.pause()
            for i in range(args.turns):
                for side in sides[i % len(sides):] + sides[:i % len(sides)]:
                    side.resume()
                    time.sleep(SETTLE_S)
                    (side.folder / f"go_{i}").touch()
                    side.until(f"done_{i}", TURN_TIMEOUT_S)
                    side.pause()
            for side in sides:
                side.resume()
            for side in sides:
                assert side.process is not None
                if side.process.wait(timeout=TURN_TIMEOUT_S) != 0 or not side.raw.is_file():
                    raise RuntimeError(f"side {side.label!r} failed with exit status "
                                       f"{side.process.returncode}")
        finally:
            for side in sides:
                if side.process is not None and side.process.poll() is None:
                    side.resume()
                    side.process.kill()
        results = []
        for side in sides:
            raw = json.loads(side.raw.read_text())
            results.append({"rev": side.rev, **raw["summary"], "rows": raw["rows"]})
    compared = {key: {side["label"]: side.get(key) for side in results} for key in COMPARED}
    names = [n for side in results for n in side.get("stages_ms_p50", {})]
    stages = {name: {side["label"]: side.get("stages_ms_p50", {}).get(name) for side in results}
              for name in dict.fromkeys(names)}
    return {"against": args.against, "compared": compared, "stages_ms_p50": stages,
            "load_avg_1m": [round(load1, 2), round(os.getloadavg()[0], 2)], "sides": results}


def plot_comparison(raw_files: list[Path], out: Path) -> None:
    """Box plot of voice-to-voice per variant + median ASR / LLM / TTS bars, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [json.loads(Path(f).read_text()) for f in raw_files]
    labels = [f"{r['summary']['label']}\n{r['summary']['model']}" for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    data = [[row["voice_to_voice_ms"] / 1000 for row in r["rows"] if row["voice_to_voice_ms"]]
            for r in runs]
    left.boxplot(data, showmeans=False)
    left.set_xticks(range(1, len(labels) + 1), labels)
    left.axhline(0.8, color="tab:green", linestyle="--", label="goal p50 0.8 s (issue 75)")
    left.axhline(2.1, color="tab:red", linestyle=":",
                 label="stock pipecat p50 ~2.1 s (quiet machine)")
    left.set_yscale("log")  # one stalled turn must not flatten the rest
    left.set_yticks([0.5, 1, 2, 5, 10, 20, 50], ["0.5", "1", "2", "5", "10", "20", "50"])
    left.set_ylabel("voice-to-voice (s, log scale)")
    left.set_title("end of user speech -> first reply audio at the client")
    left.legend(fontsize=8)
    parts = ("asr_ms_p50", "llm_first_token_ms_p50", "tts_first_audio_ms_p50")
    width = 0.8 / len(parts)
    for k, part in enumerate(parts):
        values = [(r["summary"].get(part) or 0) / 1000 for r in runs]
        right.bar([i + k * width for i in range(len(runs))], values, width,
                  label=part.replace("_ms_p50", ""))
    right.set_xticks([i + width for i in range(len(runs))], labels)
    right.set_ylabel("median (s)")
    right.set_title("stage medians (server metrics)")
    right.legend(fontsize=8)
    loads = ", ".join(f"{r['summary']['label']}: {r['summary']['load_avg_1m']}" for r in runs)
    fig.suptitle(f"voice latency on the shared 2-core CPU (1-min load avg start/end: {loads})",
                 fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
