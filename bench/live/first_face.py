"""Figure: bench/results/first_face.json: how soon a freshly built
`AvatarForcingVideoService()` shows a lip-synced face, on the first call of a
process (cold) and on the calls after it (warm).

Each cold run is a fresh process (this script with `--one`): the service with no
arguments, built and started as a pipecat app does (`Pipeline([service,
transport])` with pipecat's own output path, benchkit/pipecat_sink.py), a webcam
(Grace Hopper animated by our renderer) sent from the start at 15 fps, and a reply
in the bundled piper voice sent `--reply-at` seconds after the pipeline started,
as an app that greets its caller at once. Then `--warm` more calls in the same
process, each a new service built after the last one ended.

Per call, from the pipeline's start (the runner started):
- first_image_s: the first image at the transport;
- first_face_s: the reply's first lip-synced image (where pipecat's TTFB for the
  reply ends; None: the reply passed through without the face);
- reply_lip_sync_r and reply_lip_sync_lag_ms: jawOpen of the images written while
  the reply played against its audio's RMS (benchkit/pipecat_sink.py `lip_sync`);
- reply_face_share: share of the reply's voiced 40 ms slots with an image written
  in them or next to them;
- camera_analysed: webcam images the face analysed in the first CAMERA_SECS;
- reply_sizes and reply_at_asked_size: the sizes of the images written while the
  reply played ({"512": n, ...}) and whether all of them were at the asked size;
- reply_first_audio_ms: from the reply's TTS frames sent to its first loud audio
  at the transport; reply_underrun_ms and reply_underruns: the silence the
  transport played inside the reply because its audio came late (gaps between one
  chunk's end and the next one's start over 5 ms, each counted), the voice's cost
  of a face drawing beside it.

`--compare-sink` alternates the cold processes between the face that follows the
transport's audio device (the product: face_clock.FOLLOW_AUDIO_SINK) and one that
pushes each image on its schedule whatever audio waits in the transport (before):
the first reply's lip sync both ways, in one run, under "arms" ("follow" and "schedule").
reply_audio_held_ms and reply_image_held_ms (p50 and max over the reply) say how long
the transport held the reply's audio (from the face's push to its start on the
device clock) and its images (from the push to their write): the difference is how
far the images run ahead of their voice.

`--compare-cap 256` alternates the cold processes between a face started in the
process at the asked size (the product) and one capped at 256 px until the machine is
measured (`face_start.INTERIM_SIZE_CAP`, what the product did before): the voice's
cost of the first reply at full size, in one run. Each arm's figures are under
"arms".

`--against REV` alternates the cold processes between this tree's product and REV's
(a git worktree of it first on the path, benchkit/revision_tree.py; this script and
benchkit drive both): before and after in one run, under "arms" ("this" and REV).
Per call also: reply_frames_repeated_late, the frames the face drew late (the last
image repeated) from the reply's sending to its last voiced audio; moved_s and
moved_in_reply, when the face moved from the app's process to a worker process and
whether that fell inside the reply; load_avg_before, the load as the process began.
`--decompose` scores the reply's jaw against each frame's own audio by frame index,
with no clock: as the generator planned it (reply_generator_r) and as the landmarker
re-reads it from the drawn image (reply_drawn_r). Against reply_lip_sync_r (the
written images against the played audio) the three say what the generator, the
drawing and the clock's pairing each give or lose. `--seeds N` scores the same
reply's generator jaw offline (a session in this process, no clock, no camera) for
sampler seeds 0..N-1: how far one reply's r moves with the sampler's noise alone.

JSON (last stdout line): first_face_s_cold and first_face_s_warm (p50 and p95 over
the calls), the same for first_image_s, every call's row, the load average before
and after.

    .venv/bin/python bench/live/first_face.py [--cold 3] [--warm 2] [--reply-at 1.0] [--compare-cap 256]
        [--compare-sink] [--against REV] [--decompose] [--seeds 8]

Runs: ~5 min on its defaults (estimated for the 2-core host).
Quoted: docs/PIPECAT.md, "The first reply": moved mid-reply 0/3 against 3/3, lip sync r 0.685 / 0.637 / 0.623
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from benchkit.paths import RESULTS
from benchkit.revision_tree import baseline_tree, path_with
from benchkit.stats import pct

REPLY = ("Hello and welcome! I am the assistant of this shop. Ask me anything about "
         "our opening hours, the garden centre or the paint aisle.")
OUT_RATE = 24000
SIZE = 512
#: the webcam streams this long from the pipeline's start
CAMERA_SECS = 4.0
#: a slot of reply audio louder than this (RMS of s16) is voiced
VOICED_RMS = 500.0
#: a gap between two audio chunks at the transport longer than this is an underrun
UNDERRUN_SECS = 0.005
#: how often the face's late-frame count and its place (process or worker) are read
WATCH_SECS = 0.02
#: `--decompose`: each frame the face drew in this process's current call, by index:
#: (the generator's jawOpen, the RMS of the frame's own audio, it carries the reply)
PLANNED: dict[int, tuple[float, float, bool]] = {}


def record_planned() -> None:
    """`--decompose`: note each drawn frame's planned jaw and its own audio (a wrapper
    around the face's draw, in this bench process only)."""
    from avatar.live.session import _JAW
    from pipelines.face.face_generator import FaceGenerator

    draw = FaceGenerator.draw

    async def noted(self: FaceGenerator, planned: Any, repeat: bool,
                    video: Any = None) -> Any:
        audio = np.frombuffer(planned.audio, np.int16).astype(np.float64) / 32768.0
        PLANNED[planned.index] = (float(planned.motion[_JAW]),
                                  float(np.sqrt(np.mean(audio ** 2))) if len(audio) else 0.0,
                                  bool(planned.speaking))
        return await draw(self, planned, repeat, video)

    FaceGenerator.draw = noted  # type: ignore[method-assign]


