"""Whether a face looks at the camera, wherever in the frame it is.

Why: the landmarker's yaw and pitch (avatar/face_analysis.py) are read in camera
space, so a face that looks straight at the camera from the frame's edge reads
turned away from the frame's centre: about -9 deg of yaw at 0.9 of the frame's
width, +9 at 0.1, and some 4 deg of pitch a fifth of the frame above or below its
centre. A visitor standing to one side of the kiosk, looking at it, looked turned.

The reading behaves as the face's bearing in a narrow camera: the angle off the
optical axis of a camera whose horizontal field of view is LANDMARKER_FOV_DEG. It
is the landmarker's own, not the lens's: a wide lens stretches a face at its edge
sideways (by 1/cos of its bearing; a face's depth cancels to first order), and
the landmarker reads a frontal face stretched so (x1.0, x1.15, x1.29 at 0.85 of
the width) as turned the same (-10.0, -9.7, -9.4 deg). Taking the bearing off
gives the face's turn from the line to the camera: what "facing the screen" asks
for a camera on the screen.
"""

from __future__ import annotations

import math

#: Horizontal field of view of the camera the landmarker's yaw reads as if in (deg),
#: fitted on a real frontal face across a 4:3 frame (docs/KIOSK.md).
LANDMARKER_FOV_DEG = 22.0
#: The frame's width over its height that the field of view is given for.
FRAME_ASPECT = 4.0 / 3.0


def bearing(tx: float, ty: float, fov_deg: float = LANDMARKER_FOV_DEG,
            aspect: float = FRAME_ASPECT) -> tuple[float, float]:
    """(yaw, pitch) in degrees that a face looking at the camera from (`tx`, `ty`) reads
    (the motion's centre offsets: share of the frame's width and height from its
    centre, x right, y down), in the motion's signs: yaw > 0 turned to the viewer's
    right, pitch > 0 chin down. A face right of centre reads turned left (yaw < 0),
    one above it reads looking down (pitch > 0).

    Raises:
        ValueError: a field of view outside (0, 180) degrees or a non-positive aspect.
    """
    if not 0.0 < fov_deg < 180.0:
        raise ValueError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    if aspect <= 0:
        raise ValueError(f"aspect must be positive, got {aspect}")
    half_width = math.tan(math.radians(fov_deg) / 2.0)  # at focal length 1
    half_height = half_width / aspect
    yaw = -math.degrees(math.atan(2.0 * tx * half_width))
    pitch = -math.degrees(math.atan(2.0 * ty * half_height))
    return yaw, pitch


def facing(yaw: float, pitch: float, tx: float, ty: float,
           fov_deg: float = LANDMARKER_FOV_DEG,
           aspect: float = FRAME_ASPECT) -> tuple[float, float]:
    """The face's turn (yaw, pitch; degrees) from the line to the camera: the reading
    less what a face looking at the camera from there reads (`bearing`)."""
    along_yaw, along_pitch = bearing(tx, ty, fov_deg, aspect)
    return yaw - along_yaw, pitch - along_pitch


__all__ = ["FRAME_ASPECT", "LANDMARKER_FOV_DEG", "bearing", "facing"]
