"""The user's webcam for the live benches: a real face photo, animated and encoded.

Why here: every live bench sends the server the same camera (so its camera
analysis is part of what is measured, identically): skimage's astronaut photo
rendered with a small scripted head motion, as a webcam-like MP4.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm


def camera_photo(path: Path | None) -> tuple[np.ndarray, str]:
    """The user's face: --camera-photo, else skimage's astronaut, else Grace Hopper."""
    from avatar.portrait import default_portrait_path, read_image

    if path is not None:
        return read_image(path), str(path)
    try:
        from skimage.data import astronaut

        return np.asarray(astronaut()), "skimage.data.astronaut"
    except ImportError:
        tqdm.write("scikit-image is not installed: the camera shows Grace Hopper instead "
                   "of the astronaut (pass --camera-photo astronaut.png)", file=sys.stderr)
        return read_image(default_portrait_path()), "grace_hopper (skimage missing)"


def make_camera_clip(photo: np.ndarray, folder: Path, secs: float = 4.0) -> Path:
    """The photo animated with a small scripted head motion (turn, nod, a little
    jaw), rendered by the avatar renderer and encoded like a webcam recording."""
    from avatar.motion import column_index
    from avatar.portrait import Portrait
    from avatar.render import PortraitRenderer
    from avatar.render.portrait_calibration import calibration_for
    from avatar.video_io import VideoWriter

    portrait = Portrait.load(photo, 512)
    renderer = PortraitRenderer(portrait, 512, calibration=calibration_for(portrait))
    frames = round(secs * 25)
    t = np.arange(frames) / 25.0
    path = folder / "user_camera.mp4"
    with VideoWriter(path, 25.0, 512) as writer:
        for k in range(frames):
            motion = portrait.reference_motion.astype(np.float32).copy()
            motion[column_index("yaw")] += 8.0 * np.sin(2 * np.pi * t[k] / secs)
            motion[column_index("pitch")] += 4.0 * np.sin(2 * np.pi * 2 * t[k] / secs + 1.0)
            jaw = column_index("jawOpen")
            motion[jaw] = min(1.0, motion[jaw] + 0.15 * np.sin(2 * np.pi * 3 * t[k]) ** 2)
            writer.write(renderer.render(motion))
    return path
