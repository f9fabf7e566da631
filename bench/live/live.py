"""Figure: bench/results/live_<tag>.json and live_av_sync.png, the live avatar measured end to end.

The whole voice + avatar server, measured from the client.

Starts the real server in this process (bundled whisper tiny.en + piper joe +
the embedded llama.cpp LLM + the avatar: default portrait, shipped generator,
costs measured at start-up) on 127.0.0.1 and talks to it over a real loopback
websocket with the client SDK, like a kiosk would: each client streams its
"microphone" (16 kHz PCM, 20 ms chunks, real-time pace) from the moment it
connects until it leaves, with silence between the questions, and, in video
sessions, its "webcam": a clip of a real face (skimage's astronaut photo,
rendered with a small scripted head motion) at 15 fps, so the server's camera
analysis is part of what is measured. Questions are kiosk questions spoken by
the bundled piper voice.

Measured on the client's clock (names as in the JSON):

- video_fps: avatar frames received / seconds of audio received (25 nominal),
  per video session; distinct_fps counts only frames whose JPEG differs from
  the previous one (the server repeats the last image when rendering is late);
  frame_interval_ms_p95: arrival intervals of video frames.
- av_offset_ms, lip_sync_r: jawOpen re-measured on the received frames
  (FaceAnalyzer, video mode) against the RMS envelope of the received reply
  audio per 40 ms, both placed on the stream clock (audio pts counts samples
  sent; a frame's pts is the start of its 40 ms audio chunk). The lag (40 ms
  steps, +-400 ms) maximising their correlation over each reply; > 0 means
  the mouth moves after the sound. Pooled over replies (length-weighted
  correlation curve); per reply in `turns`. start_lip_sync_r, start_av_offset_ms:
  the same over the first 500 ms of each reply only (lips on the voice from the
  first word: no early mouth, no late mouth), pooled at lags of +-120 ms; per reply
  (at lag 0) in `av.start_r_at_0`.
- reaction_latency_ms: each video message carries `user_frames`, the 40 ms
  user-audio frames the server had heard when it generated that frame. The
  mic counts the samples it sends, so for the onset of each question (first
  20 ms above 5 % of the peak level) at user frame k: receive time of the
  first frame with user_frames > k minus the time frame k was completely sent
  (its last 20 ms chunk left the client: the earliest the server can count it).
- voice_to_voice_ms_p50/_p95: end of the question's speech -> first
  non-silent reply audio (video sessions send silence while idle), for avatar
  sessions and, alternating with them on the same server, voice-only sessions
  (no video in hello: the server builds the voice-only pipeline):
  voice_only_voice_to_voice_ms_p50/_p95 and avatar_adds_ms_p50.
- barge_in_ms: the client interrupts a long reply 1 s into it with piper
  speech; onset of that speech -> last non-silent reply audio received.
  stale_audio_ms_after_interrupt: milliseconds of non-silent old-reply audio
  received later than `bot-interrupted` + 100 ms (goal 0).
- cpu_percent: the avatar worker's CPU per session (the server's `metrics`
  events of kind "avatar"); process_cpu_percent: this whole process (server,
  speech models, avatar and the bench client; 100 = one core) and
  llm_cpu_percent: the llama.cpp child, per session and over the run.
- stages_ms_p50: each turn split into stages (row `stages`, ms after the question's
  end: whisper's runs, the VAD's stop, the transcript, the LLM's request and first
  text, piper's first text and audio, the first reply audio to the transport and at
  the client; `asr_final_ms`, whisper's last read before the transcript), by the
  server's StageTimeline observer (benchkit/live/live_stages.py); their medians per
  arm and face minus voice only; `face_path` per face turn: the reply's way out of
  the face (first_frames_* of its `metrics` event).
- user_frames_lead: most user frames the server counted beyond what the
  client had sent (> 0 means the server filled missing audio with silence,
  which skews reaction latency).

Modes:
  python bench/live/live.py [--turns 8] [--barge-ins 3]    # avatar and voice-only, alternating
  python bench/live/live.py --sessions 2 [--turns 4]        # 2 concurrent video sessions
  python bench/live/live.py --soak 1800 [--turn-every 20]   # one video session, RSS and stalls
  --model smollm2 for a quick run (the product default is qwen2.5-0.5b).
  --draws-face: the video sessions' clients draw the face (protocol 2.3, as the kiosk
  page does): the server sends motion frames, not JPEGs; avatar_adds_ms_p50 is then
  what a page-drawn face adds (no lip-sync figures: there are no images to re-measure).
  --no-hold-too: a third arm, a face whose client sends every camera frame (the SDK's
  camera_hold.secs = 0) against the held face (its default) and voice only, the three
  alternating on the same questions; `camera_hold_against_none` gives each arm's
  voice-to-voice p50, avatar_adds_ms_p50, the held face over the unheld (90 % interval),
  the server's process CPU per session and the cores by process over the turns'
  voice-to-voice windows (bench/results/live_camera_hold.png); every other figure stays
  the held face's.
  --this REV: the server from REV's worktree (benchkit/revision_tree.py), not the
  working tree others may be editing; its commit in the summary's `server_rev`.
  --against REV: the chosen mode twice in one run, the server of REV first (a git
  worktree, benchkit/revision_tree.py; this client and analysis) and then this
  tree's (or --after REV's: a commit with only the change under test, while others
  edit this tree); both summaries and the lip-sync figures side by side
  (bench/results/live_<tag>.json holds both).

The process runs the product's defaults (1 llama.cpp thread, the avatar worker
pinned to 1 torch thread by the node, nothing else pinned). The last stdout
line is one JSON object; it is also saved as bench/results/live_<tag>.json,
and the default mode plots one reply (bench/results/live_av_sync.png).
The client, phases, A/V analysis, summary and server are in benchkit/ (live_*.py,
av_sync.py, camera.py).

Runs: ~8 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": voice-to-voice face on / voice only p50 0.88 s / 0.84 s; 25.0 fps at 512 px, lip sync lag -40 ms
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

import numpy as np
from tqdm import tqdm

from benchkit.clocks import SERVER, CpuMark
from benchkit.kiosk.turn_cpu import CpuTimeline
from benchkit.live.av_sync import lip_sync, plot_av_sync, pooled_lip_sync
from benchkit.live.camera import camera_photo, make_camera_clip
from benchkit.live.camera_hold_arms import hold_against_none, live_groups, plot_hold, split_arms
from benchkit.live.live_phases import Bench, phase_alternating, phase_concurrent, phase_soak
from benchkit.live.live_server import live_script_in, serve, server_under_test
from benchkit.live.live_stages import (
    MARKS_ENV,
    join_stages,
    read_cpu,
    read_marks,
    stage_medians,
)
from benchkit.live.live_summary import summarise
from benchkit.live.live_turns import LONG_QUESTION, Spoken
from benchkit.paths import RESULTS, ROOT
from benchkit.visitor import INTERRUPTION, QUESTIONS

os.environ.setdefault("HF_HUB_OFFLINE", "1")


#: the start of a reply whose lip sync is measured on its own (ms)
START_MS = 500


#: lags (40 ms frames) searched either way over the reply's start
START_LAGS = 3


def start_lip_sync(lips: list[dict[str, Any]]) -> dict[str, Any]:
    """Lip sync over the first START_MS of each reply: the received audio's envelope
    against the re-measured jaw, slot by slot (`lip_sync`'s series), every reply's
    start pooled, at lags of +-START_LAGS frames (too few slots for lip_sync's own
    +-400 ms search). An early mouth reads as a negative offset, a late one positive."""
    curve: dict[int, float] = {}
    for lag in range(-START_LAGS, START_LAGS + 1):
        xs, ys = [], []
        for result in lips:
            series = result.get("series")
            if not series:
                continue
            t = np.asarray(series["t_ms"])
            env, jaw = np.asarray(series["env"], float), np.asarray(series["jaw"], float)
            slots = np.flatnonzero((t >= 0) & (t < START_MS))
            slots = slots[(slots + lag >= 0) & (slots + lag < len(jaw))]
            xs.append(env[slots])
            ys.append(jaw[slots + lag])
        if not xs:
            continue
        x, y = np.concatenate(xs), np.concatenate(ys)
        ok = np.isfinite(x) & np.isfinite(y)
        if ok.sum() >= 10 and np.std(x[ok]) > 0 and np.std(y[ok]) > 0:
            curve[lag] = float(np.corrcoef(x[ok], y[ok])[0, 1])
    if not curve:
        return {"start_lip_sync_r": None, "start_av_offset_ms": None,
                "start_lip_sync_r_at_0": None}
    best = max(curve, key=lambda k: curve[k])
    return {"start_lip_sync_r": round(curve[best], 3), "start_av_offset_ms": best * 40,
            "start_lip_sync_r_at_0": round(curve.get(0, float("nan")), 3)}


async def measure(args: argparse.Namespace, script: Path | None = None) -> dict[str, Any]:
    """Start everything, run the chosen mode, analyse, return the summary.
    `script`: the bench/live/live.py whose `--serve-port` runs the server (another
    revision's, with its packages first on PYTHONPATH); None: this one."""
    from pipelines.speech.models import SpeechModels

    if not args.verbose:
        from loguru import logger

        logger.remove()  # pipecat logs every frame at DEBUG: keep warnings only
        logger.add(sys.stderr, level="WARNING")
    t0 = time.monotonic()
    load = [round(v, 2) for v in os.getloadavg()]
    marks_file = Path(tempfile.mkdtemp(prefix="bench_live_marks_")) / "marks.jsonl"
    os.environ[MARKS_ENV] = str(marks_file)  # the server's stage marks (live_stages.py)
    async with server_under_test(args, *([script] if script else [])) as (url, llm_pid, costs):
        models = SpeechModels.bundled()  # the client's piper speaks the questions
        with tempfile.TemporaryDirectory(prefix="bench_live_") as tmp:
            photo, camera_source = camera_photo(args.camera_photo)
            clip = None if args.no_camera else make_camera_clip(photo, Path(tmp))
            bench = Bench(url=url, questions=[Spoken.make(models, q) for q in QUESTIONS],
                          interruption=Spoken.make(models, INTERRUPTION),
                          long_question=Spoken.make(models, LONG_QUESTION),
                          camera_clip=clip, size=args.size, llm_pid=llm_pid,
                          draws_face=args.draws_face)
            startup_s = round(time.monotonic() - t0, 1)
            cpu0 = CpuMark.now(llm_pid)
            with contextlib.ExitStack() as stack:
                timeline = stack.enter_context(CpuTimeline(live_groups(SERVER["pid"], llm_pid))
                                               ) if args.no_hold_too else None
                if args.soak:
                    mode = f"soak{round(args.soak)}"
                    result = await phase_soak(bench, args.soak, args.turn_every)
                elif args.sessions > 1:
                    mode = f"sessions{args.sessions}"
                    result = await phase_concurrent(bench, args.sessions, args.turns)
                else:
                    mode = "camera_hold" if args.no_hold_too else "default"
                    arms = ("face", "voice", *(["face_no_hold"] if args.no_hold_too else []))
                    result = await phase_alternating(bench, args.turns, args.turns_per_session,
                                                     args.barge_ins, arms)
            cpu_run = CpuMark.now(llm_pid).since(cpu0)
    os.environ.pop(MARKS_ENV, None)
    every_row = [t.row for t in result["turns"]]
    every_session = result["sessions"]
    if args.no_hold_too:  # the usual figures stay the held face's (the SDK's default)
        result, _ = split_arms(result)
    join_stages(every_row, read_marks(marks_file), read_cpu(marks_file))
    windows = [t for t in result["turns"] if t.window is not None]
    lips = []
    for turn in tqdm(windows, desc="lip sync", file=sys.stderr):
        assert turn.window is not None
        turn.av = lip_sync(turn.window)
        turn.row["av"] = {k: v for k, v in turn.av.items()
                          if k not in ("curve", "curve_fresh", "series")}
        turn.row["av"]["start_r_at_0"] = start_lip_sync([turn.av])["start_lip_sync_r_at_0"]
        lips.append(turn.av)
    if args.draws_face:
        mode = f"{mode}_drawn"
    tag = args.tag or (mode if args.model == "qwen2.5-0.5b" else f"{mode}_{args.model}")
    meta = {"tag": tag, "mode": mode, "t0": t0, "load_avg": load, "camera": camera_source,
            "cpu_run": cpu_run, "startup_s": startup_s, "costs": costs,
            "server": "in-process" if args.in_process else "own process",
            "llm_batch_threads": args.llm_batch_threads, "avatar_nice": args.avatar_nice}
    summary = summarise(args, result, meta, lips)
    if lips:  # the first START_MS of each reply: lips on the voice from the first word
        summary.update(start_lip_sync(lips))
    if lips:  # what the wire did to lip sync: repeated images, the sizes sent
        summary["lip_sync_r_fresh_images"] = pooled_lip_sync(lips, "curve_fresh")["lip_sync_r"]
        shares = [r["repeated_share"] for r in lips if "repeated_share" in r]
        summary["lip_sync_repeated_share"] = round(sum(shares) / len(shares), 3) if shares else None
        summary["lip_sync_widths"] = [r.get("widths") for r in lips]
    if lips and args.plot is not None:
        note = (f"{mode}, {args.model}, load avg {summary['load_avg_1m']}: "
                f"received over loopback websocket; jawOpen re-measured with FaceAnalyzer")
        plot_av_sync(lips, pooled_lip_sync(lips), args.plot, note)
        summary["plot"] = str(args.plot.relative_to(ROOT) if args.plot.is_absolute()
                              and ROOT in args.plot.parents else args.plot)
    # each stage's median per arm, face minus voice only: where the face's time goes
    summary["stages_ms_p50"] = stage_medians([t.row for t in result["turns"]])
    if args.no_hold_too:
        compared = hold_against_none(every_row, every_session,
                                     timeline.secs if timeline else None)
        summary["camera_hold_against_none"] = compared
        if args.hold_plot is not None:
            plot_hold(compared, args.hold_plot,
                      f"live.py --no-hold-too, {args.model}, load avg {summary['load_avg_1m']}: "
                      "the Python SDK's camera held while a reply is thought up, or not")
            summary["hold_plot"] = str(args.hold_plot.relative_to(ROOT)
                                       if args.hold_plot.is_absolute()
                                       and ROOT in args.hold_plot.parents else args.hold_plot)
    summary["rows"] = every_row
    if result.get("barge_ins"):
        summary["barge_in_rows"] = result["barge_ins"]
    return summary


def main() -> None:
    from pipelines.face.face_params import FacePacing

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=None,
                        help="questions per kind of session (default 8; 4 with --sessions)")
    parser.add_argument("--turns-per-session", type=int, default=4)
    parser.add_argument("--barge-ins", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=1,
                        help="> 1: that many concurrent video sessions")
    parser.add_argument("--soak", type=float, default=0.0,
                        help="seconds of one video session with a question every --turn-every")
    parser.add_argument("--turn-every", type=float, default=20.0)
    parser.add_argument("--model", default="qwen2.5-0.5b", choices=["qwen2.5-0.5b", "smollm2"])
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--llm-threads", type=int, default=1)
    parser.add_argument("--llm-batch-threads", type=int, default=1,
                        help="llama.cpp threads reading the prompt (the product's default: 1)")
    parser.add_argument("--first-phrase-words", type=int, default=None,
                        help="first TTS chunk's minimum words (default: TurnParams')")
    parser.add_argument("--avatar-nice", type=int, default=FacePacing().worker_nice,
                        help="the avatar worker thread's nice value (FacePacing)")
    parser.add_argument("--size", type=int, default=512, help="video size asked in hello")
    parser.add_argument("--no-adapt", action="store_true",
                        help="fixed video quality, no admission by capacity (ServerConfig)")
    parser.add_argument("--camera-photo", type=Path, default=None,
                        help="photo of the user's face (default: skimage's astronaut)")
    parser.add_argument("--no-camera", action="store_true")
    parser.add_argument("--draws-face", action="store_true",
                        help="video sessions' clients draw the face (protocol 2.3, as the "
                             "kiosk page does): motion frames, no JPEGs, no lip-sync figures")
    parser.add_argument("--no-hold-too", action="store_true",
                        help="default mode: also a face arm whose client sends every camera "
                             "frame (camera_hold.secs = 0), alternating with the held face "
                             "and voice only on the same questions (camera_hold_against_none)")
    parser.add_argument("--hold-plot", type=Path, default=None,
                        help="with --no-hold-too: its PNG (default "
                             "bench/results/live_camera_hold.png)")
    parser.add_argument("--tag", default=None, help="results file: bench/results/live_TAG.json")
    parser.add_argument("--plot", type=Path, default=None,
                        help="lip-sync PNG (default mode: bench/results/live_av_sync.png)")
    parser.add_argument("--no-save", action="store_true", help="print only (development)")
    parser.add_argument("--verbose", action="store_true", help="keep pipecat's DEBUG log")
    parser.add_argument("--in-process", action="store_true",
                        help="run the server in this process (shares the client's GIL)")
    parser.add_argument("--serve-port", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--against", default=None, metavar="REV",
                        help="also run the server of REV first, in the same run (before/after)")
    parser.add_argument("--after", default=None, metavar="REV",
                        help="with --against: the after side's server from REV, not this tree")
    parser.add_argument("--this", default=None, metavar="REV",
                        help="without --against: the server from REV's worktree, not the "
                             "working tree (which others may be editing)")
    args = parser.parse_args()
    if args.serve_port is not None:
        serve(args)
        return
    if args.after and not args.against:
        parser.error("--after needs --against")
    if args.this and args.against:
        parser.error("--this is for one side; with --against name the after side with --after")
    if args.turns is None:
        args.turns = 4 if args.sessions > 1 else 8
    if args.turns < 1 or args.sessions < 1 or args.soak < 0:
        parser.error("--turns and --sessions must be >= 1, --soak >= 0")
    if args.no_hold_too and (args.soak or args.sessions > 1):
        parser.error("--no-hold-too is for the default mode (alternating sessions)")
    if args.no_hold_too and args.hold_plot is None and not args.no_save:
        args.hold_plot = RESULTS / "live_camera_hold.png"
    if args.hold_plot is not None:
        args.hold_plot.parent.mkdir(parents=True, exist_ok=True)
    if args.plot is None and not args.soak and args.sessions == 1 and not args.no_save:
        args.plot = RESULTS / "live_av_sync.png"
    if args.plot is not None:
        args.plot.parent.mkdir(parents=True, exist_ok=True)
    summary = asyncio.run(against(args)) if args.against else asyncio.run(measure_this(args))
    if not args.no_save:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"live_{summary['tag']}.json").write_text(json.dumps(summary, indent=1))
    for part in (summary, summary.get("before", {}), summary.get("after", {})):
        part.pop("rows", None)
        part.pop("barge_in_rows", None)
    print(json.dumps(summary))


