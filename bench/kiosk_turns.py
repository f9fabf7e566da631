"""Where the face's extra voice-to-voice time goes in the browser: one turn, stage by stage.

bench/kiosk.py measured, in headless Chromium on the kiosk page, 2.05 s
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

    flock -x /tmp/heavy.lock .venv/bin/python bench/kiosk_turns.py [--rounds 3] [--turns 4]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tqdm import tqdm  # noqa: E402

from bench.kiosk import free_port, wait_until_healthy  # noqa: E402
from bench.voice_latency import QUESTIONS  # noqa: E402
from tests.browser.chromium import launch_chromium, media_args  # noqa: E402
from tests.browser.media import speak, write_fake_camera_y4m, write_fake_mic_wav  # noqa: E402

RESULTS = ROOT / "bench" / "results"
#: variant -> (server, page query); the "base" server runs from --base-root
VARIANTS = {"face": ("main", ""), "face_base": ("base", ""), "face_nocam": ("main", "?camera=0"),
            "voice": ("main", "?video=0")}
FIRST_QUESTION_SECS = 3.0  # the page connects and the avatar's first frames arrive first
TURN_GAP_SECS = 15.0  # question to question: a kiosk answer is 2-8 s
SAMPLE_SECS = 0.05
STAGES = ("user_stopped", "transcript", "tts_text", "bot_started", "audio_in", "heard")

#: Listens to the page's socket and playback worklet (added before the page's scripts).
PROBE_JS = r"""
(() => {
  const log = [];
  window.__probe = log;
  const now = () => performance.now();
  let lastReport = null, lastVoicedAt = -Infinity, lastVoicedIn = -Infinity;
  let loud = false, lastLoudSend = -Infinity;
  const EVENTS = new Set(["user-stopped-speaking", "user-transcription", "bot-started-speaking",
                          "bot-tts-text", "bot-interrupted"]);
  const NativeSocket = window.WebSocket;
  class ProbeSocket extends NativeSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const t = now();
        if (typeof event.data === "string") {
          let message;
          try { message = JSON.parse(event.data); } catch { return; }
          if (EVENTS.has(message.type)) log.push({ t, type: message.type, final: message.final !== false });
          return;
        }
        const data = event.data;
        if (!(data instanceof ArrayBuffer) || data.byteLength <= 12 || new DataView(data).getUint8(0) !== 1) return;
        const samples = new Int16Array(data, 12, (data.byteLength - 12) >> 1);
        let voiced = false;
        for (let i = 0; i < samples.length; i++) if (samples[i] > 4 || samples[i] < -4) { voiced = true; break; }
        if (!voiced) return;
        if (t - lastVoicedIn > 300) {
          log.push({ t, type: "audio-in", queuedMs: lastReport ? lastReport.bufferedMs : null,
                     playing: lastReport ? lastReport.playing : null });
        }
        lastVoicedIn = t;
      });
    }
    send(data) {
      if (data instanceof ArrayBuffer && data.byteLength > 12 && new DataView(data).getUint8(0) === 1) {
        const samples = new Int16Array(data, 12, (data.byteLength - 12) >> 1);
        let sum = 0;
        for (let i = 0; i < samples.length; i++) sum += samples[i] * samples[i];
        const level = Math.sqrt(sum / Math.max(1, samples.length)) / 32768;
        if (level > 0.02) { loud = true; lastLoudSend = now(); }  // as mic.js: lastLoudAt
        else if (loud) { loud = false; log.push({ t: lastLoudSend, type: "speech-end" }); }
      }
      return super.send(data);
    }
  }
  window.WebSocket = ProbeSocket;
  const NativeNode = window.AudioWorkletNode;
  window.AudioWorkletNode = class extends NativeNode {
    constructor(context, name, options) {
      super(context, name, options);
      if (name !== "playback-processor") return;
      this.port.addEventListener("message", (event) => {
        const report = event.data;
        if (lastReport && report.voiced > lastReport.voiced) {
          const t = now();
          if (t - lastVoicedAt > 300) log.push({ t, type: "heard", queuedMs: report.bufferedMs });
          lastVoicedAt = t;
        }
        lastReport = report;
      });
    }
  };
})();
"""


# --------------------------------------------------------------------------- CPU


def _children(pid: int) -> list[int]:
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (not `pid` itself)."""
    out, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def proc_cpu(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` (gone ones count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Cumulative CPU seconds of process groups every 50 ms, on the wall clock.

    Groups: the server process, its LLM child, and Chromium (every process this
    bench started other than the server). Chromium's processes change as pages
    open, so the groups are re-read every second.
    """

    def __init__(self, server_pid: int, other_servers: list[int]) -> None:
        self.server_pid = server_pid
        self.other_servers = other_servers
        self.times: list[float] = []
        self.values: dict[str, list[float]] = {"server": [], "llm": [], "chromium": []}
        self._base: dict[str, float] = {"chromium": 0.0}
        self._seen_chromium: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _groups(self) -> dict[str, list[int]]:
        server_tree = {self.server_pid, *descendants(self.server_pid)}
        for pid in self.other_servers:
            server_tree |= {pid, *descendants(pid)}
        mine = [p for p in descendants(os.getpid()) if p not in server_tree]
        llm = [p for p in descendants(self.server_pid)
               if "llama_cpp" in Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        return {"server": [self.server_pid], "llm": llm, "chromium": mine}

    def _run(self) -> None:
        groups, refreshed = self._groups(), time.monotonic()
        while not self._stop.wait(SAMPLE_SECS):
            if time.monotonic() - refreshed > 1.0:
                with contextlib.suppress(OSError):
                    groups, refreshed = self._groups(), time.monotonic()
            self.times.append(time.time())
            self.values["server"].append(proc_cpu(groups["server"]))
            self.values["llm"].append(proc_cpu(groups["llm"]))
            # Chromium processes come and go with pages: count each one's growth only
            total = 0.0
            for pid in groups["chromium"]:
                value = proc_cpu([pid])
                previous = self._seen_chromium.get(pid)
                if previous is not None and value >= previous:
                    self._base["chromium"] += value - previous
                self._seen_chromium[pid] = value
            total = self._base["chromium"]
            self.values["chromium"].append(total)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def percent(self, start: float, end: float) -> dict[str, float | None]:
        """% of one core each group used between two wall-clock times."""
        out: dict[str, float | None] = {}
        if end - start < 0.1 or not self.times:
            return {name: None for name in self.values}
        for name, values in self.values.items():
            used = np.interp(end, self.times, values) - np.interp(start, self.times, values)
            out[name] = round(100.0 * float(used) / (end - start), 1)
        return out


# --------------------------------------------------------------------------- server


@contextlib.contextmanager
def product_server(port: int, root: Path = ROOT) -> Any:
    """`avatar-forcing serve` on its defaults in its own process: (http, pid).

    `python -m` puts `root` first on sys.path, so its `pipelines/` package (and
    the page it serves) is the one run; the rest comes from this checkout.
    """
    log = tempfile.NamedTemporaryFile("w", prefix="kiosk-turns-serve-", suffix=".log", delete=False)
    process = subprocess.Popen([str(ROOT / ".venv/bin/python"), "-m", "pipelines.cli", "serve",
                                "--port", str(port)],
                               cwd=root, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                               stdout=log, stderr=subprocess.STDOUT)
    http = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, http, log.name)
        yield http, process.pid
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        log.close()


# --------------------------------------------------------------------------- one session


def split_turns(log: list[dict[str, Any]], origin_epoch_ms: float,
                cpu: CpuSampler) -> list[dict[str, Any]]:
    """The probe's log -> one row per reply heard: stage times after the end of speech."""
    ends = sorted(entry["t"] for entry in log if entry["type"] == "speech-end")
    rows: list[dict[str, Any]] = []
    heard = [entry for entry in log if entry["type"] == "heard"]
    for onset in heard:
        i = bisect.bisect_left(ends, onset["t"]) - 1
        if i < 0 or onset["t"] - ends[i] > 10_000:
            continue
        end = ends[i]
        if rows and rows[-1]["_end"] == end:
            continue  # a second onset in one reply (a pause between sentences)
        row: dict[str, Any] = {"_end": end}

        def first(kind: str, final_only: bool = False, _end: float = end,
                  _onset: float = onset["t"]) -> dict[str, Any] | None:
            return next((e for e in log if e["type"] == kind and _end < e["t"] <= _onset + 1
                         and (e.get("final", True) or not final_only)), None)

        marks = {"user_stopped": first("user-stopped-speaking"),
                 "transcript": first("user-transcription", final_only=True),
                 "tts_text": first("bot-tts-text"), "bot_started": first("bot-started-speaking"),
                 "audio_in": first("audio-in"), "heard": onset}
        row["stages_ms"] = {k: round(v["t"] - end, 1) for k, v in marks.items() if v is not None}
        audio_in = marks["audio_in"]
        row["queued_ms_at_audio_in"] = (None if audio_in is None or audio_in["queuedMs"] is None
                                        else round(audio_in["queuedMs"], 1))
        row["voice_to_voice_ms"] = row["stages_ms"]["heard"]
        start_epoch = (origin_epoch_ms + end) / 1000
        end_epoch = (origin_epoch_ms + onset["t"]) / 1000
        row["cpu_percent_speech_end_to_heard"] = cpu.percent(start_epoch, end_epoch)
        row["cpu_percent_last_second_of_speech"] = cpu.percent(start_epoch - 1.0, start_epoch)
        rows.append(row)
    for row in rows:
        del row["_end"]
    return rows


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


def pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


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
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output))
