"""Mirrored-texture fill (avatar/render/mirror.py) on a head turned in its photo.

No turned photo ships in the repository, so the turned portrait is made from the
real default portrait: rendered at yaw -22 (as luis_pedro_coelho is turned in his
photo, bench/face/PORTRAITS.md) and loaded with the real landmarker as a new
portrait. Turned back to the camera, its squeezed far cheek used to be stretched
into horizontal streaks. The fill samples the other cheek there, so the
texture drawn on the far cheek must come from photo pixels stretched far less.
(A horizontal-to-vertical gradient-energy ratio was tried as the statistic and
did not separate the two: without the fill the far cheek also shows bits of
background with sharp vertical edges.)
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.mirror import kept_landmarks, mirror_pairs

TURN_IN_PHOTO = -22.0
TURN_BACK = 20.0


def _turned(reference: np.ndarray, degrees: float) -> np.ndarray:
    motion = reference.copy()
    motion[column_index("yaw")] += degrees
    return motion


@pytest.fixture(scope="module")
def turned_portrait(default_portrait: Portrait) -> Portrait:
    renderer = PortraitRenderer(default_portrait, size=512)
    assert renderer.wait_for_plate(timeout=120)
    photo = renderer.render(_turned(renderer.reference, TURN_IN_PHOTO))
    portrait = Portrait.load(photo, 512)
    assert portrait.reference_motion[column_index("yaw")] < -15.0  # the landmarker sees the turn
    return portrait


def test_pairs_are_a_symmetric_involution() -> None:
    pairs = mirror_pairs()
    assert np.array_equal(pairs[pairs], np.arange(len(pairs)))
    assert (pairs[33], pairs[61], pairs[234]) == (263, 291, 454)  # eye, mouth corner, cheek
    keep = kept_landmarks()
    assert keep[[1, 4, 13, 33, 263, 61]].all()  # nose, lips, eyes keep their texture
    assert not keep[[234, 454, 50, 280]].any()  # cheeks may be mirrored


def test_far_cheek_samples_a_well_sampled_photo_region(turned_portrait: Portrait) -> None:
    """Turned back, the far cheek's texture comes from photo pixels stretched far less.

    The statistic is the stretch of the sampled texture (largest singular value
    of the photo -> frame map) over the triangles the fill takes, weighted by
    their drawn area: own texture alone against own and mirror blended by the
    fill's weights.
    """
    renderer = PortraitRenderer(turned_portrait, size=512, layered=False, mirror_fill=True)
    motion = _turned(renderer.reference, TURN_BACK)
    renderer.render(motion)
    fill = renderer._mirror
    assert fill is not None and fill.last_weights is not None
    xy, _ = renderer.vertices(motion)
    own, mirror = fill.stretch(xy)
    w = fill.last_weights[fill.cand].astype(np.float64)
    visible = np.isin(fill.cand, np.unique(renderer._mapper.ids))
    taken = visible & (w > 0.5)
    assert taken.sum() >= 20
    corners = xy[renderer.mesh.triangles[fill.cand[taken]]].astype(np.float64)
    edge1, edge2 = corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]
    area = 0.5 * np.abs(edge1[:, 0] * edge2[:, 1] - edge1[:, 1] * edge2[:, 0])  # 2-D cross
    own_mean = float(np.average(own[taken], weights=area))
    blended = float(np.average((1 - w[taken]) * own[taken] + w[taken] * mirror[taken],
                               weights=area))
    assert own_mean > 2.0  # the streaks: the photo's strip stretched at least 2x across
    assert blended < 0.6 * own_mean, (own_mean, blended)


def test_rest_and_frontal_turns_are_unchanged(default_portrait: Portrait) -> None:
    with_fill = PortraitRenderer(default_portrait, size=512, layered=False, mirror_fill=True)
    without = PortraitRenderer(default_portrait, size=512, layered=False, mirror_fill=False)
    for yaw in (0.0, 15.0):  # a frontal photo is as well sampled on both sides
        motion = _turned(with_fill.reference, yaw)
        assert np.array_equal(with_fill.render(motion), without.render(motion))
