"""Figure: bench/results/presence.json and presence.png: the kiosk attendant (issue 55)
on real footage, over the Python SDK against `avatar-forcing serve`.

The server runs in its own process on the product's defaults (benchkit/kiosk/kiosk_server.py;
`--away-secs` sets `[kiosk] away_secs` through its environment variable). Each scene
of benchkit/kiosk/presence_scenes.py (a REAL recorded face keyed into a room: empty,
walk-up, passers-by, silent visitor, turn-away) is played on a fresh presence
session (`hello.presence`): its frames as camera JPEGs at 10 a second in real time,
a live 16 kHz microphone (silence, and the visitor's words, spoken by the bundled
piper voice, where the scene has them). Read from what the session sends back
(`presence`, `visitor-arrived`, `visitor-left`, bot audio, avatar frames), on the
scene's clock (its first frame sent = 0):

- greeting_latency_ms p50/p95: the scene's face near (>= 18 % of the frame) and
  frontal -> the greeting's first audible audio (walk-up, `--walk-ups` times, each
  on a fresh session); split into the tracker's wait (near -> visitor-arrived) and
  the greeting's (visitor-arrived -> first audio);
- false_engagements_per_10min: visitor-arrived on the empty and passer-by footage,
  per 10 minutes of it;
- ended_on_brief_turn_away: visitor-left during the turn-away visit (the 5 s with
  the back of the head turned to the kiosk included);
- silent_visitor_ended_early: visitor-left while the silent visitor stood there;
- walk_away_end_s: the last face (or the visitor's last word, whichever is later)
  -> visitor-left, with `away_secs` (the welcome's) beside it;
- empty_kiosk_cpu_cores: the server process and its face workers (the LLM server
  apart, `empty_kiosk_llm_cpu_cores`) over 60 s of the empty room once the session
  has settled in attract mode, in cores; the same for a session without presence
  (`abandoned_session_cpu_cores`, today's cost of a session nobody ended), in the
  same run;
- arrival_first_full_image_ms: visitor-arrived -> the first avatar frame at the
  size the client asked for (negative: the full size was back before the arrival);
- the first words heard: each walk-up's question as the server transcribed it
  (`first_question_wer`), and a visitor who asks while still across the room, the
  server's state still "away", so a client holding its quiet mic back must send the
  words' start it held (`speak_first_question`); the greeting as the server confirmed
  it sent, whole and not interrupted (`greetings_heard_whole`);
- with `--compare-cuts`, the empty room's CPU before the empty-hall cuts in the same
  run (`empty_kiosk_cpu_cores_before_cuts`: a server with `[kiosk] quiet_when_away`
  off and the SDK's mic gate off, measured first) and the ratio.
- with `--against REV`, the empty room's CPU on REV's server (a git worktree of it,
  benchkit/revision_tree.py; the same client), measured before this tree's, same
  run (`empty_kiosk_cpu_cores_against`, and the ratio); with `--variant KEY=VALUE`
  (repeatable), the empty room on this tree's server with that one setting in its
  environment (e.g. `AVATAR_FORCING_KIOSK_ATTRACT_DRAWN_FPS=5`), same run;
- what the empty room's session received: audio and video messages a second
  (`empty_kiosk_wire`).

Also a plot of one walk-up: the face's size as the landmarker reads it (the same
frames, analysed here with the server's camera path), the presence states the
server reported, the greeting's first audio.

Prints one JSON object (last line) with the load average at start and end.

    .venv/bin/python bench/kiosk/presence.py [--walk-ups 5] [--away-secs S] [--tag NAME] [--quick]
        [--compare-cuts] [--against REV] [--variant KEY=VALUE] [--only-empty]
        [--skip-abandoned]
    .venv/bin/python bench/kiosk/presence.py --check-scenes [--sheets DIR]   # no server:
        # each scene's ground truth against the landmarker, and contact sheets

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": an empty kiosk's CPU 0.065 / 0.069 cores in two runs; greeting p95 317 ms, heard whole 3 of 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchkit.answers.spoken_questions import normalised_words, word_errors
from benchkit.clocks import cpu_secs, tree_cpu_secs
from benchkit.kiosk import presence_scenes as scenes
from benchkit.kiosk.kiosk_server import free_port, product_server
from benchkit.kiosk.presence_replay import Measured, measure, speech_secs
from benchkit.live.live_client import Mic
from benchkit.live.placement import embedded_llm_pid
from benchkit.paths import RESULTS
from benchkit.revision_tree import baseline_tree
from benchkit.stats import pct

#: the avatar size asked for: the "full image" of arrival_first_full_image_ms
FULL_SIZE = 512
#: the empty room: let the session settle into attract mode, then measure CPU this long
SETTLE_SECS, CPU_SECS = 15.0, 60.0
#: the speak-first visitor's question starts this long before they are near (s)
SPEAK_FIRST_LEAD = 3.0


# --------------------------------------------------------------------------- one session


@dataclass
class SessionLog:
    """What one presence session received, on the scene's clock (s since frame 0)."""

    scene: str
    start: float = 0.0  # monotonic time of frame 0
    events: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    loud_audio: list[float] = field(default_factory=list)  # first arrival of each loud chunk
    frames: list[tuple[float, int]] = field(default_factory=list)  # (at, width)
    welcome: dict[str, Any] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    speech_end: float | None = None
    mic: dict[str, Any] = field(default_factory=dict)  # chunks captured, sent, gate openings
    audio: list[tuple[float, float]] = field(default_factory=list)  # (at, ms) each message

    def restart(self, start: float) -> None:
        """Put the scene's clock's 0 at `start` (what came before gets negative times)."""
        shift = self.start - start
        self.events = [(at + shift, kind, data) for at, kind, data in self.events]
        self.loud_audio = [at + shift for at in self.loud_audio]
        self.frames = [(at + shift, width) for at, width in self.frames]
        self.audio = [(at + shift, ms) for at, ms in self.audio]
        self.start = start

    def times(self, kind: str) -> list[float]:
        return [at for at, event, _ in self.events if event == kind]

    def states(self) -> list[tuple[float, str]]:
        return [(at, data["state"]) for at, event, data in self.events if event == "presence"]


