"""Side-by-side videos of a held-out dialogue: the user, and the avatar reacting.

Why: metrics say whether motion statistics match; only a rendered video shows
whether the avatar *looks* like it listens and talks. The left panel renders the
user's real motion (on the mirrored portrait, so the two faces are told apart),
the right panel renders what the streaming generator produced for the avatar
from the avatar's speech plus the user's audio and motion. The sound track mixes
both voices. A PNG contact sheet of the same frames is written beside the video.

Motion is transferred relative to each synthetic speaker's own neutral
(`reference_motion` in the corpus) onto the portrait's reference, exactly as
retargeting does, so the portrait keeps its own face at rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from tqdm import tqdm

from avatar.evaluate import Session
from avatar.generator.streaming import StreamingGenerator
from avatar.motion_filter import MotionFilter
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.portrait_calibration import calibration_for
from avatar.retarget import transfer_frame
from avatar.video_io import VideoWriter

FPS = 25


@dataclass(frozen=True)
class DialogueVideo:
    """Where the video and its contact sheet were written, and their length."""

    video: Path
    sheet: Path
    frames: int


def generate_avatar_motion(session: Session, checkpoint: Path | None = None,
                           seed: int = 0, *, smooth: bool = True) -> np.ndarray:
    """Stream the session through the generator block by block; (T, 58) motion.

    The engine starts with `latency_frames` pre-roll frames of look-ahead, so its
    output runs that many frames behind its input (the live face service delays the
    audio by as much). Here the pre-roll frames are dropped so frame k of the
    result belongs to frame k of the audio; the last frames of a clip, which would
    need audio beyond its end, hold the final generated frame. With `smooth`, the
    causal One-Euro filter of `avatar.motion_filter` removes the generator's
    frame-to-frame jitter, as the live node does.
    """
    engine = StreamingGenerator.from_checkpoint(session.reference, checkpoint, seed=seed)
    out: list[np.ndarray] = []
    step = engine.block_frames
    for start in range(0, len(session.avatar_audio), step):
        stop = start + step
        out.append(engine.step(session.avatar_audio[start:stop], session.user_audio[start:stop],
                               session.user_motion[start:stop]))
    motion = np.concatenate(out) if out else np.zeros((0, session.reference.shape[0]))
    motion = motion[engine.latency_frames:]
    if smooth:
        motion = MotionFilter()(motion)
    total = len(session.avatar_audio)
    if len(motion) < total:
        pad = np.repeat(motion[-1:], total - len(motion), axis=0)
        motion = np.concatenate([motion, pad])
    return motion[:total].astype(np.float32)


def _label(frame: np.ndarray, text: str, speaking: bool) -> np.ndarray:
    """Name the panel; a green bar shows who is speaking at this frame."""
    frame = frame.copy()
    cv2.rectangle(frame, (0, 0), (frame.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(frame, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    if speaking:
        cv2.rectangle(frame, (0, frame.shape[0] - 6), (frame.shape[1], frame.shape[0]),
                      (40, 200, 60), -1)
    return frame


def render_dialogue_video(
    session: Session, avatar_motion: np.ndarray, portrait: Portrait, out: Path,
    *, size: int = 256, sheet_columns: int = 6,
) -> DialogueVideo:
    """Render user | avatar side by side with both voices; also a PNG contact sheet."""
    if len(avatar_motion) != len(session.user_motion):
        raise ValueError(
            f"avatar motion has {len(avatar_motion)} frames, the session {len(session.user_motion)}"
        )
    crop_size: Literal[256, 512] = 512 if portrait.size >= 512 else 256
    mirrored = Portrait.load(np.ascontiguousarray(portrait.image[:, ::-1]), size=crop_size)
    user_renderer = PortraitRenderer(mirrored, size=size, calibration=calibration_for(mirrored))
    avatar_renderer = PortraitRenderer(portrait, size=size, calibration=calibration_for(portrait))
    user_speaking = _speaking_from_audio(session.user_pcm, len(avatar_motion))
    samples = len(avatar_motion) * 640
    mix = _pad(session.avatar_pcm, samples) + _pad(session.user_pcm, samples)
    mix /= max(1.0, float(np.abs(mix).max()) / 0.95)
    out = Path(out)
    sheet_every = max(1, len(avatar_motion) // (sheet_columns * 2))
    sheet_frames: list[np.ndarray] = []
    with VideoWriter(out, FPS, (2 * size, size), audio=mix, sample_rate=16_000) as writer:
        for k in tqdm(range(len(avatar_motion)), desc=f"render {out.name}", unit="frame"):
            user = user_renderer.render(
                transfer_frame(session.user_motion[k], session.reference,
                               mirrored.reference_motion))
            avatar = avatar_renderer.render(
                transfer_frame(avatar_motion[k], session.reference, portrait.reference_motion))
            frame = np.concatenate([
                _label(user, "user (real motion)", bool(user_speaking[k])),
                _label(avatar, "avatar (generated)", bool(session.avatar_speaking[k])),
            ], axis=1)
            writer.write(frame)
            if k % sheet_every == 0 and len(sheet_frames) < sheet_columns * 2:
                sheet_frames.append(frame)
    sheet = out.with_suffix(".png")
    _write_sheet(sheet_frames, sheet, columns=2)
    return DialogueVideo(video=out, sheet=sheet, frames=len(avatar_motion))


def _pad(pcm: np.ndarray, samples: int) -> np.ndarray:
    out = np.zeros(samples, dtype=np.float32)
    out[: min(samples, len(pcm))] = pcm[:samples]
    return out


def _speaking_from_audio(pcm: np.ndarray, frames: int) -> np.ndarray:
    """Per-frame 'is talking' from energy (the corpus keeps it only for the avatar)."""
    pcm = _pad(pcm, frames * 640).reshape(frames, 640)
    rms = np.sqrt(np.mean(pcm**2, axis=1) + 1e-12)
    return 20 * np.log10(rms) > -40


def _write_sheet(frames: list[np.ndarray], path: Path, columns: int) -> None:
    """Frames in a grid (left to right, top to bottom in time), as one PNG."""
    if not frames:
        return
    rows = [np.concatenate(frames[i:i + columns] + [np.zeros_like(frames[0])] *
                           (columns - len(frames[i:i + columns])), axis=1)
            for i in range(0, len(frames), columns)]
    grid = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
