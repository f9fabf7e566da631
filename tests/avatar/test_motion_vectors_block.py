"""A generated block's motion frames solved at once (`motion_vectors`) are the frames
solved one by one (`motion_vector`), on the shipped generator's own motion of a spoken
reply and on motion that reaches every clamp of the solve (pose caps, lip rounding,
negative blinks), with the shipped table and with none."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
from avatar.live import AvatarSession, SessionOptions
from avatar.motion import MOTION_DIM, column_index
from avatar.portrait import Portrait
from avatar.render import Calibration, PortraitRenderer
from avatar.render.browser_assets import MOTION_FRAME_LEN, motion_vector, motion_vectors
from avatar.render.calibration import cap_rounding, cap_rounding_block
from benchkit.face_inputs import RATE, reply_tone

BLOCKS = 16  # 3.2 s of a reply: the jaw opens and closes several times


@pytest.fixture(scope="module")
def portrait() -> Portrait:
    return Portrait.default()


@pytest.fixture(scope="module")
def renderer(portrait: Portrait) -> PortraitRenderer:
    return PortraitRenderer(portrait, 256, layered=False)


@pytest.fixture(scope="module")
def spoken_blocks(portrait: Portrait) -> list[np.ndarray]:
    """The shipped generator's motion of a voiced reply, block by block, (5, 58) each,
    as `AvatarSession.next_block` plans it."""
    session = AvatarSession(portrait, load_generator(DEFAULT_CHECKPOINT), output_rate=RATE,
                            options=SessionOptions(size=256))
    session.push_avatar_audio(reply_tone(BLOCKS * 0.2 + 2.0), RATE)
    blocks = []
    for _ in range(BLOCKS):
        frames = session.next_block()
        blocks.append(np.stack([frame.motion for frame in frames]))
    session.close()
    return blocks


def extreme_motion(reference: np.ndarray, frames: int = 40) -> np.ndarray:
    """Motion past the solve's limits: turns beyond the rotation cap, rounded lips with
    an open jaw, eyes wider than the portrait's, shifts and scales beyond their range."""
    rng = np.random.default_rng(7)
    motion = np.tile(reference, (frames, 1)).astype(np.float32)
    for name, spread in (("yaw", 40.0), ("pitch", 25.0), ("roll", 20.0), ("tx", 0.4),
                         ("ty", 0.4), ("scale", 0.5), ("jawOpen", 0.6), ("mouthPucker", 0.8),
                         ("mouthFunnel", 0.8), ("eyeBlinkLeft", 0.6), ("eyeBlinkRight", 0.6),
                         ("mouthSmileLeft", 0.7), ("eyeLookInLeft", 0.8),
                         ("eyeLookUpRight", 0.8)):
        motion[:, column_index(name)] += rng.uniform(-spread, spread, frames)
    return motion


def one_by_one(renderer: PortraitRenderer, block: np.ndarray) -> np.ndarray:
    return np.stack([motion_vector(renderer, frame) for frame in block])


def test_a_spoken_replys_blocks_solve_as_their_frames_do(
        renderer: PortraitRenderer, spoken_blocks: list[np.ndarray]) -> None:
    jaw = np.concatenate(spoken_blocks)[:, column_index("jawOpen")]
    assert jaw.max() - jaw.min() > 0.1  # the reply moves the mouth: a real comparison
    for block in spoken_blocks:
        together = motion_vectors(renderer, block)
        assert together.shape == (len(block), MOTION_FRAME_LEN) and together.dtype == np.float32
        np.testing.assert_allclose(together, one_by_one(renderer, block), rtol=0, atol=1e-6)


def test_motion_past_every_limit_solves_as_its_frames_do(renderer: PortraitRenderer) -> None:
    motion = extreme_motion(renderer.reference)
    solved = motion_vectors(renderer, motion)
    np.testing.assert_allclose(solved, one_by_one(renderer, motion), rtol=0, atol=1e-6)
    rounding = solved[:, 16]
    assert rounding.max() > 0.0 and np.all((rounding >= 0) & (rounding <= 1))


def test_a_table_without_readout_model_solves_blocks_as_frames(portrait: Portrait) -> None:
    bare = PortraitRenderer(portrait, 256, layered=False, calibration=Calibration())
    motion = extreme_motion(bare.reference, 10)
    np.testing.assert_allclose(motion_vectors(bare, motion), one_by_one(bare, motion),
                               rtol=0, atol=1e-6)


def test_the_block_rounding_cap_is_the_frames_cap(renderer: PortraitRenderer) -> None:
    amps = np.random.default_rng(3).uniform(-0.5, 1.5, (30, len(renderer._basis)))
    block = cap_rounding_block(amps, renderer._narrowing, renderer._jaw_narrowing)
    frames = np.stack([cap_rounding(a, renderer._narrowing, renderer._jaw_narrowing)
                       for a in amps])
    assert not np.array_equal(block, amps.astype(np.float32))  # some rows were capped
    np.testing.assert_array_equal(block, frames)


@pytest.mark.parametrize("motion, problem", [
    (np.zeros((5, MOTION_DIM - 1), np.float32), "must be"),
    (np.zeros(MOTION_DIM, np.float32), "must be"),
    (np.full((5, MOTION_DIM), np.nan, np.float32), "NaN"),
])
def test_a_bad_block_is_refused_naming_the_problem(
        renderer: PortraitRenderer, motion: np.ndarray, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        motion_vectors(renderer, motion)
