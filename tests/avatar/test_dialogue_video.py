"""Side-by-side dialogue rendering: real generator checkpoint, real renderer, real encoder."""

from pathlib import Path

import numpy as np
import pytest

from avatar.audio_features import FEATURE_DIM, compute_features
from avatar.dialogue_video import generate_avatar_motion, render_dialogue_video
from avatar.evaluate import Session
from avatar.motion import MOTION_DIM, column_index, neutral_frame
from avatar.portrait import Portrait, default_portrait_path
from avatar.video_io import probe_video


def _session(seconds: float = 2.0) -> Session:
    frames = int(seconds * 25)
    t = np.arange(frames * 640) / 16_000
    speech = (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(
        np.float32)
    silence = np.zeros_like(speech)
    reference = neutral_frame()
    user_motion = np.repeat(reference[None], frames, axis=0)
    user_motion[:, column_index("mouthSmileLeft")] = 0.4  # the user smiles throughout
    return Session(
        name="synthetic/a", avatar_audio=compute_features(speech),
        user_audio=compute_features(silence), user_motion=user_motion,
        avatar_motion=user_motion.copy(), reference=reference, avatar_pcm=speech,
        user_pcm=silence, avatar_speaking=np.ones(frames, dtype=bool),
    )


def test_generated_motion_covers_the_session() -> None:
    session = _session()
    assert session.avatar_audio.shape[1] == FEATURE_DIM
    motion = generate_avatar_motion(session)
    assert motion.shape == (len(session.avatar_audio), MOTION_DIM)
    assert np.isfinite(motion).all()


@pytest.mark.e2e
def test_side_by_side_video_and_sheet_are_written(tmp_path: Path) -> None:
    session = _session()
    motion = generate_avatar_motion(session)
    portrait = Portrait.load(default_portrait_path(), size=256)
    result = render_dialogue_video(session, motion, portrait, tmp_path / "d.mp4", size=256)
    info = probe_video(result.video)
    assert (info.width, info.height) == (512, 256)
    assert info.frame_count in (0, len(motion)) and info.has_audio
    assert abs(info.duration_s - len(motion) / 25) < 0.2
    assert result.sheet.is_file() and result.sheet.stat().st_size > 10_000
    with pytest.raises(ValueError, match="frames"):
        render_dialogue_video(session, motion[:-1], portrait, tmp_path / "bad.mp4")