#: the figures `--against` puts side by side (before, after, after / before)
COMPARED = ("avatar_adds_ms_p50", "start_lip_sync_r", "start_av_offset_ms", "lip_sync_r", "lip_sync_r_fresh_images", "lip_sync_repeated_share", "av_offset_ms",
            "distinct_fps_per_session", "voice_to_voice_ms_p50", "reaction_latency_ms")


async def measure_in(args: argparse.Namespace, tree: Path | None) -> dict[str, Any]:
    """The chosen mode with the server of `tree` (a revision's worktree; None: this tree)."""
    from benchkit.revision_tree import path_with

    saved = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = path_with(tree)["PYTHONPATH"]  # the server child's
    try:
        return await measure(args, None if tree is None else live_script_in(tree))
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


async def measure_this(args: argparse.Namespace) -> dict[str, Any]:
    """One run: this tree's server, or with --this REV that revision's (its worktree,
    benchkit/revision_tree.py), its commit in the summary's `server_rev`."""
    if not args.this:
        return await measure(args)
    from benchkit.revision_tree import baseline_tree

    try:
        tree = baseline_tree(args.this)
    except ValueError as error:
        raise SystemExit(f"{Path(__file__).name}: error: {error}") from None
    summary = await measure_in(args, tree)
    summary["server_rev"] = tree.name
    return summary