def jpeg_width(data: bytes) -> int:
    """Width of a baseline or progressive JPEG from its SOF header (0 if none found)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xC0, 0xC1, 0xC2):
            return int(struct.unpack(">H", data[i + 7:i + 9])[0])
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        i += 2 + int(struct.unpack(">H", data[i + 2:i + 4])[0])
    return 0


async def play_scene(url: str, name: str, jpegs: list[bytes], speech: list[tuple[float, bytes]],
                     seconds: float, *, presence: bool = True, server_pid: int | None = None,
                     llm_pid: int | None = None, mic_gate: bool = True,
                     cpu_window: tuple[float, float] | None = None) -> SessionLog:
    """One fresh session: the scene's camera at 10 fps and a live mic (speech at its
    times: (start s, 16 kHz PCM)), `seconds` long; CPU of the server over `cpu_window`.
    `mic_gate`: the SDK holds the quiet mic back while nobody is there, where the
    server offers it (False: every 20 ms chunk is sent, as before the gate)."""
    from pydantic import BaseModel

    from sdk.connection import VoiceConnection
    from sdk.items import BotAudio, BotVideo, Closed

    log = SessionLog(name, start=time.monotonic())  # moved to frame 0 below
    client = await VoiceConnection.connect(url, client_name=f"bench-presence-{name}",
                                           busy_retry_secs=60.0,
                                           video_out={"size": FULL_SIZE},
                                           video_in="camera", presence=presence,
                                           mic_gate=mic_gate)
    log.welcome = {"video_out": client.video_out, "presence": client.welcome.presence}
    mic = Mic(client)

    async def receive() -> None:
        async for item in client.receive():
            at = getattr(item, "received_at", time.monotonic()) - log.start
            if isinstance(item, BotAudio):
                log.audio.append((at, len(item.pcm) / 2 / item.sample_rate * 1000))
                if item.pcm.strip(b"\x00"):
                    log.loud_audio.append(at)
            elif isinstance(item, BotVideo):
                log.frames.append((at, jpeg_width(item.jpeg)))
            elif isinstance(item, Closed):
                return
            elif isinstance(item, BaseModel):
                kind = getattr(item, "type", "")
                if kind in ("presence", "visitor-arrived", "visitor-left", "video-quality",
                            "bot-started-speaking", "bot-stopped-speaking",
                            "bot-interrupted", "bot-output", "user-transcription",
                            "error"):
                    log.events.append((at, kind, item.model_dump()))

    async def say(start: float, pcm: bytes) -> None:
        # speak() leads with 0.3 s of silence: the voice starts at `start`
        await asyncio.sleep(max(0.0, log.start + start - 0.3 - time.monotonic()))
        await mic.say(pcm)
        log.speech_end = max(log.speech_end or 0.0, time.monotonic() - log.start)

    async def measure_cpu(window: tuple[float, float]) -> None:
        assert server_pid is not None
        skip = (llm_pid,) if llm_pid else ()
        await asyncio.sleep(max(0.0, log.start + window[0] - time.monotonic()))
        tree0, own0, llm0 = tree_cpu_secs(server_pid, skip), cpu_secs(server_pid), _llm_cpu(llm_pid)
        wall0 = time.monotonic()
        await asyncio.sleep(max(0.0, log.start + window[1] - time.monotonic()))
        wall = time.monotonic() - wall0
        tree, own = tree_cpu_secs(server_pid, skip) - tree0, cpu_secs(server_pid) - own0
        log.cpu = {"server_and_workers_cores": round(tree / wall, 3),
                   "server_process_cores": round(own / wall, 3),
                   "face_workers_cores": round((tree - own) / wall, 3),
                   "llm_cores": round((_llm_cpu(llm_pid) - llm0) / wall, 3),
                   "secs": round(wall, 1), "from_s": window[0]}

    tasks = [asyncio.create_task(mic.run()), asyncio.create_task(receive())]
    try:
        await asyncio.sleep(1.0)  # the session is up and the mic flowing
        log.restart(time.monotonic())
        tasks += [asyncio.create_task(say(start, pcm)) for start, pcm in speech]
        if cpu_window is not None:
            tasks.append(asyncio.create_task(measure_cpu(cpu_window)))
        for index, jpeg in enumerate(jpegs):
            await asyncio.sleep(max(0.0, log.start + index / scenes.FPS - time.monotonic()))
            await client.send_camera_jpeg(jpeg)
        await asyncio.sleep(max(0.0, log.start + seconds - time.monotonic()))
        for task in tasks[2:]:
            await task
    finally:
        gate = client.mic_gate
        log.mic = {"chunks": len(mic.sent_at),
                   "sent": gate.sent if gate is not None else len(mic.sent_at),
                   "gate_openings": gate.openings if gate is not None else None}
        for task in tasks:
            task.cancel()
        await client.close()
        for task in tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
    await asyncio.sleep(2.0)  # the server frees the slot
    return log


def _llm_cpu(pid: int | None) -> float:
    return tree_cpu_secs(pid) if pid else 0.0


def scene_jpegs(scene: scenes.Scene) -> list[bytes]:
    """The scene's frames as the SDK sends a camera (320 px JPEGs), rendered ahead."""
    from sdk.images import encode_camera_jpeg

    return [encode_camera_jpeg(rgb) for _, rgb in scene.frames(scenes.FPS)]


