"""Figure: bench/results/kiosk_turns.json, the face's extra voice-to-voice time in the browser by stage.

Where the face's extra voice-to-voice time goes in the browser: one turn, stage by stage.

bench/kiosk/kiosk.py measured, in headless Chromium on the kiosk page, 2.05 s
voice-to-voice with the face against 1.43 s voice only, while over the Python
SDK the avatar adds 0.15 s (issue 9). This bench splits each browser turn into
what the page saw, on the page's own clock, so the difference can be placed:

- speech_end: the last 20 ms mic chunk above speech level the page sent (the
  same threshold as the page's own voice-to-voice; the origin, 0 ms);
- user_stopped / transcript / tts_text / bot_started: arrival of the server's
  `user-stopped-speaking`, final `user-transcription`, first `bot-tts-text`
  and `bot-started-speaking` events;
- audio_in: arrival of the reply's first non-silent audio chunk;
- heard: the playback worklet's voiced-sample counter starting to grow (what
  the page's `voiceToVoiceMs` uses), with the milliseconds of audio queued in
  the worklet when the first reply chunk arrived (`queued_ms_at_audio_in`:
  silence in front of the reply in a face session, whose audio never stops);
- CPU of Chromium, the server and the LLM between speech_end and heard, and in
  the second before speech_end (% of one core, sampled every 50 ms).

The hooks are added by the bench before the page's scripts run (a subclass of
`WebSocket` and of `AudioWorkletNode` that only listen); the page is the
product's, unchanged. Variants run in ONE run on one `avatar-forcing serve`
(product defaults), sessions alternating in rotated order, each session asking
its questions in a different rotation so the LLM's prompt cache favours none:

- face: the kiosk page as shipped (avatar video, camera sent at 10-15 fps);
- face_nocam: `?camera=0` (avatar video, no camera);
- voice: `?video=0` (voice only);
- face_base (with --base-root DIR): the kiosk page as shipped, on a second
  server whose `pipelines/` package is taken from DIR (the code before a
  change), so a change is measured against what it replaces in the same run.

Prints one JSON object (last line, with the load average) and writes it to
bench/results/kiosk_turns.json.

    flock -x /tmp/heavy.lock .venv/bin/python bench/kiosk/kiosk_turns.py [--rounds 3] [--turns 4]

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/LATENCY.md, "Figures": heard in the kiosk page, face / voice only p50 1.30 s / 1.16 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from benchkit.browser_media import speak, write_fake_camera_y4m, write_fake_mic_wav
from benchkit.kiosk.browser import launch_chromium, media_args
from benchkit.kiosk.kiosk_probe import PROBE_JS, split_turns
from benchkit.kiosk.kiosk_server import free_port, product_server
from benchkit.paths import RESULTS
from benchkit.proc_cpu import CpuSampler
from benchkit.stats import pct
from benchkit.visitor import QUESTIONS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
#: variant -> (server, page query); the "base" server runs from --base-root
VARIANTS = {"face": ("main", ""), "face_base": ("base", ""), "face_nocam": ("main", "?camera=0"),
            "voice": ("main", "?video=0")}
FIRST_QUESTION_SECS = 3.0  # the page connects and the avatar's first frames arrive first
TURN_GAP_SECS = 15.0  # question to question: a kiosk answer is 2-8 s
STAGES = ("user_stopped", "transcript", "tts_text", "bot_started", "audio_in", "heard")

# --------------------------------------------------------------------------- server




# --------------------------------------------------------------------------- one session


async def session(http: str, wav: Path, y4m: Path, query: str, seconds: float,
                  cpu: CpuSampler, label: str) -> dict[str, Any]:
    """One page on the kiosk for `seconds`; its turns and counters."""
    async with launch_chromium(media_args(mic_wav=wav, camera_y4m=y4m)) as browser:
        page = await browser.new_page()
        await page.add_init_script(PROBE_JS)
        await page.goto(f"{http}/{query}")
        await page.click("#start")
        origin = float(await page.evaluate("performance.timeOrigin"))
        skew = float(await page.evaluate("Date.now() - performance.timeOrigin - performance.now()"))
        with tqdm(total=int(seconds), desc=label, unit="s", leave=False) as bar:
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                await asyncio.sleep(1.0)
                bar.update(int(elapsed) - bar.n)
        log = await page.evaluate("window.__probe")
        stats = await page.evaluate("window.kiosk.stats()")
    turns = split_turns(log, origin, cpu)
    return {"variant": label, "turns": turns, "probe_log": log, "page_voice_to_voice_ms": stats["voiceToVoiceMs"],
            "clock_skew_ms": round(skew, 2), "underruns": stats["underruns"],
            "camera_sent": stats["cameraSent"], "frames_drawn": stats["framesDrawn"],
            "server_avatar": stats["server"]}


def summarise(sessions: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: p50 of each stage and of CPU over the turns."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        rows = [t for s in sessions if s["variant"] == variant for t in s["turns"]]
        v2v = [r["voice_to_voice_ms"] for r in rows]
        entry: dict[str, Any] = {
            "turns": len(rows),
            "voice_to_voice_ms_p50": pct(v2v, 50), "voice_to_voice_ms_p95": pct(v2v, 95),
            "stages_ms_p50": {s: pct([r["stages_ms"][s] for r in rows if s in r["stages_ms"]], 50)
                              for s in STAGES},
            "audio_in_to_heard_ms_p50": pct([r["stages_ms"]["heard"] - r["stages_ms"]["audio_in"]
                                             for r in rows if "audio_in" in r["stages_ms"]], 50),
            "queued_ms_at_audio_in_p50": pct([r["queued_ms_at_audio_in"] for r in rows
                                              if r["queued_ms_at_audio_in"] is not None], 50),
        }
        for window in ("cpu_percent_speech_end_to_heard", "cpu_percent_last_second_of_speech"):
            entry[f"{window}_p50"] = {
                g: pct([r[window][g] for r in rows if r[window].get(g) is not None], 50)
                for g in ("server", "llm", "chromium")}
        out[variant] = entry
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.speech.models import SpeechModels

    models = SpeechModels.bundled()
    folder = Path(tempfile.mkdtemp(prefix="kiosk-turns-"))
    speech = {q: speak(models, q) for q in QUESTIONS}
    del models
    y4m = write_fake_camera_y4m(folder / "camera.y4m", seconds=4.0)
    variants = [v for v in VARIANTS if v in args.variants
                and (VARIANTS[v][0] == "main" or args.base_root is not None)]
    plan = []  # (variant, session number): variants rotate, questions rotate per session
    for r in range(args.rounds):
        for k in range(len(variants)):
            plan.append(variants[(r + k) % len(variants)])
    seconds = FIRST_QUESTION_SECS + args.turns * TURN_GAP_SECS + 1.0
    load_before = os.getloadavg()
    sessions = []
    with contextlib.ExitStack() as stack:
        servers = {"main": stack.enter_context(product_server(free_port()))}
        if args.base_root is not None:
            servers["base"] = stack.enter_context(product_server(free_port(), args.base_root))
        samplers = {name: CpuSampler(pid, [p for n, (_, p) in servers.items() if n != name])
                    for name, (_, pid) in servers.items()}
        for sampler in samplers.values():
            sampler.start()
        try:
            for n, variant in enumerate(tqdm(plan, desc="sessions")):
                order = [QUESTIONS[(n * args.turns + i) % len(QUESTIONS)] for i in range(args.turns)]
                segments: list[tuple[float, bytes | None]] = [
                    (FIRST_QUESTION_SECS + i * TURN_GAP_SECS, speech[q]) for i, q in enumerate(order)]
                wav = write_fake_mic_wav(folder / f"mic{n}.wav", segments)
                server, query = VARIANTS[variant]
                result = await session(servers[server][0], wav, y4m, query, seconds,
                                       samplers[server], variant)
                result["questions"] = order
                sessions.append(result)
                tqdm.write(f"{variant}: v2v {[t['voice_to_voice_ms'] for t in result['turns']]}",
                           file=sys.stderr)
        finally:
            for sampler in samplers.values():
                sampler.stop()
    return {
        "summary": summarise(sessions),
        "sessions": sessions,
        "rounds": args.rounds, "turns_per_session": args.turns,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "label": args.label,
        "base_root": None if args.base_root is None else str(args.base_root),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="sessions per variant")
    parser.add_argument("--turns", type=int, default=4, help="questions per session")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--base-root", type=Path, default=None,
                        help="a folder with the `pipelines/` package before a change (face_base)")
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, default=RESULTS / "kiosk_turns.json")
    arguments = parser.parse_args()
    output = asyncio.run(main(arguments))
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