async def against(args: argparse.Namespace) -> dict[str, Any]:
    """--against REV: the mode with REV's server, then with this tree's, one run."""
    from benchkit.revision_tree import baseline_tree

    try:
        trees = [baseline_tree(rev) if rev else None for rev in (args.against, args.after)]
    except ValueError as error:
        raise SystemExit(f"{Path(__file__).name}: error: {error}") from None
    plot, hold_plot = args.plot, args.hold_plot
    runs = []
    for tree in trees:
        args.plot = plot if tree is trees[-1] else None
        args.hold_plot = hold_plot if tree is trees[-1] else None
        runs.append(await measure_in(args, tree))
    before, after = runs
    compared = {}
    for key in COMPARED:
        b, a = before.get(key), after.get(key)
        ratio = round(a / b, 3) if isinstance(a, int | float) and isinstance(b, int | float) \
            and b else None
        compared[key] = {"before": b, "after": a, "ratio": ratio}
    stages = {side: run.get("stages_ms_p50", {}).get("face_minus_voice")
              for side, run in (("before", before), ("after", after))}
    return {"tag": after["tag"], "against": args.against, "after_rev": args.after or "this tree",
            "compared": compared, "face_minus_voice_stages_ms_p50": stages,
            "before": before, "after": after}


if __name__ == "__main__":
    main()
