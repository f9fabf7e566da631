"""The two passes of an offline exchange: generate every block, then render each frame.

Why two passes: `VideoWriter` muxes audio that is known up front, and the avatar's
audio is known only once every block has been generated. Planned frames (motion +
40 ms of audio) are tiny, so the first pass keeps them all; the second renders each
with `session.render` and encodes it, so memory stays flat for clips of any length.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import soxr
from tqdm import tqdm

from avatar.live import AvatarSession, CameraMotion, PlannedFrame
from avatar.video_io import VideoWriter
from pipelines.offline.clip import FPS, UserClip, clip_frames, for_analysis
from pipelines.offline.contact_sheet import spread, thumbnail, write_sheet
from pipelines.offline.exchange import ConverseOptions
from pipelines.offline.reply import Reply


def generate_blocks(session: AvatarSession, clip: UserClip, reply: Reply, reply_frame: int,
              total: int, options: ConverseOptions,
              ) -> tuple[list[PlannedFrame], np.ndarray, CameraMotion]:
    """Pass 1: every block, fed as the live node feeds it (pipelines.offline.converse
    says how): the reply's audio at `reply_frame`, the clip's voice and measured face."""
    camera = CameraMotion(skip_still=False)  # offline: every frame measured
    planned: list[PlannedFrame] = []
    user_face = np.zeros(total, bool)
    frames = clip_frames(clip.path, clip.info.fps, total)
    motion: np.ndarray | None = None
    analysed_index = -1
    block = session.block_frames
    try:
        with tqdm(total=total, desc="listen + reply", unit="frame",
                  disable=not options.progress) as bar:
            for start in range(0, total, block):
                if start == reply_frame:
                    session.push_avatar_audio(reply.pcm, reply.sample_rate)
                    session.end_of_reply()
                for k in range(start, start + block):
                    index, rgb = next(frames)
                    if index != analysed_index:  # a new clip frame: measure it
                        motion = camera.analyze_rgb(for_analysis(rgb), k * 40)
                        analysed_index = index
                    user_face[k] = motion is not None
                    session.push_user_motion(motion)
                    session.push_user_audio(clip.audio_frame(k), clip.sample_rate)
                planned.extend(session.next_block())
                bar.update(block)
    finally:
        frames.close()
        camera.close()
    return planned, user_face, camera


def mix_voices(clip: UserClip, planned: list[PlannedFrame], rate: int) -> np.ndarray:
    """Both voices on one track at the session's output rate: the user's where it
    happened in the clip, the avatar's exactly as its frames carried it."""
    avatar = np.frombuffer(b"".join(p.audio for p in planned), np.int16).astype(np.float32)
    avatar /= 32768.0
    user = clip.audio
    if clip.sample_rate != rate:
        user = np.asarray(soxr.resample(user, clip.sample_rate, rate), np.float32)
    mix = avatar.copy()
    length = min(len(user), len(mix))
    mix[:length] += user[:length]
    peak = float(np.abs(mix).max()) if len(mix) else 0.0
    return mix / (peak / 0.95) if peak > 0.95 else mix


def render_video(session: AvatarSession, clip: UserClip, planned: list[PlannedFrame],
            mix: np.ndarray, out: Path, options: ConverseOptions, speaking: np.ndarray,
            user_speaking: np.ndarray, reply: Reply) -> Path:
    """Pass 2: render each planned frame, compose, encode; collect the sheet's frames."""
    size = options.size
    total = len(planned)
    user_width = 0
    if options.side_by_side:
        width, height = clip.info.width, clip.info.height
        user_width = max(2, 2 * round(width * size / height / 2))
    picks = {
        "listening": spread(np.flatnonzero(user_speaking & ~speaking), options.sheet_columns),
        "speaking": spread(np.flatnonzero(speaking), options.sheet_columns),
    }
    wanted = {int(k): label for label, ks in picks.items() for k in ks}
    shots: dict[str, list[np.ndarray]] = {"listening": [], "speaking": []}
    frames = clip_frames(clip.path, clip.info.fps, total) if options.side_by_side else None
    try:
        with VideoWriter(out, FPS, (user_width + size, size), audio=mix,
                         sample_rate=session.output_rate) as writer, \
                tqdm(total=total, desc=f"render {out.name}", unit="frame",
                     disable=not options.progress) as bar:
            for item in planned:
                image = session.render(item).image
                if frames is not None:
                    _index, user = next(frames)
                    user = cv2.resize(user, (user_width, size), interpolation=cv2.INTER_AREA)
                    image = np.concatenate([user, image], axis=1)
                writer.write(image)
                label = wanted.get(item.index)
                if label is not None:
                    shots[label].append(thumbnail(image, f"{label} {item.pts_us / 1e6:.2f} s",
                                                   item.speaking, options.sheet_height))
                bar.update(1)
    finally:
        if frames is not None:
            frames.close()
    sheet = out.with_suffix(".png")
    write_sheet(shots, options.sheet_columns, sheet,
                 header=[f"user: {reply.transcript or '(no words)'}",
                         f"avatar: {reply.text}"])
    return sheet