def decompose(images: list[tuple[float, Any]]) -> dict[str, float | None]:
    """Where the reply's lip sync goes, stage by stage, all against each frame's own
    audio by frame index (no clock): the generator's jaw (`generator_r`), the jaw
    re-read from the drawn image (`drawn_r`)."""
    from benchkit.pipecat_sink import mouth_openings

    speaking = sorted(i for i, (_, _, sp) in PLANNED.items() if sp)
    if len(speaking) < 50:
        return {"generator_r": None, "drawn_r": None}
    span = range(speaking[0], speaking[-1] + 1)
    own = np.array([PLANNED[i][1] if i in PLANNED else np.nan for i in span])
    planned = np.array([PLANNED[i][0] if i in PLANNED else np.nan for i in span])
    written = {getattr(f, "frame_index", None): f for _, f in images}
    drawn = [i for i in span if i in written]
    read = dict(zip(drawn, mouth_openings([written[i] for i in drawn]), strict=True))
    reread = np.array([read.get(i, np.nan) for i in span])
    return {"generator_r": _r_by_index(planned, own), "drawn_r": _r_by_index(reread, own)}


def seed_spread(seeds: int) -> list[float | None]:
    """The reply's generator jaw against its own audio (`_r_by_index`) in a fresh
    session for each sampler seed 0..seeds-1: no clock, no camera, no drawing (the
    reply queued at once after 2 s of listening, as the bench's reply comes)."""
    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
    from avatar.live import AvatarSession, PortraitLibrary, SessionOptions
    from avatar.live.session import _JAW
    from benchkit.speech import load_test_voice, piper_int16

    voice = load_test_voice()
    pcm, rate = piper_int16(voice, REPLY), voice.config.sample_rate
    checkpoint = load_generator(DEFAULT_CHECKPOINT)
    checkpoint.model.eval()
    portrait = PortraitLibrary(None, "grace_hopper").get()
    found = []
    for seed in range(seeds):
        session = AvatarSession(portrait, checkpoint, output_rate=OUT_RATE,
                                options=SessionOptions(size=256, seed=seed))
        planned = [frame for _ in range(10) for frame in session.next_block()]
        step = int(rate * 0.1)  # as run.speak sends it
        for i in range(0, len(pcm), step):
            session.push_avatar_audio(pcm[i:i + step].tobytes(), rate)
        session.end_of_reply()
        while session.reply_pending_secs > 0:
            planned += session.next_block()
        planned += session.next_block()
        session.close()
        spoken = [k for k, frame in enumerate(planned) if frame.speaking]
        part = planned[spoken[0]:spoken[-1] + 1]
        jaw = np.array([frame.motion[_JAW] for frame in part])
        own = np.array([_rms(frame.audio) / 32768.0 for frame in part])
        found.append(_r_by_index(jaw, own))
    return found


def _r_by_index(jaw: np.ndarray, audio: np.ndarray) -> float | None:
    """The best correlation of `jaw` against `audio` (same frames) at lags of -3..3 frames."""
    best = None
    for lag in range(-3, 4):
        a = audio[max(0, -lag):len(audio) - max(0, lag)]
        b = jaw[max(0, lag):len(jaw) - max(0, -lag)]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 30:
            continue
        r = float(np.corrcoef(a[ok], b[ok])[0, 1])
        best = r if best is None else max(best, r)
    return round(best, 3) if best is not None else None