# --------------------------------------------------------------------------- figures


def greeting(log: SessionLog, truth: scenes.SceneTruth) -> dict[str, float | None]:
    """Near and frontal -> visitor-arrived -> the greeting's first audio (ms)."""
    arrived = log.times("visitor-arrived")
    near = truth.near_frontal_at
    if not arrived or near is None:
        return {"latency_ms": None, "arrived_after_near_ms": None, "audio_after_arrived_ms": None}
    audio = next((at for at in log.loud_audio if at >= arrived[0] - 0.05), None)
    return {"latency_ms": None if audio is None else round(1000 * (audio - near)),
            "arrived_after_near_ms": round(1000 * (arrived[0] - near)),
            "audio_after_arrived_ms": None if audio is None else round(1000 * (audio - arrived[0]))}


def first_full_image_ms(log: SessionLog, full: int = FULL_SIZE) -> float | None:
    """visitor-arrived -> the first frame of the full-size run it falls in (ms)."""
    arrived = log.times("visitor-arrived")
    if not arrived or not log.frames:
        return None
    at = arrived[0]
    before = [i for i, (t, _) in enumerate(log.frames) if t <= at]
    i = before[-1] + 1 if before else 0
    if before and log.frames[before[-1]][1] == full:  # full already: when did it start?
        i = before[-1]
        while i > 0 and log.frames[i - 1][1] == full:
            i -= 1
        return round(1000 * (log.frames[i][0] - at))
    for t, width in log.frames[i:]:
        if width == full:
            return round(1000 * (t - at))
    return None


