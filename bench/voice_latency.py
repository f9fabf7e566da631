"""Voice-to-voice latency of the real pipeline over a real loopback websocket.

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

Usage: python bench/voice_latency.py [--turns 12] [--model qwen2.5-0.5b|smollm2]
       [--vad-start 0.2] [--vad-stop 0.2] [--smart-turn-stop 1.0] [--first-clause-words 3]
       [--first-phrase-words 3] [--llm-batch-threads 1]
       [--max-tokens 96] [--llm-threads 1] [--no-warm-up] [--no-answer-rules]
       [--barge-ins 3] [--label NAME]
       [--raw rows.json]
       python bench/voice_latency.py --plot docs/voice_latency.png --compare a.json b.json
The last stdout line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm  # noqa: E402

#: Kiosk questions as a visitor would say them (no commas: a pause would split the turn).
QUESTIONS = (
    "What time do you open on Saturday?",
    "Where can I park my car?",
    "Do you accept Apple Pay?",
    "Where are the restrooms?",
    "How long do I have to return something?",
    "Is delivery free?",
    "When do you close on Sunday?",
    "Do you sell gift cards?",
    "Where is the garden center?",
    "What is the Wi-Fi network called?",
    "Are you open on Christmas Day?",
    "Where can I pick up my online order?",
)
INTERRUPTION = "Stop please. Where is the cafe?"


def percentile(values: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (None for no values)."""
    if not values:
        return None
    return float(np.percentile(np.asarray(values, dtype=np.float64), q))


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


