"""The motion space: one explicit, measured face state per video frame.

Why explicit rather than a learned latent: no pretrained face auto-encoder can be
downloaded here and there is no GPU (DESIGN.md, "Motion space and renderer").
A motion frame is therefore what the bundled mediapipe FaceLandmarker measures:

- head pose, 6 numbers (POSE_COLUMNS):
    yaw, pitch, roll  degrees, from the landmarker's facial transformation matrix;
                      0 = facing the camera. yaw > 0: the head turns to the
                      viewer's right; pitch > 0: chin down; roll > 0: head tilts
                      clockwise as seen by the viewer. As a rotation of the
                      face in a right-handed camera space (x to the viewer's
                      right, y up, z towards the viewer):
                      R = Ry(yaw) @ Rx(pitch) @ Rz(-roll)
                      (angles_to_rotation / rotation_to_angles).
    tx, ty            head position in the image, as fractions of the image width /
                      height measured from the image centre (-0.5 .. 0.5): the centre
                      of landmarks that do not move with expression (eye corners,
                      forehead-to-nose line, nose wings), so talking does not bob it.
    scale             head size: the 3-D spread of those same stable landmarks,
                      calibrated to equal landmark bounding-box height / image height
                      for a neutral frontal face (the plain box grows with jawOpen).
- expression, the 52 ARKit-style blendshape coefficients in [0, 1], in the
  landmarker's own order (BLENDSHAPE_COLUMNS), `_neutral` included so indices
  match mediapipe's output one to one.

Consumers that animate a *different* face (renderer, generator) use motion
relative to a reference frame (the portrait's own, or a driver's rest pose),
never absolute tx/ty/scale, which depend on camera framing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

POSE_COLUMNS: tuple[str, ...] = ("yaw", "pitch", "roll", "tx", "ty", "scale")

BLENDSHAPE_COLUMNS: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight",
    "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight",
    "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight",
    "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen", "jawRight",
    "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker",
    "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft",
    "noseSneerRight",
)

MOTION_COLUMNS: tuple[str, ...] = POSE_COLUMNS + BLENDSHAPE_COLUMNS
MOTION_DIM: int = len(MOTION_COLUMNS)  # 58
POSE_SLICE = slice(0, len(POSE_COLUMNS))
EXPRESSION_SLICE = slice(len(POSE_COLUMNS), MOTION_DIM)
DEFAULT_FPS: float = 25.0  # the Avatar Forcing paper's video rate


def column_index(name: str) -> int:
    """Index of a named motion column; raises KeyError naming the unknown column."""
    try:
        return MOTION_COLUMNS.index(name)
    except ValueError:
        raise KeyError(f"unknown motion column {name!r}") from None


def rotation_to_angles(rotation: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from a 3x3 rotation (camera space, module doc).

    R = Ry(yaw) @ Rx(pitch) @ Rz(-roll): pitch = asin(-R[1,2]), yaw from row/col 0,2
    and roll from R[1,0], R[1,1]. Near pitch = +-90 deg (never seen for a tracked
    face) yaw and roll are not separable and roll is set to 0.
    """
    r = np.asarray(rotation, dtype=np.float64)
    sin_pitch = float(np.clip(-r[1, 2], -1.0, 1.0))
    pitch = np.arcsin(sin_pitch)
    if abs(sin_pitch) < 0.9999:
        yaw = np.arctan2(r[0, 2], r[2, 2])
        z_angle = np.arctan2(r[1, 0], r[1, 1])
    else:  # gimbal lock: fold everything into yaw
        yaw = np.arctan2(-r[2, 0], r[0, 0])
        z_angle = 0.0
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(-np.degrees(z_angle))


def angles_to_rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Inverse of `rotation_to_angles` (degrees in, 3x3 float64 out)."""
    y, p, z = np.radians([yaw, pitch, -roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
    return ry @ rx @ rz


# Landmarks that barely move with expression: eye corners, the midline from the
# forehead to the nose tip, the nose wings (no brows, lips, jaw or silhouette).
RIGID_LANDMARKS: tuple[int, ...] = (
    33, 133, 362, 263, 10, 151, 9, 168, 6, 197, 195, 5, 4, 1, 98, 327,
)
# landmark-box height / rigid RMS spread on the neutral, frontal default portrait
RIGID_TO_FACE_HEIGHT = 4.47
_YAW, _PITCH, _ROLL = column_index("yaw"), column_index("pitch"), column_index("roll")
_TX, _TY, _SCALE = column_index("tx"), column_index("ty"), column_index("scale")


def motion_from_measurement(
    landmarks_px: np.ndarray, blendshapes: np.ndarray, transform: np.ndarray,
    width: int, height: int,
) -> np.ndarray:
    """One motion frame (MOTION_DIM float32) from raw landmarker outputs.

    Pose from the facial transformation matrix (`rotation_to_angles`); tx, ty,
    scale from the rigid landmarks (avatar/face_analysis.py explains why).
    `fit_head_rotation` below is the alternative read-out that was measured
    against it (docs/renderer.md) and not adopted.
    """
    motion = np.zeros(MOTION_DIM, dtype=np.float32)
    motion[_YAW], motion[_PITCH], motion[_ROLL] = rotation_to_angles(transform[:3, :3])
    rigid = landmarks_px[list(RIGID_LANDMARKS)].astype(np.float64)
    centre = rigid.mean(axis=0)
    spread = float(np.sqrt(((rigid - centre) ** 2).sum(axis=1).mean()))
    motion[_TX] = centre[0] / width - 0.5
    motion[_TY] = centre[1] / height - 0.5
    motion[_SCALE] = RIGID_TO_FACE_HEIGHT * spread / height
    motion[_SCALE + 1:] = blendshapes
    return motion


# image axes (x right, y down, z away from the viewer) -> camera axes (module doc)
IMAGE_TO_CAMERA = np.array([1.0, -1.0, -1.0])


def _procrustes_rotation(points: np.ndarray, model: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Rotation R of the weighted 3-D Procrustes fit points ~ s R model + t (both centred).

    Kabsch / Umeyama: R = U diag(1, 1, det(U V^T)) V^T from the SVD of
    sum_i w_i p_i m_i^T.
    """
    u, _, vt = np.linalg.svd((points * w[:, None]).T @ model)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    return u @ d @ vt


