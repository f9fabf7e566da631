"""A client-drawn face's motion frames, asked for frame by frame as the wire sends them:
a frame that is a row of its generated block is solved with its block, and every frame
comes out as it would solved alone, whatever the order, the sessions interleaved, the
block's type, or a frame that belongs to no block."""

from __future__ import annotations

import numpy as np
import pytest

from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render.browser_assets import motion_vector
from pipelines.server.browser_faces import MAX_BLOCK_FRAMES, BrowserFace, BrowserFaces


@pytest.fixture(scope="module")
def face() -> BrowserFace:
    return BrowserFaces().get(Portrait.default(256), 256)


def speaking_blocks(reference: np.ndarray, blocks: int, seed: int) -> list[np.ndarray]:
    """(5, 58) float32 blocks around the portrait's rest: the jaw, lips, gaze and head
    moving, as a session's generated blocks do."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(blocks):
        block = np.tile(reference, (5, 1)).astype(np.float32)
        for name, spread in (("jawOpen", 0.5), ("mouthFunnel", 0.3), ("mouthPucker", 0.3),
                             ("yaw", 10.0), ("pitch", 5.0), ("eyeLookInLeft", 0.4),
                             ("eyeBlinkRight", 0.5)):
            block[:, column_index(name)] += rng.uniform(-spread, spread, 5).astype(np.float32)
        out.append(block)
    return out


def alone(face: BrowserFace, motion: np.ndarray) -> np.ndarray:
    return motion_vector(face.renderer, np.array(motion, copy=True))


def test_interleaved_sessions_rows_come_out_as_each_frame_alone(face: BrowserFace) -> None:
    sessions = [speaking_blocks(face.renderer.reference, 3, seed) for seed in range(3)]
    for block_index in range(3):
        for k in (0, 3, 1, 4, 2):  # out of order: any row may come first
            for blocks in sessions:
                row = blocks[block_index][k]  # a view of its block, as a planned frame's
                assert row.base is blocks[block_index]
                np.testing.assert_allclose(face.motion_frame(row),
                                           alone(face, row), rtol=0, atol=1e-6)


def test_a_frame_of_no_block_and_a_float64_block_come_out_as_alone(face: BrowserFace) -> None:
    single = speaking_blocks(face.renderer.reference, 1, 11)[0][2].copy()
    assert single.base is None
    np.testing.assert_allclose(face.motion_frame(single), alone(face, single), rtol=0, atol=1e-6)
    wide = speaking_blocks(face.renderer.reference, 1, 12)[0].astype(np.float64)
    for row in wide:
        np.testing.assert_allclose(face.motion_frame(row), alone(face, row), rtol=0, atol=1e-6)


def test_a_long_recordings_rows_and_a_column_view_are_solved_alone(face: BrowserFace) -> None:
    long = np.concatenate(speaking_blocks(face.renderer.reference, 4, 13))  # 20 rows
    assert len(long) > MAX_BLOCK_FRAMES
    for row in long[::7]:
        np.testing.assert_allclose(face.motion_frame(row), alone(face, row), rtol=0, atol=1e-6)
    wide = np.concatenate([long[:5], long[:5]], axis=1)  # rows of 116 values
    column = wide[:, :58][1]  # a (58,) view whose base is no (T, 58) block
    np.testing.assert_allclose(face.motion_frame(column), alone(face, column),
                               rtol=0, atol=1e-6)


def test_a_returned_frame_is_the_callers_own(face: BrowserFace) -> None:
    block = speaking_blocks(face.renderer.reference, 1, 14)[0]
    first = face.motion_frame(block[0])
    first[:] = 0.0  # a caller that scribbles on its frame
    np.testing.assert_allclose(face.motion_frame(block[0]), alone(face, block[0]),
                               rtol=0, atol=1e-6)


def test_a_bad_row_is_refused_and_its_blocks_good_rows_still_solve(face: BrowserFace) -> None:
    block = speaking_blocks(face.renderer.reference, 1, 15)[0]
    block[3, 0] = np.nan
    np.testing.assert_allclose(face.motion_frame(block[0]), alone(face, block[0]),
                               rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="NaN"):
        face.motion_frame(block[3])


def test_a_row_changed_after_its_block_was_solved_is_solved_anew(face: BrowserFace) -> None:
    block = speaking_blocks(face.renderer.reference, 1, 16)[0]
    face.motion_frame(block[0])  # the whole block solved now
    block[2, column_index("jawOpen")] += 0.3  # then a later stage moves one row's jaw
    np.testing.assert_allclose(face.motion_frame(block[2]), alone(face, block[2]),
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(face.motion_frame(block[4]), alone(face, block[4]),
                               rtol=0, atol=1e-6)