class RssSampler(threading.Thread):
    """Peak of the summed RSS of some processes."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = 0.0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.peak = max(self.peak, sum(rss_mb(pid) for pid in self.pids))
            self._stop_event.wait(0.1)

    def stop(self) -> float:
        self._stop_event.set()
        self.join(timeout=2)
        return self.peak


def _loud_frames(pcm: bytes, rate: int) -> tuple[np.ndarray, int]:
    """Indices of 20 ms frames above 5 % of the peak level, and the frame length."""
    audio = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    frame = rate // 50
    n = len(audio) // frame
    levels = np.sqrt((audio[: n * frame].reshape(n, frame) ** 2).mean(axis=1))
    return np.nonzero(levels > 0.05 * levels.max())[0], frame


def speech_end_secs(pcm: bytes, rate: int) -> float:
    """Where speech ends: the end of the last loud 20 ms frame."""
    loud, frame = _loud_frames(pcm, rate)
    return float((loud[-1] + 1) * frame / rate)


def speech_start_secs(pcm: bytes, rate: int) -> float:
    """Where speech starts: the start of the first loud 20 ms frame."""
    loud, frame = _loud_frames(pcm, rate)
    return float(loud[0] * frame / rate)


def synthesize(models: Any, text: str) -> bytes:
    """Piper speech at 16 kHz with 0.3 s of lead-in silence."""
    import soxr

    chunks = [chunk.audio_int16_array for chunk in models.piper.synthesize(text)]
    audio = np.concatenate(chunks).astype(np.float32)
    audio16 = soxr.resample(audio, models.tts_sample_rate, 16000)
    lead = np.zeros(4800, dtype=np.float32)
    return np.concatenate([lead, audio16]).clip(-32768, 32767).astype(np.int16).tobytes()


def start_server(runtime: Any, config: Any) -> tuple[str, Any, threading.Thread]:
    """uvicorn in a background thread on a free port."""

    from pipelines.server.app import create_app, make_server

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    app = create_app(runtime, config)
    server = make_server(app, "127.0.0.1", port, config.limits)
    server.config.log_level = "warning"
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    return f"ws://127.0.0.1:{port}/ws", server, thread


async def barge_in(client: Any, question: bytes, interruption: bytes) -> float | None:
    """Ask, interrupt 0.5 s into the reply; ms from interruption onset to the last voiced
    old audio (a paused reply is sent on as silence)."""
    from sdk.connection import BotAudio

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


class StageTimeline:
    """Per-turn stage times on this process's clock (server and client share it).

    An observer added to every session (`ServerConfig.on_session`) notes when each
    stage first acts: the VAD's stop, the transcript, the end of the turn (the
    user aggregator's context), the LLM's first text, the first text and audio
    of the TTS, and the first reply audio handed to the transport. `stages()`
    gives them in ms after the user's speech ended, so a turn's 1.5 s is split
    into the parts that can be attacked.
    """

    def __init__(self) -> None:
        self.marks: list[tuple[float, str]] = []

    def observer(self, session: Any) -> Any:
        """A fresh pipecat observer for one session."""
        from pipecat.frames.frames import (
            LLMContextFrame,
            LLMTextFrame,
            OutputAudioRawFrame,
            TranscriptionFrame,
            TTSAudioRawFrame,
            VADUserStoppedSpeakingFrame,
        )
        from pipecat.observers.base_observer import BaseObserver, FramePushed
        from pipecat.processors.frame_processor import FrameDirection

        stt, llm, tts = (session.processors[k] for k in ("stt", "llm", "tts"))
        marks = self.marks

        class _Observer(BaseObserver):
            async def on_push_frame(self, data: FramePushed) -> None:
                frame, now = data.frame, time.monotonic()
                if data.direction != FrameDirection.DOWNSTREAM:
                    return
                if isinstance(frame, VADUserStoppedSpeakingFrame) and data.destination is stt:
                    marks.append((now, "vad_stop"))
                elif isinstance(frame, TranscriptionFrame) and data.source is stt:
                    marks.append((now, "transcript"))
                elif isinstance(frame, LLMContextFrame) and data.destination is llm:
                    marks.append((now, "llm_request"))
                elif isinstance(frame, LLMTextFrame) and data.source is llm:
                    marks.append((now, "llm_first_text"))
                elif data.destination is tts and type(frame).__name__ in (
                        "AggregatedTextFrame", "TTSSpeakFrame"):
                    marks.append((now, "tts_text"))
                elif isinstance(frame, TTSAudioRawFrame) and data.source is tts:
                    marks.append((now, "tts_audio"))
                elif (isinstance(frame, OutputAudioRawFrame)
                      and type(data.destination).__name__.endswith("OutputTransport")
                      and frame.audio.strip(b"\x00")):
                    marks.append((now, "wire_audio"))

        return _Observer()

    def stages(self, speech_end_at: float, first_audio_at: float | None) -> dict[str, float]:
        """First time of each stage in (speech end - 0.3 s, first audio], ms after the end."""
        until = (first_audio_at or speech_end_at + 30.0) + 0.05
        out: dict[str, float] = {}
        for at, name in self.marks:
            if speech_end_at - 0.3 < at <= until and name not in out:
                out[name] = round((at - speech_end_at) * 1000.0, 1)
        if first_audio_at is not None:
            out["client_audio"] = round((first_audio_at - speech_end_at) * 1000.0, 1)
        return out


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    from agent.knowledge_retrieval import KnowledgeIndex
    from agent.llm_server import aresolve_llm_endpoint
    from agent.persona import build_system_prompt
    from agent.settings import AgentSettings
    from pipelines.server.app import ServerConfig, VoiceRuntime
    from pipelines.speech.models import SpeechModels
    from pipelines.voice_pipeline import LLMParams, TurnParams
    from sdk.client import VoiceClient
    from sdk.talk import talk

    load1 = os.getloadavg()[0]
    settings = AgentSettings.load(llm_embedded_model=args.model, llm_max_tokens=args.max_tokens,
                                  llm_threads=args.llm_threads,
                                  llm_batch_threads=args.llm_batch_threads,
                                  llm_answer_rules=not args.no_answer_rules)
    started = time.perf_counter()
    from pipelines.speech.models import ASRParams

    models = SpeechModels.bundled(asr=ASRParams(encoder_min_secs=args.encoder_min_secs))
    endpoint = await aresolve_llm_endpoint(settings)
    sampler = RssSampler([os.getpid()] + ([endpoint.server.pid] if endpoint.server else []))
    sampler.start()
    try:
        runtime = VoiceRuntime(
            models=models,
            # the shared CPU can be saturated: a long timeout, not the product's 30 s
            llm=replace(LLMParams.from_settings(settings, endpoint), timeout_s=120.0),
            system_prompt=build_system_prompt(settings),
            # as the server: a fixed reply off-topic, store facts after questions if set
            knowledge=KnowledgeIndex.from_settings(settings),
        )
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
        for i in tqdm(range(args.turns), desc="turns", file=sys.stderr):
            if i % args.turns_per_session == 0:
                if client is not None:
                    await client.close()
                client = await VoiceClient.connect(url, client_name="bench")
            pcm = speech[i % len(speech)]
            result = await talk(client, pcm, speech_end_secs=speech_end_secs(pcm, 16000),
                                timeout_secs=120)
            row = {
                "question": QUESTIONS[i % len(QUESTIONS)],
                "heard": result.transcript,
                "reply": result.reply_text,
                "completed": result.completed,
                "voice_to_voice_ms": result.voice_to_voice_ms,
                "asr_ms": next(iter(result.metrics("BundledWhisperSTTService", "processing")),
                               None),
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
        if endpoint.server is not None:
            endpoint.server.stop()

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
    left.axhline(1.2, color="tab:green", linestyle="--", label="goal p50 1.2 s")
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
    parser.add_argument("--no-speculative-asr", action="store_true",
                        help="transcribe only at the VAD's stop (pipecat's segmented whisper)")
    parser.add_argument("--no-eager-reply", action="store_true",
                        help="start the reply only at the turn's end, not at the first pause")
    parser.add_argument("--no-answer-rules", action="store_true",
                        help="send yes/no store questions to the LLM too (llm_answer_rules "
                        "off: the default before 2026-11-23)")
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
    summary = asyncio.run(measure(args))
    rows = summary.pop("rows")
    if args.raw:
        Path(args.raw).write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
