"""Mirrored-texture fill: skin the photo barely shows, sampled from the other side of the face.

Why: one photo holds few pixels of a surface it sees edge-on. A head turned
~22 degrees in its photo (luis_pedro_coelho, docs/renderer.md) shows its far
cheek as a thin strip; turned back to the camera, the piecewise-affine warp
stretches that strip 2-4x across, into horizontal streaks over half the face.
No warp can fix that: the texture is not in the photo. The other cheek is, and
faces are nearly symmetric, so where a rendered triangle's own source is
strongly foreshortened and its mirror triangle's is not, the triangle samples
its mirror instead (docs/renderer.md, "Mirrored fill").

How:

- Pairing (once, shared): mediapipe's canonical face model is exactly
  left/right symmetric, so landmark i's mirror is the vertex nearest to i with
  x negated (`mirror_pairs`; midline points pair with themselves).
- Per portrait (setup): the triangles that may be mirrored (`mirrorable`):
  all three vertices face landmarks, away from the eyes, lips and nose, which
  keep their own texture (a mirrored eye, mouth corner or nostril looks wrong,
  and the expressions and blinks were calibrated on their own pixels). A
  triangle's mirror source is its vertices' mirror landmarks in the photo; the
  affine map to them includes the left/right flip.
- Per frame: each mirrorable triangle's stretch (largest singular value of the
  photo -> frame map) for its own source and for its mirror's. The mirror
  weight rises with the own stretch (STRETCH_FROM .. STRETCH_FULL) and with how
  much better sampled the mirror is (GAIN_FROM .. GAIN_FULL): on a frontal
  photo turned, both sides are equally sampled and nothing is mirrored. Where
  any weight is > 0, the weights are spread on the mapper's grid (a dilation,
  then a Gaussian: a soft seam so a difference in skin tone shows no edge),
  the mirror map is built there, and the frame is blended with a second remap
  of the source over that window only. Optionally (TONE_SIGMA_PX > 0, off:
  not yet looked at) the colour below that scale stays the frame's own, so the
  mirror would add detail but not the other side's light.

At rest and on small turns no triangle qualifies, so the frame is unchanged
and costs nothing extra.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from avatar.face_analysis import canonical_face_model
from avatar.render.mesh import (
    EYE_L_POLYGON,
    EYE_R_POLYGON,
    KIND_FACE,
    KIND_HAIR,
    KIND_HEAD,
    LAYER_BEHIND,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_OUTER,
    BackwardMapper,
    RenderMesh,
    polygon,
)

N_CANONICAL = 468  # landmarks in the canonical model (the irises are not in it)
# Own stretch (photo -> frame, largest singular value) where mirroring starts
# and where it is full: below ~1.5 the photo still holds most of the detail.
STRETCH_FROM, STRETCH_FULL = 1.6, 2.4
# How many times better the mirror samples the triangle (own stretch / mirror
# stretch) before it is used at all and fully.
GAIN_FROM, GAIN_FULL = 1.3, 2.0
SEAM_PX = 10.0  # output pixels over which the mirror fades in (dilation + Gaussian)
TONE_SIGMA_PX = 0.0  # low-pass scale below which colour stays the frame's own (0: off)
# Canonical-model centimetres (x right, y up): the nose kept on its own texture,
# from the bridge between the eyes to under the nostrils, as wide as the alae.
NOSE_HALF_WIDTH_CM = 1.9
NOSE_Y_CM = (-2.4, 3.4)
KEEP_MARGIN_CM = 0.35  # eyes and lips: their contours plus this much skin around them


@functools.cache
def mirror_pairs() -> np.ndarray:
    """(468,) int: the landmark on the other side of the face (itself on the midline).

    From mediapipe's canonical face model (avatar.face_analysis), which is
    exactly symmetric: the nearest vertex to each vertex mirrored in x.
    """
    model = canonical_face_model()
    flipped = model * np.array([-1.0, 1.0, 1.0])
    dist = np.linalg.norm(model[:, None, :] - flipped[None, :, :], axis=2)
    pairs = dist.argmin(axis=1)
    if not np.array_equal(pairs[pairs], np.arange(len(pairs))):
        raise RuntimeError("canonical face model is not left/right symmetric")
    pairs.setflags(write=False)
    return pairs


def _near_polygon(points: np.ndarray, contour: np.ndarray, margin: float) -> np.ndarray:
    """Which of `points` (M, 2) lie inside `contour` or within `margin` of it."""
    poly = contour.astype(np.float32).reshape(-1, 1, 2)
    return np.array([cv2.pointPolygonTest(poly, (float(x), float(y)), True) > -margin
                     for x, y in points])


@functools.cache
def kept_landmarks() -> np.ndarray:
    """(468,) bool: landmarks of the eyes, lips and nose, which keep their own texture."""
    xy = canonical_face_model()[:, :2]
    keep = (np.abs(xy[:, 0]) < NOSE_HALF_WIDTH_CM) & (xy[:, 1] > NOSE_Y_CM[0]) & (
        xy[:, 1] < NOSE_Y_CM[1])
    lips = polygon(LIPS_UPPER_OUTER, LIPS_LOWER_OUTER)
    for contour in (EYE_R_POLYGON, EYE_L_POLYGON, lips):
        keep |= _near_polygon(xy, xy[contour], KEEP_MARGIN_CM)
    keep.setflags(write=False)
    return keep


def mirrorable_triangles(mesh: RenderMesh) -> np.ndarray:
    """(T,) bool: triangles that may sample their mirror (face skin only)."""
    tri = mesh.triangles
    face = (mesh.kind == KIND_FACE) & (np.arange(len(mesh.kind)) < N_CANONICAL)
    ok = face[tri].all(axis=1) & (mesh.tri_layer < LAYER_BEHIND)
    keep = np.zeros(len(mesh.kind), bool)
    keep[:N_CANONICAL] = kept_landmarks()
    return ok & ~keep[tri].any(axis=1)


def outline_triangles(mesh: RenderMesh) -> np.ndarray:
    """(T,) bool: triangles between the face oval and the head and hair rings.

    They have no mirror of their own (ring points have no pair), but on the
    far side they carry the same squeezed strip of photo as the cheek beside
    them; kept on their own texture, that strip showed as a light seam along
    the outline of a mirrored cheek (joe_biden, docs/renderer.md). The fill
    extends its nearest cheek triangle's mirror map over them instead.
    """
    tri = mesh.triangles
    ring = np.isin(mesh.kind, (KIND_HEAD, KIND_HAIR))
    face = (mesh.kind == KIND_FACE) & (np.arange(len(mesh.kind)) < N_CANONICAL)
    keep = np.zeros(len(mesh.kind), bool)
    keep[:N_CANONICAL] = kept_landmarks()
    allowed = face | ring
    return (ring[tri].any(axis=1) & allowed[tri].all(axis=1) & ~keep[tri].any(axis=1)
            & (mesh.tri_layer < LAYER_BEHIND))


def _ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below lo, 1 above hi, smoothstep between (no visible switch as a head turns)."""
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _max_stretch(src_edges: np.ndarray, inv_dst_edges: np.ndarray) -> np.ndarray:
    """(C,) largest singular value of the photo -> frame map of each triangle.

    The frame -> photo Jacobian is J = S E^-1 (S, E: the 2x2 edge matrices); the
    photo is stretched most where J shrinks most, by 1 / sigma_min(J).
    """
    j = src_edges @ inv_dst_edges  # (C, 2, 2)
    frob = (j * j).sum(axis=(1, 2))
    det = j[:, 0, 0] * j[:, 1, 1] - j[:, 0, 1] * j[:, 1, 0]
    smin2 = 0.5 * (frob - np.sqrt(np.maximum(frob * frob - 4.0 * det * det, 0.0)))
    return 1.0 / np.sqrt(np.maximum(smin2, 1e-12))


