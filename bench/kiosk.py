"""The kiosk page measured in real headless Chromium against `avatar-forcing serve`.

The server runs in its own process on the product's embedded defaults (what
`make run` serves); Chromium opens its page at `/` with a fake microphone
(questions spoken by the bundled piper voice, placed on a silent track) and a
fake camera (a real face animated by our renderer, tests/browser/media.py).
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
  `?video=0` (a voice-only session): the ratio is the face's cost;
- CPU of Chromium, the server and the LLM server during each phase (% of one core);
- the page's JS heap (after a forced GC, via the DevTools protocol) at the
  start of a soak and every 30 s to its end (default 10 min), with a question
  every 30 s; written as a plot.

Prints one JSON object (last line) with the machine's load average; writes it
to bench/results/kiosk.json, the heap plot to bench/results/kiosk_heap.png and
a screenshot of the page mid-answer to docs/kiosk.png.

    .venv/bin/python bench/kiosk.py [--turns 5] [--soak-secs 600]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchkit.browser import launch_chromium, media_args
from benchkit.browser_media import speak, write_fake_camera_y4m, write_fake_mic_wav
from benchkit.kiosk_server import free_port, wait_until_healthy
from benchkit.paths import ROOT
from benchkit.stats import pct

QUESTIONS = [
    "What time do you open on Sunday?",
    "Where can I find the shoes?",
    "Do you have a cafe here?",
    "Can I return something without a receipt?",
    "Is there parking for bicycles?",
    "Where are the toilets?",
]
TURN_GAP_SECS = 24.0  # question to question: room for a long answer on a slow machine
RESULTS = ROOT / "bench" / "results"


def cpu_secs(pattern: str) -> float:
    """CPU seconds (user + system) of every process whose command line matches `pattern`."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    total = 0
    for pid in found.stdout.split():
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def product_server(port: int) -> Any:
    """`avatar-forcing serve` on embedded defaults, in its own process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    log = tempfile.NamedTemporaryFile("w", prefix="kiosk-serve-", suffix=".log", delete=False)
    process = subprocess.Popen([str(ROOT / ".venv/bin/avatar-forcing"), "serve", "--port", str(port)],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    http = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, http, log.name)
        yield http
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        log.close()


def mic_timeline(models: Any, questions: list[str], start: float = 1.5) -> list[tuple[float, bytes]]:
    """Questions spaced TURN_GAP_SECS apart on a silent track."""
    return [(start + i * TURN_GAP_SECS, speak(models, text)) for i, text in enumerate(questions)]


@contextlib.asynccontextmanager
async def kiosk_page(http: str, wav: Path, y4m: Path, query: str = "", loop: bool = False
                     ) -> AsyncIterator[Any]:
    """Chromium on the kiosk page, started (the tap done)."""
    async with launch_chromium(media_args(mic_wav=wav, camera_y4m=y4m, mic_loop=loop)) as browser:
        page = await browser.new_page()
        await page.goto(f"{http}/{query}")
        await page.click("#start")
        yield page


async def stats(page: Any) -> dict[str, Any]:
    """The page's counters plus its clock."""
    return dict(await page.evaluate("({now: performance.now(), ...window.kiosk.stats()})"))


async def conversation(http: str, wav: Path, y4m: Path, turns: int, *, video: bool,
                       screenshot: Path | None) -> dict[str, Any]:
    """`turns` questions through the page; what the page measured."""
    seconds = turns * TURN_GAP_SECS + 2
    label = "face on" if video else "voice only"
    async with kiosk_page(http, wav, y4m, "" if video else "?video=0") as page:
        first = None
        shot = False
        cpu_start = (time.monotonic(), cpu_secs("chromium"), cpu_secs("avatar-forcing serve"),
                     cpu_secs("llama_cpp.server"))
        with tqdm(total=int(seconds), desc=f"conversation ({label})", unit="s") as bar:
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                now = await stats(page)
                if first is None and now["connected"]:
                    first = now
                if (screenshot and not shot and now["state"] == "speaking" and now["captionLines"]
                        and now["captionLines"][-1]["role"] == "bot"):
                    await page.screenshot(path=str(screenshot))  # mid-answer: its caption is up
                    shot = True
                bar.update(int(elapsed) - bar.n)
                await asyncio.sleep(0.1 if screenshot and not shot else 0.5)
        last = await stats(page)
        log = await page.evaluate("window.kiosk.log")
        wall = time.monotonic() - cpu_start[0]
        cpu = {name: round(100 * (cpu_secs(pattern) - before) / wall, 1) for name, pattern, before in
               (("chromium", "chromium", cpu_start[1]), ("server", "avatar-forcing serve", cpu_start[2]),
                ("llm", "llama_cpp.server", cpu_start[3]))}
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


