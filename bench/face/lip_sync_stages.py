"""Figure: bench/results/lip_sync_stages.json: where lip sync is lost between the
generator offline and the face on the wire, stage by stage, on the same reply audio.

The same kiosk replies (bundled piper voice without its sampled noise, so every run
speaks the same samples; 22,050 Hz, sentence by sentence as the TTS service emits them) go through one live `AvatarSession` (shipped checkpoint,
default portrait, a LocalFace: the product's code path in this process), with 1 s of
listening before each reply and after it. The jaw is taken at each stage:

- offline: the generator's block loop on features of the whole played timeline,
  resampled to 16 kHz at once (`to_16k`), look-ahead rows always the true future
  (what avatar/evaluate.py does for the offline figure);
- streamed: the session's own motion (`next_block`: the reply queue, the streaming
  resampler, the causal featurizer, provisional look-ahead rows), before the filter;
- filtered_as_listening: the same after the causal One-Euro filter with every frame
  filtered as a listening one (the session before the speech setting: what the
  renderer drew);
- filtered: with the frames that carry the reply filtered as speaking
  (`MotionFilter(motion, speaking)`);
- voice_jaw: the voice's loudness blended into the speaking jaw (avatar/live/
  voice_jaw.py, `--voice-jaw` weight), then filtered as `filtered`: the session's
  motion with its defaults, what the renderer draws now;
- rendered_SIZE: the voice_jaw motion drawn (`session.render`, JPEG q80 as sent)
  and jawOpen re-measured by the landmarker (FaceAnalyzer, video mode), exactly as
  bench/live/live.py measures what the client received; at each `--sizes`; and
  rendered_as_listening_512: the filtered_as_listening motion drawn the same way
  (the face on the wire before).

Each stage is scored two ways:
- live: benchkit/av_sync.py's `lip_sync` (bench/live/live.py's `lip_sync_r`): linear RMS
  of each frame's played audio against jawOpen over the reply's slots (first to
  last non-silent frame), best lag in +-400 ms, pooled over replies;
- offline: avatar/metrics.py's `lip_sync` (avatar/evaluate.py's `lipsync_corr`):
  the cube-root-compressed envelope against jawOpen over the whole timeline,
  listening included.
So a drop between two stages is what that stage costs, and the two columns of one
stage show what the metric's definition alone makes of the same jaw.

`--pacing ahead`: the reply's sentences are queued before its first frame (the TTS
runs ahead of playback, as measured live); `sentences`: each sentence is queued only
once the previous one has played out (the queue runs dry between sentences, the
look-ahead sees silence there: the worst case of a slow TTS).

The stages' figures depend on no clock (the same samples, the same seeds): the
load average is recorded, not needed quiet.

    .venv/bin/python bench/face/lip_sync_stages.py [--replies 8] [--sizes 512 256]
        [--pacing ahead] [--voice-jaw 0.3] [--tag NAME]
    # the 8 replies the kiosk LLM gave in a bench/live/live.py run:
    .venv/bin/python bench/face/lip_sync_stages.py --texts bench/face/lip_sync_live_texts.json \
        --sizes 512 --tag live_texts
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from avatar.audio_features import compute_features, to_16k
from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
from avatar.generator.streaming import StreamingGenerator
from avatar.live.session import AvatarSession
from avatar.live.session_types import FRAME_US, PlannedFrame, SessionOptions
from avatar.live.voice_jaw import VoiceJaw
from avatar.metrics import audio_envelope
from avatar.metrics import lip_sync as offline_lip_sync
from avatar.motion import column_index
from avatar.motion_filter import MotionFilter
from avatar.portrait import Portrait
from benchkit.av_sync import lip_sync, measured_jaw, pooled_lip_sync
from benchkit.live_client import MAX_LAG_FRAMES
from benchkit.live_turns import TurnWindow
from benchkit.paths import RESULTS
from benchkit.speech import load_test_voice

#: Kiosk answers of the lengths the kiosk LLM gives (one to three sentences).
REPLIES = (
    "We open at nine in the morning on Saturday and close at six in the evening.",
    "You can park for free in the lot behind the store. There is also a covered garage "
    "across the street, free for the first two hours.",
    "Yes, we accept Apple Pay at every register, as well as Google Pay and all major cards.",
    "The restrooms are at the back of the store, next to the customer service desk.",
    "You have thirty days to return most items, as long as you keep the receipt. "
    "Electronics have fourteen days.",
    "Delivery is free on orders over fifty dollars. Below that, it costs five ninety-nine.",
    "On Sunday we close at five in the afternoon. On holidays the hours may change, "
    "so please check our website.",
    "Yes, we sell gift cards at the front desk, in any amount from ten to five hundred "
    "dollars.",
)
IDLE_FRAMES = 25  # 1 s of listening before each reply and after the last
TTS_CHUNK = 1024  # samples a TTS audio frame carries (pipecat's frames are of this order)
JAW = column_index("jawOpen")


@dataclass
class Timeline:
    """One session's frames and where each reply's audio lies in them."""

    planned: list[PlannedFrame]  # the session's frames, filter off (stage "streamed")
    rate: int
    replies: list[tuple[int, int]]  # (first, last) frame with reply audio, per reply

    @property
    def audio(self) -> np.ndarray:
        """The played timeline, int16 at the output rate."""
        return np.frombuffer(b"".join(f.audio for f in self.planned), np.int16)


def speak(texts: tuple[str, ...]) -> tuple[list[list[np.ndarray]], int]:
    """Each reply as the TTS service emits it: a list of int16 sentences; the rate.
    Without piper's sampled noise (benchkit/speech.py): the same audio every run."""
    from piper import SynthesisConfig

    voice = load_test_voice()
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    replies = [[np.asarray(chunk.audio_int16_array, np.int16).reshape(-1)
                for chunk in voice.synthesize(text, syn_config=config)] for text in texts]
    return replies, int(voice.config.sample_rate)