def walk_away(log: SessionLog, truth: scenes.SceneTruth) -> float | None:
    """The last face (or word) -> visitor-left (s)."""
    left = log.times("visitor-left")
    if not left or truth.last_face_at is None:
        return None
    last = max(truth.last_face_at, log.speech_end or 0.0)
    after = [t for t in left if t > last]
    return round(after[0] - last, 2) if after else None


def plot_walk_up(log: SessionLog, scene: scenes.Scene, path: Path) -> None:
    """The face's measured size over the walk-up, the server's presence states shaded,
    the greeting's first audio marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    truth = scene.truth()
    rows = list(measure(scene.frames(scenes.FPS)))
    fig, ax = plt.subplots(figsize=(10, 4))
    colours = {"away": "#eeeeee", "approaching": "#fde7b0", "engaged": "#c9ecc4",
               "leaving": "#f7c6c6"}
    states = [(0.0, "away"), *log.states()]
    for (start, state), (end, _) in zip(states, [*states[1:], (scene.seconds, "")],
                                        strict=True):
        ax.axvspan(start, end, color=colours.get(state, "white"), lw=0)
    for state, colour in colours.items():
        ax.plot([], [], color=colour, lw=8, label=f"server: {state}")
    ax.plot([m.t for m in rows], [m.scale if m.found else np.nan for m in rows], "k.-", ms=3,
            lw=1, label="face height / frame height (landmarker)")
    ax.axhline(scenes.NEAR_HEIGHT, color="grey", ls=":", lw=1, label="near (0.18)")
    if truth.near_frontal_at is not None:
        ax.axvline(truth.near_frontal_at, color="green", ls="--", lw=1, label="near and frontal")
    if truth.last_face_at is not None:
        ax.axvline(truth.last_face_at, color="purple", ls="--", lw=1, label="last face")
    arrived = log.times("visitor-arrived")
    audio = next((t for t in log.loud_audio if arrived and t >= arrived[0] - 0.05), None)
    if audio is not None:
        ax.axvline(audio, color="red", lw=1.5, label="greeting's first audio")
    for at in log.times("visitor-left"):
        ax.axvline(at, color="black", lw=1.5, label="visitor-left")
    for start, words in truth.speech:
        ax.axvspan(start, start + speech_secs(words), ymin=0.92, ymax=1.0,
                   color="tab:blue", alpha=0.6)
    ax.set_xlim(0, scene.seconds)
    ax.set_ylim(0, 0.4)
    ax.set_xlabel("scene time (s); blue band: the visitor's question")
    ax.set_ylabel("face height / frame height")
    ax.set_title("walk-up on a presence session: what the camera saw, what the server did")
    ax.legend(loc="upper right", fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- runs


def scene_set(quick: bool, away_secs: float, only_empty: bool = False
              ) -> dict[str, scenes.Scene]:
    """The scenes of one run (`quick`: short ones, to check the bench works;
    `only_empty`: the empty room alone, for its CPU)."""
    after = away_secs + 6.0  # the walk-away's visitor-left falls inside the scene
    empty = scenes.empty(SETTLE_SECS / 3 + CPU_SECS / 6 if quick else SETTLE_SECS + CPU_SECS)
    if only_empty:
        return {"empty": empty}
    # the visitor asks while still across the room (the server: nobody there yet), so
    # a client that holds its quiet mic back must send the words' start it held
    speak_first = scenes.walk_up(talk=8.0, after=4.0, question_after=-SPEAK_FIRST_LEAD)
    if quick:
        return {"empty": empty,
                "passers_by": scenes.passers_by(30.0),
                "walk_up": scenes.walk_up(talk=8.0, after=after),
                "speak_first": speak_first,
                "turn_away": scenes.turn_away(after=2.0),
                "silent_visitor": scenes.silent_visitor(stand=10.0, after=2.0)}
    return {"empty": empty,
            "passers_by": scenes.passers_by(),
            "walk_up": scenes.walk_up(after=max(25.0, after)),
            "speak_first": speak_first,
            "turn_away": scenes.turn_away(after=2.0),
            "silent_visitor": scenes.silent_visitor(after=2.0)}


@contextlib.contextmanager
def server_env(**values: str) -> Any:
    """`os.environ` with `values` set (the product server reads its settings there)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word errors over the reference's words, normalised as the spoken benches do
    (benchkit/answers/spoken_questions.py)."""
    errors, words = word_errors(reference, hypothesis)
    return round(errors / words, 3)


def first_question(log: SessionLog, truth: scenes.SceneTruth) -> dict[str, Any] | None:
    """The visitor's first question as the server heard it: its final transcripts from
    the words' start to 4 s after they end, against the words said, and the presence
    state the server was in when the first word was said."""
    if not truth.speech:
        return None
    start, words = truth.speech[0]
    until = start + speech_secs(words) + 4.0
    heard = " ".join(str(data.get("text", "")) for at, kind, data in log.events
                     if kind == "user-transcription" and data.get("final", True)
                     and start - 0.5 <= at <= until).strip()
    state = "away"
    for at, value in log.states():
        if at <= start:
            state = value
    return {"said": words, "heard": heard, "wer": word_error_rate(words, heard),
            "state_when_said": state}


def greeting_heard(log: SessionLog, truth: scenes.SceneTruth) -> dict[str, Any] | None:
    """The greeting as sent: the bot's words confirmed between visitor-arrived and the
    visitor's first word (or the scene's end), and any interruption in that time."""
    arrived = log.times("visitor-arrived")
    greeting_text = (log.welcome.get("presence") or {}).get("greeting")
    if not arrived or not greeting_text:
        return None
    until = truth.speech[0][0] if truth.speech and truth.speech[0][0] > arrived[0] else 1e9
    said = " ".join(str(data.get("text", "")) for at, kind, data in log.events
                    if kind == "bot-output" and arrived[0] <= at <= until).strip()
    cut = sum(1 for at, kind, _ in log.events
              if kind == "bot-interrupted" and arrived[0] <= at <= until)
    return {"whole": normalised_words(said) == normalised_words(greeting_text) and not cut,
            "said": said, "interrupted": cut}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from loguru import logger

    from benchkit.browser_media import speak
    from pipelines.settings.sections import KioskSettings
    from pipelines.speech.models import SpeechModels

    load_start = [round(v, 2) for v in os.getloadavg()]
    away_secs = args.away_secs or KioskSettings().away_secs
    if args.away_secs:
        os.environ["AVATAR_FORCING_KIOSK_AWAY_SECS"] = str(args.away_secs)
    chosen = scene_set(args.quick, away_secs, args.only_empty)
    logger.info("rendering the scenes' camera frames ...")
    jpegs = {name: await asyncio.to_thread(scene_jpegs, scene) for name, scene in chosen.items()}
    models = SpeechModels.bundled()
    speech = {name: [(start, speak(models, words)) for start, words in scene.speech]
              for name, scene in chosen.items()}
    settle, measured = (SETTLE_SECS / 3, CPU_SECS / 6) if args.quick else (SETTLE_SECS, CPU_SECS)
    window = (settle, settle + measured)
    logs: dict[str, list[SessionLog]] = {}

    async def play(url: str, server_pid: int, name: str, key: str | None = None,
                   **kwargs: Any) -> SessionLog:
        scene = chosen[name]
        logger.info(f"scene {key or name} ({scene.seconds:g} s)")
        log = await play_scene(url, name, jpegs[name], speech[name], scene.seconds,
                               server_pid=server_pid, llm_pid=embedded_llm_pid(server_pid),
                               **kwargs)
        logs.setdefault(key or name, []).append(log)
        return log

    if args.compare_cuts:  # the empty room as before the cuts, in the same run
        with server_env(AVATAR_FORCING_KIOSK_QUIET_WHEN_AWAY="false"), \
                product_server(free_port()) as (http, server_pid):
            await play(http.replace("http", "ws") + "/ws", server_pid, "empty",
                       "empty_before_cuts", mic_gate=False, cpu_window=window)
    if args.against:  # the empty room on REV's server, in the same run
        with product_server(free_port(), root=baseline_tree(args.against)) as (http, server_pid):
            await play(http.replace("http", "ws") + "/ws", server_pid, "empty",
                       "empty_against", cpu_window=window)
    for key, value in args.variant:  # the empty room with one setting changed
        with server_env(**{key: value}), product_server(free_port()) as (http, server_pid):
            await play(http.replace("http", "ws") + "/ws", server_pid, "empty",
                       f"empty_variant {key}={value}", cpu_window=window)
    with product_server(free_port()) as (http, server_pid):
        url = http.replace("http", "ws") + "/ws"
        if not args.quick and not args.skip_abandoned:  # a session nobody ended, same run
            await play(url, server_pid, "empty", "abandoned", presence=False, cpu_window=window)
        await play(url, server_pid, "empty", cpu_window=window)
        if not args.only_empty:
            await play(url, server_pid, "passers_by")
            for _ in range(args.walk_ups):
                await play(url, server_pid, "walk_up")
            await play(url, server_pid, "speak_first")
            await play(url, server_pid, "turn_away")
            await play(url, server_pid, "silent_visitor")

    summary: dict[str, Any] = {"tag": args.tag, "quick": args.quick, "walk_ups": args.walk_ups,
                               "only_empty": args.only_empty, "against": args.against,
                               "commit": _head()}
    summary.update(cpu_figures(logs))
    if not args.only_empty:
        summary.update(visit_figures(logs, chosen, away_secs))
    summary["load_avg_start"] = load_start
    summary["load_avg_end"] = [round(v, 2) for v in os.getloadavg()]
    if not args.no_save:
        name = "presence" + (f"_{args.tag}" if args.tag else "")
        RESULTS.mkdir(parents=True, exist_ok=True)
        if "walk_up" in logs:
            plot_walk_up(logs["walk_up"][0], chosen["walk_up"], RESULTS / f"{name}.png")
        (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=1))
    return summary


def cpu_figures(logs: dict[str, list[SessionLog]]) -> dict[str, Any]:
    """The empty room's CPU (and the abandoned session's, and the empty room's before
    the cuts, where measured), with what the client's mic sent meanwhile."""
    out: dict[str, Any] = {"goal_empty_kiosk_cpu_cores": 0.10}

    def parts(log: SessionLog) -> dict[str, Any]:
        return {key: log.cpu.get(key) for key in ("server_process_cores", "face_workers_cores")}

    empty = logs["empty"][0]
    out.update({
        "empty_kiosk_cpu_cores": empty.cpu.get("server_and_workers_cores"),
        "empty_kiosk_cpu_parts": parts(empty),
        "empty_kiosk_llm_cpu_cores": empty.cpu.get("llm_cores"),
        "empty_kiosk_cpu_secs": empty.cpu.get("secs"),
        "empty_kiosk_mic": empty.mic,
    })
    if "empty_before_cuts" in logs:
        before = logs["empty_before_cuts"][0]
        cores = before.cpu.get("server_and_workers_cores")
        out.update({
            "empty_kiosk_cpu_cores_before_cuts": cores,
            "empty_kiosk_cpu_parts_before_cuts": parts(before),
            "empty_kiosk_mic_before_cuts": before.mic,
            "empty_kiosk_cpu_ratio": (round(out["empty_kiosk_cpu_cores"] / cores, 3)
                                      if cores else None),
        })
    out["empty_kiosk_wire"] = wire_rates(empty)
    if "empty_against" in logs:
        against = logs["empty_against"][0]
        cores = against.cpu.get("server_and_workers_cores")
        out.update({
            "empty_kiosk_cpu_cores_against": cores,
            "empty_kiosk_cpu_parts_against": parts(against),
            "empty_kiosk_wire_against": wire_rates(against),
            "empty_kiosk_cpu_ratio_against": (round(out["empty_kiosk_cpu_cores"] / cores, 3)
                                              if cores else None),
        })
    variants = {key.removeprefix("empty_variant "): log_list[0]
                for key, log_list in logs.items() if key.startswith("empty_variant ")}
    if variants:
        out["empty_kiosk_variants"] = {
            name: {"cpu_cores": log.cpu.get("server_and_workers_cores"), **parts(log),
                   "wire": wire_rates(log)} for name, log in variants.items()}
    if "abandoned" in logs:
        abandoned = logs["abandoned"][0]
        out["abandoned_session_cpu_cores"] = abandoned.cpu.get("server_and_workers_cores")
        out["abandoned_session_cpu_parts"] = parts(abandoned)
    return out