async def one_call(reply: tuple[np.ndarray, int], webcam: list[np.ndarray],
                   reply_at: float) -> dict[str, Any]:
    """A new service in a new pipeline; the reply `reply_at` s after its start."""
    from pipecat.frames.frames import UserImageRawFrame
    from pipecat.metrics.metrics import TTFBMetricsData

    from benchkit.pipecat_sink import audio_held_secs, lip_sync, start_face_run
    from pipelines import AvatarForcingVideoService

    PLANNED.clear()
    service = AvatarForcingVideoService()
    started = time.monotonic()
    run = await start_face_run(service, out_rate=OUT_RATE, size=SIZE, wait_for_image=False,
                               enable_metrics=True)

    async def stream_camera() -> None:
        for index in range(int(CAMERA_SECS * 15)):
            rgb = webcam[index % len(webcam)]
            await run.send(UserImageRawFrame(image=rgb.tobytes(), size=(rgb.shape[1], rgb.shape[0]),
                                             format="RGB", user_id="visitor"))
            await asyncio.sleep(max(0.0, started + (index + 1) / 15 - time.monotonic()))

    async def watch() -> None:  # the face's late frames and where it draws, over time
        while True:
            face = service.session.face if service.ready else None
            watched.append((time.monotonic(), service.counters.frames_repeated_late,
                            type(face).__name__ == "WorkerFace"))
            await asyncio.sleep(WATCH_SECS)

    watched: list[tuple[float, int, bool]] = []
    watcher = asyncio.create_task(watch())
    camera = asyncio.create_task(stream_camera())
    await asyncio.sleep(max(0.0, started + reply_at - time.monotonic()))
    pcm, rate = reply
    spoken_at = time.monotonic()
    await run.speak(pcm, rate)
    await asyncio.sleep(max(0.0, started + CAMERA_SECS - time.monotonic()))
    await camera
    camera_analysed = service.counters.camera_analysed
    await asyncio.sleep(max(0.0, spoken_at + len(pcm) / rate + 4.0 - time.monotonic()))
    where = "worker" if type(service.session.face).__name__ == "WorkerFace" else "process"
    watcher.cancel()
    await run.end()

    ttfb = [t for t, frame in run.bot.metrics for d in frame.data
            if isinstance(d, TTFBMetricsData) and d.processor == service.name and d.value > 0]
    images = run.played.images
    voiced = [t for t, a in run.played.audio if t >= spoken_at and _rms(a) > VOICED_RMS]
    reply_images = ([(t, f) for t, f in images if voiced[0] - 0.2 <= t <= voiced[-1] + 0.2]
                    if voiced else [])
    lag_ms, r = lip_sync(reply_images, run.played) if reply_images else (None, None)
    stages = decompose(reply_images) if PLANNED else {}
    sizes: dict[str, int] = {}  # as drawn (the transport scales them to SIZE)
    for at, (width, _) in run.played.drawn:
        if voiced and voiced[0] - 0.2 <= at <= voiced[-1] + 0.2:
            sizes[str(width)] = sizes.get(str(width), 0) + 1
    underruns = _underruns([(t, a) for t, a in run.played.audio
                            if voiced and voiced[0] <= t <= voiced[-1]])
    in_reply = (lambda t: voiced[0] <= t <= voiced[-1]) if voiced else (lambda t: False)
    audio_held = [held for t, held in audio_held_secs(run.played) if in_reply(t)]
    image_held = [t - d for (t, _), (d, _) in zip(images, run.played.drawn, strict=False)
                  if in_reply(t)]
    moved_at = next((t for t, _, on_worker in watched if on_worker), None)
    # frames drawn late (the last image repeated) from the reply's sending to its end
    late_in_reply = ([n for t, n, _ in watched if spoken_at <= t <= voiced[-1]]
                     if voiced else [])
    slots = {int(t / 0.04) for t in voiced}
    # an image within a slot of each voiced one (the two clocks jitter by a few ms)
    pictured = {int(t / 0.04) + k for t, _ in reply_images for k in (-1, 0, 1)}
    return {
        "first_image_s": round(images[0][0] - started, 2) if images else None,
        "first_face_s": round(ttfb[0] - started, 2) if ttfb else None,
        "reply_sizes": sizes, "reply_at_asked_size": bool(sizes) and set(sizes) == {str(SIZE)},
        "reply_first_audio_ms": round((voiced[0] - spoken_at) * 1000) if voiced else None,
        "reply_underrun_ms": round(sum(underruns) * 1000, 1), "reply_underruns": len(underruns),
        "reply_sent_s": round(spoken_at - started, 2),
        "reply_lip_sync_r": r, "reply_lip_sync_lag_ms": lag_ms,
        "reply_audio_held_ms": _ms(audio_held), "reply_image_held_ms": _ms(image_held),
        "reply_face_share": round(len(slots & pictured) / len(slots), 3) if slots else None,
        "camera_analysed": camera_analysed, "camera_sent": int(CAMERA_SECS * 15),
        "face_at_end": where,
        "frames_repeated_late": service.counters.frames_repeated_late,
        "reply_frames_repeated_late": (late_in_reply[-1] - late_in_reply[0]
                                       if late_in_reply else None),
        "moved_s": round(moved_at - started, 2) if moved_at is not None else None,
        "moved_in_reply": (moved_at is not None and bool(voiced)
                           and voiced[0] <= moved_at <= voiced[-1]),
        "rebases": service.counters.rebases,
        **{f"reply_{key}": value for key, value in stages.items()},
    }


