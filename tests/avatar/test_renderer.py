"""PortraitRenderer on the real default portrait: output contract, stillness, visible actions.

Fast checks (a few renders each, no landmarker in the loop except where the
meaning of a frame must be confirmed); the round-trip acceptance test with
thresholds is tests/avatar/test_roundtrip.py.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avatar.motion import MOTION_DIM, column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.expression import ACTUATORS
from avatar.render.eyes import GAZE_GAIN_Y, GAZE_MAX_DY
from avatar.render.mesh import LIPS_LOWER_INNER, LIPS_UPPER_INNER
from avatar.render.renderer import MAX_SHIFT, SCALE_RANGE
from tests.motion_edits import varied


@pytest.fixture(scope="module")
def renderer(default_portrait: Portrait) -> PortraitRenderer:
    renderer = PortraitRenderer(default_portrait, size=512)
    renderer.wait_for_plate()  # frames compared across calls: the final plate throughout
    return renderer


def test_reference_motion_renders_the_portrait(renderer: PortraitRenderer,
                                               default_portrait: Portrait) -> None:
    frame = renderer.render(default_portrait.reference_motion)
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    diff = np.abs(frame.astype(np.int16) - default_portrait.image.astype(np.int16))
    assert diff.mean() < 1.0  # only resampling of the warp grid
    assert np.percentile(diff, 99) < 12


def test_render_256_from_a_512_portrait(default_portrait: Portrait) -> None:
    small = PortraitRenderer(default_portrait, size=256)
    frame = small.render(varied(default_portrait.reference_motion, jawOpen=0.6))
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8


@pytest.mark.parametrize("bad", [np.zeros(57), np.zeros((2, MOTION_DIM))])
def test_wrong_motion_shape_is_a_clear_error(renderer: PortraitRenderer, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="motion frame must be"):
        renderer.render(bad)


def test_non_finite_motion_is_rejected(renderer: PortraitRenderer,
                                       default_portrait: Portrait) -> None:
    motion = default_portrait.reference_motion.copy()
    motion[column_index("jawOpen")] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        renderer.render(motion)


def test_unsupported_size_is_rejected(default_portrait: Portrait) -> None:
    with pytest.raises(ValueError, match="256 or 512"):
        PortraitRenderer(default_portrait, size=300)


def test_head_turn_moves_the_head_but_not_the_background(
        renderer: PortraitRenderer, default_portrait: Portrait) -> None:
    """Yaw moves hair/hat pixels beside the face; the image corners stay identical."""
    still = renderer.render(default_portrait.reference_motion)
    turned = renderer.render(varied(default_portrait.reference_motion, yaw=15.0))
    diff = np.abs(turned.astype(np.int16) - still.astype(np.int16)).sum(axis=2)
    corners = [diff[:40, :40], diff[:40, -40:], diff[-40:, :40], diff[-40:, -40:]]
    assert max(float((c > 0).mean()) for c in corners) < 0.01
    box = default_portrait.landmarks[:, :2]
    x0, y0 = box.min(axis=0).astype(int)
    x1 = int(box[:, 0].max())
    # The hat / hair band above the face oval moves with the head.
    hair_band = diff[max(y0 - 60, 0):y0 - 10, x0:x1]
    assert hair_band.mean() > 10


def test_actuators_cover_the_key_blendshapes() -> None:
    for name in ("jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft",
                 "eyeBlinkRight", "browInnerUp", "mouthPucker", "mouthFunnel"):
        assert name in ACTUATORS


def test_jaw_open_shows_a_dark_mouth_with_teeth(renderer: PortraitRenderer,
                                                default_portrait: Portrait) -> None:
    ref = default_portrait.reference_motion
    xy, _ = renderer.vertices(varied(ref, jawOpen=0.7))
    frame = renderer.render(varied(ref, jawOpen=0.7))
    upper, lower = xy[LIPS_UPPER_INNER[5]], xy[LIPS_LOWER_INNER[5]]
    assert lower[1] - upper[1] > 0.25 * renderer.frame.iod  # the lips part
    column = frame[int(upper[1]) + 1:int(lower[1]) - 1, int(upper[0])].astype(int)
    brightness = column.mean(axis=1)
    assert brightness.min() < 60  # dark cavity
    assert brightness.max() > 120  # teeth hanging from the upper lip


def test_blink_closes_the_upper_lid(renderer: PortraitRenderer,
                                    default_portrait: Portrait) -> None:
    ref = default_portrait.reference_motion
    open_xy, _ = renderer.vertices(ref)
    shut_xy, _ = renderer.vertices(varied(ref, eyeBlinkLeft=1.0, eyeBlinkRight=1.0))
    for upper, lower in ((159, 145), (386, 374)):
        assert open_xy[lower, 1] - open_xy[upper, 1] > 5
        assert shut_xy[lower, 1] - shut_xy[upper, 1] < 2


def test_less_smile_than_the_portrait_moves_corners_down(default_portrait: Portrait) -> None:
    """Expressions act relative to the reference: a smiling avatar can stop smiling."""
    ref_smiling = default_portrait.reference_motion.copy()
    for name in ("mouthSmileLeft", "mouthSmileRight"):
        ref_smiling[column_index(name)] = 0.5
    smiling = PortraitRenderer(replace(default_portrait, reference_motion=ref_smiling), 512)
    neutral = default_portrait.reference_motion
    xy, _ = smiling.vertices(neutral)
    rest_xy, _ = smiling.vertices(ref_smiling)
    for corner in (61, 291):
        assert xy[corner, 1] > rest_xy[corner, 1] + 0.5  # corners drop: the smile is undone
    assert np.allclose(rest_xy, smiling.mesh.vertices[:, :2], atol=1e-3)


@pytest.mark.parametrize("axis", ["yaw", "pitch", "roll"])
def test_a_neutral_face_stays_neutral_on_a_head_turn(renderer: PortraitRenderer,
                                                     default_portrait: Portrait,
                                                     axis: str) -> None:
    """The pose-aware inverse must not part the lips or close the eyes on a turn."""
    turned = varied(default_portrait.reference_motion, **{axis: 15.0})
    amps = renderer.amplitudes(turned)
    assert np.abs(amps).max() < 0.15, dict(zip(ACTUATORS, np.round(amps, 2), strict=True))


def test_pose_scale_shift_and_gaze_are_clipped_as_np_clip_clips(
        renderer: PortraitRenderer) -> None:
    """The head's scale and shift and the iris's vertical shift, past their limits and
    inside them: the renderer's min/max arithmetic gives np.clip's numbers (the
    motion's float32 for scale and shift), which the page's motion frames carry."""
    ref = renderer.reference
    scale_col, tx, ty = column_index("scale"), column_index("tx"), column_index("ty")
    down = [c for eye in renderer.gaze.eyes for c in eye["cols"][3:]]
    for factor, move, look in ((5.0, 0.9, 3.0), (0.1, -0.9, -3.0), (1.05, 0.02, 0.01)):
        motion = ref.copy()
        motion[scale_col] = ref[scale_col] * factor
        motion[[tx, ty]] = ref[[tx, ty]] + move
        motion[down] = ref[down] + look
        _, scale, shift = renderer._pose(motion)
        assert scale == float(np.clip(motion[scale_col] / max(ref[scale_col], 1e-3),
                                      *SCALE_RANGE))
        expected = np.clip(motion[[tx, ty]] - ref[[tx, ty]], -MAX_SHIFT, MAX_SHIFT)
        assert shift.dtype == expected.dtype and np.array_equal(shift, expected)
        for eye, (_, dy) in zip(renderer.gaze.eyes, renderer.gaze.offsets(motion, ref),
                                strict=True):
            d_up, d_down = (float(motion[c] - ref[c]) for c in eye["cols"][2:])
            limit = GAZE_MAX_DY * eye["radius"]
            assert dy == float(np.clip((d_down - d_up) * GAZE_GAIN_Y * eye["width"],
                                       -limit, limit))