def run_session(session: AvatarSession, replies: list[list[np.ndarray]], rate: int,
                pacing: str) -> Timeline:
    """Play the replies through `session` block by block, as the face clock does."""
    planned: list[PlannedFrame] = []
    spans: list[tuple[int, int]] = []
    block = session.block_frames

    def blocks(count: int) -> None:
        for _ in range(count):
            planned.extend(session.next_block())

    def push(sentence: np.ndarray) -> None:
        for i in range(0, len(sentence), TTS_CHUNK):
            session.push_avatar_audio(sentence[i:i + TTS_CHUNK], rate)
        session.end_of_reply()  # TTSStoppedFrame: each sentence is a TTS run

    for sentences in replies:
        blocks(-(-IDLE_FRAMES // block))
        first = len(planned)
        pending = list(sentences)
        if pacing == "ahead":
            for sentence in pending:
                push(sentence)
            pending = []
        while pending or session.reply_pending_secs > 0:
            if pending and session.reply_pending_secs < block * FRAME_US / 1e6:
                push(pending.pop(0))
            blocks(1)
        voiced = [i for i in range(first, len(planned)) if planned[i].reply_samples]
        spans.append((voiced[0], voiced[-1]))
    blocks(-(-IDLE_FRAMES // block))
    return Timeline(planned, rate, spans)


def offline_motion(timeline: Timeline, engine: StreamingGenerator, user_row: np.ndarray,
                   reference: np.ndarray) -> np.ndarray:
    """The generator's block loop on the whole timeline's features (look-ahead: the
    true future), with the listening user the session saw (silence, no face)."""
    audio = compute_features(to_16k(timeline.audio, timeline.rate))
    n, L = engine.block_frames, engine.cfg.lookahead
    frames = len(timeline.planned)
    audio = np.concatenate([audio, np.zeros((frames + n + L - len(audio), audio.shape[1]),
                                            np.float32)])
    user_audio = np.tile(user_row, (n + L, 1)).astype(np.float32)
    user_motion = np.tile(reference, (n + L, 1)).astype(np.float32)
    absent = np.zeros(n + L, bool)
    out = [engine.step_window(audio[s:s + n + L], user_audio, user_motion, absent)
           for s in range(0, frames, n)]
    return np.concatenate(out)[:frames]


def windows(timeline: Timeline) -> list[TurnWindow]:
    """Each reply as bench/live/live.py keeps it: its frames' audio from 20 slots before
    the first non-silent frame to 20 after the last."""
    out = []
    for first, last in timeline.replies:
        lo, hi = max(0, first - 2 * MAX_LAG_FRAMES), min(len(timeline.planned),
                                                           last + 2 * MAX_LAG_FRAMES + 1)
        frames = timeline.planned[lo:hi]
        loud = [f.pts_us for f in frames if any(np.frombuffer(f.audio, np.int16))]
        out.append(TurnWindow(audio=[(f.pts_us, f.audio) for f in frames], video=[],
                              first_loud_pts=loud[0], last_loud_pts=loud[-1],
                              rate=timeline.rate))
    return out


def score(timeline: Timeline, jaw: np.ndarray, per_reply_jaw: list[tuple[int, np.ndarray]]
          | None = None) -> dict[str, Any]:
    """A stage's jaw (per frame of the timeline) scored the live way and the offline way."""
    lips = []
    for k, window in enumerate(windows(timeline)):
        if per_reply_jaw is not None:
            track = per_reply_jaw[k]
        else:
            base = window.audio[0][0]
            i0 = base // FRAME_US
            track = (base, jaw[i0:i0 + len(window.audio)])
        lips.append(lip_sync(window, track))
    pooled = pooled_lip_sync(lips)
    out: dict[str, Any] = {
        "lip_sync_r": pooled["lip_sync_r"], "av_offset_ms": pooled["av_offset_ms"],
        "lip_sync_r_at_0": pooled["lip_sync_r_at_0"],
        "per_reply_r": [r.get("r") for r in lips],
        "per_reply_lag_ms": [r.get("lag_ms") for r in lips]}
    if per_reply_jaw is None:
        pcm16 = to_16k(timeline.audio, timeline.rate)
        env = audio_envelope(pcm16)
        n = min(len(env), len(jaw))
        offline = offline_lip_sync(jaw[:n], env[:n])
        out.update({"offline_metric_r": round(offline.correlation, 3),
                    "offline_metric_lag_ms": round(offline.lag_ms, 1)})
        speaking = np.zeros(len(jaw), bool)
        for first, last in timeline.replies:
            speaking[first:last + 1] = True
        out["jaw_mean_speaking"] = round(float(np.mean(jaw[speaking])), 4)
        out["jaw_std_speaking"] = round(float(np.std(jaw[speaking])), 4)
        out["jaw_mean_listening"] = round(float(np.mean(jaw[~speaking])), 4)
    else:
        values = np.concatenate([t[1] for t in per_reply_jaw])
        out["jaw_mean_speaking"] = round(float(np.nanmean(values)), 4)
        out["jaw_std_speaking"] = round(float(np.nanstd(values)), 4)
        out["frames_without_face"] = int(sum(r.get("frames_without_face", 0) for r in lips))
    return out


def travel(jaw: np.ndarray, speaking: np.ndarray) -> float:
    """Mean |jawOpen change| a frame between two speaking frames (jitter and articulation)."""
    both = speaking[1:] & speaking[:-1]
    return round(float(np.abs(np.diff(jaw))[both].mean()), 4)


def rendered_jaw(session: AvatarSession, timeline: Timeline, motion: np.ndarray, size: int,
                 mode: str) -> list[tuple[int, np.ndarray]]:
    """Each reply window's frames drawn at `size` with `motion`, sent as JPEG, and
    jawOpen re-measured on them by the landmarker (per reply: base pts, jaw per slot)."""
    session.set_size(size)
    out = []
    for window in windows(timeline):
        base = window.audio[0][0]
        i0 = base // FRAME_US
        video = []
        for k in range(len(window.audio)):
            frame = replace(timeline.planned[i0 + k], motion=motion[i0 + k])
            drawn = session.render(frame)
            assert drawn.jpeg is not None
            video.append((drawn.pts_us, drawn.jpeg))
        base_pts, jaw, _ = measured_jaw(replace(window, video=video), mode)
        out.append((base_pts, jaw))
    return out


def read_back(filtered: np.ndarray, rendered: list[tuple[int, np.ndarray]]) -> dict[str, float]:
    """How the landmarker reads the drawn jaw back: r and the gain (slope) of the
    re-measured jawOpen on the drawn one, over the reply windows."""
    drawn, measured = [], []
    for base, jaw in rendered:
        i0 = base // FRAME_US
        drawn.append(filtered[i0:i0 + len(jaw), JAW])
        measured.append(jaw)
    x, y = np.concatenate(drawn), np.concatenate(measured)
    ok = np.isfinite(y)
    slope, intercept = np.polyfit(x[ok], y[ok], 1)
    return {"r_drawn_vs_measured": round(float(np.corrcoef(x[ok], y[ok])[0, 1]), 3),
            "gain": round(float(slope), 3), "offset": round(float(intercept), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replies", type=int, default=len(REPLIES))
    parser.add_argument("--texts", type=Path, default=None,
                        help="a JSON list of reply texts instead of REPLIES (e.g. the "
                             "replies of a bench/live/live.py run)")
    parser.add_argument("--sizes", type=int, nargs="*", default=[512, 256])
    parser.add_argument("--pacing", choices=("ahead", "sentences"), default="ahead")
    parser.add_argument("--landmarker-mode", choices=("video", "image"), default="video")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--voice-jaw", type=float, default=SessionOptions().voice_jaw,
                        help="the voice's share of the speaking jaw (voice_jaw stage)")
    parser.add_argument("--tag", default=None, help="bench/results/lip_sync_stages_TAG.json")
    args = parser.parse_args()
    texts = REPLIES if args.texts is None else tuple(json.loads(args.texts.read_text()))
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        parser.error(f"--texts {args.texts} must hold a JSON list of non-empty strings")
    if not 1 <= args.replies <= len(texts):
        parser.error(f"--replies must be 1..{len(texts)}")
    if any(not 256 <= s <= 512 for s in args.sizes):
        parser.error("--sizes must be 256..512")
    import torch

    torch.set_num_threads(1)
    load = [round(v, 2) for v in os.getloadavg()]
    started = time.monotonic()
    replies, rate = speak(texts[:args.replies])
    ckpt = load_generator(DEFAULT_CHECKPOINT)
    portrait = Portrait.default(512)
    session = AvatarSession(portrait, ckpt, output_rate=rate,
                            options=SessionOptions(size=max(args.sizes, default=512),
                                                   smooth=False, voice_jaw=0.0,
                                                   seed=args.seed))
    timeline = run_session(session, replies, rate, args.pacing)
    streamed = np.stack([f.motion for f in timeline.planned])
    speaking = np.array([f.reply_samples > 0 for f in timeline.planned])
    filtered = MotionFilter(fps=25)(streamed, speaking)
    as_listening = MotionFilter(fps=25)(streamed)
    voiced = streamed.copy()  # as the session does with its defaults, block by block
    pcm = np.stack([np.frombuffer(f.audio, np.int16) for f in timeline.planned])
    voiced[:, JAW] = VoiceJaw(args.voice_jaw, rate)(streamed[:, JAW], pcm, speaking)
    voiced = MotionFilter(fps=25)(voiced, speaking)
    engine = StreamingGenerator.from_loaded(ckpt, portrait.reference_motion, seed=args.seed)
    user_row = compute_features(np.zeros(640, np.float32))[0]
    offline = offline_motion(timeline, engine, user_row, portrait.reference_motion)
    stages: dict[str, Any] = {
        "offline": score(timeline, offline[:, JAW]),
        "streamed": score(timeline, streamed[:, JAW]),
        "filtered_as_listening": score(timeline, as_listening[:, JAW]),
        "filtered": score(timeline, filtered[:, JAW]),
        "voice_jaw": score(timeline, voiced[:, JAW]),
    }
    for name, track in (("streamed", streamed), ("filtered_as_listening", as_listening),
                        ("filtered", filtered), ("voice_jaw", voiced)):
        stages[name]["jaw_travel_per_frame_speaking"] = travel(track[:, JAW], speaking)
    drawn = [(f"rendered_{size}", voiced, size) for size in args.sizes]
    if args.sizes:
        drawn.append(("rendered_as_listening_512", as_listening, 512))
    for name, track, size in tqdm(drawn, desc="render + landmarker", file=sys.stderr):
        rendered = rendered_jaw(session, timeline, track, size, args.landmarker_mode)
        stages[name] = score(timeline, track[:, JAW], rendered)
        stages[name]["read_back"] = read_back(track, rendered)
    session.close()
    diff = np.abs(offline[:, JAW] - streamed[:, JAW])
    result = {
        "bench": "lip_sync_stages", "load_avg_start": load,
        "load_avg_end": [round(v, 2) for v in os.getloadavg()],
        "replies": args.replies, "pacing": args.pacing, "rate": rate,
        "voice_jaw": args.voice_jaw, "texts": list(texts[:args.replies]),
        "landmarker_mode": args.landmarker_mode, "frames": len(timeline.planned),
        "reply_secs": round(sum(sum(len(s) for s in r) for r in replies) / rate, 1),
        "streamed_vs_offline_jaw_max_abs_diff": round(float(diff.max()), 4),
        "stages": stages, "secs": round(time.monotonic() - started, 1),
        "table": {name: (s["lip_sync_r"], s.get("offline_metric_r")) for name, s in stages.items()},
    }
    tag = f"_{args.tag}" if args.tag else ""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"lip_sync_stages{tag}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