def _ms(secs: list[float]) -> dict[str, float | None]:
    """p50 and max of `secs`, in ms."""
    return {"p50": round(float(np.percentile(secs, 50)) * 1000, 1) if secs else None,
            "max": round(max(secs) * 1000, 1) if secs else None}


def _underruns(audio: list[tuple[float, bytes]]) -> list[float]:
    """Gaps (s) between one chunk's end and the next one's start: the transport
    played silence there because the audio came late."""
    gaps = []
    for (t0, a0), (t1, _) in zip(audio, audio[1:], strict=False):
        gap = t1 - (t0 + len(a0) / 2 / OUT_RATE)
        if gap > UNDERRUN_SECS:
            gaps.append(gap)
    return gaps


def _rms(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, np.int16).astype(np.float64)
    return float(np.sqrt(np.mean(samples ** 2))) if len(samples) else 0.0


async def calls(count: int, reply_at: float) -> list[dict[str, Any]]:
    """`count` calls in this process, one after the other (the first one cold)."""
    from benchkit.browser_media import webcam_clip
    from benchkit.speech import load_test_voice, piper_int16

    voice = load_test_voice()
    reply = (piper_int16(voice, REPLY), voice.config.sample_rate)
    webcam = webcam_clip(2.0, width=640, height=480, fps=15.0)
    rows = []
    for index in range(count):
        load = [round(v, 2) for v in os.getloadavg()]
        row = await one_call(reply, webcam, reply_at) | {"load_avg_before": load}
        row["call"] = "cold" if index == 0 else "warm"
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    return rows


def summary(rows: list[dict[str, Any]], key: str) -> dict[str, float | None]:
    values = [row[key] for row in rows if row[key] is not None]
    return {"p50": pct(values, 50), "p95": pct(values, 95), "missing": len(rows) - len(values)}


