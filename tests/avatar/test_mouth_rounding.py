"""Lips that round: on "oo" the lips gather and turn out into a ring around a round hole.

Checked the way the rest of the system sees the face: with the landmarker on rendered
frames (the rounding reads back, the outer lip contour narrows and grows taller, the
lips' red grows), and on portraits whose lips cannot be turned out (a moustache over
the upper lip, a mouth open at rest, a microphone in front of the chin), made by
editing the real default portrait: those fall back to the flat mouth and never tear.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from avatar.face_analysis import FaceAnalyzer
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.expression import ACTUATORS, FUNNEL_EVERT, FUNNEL_HOLE, ActuatorBasis
from avatar.render.mesh import (
    LIPS_LOWER_INNER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
    build_mesh,
)
from benchkit.face.mouth_realism import round_shape
from tests.motion_edits import varied

OO = {"jawOpen": 0.12, "mouthFunnel": 0.25, "mouthPucker": 0.5}  # the corpus's /u/


def _lips(portrait: Portrait) -> tuple[np.ndarray, float]:
    lm = np.asarray(portrait.landmarks, np.float64)[:, :2]
    return lm, float(np.linalg.norm(lm[291] - lm[61]))


def _moustache(portrait: Portrait) -> np.ndarray:
    """Dark hair painted over the upper lip and the skin above it, with a little grain."""
    image = portrait.image.copy()
    lm, width = _lips(portrait)
    top = lm[list(LIPS_UPPER_OUTER)]
    hair = np.vstack([top + [0.0, 0.25 * width * 0.1], top[::-1] - [0.0, 0.22 * width]])
    hair[:, 0] = lm[[61, 291], 0].mean() + (hair[:, 0] - lm[[61, 291], 0].mean()) * 1.15
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(hair).astype(np.int32)], 1)
    grain = np.random.default_rng(0).normal(0, 8, image.shape[:2])
    colour = np.array([58, 42, 32], np.float64)
    painted = np.clip(colour[None, None] + grain[..., None], 0, 255).astype(np.uint8)
    image[mask.astype(bool)] = painted[mask.astype(bool)]
    return image


def _open_at_rest(portrait: Portrait) -> np.ndarray:
    """The lips parted at rest with the upper teeth showing."""
    image = portrait.image.copy()
    lm, width = _lips(portrait)
    centre = (lm[13] + lm[14]) / 2.0
    axes = (int(0.36 * width), int(0.13 * width))
    cv2.ellipse(image, tuple(np.round(centre).astype(int)), axes, 0, 0, 360, (60, 22, 24), -1)
    teeth = (int(0.3 * width), int(0.07 * width))
    cv2.ellipse(image, tuple(np.round(centre - [0, 0.05 * width]).astype(int)), teeth, 0, 0,
                360, (225, 218, 200), -1)
    return image


def _microphone(portrait: Portrait) -> np.ndarray:
    """A dark microphone in front of the chin, from just under the lower lip down."""
    image = portrait.image.copy()
    lm, width = _lips(portrait)
    bottom = lm[list(LIPS_LOWER_OUTER)][:, 1].max()
    x = lm[[61, 291], 0].mean()
    top_left = (int(x - 0.3 * width), int(bottom + 0.06 * width))
    bottom_right = (int(x + 0.3 * width), image.shape[0] - 1)
    cv2.rectangle(image, top_left, bottom_right, (38, 38, 42), -1)
    cv2.circle(image, (int(x), int(bottom + 0.3 * width)), int(0.32 * width), (38, 38, 42), -1)
    return image


EDITS = {"moustache": (_moustache, "above the upper lip"),
         "open at rest": (_open_at_rest, "open at rest"),
         "microphone": (_microphone, "under the lower lip")}


@pytest.fixture(scope="module")
def analyzer() -> Iterator[FaceAnalyzer]:
    with FaceAnalyzer(mode="image") as found:
        yield found


@pytest.fixture(scope="module")
def rounded(default_portrait: Portrait) -> PortraitRenderer:
    return PortraitRenderer(default_portrait, 512, layered=False)


def _shape(renderer: PortraitRenderer, analyzer: FaceAnalyzer,
           values: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    found = analyzer.analyze(renderer.render(varied(renderer.reference, **values)))
    assert found is not None
    return round_shape(found.landmarks[:, :2])[0], found.motion


def test_the_default_portrait_rounds(rounded: PortraitRenderer) -> None:
    assert rounded.rounding_blockers == []


@pytest.mark.parametrize("shape", ["mouthPucker", "mouthFunnel"])
def test_rounded_lips_narrow_grow_taller_and_show_more_red(
        rounded: PortraitRenderer, analyzer: FaceAnalyzer, shape: str) -> None:
    """As real rounded mouths do (bench clips: 0.85-0.9 of the resting width, the outer
    lips 0.38-0.46 as tall as wide against 0.32, the red 6-23 % taller), read by the
    landmarker on the rendered frame."""
    rest, _ = _shape(rounded, analyzer, {})
    ring, _ = _shape(rounded, analyzer, {shape: 0.5})
    width, outer_h_over_w, _, red = range(4)
    assert ring[width] < 0.93 * rest[width]
    assert ring[outer_h_over_w] > 1.1 * rest[outer_h_over_w]
    assert ring[red] > 1.04 * rest[red]


def test_an_o_reads_back_as_funnel_and_an_oo_as_pucker(
        rounded: PortraitRenderer, analyzer: FaceAnalyzer) -> None:
    """A funnel with the jaw a little open (an "o") reads as funnel, the corpus's /u/
    (mostly pucker) as pucker, and the O's hole is rounder than the spread mouth's
    slot at the same jaw."""
    spread_shape, spread = _shape(rounded, analyzer, {"jawOpen": 0.15})
    o_shape, o = _shape(rounded, analyzer, {"jawOpen": 0.15, "mouthFunnel": 0.4})
    _, oo = _shape(rounded, analyzer, OO)
    funnel, pucker = column_index("mouthFunnel"), column_index("mouthPucker")
    assert o[funnel] > spread[funnel] + 0.1
    assert oo[pucker] > spread[pucker] + 0.1
    assert o_shape[2] > 1.5 * spread_shape[2]  # inner height over inner width


def _turn_out(basis: ActuatorBasis) -> tuple[float, float]:
    """(upper, lower) lip's turn-out on a funnel at the mouth's centre, face units: how
    much further its outer edge moves away from the mouth line than its inner edge."""
    ring = basis.lip_ring(FUNNEL_HOLE, FUNNEL_EVERT)[:, 1]
    return (float(ring[LIPS_UPPER_INNER[5]] - ring[LIPS_UPPER_OUTER[5]]),
            float(ring[LIPS_LOWER_OUTER[5]] - ring[LIPS_LOWER_INNER[5]]))


def test_a_thin_lip_turns_out_by_its_own_thickness(rounded: PortraitRenderer) -> None:
    """A lip half as thick turns out half as far: as a share of itself a thin lip shows
    as much more red as a full one (in face units a thin lower lip's red had doubled)."""
    full = ActuatorBasis(rounded.mesh)
    landmarks = rounded.mesh.vertices[:478].copy()
    for outer, inner in ((LIPS_UPPER_OUTER, LIPS_UPPER_INNER),
                         (LIPS_LOWER_OUTER, LIPS_LOWER_INNER)):  # both lips half as thick
        landmarks[list(outer), 1] = (landmarks[list(outer), 1]
                                     + landmarks[list(inner), 1]) / 2.0
    thin = ActuatorBasis(build_mesh(landmarks, rounded.size))
    for lip in range(2):
        share = thin.lip_thickness()[lip] / full.lip_thickness()[lip]
        assert 0.4 < share < 0.6  # the edit made the lip thinner, and only that
        assert _turn_out(full)[lip] > 0.01
        assert _turn_out(thin)[lip] == pytest.approx(share * _turn_out(full)[lip], rel=0.1)


def test_flat_fallback_is_todays_mouth(rounded: PortraitRenderer) -> None:
    """Without rounding the funnel and pucker fields are the flat lens (no ring)."""
    flat = ActuatorBasis(rounded.mesh, rounding=False)
    ring = ActuatorBasis(rounded.mesh, rounding=True)
    assert np.allclose(flat.funnel(), flat.funnel_flat())
    lower_outer = list(LIPS_LOWER_OUTER[3:-3])
    funnel_gain = ring.funnel()[lower_outer, 1] - flat.funnel()[lower_outer, 1]
    assert np.all(funnel_gain > 0.05)  # the ring turns the lower lip out


def _folded(renderer: PortraitRenderer, motion: np.ndarray) -> int:
    """Skin triangles around the mouth that turn over (a tear) or stretch over 6x in area
    (a smear). The lips' own triangles are left out: their slivers fold along the lip
    line when the mouth opens (today's jaw does it), under the painted opening."""
    xy0, _ = renderer.vertices(renderer.reference)
    xy, _ = renderer.vertices(motion)
    tris = renderer.mesh.triangles
    lm = xy0[:478]
    centre = (lm[61] + lm[291]) / 2.0
    reach = 1.2 * float(np.linalg.norm(lm[291] - lm[61]))
    near = np.linalg.norm(xy0[tris].mean(axis=1) - centre, axis=1) < reach
    outer = np.vstack([lm[list(LIPS_UPPER_OUTER)], lm[list(LIPS_LOWER_OUTER[-2:0:-1])]])
    on_lips = np.array([cv2.pointPolygonTest(outer.astype(np.float32), (float(x), float(y)),
                                             True) > -1.0 for x, y in xy0])
    skin = ~on_lips[tris].any(axis=1)

    def area(p: np.ndarray) -> np.ndarray:
        a, b, c = p[tris[:, 0]], p[tris[:, 1]], p[tris[:, 2]]
        return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1])
                      - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))

    before, after = area(xy0), area(xy)
    flipped = np.sign(before) != np.sign(after)
    stretched = np.abs(after) > 6.0 * np.maximum(np.abs(before), 0.5)
    return int((near & skin & (flipped | stretched)).sum())


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_portrait_that_cannot_round_keeps_the_flat_mouth_and_says_so_once(
        default_portrait: Portrait, analyzer: FaceAnalyzer, edit: str,
        caplog: pytest.LogCaptureFixture) -> None:
    make, reason = EDITS[edit]
    portrait = Portrait.load(make(default_portrait), 512)
    with caplog.at_level(logging.WARNING, logger="avatar.render.renderer"):
        renderer = PortraitRenderer(portrait, 512, layered=False)
        again = PortraitRenderer(portrait, 512, layered=False)
    assert any(reason in why for why in renderer.rounding_blockers), renderer.rounding_blockers
    said = [r for r in caplog.records if "not rounded" in r.getMessage()]
    assert len(said) == 1 and reason in said[0].getMessage()
    assert again.rounding_blockers == renderer.rounding_blockers
    flat = ActuatorBasis(renderer.mesh, rounding=False).build().reshape(len(ACTUATORS), -1)
    assert np.array_equal(renderer._basis, flat)
    for values in (OO, {"mouthFunnel": 0.6}, {"mouthPucker": 0.8, "jawOpen": 0.3}):
        motion = varied(renderer.reference, **values)
        assert _folded(renderer, motion) == 0, values
        assert analyzer.analyze(renderer.render(motion)) is not None


def test_rounding_never_tears_the_default_portrait(rounded: PortraitRenderer) -> None:
    for funnel in (0.0, 0.5, 1.0):
        for pucker in (0.0, 0.5, 1.0):
            for jaw in (0.0, 0.4):
                motion = varied(rounded.reference, mouthFunnel=funnel, mouthPucker=pucker,
                                jawOpen=jaw)
                assert _folded(rounded, motion) == 0, (funnel, pucker, jaw)