def wire_rates(log: SessionLog) -> dict[str, float | None]:
    """Audio and video messages a second over the CPU window of `log`, and the audio
    messages' median length (ms): what the session sent the client meanwhile."""
    start = log.cpu.get("from_s", SETTLE_SECS)
    end = start + (log.cpu.get("secs") or CPU_SECS)
    audio = [ms for at, ms in log.audio if start <= at < end]
    video = [at for at, _ in log.frames if start <= at < end]
    return {"audio_messages_per_sec": round(len(audio) / (end - start), 2),
            "video_messages_per_sec": round(len(video) / (end - start), 2),
            "audio_message_ms_p50": round(statistics.median(audio), 1) if audio else None}


def _head() -> str | None:
    """This checkout's commit (what the figures are of), or None without git."""
    import subprocess
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True, check=False, cwd=Path(__file__).resolve().parent)
    except OSError:
        return None
    return found.stdout.strip() or None


def visit_figures(logs: dict[str, list[SessionLog]], chosen: dict[str, scenes.Scene],
                  away_secs: float) -> dict[str, Any]:
    """Greetings, false engagements, turn-away, silent visitor, walk-away, first words."""
    walk_truth = chosen["walk_up"].truth()
    greetings = [greeting(log, walk_truth) for log in logs["walk_up"]]
    latencies = [g["latency_ms"] for g in greetings if g["latency_ms"] is not None]
    false_footage = chosen["empty"].seconds + chosen["passers_by"].seconds
    false_count = sum(len(log.times("visitor-arrived"))
                      for name in ("empty", "passers_by") for log in logs[name])
    turn_log, turn_truth = logs["turn_away"][0], chosen["turn_away"].truth()
    silent_log, silent_truth = logs["silent_visitor"][0], chosen["silent_visitor"].truth()
    walk_aways = [w for log in logs["walk_up"] if (w := walk_away(log, walk_truth)) is not None]
    welcome_away = (logs["walk_up"][0].welcome.get("presence") or {}).get("away_secs")
    first_words = [first_question(log, walk_truth) for log in logs["walk_up"]]
    speak_first = first_question(logs["speak_first"][0], chosen["speak_first"].truth())
    heard_greetings = [greeting_heard(log, walk_truth) for log in logs["walk_up"]]
    summary: dict[str, Any] = {
        "greeting_latency_ms_p50": pct(latencies, 50),
        "greeting_latency_ms_p95": pct(latencies, 95),
        "greeting_latency_ms": latencies,
        "greeting_parts_ms": greetings,
        "goal_greeting_latency_ms_p95": 1200,
        "greetings_heard_whole": sum(1 for g in heard_greetings if g and g["whole"]),
        "greetings_heard": heard_greetings,
        "first_question_wer": [q["wer"] for q in first_words if q],
        "first_questions": first_words,
        "speak_first_question": speak_first,
        "speak_first_mic": logs["speak_first"][0].mic,
        "false_engagements": false_count,
        "false_engagements_per_10min": round(false_count / (false_footage / 600.0), 2),
        "false_engagement_footage_s": false_footage,
        "ended_on_brief_turn_away": sum(1 for t in turn_log.times("visitor-left")
                                        if t < (turn_truth.last_face_at or 0.0)),
        "turn_away_arrivals": len(turn_log.times("visitor-arrived")),
        "silent_visitor_ended_early": sum(1 for t in silent_log.times("visitor-left")
                                          if t < (silent_truth.last_face_at or 0.0)),
        "silent_visitor_arrivals": len(silent_log.times("visitor-arrived")),
        "walk_away_end_s": statistics.median(walk_aways) if walk_aways else None,
        "walk_away_end_s_each": walk_aways,
        "away_secs": welcome_away if welcome_away is not None else away_secs,
        "arrival_first_full_image_ms": [first_full_image_ms(log) for log in logs["walk_up"]],
        "scene_truth": {name: _truth_json(scene.truth()) for name, scene in chosen.items()},
        "presence_events": {name: [[round(at, 2), kind, data.get("state", data.get("reason"))]
                                   for at, kind, data in ls[0].events
                                   if kind in ("presence", "visitor-arrived", "visitor-left")]
                            for name, ls in logs.items()},
        "walk_up_timeline": [[round(at, 2), kind, _brief(data)]
                             for at, kind, data in logs["walk_up"][0].events],
    }
    full = [v for v in summary["arrival_first_full_image_ms"] if v is not None]
    summary["arrival_first_full_image_ms_p50"] = pct(full, 50)
    return summary


