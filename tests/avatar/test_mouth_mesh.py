"""The mesh around the mouth (avatar/render/mesh.py) on the real default portrait.

A closed mouth's inner lips touch (or cross by a pixel, as joe_biden's do). The
triangulation must still keep the upper lip and the lower lip apart: a triangle joining
them across the mouth line is drawn in front of the opening and, as the lips part,
stretches the lip's texture over the opening's edge. And where the lips part, no pixel
may sample the photo far from where it is (a sliver's map extrapolated: an eye's
colours under the lip).
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.portrait import Portrait
from avatar.render.expression import ACTUATORS, ActuatorBasis
from avatar.render.mesh import (
    LAYER_BEHIND,
    LIPS_LOWER_INNER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
    BackwardMapper,
    RenderMesh,
    build_mesh,
)

UPPER = set(LIPS_UPPER_INNER[1:-1]) | set(LIPS_UPPER_OUTER[1:-1])
LOWER = set(LIPS_LOWER_INNER[1:-1]) | set(LIPS_LOWER_OUTER[1:-1])


def _crossed(landmarks: np.ndarray, px: float) -> np.ndarray:
    """The lower inner lip moved `px` above the upper inner lip (lips pressed past)."""
    out = landmarks.copy()
    inner_up, inner_lo = list(LIPS_UPPER_INNER[1:-1]), list(LIPS_LOWER_INNER[1:-1])
    out[inner_lo, :2] = out[inner_up, :2] - [0.0, px]
    return out


@pytest.fixture(scope="module", params=["as photographed", "crossed by a pixel"])
def mesh(request: pytest.FixtureRequest, default_portrait: Portrait) -> RenderMesh:
    landmarks = np.asarray(default_portrait.landmarks, np.float32)
    if request.param != "as photographed":
        landmarks = _crossed(landmarks, 1.0)
    return build_mesh(landmarks, default_portrait.size)


def test_no_triangle_joins_the_lips_across_a_closed_mouth(mesh: RenderMesh) -> None:
    tri = mesh.triangles
    upper = np.isin(tri, list(UPPER)).any(axis=1)
    lower = np.isin(tri, list(LOWER)).any(axis=1)
    across = upper & lower & (mesh.tri_layer < LAYER_BEHIND)
    assert not across.any(), tri[across].tolist()
    assert (upper & lower).any()  # the gap between the inner lips is triangulated (behind)


def test_parting_lips_samples_the_photo_near_where_it_is(mesh: RenderMesh) -> None:
    """The lips parted every way they part (jaw, funnel, pucker, together): every pixel
    around the mouth samples the photo within half an eye distance of itself."""
    basis = ActuatorBasis(mesh)
    fields = basis.build()
    mapper = BackwardMapper(mesh, grid_step=4)
    xy0 = mesh.vertices[:, :2]
    iod = basis.frame.iod
    centre = np.round(xy0[[61, 291]].mean(axis=0)).astype(int)
    r = int(0.7 * iod)
    window = (slice(centre[1] - r, centre[1] + r), slice(centre[0] - r, centre[0] + r))
    gx, gy = np.meshgrid(np.arange(mesh.size, dtype=np.float32),
                         np.arange(mesh.size, dtype=np.float32))
    jaw, funnel, pucker = (ACTUATORS.index(n) for n in ("jawOpen", "mouthFunnel",
                                                        "mouthPucker"))
    for amps in ((0.4, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0), (0.15, 0.3, 0.6),
                 (0.6, 0.5, 0.3)):
        moved = xy0 + sum(a * fields[k] for a, k in zip(amps, (jaw, funnel, pucker),
                                                        strict=True))
        mx, my = mapper(moved.astype(np.float32), mesh.vertices[:, 2])
        far = np.hypot(mx[window] - gx[window], my[window] - gy[window]) / iod
        assert float(far.max()) < 0.5, amps
