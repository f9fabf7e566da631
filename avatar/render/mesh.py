"""The render mesh: mediapipe's 478 landmarks plus rings that carry the whole head.

Why a mesh of our own rather than mediapipe's tessellation alone: the face mesh
stops at the face oval, but a head turn must also move hair, ears, hat and the
neck edge (DESIGN.md), while the background must stay still. So the mesh is

- the 478 face landmarks (3-D, mediapipe's z in pixels, negative = closer),
- copies of the eye contours that only follow the head pose, so the eye-ball
  texture stays put while the eyelid (the original contour) slides over it,
- a "head" ring just outside the face oval and a "hair" ring further out that
  move with the head (depth from an ellipsoid head model),
- a fixed "background" ring and the image border, which never move,

Delaunay-triangulated once on the portrait. Each frame only vertex positions
change; `backward_map` rasterises the moved triangles back to front into a
coarse grid of triangle ids and turns them into a per-pixel source coordinate
map for `cv2.remap` (a piecewise-affine inverse warp, exact inside each
triangle, so the mouth can open and eyelids can close without tearing).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from avatar.render.raster import affine_displacement, fill_triangle_ids, fold_cells

# Landmark index sets of mediapipe's 478-point face mesh. "R" is the subject's
# right side, which appears on the viewer's LEFT of an unmirrored photo.
LIPS_UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIPS_UPPER_OUTER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_LOWER_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
MOUTH_CORNER_R, MOUTH_CORNER_L = 61, 291
EYE_R_UPPER = (33, 246, 161, 160, 159, 158, 157, 173, 133)
EYE_R_LOWER = (33, 7, 163, 144, 145, 153, 154, 155, 133)
EYE_L_UPPER = (263, 466, 388, 387, 386, 385, 384, 398, 362)
EYE_L_LOWER = (263, 249, 390, 373, 374, 380, 381, 382, 362)
BROW_R = (70, 63, 105, 66, 107, 46, 53, 52, 65, 55)
BROW_L = (300, 293, 334, 296, 336, 276, 283, 282, 295, 285)
IRIS_R = (468, 469, 470, 471, 472)
IRIS_L = (473, 474, 475, 476, 477)
FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
    377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
UPPER_LIP_TOP = 0  # the upper lip's outer edge on the midline
N_LANDMARKS = 478

RING_SAMPLES = 36  # points per ring: enough for a smooth head outline at 512 px
BORDER_SAMPLES = 8  # points per image side


def polygon(upper: tuple[int, ...], lower: tuple[int, ...]) -> list[int]:
    """A closed contour from an upper and a lower chain that share their end points."""
    return list(upper) + list(lower[-2:0:-1])


MOUTH_POLYGON = polygon(LIPS_UPPER_INNER, LIPS_LOWER_INNER)
EYE_R_POLYGON = polygon(EYE_R_UPPER, EYE_R_LOWER)
EYE_L_POLYGON = polygon(EYE_L_UPPER, EYE_L_LOWER)


@dataclass
class RenderMesh:
    """Vertices (N, 3) of the portrait and the triangles over them.

    `kind` labels each vertex so pose and expressions know how to move it;
    `tri_layer` pushes eye-ball and mouth-gap triangles behind the lids and lips
    in the back-to-front order (LAYER_BEHIND); on a mesh triangulated at a
    `layout`, the head and hair rings get a smaller push (a face height) so
    they stay behind the face (build_mesh).
    """

    vertices: np.ndarray  # (N, 3) float32, image pixels; z negative = towards the camera
    kind: np.ndarray  # (N,) int8, one of the KIND_* values
    triangles: np.ndarray  # (T, 3) int32
    tri_layer: np.ndarray  # (T,) float32 depth offset added when sorting
    eye_copy_of: np.ndarray  # (E,) landmark index each eye-contour copy duplicates
    size: int


KIND_FACE, KIND_EYE_COPY, KIND_HEAD, KIND_HAIR, KIND_FIXED = 0, 1, 2, 3, 4
LAYER_BEHIND = 1000.0  # tri_layer of the eye-ball and mouth-gap triangles
# Where the triangulation is laid out, each inner lip is moved away from the mouth line
# by this much (IOD, at the mouth's centre, over its width as sqrt(1 - x^2)), the lips
# and the skin beyond following over PART_FALLOFF (a gap smaller than the falloff keeps
# every point's order). The smallest that leaves no triangle across the mouth on the six
# bench portraits (0.02 left one on joe_biden): the fewer triangles it changes, the
# less the calibrated shapes move (0.06 moved grace_hopper's full blink reading by 0.03).
PART_GAP, PART_FALLOFF = 0.03, 0.06


def _ring(center: np.ndarray, oval: np.ndarray, factor: float, up_extra: float) -> np.ndarray:
    """Face-oval points pushed out from `center` by `factor` (more upwards, for hair)."""
    offsets = oval - center
    stretch = np.full(len(oval), factor, dtype=np.float32)
    upward = np.clip(-offsets[:, 1] / (np.abs(offsets[:, 1]).max() + 1e-6), 0.0, 1.0)
    stretch += up_extra * upward
    return center + offsets * stretch[:, None]


def _resample_closed(points: np.ndarray, count: int,
                     along: np.ndarray | None = None) -> np.ndarray:
    """`count` points evenly spaced (in x, y) along a closed polyline; all columns interpolated.

    With `along` (same rows as `points`), the spacing is measured on `along`
    and `points` are interpolated at the same places (a ring laid out on
    another pose of the same oval, point for point).
    """
    ref = points if along is None else along
    closed = np.vstack([points, points[:1]])
    ref_closed = np.vstack([ref, ref[:1]])
    seg = np.linalg.norm(np.diff(ref_closed[:, :2], axis=0), axis=1)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    targets = np.linspace(0.0, cum[-1], count, endpoint=False)
    cols = [np.interp(targets, cum, closed[:, c]) for c in range(points.shape[1])]
    return np.stack(cols, axis=1).astype(np.float32)


def _inside(points: np.ndarray, contour: np.ndarray) -> np.ndarray:
    """Which of `points` (M, 2) lie strictly inside the polygon `contour`."""
    poly = contour.astype(np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), False) > 0
                     for x, y in points])


def parted_lips(layout: np.ndarray) -> np.ndarray:
    """`layout` (N >= 478, 2) with the inner lips parted (PART_GAP), for triangulating.

    Why: on a closed mouth the inner lips' landmarks touch or cross, and a Delaunay
    triangulation joined the upper lip to the lower one across the mouth line (36 such
    triangles on grace_hopper, 71 on joe_biden). They lay outside the mouth's polygon,
    so they were drawn in front: as the lips parted they stretched the lip's texture
    over the opening's edge (a bright dot at the corner of an "oo", a nostril-like ring
    on the upper lip). Parted, each side is triangulated on its own and the gap between
    them only with triangles between the inner lips, which the mouth's layer hides.
    Points keep their order along the mouth's normal (the move falls off slower than it
    is large), so no triangle folds where the vertices really are.
    """
    lm = np.asarray(layout[:N_LANDMARKS], np.float64)
    iod = float(np.linalg.norm(lm[list(EYE_L_POLYGON)].mean(0) - lm[list(EYE_R_POLYGON)].mean(0)))
    a, b = lm[LIPS_UPPER_INNER[0]], lm[LIPS_UPPER_INNER[-1]]
    half = float(np.linalg.norm(b - a)) / 2.0
    if iod <= 0.0 or half <= 0.0:
        return layout
    ex = (b - a) / (2.0 * half)
    ey = np.array([-ex[1], ex[0]])
    u, v = (lm - (a + b) / 2.0) @ ex, (lm - (a + b) / 2.0) @ ey

    def line(chain: tuple[int, ...]) -> np.ndarray:
        order = np.argsort(u[list(chain)])
        return np.interp(u, u[list(chain)][order], v[list(chain)][order])

    upper, lower_line = line(LIPS_UPPER_INNER), line(LIPS_LOWER_INNER)
    lower = v > (upper + lower_line) / 2.0
    lower[list(LIPS_LOWER_INNER)] = True
    lower[list(LIPS_UPPER_INNER)] = False
    dist = np.where(lower, np.maximum(v - lower_line, 0.0), np.maximum(upper - v, 0.0))
    across = np.sqrt(np.clip(1.0 - (u / half) ** 2, 0.0, 1.0))
    move = (PART_GAP * iod * across * np.exp(-dist / (PART_FALLOFF * iod))
            * np.where(lower, 1.0, -1.0))
    out = np.array(layout, copy=True)
    out[:N_LANDMARKS] = (lm + move[:, None] * ey).astype(out.dtype)
    return out


def build_mesh(landmarks: np.ndarray, size: int,
               layout: np.ndarray | None = None) -> RenderMesh:
    """Triangulate a portrait's landmarks (478, 3) plus head, hair and background rings.

    `layout` (478, 2), optional: where to place the landmarks for the
    triangulation only (the vertices keep their photo positions; the rings are
    laid out around the layout's oval, point for point). A head turned in its
    photo squeezes its far side: a Delaunay triangulation of the squeezed points
    joins points that are not neighbours on the face (even cheek points to the
    background ring), and turned back to the camera those triangles overlap and
    fold into spikes. The renderer passes the landmarks turned to face the
    camera (PortraitRenderer, LAYOUT_MIN_YAW_DEG).
    """
    if landmarks.shape != (N_LANDMARKS, 3):
        raise ValueError(f"landmarks must be ({N_LANDMARKS}, 3), got {landmarks.shape}")
    lm = landmarks.astype(np.float32)
    oval = lm[list(FACE_OVAL), :2]
    center = oval.mean(axis=0)
    face_h = float(np.ptp(oval[:, 1]))
    # Rings: the head ring hugs the face (ears, hair at the temples, jaw line
    # into the neck), the hair ring reaches the top of the hair or a hat; the
    # background ring stays still so the warp fades out between them.
    oval_3d = _resample_closed(lm[list(FACE_OVAL)], RING_SAMPLES)
    oval_smooth = oval_3d[:, :2]
    head = _ring(center, oval_smooth, 1.18, 0.12)
    hair = _ring(center, oval_smooth, 1.45, 0.35)
    background = _ring(center, oval_smooth, 1.9, 0.45)
    side = np.linspace(0, size - 1, BORDER_SAMPLES + 1, dtype=np.float32)[:-1]
    last = np.float32(size - 1)
    border = np.concatenate([
        np.stack([side, np.zeros_like(side)], 1), np.stack([np.full_like(side, last), side], 1),
        np.stack([last - side, np.full_like(side, last)], 1),
        np.stack([np.zeros_like(side), last - side], 1),
    ])
    # Keep only background ring points inside the image (a face near the edge).
    in_image = np.all((background > 2) & (background < size - 3), axis=1)
    background = background[in_image]

    eye_copy_of = np.array(EYE_R_POLYGON + EYE_L_POLYGON, dtype=np.int32)
    # Depth of the rings: each ring point takes the depth of the face-oval point
    # it was pushed out from, so ears, temples and hair turn exactly like the
    # face edge beside them (a single depth for the whole ring stretched a
    # streaky band between the cheek and the ear on a turn).
    ring_z = oval_3d[:, 2]
    far = np.float32(float(lm[:, 2].max()) + 4.0 * face_h)
    xy = np.concatenate([lm[:, :2], lm[eye_copy_of, :2], head, hair, background, border])
    z = np.concatenate([
        lm[:, 2], lm[eye_copy_of, 2], ring_z, ring_z,
        np.full(len(background) + len(border), far),
    ]).astype(np.float32)
    kind = np.concatenate([
        np.full(N_LANDMARKS, KIND_FACE), np.full(len(eye_copy_of), KIND_EYE_COPY),
        np.full(len(head), KIND_HEAD), np.full(len(hair), KIND_HAIR),
        np.full(len(background) + len(border), KIND_FIXED),
    ]).astype(np.int8)

    # Triangulate everything except the eye copies and the irises (the copies
    # share positions with the contours; the iris points would split the eye
    # ball into slivers that the lid cannot cover cleanly).
    skip = set(IRIS_R + IRIS_L)
    use = np.array([i for i in range(len(xy)) if kind[i] != KIND_EYE_COPY and i not in skip])
    at = xy
    if layout is not None:
        face = np.asarray(layout, np.float32)
        if face.shape != (N_LANDMARKS, 2):
            raise ValueError(f"layout must be ({N_LANDMARKS}, 2), got {face.shape}")
        oval_at = _resample_closed(face[list(FACE_OVAL)], RING_SAMPLES,
                                   along=lm[list(FACE_OVAL), :2])
        center_at = face[list(FACE_OVAL)].mean(axis=0)
        at = np.concatenate([
            face, face[eye_copy_of], _ring(center_at, oval_at, 1.18, 0.12),
            _ring(center_at, oval_at, 1.45, 0.35),
            _ring(center_at, oval_at, 1.9, 0.45)[in_image], border]).astype(np.float32)
    at = parted_lips(at)
    tri = use[Delaunay(at[use].astype(np.float64)).simplices].astype(np.int32)
    centroids = at[tri].mean(axis=1)
    layer = np.zeros(len(tri), dtype=np.float32)
    # Triangles inside an eye: re-point them at the pose-only copies and draw them first.
    offset = N_LANDMARKS
    for contour in (EYE_R_POLYGON, EYE_L_POLYGON):
        inside = _inside(centroids, at[contour])
        remap = {lmk: offset + k for k, lmk in enumerate(contour)}
        for t in np.flatnonzero(inside):
            tri[t] = [remap.get(int(v), int(v)) for v in tri[t]]
        layer[inside] = LAYER_BEHIND
        offset += len(contour)
    layer[_inside(centroids, at[MOUTH_POLYGON])] = LAYER_BEHIND
    if layout is not None:
        # The rings are flat at the depth of the oval point they were pushed out
        # from, and lie further out: turning a squeezed far side towards the
        # camera brings them forward faster than the oval, and they were drawn
        # over the cheek (background-coloured patches). Behind the face they go.
        ring = np.isin(kind, (KIND_HEAD, KIND_HAIR))[tri].any(axis=1)
        layer[ring & (layer == 0)] = face_h
    return RenderMesh(vertices=np.concatenate([xy, z[:, None]], axis=1).astype(np.float32),
                      kind=kind, triangles=tri, tri_layer=layer, eye_copy_of=eye_copy_of,
                      size=size)


SHARP_LANDMARKS = frozenset(LIPS_UPPER_INNER + LIPS_LOWER_INNER + LIPS_UPPER_OUTER
                            + LIPS_LOWER_OUTER + EYE_R_UPPER + EYE_R_LOWER + EYE_L_UPPER
                            + EYE_L_LOWER + IRIS_R + IRIS_L)
OUTLINE_HOPS = 1  # smoothed band: the oval, the rings and one triangle further in
SMOOTH_SIGMA_PX = 5.0  # output pixels: wider than a jaw-line triangle (~10 px at 512)
# source pixels two neighbouring grid cells may jump apart, beyond the grid
# step itself, before the map counts as folded there (BackwardMapper)
FOLD_JUMP_PX = 3.0
SLIVER_GAIN = 4.0  # photo pixels one output pixel spans where a triangle counts as a sliver


def sharp_triangles(mesh: RenderMesh) -> np.ndarray:
    """(T,) bool: triangles whose warp must stay exactly piecewise affine.

    Only the outline of the head is smoothed: triangles touching the face oval,
    the head and hair rings or a landmark next to them (OUTLINE_HOPS), away
    from eyes and lips. Inside the face the
    expressions were calibrated on the exact affine warp (smoothing it there
    moved the landmarker's blink reading), and eyes, lids, lips and the mouth
    and eye-ball layers open and close against each other.
    """
    outline = np.zeros(len(mesh.vertices), bool)
    outline[list(FACE_OVAL)] = True
    outline[(mesh.kind == KIND_HEAD) | (mesh.kind == KIND_HAIR)] = True
    for _ in range(OUTLINE_HOPS):  # the jaw's thin triangles reach one landmark further in
        outline[mesh.triangles[outline[mesh.triangles].any(axis=1)].ravel()] = True
    sharp_vertex = np.zeros(len(mesh.vertices), bool)
    sharp_vertex[list(SHARP_LANDMARKS)] = True
    sharp_vertex[mesh.kind == KIND_EYE_COPY] = True
    smooth = outline[mesh.triangles].any(axis=1)
    return ~smooth | sharp_vertex[mesh.triangles].any(axis=1) | (mesh.tri_layer >= LAYER_BEHIND)


class BackwardMapper:
    """Turns moved vertex positions into a `cv2.remap` source map, back to front.

    The triangle-id raster runs on a grid `grid_step` times smaller than the output
    (renderer.MAP_STEP_PX: a 128 x 128 grid at both sizes): the map is affine inside each triangle,
    so bilinear up-sampling of it is nearly exact and saves most of the per-pixel work.

    Along the head's outline (sharp_triangles) the displacement is then
    smoothed (Gaussian, SMOOTH_SIGMA_PX): piecewise-affine triangles stretched
    on a turn bend every edge crossing them at each triangle border, and a row
    of thin triangles along the jaw turned the cheek's outline into a
    saw-tooth. At rest the displacement is zero, so the portrait is unchanged.

    Folds: where a nearer surface covers a farther one (the nose over the far
    cheek on a turn), neighbouring grid cells map to source points far apart,
    and bilinear up-sampling between them sampled the photo along the line
    joining them, which crosses the nose's shaded side: a thin dark line along
    the nose. So wherever two neighbouring cells of the exact map jump by more
    than FOLD_JUMP_PX in the source, the full-resolution pixels around them
    get the affine map of the triangle on top of them (`pixel_ids`) instead, clamped to
    that triangle's part of the photo (a pixel centre just outside a sliver
    triangle would otherwise extrapolate far off: bright dots in a crease).
    Only folds in the skin above the mouth are mended (the nose and the cheeks
    beside it), not the lips, chin, lids or the mouth and eye layers (edges the
    mouth shapes, jawOpen and blinks were calibrated with); away from folds
    the map is what it was (docs/nose_fold_before_after.png).
    """

    def __init__(self, mesh: RenderMesh, grid_step: int = 2) -> None:
        self.mesh = mesh
        self.step = grid_step
        self.grid = (mesh.size + grid_step - 1) // grid_step
        g = self.grid
        centers = (np.arange(g, dtype=np.float32) + 0.5) * grid_step - 0.5
        self.gx, self.gy = np.meshgrid(centers, centers)  # (g, g) output pixel coordinates
        self.ids = np.empty((g, g), dtype=np.int32)
        self._near_fold = np.ones((3, 3), np.uint8)
        self.src = mesh.vertices[:, :2].astype(np.float64)
        corners = self.src[mesh.triangles]  # (T, 3, 2)
        self.src_lo = (corners.min(axis=1) - 0.5).astype(np.float32)  # (T, 2)
        self.src_hi = (corners.max(axis=1) + 0.5).astype(np.float32)
        self.sharp = np.concatenate([sharp_triangles(mesh), [False]])  # index -1: uncovered
        # where folds are mended: the skin above the mouth (the nose and the
        # cheeks beside it), not the eye copies, the mouth and eye layers, the
        # lips or the chin, whose edges the mouth shapes, jawOpen and blinks
        # were calibrated with
        xy0 = mesh.vertices[:, :2].astype(np.float64)
        down = xy0[CHIN] - xy0[FOREHEAD]
        above_mouth = (xy0 - xy0[UPPER_LIP_TOP]) @ down < 0.0
        above_mouth[mesh.kind == KIND_EYE_COPY] = False
        skin = above_mouth[mesh.triangles].all(axis=1) & (mesh.tri_layer < LAYER_BEHIND)
        self.foldable = self.sharp & np.concatenate([skin, [False]])
        # the mouth's gap (the triangles between the inner lips), and the lips': the
        # triangles with a corner on or inside the outer lip line
        face = (mesh.kind[mesh.triangles] == KIND_FACE).all(axis=1)
        self.gap = np.concatenate([face & (mesh.tri_layer >= LAYER_BEHIND), [False]])
        on_lips = np.zeros(len(mesh.vertices), bool)
        on_lips[list(LIPS_UPPER_OUTER + LIPS_LOWER_OUTER + LIPS_UPPER_INNER
                     + LIPS_LOWER_INNER)] = True
        on_lips[:N_LANDMARKS] |= _inside(xy0[:N_LANDMARKS],
                                         xy0[polygon(LIPS_UPPER_OUTER, LIPS_LOWER_OUTER)])
        self.mouth = on_lips[mesh.triangles].any(axis=1) | self.gap[:-1]
        self.sigma = SMOOTH_SIGMA_PX / grid_step
        reach = int(np.ceil(2.0 * self.sigma)) * 2 + 1
        self.guard = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
        # each triangle's photo corner 0 and its two edges from it (the affine's
        # target side never moves), and its centre for degenerate triangles
        src_corners = self.src[mesh.triangles]  # (T, 3, 2)
        self._src0 = src_corners[:, 0]
        self._src_edge1 = src_corners[:, 1] - src_corners[:, 0]
        self._src_edge2 = src_corners[:, 2] - src_corners[:, 0]
        self._src_centre = src_corners.mean(axis=1)

    def pixel_ids(self, dst_xy: np.ndarray, dst_z: np.ndarray,
                  window: tuple[int, int, int, int] | None = None,
                  order: np.ndarray | None = None) -> np.ndarray:
        """int32 ids of the triangle on top at every output pixel (-1: none),
        rasterised at full resolution in the same order as the grid, over
        `window` = (y0, y1, x0, x1) (default: the whole frame, (size, size)).
        The map needs it only around folds (_fix_folds). `order`: the drawing
        order, far to near, if already known."""
        mesh = self.mesh
        y0, y1, x0, x1 = window if window is not None else (0, mesh.size, 0, mesh.size)
        if order is None:
            depth = dst_z[mesh.triangles].mean(axis=1) + mesh.tri_layer
            order = np.argsort(-depth, kind="stable")
        ids = np.full((y1 - y0, x1 - x0), -1, np.int32)
        fill_triangle_ids(ids, dst_xy[mesh.triangles].astype(np.float32),
                          order.astype(np.int64), float(x0), float(y0))
        return ids

    def pixels_off_own_triangle(self, dst_xy: np.ndarray, dst_z: np.ndarray,
                                tolerance_px: float = 2.0) -> int:
        """How many pixels of the unsmoothed warp sample the photo more than
        `tolerance_px` outside the source box of the triangle drawn there: the
        measure of a fold sampling the wrong surface (a dark line along the nose).
        A diagnostic for tests (and the retired nose_fold bench); it renders the map again."""
        map_x, map_y = self(dst_xy, dst_z)
        ids = self.pixel_ids(dst_xy, dst_z)
        sharp = self.sharp[ids] & (ids >= 0)
        t = ids[sharp]
        off_x = np.maximum(self.src_lo[t, 0] - map_x[sharp], map_x[sharp] - self.src_hi[t, 0])
        off_y = np.maximum(self.src_lo[t, 1] - map_y[sharp], map_y[sharp] - self.src_hi[t, 1])
        return int((np.maximum(off_x, off_y) > tolerance_px).sum())

    def __call__(self, dst_xy: np.ndarray, dst_z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source maps (size, size) float32 x and y for vertices moved to `dst_xy`."""
        mesh, step = self.mesh, self.step
        tri = mesh.triangles
        depth = dst_z[tri].mean(axis=1) + mesh.tri_layer
        order = np.argsort(-depth, kind="stable")  # far (large z) first
        # corners in grid cells (cell centres at integers), drawn far to near
        # (avatar/render/raster.py, compiled: no Python per triangle)
        corners = (((dst_xy + 0.5) / step - 0.5).astype(np.float32))[tri]
        ids = self.ids
        ids.fill(-1)
        fill_triangle_ids(ids, corners, order, 0.0, 0.0)
        shift = self.displacement_affines(dst_xy)
        # the displacement map from each cell's triangle's affine; uncovered cells
        # (-1) take the last, all-zero column: no displacement
        g = self.grid
        dx, dy = np.empty((g, g), np.float32), np.empty((g, g), np.float32)
        kept = np.empty((g, g), np.uint8)
        # the flags read as bytes in place (a view: `sharp` stays the one to edit)
        affine_displacement(ids, shift, self.gx, self.gy, self.sharp.view(np.uint8),
                            dx, dy, kept)
        gx, gy = self.gx, self.gy
        # smooth the displacement away from eyes and lips (see the class docstring)
        sharp = cv2.dilate(kept, self.guard).view(bool)
        sx = cv2.GaussianBlur(dx, (0, 0), self.sigma, borderType=cv2.BORDER_REPLICATE)
        sy = cv2.GaussianBlur(dy, (0, 0), self.sigma, borderType=cv2.BORDER_REPLICATE)
        np.copyto(sx, dx, where=sharp)
        np.copyto(sy, dy, where=sharp)
        mx, my = gx + sx, gy + sy
        self._clamp_slivers(mx, my, shift, sharp)
        if step == 1:
            return mx, my
        size = (mesh.size, mesh.size)
        full_x = cv2.resize(mx, size, interpolation=cv2.INTER_LINEAR)
        full_y = cv2.resize(my, size, interpolation=cv2.INTER_LINEAR)
        self._fix_folds(full_x, full_y, mx, my, shift, dst_xy, dst_z, order)
        return full_x, full_y

    def _clamp_slivers(self, mx: np.ndarray, my: np.ndarray, shift: np.ndarray,
                       exact: np.ndarray) -> None:
        """Keep the samples of squashed triangles on their own part of the photo, in place.

        Around the mouth, where the map is its triangle's own affine (`exact`: the
        sharp band; and the mouth's gap), a cell centre just outside a triangle
        squashed to a sliver (the output SLIVER_GAIN times smaller than the photo
        across) extrapolates far off: lips parting from touching or crossed inner lips
        sampled an eye's colours under the lip (joe_biden, 10 IOD away). Those cells
        are clamped to their triangle's box in the photo. Only the mouth's: a closing
        lid is such a sliver too, and the blinks were calibrated on its map as it is.
        A frame without such a triangle pays one pass over the mouth's coefficients."""
        risky = np.zeros(len(self.mouth), bool)
        risky[self.mouth] = (np.abs(shift[[0, 1, 3, 4]][:, :-1][:, self.mouth]).max(axis=0)
                             > SLIVER_GAIN - 1.0)
        if not risky.any():
            return
        ids = self.ids
        cells = np.concatenate([risky, [False]])[ids] & (exact | self.gap[ids])
        if not cells.any():
            return
        t = ids[cells]
        mx[cells] = np.clip(mx[cells], self.src_lo[t, 0], self.src_hi[t, 0])
        my[cells] = np.clip(my[cells], self.src_lo[t, 1], self.src_hi[t, 1])

    def displacement_affines(self, dst_xy: np.ndarray) -> np.ndarray:
        """Each triangle's affine map from output pixel to photo point, as a
        displacement: src - p = (ax x + bx y + cx, ay x + by y + cy), a (6, T + 1)
        float32 table, rows (ax, bx, cx, ay, by, cy) (the last column, zero, for
        uncovered pixels).

        Closed form from the triangle's two edges (2x2 inverse), not a batched
        3x3 inverse and einsum: the same map at a quarter of the cost. A
        degenerate triangle (|det| <= 1e-3 px^2, squashed flat) maps to the
        centre of its photo triangle."""
        d = dst_xy[self.mesh.triangles].astype(np.float64)  # (T, 3, 2)
        d0 = d[:, 0]
        e1, e2 = d[:, 1] - d0, d[:, 2] - d0
        det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        good = np.abs(det) > 1e-3
        inv_det = np.where(good, 1.0 / np.where(good, det, 1.0), 0.0)
        # inverse of the edge matrix [e1 e2] (edges as columns)
        i00, i01 = e2[:, 1] * inv_det, -e2[:, 0] * inv_det
        i10, i11 = -e1[:, 1] * inv_det, e1[:, 0] * inv_det
        f1, f2 = self._src_edge1, self._src_edge2
        m00 = f1[:, 0] * i00 + f2[:, 0] * i10
        m01 = f1[:, 0] * i01 + f2[:, 0] * i11
        m10 = f1[:, 1] * i00 + f2[:, 1] * i10
        m11 = f1[:, 1] * i01 + f2[:, 1] * i11
        cx = np.where(good, self._src0[:, 0] - m00 * d0[:, 0] - m01 * d0[:, 1],
                      self._src_centre[:, 0])
        cy = np.where(good, self._src0[:, 1] - m10 * d0[:, 0] - m11 * d0[:, 1],
                      self._src_centre[:, 1])
        # a degenerate triangle's map is the constant centre: its displacement
        # is centre - p, i.e. -1 on the diagonal (m is 0 there)
        table = np.zeros((6, len(d) + 1), np.float32)
        table[:, :-1] = (m00 - 1.0, m01, cx, m10, m11 - 1.0, cy)
        return table

    def _fix_folds(self, full_x: np.ndarray, full_y: np.ndarray, mx: np.ndarray,
                   my: np.ndarray, shift: np.ndarray, dst_xy: np.ndarray,
                   dst_z: np.ndarray, order: np.ndarray) -> None:
        """Exact per-pixel maps, in place, around folds of the unsmoothed warp.

        Only frames with a fold pay for a full-resolution raster, of the
        window around the folds; the grid raster, and the map away from
        folds, stay as they were.
        """
        # skin on both sides (the nose over the cheek); the smoothed outline is
        # continuous already (compiled: avatar/render/raster.py)
        limit = FOLD_JUMP_PX + self.step  # beyond a grid step's own span
        fold = np.zeros(mx.shape, bool)
        if not fold_cells(mx, my, self.ids, self.foldable.view(np.uint8), float(limit), fold):
            return
        # the pixels whose bilinear weights reach a fold cell: each such cell's
        # step x step block of output pixels (the cell nearest to them)
        near = cv2.dilate(fold.view(np.uint8), self._near_fold)
        cy, cx = np.nonzero(near)
        offsets = np.arange(self.step)
        size = self.mesh.size
        ys = (cy[:, None, None] * self.step + offsets[None, :, None]).repeat(self.step, 2).ravel()
        xs = (cx[:, None, None] * self.step + offsets[None, None, :]).repeat(self.step, 1).ravel()
        inside = (ys < size) & (xs < size)
        ys, xs = ys[inside], xs[inside]
        y0, x0 = int(ys.min()), int(xs.min())
        window = (y0, int(ys.max()) + 1, x0, int(xs.max()) + 1)  # only where folds are
        t = self.pixel_ids(dst_xy, dst_z, window, order)[ys - y0, xs - x0]
        keep = t >= 0
        ys, xs, t = ys[keep], xs[keep], t[keep]
        ax, bx, cx, ay, by, cy = (c[t] for c in shift)
        fx, fy = xs.astype(np.float32), ys.astype(np.float32)
        # A pixel centre just outside a sliver triangle extrapolates its affine
        # map far off; keep every sample on the triangle's own part of the photo.
        lo, hi = self.src_lo[t], self.src_hi[t]
        full_x[ys, xs] = np.clip(fx + ax * fx + bx * fy + cx, lo[:, 0], hi[:, 0])
        full_y[ys, xs] = np.clip(fy + ay * fx + by * fy + cy, lo[:, 1], hi[:, 1])