def fit_head_rotation(
    landmarks_px: np.ndarray, model: np.ndarray, weights: np.ndarray | None = None,
    iterations: int = 8,
) -> np.ndarray:
    """Head rotation (3x3, camera space) of a face model fitted to image landmarks.

    Weak-perspective (scaled orthographic) fit of `model` (V, 3) in camera axes,
    e.g. mediapipe's canonical face, to the landmarks' image x, y only:

        min over R, s, t of  sum_i w_i || s (R m_i)_xy + t - (x_i, -y_i) ||^2

    (t drops out by centring both point sets on their weighted means). The
    landmark depth is not used: the landmarker guesses it from its shape prior,
    whereas x, y are where it sees the face. Started from the 3-D Procrustes
    fit that does use that depth (which picks the right one of the two mirror
    solutions a projection allows), then Gauss-Newton on (rotation vector, s):
    perturbing R by exp([w]x) moves q = R m by w x q, whose x, y rows are
    (q_z w_y - q_y w_z, q_x w_z - q_z w_x).

    `landmarks_px` (N >= V, 3): x, y pixels, z in the same pixel scale, larger
    = farther (FaceMeasurement.landmarks); only the first V rows are used.
    `weights` (V,) default uniform. Decompose the result with
    `rotation_to_angles`.
    """
    model = np.asarray(model, np.float64)
    v = len(model)
    w = np.ones(v) if weights is None else np.asarray(weights, np.float64)
    w = w / w.sum()
    pts = np.asarray(landmarks_px[:v], np.float64) * IMAGE_TO_CAMERA
    pts = pts - w @ pts
    m = model - w @ model
    rotation = _procrustes_rotation(pts, m, w)
    q = m @ rotation.T
    scale = float((w * (q[:, :2] * pts[:, :2]).sum(1)).sum() / (w * (q[:, :2] ** 2).sum(1)).sum())
    target = pts[:, :2].ravel()
    sw = np.repeat(np.sqrt(w), 2)
    for _ in range(iterations):
        q = m @ rotation.T
        jac = np.zeros((v, 2, 4))
        jac[:, 0, 1], jac[:, 0, 2] = scale * q[:, 2], -scale * q[:, 1]
        jac[:, 1, 0], jac[:, 1, 2] = -scale * q[:, 2], scale * q[:, 0]
        jac[:, :, 3] = q[:, :2]
        residual = scale * q[:, :2].ravel() - target
        a = jac.reshape(-1, 4) * sw[:, None]
        step = np.linalg.lstsq(a, -residual * sw, rcond=None)[0]
        rotation = cv2.Rodrigues(step[:3].reshape(3, 1))[0] @ rotation
        scale += float(step[3])
        if float(np.abs(step[:3]).max()) < 1e-7:
            break
    return rotation


def neutral_frame() -> np.ndarray:
    """A frontal, expressionless motion frame (float32, MOTION_DIM)."""
    frame = np.zeros(MOTION_DIM, dtype=np.float32)
    frame[column_index("scale")] = 0.5
    return frame


@dataclass
class MotionTrack:
    """Motion frames sampled at `fps`, with a per-frame face-found mask.

    Frames where no face was found are kept (so time stays aligned with audio)
    and marked False in `found`; their values are not to be trusted.
    """

    data: np.ndarray  # (T, MOTION_DIM) float32
    fps: float = DEFAULT_FPS
    found: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # (T,)
    columns: tuple[str, ...] = MOTION_COLUMNS

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data, dtype=np.float32)
        if self.data.ndim != 2 or self.data.shape[1] != len(self.columns):
            raise ValueError(
                f"motion data must be (frames, {len(self.columns)}), got {self.data.shape}"
            )
        if self.found.size == 0 and len(self.data):
            self.found = np.ones(len(self.data), dtype=bool)
        self.found = np.asarray(self.found, dtype=bool)
        if self.found.shape != (len(self.data),):
            raise ValueError(f"found mask must be ({len(self.data)},), got {self.found.shape}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    def __len__(self) -> int:
        return len(self.data)

    @property
    def duration_s(self) -> float:
        return len(self.data) / self.fps

    def column(self, name: str) -> np.ndarray:
        """One named column over time, e.g. track.column("jawOpen")."""
        return self.data[:, self.columns.index(name)]

    @property
    def pose(self) -> np.ndarray:
        return self.data[:, POSE_SLICE]

    @property
    def expression(self) -> np.ndarray:
        return self.data[:, EXPRESSION_SLICE]

    def save(self, path: str | Path) -> None:
        """Write an .npz holding data, fps, found mask and column names."""
        np.savez_compressed(
            Path(path), data=self.data, fps=np.float32(self.fps), found=self.found,
            columns=np.array(self.columns),
        )

    @classmethod
    def load(cls, path: str | Path) -> MotionTrack:
        """Read a track written by `save`; a clear error if it is not one."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"motion track not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as npz:
                return cls(
                    data=npz["data"], fps=float(npz["fps"]), found=npz["found"],
                    columns=tuple(str(c) for c in npz["columns"]),
                )
        except (KeyError, ValueError, OSError) as error:
            raise ValueError(f"{path} is not a motion track: {error}") from error
