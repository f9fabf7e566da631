"""Figure: bench/results/webrtc_kiosk.json and webrtc_kiosk.png: the kiosk page over
pipecat's WebRTC transport against the same page over our websocket, in one run, both
in real headless Chromium against one `avatar-forcing serve`.

Chromium opens the kiosk page at `/` (websocket) and at `/?transport=webrtc`
(SmallWebRTCTransport: mic, camera, face and voice as WebRTC tracks, events on the
data channel) with the same fake microphone (questions spoken by the bundled piper
voice) and the same fake camera (a real face animated by our renderer). Each
transport holds the same conversation; which goes first alternates by round
(`--rounds`), so neither always meets a warmer machine. The LLM answers at
temperature 0, so both transports speak the same replies and the voice-to-voice
ratio measures the transports, not the answers. `--compare-lipsync` adds a third
conversation over WebRTC with the page's lip sync off (`?lipsync=0`: the browser's
own A/V sync only), in the same run, and `--compare-audio-latency` a fourth, as the
third with the device's smallest audio output buffer (`?audiolatency=low`) instead
of the browser's usual one (pipelines/web/audio-output.js). Measured by the page:

- video_fps: images shown a second (WebRTC: frames the <video> presented,
  requestVideoFrameCallback; websocket: distinct images drawn on the canvas);
- frame_gap_ms_max: the longest wait between two of them;
- voice_to_voice_ms_p50: the reply heard (voiced audio after 300 ms of quiet, at
  the page's output) minus the last loud 20 ms of the visitor's question (the
  page's microphone), per turn; `v2v_parts_ms_p50` splits it where the server's
  events arrive (user-stopped-speaking, bot-started-speaking): input, server, output;
- av_offset_ms: p95 of |lag| over the replies, where the lag is the one that best
  correlates the mouth as shown (a box round the lips, found by our face
  landmarker on the page's own image) with the voice as played
  (benchkit/webrtc/page_lip_sync.py); the same method on both transports. The websocket
  page's own pts measure (audio clock minus the drawn frame's pts) is kept
  beside it as `av_offset_ms_pts`;
- quality_changes: the face governor's level changes during the conversation, each
  with its time from the face's first image, its level and size as the page heard
  it, and its cause from the server's log (quality_change_log), and
  quality_changes_after_30s;
- audio_output: the page's AudioContext latencies and the output's underruns as
  Chromium counts them (playbackStats: glitches a listener hears);
- cpu_per_session: the server process's CPU (% of one core) during the conversation,
  with its WebRTC datagram writer processes' (`cpu_datagram_writers`, also apart);
  cpu_face_workers: its face worker processes' (the face renders there on both
  transports; over WebRTC the server process encodes the video, over the websocket
  the face worker encodes the JPEGs).

Prints one JSON object (last line) with the load average; writes it and a plot.

    .venv/bin/python bench/webrtc/webrtc_kiosk.py [--turns 4] [--rounds 1] [--size 512] [--compare-lipsync]
        [--compare-audio-latency] [--transports webrtc]

`--transports webrtc` holds the conversation over WebRTC alone (a long one, e.g.
`--turns 14`: about 5 minutes, counting the governor's level changes; the ratios
against the websocket are then None).

Runs: ~15 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": 24.3 images/s, mouth vs voice p95 |lag| 20 ms, voice-to-voice x0.964, server CPU +8.8 points
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from avatar.procfs import command_line, cpu_seconds, descendants
from benchkit.browser_media import speak, write_fake_camera_y4m, write_fake_mic_wav
from benchkit.kiosk.kiosk_page import cpu_secs, kiosk_page, stats
from benchkit.kiosk.kiosk_server import free_port, product_server
from benchkit.live.quality_log import changes_from_server_log, changes_summary
from benchkit.paths import RESULTS
from benchkit.proc_cpu import proc_cpu
from benchkit.stats import pct
from benchkit.visitor import QUESTIONS
from benchkit.webrtc.page_lip_sync import face_png, mouth_box, page_lip_sync
from benchkit.webrtc.webrtc_codecs import codec_table
from pipelines.wire.webrtc import datagram_writer

TURN_GAP_SECS = 22.0  # question to question: room for an answer on a slow machine
FIRST_QUESTION_SECS = 8.0  # into the mic file: after either transport has connected
CONNECT_TIMEOUT_SECS = 60.0
#: the command line of the server's WebRTC datagram writer processes (their CPU)
WRITER_SCRIPT = Path(datagram_writer.__file__).name
TRANSPORTS = {"websocket": "", "webrtc": "?transport=webrtc"}
#: the page over WebRTC with its lip sync off (pipelines/web/lip-sync.js), for --compare-lipsync
UNSYNCED = {"webrtc_browser_sync": "?transport=webrtc&lipsync=0"}
#: the same with the device's smallest audio buffer, for --compare-audio-latency
#: (pipelines/web/audio-output.js: the page asks for the browser's usual one)
LOW_AUDIO = {"webrtc_browser_sync_low_audio": "?transport=webrtc&lipsync=0&audiolatency=low"}
#: what a conversation's result carries for the plot and --traces, not the JSON
TRACE_KEYS = ("trace", "receiver_samples", "page_log")
#: both transports must speak the same replies for their voice-to-voice to compare
LLM_TEMPERATURE = "0"
async def wait_for_face(page: Any) -> dict[str, Any]:
    """Stats once the session is up and the face is being shown."""
    deadline = time.monotonic() + CONNECT_TIMEOUT_SECS
    while time.monotonic() < deadline:
        now = await stats(page)
        if now["connected"] and now["framesDrawn"] > 10:
            return now
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the {await page.evaluate('window.kiosk.transport')} page never showed "
                       f"the face: {await stats(page)}")


async def conversation(http: str, server_pid: int, wav: Path, y4m: Path, transport: str,
                       seconds: float, size: int, server_log: Path) -> dict[str, Any]:
    """One conversation through the page on `transport`; what the page measured."""
    log_offset = await asyncio.to_thread(lambda: server_log.stat().st_size)
    query = {**TRANSPORTS, **UNSYNCED, **LOW_AUDIO}[transport]
    query += f"{'&' if query else '?'}size={size}"
    async with kiosk_page(http, wav, y4m, query) as page:
        first = await wait_for_face(page)
        await asyncio.sleep(0.5)
        box = mouth_box(await face_png(page))
        await page.evaluate("(box) => window.kiosk.probe(box)", box)
        started_at, server_cpu_start = time.monotonic(), _proc_cpu(server_pid)
        chromium_cpu_start = cpu_secs("chromium")
        receiver_samples: list[dict[str, Any]] = []
        face_cpu = FaceCpu(server_pid)
        writers_cpu = FaceCpu(server_pid, writers=True)
        with tqdm(total=int(seconds), desc=f"conversation over {transport}", unit="s") as bar:
            start = time.monotonic()
            while (elapsed := time.monotonic() - start) < seconds:
                bar.update(int(elapsed) - bar.n)
                await asyncio.sleep(0.5)
                face_cpu.sample()
                writers_cpu.sample()
                receiver_samples.append(await page.evaluate(
                    "(async () => ({now: performance.now(), state: window.kiosk.client.stats.state, "
                    "face: window.kiosk.client.faceMetrics || window.kiosk.client.serverMetrics || null, "
                    "receiver: "
                    "window.kiosk.client.receiveStats ? await window.kiosk.client.receiveStats()"
                    " : null}))()"))
        last = await stats(page)
        trace = await page.evaluate("window.kiosk.probeTrace()")
        log = await page.evaluate("window.kiosk.log")
        # the browser's own receive delays (WebRTC: jitter buffers per track)
        receiver = await page.evaluate(
            "window.kiosk.client.receiveStats ? window.kiosk.client.receiveStats() : null")
        face_cpu.sample()
        writers_cpu.sample()
        wall = time.monotonic() - started_at
        server_cpu = 100 * (_proc_cpu(server_pid) - server_cpu_start) / wall
        chromium_cpu = 100 * (cpu_secs("chromium") - chromium_cpu_start) / wall
        writers_percent = 100 * writers_cpu.used / wall
    span = (last["now"] - first["now"]) / 1000
    sync = page_lip_sync(trace)
    captions = [entry["detail"] for entry in log if entry["type"] == "caption"]
    # the page hears each change (its time, level, size); the server's log says why
    heard = [entry for entry in log if entry["type"] == "quality"]
    causes = await asyncio.to_thread(changes_from_server_log, server_log, log_offset)
    changes = [{"at_s": round((entry["t"] - first["now"]) / 1000, 1),
                "level": entry["detail"].get("level"), "size": entry["detail"].get("width"),
                "direction": entry["detail"].get("direction"),
                "reason": causes[k]["reason"] if k < len(causes) else None}
               for k, entry in enumerate(heard)]
    v2v = [round(v) for v in last["voiceToVoiceMs"]]
    return {
        "video_fps": round((last["framesDrawn"] - first["framesDrawn"]) / span, 2),
        "voice_to_voice_ms_p50": pct(v2v, 50),
        "voice_to_voice_ms": v2v,
        "turn_parts": last.get("turnParts") or [],
        "av_offset_ms": sync["abs_lag_ms_p95"],
        "av_lag_ms_p50": sync["lag_ms_p50"],
        "av_offset_ms_pts": last.get("avOffsetMsP95"),
        "lip_sync": sync,
        "frame_gap_ms_max": _gap_max(last, trace),
        "cpu_per_session": round(server_cpu + writers_percent, 1),
        "cpu_datagram_writers": round(writers_percent, 1),
        "cpu_face_workers": round(100 * face_cpu.used / wall, 1),
        "cpu_chromium": round(chromium_cpu, 1),
        "mouth_box": {k: round(v, 3) for k, v in box.items()},
        "user_captions": [c["text"] for c in captions if c["role"] == "user"],
        "bot_captions": len([c for c in captions if c["role"] == "bot"]),
        "receiver": receiver,
        "audio_jitter_buffer_ms": _reply_jitter_buffer_ms(receiver_samples),
        "playback": last.get("playback"),
        "lip_sync_follower": last.get("lipSync"),
        "audio_output": last.get("audioOutput"),
        "errors": last.get("errors"),
        "face_metrics": last.get("faceMetrics"),
        **changes_summary(changes),
        "reconnects": last.get("reconnects"),
        "trace": trace,
        "receiver_samples": receiver_samples,
        "page_log": log,
    }


def _reply_jitter_buffer_ms(samples: list[dict[str, Any]]) -> float | None:
    """The browser's audio jitter-buffer delay while the avatar speaks: the median
    over the 0.5 s intervals that began and ended in the page's `speaking` state of
    jitterBufferDelay / jitterBufferEmittedCount over the interval (WebRTC only)."""
    delays = []
    for before, after in zip(samples, samples[1:], strict=False):
        if not (before["receiver"] and after["receiver"] and "audio" in after["receiver"]):
            continue
        if before["state"] != "speaking" or after["state"] != "speaking":
            continue
        then, now = before["receiver"]["audio"], after["receiver"]["audio"]
        emitted = now["jitterBufferEmittedCount"] - then["jitterBufferEmittedCount"]
        if emitted > 0:
            delays.append(1000 * (now["jitterBufferDelay"] - then["jitterBufferDelay"]) / emitted)
    return round(float(np.median(delays)), 1) if delays else None


class FaceCpu:
    """CPU seconds used by the server's face workers (its descendants other than the
    LLM server and the datagram writers), or with `writers` its WebRTC datagram
    writers alone, counted as growth since each was first seen: they come and go."""

    def __init__(self, server_pid: int, writers: bool = False) -> None:
        self.server_pid = server_pid
        self.writers = writers
        self.used = 0.0
        self._seen: dict[int, float] = {}
        self.sample()

    def sample(self) -> None:
        for pid in descendants(self.server_pid):
            command = " ".join(command_line(pid))
            if not command:
                continue  # gone meanwhile
            if "llama_cpp" in command or (WRITER_SCRIPT in command) != self.writers:
                continue
            value = proc_cpu([pid])
            before = self._seen.get(pid)
            if before is not None and value >= before:
                self.used += value - before
            self._seen[pid] = value


def _proc_cpu(pid: int) -> float:
    """CPU seconds of `pid` and its threads (its children, the LLM server, are apart)."""
    return cpu_seconds(pid) or 0.0


def _gap_max(last: dict[str, Any], trace: dict[str, Any]) -> float | None:
    """The longest wait between two images shown (the WebRTC page times every presented
    frame; on the websocket page, the face watcher sees every new image)."""
    if last.get("frameGapMsMax") is not None:
        return round(float(last["frameGapMsMax"]), 1)
    times = [sample[0] for sample in trace.get("video") or []]
    return round(float(np.max(np.diff(times))), 1) if len(times) > 1 else None


def plot(result: dict[str, Any], out: Path) -> None:
    """The voice and the mouth of one reply on each transport, and the figures."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in TRANSPORTS if name in result]
    figure, axes = plt.subplots(len(names), 1, figsize=(10, 3.25 * len(names)), squeeze=False)
    for axis, name in zip(axes[:, 0], names, strict=True):
        run = result[name]
        audio = np.asarray(run["trace"]["audio"] or [[0, 0]], float)
        video = np.asarray(run["trace"]["video"] or [[0, 0, 0]], float)
        per_reply = run["lip_sync"]["per_reply"]
        t0 = audio[np.argmax(audio[:, 1] > 0.01), 0] if len(audio) else 0
        window = (audio[:, 0] >= t0 - 500) & (audio[:, 0] <= t0 + 5000)
        axis.plot((audio[window, 0] - t0) / 1000, audio[window, 1] / max(1e-6, audio[window, 1].max()),
                  color="tab:blue", lw=0.8, label="voice heard (RMS)")
        shown = (video[:, 0] >= t0 - 500) & (video[:, 0] <= t0 + 5000)
        axis.step((video[shown, 0] - t0) / 1000, video[shown, 1] / max(1e-6, video[shown, 1].max()),
                  where="post", color="tab:red", lw=1.0, label="mouth shown (opening)")
        axis.set_title(f"{name}: {run['video_fps']} images/s, v2v p50 {run['voice_to_voice_ms_p50']} ms, "
                       f"lag p50 {run['av_lag_ms_p50']} ms over {len(per_reply)} replies", fontsize=10)
        axis.set_xlabel("s from the first reply's onset")
        axis.legend(loc="upper right", fontsize=8)
    figure.suptitle(f"kiosk page in Chromium: WebRTC / websocket v2v = "
                    f"{result['webrtc_over_websocket_v2v']}")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


