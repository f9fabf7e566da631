"""Turn real conversation videos into corpus-format dialogues (same DyadicDataset).

Input folder, two layouts (both may be mixed in one folder):
- paired per-speaker files: `<clip>_a.<ext>` and `<clip>_b.<ext>`, each with its
  own face and its own microphone audio (a video call recorded per participant);
- side by side: any other video: the left half shows person a, the right half
  person b. Audio: a stereo track whose channels differ (one mic per side) is
  split left -> a, right -> b; a mono mix is split by WHO MOVES THEIR MOUTH
  (visual diarisation: in each 40 ms frame the mix goes to the person whose
  jaw moves more), which loses overlapping speech but keeps each turn on the
  right channel. The choice is recorded in meta.json ("audio_split").
Output: <out>/<split>/<clip>/{audio_a.wav, audio_b.wav, motion_a.npz, motion_b.npz,
meta.json}, 16 kHz and 25 fps whatever the source rates (motion resampled
linearly in time, never across frames without a face). A clip is done when its
meta.json exists, so re-running resumes; it is written through a temp dir.
Reference motion per role: the median of the frames with a face where that
person is silent (their resting face), else of all frames with a face.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from tqdm import tqdm

from avatar.audio_features import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME, to_16k
from avatar.corpus.signals import frame_energy_db, vad
from avatar.face_analysis import FaceAnalyzer, analyze_video, smooth_track
from avatar.media_utils import resample_track, write_wav
from avatar.motion import MOTION_DIM, MotionTrack, column_index, neutral_frame
from avatar.video_io import probe_video, read_audio, read_video

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v")
_JAW = column_index("jawOpen")


@dataclass(frozen=True)
class ClipSource:
    """One conversation to ingest: a side-by-side video or a pair of per-speaker videos."""

    clip_id: str
    layout: str  # "side_by_side" | "paired"
    paths: tuple[Path, ...]


def find_clips(directory: str | Path) -> list[ClipSource]:
    """Conversations in a folder (sorted); raises if the folder has no video at all."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"not a folder: {directory}")
    videos = sorted(p for p in directory.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS)
    if not videos:
        raise FileNotFoundError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) in {directory}")
    by_stem = {p.stem: p for p in videos}
    clips: list[ClipSource] = []
    used: set[str] = set()
    for stem, path in by_stem.items():
        if stem.endswith("_a") and stem[:-2] + "_b" in by_stem:
            base = stem[:-2]
            clips.append(ClipSource(base, "paired", (path, by_stem[base + "_b"])))
            used.update({stem, base + "_b"})
    for stem, path in by_stem.items():
        if stem not in used:
            clips.append(ClipSource(stem, "side_by_side", (path,)))
    return sorted(clips, key=lambda c: c.clip_id)


def _analyse_halves(path: Path, smoothing: float, progress: bool) -> tuple[MotionTrack, ...]:
    """Motion of the left and right halves of every frame, one analyzer per half."""
    frames, fps, _ = read_video(path, audio=False)
    iterator: Any = frames
    if progress:
        iterator = tqdm(frames, total=probe_video(path).frame_count, unit="frame",
                        desc=f"faces {path.name}", leave=False)
    rows: list[list[np.ndarray]] = [[], []]
    found: list[list[bool]] = [[], []]
    with FaceAnalyzer(mode="video", num_faces=1) as left, \
            FaceAnalyzer(mode="video", num_faces=1) as right:
        for index, frame in enumerate(iterator):
            half = frame.shape[1] // 2
            ts = int(round(index * 1000.0 / fps))
            for side, (analyzer, crop) in enumerate(
                    ((left, frame[:, :half]), (right, frame[:, half: 2 * half]))):
                ts_side = max(ts, analyzer._last_timestamp_ms + 1)
                m = analyzer.analyze(np.ascontiguousarray(crop), ts_side)
                rows[side].append(neutral_frame() if m is None else m.motion)
                found[side].append(m is not None)
    tracks = []
    for side in range(2):
        data = np.stack(rows[side]) if rows[side] else np.zeros((0, MOTION_DIM), np.float32)
        track = MotionTrack(data, fps=fps, found=np.array(found[side], bool))
        tracks.append(smooth_track(track, smoothing))
    return tuple(tracks)