async def soak(http: str, wav: Path, y4m: Path, seconds: float) -> dict[str, Any]:
    """The page open for `seconds` with a question every 30 s; its heap after GC every 30 s."""
    async with kiosk_page(http, wav, y4m, loop=True) as page:
        cdp = await page.context.new_cdp_session(page)

        async def heap_mb() -> float:
            await cdp.send("HeapProfiler.collectGarbage")
            usage = await cdp.send("Runtime.getHeapUsage")
            return float(usage["usedSize"]) / 2**20

        await asyncio.sleep(5)  # connected, first frames drawn
        samples = [(0.0, await heap_mb())]
        first = await stats(page)
        start = time.monotonic()
        with tqdm(total=int(seconds), desc="soak", unit="s") as bar:
            while (elapsed := time.monotonic() - start) < seconds:
                await asyncio.sleep(min(30.0, seconds - elapsed))
                samples.append((time.monotonic() - start, await heap_mb()))
                bar.update(int(time.monotonic() - start) - bar.n)
        last = await stats(page)
        dom_nodes = await page.evaluate("document.getElementsByTagName('*').length")
    times = np.array([t for t, _ in samples])
    heap = np.array([h for _, h in samples])
    half = times >= times[-1] / 2
    slope = float(np.polyfit(times[half] / 60, heap[half], 1)[0]) if half.sum() >= 3 else None
    span = (last["now"] - first["now"]) / 1000
    return {
        "secs": round(float(times[-1]), 1),
        "heap_mb_start": round(float(heap[0]), 2),
        "heap_mb_end": round(float(heap[-1]), 2),
        "heap_mb_max": round(float(heap.max()), 2),
        "heap_mb_per_min_second_half": None if slope is None else round(slope, 3),
        "heap_samples": [[round(float(t)), round(float(h), 2)] for t, h in samples],
        "video_fps": round((last["framesDrawn"] - first["framesDrawn"]) / span, 2),
        "turns_answered": len(last["voiceToVoiceMs"]),
        "dom_nodes_end": dom_nodes,
        "frames_queued_end": last["framesQueued"],
    }


def plot_heap(samples: list[list[float]], out: Path) -> None:
    """Heap over the soak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] / 60 for s in samples]
    h = [s[1] for s in samples]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(t, h, marker="o")
    ax.set_xlabel("minutes with the page open (a question every 30 s)")
    ax.set_ylabel("JS heap after GC (MB)")
    ax.set_ylim(0, max(h) * 1.3)
    ax.grid(alpha=0.3)
    ax.set_title("Kiosk page memory in Chromium")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


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
    del models
    port = free_port()
    load_before = os.getloadavg()
    with product_server(port) as http:
        face = await conversation(http, wav, y4m, args.turns, video=True,
                                  screenshot=ROOT / "docs" / "kiosk.png")
        voice = await conversation(http, wav, y4m, args.turns, video=False, screenshot=None)
        load_after_conversations = os.getloadavg()
        soaked = await soak(http, soak_wav, y4m, args.soak_secs) if args.soak_secs > 0 else None
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
        "goals": {
            "fps_ge_24": face["video_fps"] is not None and face["video_fps"] >= 24,
            "abs_offset_le_40ms": face["av_offset_ms_p95_abs"] is not None
            and face["av_offset_ms_p95_abs"] <= 40,
            "flat_heap": None if not soaked or soaked["heap_mb_per_min_second_half"] is None
            else abs(soaked["heap_mb_per_min_second_half"]) < 0.1,
        },
    }
    if soaked:
        plot_heap(soaked["heap_samples"], RESULTS / "kiosk_heap.png")
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=5, help="questions per conversation phase")
    parser.add_argument("--soak-secs", type=float, default=600.0, help="0: no soak")
    parser.add_argument("--out", type=Path, default=RESULTS / "kiosk.json")
    arguments = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = asyncio.run(main(arguments))
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
