"""Portrait -> avatar on the real default photo, and every bad-input error."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar.errors import FaceTooSmallError, NoDominantFaceError, NoFaceError, NotAnImageError
from avatar.motion import MOTION_DIM, column_index
from avatar.portrait import Portrait, default_portrait_path


def test_default_portrait_path_is_grace_hopper() -> None:
    path = default_portrait_path()
    assert path.name == "grace_hopper.jpg" and path.is_file()


def test_default_portrait_is_a_whole_head_crop(default_portrait: Portrait) -> None:
    portrait = default_portrait
    assert portrait.size == 512 and portrait.image.shape == (512, 512, 3)
    assert portrait.image.dtype == np.uint8
    assert portrait.landmarks.shape == (478, 3)
    x0, y0, x1, y1 = portrait.measurement.bbox
    # the face mesh sits inside the crop with room for hair above, neck below,
    # ears on both sides: the renderer moves the whole head
    assert 0.15 * 512 < y0 and y1 < 0.9 * 512
    assert 0.15 * 512 < x0 and x1 < 0.85 * 512
    face_height = y1 - y0
    assert 0.4 < face_height / 512 < 0.6
    assert portrait.reference_motion.shape == (MOTION_DIM,)
    np.testing.assert_array_equal(portrait.reference_motion, portrait.measurement.motion)


def test_reference_motion_is_near_frontal_with_closed_mouth(default_portrait: Portrait) -> None:
    motion = default_portrait.reference_motion
    for angle in ("yaw", "pitch", "roll"):
        assert abs(motion[column_index(angle)]) < 8.0, angle
    assert abs(motion[column_index("tx")]) < 0.05
    assert motion[column_index("jawOpen")] < 0.1
    assert motion[column_index("eyeBlinkLeft")] < 0.5
    assert motion[column_index("eyeBlinkRight")] < 0.5


def test_array_and_small_size_give_the_same_avatar(
    default_portrait: Portrait, portrait_rgb: np.ndarray
) -> None:
    small = Portrait.load(portrait_rgb, size=256)
    assert small.image.shape == (256, 256, 3) and small.name == "array"
    assert small.crop_box == default_portrait.crop_box
    # same face, half the pixels: landmarks scale, expression stays
    np.testing.assert_allclose(small.landmarks[:, :2] * 2, default_portrait.landmarks[:, :2],
                               atol=6.0)
    # blendshapes are resolution-sensitive (eye squint moves ~0.15): bound the mean
    expression_gap = np.abs(small.reference_motion[6:] - default_portrait.reference_motion[6:])
    assert expression_gap.mean() < 0.03 and expression_gap.max() < 0.25


def test_face_at_the_image_edge_is_padded(portrait_rgb: np.ndarray) -> None:
    # cut the photo so the face touches the left and top edges
    cut = np.ascontiguousarray(portrait_rgb[120:, 150:])
    portrait = Portrait.load(cut, size=256)
    x0, y0, x1, _ = portrait.crop_box
    assert x0 < 0 and y0 < 0  # slid by at most 8 % of the side, the rest is filled
    assert portrait.image.shape == (256, 256, 3)
    assert abs(portrait.reference_motion[column_index("tx")]) < 0.1
    # the filled band continues the picture instead of repeating its edge pixels
    # (which drew horizontal streaks): rows of the band are not constant
    band = -x0 * 256 // (x1 - x0)
    assert band >= 4
    rows_std = portrait.image[:, : band - 1].astype(np.float32).std(axis=1).mean()
    assert rows_std > 2.0, f"streaks: the filled band's rows are flat (std {rows_std:.2f})"


def test_a_crop_near_the_edge_slides_inside_instead_of_padding(portrait_rgb: np.ndarray) -> None:
    from avatar.portrait import fit_box_inside

    assert fit_box_inside((-10, 5, 190, 205), 600, 600) == (0, 5, 200, 205)  # slid 10 px
    assert fit_box_inside((-100, 0, 100, 200), 600, 600) == (-84, 0, 116, 200)  # 8 % at most
    assert fit_box_inside((50, 50, 250, 250), 600, 600) == (50, 50, 250, 250)  # inside: as is


def test_text_file_is_not_an_image(text_file: Path) -> None:
    with pytest.raises(NotAnImageError, match="not a readable image"):
        Portrait.load(text_file)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        Portrait.load(tmp_path / "nobody.jpg")
    with pytest.raises(NotAnImageError, match="directory"):
        Portrait.load(tmp_path)


def test_bad_arguments() -> None:
    with pytest.raises(NotAnImageError, match="int"):
        Portrait.load(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="256, 512"):
        Portrait.load(default_portrait_path(), size=300)  # type: ignore[arg-type]


def test_noise_has_no_face() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)
    with pytest.raises(NoFaceError, match="no face"):
        Portrait.load(noise)


def test_tiny_face_is_too_small(portrait_rgb: np.ndarray) -> None:
    canvas = np.full((512, 512, 3), 128, np.uint8)
    tiny = cv2.resize(portrait_rgb, (100, 117), interpolation=cv2.INTER_AREA)  # face ~40 px
    canvas[200:317, 200:300] = tiny
    with pytest.raises(FaceTooSmallError, match="px tall"):
        Portrait.load(canvas)


def test_min_face_px_is_a_knob(portrait_rgb: np.ndarray) -> None:
    with pytest.raises(FaceTooSmallError, match="at least 400 px"):
        Portrait.load(portrait_rgb, min_face_px=400)


def test_a_turned_smiling_portrait_keeps_its_own_reference(default_portrait: Portrait) -> None:
    """A portrait that already turns and smiles: the reference motion says so."""
    from avatar.render import PortraitRenderer
    renderer = PortraitRenderer(default_portrait, size=512)
    motion = default_portrait.reference_motion.copy()
    motion[column_index("yaw")] += 25.0
    for name in ("mouthSmileLeft", "mouthSmileRight"):
        motion[column_index(name)] = 0.8
    turned = Portrait.load(renderer.render(motion), size=256)
    reference = default_portrait.reference_motion
    assert turned.reference_motion[column_index("yaw")] > reference[column_index("yaw")] + 8
    smile = column_index("mouthSmileLeft")
    assert turned.reference_motion[smile] > reference[smile] + 0.2


def test_a_group_photo_asks_for_a_crop_not_a_bigger_face(portrait_rgb: np.ndarray) -> None:
    # 12 people, each face ~100 px: big enough, but none stands out in the whole picture
    tile = cv2.resize(portrait_rgb, (300, 352), interpolation=cv2.INTER_AREA)
    crowd = np.vstack([np.hstack([tile] * 4)] * 3)
    with pytest.raises(NoDominantFaceError, match="a group photo.*crop the photo to one person") as caught:
        Portrait.load(crowd, 256)
    assert "needs at least" not in str(caught.value)  # the old, self-contradictory advice
    assert isinstance(caught.value, NoFaceError)  # callers that catch NoFaceError still do


def test_two_faces_of_similar_size_are_ambiguous(portrait_rgb: np.ndarray) -> None:
    pair = np.hstack([portrait_rgb, portrait_rgb[:, ::-1]])
    with pytest.raises(NoDominantFaceError, match="several faces of similar size"):
        Portrait.load(pair, 256)


def test_a_small_bystander_does_not_stop_the_main_face(portrait_rgb: np.ndarray) -> None:
    height, width = portrait_rgb.shape[:2]
    bystander = cv2.resize(portrait_rgb, (width // 3, height // 3), interpolation=cv2.INTER_AREA)
    scene = np.full((height, width + width // 3, 3), 128, np.uint8)
    scene[:, :width] = portrait_rgb
    scene[height - height // 3:, width:] = bystander
    portrait = Portrait.load(scene, 256)
    assert portrait.crop_box[0] < width // 2  # the main face, not the bystander
