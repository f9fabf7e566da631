"""Figure: voice-to-voice latency of the real pipeline over a real loopback websocket
(JSON on stdout; `--plot` with `--compare` draws docs/voice_latency.png from earlier runs).

Starts the voice server (bundled whisper tiny.en + piper joe + the embedded
llama.cpp LLM, kiosk persona) on 127.0.0.1, then speaks kiosk questions made
with piper to it through the client SDK at real-time pace, like a microphone.
Per turn it measures on the CLIENT's clock:

- voice_to_voice_ms: end of the user's speech -> first reply audio byte received

and from the server's `metrics` events: asr_ms (whisper on the utterance),
llm_first_token_ms, tts_first_audio_ms (piper, first chunk). With --barge-ins N
it also interrupts N replies and measures barge_in_ms: speech onset of the
interruption -> last audio byte of the interrupted reply.

rss_mb_peak is the peak resident memory of this process (server + client) plus
the llama.cpp server process, sampled every 100 ms.

Usage: python bench/voice/voice_latency.py [--turns 12] [--model qwen2.5-0.5b|smollm2]
       [--vad-start 0.2] [--vad-stop 0.2] [--smart-turn-stop 1.0] [--first-clause-words 3]
       [--first-phrase-words 3] [--llm-batch-threads 1]
       [--max-tokens 96] [--llm-threads 1] [--no-warm-up] [--no-answer-rules]
       [--barge-ins 3] [--label NAME] [--asr-beam N] [--asr-threads N]
       [--raw rows.json] [--no-fact-guard] [--no-semantic-retrieval] [--knowledge-file PATH]
       python bench/voice/voice_latency.py --against REV [--against REV2] [--checks-off-too]
       python bench/voice/voice_latency.py --this-tree-too "--asr-beam 5"
       python bench/voice/voice_latency.py --plot docs/voice_latency.png --compare a.json b.json
--against REV: the same bench with REV's product (a git worktree on the path,
benchkit/revision_tree.py; this script and benchkit drive it) beside this tree's, each
side a process of its own, all started together and their turns taken in turn (turn 0
of each side, then turn 1...; the others paused meanwhile), so a load that comes and
goes on the shared machine falls on every side alike; --checks-off-too adds this tree with the answer checks off
(the fact guard and retrieval by meaning), so their cost is read in the same run;
--this-tree-too FLAGS adds this tree with FLAGS (alone, without --against: this tree
and this tree with FLAGS, in the same way); --against-too FLAGS adds each REV with FLAGS
(before and after with another knowledge file, in one run). No barge-ins with --against.
The last stdout line is one JSON object. The summary, the SDK barge-in, the sides of
--against and the plot are benchkit/voice/voice_latency.py.

Runs: ~3 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": p50 0.71 s, p95 0.94 s; x0.42 a stock-pipecat-like agent in the same run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchkit.clocks import RssSampler
from benchkit.server import start_server
from benchkit.visitor import INTERRUPTION, QUESTIONS, speech_end_secs, synthesize
from benchkit.voice.stage_timeline import StageTimeline
from benchkit.voice.voice_latency import TurnGate, against, barge_in, plot_comparison, summarise

os.environ.setdefault("HF_HUB_OFFLINE", "1")


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from benchkit.runtime import bench_runtime, voice_only
    from pipelines.server.app import ServerConfig
    from pipelines.settings import Settings
    from pipelines.voice_pipeline import TurnParams
    from sdk.client import VoiceClient
    from sdk.talk import talk

    load1 = os.getloadavg()[0]
    llm: dict[str, Any] = {"embedded_model": args.model, "max_tokens": args.max_tokens,
                           "threads": args.llm_threads, "batch_threads": args.llm_batch_threads,
                           "answer_rules": not args.no_answer_rules}
    if args.no_semantic_retrieval:  # a setting earlier revisions (--against) do not know
        llm["retrieval_semantic"] = False
    asr: dict[str, Any] = {"encoder_min_secs": args.encoder_min_secs}
    if args.asr_beam is not None:  # else the settings' (earlier revisions' default)
        asr["beam_size"] = args.asr_beam
    if args.asr_threads is not None:  # else the settings'
        asr["cpu_threads"] = args.asr_threads
    # a knowledge file of the operator's (the 200-fact file: what a long file costs a turn)
    settings = Settings.load(llm=llm, asr=asr, persona={"knowledge_file": args.knowledge_file})
    started = time.perf_counter()
    # the server's runtime, voice only; as the server: a fixed reply off-topic, store
    # facts after questions if set. Warmed up below, with the RSS sampler running.
    runtime, llm_server = await bench_runtime(voice_only(settings), warm_up=False)
    if args.no_fact_guard:
        runtime = replace(runtime, llm=replace(runtime.llm, fact_guard=False))
    if args.switch_interval is not None:  # after the server's own choice (load_runtime)
        sys.setswitchinterval(args.switch_interval)
    models = runtime.models
    sampler = RssSampler([os.getpid()] + ([llm_server.pid] if llm_server else []))
    sampler.start()
    try:
        if not args.no_warm_up:
            models.warm_up()
            await runtime.warm_up_llm()
        startup_s = time.perf_counter() - started
        turn = TurnParams(vad_start_secs=args.vad_start, vad_stop_secs=args.vad_stop,
                          smart_turn_stop_secs=args.smart_turn_stop,
                          first_clause_min_words=args.first_clause_words,
                          first_phrase_words=args.first_phrase_words,
                          speculative_asr=not args.no_speculative_asr,
                          eager_reply=not args.no_eager_reply)
        timeline = StageTimeline()
        sessions: list[Any] = []

        def on_session(voice: Any) -> None:
            sessions.append(voice)
            voice.task.add_observer(timeline.observer(voice))

        config = ServerConfig(turn=turn, send_metrics=True, max_sessions=2,
                              on_session=on_session)
        url, server, thread = start_server(runtime, config)
        speech = [synthesize(models, q) for q in QUESTIONS]
        rows: list[dict[str, Any]] = []
        client = None
        gate = TurnGate(Path(args.turn_gate)) if args.turn_gate else None
        if gate is not None:
            gate.ready()
        for i in tqdm(range(args.turns), desc="turns", file=sys.stderr):
            if gate is not None:
                await gate.wait(i)
            if i % args.turns_per_session == 0:
                if client is not None:
                    await client.close()
                client = await VoiceClient.connect(url, client_name="bench")
            pcm = speech[i % len(speech)]
            assert client is not None
            result = await talk(client, pcm, speech_end_secs=speech_end_secs(pcm, 16000),
                                timeout_secs=120)
            row: dict[str, Any] = {
                "question": QUESTIONS[i % len(QUESTIONS)],
                "heard": result.transcript,
                "reply": result.reply_text,
                "completed": result.completed,
                "voice_to_voice_ms": result.voice_to_voice_ms,
                "asr_ms": next(iter(result.metrics("BundledWhisperSTTService", "processing")
                                    or result.metrics("SpeculativeWhisperSTTService",
                                                      "processing")), None),
                "llm_first_token_ms": next(iter(result.metrics("LocalOpenAILLMService", "ttfb")),
                                           None),
                "tts_first_audio_ms": next(iter(result.metrics("SharedPiperTTSService", "ttfb")),
                                           None),
                "stages_ms": (timeline.stages(result.speech_end_at, result.first_audio_at)
                              if result.speech_end_at is not None else {}),
            }
            rows.append(row)
            tqdm.write(f"turn {i}: v2v {row['voice_to_voice_ms'] or float('nan'):.0f} ms "
                       f"stages {row['stages_ms']} | {row['reply'][:60]!r}", file=sys.stderr)
            await asyncio.sleep(0.5)
            if gate is not None:
                gate.done(i)
        barge_ms: list[float] = []
        if args.barge_ins:
            assert client is not None
            await client.close()
            interruption = synthesize(models, INTERRUPTION)
            for i in tqdm(range(args.barge_ins), desc="barge-ins", file=sys.stderr):
                client = await VoiceClient.connect(url, client_name="bench-barge")
                value = await barge_in(client, speech[i % len(speech)], interruption)
                await client.close()
                if value is not None:
                    barge_ms.append(value)
                tqdm.write(f"barge-in {i}: {value}", file=sys.stderr)
        elif client is not None:
            await client.close()
        server.should_exit = True
        thread.join(timeout=10)
        speculation: dict[str, int] = {}
        for voice in sessions:  # first-pause guesses and the replies started on them
            counts = [getattr(voice.processors["stt"], "speculation_counts", {}),
                      getattr(voice.turn_stop, "speculations", {})]
            for key, value in ((f"{i}_{k}", v) for i, c in zip(("stt", "turn"), counts, strict=True)
                               for k, v in c.items()):
                speculation[key] = speculation.get(key, 0) + value
    finally:
        rss_peak = sampler.stop()
        if llm_server is not None:
            llm_server.stop()
    summary = summarise(args, rows, barge_ms, rss_peak=rss_peak, startup_s=startup_s,
                        speculation=speculation, load1=load1)
    summary["asr_beam_size"] = models.asr.beam_size
    summary["asr_cpu_threads"] = getattr(models, "whisper_threads", models.asr.cpu_threads)
    summary["knowledge_file"] = str(settings.persona.knowledge_file)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--turns-per-session", type=int, default=4)
    parser.add_argument("--model", default="qwen2.5-0.5b", choices=["qwen2.5-0.5b", "smollm2"])
    parser.add_argument("--vad-start", type=float, default=0.1)
    parser.add_argument("--vad-stop", type=float, default=0.2)
    parser.add_argument("--smart-turn-stop", type=float, default=1.0)
    parser.add_argument("--first-clause-words", type=int, default=3)
    parser.add_argument("--first-phrase-words", type=int, default=3)
    parser.add_argument("--llm-batch-threads", type=int, default=1,
                        help="llama.cpp threads reading the prompt")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--llm-threads", type=int, default=1,
                        help="llama.cpp threads (1: two spin-waiting threads collapse under load)")
    parser.add_argument("--no-warm-up", action="store_true")
    parser.add_argument("--encoder-min-secs", type=float, default=20.0,
                        help="whisper's encoder window floor (0: the full 30 s)")
    parser.add_argument("--asr-threads", type=int, default=None, choices=range(1, 9),
                        help="whisper's CPU threads (default: the settings', 2)")
    parser.add_argument("--asr-beam", type=int, default=None, choices=range(1, 17),
                        metavar="N", help="whisper's beam (asr.beam_size; default: the "
                        "settings')")
    parser.add_argument("--knowledge-file", default=None, metavar="PATH",
                        help="the persona's knowledge file (default: the settings'), e.g. "
                        "bench/answers/long_file/knowledge.md")
    parser.add_argument("--no-speculative-asr", action="store_true",
                        help="transcribe only at the VAD's stop (pipecat's segmented whisper)")
    parser.add_argument("--no-eager-reply", action="store_true",
                        help="start the reply only at the turn's end, not at the first pause")
    parser.add_argument("--no-answer-rules", action="store_true",
                        help="send yes/no store questions to the LLM too (llm_answer_rules "
                        "off: the default before 2026-11-23)")
    parser.add_argument("--no-fact-guard", action="store_true",
                        help="speak reply chunks unchecked (no FactCheckedText)")
    parser.add_argument("--no-semantic-retrieval", action="store_true",
                        help="llm.retrieval_semantic off: the knowledge file matched by words only")
    parser.add_argument("--switch-interval", type=float, default=None,
                        help="the interpreter lock's switch interval in s (default: the server's)")
    parser.add_argument("--against", action="append", default=[], metavar="REV",
                        help="the bench with REV's product beside this tree's, turns taken in "
                        "turn (repeatable)")
    parser.add_argument("--checks-off-too", action="store_true",
                        help="with --against: this tree again with --no-fact-guard "
                        "--no-semantic-retrieval")
    parser.add_argument("--this-tree-too", action="append", default=[], metavar="FLAGS",
                        help="with --against: this tree again with these flags (repeatable)")
    parser.add_argument("--against-too", action="append", default=[], metavar="FLAGS",
                        help="with --against: each REV again with these flags (repeatable; "
                        "e.g. with --this-tree-too alike, a setting on both products)")
    parser.add_argument("--turn-gate", default=None, help=argparse.SUPPRESS)  # --against's sides
    parser.add_argument("--barge-ins", type=int, default=3)
    parser.add_argument("--label", default="tuned")
    parser.add_argument("--raw", default=None, help="write per-turn rows as JSON here")
    parser.add_argument("--plot", type=Path, default=None,
                        help="with --compare: write a comparison PNG here and exit")
    parser.add_argument("--compare", type=Path, nargs="*", default=[],
                        help="raw JSON files of earlier runs (--raw) to plot")
    args = parser.parse_args()
    if args.plot is not None:
        if not args.compare:
            parser.error("--plot needs --compare RAW.json ...")
        plot_comparison(args.compare, args.plot)
        print(json.dumps({"plot": str(args.plot), "runs": [str(p) for p in args.compare]}))
        return
    if args.turns < 1:
        parser.error("--turns must be >= 1")
    if args.checks_off_too and not args.against:
        parser.error("--checks-off-too needs --against")
    if args.against_too and not args.against:
        parser.error("--against-too needs --against")
    if args.against or args.this_tree_too:
        try:
            result = against(args, Path(__file__).resolve(), sys.argv[1:])
        except ValueError as error:
            parser.error(str(error))
        if args.raw:
            Path(args.raw).write_text(json.dumps(result, indent=2))
        for side in result["sides"]:
            side.pop("rows", None)
        print(json.dumps(result))
        return
    summary = asyncio.run(measure(args))
    rows = summary.pop("rows")
    if args.raw:
        Path(args.raw).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
