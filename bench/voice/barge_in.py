"""Figure: barge-in on recorded sounds (JSON; --out bench/results/barge_in*.json): which stop the bot, how fast.

Barge-in on recorded sounds: which ones stop the bot, and how fast real speech does.

Two servers share one runtime (the bundled whisper, piper, the embedded LLM):
`pipecat` (every VAD start interrupts: pipecat's own barge-in) and `ours`
(pipelines/turns/barge_in.py: a sound pauses the reply, words interrupt it, a
backchannel / cough / laugh lets it play on). For every clip of the labelled
set (benchkit/voice/barge_in_set.py: human backchannels and speech cut from real
recordings, acted coughs and laughs, a few TTS ones), alternating the two
servers clip by clip so both see the same machine state:

1. a fresh session asks a question with a long answer;
2. 0.6 s into the reply audio the clip is streamed at real-time pace;
3. the client then sends silence until the reply is interrupted, or for 6 s.

Every clip is scaled to the loudness of the spoken question (the RMS of its
voiced frames), as a microphone's gain control would: the meeting recordings
are quiet (AMI peaks at 0.08) and would otherwise never reach the VAD.

Per clip, on the client's clock:
- interrupted: a `bot-interrupted` event came after the clip started;
- stop_ms: clip onset (first loud 20 ms) -> the last voiced chunk of the reply
  before it fell silent (a pause or an interruption; the avatar and the pacer
  send silence, so "silent" is judged by level, not by the absence of audio);
- resumed: voiced reply audio came again after that silence, with no interruption.

Summary per server: false_interruptions (share of clips that should not
interrupt but did), missed_interruptions (speech clips that did not),
barge_in_ms_p50 (stop_ms over speech clips), pause_ms_p50 (stop_ms over the
others, ours only: how long a backchannel silences the bot is in resume_ms).
false_pauses (ours only, from the session's barge-in strategy): the share of the
clips that should not interrupt that paused the reply at all (a quick pause or
a VAD one), and false_pause_gap_ms_mean, the mean silence such a clip put into a
reply that then played on (a pause that resumes is still heard). quick: how
many quick pauses (pipelines/turns/speech_onset.py) the VAD confirmed or not.

Variants: `pipecat`, `ours` (VAD start --vad-start), `ours_vad010` (VAD start
0.1 s), `ours_quick` (VAD start 0.1 s and the quick pause on silero's window
score, `TurnParams.quick_pause_secs`); `ours*` without "quick" have it off.
`ours`, `ours_vad010` and `ours_quick` let words whisper deems a failed decode
play the reply on (pipelines/speech/transcript_confidence.py); `ours_quick_anywords`
is `ours_quick` with any words interrupting, as before that.

Usage: python bench/voice/barge_in.py [--labels speech backchannel ...] [--limit N] [--every N]
       [--servers pipecat ours ours_vad010 ours_quick ours_quick_anywords] [--vad-start 0.2]
       [--quick-pause 0.3] [--noise-db -60] [--out bench/results/barge_in.json]
The last stdout line is one JSON object.

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": p50 123 ms; false / missed interruptions 4.8 % / 0 %
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm

from benchkit.server import start_server
from benchkit.visitor import synthesize
from benchkit.voice.barge_in import run_clip, scaled, summarise, tap_cost, voiced_rms
from benchkit.voice.barge_in_set import barge_in_clips

QUESTION = "Please tell me everything about delivery and returns and gift cards."
async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from benchkit.runtime import bench_runtime, voice_only
    from pipelines.server.app import ServerConfig
    from pipelines.settings import Settings
    from pipelines.voice_pipeline import TurnParams

    clips = [c for c in barge_in_clips() if not args.labels or c.label in args.labels]
    if args.every > 1:  # a stratified subset: every n-th clip of each label
        clips = [c for label in dict.fromkeys(c.label for c in clips)
                 for c in [c for c in clips if c.label == label][:: args.every]]
    if args.limit:
        clips = clips[: args.limit]
    load_start = os.getloadavg()
    # the server's runtime, voice only, no knowledge routing (the reply is a long one)
    runtime, llm_server = await bench_runtime(voice_only(Settings.load(), knowledge=False))
    models = runtime.models
    try:
        turns = {
            "pipecat": TurnParams(backchannel_barge_in=False, vad_start_secs=args.vad_start),
            "ours": TurnParams(backchannel_barge_in=True, vad_start_secs=args.vad_start),
            # a false start only pauses now: how much does a shorter VAD start buy?
            "ours_vad010": TurnParams(backchannel_barge_in=True, vad_start_secs=0.1,
                                      quick_pause_secs=0.0),
            # ...and silero's window score pauses the reply before the VAD commits
            "ours_quick": TurnParams(backchannel_barge_in=True, vad_start_secs=0.1,
                                     quick_pause_secs=args.quick_pause),
        }
        turns["ours"] = replace(turns["ours"], quick_pause_secs=0.0)
        # the quick pause, with any words interrupting (before whisper's confidence was used)
        turns["ours_quick_anywords"] = replace(turns["ours_quick"], unsure_words_interrupt=True)
        sessions: dict[str, list[Any]] = {name: [] for name in args.servers}
        servers = {name: start_server(runtime, ServerConfig(
            turn=turns[name], max_sessions=2, on_session=sessions[name].append))
            for name in args.servers}
        question = synthesize(models, QUESTION)
        level = voiced_rms(question)
        rows: list[dict[str, Any]] = []
        for clip in tqdm(clips, desc="clips", file=sys.stderr):
            for name in args.servers:
                url = servers[name][0]
                before = len(sessions[name])
                result = await run_clip(url, question, scaled(clip.pcm, level),
                                        noise_db=args.noise_db)
                strategy = (sessions[name][-1].barge_in if len(sessions[name]) > before
                            else None)
                row = {"server": name, "clip": clip.name, "label": clip.label,
                       "source": clip.source, "text": clip.text,
                       "should_interrupt": clip.should_interrupt,
                       "load1": round(os.getloadavg()[0], 2), **result,
                       "counters": None if strategy is None else dict(strategy.counters),
                       "pause_gap_ms": (None if strategy is None
                                        else round(sum(strategy.pause_gaps) * 1000.0))}
                rows.append(row)
                tqdm.write(f"{name:8s} {clip.label:11s} {clip.name:28s} "
                           f"interrupted={result['interrupted']!s:5s} "
                           f"stop={result['stop_ms']} resumed={result['resumed']} "
                           f"gap={row['pause_gap_ms']} "
                           f"heard={result['transcripts']}", file=sys.stderr)
            if args.out is not None:  # a run cut short keeps its rows
                partial = args.out.with_suffix(".partial.jsonl")
                with partial.open("a") as out:
                    for row in rows[-len(args.servers):]:
                        out.write(json.dumps(row) + "\n")
        for _, server, thread in servers.values():
            server.should_exit = True
            thread.join(timeout=10)
    finally:
        if llm_server is not None:
            llm_server.stop()
    return {
        "question": QUESTION,
        "vad_start_secs": args.vad_start,
        "quick_pause_secs": args.quick_pause,
        "noise_db": args.noise_db,
        "onset_tap_cost": tap_cost(),
        "load_avg_start": [round(v, 2) for v in load_start],
        "load_avg_end": [round(v, 2) for v in os.getloadavg()],
        "summary": {name: summarise(rows, name) for name in args.servers},
        "rows": rows,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", nargs="*", default=None)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--every", type=int, default=1, help="every n-th clip of each label")
    parser.add_argument("--servers", nargs="+", default=["pipecat", "ours"],
                        choices=["pipecat", "ours", "ours_vad010", "ours_quick",
                                 "ours_quick_anywords"])
    parser.add_argument("--vad-start", type=float, default=0.2)
    parser.add_argument("--quick-pause", type=float, default=0.3,
                        help="ours_quick: seconds a quick pause waits for the VAD to confirm")
    parser.add_argument("--noise-db", type=float, default=None,
                        help="a microphone noise floor (dBFS RMS) under all the client sends")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result["summary"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
