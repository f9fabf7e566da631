"""The painted mouth (avatar/render/mouth.py, issue 35) on the real default portrait.

Behaviour only: teeth that are separate and rigid (upper with the skull, lower with
the jaw), nothing painted into a closed mouth, colours taken from the portrait
(grey from a black-and-white photo). The realism figures against real talking
mouths are bench/face/mouth_realism.py's.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.mesh import LIPS_LOWER_INNER, LIPS_UPPER_INNER
from avatar.render.mouth import LOWER_ANCHORS, UPPER_ANCHORS, MouthPalette
from tests.motion_edits import varied

LUMA = np.array([0.299, 0.587, 0.114])


@pytest.fixture(scope="module", params=[512, 256])
def renderer(request: pytest.FixtureRequest, default_portrait: Portrait) -> PortraitRenderer:
    portrait = default_portrait if request.param == 512 else Portrait.default(256)
    return PortraitRenderer(portrait, request.param, layered=False)


def _teeth_row(renderer: PortraitRenderer, motion: np.ndarray) -> np.ndarray:
    """Luma across the upper teeth, half way from the upper lip down to their edge,
    over +-0.3 inter-ocular distances around the mouth's centre."""
    return _teeth_row_of(renderer, motion, renderer.render(motion))


def _teeth_row_of(renderer: PortraitRenderer, motion: np.ndarray, frame: np.ndarray) -> np.ndarray:
    """`_teeth_row` read from an already rendered frame."""
    xy, _ = renderer.vertices(motion)
    upper = renderer.mouth_anchors(motion)[UPPER_ANCHORS]
    edge = upper[len(upper) // 2]
    y = int(round(0.5 * xy[13, 1] + 0.5 * edge[1]))
    half = 0.3 * renderer.frame.iod
    x0, x1 = int(round(xy[13, 0] - half)), int(round(xy[13, 0] + half))
    return frame[y, x0:x1].astype(np.float64) @ LUMA


def _gaps(row: np.ndarray, min_depth: float = 6.0) -> list[tuple[int, float]]:
    """(index, depth) of the dark dips between brighter teeth along a row of luma."""
    found = []
    for i in range(1, len(row) - 1):
        if row[i] <= row[i - 1] and row[i] < row[i + 1]:
            left, right = row[max(0, i - 4):i].max(), row[i + 1:i + 5].max()
            depth = min(left, right) - row[i]
            if depth >= min_depth and min(left, right) > 100:  # between lit teeth
                found.append((i, float(depth)))
    return found


def test_wide_open_mouth_shows_separate_teeth(renderer: PortraitRenderer) -> None:
    """Individual teeth: several soft dark gaps across the upper incisors, each spread
    over more than one pixel (at 256 too: shading, not 1 px lines)."""
    motion = varied(renderer.reference, jawOpen=0.6, mouthUpperUpLeft=0.8,
                    mouthUpperUpRight=0.8)  # the upper lip up: tall teeth to cross
    row = _teeth_row(renderer, motion)
    gaps = _gaps(row)
    assert len(gaps) >= 3, np.round(row).astype(int).tolist()
    for i, depth in gaps:  # the steepest single step into a gap is not all of it
        step = min(row[i - 1], row[i + 1]) - row[i]
        assert step <= 0.7 * depth, (i, np.round(row[i - 3:i + 4]).astype(int).tolist())


def test_teeth_are_lit_but_not_paper_white(renderer: PortraitRenderer) -> None:
    """Real teeth are only a little brighter than the skin around the mouth."""
    motion = varied(renderer.reference, jawOpen=0.6, mouthUpperUpLeft=0.8,
                    mouthUpperUpRight=0.8)
    row = _teeth_row(renderer, motion)
    skin = float(np.median(renderer.image[renderer.mesh.vertices[200, 1].astype(int),
                                          :].astype(np.float64) @ LUMA))
    assert 100 < row.max() < max(skin, 200)


def test_closed_mouth_paints_nothing(renderer: PortraitRenderer) -> None:
    image = renderer.image.copy()
    reference = renderer.reference
    xy, _ = renderer.vertices(reference)
    renderer.mouth.paint(image, xy, renderer.mouth_anchors(reference))
    assert np.array_equal(image, renderer.image)


def test_upper_teeth_hold_still_and_lower_teeth_follow_the_jaw(
        renderer: PortraitRenderer) -> None:
    ref = renderer.reference
    half, wide = varied(ref, jawOpen=0.3), varied(ref, jawOpen=0.6)
    a_half, a_wide = renderer.mouth_anchors(half), renderer.mouth_anchors(wide)
    # the upper arch belongs to the skull: a jaw drop does not move it
    assert np.allclose(a_half[UPPER_ANCHORS], a_wide[UPPER_ANCHORS], atol=1e-3)
    # the lower arch drops with the jaw, as far as the chin below the lower lip does
    chin_drop = renderer.vertices(wide)[0][18, 1] - renderer.vertices(half)[0][18, 1]
    teeth_drop = float(np.mean(a_wide[LOWER_ANCHORS, 1] - a_half[LOWER_ANCHORS, 1]))
    assert chin_drop > 0.05 * renderer.frame.iod
    assert teeth_drop == pytest.approx(chin_drop, rel=0.1)
    # a lip moving alone (no jaw) moves neither arch
    lip = renderer.mouth_anchors(varied(half, mouthLowerDownLeft=0.6, mouthLowerDownRight=0.6))
    assert np.allclose(lip, a_half, atol=0.05 * renderer.frame.iod)


def test_upper_teeth_turn_with_the_head(renderer: PortraitRenderer) -> None:
    """On a turn the front teeth move with the inner lips in front of them (a little
    less: they sit behind the lips), not against them."""
    ref = varied(renderer.reference, jawOpen=0.4)
    turned = varied(ref, yaw=15.0)
    before, after = (renderer.mouth_anchors(m)[UPPER_ANCHORS] for m in (ref, turned))
    lips = list(LIPS_UPPER_INNER)
    xy_before, xy_after = renderer.vertices(ref)[0], renderer.vertices(turned)[0]
    middle = len(before) // 2
    for i in range(middle - 1, middle + 2):  # the central incisors' edges
        lip = lips[int(np.argmin(np.abs(xy_before[lips, 0] - before[i, 0])))]
        lip_shift = float(xy_after[lip, 0] - xy_before[lip, 0])
        teeth_shift = float(after[i, 0] - before[i, 0])
        assert abs(lip_shift) > 0.015 * renderer.frame.iod
        assert 0.3 < teeth_shift / lip_shift < 1.2, (i, teeth_shift, lip_shift)


def test_the_upper_teeth_edge_stays_put_in_the_picture(renderer: PortraitRenderer) -> None:
    """Rendered, not just the anchors: the bright-to-dark edge under the upper teeth
    is at the same height at two jaw openings."""
    def edge_row(motion: np.ndarray) -> int:
        frame = renderer.render(motion).astype(np.float64) @ LUMA
        xy, _ = renderer.vertices(motion)
        x = int(round(xy[13, 0] + 0.06 * renderer.frame.iod))  # a central incisor
        top, bottom = int(np.ceil(xy[13, 1])), int(xy[14, 1])
        column = frame[top:bottom, x]
        return top + int(np.argmin(np.diff(column)))

    ref = renderer.reference
    assert abs(edge_row(varied(ref, jawOpen=0.35)) - edge_row(varied(ref, jawOpen=0.65))) <= 1


def test_palette_of_a_black_and_white_photo_is_grey(default_portrait: Portrait) -> None:
    grey = cv2.cvtColor(cv2.cvtColor(default_portrait.image, cv2.COLOR_RGB2GRAY),
                        cv2.COLOR_GRAY2RGB)
    palette = MouthPalette.sample(grey, default_portrait.landmarks)
    for name in ("teeth", "tongue", "cavity", "throat", "shade", "gum"):
        colour = getattr(palette, name)
        assert np.ptp(colour) <= 1.0, (name, colour)


def test_palette_of_a_colour_photo_comes_from_its_lips(default_portrait: Portrait) -> None:
    palette = MouthPalette.sample(default_portrait.image, default_portrait.landmarks)

    def lab(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor((rgb / 255.0).astype(np.float32).reshape(1, 1, 3),
                            cv2.COLOR_RGB2Lab).reshape(3)

    lips, teeth, cavity = (lab(getattr(palette, n)) for n in ("lips", "teeth", "cavity"))
    assert teeth[0] > lips[0] > cavity[0]  # teeth brighter than the lips, the cavity darker
    assert np.hypot(*teeth[1:]) < np.hypot(*lips[1:])  # teeth less coloured than lips
    assert teeth[2] > 0 and cavity[1] > 0  # yellowish teeth, a red cavity
    # a darker photo gets a darker mouth: colours follow the portrait, not constants
    dim = MouthPalette.sample((default_portrait.image * 0.6).astype(np.uint8),
                              default_portrait.landmarks)
    assert dim.teeth @ LUMA < 0.75 * (palette.teeth @ LUMA)


@pytest.mark.parametrize("jaw", [0.0, 0.25, 0.5])
def test_rounded_lips_never_close_the_corners_into_a_slit(renderer: PortraitRenderer,
                                                          jaw: float) -> None:
    """Any funnel and pucker the generator can emit (0..1 each, with the jaw open or
    not) keeps the corners at least half their resting distance apart and the
    opening no taller than 1.6x its width (issue 35: funnel 0.5 + pucker 0.4 closed
    the corners to 0.17 and opened a vertical slit, 5.8x as tall as wide; since the
    lips round, a funnel with the jaw half open is a round O up to 1.55x)."""
    rest, _ = renderer.vertices(renderer.reference)
    rest_width = float(np.linalg.norm(rest[291] - rest[61]))
    for funnel in np.linspace(0.0, 1.0, 5):
        for pucker in np.linspace(0.0, 1.0, 5):
            motion = varied(renderer.reference, jawOpen=jaw, mouthFunnel=float(funnel),
                            mouthPucker=float(pucker))
            xy, _ = renderer.vertices(motion)
            width = float(np.linalg.norm(xy[291] - xy[61])) / rest_width
            inner = float(np.linalg.norm(xy[308] - xy[78]))
            height = float(np.linalg.norm(xy[14] - xy[13]))
            assert width >= 0.5, (funnel, pucker, width)
            assert height <= 1.6 * inner, (funnel, pucker, height, inner)


def test_rounding_budget_scales_pucker_and_funnel_together() -> None:
    from avatar.render.calibration import GATHER_MAX, cap_rounding
    from avatar.render.expression import ACTUATORS

    pucker, funnel = ACTUATORS.index("mouthPucker"), ACTUATORS.index("mouthFunnel")
    narrowing = np.array([0.35, 0.3])
    amps = np.zeros(len(ACTUATORS), np.float32)
    amps[[pucker, funnel]] = 1.0, 1.3
    capped = cap_rounding(amps, narrowing)
    assert float(narrowing @ capped[[pucker, funnel]]) == pytest.approx(GATHER_MAX, rel=1e-4)
    assert capped[pucker] / capped[funnel] == pytest.approx(1.0 / 1.3, rel=1e-4)
    small = amps.copy()
    small[[pucker, funnel]] = 0.3, -0.5  # inside the budget; undoing a portrait's funnel
    assert np.array_equal(cap_rounding(small, narrowing), small)


def test_an_oo_is_a_dark_hole(renderer: PortraitRenderer) -> None:
    """Gathered lips push forward: the teeth sink into the shade behind them."""
    def interior_luma(motion: np.ndarray) -> float:
        frame = renderer.render(motion).astype(np.float64) @ LUMA
        xy, _ = renderer.vertices(motion)
        poly = np.vstack([xy[list(LIPS_UPPER_INNER)], xy[list(LIPS_LOWER_INNER[-2:0:-1])]])
        mask = np.zeros(frame.shape, np.uint8)
        cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(bool)
        return float(frame[mask].mean())

    ref = renderer.reference
    rounded = interior_luma(varied(ref, jawOpen=0.25, mouthFunnel=0.5, mouthPucker=0.6))
    spread = interior_luma(varied(ref, jawOpen=0.25))
    assert rounded < 0.8 * spread


@pytest.mark.parametrize("lips_rgb", [(205, 120, 110), (120, 60, 55), (90, 50, 45)])
def test_the_shade_is_dark_red_on_light_and_dark_lips(lips_rgb: tuple[int, int, int]) -> None:
    """A real mouth's shadows stay red (the darkest fifth of a real open mouth keeps
    ~0.8 of the lips' a*): the shade keeps the asked share of the lips' redness
    whatever their lightness, where scaling an RGB colour down would lose it."""
    from avatar.render.mouth import SHADE_TONE

    palette = MouthPalette.from_lips(np.array(lips_rgb, np.float32))

    def lab(rgb: np.ndarray) -> np.ndarray:
        return cv2.cvtColor((rgb / 255.0).astype(np.float32).reshape(1, 1, 3),
                            cv2.COLOR_RGB2Lab).reshape(3)

    lips, shade = lab(palette.lips), lab(palette.shade)
    assert shade[0] == pytest.approx(SHADE_TONE[0] * lips[0], abs=1.0)
    assert shade[1] / lips[1] == pytest.approx(SHADE_TONE[1], abs=0.1)
    assert shade[0] < 0.3 * lips[0]  # dark: it is a shadow


def test_soft_tissue_has_grain_fixed_to_the_head_and_teeth_stay_smooth(
        renderer: PortraitRenderer) -> None:
    """The inside of the mouth is not flat paint, and its grain belongs to the face:
    the same pose paints the same pixels (no shimmer from frame to frame)."""
    from avatar.render import mouth

    motion = varied(renderer.reference, jawOpen=0.6)
    first, again = renderer.render(motion), renderer.render(motion)
    assert np.array_equal(first, again)
    saved = mouth.TEXTURE_AMP
    try:
        mouth.TEXTURE_AMP = 0.0
        flat = renderer.render(motion)
    finally:
        mouth.TEXTURE_AMP = saved
    changed = np.abs(first.astype(np.int16) - flat.astype(np.int16)).max(axis=2) > 0
    assert changed.sum() > 50  # the tongue and the cavity have grain
    row = _teeth_row_of(renderer, motion, first)
    flat_row = _teeth_row_of(renderer, motion, flat)
    # the teeth do not (only their soft edges and gaps let the tissue show through)
    assert np.median(np.abs(row - flat_row)) <= 0.5

