"""Expression actuators: one 2-D displacement field per actuator on the render mesh.

Why hand-designed shapes: no face model with a learned blendshape basis can be
downloaded here, and an actuator must move what a face muscle moves (a jaw
rotates around its hinge, lip corners pull out and up in a smile, an upper lid
slides down to the lower lid) so the landmarker re-measures the shape we meant,
with as little crosstalk as possible into other blendshapes.

Every field is designed in a canonical face frame built from the portrait's own
landmarks: origin between the eye centres, u along the eye line (viewer's right),
v down, unit = inter-ocular distance (IOD). Amplitude 1 is a large but natural
movement; the calibration (avatar/render/calibration.py) maps commanded
blendshape values to amplitudes. Fields are linear in amplitude, so a frame's
displacement is one (K,) @ (K, N*2) product.

"Left"/"Right" follow mediapipe's blendshape names: the subject's left, which
is the viewer's right (u > 0) in an unmirrored portrait.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from avatar.render.mesh import (
    BROW_L,
    BROW_R,
    EYE_L_LOWER,
    EYE_L_POLYGON,
    EYE_L_UPPER,
    EYE_R_LOWER,
    EYE_R_POLYGON,
    EYE_R_UPPER,
    KIND_EYE_COPY,
    KIND_FACE,
    KIND_FIXED,
    KIND_HAIR,
    KIND_HEAD,
    LIPS_LOWER_INNER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
    MOUTH_CORNER_L,
    MOUTH_CORNER_R,
    RenderMesh,
)

SMILE_OUT, SMILE_UP = 0.05, 0.13  # face units at amplitude 1
LID_SKIN = 0.16  # face units of skin above the upper lid that a blink pulls down
# Rounded lips (face units at amplitude 1; ActuatorBasis.lip_ring), set against real
# rounded mouths (docs/renderer.md: narrower, taller and redder than at rest).
FUNNEL_GATHER = 0.40  # the corners drawn in (share of their distance from the centre)
FUNNEL_HOLE = (0.07, 0.12)  # the inner lips part in the middle (upper up, lower down) ...
HOLE_WIDTH = 0.6  # ... over this share of the mouth's half width: a round hole ...
FUNNEL_EVERT = (0.12, 0.15)  # ... and their outer edges turn out
PUCKER_EVERT = (0.03, 0.04)  # a pucker turns the lips out, closed
# The turn-outs above are set on the default portrait's lips: upper and lower lip this
# thick at the mouth's centre (face units). Each face's lips turn out by their own
# thickness over these (EVERT_SCALE bounds it), so a thin lip shows as much more red,
# as a share of itself, as a full one (in face units a thin lower lip's red doubled).
EVERT_REFERENCE = (0.0755, 0.1195)
EVERT_SCALE = (0.3, 1.5)
RING_FALLOFF = 0.15  # the skin beyond the lips follows over this distance

ACTUATORS: tuple[str, ...] = (
    "jawOpen", "mouthSmileLeft", "mouthSmileRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeWideLeft", "eyeWideRight", "eyeSquintLeft", "eyeSquintRight", "browInnerUp",
    "browOuterUpLeft", "browOuterUpRight", "browDownLeft", "browDownRight", "mouthPucker",
    "mouthFunnel", "mouthFrownLeft", "mouthFrownRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthPressLeft",
    "mouthPressRight", "mouthClose", "mouthLeft", "mouthRight", "jawLeft", "jawRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "mouthDimpleLeft", "mouthDimpleRight",
)


@dataclass
class FaceFrame:
    """The canonical frame of one portrait: origin, axes and unit (IOD) in pixels."""

    origin: np.ndarray  # (2,)
    ex: np.ndarray  # (2,) unit, along the eye line towards the viewer's right
    ey: np.ndarray  # (2,) unit, down the face
    iod: float

    def to_uv(self, xy: np.ndarray) -> np.ndarray:
        """Image pixels (..., 2) -> face units (..., 2)."""
        rel = xy - self.origin
        return np.stack([rel @ self.ex, rel @ self.ey], axis=-1) / self.iod

    def to_pixels_delta(self, duv: np.ndarray) -> np.ndarray:
        """Displacement in face units (..., 2) -> pixels (..., 2)."""
        return (duv[..., :1] * self.ex + duv[..., 1:] * self.ey) * self.iod


def face_frame(landmarks: np.ndarray) -> FaceFrame:
    """Canonical frame from the eye centres of (478, 3) landmarks."""
    right = landmarks[list(EYE_R_POLYGON), :2].mean(axis=0)
    left = landmarks[list(EYE_L_POLYGON), :2].mean(axis=0)
    axis = left - right
    iod = float(np.linalg.norm(axis))
    if iod < 4.0:
        raise ValueError(f"eyes are {iod:.1f} px apart: face too small or landmarks invalid")
    ex = axis / iod
    ey = np.array([-ex[1], ex[0]])
    return FaceFrame(origin=(left + right) / 2.0, ex=ex, ey=ey, iod=iod)


def _gauss(uv: np.ndarray, center: np.ndarray, sigma_u: float, sigma_v: float) -> np.ndarray:
    d = (uv - center) / np.array([sigma_u, sigma_v])
    return np.exp(-0.5 * (d**2).sum(axis=1))


def _contour(uv: np.ndarray, chain: tuple[int, ...], at: np.ndarray | None = None) -> np.ndarray:
    """v of a lip contour (landmark `chain` of `uv`) under each u of `at` (default: of
    every point of `uv`), held at its ends."""
    pts = uv[list(chain)]
    order = np.argsort(pts[:, 0])
    return np.interp((uv if at is None else at)[:, 0], pts[order, 0], pts[order, 1])


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


class ActuatorBasis:
    """Builds the (K, N, 2) displacement basis (pixels at amplitude 1) of a mesh."""

    def __init__(self, mesh: RenderMesh, rounding: bool = True) -> None:
        #: lips turn out into a ring on funnel and pucker (False: the flat lens the
        #: renderer falls back to on a portrait whose lips cannot: rounding.py)
        self.rounding = rounding
        lm = mesh.vertices[:478]
        self.frame = face_frame(lm)
        self.mesh = mesh
        self.uv = self.frame.to_uv(mesh.vertices[:, :2].astype(np.float64))
        self.n = len(mesh.vertices)
        kind = mesh.kind
        # Who may move: face vertices always, head-ring vertices for jaw/cheek
        # shapes that reach past the face oval, never the hair or fixed rings.
        self.face = kind == KIND_FACE
        self.ring = kind == KIND_HEAD
        self.copy = kind == KIND_EYE_COPY
        self.still = (kind == KIND_FIXED) | (kind == KIND_HAIR)
        uv = self.uv
        self.corner_r = uv[MOUTH_CORNER_R]
        self.corner_l = uv[MOUTH_CORNER_L]
        self.mouth_c = (self.corner_l + self.corner_r) / 2.0
        self.mouth_hw = float(abs(self.corner_l[0] - self.corner_r[0]) / 2.0)
        # Mouth line: v of the closed inner lips as a function of u.
        inner = uv[list(LIPS_UPPER_INNER)]
        order = np.argsort(inner[:, 0])
        self.line_u, self.line_v = inner[order, 0], inner[order, 1]
        self.upper_lip = set(LIPS_UPPER_INNER[1:-1]) | set(LIPS_UPPER_OUTER[1:-1])
        self.lower_lip = set(LIPS_LOWER_INNER[1:-1]) | set(LIPS_LOWER_OUTER[1:-1])
        self.corners = {LIPS_UPPER_INNER[0], LIPS_UPPER_INNER[-1], MOUTH_CORNER_R,
                        MOUTH_CORNER_L}

    # -- helpers ---------------------------------------------------------------
    def _below_mouth(self) -> np.ndarray:
        """0..1: how much each vertex belongs to the lower lip / jaw side of the mouth."""
        uv = self.uv
        line = np.interp(uv[:, 0], self.line_u, self.line_v)
        below = _smoothstep((uv[:, 1] - line) / 0.10)
        for i in self.lower_lip:
            below[i] = 1.0
        for i in self.upper_lip:
            below[i] = 0.0
        for i in self.corners:
            below[i] = 0.2
        return below

    def _lip_profile(self) -> np.ndarray:
        """1 at the mouth centre, 0 at and beyond the corners (lip-opening shape)."""
        rel = (self.uv[:, 0] - self.mouth_c[0]) / (self.mouth_hw * 1.05)
        return np.clip(1.0 - rel**2, 0.0, 1.0)

    def _mask(self, field: np.ndarray, ring: bool = False) -> np.ndarray:
        out = field.copy()
        out[self.copy] = 0.0
        out[self.still] = 0.0
        if not ring:
            out[self.ring] = 0.0
        return out

    def _eye(self, side: str) -> tuple[list[int], list[int], list[int], float]:
        if side == "L":
            return list(EYE_L_UPPER), list(EYE_L_LOWER), list(BROW_L), 1.0
        return list(EYE_R_UPPER), list(EYE_R_LOWER), list(BROW_R), -1.0

    # -- actuator shapes (face units, amplitude 1) ------------------------------
    def jaw_open(self) -> np.ndarray:
        """The mandible rotates around its hinge: lower lip, chin and jaw drop.

        Points in front of the hinge drop ~uniformly in a frontal view; the drop
        fades towards the jaw angles (near the hinge) and the corners only half
        follow, so the opening is lens-shaped like a real mouth.
        """
        uv = self.uv
        below = self._below_mouth()
        lateral = 1.0 - 0.65 * _smoothstep((np.abs(uv[:, 0] - self.mouth_c[0]) - 0.25) / 0.7)
        drop = below * lateral * (1.0 + 0.15 * np.clip(uv[:, 1] - self.mouth_c[1], 0, 1))
        near_mouth = np.abs(uv[:, 0] - self.mouth_c[0]) < self.mouth_hw * 1.2
        lip_shape = np.where(near_mouth, 0.55 + 0.45 * self._lip_profile(), 1.0)
        d = np.zeros((self.n, 2))
        d[:, 1] = 0.5 * drop * np.where(below > 0.99, lip_shape, 1.0)
        # The jaw narrows as it swings down and back, and the lip corners are
        # drawn in: a wide lens-shaped opening with exposed teeth reads as a grin.
        d[:, 0] = -0.06 * drop * (uv[:, 0] - self.mouth_c[0])
        corner_w = _gauss(uv, self.corner_l, 0.15, 0.15) + _gauss(uv, self.corner_r, 0.15, 0.15)
        d[:, 0] -= 0.12 * corner_w * (uv[:, 0] - self.mouth_c[0])
        ring = self.ring & (uv[:, 1] > self.mouth_c[1] + 0.3)
        d[ring, 1] = 0.5 * 0.4
        return self._mask(d, ring=True)

    def smile(self, side: str) -> np.ndarray:
        """Zygomaticus pull: the lip corner goes out and up, the cheek bunches up."""
        corner = self.corner_l if side == "L" else self.corner_r
        sign = 1.0 if side == "L" else -1.0
        w = _gauss(self.uv, corner, 0.28, 0.28)
        cheek = _gauss(self.uv, corner + np.array([sign * 0.1, -0.4]), 0.3, 0.25)
        d = np.zeros((self.n, 2))
        # Mostly up, a little out: the landmarker reads a smile from the corner
        # rising, and a vertical pull survives a pucker pulling the corner in.
        d[:, 0] = sign * SMILE_OUT * w
        d[:, 1] = -SMILE_UP * w - 0.04 * cheek
        return self._mask(d)

    def blink(self, side: str) -> np.ndarray:
        """The upper lid slides down onto the lower lid; lid skin above follows."""
        upper, lower, brow, _ = self._eye(side)
        uv = self.uv
        up_uv, lo_uv = uv[upper], uv[lower]
        lo_order = np.argsort(lo_uv[:, 0])
        gap = np.interp(up_uv[:, 0], lo_uv[lo_order, 0], lo_uv[lo_order, 1]) - up_uv[:, 1]
        # Lid closes a bit below the lower-lid line's midpoint: 0.9 of the gap
        # keeps a lash line instead of folding over the lower lid.
        gap = np.maximum(gap, 0.0)
        up_order = np.argsort(up_uv[:, 0])
        u_sorted, gap_sorted = up_uv[up_order, 0], gap[up_order]
        lid_v = np.interp(uv[:, 0], u_sorted, up_uv[up_order, 1])
        brow_v = np.interp(uv[:, 0], np.sort(uv[brow, 0]), uv[brow, 1][np.argsort(uv[brow, 0])])
        # Lid skin just above the upper lid follows it (1 at the lid, 0 a short way
        # up): reaching the brow would also drag glasses frames and brows down.
        top = np.maximum(brow_v + 0.05, lid_v - LID_SKIN)
        frac = np.clip((uv[:, 1] - top) / np.maximum(lid_v - top, 1e-3), 0.0, 1.0)
        inside_u = (uv[:, 0] > u_sorted[0]) & (uv[:, 0] < u_sorted[-1])
        g = np.interp(uv[:, 0], u_sorted, gap_sorted)
        d = np.zeros((self.n, 2))
        skin = inside_u & (uv[:, 1] < lid_v)
        d[skin, 1] = g[skin] * frac[skin] ** 1.2
        d[upper, 1] = gap
        return self._mask(d)

    def eye_wide(self, side: str) -> np.ndarray:
        """Upper lid up (eye ball copies too, so the eye ball stretches, no hole)."""
        upper, _, _, _ = self._eye(side)
        d = self.blink(side) * -0.35
        copies = self._copies_of(upper)
        d[copies] = d[self._copy_sources(copies)]
        return d

    def squint(self, side: str) -> np.ndarray:
        """Lower lid rises (orbicularis), covering the bottom of the eye ball."""
        upper, lower, _, _ = self._eye(side)
        uv = self.uv
        up_uv, lo_uv = uv[upper], uv[lower]
        up_order = np.argsort(up_uv[:, 0])
        gap = lo_uv[:, 1] - np.interp(lo_uv[:, 0], up_uv[up_order, 0], up_uv[up_order, 1])
        d = np.zeros((self.n, 2))
        center = lo_uv.mean(axis=0)
        w = _gauss(uv, center + np.array([0.0, 0.12]), 0.25, 0.12)
        d[:, 1] = -0.06 * w
        d[lower, 1] = -0.45 * np.maximum(gap, 0.0)
        d[[lower[0], lower[-1]], 1] = 0.0
        return self._mask(d)

    def brow(self, center_u: float, du: float, dv: float, sigma_u: float) -> np.ndarray:
        """Move the brows around `center_u`; forehead compresses, lid skin stretches."""
        uv = self.uv
        brow_idx = list(BROW_R) + list(BROW_L)
        brow_v = float(uv[brow_idx, 1].mean())
        eye_v = float(uv[list(EYE_R_UPPER) + list(EYE_L_UPPER), 1].mean())
        w_u = np.exp(-0.5 * ((uv[:, 0] - center_u) / sigma_u) ** 2)
        above = uv[:, 1] < brow_v
        w_v = np.where(
            above, np.clip(1.0 - (brow_v - uv[:, 1]) / 0.9, 0.15, 1.0),
            np.clip((eye_v - uv[:, 1]) / max(eye_v - brow_v, 1e-3), 0.0, 1.0),
        )
        w = w_u * w_v
        d = np.zeros((self.n, 2))
        d[:, 0] = du * w
        d[:, 1] = dv * w
        return self._mask(d)

    def pucker(self) -> np.ndarray:
        """Orbicularis oris: lips gather towards the centre and pout."""
        uv = self.uv
        w = _gauss(uv, self.mouth_c, 0.55, 0.32)
        d = np.zeros((self.n, 2))
        d[:, 0] = -0.45 * (uv[:, 0] - self.mouth_c[0]) * w
        if not self.rounding:
            d[list(LIPS_UPPER_OUTER[2:-2]), 1] -= 0.03
            d[list(LIPS_LOWER_OUTER[2:-2]), 1] += 0.04
            return self._mask(d)
        return self._mask(d) + self.lip_ring((0.0, 0.0), PUCKER_EVERT)

    def funnel(self) -> np.ndarray:
        """Lips gather and push forward into a ring around a small round hole (an "oo").

        The corners drawn in as today's (`funnel_flat`), then `lip_ring`: the inner lips
        part in the middle only, into a round hole, and the lips turn out (their outer
        edges move away from the mouth line further than their inner edges: more red
        shows). Without
        `rounding` (a portrait whose lips cannot be turned out: see
        avatar/render/rounding.py) it is `funnel_flat`.
        """
        if not self.rounding:
            return self.funnel_flat()
        return self._gather(FUNNEL_GATHER) + self.lip_ring(FUNNEL_HOLE, FUNNEL_EVERT)

    def _gather(self, amount: float) -> np.ndarray:
        """The lip corners and the lips drawn in toward the mouth's centre."""
        uv = self.uv
        d = np.zeros((self.n, 2))
        d[:, 0] = -amount * (uv[:, 0] - self.mouth_c[0]) * _gauss(uv, self.mouth_c, 0.5, 0.3)
        return self._mask(d)

    def funnel_flat(self) -> np.ndarray:
        """Lips narrow and open into a small rounded hole: the corners drawn in, the
        lips parted along their whole length (a flat lens, without turning out)."""
        uv = self.uv
        prof = self._lip_profile() ** 0.5
        d = self._gather(FUNNEL_GATHER)
        line = np.interp(uv[:, 0], self.line_u, self.line_v)
        near = np.exp(-0.5 * ((uv[:, 1] - line) / 0.12) ** 2)
        below = self._below_mouth()
        d[:, 1] += prof * near * (0.12 * below - 0.07 * (1 - below))
        return self._mask(d)

    def lip_ring(self, hole: tuple[float, float],
                 evert: tuple[float, float]) -> np.ndarray:
        """The lips as a ring (face units at amplitude 1): each lip's inner edge moves
        away from the mouth line by `hole` (upper, lower), its outer edge by `evert`
        (upper, lower), the lip between in proportion, the skin beyond the outer edge
        following and fading over RING_FALLOFF. Across the mouth the outer edges'
        moves follow sqrt(1 - x^2) of the distance x from the centre over the half
        width, the inner edges' over HOLE_WIDTH of it: the lips part in the middle, a
        round hole, and stay closed toward the corners (not a lens)."""
        uv = self.uv
        mc = self.mouth_c
        prof = self._lip_profile() ** 0.5
        rel = (uv[:, 0] - mc[0]) / (self.mouth_hw * 1.05 * HOLE_WIDTH)
        hole_prof = np.sqrt(np.clip(1.0 - rel * rel, 0.0, 1.0))
        # each lip from its own inner edge: the inner lips themselves move by `hole`
        # alone (a closed pucker stays closed)
        line_up = _contour(uv, LIPS_UPPER_INNER)
        line_lo = np.maximum(_contour(uv, LIPS_LOWER_INNER), line_up)
        top = _contour(uv, LIPS_UPPER_OUTER)
        bottom = _contour(uv, LIPS_LOWER_OUTER)
        thick_up = np.maximum(line_up - top, 0.02)
        thick_lo = np.maximum(bottom - line_lo, 0.02)
        above_by = np.maximum(line_up - uv[:, 1], 0.0)
        below_by = np.maximum(uv[:, 1] - line_lo, 0.0)

        def edge_to_edge(by: np.ndarray, thick: np.ndarray, inner: float,
                         outer: np.ndarray) -> np.ndarray:
            beyond = np.maximum(by - thick, 0.0) / RING_FALLOFF
            share = np.minimum(by / thick, 1.0)
            return (inner * hole_prof + (outer - inner * hole_prof) * share) \
                * np.exp(-0.5 * beyond * beyond)

        up_s, lo_s = self.evert_scale()

        def turned(inner: float, outer: float, scale: float) -> np.ndarray:
            # the outer edge's move beyond the inner edge's is the turn-out: scaled by
            # the lip's thickness (where the hole opens the outer edge keeps its share
            # of the inner edge's move, so the lip never gets thinner than it was)
            return outer * scale * prof + inner * (1.0 - scale) * hole_prof

        up = edge_to_edge(above_by, thick_up, hole[0], turned(hole[0], evert[0], up_s))
        down = edge_to_edge(below_by, thick_lo, hole[1], turned(hole[1], evert[1], lo_s))
        below = self._below_mouth()
        beside = np.abs(uv[:, 0] - mc[0]) < self.mouth_hw * 1.6
        d = np.zeros((self.n, 2))
        d[:, 1] = beside * (below * down - (1.0 - below) * up)
        return self._mask(d)

    def lip_thickness(self) -> tuple[float, float]:
        """(upper, lower) lip thickness at the mouth's centre, face units (the outer
        lip line to the inner one; the lower lip from the lower of the two inner lines)."""
        uv, at = self.uv, self.mouth_c[None]
        line_up = float(_contour(uv, LIPS_UPPER_INNER, at)[0])
        line_lo = max(float(_contour(uv, LIPS_LOWER_INNER, at)[0]), line_up)
        return (line_up - float(_contour(uv, LIPS_UPPER_OUTER, at)[0]),
                float(_contour(uv, LIPS_LOWER_OUTER, at)[0]) - line_lo)

    def evert_scale(self) -> tuple[float, float]:
        """How far (upper, lower) this face's lips turn out against the default
        portrait's: their thickness over EVERT_REFERENCE, within EVERT_SCALE."""
        return tuple(float(np.clip(t / ref, *EVERT_SCALE))  # type: ignore[return-value]
                     for t, ref in zip(self.lip_thickness(), EVERT_REFERENCE, strict=True))

    def corner(self, side: str, du: float, dv: float, sigma: float = 0.25) -> np.ndarray:
        """A lip corner pulled by (du, du) (frown, stretch, dimple, press)."""
        corner = self.corner_l if side == "L" else self.corner_r
        sign = 1.0 if side == "L" else -1.0
        w = _gauss(self.uv, corner, sigma, sigma)
        d = np.zeros((self.n, 2))
        d[:, 0] = sign * du * w
        d[:, 1] = dv * w
        return self._mask(d)

    def lip(self, which: str, side: str | None, dv: float) -> np.ndarray:
        """Raise/lower one lip (optionally one side) without moving the jaw."""
        uv = self.uv
        below = self._below_mouth()
        part = below if which == "lower" else 1.0 - below
        line = np.interp(uv[:, 0], self.line_u, self.line_v)
        near = np.exp(-0.5 * ((uv[:, 1] - line) / 0.18) ** 2)
        w = part * near * np.clip(1.0 - ((uv[:, 0] - self.mouth_c[0]) / 0.6) ** 2, 0, 1)
        if side is not None:
            corner = self.corner_l if side == "L" else self.corner_r
            w = w * _gauss(uv, corner * np.array([1, 1]), 0.3, 10.0) * 1.6
        d = np.zeros((self.n, 2))
        d[:, 1] = dv * w
        return self._mask(d)

    def roll(self, which: str) -> np.ndarray:
        """A lip rolls in: its outer edge moves towards the mouth line (thinner lip)."""
        chain = LIPS_LOWER_OUTER if which == "lower" else LIPS_UPPER_OUTER
        d = np.zeros((self.n, 2))
        sign = -1.0 if which == "lower" else 1.0
        prof = self._lip_profile()
        d[list(chain[1:-1]), 1] = sign * 0.06 * prof[list(chain[1:-1])]
        return self._mask(d)

    def shift(self, du: float, jaw: bool) -> np.ndarray:
        """The mouth (or the whole jaw) slides sideways."""
        uv = self.uv
        if jaw:
            w = self._below_mouth() * (uv[:, 1] > self.mouth_c[1] - 0.2)
        else:
            w = _gauss(uv, self.mouth_c, 0.45, 0.3)
        d = np.zeros((self.n, 2))
        d[:, 0] = du * w
        return self._mask(d, ring=jaw)

    def blob(self, center: tuple[float, float], du: float, dv: float, sigma: float,
             mirror_u: bool = False) -> np.ndarray:
        """A local push (cheek puff, cheek squint, nose sneer)."""
        c = np.array(center)
        d = np.zeros((self.n, 2))
        w = _gauss(self.uv, c, sigma, sigma)
        d[:, 0] += du * w
        d[:, 1] += dv * w
        if mirror_u:
            w2 = _gauss(self.uv, c * np.array([-1, 1]), sigma, sigma)
            d[:, 0] -= du * w2
            d[:, 1] += dv * w2
        return self._mask(d)

    def _copies_of(self, landmark_ids: list[int]) -> np.ndarray:
        copy_of = self.mesh.eye_copy_of
        base = 478
        return np.array([base + k for k, lmk in enumerate(copy_of) if lmk in set(landmark_ids)])

    def _copy_sources(self, copies: np.ndarray) -> np.ndarray:
        return self.mesh.eye_copy_of[copies - 478]

    def build(self) -> np.ndarray:
        """(K, N, 2) float32 pixel displacements, K = len(ACTUATORS)."""
        mc_v = float(self.mouth_c[1])
        eye_v = float(self.uv[list(EYE_R_LOWER) + list(EYE_L_LOWER), 1].mean())
        inner_u = float(np.abs(self.uv[[107, 336], 0]).mean())
        outer_u = float(np.abs(self.uv[[70, 300], 0]).mean())
        shapes = {
            "jawOpen": self.jaw_open(),
            "mouthSmileLeft": self.smile("L"), "mouthSmileRight": self.smile("R"),
            "eyeBlinkLeft": self.blink("L"), "eyeBlinkRight": self.blink("R"),
            "eyeWideLeft": self.eye_wide("L"), "eyeWideRight": self.eye_wide("R"),
            "eyeSquintLeft": self.squint("L"), "eyeSquintRight": self.squint("R"),
            "browInnerUp": self.brow(-inner_u, 0.0, -0.13, 0.22)
            + self.brow(inner_u, 0.0, -0.13, 0.22),
            "browOuterUpLeft": self.brow(outer_u, 0.0, -0.12, 0.25),
            "browOuterUpRight": self.brow(-outer_u, 0.0, -0.12, 0.25),
            "browDownLeft": self.brow(inner_u, -0.04, 0.09, 0.3),
            "browDownRight": self.brow(-inner_u, 0.04, 0.09, 0.3),
            "mouthPucker": self.pucker(), "mouthFunnel": self.funnel(),
            "mouthFrownLeft": self.corner("L", 0.02, 0.09),
            "mouthFrownRight": self.corner("R", 0.02, 0.09),
            "mouthStretchLeft": self.corner("L", 0.10, 0.03),
            "mouthStretchRight": self.corner("R", 0.10, 0.03),
            "mouthLowerDownLeft": self.lip("lower", "L", 0.10),
            "mouthLowerDownRight": self.lip("lower", "R", 0.10),
            "mouthUpperUpLeft": self.lip("upper", "L", -0.08),
            "mouthUpperUpRight": self.lip("upper", "R", -0.08),
            "mouthRollLower": self.roll("lower"), "mouthRollUpper": self.roll("upper"),
            "mouthShrugLower": self.lip("lower", None, -0.06),
            "mouthShrugUpper": self.lip("upper", None, -0.04),
            "mouthPressLeft": self.corner("L", 0.03, 0.0, 0.2),
            "mouthPressRight": self.corner("R", 0.03, 0.0, 0.2),
            "mouthClose": self.lip("lower", None, -0.08),
            "mouthLeft": self.shift(0.12, jaw=False), "mouthRight": self.shift(-0.12, jaw=False),
            "jawLeft": self.shift(0.10, jaw=True), "jawRight": self.shift(-0.10, jaw=True),
            "cheekPuff": self.blob((0.65, mc_v - 0.15), 0.06, 0.0, 0.25, mirror_u=True),
            "cheekSquintLeft": self.blob((0.5, eye_v + 0.3), 0.0, -0.05, 0.2),
            "cheekSquintRight": self.blob((-0.5, eye_v + 0.3), 0.0, -0.05, 0.2),
            "noseSneerLeft": self.blob((0.18, 0.55), 0.0, -0.05, 0.12),
            "noseSneerRight": self.blob((-0.18, 0.55), 0.0, -0.05, 0.12),
            "mouthDimpleLeft": self.corner("L", 0.05, 0.0, 0.2),
            "mouthDimpleRight": self.corner("R", 0.05, 0.0, 0.2),
        }
        missing = set(ACTUATORS) - set(shapes)
        if missing:
            raise RuntimeError(f"actuators without a shape: {sorted(missing)}")
        basis = np.stack([self.frame.to_pixels_delta(shapes[name]) for name in ACTUATORS])
        return basis.astype(np.float32)