def _merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one transport as one: medians of rates, all turns and replies pooled."""
    v2v = [v for run in runs for v in run["voice_to_voice_ms"]]
    parts = [part for run in runs for part in run["turn_parts"]]
    lags = [r for run in runs for r in run["lip_sync"]["per_reply"] if r["r"] >= 0.3]
    merged = dict(runs[0])
    merged.update({
        "video_fps": round(float(np.median([r["video_fps"] for r in runs])), 2),
        "voice_to_voice_ms": v2v,
        "voice_to_voice_ms_p50": pct(v2v, 50),
        "turn_parts": parts,
        "v2v_parts_ms_p50": {name: pct([p[name] for p in parts if p[name] is not None], 50)
                             for name in ("input", "server", "output")},
        "av_offset_ms": pct([abs(r["lag_ms"]) for r in lags], 95),
        "av_lag_ms_p50": pct([r["lag_ms"] for r in lags], 50),
        "frame_gap_ms_max": max((r["frame_gap_ms_max"] or 0) for r in runs),
        "cpu_per_session": round(float(np.median([r["cpu_per_session"] for r in runs])), 1),
        "cpu_face_workers": round(float(np.median([r["cpu_face_workers"] for r in runs])), 1),
        "audio_jitter_buffer_ms": (round(float(np.median(jitter)), 1)
                                   if (jitter := [r["audio_jitter_buffer_ms"] for r in runs
                                                  if r["audio_jitter_buffer_ms"] is not None])
                                   else None),
        "rounds": len(runs),
    })
    return merged


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.speech.models import SpeechModels

    models = SpeechModels.bundled()
    folder = Path(tempfile.mkdtemp(prefix="webrtc-kiosk-"))
    questions = (QUESTIONS * 10)[: args.turns]
    wav = write_fake_mic_wav(folder / "mic.wav", [
        (FIRST_QUESTION_SECS + i * TURN_GAP_SECS, speak(models, text))
        for i, text in enumerate(questions)])
    y4m = write_fake_camera_y4m(folder / "camera.y4m", seconds=4.0)
    del models
    seconds = FIRST_QUESTION_SECS + args.turns * TURN_GAP_SECS - 4
    load_before = os.getloadavg()
    names = [*args.transports, *(UNSYNCED if args.compare_lipsync else {}),
             *(LOW_AUDIO if args.compare_audio_latency else {})]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    os.environ["AVATAR_FORCING_LLM_TEMPERATURE"] = LLM_TEMPERATURE
    server_log = folder / "serve.log"
    with product_server(free_port(), log_path=server_log) as (http, pid):
        for round_index in range(args.rounds):
            order = names if round_index % 2 == 0 else list(reversed(names))
            for name in order:
                runs[name].append(await conversation(http, pid, wav, y4m, name, seconds,
                                                     args.size, server_log))
    merged = {name: _merge(done) for name, done in runs.items()}
    websocket, webrtc = merged.get("websocket"), merged.get("webrtc")
    ratio, paired = None, None
    if websocket is not None and webrtc is not None:
        if webrtc["voice_to_voice_ms_p50"] and websocket["voice_to_voice_ms_p50"]:
            ratio = round(webrtc["voice_to_voice_ms_p50"] / websocket["voice_to_voice_ms_p50"], 3)
        # the same turn on both transports (same question, same answer at temperature 0)
        if len(webrtc["voice_to_voice_ms"]) == len(websocket["voice_to_voice_ms"]):
            paired = pct([a - b for a, b in zip(webrtc["voice_to_voice_ms"],
                                                websocket["voice_to_voice_ms"], strict=True)], 50)
    result: dict[str, Any] = {
        **{name: merged[name] for name in TRANSPORTS if name in merged},
        "webrtc_over_websocket_v2v": ratio,
        "webrtc_minus_websocket_v2v_ms_paired_p50": paired,
        **{name: merged[name] for name in [*UNSYNCED, *LOW_AUDIO] if name in merged},
        "llm_temperature": float(LLM_TEMPERATURE),
        "size_asked": args.size,
        "turns": args.turns,
        "rounds": args.rounds,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "load_avg_conversations_end": [round(x, 2) for x in os.getloadavg()],
        "goals": {
            "fps_ge_24": {name: merged[name]["video_fps"] >= 24
                          for name in TRANSPORTS if name in merged},
            "av_within_40ms": {name: run["av_offset_ms"] is not None and run["av_offset_ms"] <= 40
                               for name, run in merged.items()},
            "v2v_ratio_le_1_05": ratio is not None and ratio <= 1.05,
            "cpu_within_10_points": (webrtc["cpu_per_session"] <= websocket["cpu_per_session"] + 10
                                     if websocket is not None and webrtc is not None else None),
        },
    }
    if args.codecs:  # after the conversations: the encoders measured on a quiet machine
        result["encode_ms_per_frame"] = codec_table(args.codec_frames)
    plot(result, args.out.with_suffix(".png"))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=4, help="questions per conversation")
    parser.add_argument("--rounds", type=int, default=1,
                        help="conversations per transport (the order alternates by round)")
    parser.add_argument("--size", type=int, default=512,
                        help="the face's size the page asks for (the server may step it down)")
    parser.add_argument("--transports", nargs="+", choices=list(TRANSPORTS),
                        default=list(TRANSPORTS), help="the transports to hold it on (both)")
    parser.add_argument("--compare-lipsync", action="store_true",
                        help="also hold the conversation over WebRTC with the page's lip sync off")
    parser.add_argument("--compare-audio-latency", action="store_true",
                        help="also hold the lip-sync-off conversation with the device's smallest "
                             "audio buffer (?audiolatency=low) instead of the browser's usual one")
    parser.add_argument("--codecs", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure each WebRTC codec's encode time and bitrate at 256 "
                             "and 512 px (benchkit/webrtc/webrtc_codecs.py), after the conversations")
    parser.add_argument("--codec-frames", type=int, default=100)
    parser.add_argument("--out", type=Path, default=RESULTS / "webrtc_kiosk.json")
    parser.add_argument("--traces", type=Path, default=None,
                        help="a folder for each conversation's raw traces (the voice heard, the "
                             "mouth shown, the receiver's stats every 0.5 s, the page's log), "
                             "as NAME.json.gz, for a look at one reply")
    arguments = parser.parse_args()
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = asyncio.run(main(arguments))
    for name in [*TRANSPORTS, *UNSYNCED, *LOW_AUDIO]:  # the traces are for the plot; the JSON keeps figures
        if name in output:
            traces = {key: output[name].pop(key, None) for key in TRACE_KEYS}
            if arguments.traces:
                arguments.traces.mkdir(parents=True, exist_ok=True)
                with gzip.open(arguments.traces / f"{name}.json.gz", "wt") as file:
                    json.dump(traces, file)
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