def _brief(data: dict[str, Any]) -> str:
    """An event's gist for the timeline (a state, a size, the words heard)."""
    if "state" in data:
        return str(data["state"])
    if "width" in data:
        return f"{data['width']} px, {data.get('drawn_fps')} drawn/s, camera {data.get('camera_fps')}/s"
    return str(data.get("text") or data.get("reason") or data.get("message") or "")


def _truth_json(truth: scenes.SceneTruth) -> dict[str, Any]:
    return {"near_frontal_at": truth.near_frontal_at, "near_frontal_secs": truth.near_frontal_secs,
            "last_face_at": truth.last_face_at, "no_face": [list(r) for r in truth.no_face],
            "speech": [list(s) for s in truth.speech]}


def check_scenes(sheets: Path | None) -> dict[str, Any]:
    """Each scene's ground truth against what the landmarker reads (no server)."""
    out: dict[str, Any] = {}
    for name, make in scenes.SCENES.items():
        scene = make()
        truth = scene.truth()
        rows = list(measure(scene.frames(scenes.FPS)))
        found = [m for m in rows if m.found]

        def at(t: float, rows: list[Measured] = rows) -> dict[str, Any] | None:
            m = min(rows, key=lambda m: abs(m.t - t))
            return None if not m.found else {"t": round(m.t, 1), "scale": round(m.scale, 3),
                                             "yaw": round(m.yaw, 1), "pitch": round(m.pitch, 1)}

        out[name] = {"truth": _truth_json(truth), "frames": len(rows), "with_face": len(found),
                     "first_face_at": found[0].t if found else None,
                     "last_face_found_at": found[-1].t if found else None,
                     "max_abs_yaw": round(max((abs(m.yaw) for m in found), default=0.0), 1)}
        if truth.near_frontal_at is not None:
            out[name]["at_near_frontal"] = at(truth.near_frontal_at)
        if sheets is not None:
            span = np.linspace(0.5, scene.seconds - 0.5, 8)
            scenes.contact_sheet(scene, [round(float(t), 1) for t in span],
                                 sheets / f"presence_{name}.png")
    return out