def _edges(corners: np.ndarray) -> np.ndarray:
    """(C, 2, 2) columns: corner 1 - corner 0 and corner 2 - corner 0."""
    return np.stack([corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0]], axis=2)


class MirrorFill:
    """Blends mirrored texture into a warped frame where the photo is too foreshortened.

    Built once per portrait on the renderer's mesh and mapper; `blend` runs after
    the mapper, on the frame it remapped (the grid of triangle ids is the mapper's).
    """

    def __init__(self, mesh: RenderMesh, mapper: BackwardMapper) -> None:
        self.mesh, self.mapper = mesh, mapper
        self.cand = np.flatnonzero(mirrorable_triangles(mesh))  # (C,)
        tri = mesh.triangles[self.cand]
        src = mesh.vertices[:, :2].astype(np.float64)
        pairs = mirror_pairs()
        self.own_src = src[tri]  # (C, 3, 2)
        self.mirror_src = src[pairs[tri]]  # (C, 3, 2): the flip is in the vertex order
        self.own_edges = _edges(self.own_src)
        self.mirror_edges = _edges(self.mirror_src)
        # cells the mirror may be blended into: the mirrorable skin, and the
        # outline band beside it, which borrows its nearest cheek cell's map
        self.mapped_cell = np.zeros(len(mesh.triangles) + 1, bool)  # index -1: uncovered
        self.mapped_cell[self.cand] = True
        self.ok_cell = self.mapped_cell.copy()
        self.ok_cell[:-1] |= outline_triangles(mesh)
        step = mapper.step
        self.seam_cells = SEAM_PX / step
        reach = 2 * int(np.ceil(0.5 * self.seam_cells)) + 1
        self.grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
        self.margin = int(np.ceil(2.0 * self.seam_cells)) + reach + 2
        self.last_weights: np.ndarray | None = None  # (T,) of the last frame (tests, benches)

    def triangle_weights(self, dst_xy: np.ndarray) -> np.ndarray:
        """(T,) mirror weight of every triangle for vertices moved to `dst_xy`."""
        weights = np.zeros(len(self.mesh.triangles), np.float32)
        if len(self.cand) == 0:
            return weights
        dst = _edges(dst_xy[self.mesh.triangles[self.cand]].astype(np.float64))
        det = dst[:, 0, 0] * dst[:, 1, 1] - dst[:, 0, 1] * dst[:, 1, 0]
        good = np.abs(det) > 1e-3
        inv = np.linalg.inv(np.where(good[:, None, None], dst, np.eye(2)))
        own = _max_stretch(self.own_edges, inv)
        mirror = _max_stretch(self.mirror_edges, inv)
        w = _ramp(own, STRETCH_FROM, STRETCH_FULL) * _ramp(own / mirror, GAIN_FROM, GAIN_FULL)
        weights[self.cand] = np.where(good, w, 0.0)
        return weights

    def stretch(self, dst_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(C,) own and mirror max stretch of the mirrorable triangles (diagnostics)."""
        dst = _edges(dst_xy[self.mesh.triangles[self.cand]].astype(np.float64))
        inv = np.linalg.inv(dst + 1e-9 * np.eye(2))
        return _max_stretch(self.own_edges, inv), _max_stretch(self.mirror_edges, inv)

    def blend(self, frame: np.ndarray, source: np.ndarray, dst_xy: np.ndarray) -> None:
        """Blend the mirrored texture into `frame` (warped from `source`) in place."""
        weights = self.triangle_weights(dst_xy)
        self.last_weights = weights
        if not weights.any():
            return
        mapper, step = self.mapper, self.mapper.step
        ids = mapper.ids
        table = np.concatenate([weights, [0.0]]).astype(np.float32)
        cell_w = table[ids]  # (g, g)
        ys, xs = np.nonzero(cell_w)
        if len(ys) == 0:  # only hidden triangles qualify (turned further away)
            return
        g = ids.shape[0]
        m = self.margin
        y0, y1 = max(int(ys.min()) - m, 0), min(int(ys.max()) + m + 1, g)
        x0, x1 = max(int(xs.min()) - m, 0), min(int(xs.max()) + m + 1, g)
        win_ids = ids[y0:y1, x0:x1]
        # soft seam: spread the weight out over neighbouring skin, never onto a
        # kept triangle (nor the cell next to one, so bilinear up-sampling never
        # mixes a mirror coordinate with an undefined one)
        w: np.ndarray = cv2.dilate(cell_w[y0:y1, x0:x1], self.grow)
        w = cv2.GaussianBlur(w, (0, 0), 0.5 * self.seam_cells, borderType=cv2.BORDER_REPLICATE)
        ok = cv2.erode(self.ok_cell[win_ids].view(np.uint8), np.ones((3, 3), np.uint8))
        w = w * ok.astype(np.float32)
        # mirror affine maps frame -> photo for the mirrorable triangles
        tri = self.mesh.triangles[self.cand]
        d = dst_xy[tri].astype(np.float64)  # (C, 3, 2)
        a = np.concatenate([d, np.ones((len(tri), 3, 1))], axis=2)
        good = np.abs(np.linalg.det(a)) > 1e-3
        a[~good] = np.eye(3)
        coef = np.einsum("tij,tjk->tki", np.linalg.inv(a), self.mirror_src)  # (C, 2, 3)
        coef[~good] = 0.0
        table_c = np.zeros((len(self.mesh.triangles) + 1, 2, 3), np.float32)
        table_c[self.cand] = coef
        c = table_c[win_ids]
        unmapped = ~self.mapped_cell[win_ids] & (w > 0)
        if unmapped.any():
            # the outline band: the nearest mirrorable cell's affine map, extended
            # (it samples the photo just beyond the other cheek's outline)
            c = c.copy()
            src = (~self.mapped_cell[win_ids]).view(np.uint8)
            _, labels = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 3,
                                                        labelType=cv2.DIST_LABEL_PIXEL)
            zy, zx = np.nonzero(src == 0)
            if len(zy):
                at = np.zeros((int(labels.max()) + 1, 2), np.intp)
                at[labels[zy, zx]] = np.stack([zy, zx], axis=1)
                uy, ux = np.nonzero(unmapped)
                near = at[labels[uy, ux]]
                c[uy, ux] = c[near[:, 0], near[:, 1]]
            else:
                w = np.zeros_like(w)
        gx, gy = mapper.gx[y0:y1, x0:x1], mapper.gy[y0:y1, x0:x1]
        mx = c[..., 0, 0] * gx + c[..., 0, 1] * gy + c[..., 0, 2]
        my = c[..., 1, 0] * gx + c[..., 1, 1] * gy + c[..., 1, 2]
        size = self.mesh.size
        py0, py1 = y0 * step, min(y1 * step, size)
        px0, px1 = x0 * step, min(x1 * step, size)
        if step > 1:
            shape = ((x1 - x0) * step, (y1 - y0) * step)
            mx = cv2.resize(mx, shape, interpolation=cv2.INTER_LINEAR)[:py1 - py0, :px1 - px0]
            my = cv2.resize(my, shape, interpolation=cv2.INTER_LINEAR)[:py1 - py0, :px1 - px0]
            w = cv2.resize(w, shape, interpolation=cv2.INTER_LINEAR)[:py1 - py0, :px1 - px0]
        mirrored = cv2.remap(source, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        own = frame[py0:py1, px0:px1]
        if TONE_SIGMA_PX > 0:
            low = cv2.GaussianBlur(own.astype(np.float32) - mirrored, (0, 0), TONE_SIGMA_PX)
            mirrored = np.clip(mirrored + low, 0, 255)
        frame[py0:py1, px0:px1] = cv2.blendLinear(mirrored, own, w, 1.0 - w)