def _read_channels(path: Path) -> tuple[np.ndarray, int] | None:
    """All audio channels as (samples, channels) float32 at the file's rate; None if silent."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        channels = max(1, int(stream.codec_context.channels or 1))
        layout = "stereo" if channels >= 2 else "mono"
        rate = int(stream.codec_context.sample_rate or stream.rate)
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        chunks: list[np.ndarray] = []
        for frame in container.decode(stream):
            chunks.extend(out.to_ndarray() for out in resampler.resample(frame))
        chunks.extend(out.to_ndarray() for out in resampler.resample(None))
    if not chunks:
        return None
    # packed "flt" stereo comes as (1, samples * 2) interleaved
    audio = np.concatenate([c.reshape(-1) for c in chunks]).astype(np.float32)
    n_ch = 2 if layout == "stereo" else 1
    return audio.reshape(-1, n_ch), rate


def _mouth_activity(track: MotionTrack) -> np.ndarray:
    """How much the jaw moves around each frame (std over +-4 frames; 0 without a face)."""
    jaw = np.where(track.found, track.data[:, _JAW], np.nan)
    pad = np.pad(jaw, 4, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, 9)
    with np.errstate(all="ignore"):
        act = np.nanstd(windows, axis=1) + 0.3 * np.nan_to_num(jaw)
    return np.nan_to_num(act)


def _split_mix(mix: np.ndarray, tracks: tuple[MotionTrack, MotionTrack],
               n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """Give each 40 ms of a mono mix to the person whose mouth moves more (10 ms fades)."""
    act_a, act_b = _mouth_activity(tracks[0])[:n_frames], _mouth_activity(tracks[1])[:n_frames]
    owner_a = (act_a >= act_b).astype(np.float32)
    # majority over +-2 frames: a turn does not flip owner for one frame
    owner_a = (np.convolve(owner_a, np.ones(5) / 5, mode="same") >= 0.5).astype(np.float32)
    step = np.repeat(owner_a, SAMPLES_PER_FRAME)
    gain = np.convolve(step, np.ones(160) / 160, mode="same")[: len(mix)]
    if len(gain) < len(mix):
        gain = np.pad(gain, (0, len(mix) - len(gain)), mode="edge")
    gain = gain.astype(np.float32)
    return mix * gain, mix * (1.0 - gain)


def _reference(track: MotionTrack, speaking: np.ndarray) -> np.ndarray:
    n = min(len(track), len(speaking))
    quiet = track.found[:n] & ~speaking[:n]
    chosen = track.data[:n][quiet] if quiet.sum() >= 10 else track.data[track.found]
    if len(chosen) == 0:
        return neutral_frame()
    return np.median(chosen, axis=0).astype(np.float32)


def ingest_clip(clip: ClipSource, out_root: str | Path, split: str = "train",
                smoothing: float = 0.3, progress: bool = False) -> dict[str, Any]:
    """Analyse one conversation and write it in the corpus layout; returns its meta."""
    out_dir = Path(out_root) / split / clip.clip_id
    audio16: list[np.ndarray]
    if clip.layout == "paired":
        tracks = tuple(analyze_video(p, smoothing=smoothing, progress=progress)
                       for p in clip.paths)
        audio16 = []
        for p in clip.paths:
            sound = read_audio(p)
            if sound is None:
                raise ValueError(f"{p} has no audio track; paired files need one mic each")
            audio16.append(to_16k(sound[0], sound[1]))
        audio_split = "per_file"
    else:
        tracks = _analyse_halves(clip.paths[0], smoothing, progress)
        sound = _read_channels(clip.paths[0])
        if sound is None:
            raise ValueError(f"{clip.paths[0]} has no audio track")
        pcm, rate = sound
        audio_split = "mix_by_mouth"
        if pcm.shape[1] == 2:
            left, right = to_16k(pcm[:, 0], rate), to_16k(pcm[:, 1], rate)
            el, er = frame_energy_db(left), frame_energy_db(right)
            if np.abs(el - er).mean() > 6.0:  # the channels are different microphones
                audio16, audio_split = [left, right], "stereo_channels"
        if audio_split == "mix_by_mouth":
            mix = to_16k(pcm.mean(axis=1), rate)
            n_mix = len(mix) // SAMPLES_PER_FRAME
            rs = tuple(resample_track(t, n_mix) for t in tracks)
            audio16 = list(_split_mix(mix[: n_mix * SAMPLES_PER_FRAME], (rs[0], rs[1]), n_mix))
    if not all(len(t) for t in tracks):
        raise ValueError(f"{clip.clip_id}: a video has no frames")
    durations = [len(t) / t.fps for t in tracks] + [len(a) / SAMPLE_RATE for a in audio16]
    n_frames = int(min(durations) * FPS)
    if n_frames < 1:
        raise ValueError(f"{clip.clip_id}: shorter than one 40 ms frame")
    tracks25 = [resample_track(t, n_frames) for t in tracks]
    audio16 = [a[: n_frames * SAMPLES_PER_FRAME].astype(np.float32) for a in audio16]
    speaking = [vad(frame_energy_db(a)) for a in audio16]

    meta: dict[str, Any] = {
        "dialogue_id": clip.clip_id, "source": [str(p) for p in clip.paths],
        "layout": clip.layout, "audio_split": audio_split, "split": split,
        "fps": FPS, "sample_rate": SAMPLE_RATE, "frames": n_frames,
        "duration_s": round(n_frames / FPS, 3), "source_fps": [t.fps for t in tracks],
        "found_ratio": {r: round(float(t.found.mean()), 4) for r, t in zip("ab", tracks25,
                                                                            strict=True)},
        "reference_motion": {r: _reference(t, s).round(5).tolist()
                             for r, t, s in zip("ab", tracks25, speaking, strict=True)},
        "smoothing": smoothing, "synthetic": False,
    }
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for role, track, pcm16 in zip("ab", tracks25, audio16, strict=True):
        write_wav(tmp / f"audio_{role}.wav", pcm16)
        track.save(tmp / f"motion_{role}.npz")
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return meta


def ingest_directory(directory: str | Path, out_root: str | Path, split: str = "train",
                     smoothing: float = 0.3, progress: bool = False,
                     ) -> Iterator[tuple[ClipSource, str]]:
    """Ingest every clip not yet done; yields (clip, "done" | "skipped" | "error: ...")."""
    for clip in find_clips(directory):
        if (Path(out_root) / split / clip.clip_id / "meta.json").is_file():
            yield clip, "skipped"
            continue
        try:
            ingest_clip(clip, out_root, split, smoothing, progress)
        except ValueError as error:  # one bad clip must not stop a long batch
            yield clip, f"error: {error}"
            continue
        yield clip, "done"