def _setting(text: str) -> tuple[str, str]:
    """`KEY=VALUE` of `--variant`: a server setting's environment variable."""
    key, sep, value = text.partition("=")
    if not sep or not key.startswith("AVATAR_FORCING_"):
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected AVATAR_FORCING_<SECTION>_<FIELD>=VALUE")
    return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--walk-ups", type=int, default=5)
    parser.add_argument("--away-secs", type=float, default=None,
                        help="[kiosk] away_secs for the server (default: the product's)")
    parser.add_argument("--quick", action="store_true",
                        help="short scenes and one walk-up: does the bench work")
    parser.add_argument("--compare-cuts", action="store_true",
                        help="also the empty room as before the empty-hall cuts (a server "
                        "with [kiosk] quiet_when_away off, the SDK's mic gate off), same run")
    parser.add_argument("--against", default=None, metavar="REV",
                        help="also the empty room on REV's server (a git worktree), same run")
    parser.add_argument("--variant", action="append", default=[], type=_setting,
                        metavar="KEY=VALUE",
                        help="also the empty room on this tree's server with one setting "
                        "in its environment (repeatable)")
    parser.add_argument("--only-empty", action="store_true",
                        help="the empty room's CPU only (with --compare-cuts: both arms)")
    parser.add_argument("--skip-abandoned", action="store_true",
                        help="leave out the session without presence (its CPU)")
    parser.add_argument("--tag", default="")
    parser.add_argument("--no-save", action="store_true")
    parser.add_argument("--check-scenes", action="store_true",
                        help="no server: the scenes' truth against the landmarker")
    parser.add_argument("--sheets", type=Path, default=None,
                        help="with --check-scenes: write contact sheets here")
    args = parser.parse_args()
    if args.check_scenes:
        print(json.dumps(check_scenes(args.sheets)))
        return
    if args.walk_ups < 1:
        parser.error("--walk-ups must be at least 1")
    if args.quick:
        args.walk_ups = 1
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
