"""The renderer's per-pixel loops, compiled (numba): triangle ids and the displacement.

Why compiled: `BackwardMapper` draws ~1,160 triangles back to front into a grid of
triangle ids every frame. Done with one `cv2.fillConvexPoly` call per triangle, the
Python loop around those calls cost more than the pixels: 1.5-1.7 ms a frame at either
size, and gathering six affine coefficients per cell with `take` another 0.4 ms, out
of a frame budget we set out to halve. One compiled loop draws every triangle and
a second evaluates the displacement, with no Python in between.

The cells drawn are exactly those `fillConvexPoly(ids, corners, id, LINE_8, shift=4)`
drew (tests/avatar/test_raster.py compares them on random and real meshes, and
the renderer's frames are pixel-identical): corners rounded to 1/16 cell, each
edge walked as an 8-connected line in 16-bit fixed point (cut at the grid's border
first), then each row between the two edges that bound it. Same semantics,
written for this one job; only the loop moved out of Python. numba is already
installed with pipecat (and is listed in our own dependencies); the functions are
cached on disk after their first compilation, and a face worker compiles them while
it primes, before any session.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: fixed-point fraction bits of the edge walk, and the corners' own (1/16 cell)
_FRACTION_BITS = 16
_CORNER_BITS = 4
_ONE = 1 << _FRACTION_BITS
_HALF = _ONE >> 1


@njit(cache=True, nogil=True)
def _divide_toward_zero(numerator: int, denominator: int) -> int:
    """Integer division rounded toward zero (C's), not floored (Python's)."""
    quotient = abs(numerator) // abs(denominator)
    return quotient if (numerator >= 0) == (denominator >= 0) else -quotient


@njit(cache=True, nogil=True)
def _put(ids: np.ndarray, x: int, y: int, value: int) -> None:
    if 0 <= y < ids.shape[0] and 0 <= x < ids.shape[1]:
        ids[y, x] = value


@njit(cache=True, nogil=True)
def _outcode(x: int, y: int, right: int, bottom: int) -> int:
    return (x < 0) + (x > right) * 2 + (y < 0) * 4 + (y > bottom) * 8


@njit(cache=True, nogil=True)
def _clip_to(right: int, bottom: int, x1: int, y1: int, x2: int,
             y2: int) -> tuple[bool, int, int, int, int]:
    """The part of a fixed-point line inside [0, right] x [0, bottom]: a line that
    leaves the grid is cut at its border before it is walked (the walk starts from
    the cut, so cells near the border fall as the fill's own edges do)."""
    c1, c2 = _outcode(x1, y1, right, bottom), _outcode(x2, y2, right, bottom)
    if (c1 & c2) == 0 and (c1 | c2) != 0:
        if c1 & 12:
            a = 0 if c1 < 8 else bottom
            x1 += int(float(a - y1) * (x2 - x1) / (y2 - y1))
            y1 = a
            c1 = (x1 < 0) + (x1 > right) * 2
        if c2 & 12:
            a = 0 if c2 < 8 else bottom
            x2 += int(float(a - y2) * (x2 - x1) / (y2 - y1))
            y2 = a
            c2 = (x2 < 0) + (x2 > right) * 2
        if (c1 & c2) == 0 and (c1 | c2) != 0:
            if c1:
                a = 0 if c1 == 1 else right
                y1 += int(float(a - x1) * (y2 - y1) / (x2 - x1))
                x1 = a
                c1 = 0
            if c2:
                a = 0 if c2 == 1 else right
                y2 += int(float(a - x2) * (y2 - y1) / (x2 - x1))
                x2 = a
                c2 = 0
    return (c1 | c2) == 0, x1, y1, x2, y2


@njit(cache=True, nogil=True)
def _edge_line(ids: np.ndarray, x1: int, y1: int, x2: int, y2: int, value: int) -> None:
    """An 8-connected line between two fixed-point points: one cell per step along the
    major axis, the minor coordinate advanced by a fixed-point slope from the first
    end and rounded, plus the rounded far end."""
    right = (ids.shape[1] << _FRACTION_BITS) - 1
    bottom = (ids.shape[0] << _FRACTION_BITS) - 1
    inside, x1, y1, x2, y2 = _clip_to(right, bottom, x1, y1, x2, y2)
    if not inside:
        return
    # walk along the major axis (x unless the line is steeper than 45 degrees): the
    # steep case is the same walk with the axes swapped
    steep = abs(y2 - y1) >= abs(x2 - x1)
    if steep:
        x1, y1, x2, y2 = y1, x1, y2, x2
    if x2 < x1:
        x1, y1, x2, y2 = x2, y2, x1, y1
    minor_step = _divide_toward_zero((y2 - y1) << _FRACTION_BITS, (x2 - x1) | 1)
    count = (x2 - x1) >> _FRACTION_BITS
    _put_axes(ids, (x2 + _HALF) >> _FRACTION_BITS, (y2 + _HALF) >> _FRACTION_BITS, steep, value)
    major, minor = (x1 + _HALF) >> _FRACTION_BITS, y1 + _HALF
    for _ in range(count + 1):
        _put_axes(ids, major, minor >> _FRACTION_BITS, steep, value)
        major += 1
        minor += minor_step


@njit(cache=True, nogil=True)
def _put_axes(ids: np.ndarray, major: int, minor: int, steep: bool, value: int) -> None:
    """`_put` at (major, minor) read as (x, y), or as (y, x) for a steep line."""
    if steep:
        _put(ids, minor, major, value)
    else:
        _put(ids, major, minor, value)


@njit(cache=True, nogil=True)
def _fill_triangle(ids: np.ndarray, xs: np.ndarray, ys: np.ndarray, value: int) -> None:
    """Draw one triangle (corners `xs`, `ys`: int64 in 1/16 cell, cell centres at
    whole numbers) into `ids`: its three edges as 8-connected lines, then each row
    from its rounded top to its rounded bottom between its two edges, walked in
    fixed point from the rows where they start and rounded."""
    height, width = ids.shape
    shift = _FRACTION_BITS - _CORNER_BITS
    for i in range(3):
        j = (i + 2) % 3  # the edge from the previous corner to this one
        _edge_line(ids, xs[j] << shift, ys[j] << shift, xs[i] << shift, ys[i] << shift,
                   value)
    half = 1 << _CORNER_BITS >> 1
    top = 0
    for i in range(1, 3):
        if ys[i] < ys[top]:
            top = i
    y_min = (ys[top] + half) >> _CORNER_BITS
    y_max = (max(ys[0], ys[1], ys[2]) + half) >> _CORNER_BITS
    x_min = (min(xs[0], xs[1], xs[2]) + half) >> _CORNER_BITS
    x_max = (max(xs[0], xs[1], xs[2]) + half) >> _CORNER_BITS
    if x_max < 0 or y_max < 0 or x_min >= width or y_min >= height:
        return
    y_max = min(y_max, height - 1)
    # two walkers from the top corner, one each way round; budget: three edges
    edges = 3
    y = y_min
    index_a = index_b = top
    end_a = end_b = y_min
    x_a = x_b = -_ONE
    step_a = step_b = 0
    while True:
        if y >= end_a:
            edges, index_a, end_a, x_a, step_a = _next_edge(xs, ys, index_a, 1, y, edges,
                                                            end_a, x_a, step_a)
        if y >= end_b:
            edges, index_b, end_b, x_b, step_b = _next_edge(xs, ys, index_b, 2, y, edges,
                                                            end_b, x_b, step_b)
        if edges < 0:
            break
        if y >= 0:
            x_left = (min(x_a, x_b) + _HALF) >> _FRACTION_BITS
            x_right = (max(x_a, x_b) + _HALF) >> _FRACTION_BITS
            if x_right >= 0 and x_left < width:
                for column in range(max(x_left, 0), min(x_right, width - 1) + 1):
                    ids[y, column] = value
        x_a += step_a
        x_b += step_b
        y += 1
        if y > y_max:
            break


@njit(cache=True, nogil=True)
def _next_edge(xs: np.ndarray, ys: np.ndarray, index: int, direction: int, y: int,
               edges: int, end_row: int, x: int,
               step: int) -> tuple[int, int, int, int, int]:
    """Move a walker from corner `index` (going `direction` round: 1 or 2) on to the
    next edge that ends below row `y`. Returns the walker's new state: (edges left,
    the edge's far corner, the row it ends on, x at row `y`, x's step per row);
    edges left < 0 once the triangle is used up."""
    half = 1 << _CORNER_BITS >> 1
    shift = _FRACTION_BITS - _CORNER_BITS
    start = index
    nxt = (start + direction) % 3
    while True:
        edges -= 1
        if edges < 0:
            return edges, index, end_row, x, step
        row = (ys[nxt] + half) >> _CORNER_BITS
        if row > y:
            x_start, x_end = xs[start] << shift, xs[nxt] << shift
            step = _divide_toward_zero((x_end - x_start) * 2 + (row - y), 2 * (row - y))
            return edges, nxt, row, x_start, step
        start = nxt
        nxt = (nxt + direction) % 3


@njit(cache=True, nogil=True)
def fill_triangle_ids(ids: np.ndarray, corners: np.ndarray, order: np.ndarray,
                      origin_x: float, origin_y: float) -> None:
    """Draw triangles `order` (far to near) into `ids` (H, W) int32, in place.

    `corners` (T, 3, 2) holds every triangle's corners in cell coordinates;
    (origin_x, origin_y) is the cell at ids[0, 0] (a window of a larger grid).
    Corners are rounded to 1/16 cell first, as `fillConvexPoly(shift=4)` takes them.
    """
    xs = np.empty(3, np.int64)
    ys = np.empty(3, np.int64)
    scale = float(1 << _CORNER_BITS)
    for k in range(order.shape[0]):
        t = order[k]
        for c in range(3):
            xs[c] = np.int64(np.round((corners[t, c, 0] - origin_x) * scale))
            ys[c] = np.int64(np.round((corners[t, c, 1] - origin_y) * scale))
        _fill_triangle(ids, xs, ys, t)


@njit(cache=True, nogil=True)
def affine_displacement(ids: np.ndarray, coefficients: np.ndarray, gx: np.ndarray,
                        gy: np.ndarray, keep: np.ndarray, dx: np.ndarray, dy: np.ndarray,
                        kept: np.ndarray) -> None:
    """Each cell's displacement under the affine map of the triangle drawn there.

    `coefficients` (6, T + 1) float32 are (ax, bx, cx, ay, by, cy), the last column
    for uncovered cells (id -1): dx = ax gx + bx gy + cx, dy likewise, in float32 as
    numpy computes it. `kept[y, x]` = `keep[id]` (uint8: triangles whose warp stays
    exactly affine). Outputs (H, W) are written in place.
    """
    height, width = ids.shape
    last = coefficients.shape[1] - 1
    for y in range(height):
        for x in range(width):
            t = ids[y, x]
            if t < 0:
                t = last
            px, py = gx[y, x], gy[y, x]
            dx[y, x] = coefficients[0, t] * px + coefficients[1, t] * py + coefficients[2, t]
            dy[y, x] = coefficients[3, t] * px + coefficients[4, t] * py + coefficients[5, t]
            kept[y, x] = keep[t]


@njit(cache=True, nogil=True)
def fold_cells(map_x: np.ndarray, map_y: np.ndarray, ids: np.ndarray, foldable: np.ndarray,
               limit: float, fold: np.ndarray) -> bool:
    """Mark in `fold` (H, W) bool both cells of every pair of neighbours (down, right)
    that both lie on foldable triangles (`foldable[id]`, uint8 of T + 1) and whose
    source points jump apart by more than `limit` (|dx| + |dy|, float32 as numpy's
    diff computes it). True when any cell was marked."""
    height, width = ids.shape
    last = foldable.shape[0] - 1
    found = False
    for y in range(height):
        for x in range(width):
            t = ids[y, x]
            if not foldable[t if t >= 0 else last]:
                continue
            if y + 1 < height:
                u = ids[y + 1, x]
                if foldable[u if u >= 0 else last]:
                    jump = abs(map_x[y + 1, x] - map_x[y, x]) + abs(map_y[y + 1, x] - map_y[y, x])
                    if jump > limit:
                        fold[y, x] = fold[y + 1, x] = True
                        found = True
            if x + 1 < width:
                u = ids[y, x + 1]
                if foldable[u if u >= 0 else last]:
                    jump = abs(map_x[y, x + 1] - map_x[y, x]) + abs(map_y[y, x + 1] - map_y[y, x])
                    if jump > limit:
                        fold[y, x] = fold[y, x + 1] = True
                        found = True
    return found


def compile_now() -> None:
    """Compile (or load from numba's disk cache) every function here, on a tiny grid:
    `make setup` calls it so the first face of a fresh install does not pay the
    few seconds of compilation. The mouth painter's and the gaze painter's
    compositing loops too (avatar/render/mouth_compose.py, eye_compose.py), the
    expression read-out's inverse (readout_kernel.py), and the mel sums of the reply's
    audio features (avatar/audio_features.py, which a session's generator reads): one
    call warms every compiled loop of a face."""
    from avatar.audio_features import compile_now as compile_features
    from avatar.render.eye_compose import compile_now as compile_eyes
    from avatar.render.mouth_compose import compile_now as compile_mouth
    from avatar.render.readout_kernel import compile_now as compile_readout

    compile_mouth()
    compile_eyes()
    compile_readout()
    compile_features()
    ids = np.full((4, 4), -1, np.int32)
    corners = np.array([[[0.0, 0.0], [3.0, 0.5], [1.0, 3.0]]], np.float32)
    fill_triangle_ids(ids, corners, np.zeros(1, np.int64), 0.0, 0.0)
    grid = np.zeros((4, 4), np.float32)
    affine_displacement(ids, np.zeros((6, 2), np.float32), grid, grid, np.zeros(2, np.uint8),
                        np.empty_like(grid), np.empty_like(grid), np.empty((4, 4), np.uint8))
    fold_cells(grid, grid, ids, np.zeros(2, np.uint8), 1.0, np.zeros((4, 4), np.bool_))


__all__ = ["affine_displacement", "compile_now", "fill_triangle_ids", "fold_cells"]
