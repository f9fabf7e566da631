"""Paused requests: how often one spoken request is cut into two turns.

Spoken with the bundled piper voice, each request is two or three pieces with
a silent pause between them ("I'd like a coffee and" [pause] "a croissant").
Each is streamed at real-time pace to the real voice server (whisper, smart-turn,
the embedded LLM); a *split* is a `user-stopped-speaking` event during a pause:
the server ended the turn before the user had finished. Variants run in the same
process one after the other: pipecat's smart-turn alone, and with the hold on
words that promise more (pipelines/turn_hold.py). Also the extra wait the hold
costs on requests that end cleanly (voice-to-voice on the control questions).

Prints one JSON object (last line); writes bench/results/turn_splits.json.

    .venv/bin/python bench/turn_splits.py [--pauses 0.6 1.0]
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.voice_latency import speech_end_secs, start_server, synthesize  # noqa: E402

#: pieces of one request; the pause goes between them
REQUESTS = [
    ["I'd like a coffee and", "a croissant, please."],
    ["I need apples,", "bananas,", "and some milk."],
    ["Could you tell me where the", "shoe department is?"],
    ["My order number is", "four five seven two."],
    ["I'm looking for a present for my", "daughter."],
    ["Two coffees", "please."],
]
CONTROLS = ["Where are the toilets?", "What time do you open on Sunday?", "Do you sell umbrellas?"]
RATE = 16000


async def run_request(url: str, pieces: list[bytes], pause: float) -> dict[str, Any]:
    """Stream the pieces with pauses; when each turn ended and when the reply came."""
    from pipelines.client import BotAudio, VoiceClient

    events: list[tuple[float, str]] = []
    piece_starts: list[float] = []
    first_audio: list[float] = []
    async with await VoiceClient.connect(url, busy_retry_secs=60) as client:
        async def listen() -> None:
            async for item in client.receive():
                now = time.monotonic()
                if isinstance(item, BotAudio):
                    if not first_audio:
                        first_audio.append(now)
                elif hasattr(item, "type"):
                    events.append((now, item.type))

        listener = asyncio.create_task(listen())
        silence = bytes(int(pause * RATE) * 2)
        for i, pcm in enumerate(pieces):
            piece_starts.append(time.monotonic())
            await client.stream_pcm(pcm)
            if i < len(pieces) - 1:
                await client.stream_pcm(silence)
        end_of_speech = time.monotonic() - (len(pieces[-1]) / 2 / RATE - speech_end_secs(pieces[-1], RATE))
        await client.stream_pcm(bytes(int(5.0 * RATE) * 2))
        listener.cancel()
    stops = [t for t, kind in events if kind == "user-stopped-speaking"]
    splits = sum(1 for t in stops if t < piece_starts[-1] + 0.3)  # a turn ended mid-request
    return {"splits": splits, "turn_ends": len(stops),
            "v2v_ms": round((first_audio[0] - end_of_speech) * 1000) if first_audio else None}


async def run_variant(models: Any, runtime: Any, hold_secs: float, pauses: list[float]
                      ) -> dict[str, Any]:
    from pipelines.server import ServerConfig
    from pipelines.voice_pipeline import TurnParams

    config = ServerConfig(turn=TurnParams(incomplete_hold_secs=hold_secs), max_sessions=2)
    url, server, thread = start_server(runtime, config)
    try:
        rows = []
        for pause in pauses:
            for pieces in REQUESTS:
                pcm = [synthesize(models, text) for text in pieces]
                result = await run_request(url, pcm, pause)
                rows.append({"request": " | ".join(pieces), "pause": pause, **result})
                print(f"hold {hold_secs}: pause {pause} {rows[-1]}", file=sys.stderr)
        controls = []
        for text in CONTROLS:
            result = await run_request(url, [synthesize(models, text)], 0.0)
            controls.append(result["v2v_ms"])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    split = [r for r in rows if r["splits"]]
    return {"hold_secs": hold_secs, "requests": len(rows), "split_requests": len(split),
            "split_rate": round(len(split) / len(rows), 3), "rows": rows,
            "control_v2v_ms": controls}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from agent.llm_server import aresolve_llm_endpoint
    from agent.persona import build_system_prompt
    from agent.settings import AgentSettings
    from pipelines.server import VoiceRuntime
    from pipelines.services import SpeechModels
    from pipelines.voice_pipeline import LLMParams

    settings = AgentSettings.load()
    models = SpeechModels.bundled()
    endpoint = await aresolve_llm_endpoint(settings)
    try:
        runtime = VoiceRuntime(models=models,
                               llm=replace(LLMParams.from_settings(settings, endpoint), timeout_s=120.0),
                               system_prompt=build_system_prompt(settings))
        models.warm_up()
        await runtime.warm_up_llm()
        load = os.getloadavg()
        variants = [await run_variant(models, runtime, hold, args.pauses) for hold in (0.0, 0.8)]
    finally:
        if endpoint.server is not None:
            endpoint.server.stop()
    return {"variants": variants, "pauses": args.pauses, "load_avg_start": [round(x, 2) for x in load],
            "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            "control_v2v_ms_median": {str(v["hold_secs"]): float(np.median([x for x in v["control_v2v_ms"] if x]))
                                      for v in variants}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pauses", type=float, nargs="+", default=[0.6, 1.0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "turn_splits.json")
    arguments = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = asyncio.run(main(arguments))
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps({k: v for k, v in output.items() if k != "variants"}
                     | {"split_rate": {str(v["hold_secs"]): v["split_rate"] for v in output["variants"]}}))
