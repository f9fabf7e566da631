"""The compiled triangle raster draws exactly what OpenCV's fillConvexPoly drew (issue 48)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from avatar.portrait import Portrait
from avatar.render.raster import fill_triangle_ids


def _opencv_ids(corners: np.ndarray, order: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The reference: one fillConvexPoly per triangle, far to near, 1/16 px corners."""
    ids = np.full(shape, -1, np.int32)
    points = np.round(corners * 16.0).astype(np.int32)
    for t in order.tolist():
        cv2.fillConvexPoly(ids, points[t], t, cv2.LINE_8, 4)
    return ids


@pytest.mark.parametrize("seed", range(4))
def test_random_triangles_overlapping_and_crossing_the_border_match_opencv(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # small, large, slivers and triangles reaching past every border
    corners = np.concatenate([rng.uniform(-6.0, 46.0, (150, 3, 2)),
                              rng.uniform(0.0, 40.0, (30, 1, 2)) + rng.normal(0, 0.3, (30, 3, 2))]
                             ).astype(np.float32)
    order = rng.permutation(len(corners))
    ours = np.full((40, 40), -1, np.int32)
    fill_triangle_ids(ours, corners, order, 0.0, 0.0)
    np.testing.assert_array_equal(ours, _opencv_ids(corners, order, (40, 40)))


def test_a_window_of_a_larger_grid_matches_opencv_on_the_shifted_corners() -> None:
    rng = np.random.default_rng(7)
    corners = rng.uniform(0.0, 64.0, (120, 3, 2)).astype(np.float32)
    order = np.arange(len(corners))
    x0, y0 = 13, 21
    ours = np.full((20, 30), -1, np.int32)
    fill_triangle_ids(ours, corners, order, float(x0), float(y0))
    shifted = corners - np.array([x0, y0], np.float32)
    np.testing.assert_array_equal(ours, _opencv_ids(shifted, order, (20, 30)))


def test_the_renderers_mesh_rasterises_as_before(default_portrait: Portrait) -> None:
    """A real portrait's moved mesh, on the grid the renderer draws at 512 px."""
    from avatar.render.renderer import PortraitRenderer

    renderer = PortraitRenderer(default_portrait, 512, layered=False)
    motion = np.asarray(default_portrait.reference_motion, np.float32).copy()
    motion[:3] += np.array([8.0, -5.0, 3.0], np.float32)  # a turn: folds and overlaps
    xy, z = renderer.vertices(motion)
    mesh, mapper = renderer.mesh, renderer._mapper
    order = np.argsort(-(z[mesh.triangles].mean(axis=1) + mesh.tri_layer), kind="stable")
    corners = (((xy + 0.5) / mapper.step - 0.5).astype(np.float32))[mesh.triangles]
    ours = np.full((mapper.grid, mapper.grid), -1, np.int32)
    fill_triangle_ids(ours, corners, order, 0.0, 0.0)
    np.testing.assert_array_equal(ours, _opencv_ids(corners, order, ours.shape))


def test_fold_cells_mark_what_the_array_formula_marks() -> None:
    """Neighbours on foldable triangles whose source points jump apart, both axes."""
    from avatar.render.raster import fold_cells

    rng = np.random.default_rng(3)
    ids = rng.integers(-1, 20, (48, 48)).astype(np.int32)
    foldable = np.append(rng.random(20) < 0.6, False)
    map_x = rng.normal(0.0, 3.0, (48, 48)).astype(np.float32)
    map_y = rng.normal(0.0, 3.0, (48, 48)).astype(np.float32)
    sheet = foldable[ids]
    expected = np.zeros((48, 48), bool)
    for axis in (0, 1):
        jump = np.abs(np.diff(map_x, axis=axis)) + np.abs(np.diff(map_y, axis=axis))
        if axis == 0:
            pair = (jump > 5.0) & sheet[1:] & sheet[:-1]
            expected[1:] |= pair
            expected[:-1] |= pair
        else:
            pair = (jump > 5.0) & sheet[:, 1:] & sheet[:, :-1]
            expected[:, 1:] |= pair
            expected[:, :-1] |= pair
    fold = np.zeros((48, 48), bool)
    found = fold_cells(map_x, map_y, ids, foldable.astype(np.uint8), 5.0, fold)
    assert found == bool(expected.any()) and expected.any()
    np.testing.assert_array_equal(fold, expected)
