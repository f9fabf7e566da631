"""Figure: bench/results/kiosk.json, kiosk_heap.png and docs/kiosk.jpg: the kiosk page in real
headless Chromium against `avatar-forcing serve`.

The server runs in its own process on the product's embedded defaults (what
`make run` serves); Chromium opens its page at `/` with a fake microphone
(questions spoken by the bundled piper voice, placed on a silent track) and a
fake camera (a real face animated by our renderer, benchkit/browser_media.py).
Everything is measured by the page itself, through `window.kiosk.stats()`:

- browser_video_fps: avatar frames drawn on the canvas per second (whole run);
- browser_av_offset_ms: the page's audio clock (the pts the playback worklet
  is playing, output latency subtracted) minus the pts of the frame it drew,
  at each draw: p50 (signed) and p95 of |offset|. A frame covers 40 ms of
  audio, so 0..40 ms means the frame on screen is the one for what is heard;
- browser_voice_to_voice_ms: per turn, the reply's first audible audio (the
  playback worklet's voiced-sample counter starting to grow) minus the last
  20 ms mic chunk above speech level before it (the end of the question as the
  page captured it). Measured with the face on and, in the same run, with
  `?video=0` (a voice-only session): the ratio is the face's cost. Each phase runs
  on a server of its own after one unmeasured question of other wording
  (`--warmup-turns`; `fresh_phase` says why: on one server the second phase could
  find the first phase's prompts in the LLM's prompt cache); `--shared-server` is the
  earlier method (one server, the face first, no warm-up);
- CPU of Chromium, the server and the LLM server during each phase (% of one core);
- the page's JS heap (after a forced GC, via the DevTools protocol) at the
  start of a soak and every 30 s to its end (default 10 min), with a question
  every 30 s; written as a plot.

Prints one JSON object (last line) with the machine's load average; writes it
to bench/results/kiosk.json, the heap plot to bench/results/kiosk_heap.png and
a screenshot of the page mid-answer to docs/kiosk.jpg.

    .venv/bin/python bench/kiosk.py [--turns 5] [--soak-secs 600]
        [--llm-nice N] [--face-nice N] [--face-cpu K]   # benchkit/placement.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchkit.browser_media import speak, write_fake_camera_y4m, write_fake_mic_wav
from benchkit.clocks import tree_cpu_secs
from benchkit.kiosk_page import cpu_secs, kiosk_page, plot_heap, soak, stats
from benchkit.kiosk_server import free_port, product_server
from benchkit.paths import ROOT
from benchkit.placement import add_placement_arguments, embedded_llm_pid, placement_from
from benchkit.stats import pct

QUESTIONS = [
    "What time do you open on Sunday?",
    "Where can I find the shoes?",
    "Do you have a cafe here?",
    "Can I return something without a receipt?",
    "Is there parking for bicycles?",
    "Where are the toilets?",
]
#: asked before a phase's measured turns, unmeasured: the server's first turn warms
#: its models and the LLM's cached system prompt, as every visitor but the first finds them
WARMUP_QUESTIONS = ["Hello, can you help me?", "What kind of place is this?"]
TURN_GAP_SECS = 24.0  # question to question: room for a long answer on a slow machine
RESULTS = ROOT / "bench" / "results"




def mic_timeline(models: Any, questions: list[str],
                 start: float = 1.5) -> list[tuple[float, bytes | None]]:
    """Questions spaced TURN_GAP_SECS apart on a silent track."""
    return [(start + i * TURN_GAP_SECS, speak(models, text)) for i, text in enumerate(questions)]


async def conversation(http: str, wav: Path, y4m: Path, turns: int, *, video: bool,
                       screenshot: Path | None, server_pid: int) -> dict[str, Any]:
    """`turns` questions through the page; what the page measured, and the CPU of
    Chromium, the server with its face workers, and the LLM server."""
    seconds = turns * TURN_GAP_SECS + 2
    label = "face on" if video else "voice only"
    async with kiosk_page(http, wav, y4m, "" if video else "?video=0") as page:
        first = None
        shot = False
        llm_pid = embedded_llm_pid(server_pid)
        llm_tree = (llm_pid,) if llm_pid else ()

        def clocks() -> tuple[float, float, float, float]:
            return (time.monotonic(), cpu_secs("chromium"), tree_cpu_secs(server_pid, llm_tree),
                    tree_cpu_secs(llm_pid) if llm_pid else 0.0)

        cpu_start = clocks()
        with tqdm(total=int(seconds), desc=f"conversation ({label})", unit="s") as bar:
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                now = await stats(page)
                if first is None and now["connected"]:
                    first = now
                if (screenshot and not shot and now["state"] == "speaking" and now["captionLines"]
                        and now["captionLines"][-1]["role"] == "bot"):
                    await page.screenshot(  # mid-answer: its caption is up
                        path=str(screenshot),
                        quality=80 if screenshot.suffix == ".jpg" else None)
                    shot = True
                bar.update(int(elapsed) - bar.n)
                await asyncio.sleep(0.1 if screenshot and not shot else 0.5)
        last = await stats(page)
        log = await page.evaluate("window.kiosk.log")
        cpu_end = clocks()
        wall = cpu_end[0] - cpu_start[0]
        cpu = {name: round(100 * (end - begin) / wall, 1) for name, begin, end in
               zip(("chromium", "server_and_faces", "llm"), cpu_start[1:], cpu_end[1:], strict=True)}
    assert first is not None, "the page never connected"
    span = (last["now"] - first["now"]) / 1000
    captions = [entry["detail"] for entry in log if entry["type"] == "caption"]
    return {
        "video": video,
        "video_fps": round((last["framesDrawn"] - first["framesDrawn"]) / span, 2) if video else None,
        "av_offset_ms_p50": last["avOffsetMsP50"],
        "av_offset_ms_p95_abs": last["avOffsetMsP95"],
        "av_offset_samples": last["avOffsetSamples"],
        "voice_to_voice_ms": [round(v) for v in last["voiceToVoiceMs"]],
        # each turn split at the server's events: input (last loud mic chunk to
        # user-stopped-speaking), server (to bot-started-speaking), output (to heard)
        "turn_parts": last.get("turnParts") or [],
        "turn_parts_ms_p50": parts_p50(last.get("turnParts") or []),
        "frames": {k: last[k] for k in ("framesReceived", "framesDrawn", "framesLate",
                                        "framesSkipped", "framesDiscarded")},
        "audio": {"voiced_secs": round(last["voicedSecs"], 2), "underruns": last["underruns"],
                  "skipped_secs": round(last["skippedSecs"], 3)},
        "camera": {"sent": last["cameraSent"], "skipped": last["cameraSkipped"],
                   "kbytes_per_frame": round(last["cameraBytes"] / max(1, last["cameraSent"]) / 1024, 1)},
        "user_captions": [c["text"] for c in captions if c["role"] == "user"],
        "bot_captions": len([c for c in captions if c["role"] == "bot"]),
        "server_avatar": last["server"],
        "cpu_percent_of_one_core": cpu,
    }


def parts_p50(parts: list[dict[str, Any]]) -> dict[str, float | None]:
    """Median of each part of voice-to-voice over the turns that have it."""
    medians: dict[str, float | None] = {}
    for name in ("input", "server", "output"):
        values = [float(part[name]) for part in parts if part.get(name) is not None]
        medians[name] = round(float(np.median(values))) if values else None
    return medians


async def fresh_phase(args: argparse.Namespace, placement: Any, wav: Path, warm_wav: Path,
                      y4m: Path, *, video: bool) -> dict[str, Any]:
    """One measured conversation on a server of its own, after `--warmup-turns`
    unmeasured questions of other wording on that server.

    Why a server each: the LLM server keeps the states of earlier prompts
    (llama.cpp's prompt cache), and the second phase asked the first phase's very
    questions, in order, after its very answers (temperature 0.2): its prompts could
    be found whole in that cache, skipping the prompt evaluation a visitor's new
    question needs (its server part was ~150 ms shorter on one server than on its own). A real visitor's question
    is new; what a warm kiosk keeps for every visitor is the system prompt and its
    loaded models, which the warm-up turns give each phase alike."""
    with product_server(free_port()) as (http, pid):
        async with placement.kept(pid, embedded_llm_pid(pid)):
            if args.warmup_turns:
                await conversation(http, warm_wav, y4m, args.warmup_turns, video=video,
                                   screenshot=None, server_pid=pid)
            return await conversation(http, wav, y4m, args.turns, video=video,
                                      screenshot=ROOT / "docs" / "kiosk.jpg" if video else None,
                                      server_pid=pid)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.speech.models import SpeechModels

    models = SpeechModels.bundled()
    folder = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    questions = (QUESTIONS * 10)[: args.turns]
    wav = write_fake_mic_wav(folder / "mic.wav", mic_timeline(models, questions))
    # looped by Chromium: a question, then silence to 30 s
    soak_wav = write_fake_mic_wav(folder / "soak.wav", [(1.5, speak(models, QUESTIONS[0])),
                                                        (27.0, bytes(2 * 16000))])
    y4m = write_fake_camera_y4m(folder / "camera.y4m", seconds=4.0)
    warmup = (WARMUP_QUESTIONS * 10)[: args.warmup_turns]
    warm_wav = write_fake_mic_wav(folder / "warm.wav", mic_timeline(models, warmup))
    del models
    load_before = os.getloadavg()
    placement = placement_from(args)
    if args.shared_server:  # the method of earlier stops (see the module docstring)
        with product_server(free_port()) as (http, pid):
            async with placement.kept(pid, embedded_llm_pid(pid)):
                face = await conversation(http, wav, y4m, args.turns, video=True,
                                          screenshot=ROOT / "docs" / "kiosk.jpg", server_pid=pid)
                voice = await conversation(http, wav, y4m, args.turns, video=False,
                                           screenshot=None, server_pid=pid)
                load_after_conversations = os.getloadavg()
                soaked = (await soak(http, soak_wav, y4m, args.soak_secs)
                          if args.soak_secs > 0 else None)
    else:
        face = await fresh_phase(args, placement, wav, warm_wav, y4m, video=True)
        voice = await fresh_phase(args, placement, wav, warm_wav, y4m, video=False)
        load_after_conversations = os.getloadavg()
        soaked = None
        if args.soak_secs > 0:
            with product_server(free_port()) as (http, pid):
                async with placement.kept(pid, embedded_llm_pid(pid)):
                    soaked = await soak(http, soak_wav, y4m, args.soak_secs)
    v2v_face, v2v_voice = face["voice_to_voice_ms"], voice["voice_to_voice_ms"]
    result: dict[str, Any] = {
        "browser_video_fps": face["video_fps"],
        "browser_av_offset_ms_p50": face["av_offset_ms_p50"],
        "browser_av_offset_ms_p95_abs": face["av_offset_ms_p95_abs"],
        "browser_voice_to_voice_ms_p50": pct(v2v_face, 50),
        "browser_voice_to_voice_ms_p95": pct(v2v_face, 95),
        "browser_voice_to_voice_ms_p50_voice_only": pct(v2v_voice, 50),
        "face_over_voice_only_v2v_ratio": (round(float(np.median(v2v_face) / np.median(v2v_voice)), 2)
                                           if v2v_face and v2v_voice else None),
        "turn_parts_ms_p50_face": face["turn_parts_ms_p50"],
        "turn_parts_ms_p50_voice_only": voice["turn_parts_ms_p50"],
        "heap_mb_start": soaked["heap_mb_start"] if soaked else None,
        "heap_mb_after_soak": soaked["heap_mb_end"] if soaked else None,
        "soak_secs": soaked["secs"] if soaked else 0,
        "face": face,
        "voice_only": voice,
        "soak": soaked,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after_conversations": [round(x, 2) for x in load_after_conversations],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "placement": placement.label,
        "method": ("one server, face then voice, no warm-up" if args.shared_server else
                   f"a fresh server per phase, {args.warmup_turns} warm-up turns each"),
        "goals": {
            "fps_ge_24": face["video_fps"] is not None and face["video_fps"] >= 24,
            "abs_offset_le_40ms": face["av_offset_ms_p95_abs"] is not None
            and face["av_offset_ms_p95_abs"] <= 40,
            "flat_heap": None if not soaked or soaked["heap_mb_per_min_second_half"] is None
            else abs(soaked["heap_mb_per_min_second_half"]) < 0.1,
        },
    }
    if soaked:
        RESULTS.mkdir(parents=True, exist_ok=True)
        plot_heap(soaked["heap_samples"], RESULTS / "kiosk_heap.png")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=5, help="questions per conversation phase")
    parser.add_argument("--soak-secs", type=float, default=600.0, help="0: no soak")
    parser.add_argument("--out", type=Path, default=RESULTS / "kiosk.json")
    parser.add_argument("--warmup-turns", type=int, default=1,
                        help="unmeasured questions of other wording before each phase")
    parser.add_argument("--shared-server", action="store_true",
                        help="both phases on one server, no warm-up (the earlier method)")
    add_placement_arguments(parser)
    arguments = parser.parse_args()
    if arguments.turns < 1 or arguments.warmup_turns < 0 or arguments.soak_secs < 0:
        parser.error("--turns must be >= 1, --warmup-turns and --soak-secs >= 0")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = asyncio.run(main(arguments))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