def arm_figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One arm's cold and warm figures (the first reply's size, lip sync and voice)."""
    cold = [row for row in rows if row["call"] == "cold"]
    warm = [row for row in rows if row["call"] == "warm"]
    return {
        "first_face_s_cold": summary(cold, "first_face_s"),
        "first_face_s_warm": summary(warm, "first_face_s"),
        "first_image_s_cold": summary(cold, "first_image_s"),
        "first_image_s_warm": summary(warm, "first_image_s"),
        "reply_lip_sync_r_cold": summary(cold, "reply_lip_sync_r"),
        "reply_lip_sync_r_each_cold": [row["reply_lip_sync_r"] for row in cold],
        "reply_lip_sync_lag_ms_each_cold": [row["reply_lip_sync_lag_ms"] for row in cold],
        "reply_lip_sync_r_each_warm": [row["reply_lip_sync_r"] for row in warm],
        "reply_frames_repeated_late_each_cold": [row["reply_frames_repeated_late"]
                                                 for row in cold],
        "moved_in_reply_each_cold": [row["moved_in_reply"] for row in cold],
        "reply_generator_r_each_cold": [row.get("reply_generator_r") for row in cold],
        "reply_generator_r_each_warm": [row.get("reply_generator_r") for row in warm],
        "reply_drawn_r_each_cold": [row.get("reply_drawn_r") for row in cold],
        "load_avg_before_each_cold": [row["load_avg_before"] for row in cold],
        "reply_audio_held_ms_each_cold": [row["reply_audio_held_ms"] for row in cold],
        "reply_image_held_ms_each_cold": [row["reply_image_held_ms"] for row in cold],
        "reply_at_asked_size_cold": [row["reply_at_asked_size"] for row in cold],
        "reply_sizes_cold": [row["reply_sizes"] for row in cold],
        "reply_first_audio_ms_cold": summary(cold, "reply_first_audio_ms"),
        "reply_underrun_ms_cold": summary(cold, "reply_underrun_ms"),
    }


def main() -> None:
    """Cold runs in fresh processes (each with its warm calls); the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=3, help="fresh processes (per arm)")
    parser.add_argument("--warm", type=int, default=2, help="calls after the first, each process")
    parser.add_argument("--reply-at", type=float, default=1.0)
    parser.add_argument("--compare-cap", type=int, default=None,
                        help="also run cold processes whose in-process face is capped at "
                             "this size until measured (alternated)")
    parser.add_argument("--compare-sink", action="store_true",
                        help="also run cold processes whose face pushes images on its schedule, "
                             "not following the transport's audio device (alternated)")
    parser.add_argument("--against", default=None, metavar="REV",
                        help="also run cold processes on REV's product (a git worktree of it, "
                             "alternated with this tree's)")
    parser.add_argument("--decompose", action="store_true",
                        help="also score the reply's jaw as generated and as drawn against "
                             "each frame's own audio (reply_generator_r, reply_drawn_r)")
    parser.add_argument("--seeds", type=int, default=0,
                        help="also score the reply's generator jaw offline for this many "
                             "sampler seeds (generator_r_by_seed)")
    parser.add_argument("--interim-cap", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--schedule", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--one", action="store_true", help="one process's calls (internal)")
    parser.add_argument("--tag", default=None, help="results as first_face_TAG.json")
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.one:
        from pipelines.face import face_start

        face_start.INTERIM_SIZE_CAP = args.interim_cap
        if args.schedule:
            from pipelines.face import face_clock

            face_clock.FOLLOW_AUDIO_SINK = False
        if args.decompose:
            record_planned()
        print(json.dumps(asyncio.run(calls(1 + args.warm, args.reply_at))))
        return
    load_start = [round(v, 2) for v in os.getloadavg()]
    caps: list[int | None] = [None] if args.compare_cap is None else [None, args.compare_cap]
    sinks = ["follow", "schedule"] if args.compare_sink else ["follow"]
    trees: list[str | None] = [None] if args.against is None else [None, args.against]
    arms = [(cap, sink, tree) for cap in caps for sink in sinks for tree in trees]
    rows: list[dict[str, Any]] = []
    for index in range(args.cold):
        # which arm goes first alternates, so neither always meets a warmer machine
        for cap, sink, tree in arms if index % 2 == 0 else arms[::-1]:
            command = [sys.executable, __file__, "--one", "--warm", str(args.warm),
                       "--reply-at", str(args.reply_at)]
            if cap is not None:
                command += ["--interim-cap", str(cap)]
            if sink == "schedule":
                command.append("--schedule")
            if args.decompose:
                command.append("--decompose")
            # REV's product first on the path, this script and benchkit driving it
            env = path_with(baseline_tree(tree)) if tree is not None else None
            done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True,
                                  env=env)
            rows += [row | {"interim_cap": cap, "sink": sink, "tree": tree or "this"}
                     for row in json.loads(done.stdout.strip().splitlines()[-1])]
    asked = [row for row in rows
             if row["interim_cap"] is None and row["sink"] == "follow" and row["tree"] == "this"]
    result = {
        **arm_figures(asked),
        "reply_at_s": args.reply_at, "size": SIZE,
        "load_avg_start": load_start, "load_avg_end": [round(v, 2) for v in os.getloadavg()],
        "cpu_count": os.cpu_count(), "calls": rows,
    }
    if args.compare_sink:
        result["arms"] = {sink: arm_figures([r for r in rows if r["interim_cap"] is None
                                             and r["sink"] == sink and r["tree"] == "this"])
                          for sink in sinks}
    if args.compare_cap is not None:
        result.setdefault("arms", {})
        result["arms"] |= {str(cap or "asked"): arm_figures([r for r in rows
                                                            if r["interim_cap"] == cap
                                                            and r["tree"] == "this"])
                          for cap in caps}
    if args.against is not None:
        result.setdefault("arms", {})
        result["arms"] |= {name: arm_figures([r for r in rows if r["interim_cap"] is None
                                              and r["sink"] == "follow" and r["tree"] == name])
                          for name in ("this", args.against)}
        result["against"] = args.against
    if args.seeds:
        result["generator_r_by_seed"] = seed_spread(args.seeds)
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = "first_face.json" if args.tag is None else f"first_face_{args.tag}.json"
        (RESULTS / name).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
