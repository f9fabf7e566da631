"""Shared fixtures for avatar tests: real photos and real encoded clips, no mocks.

Kept generic so several test modules (face analysis, portrait, renderer,
retarget) can share them: the default portrait as a file, as RGB pixels and as a
loaded `Portrait`, and a short driver clip made from the real photo with a
scripted in-plane head motion (roll + drift) and an audio track.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from avatar.motion import column_index
from avatar.portrait import Portrait, default_portrait_path, read_image
from avatar.video_io import VideoWriter

DRIVER_FPS = 25.0
DRIVER_SIZE = 256
DRIVER_FRAMES = 30
DRIVER_SAMPLE_RATE = 16_000
DRIVER_TONE_HZ = 440.0


@dataclass(frozen=True)
class DriverClip:
    """An encoded driver video and the motion that was scripted into it."""

    path: Path
    fps: float
    frames: int
    size: int
    roll_deg: np.ndarray  # (frames,) clockwise in-plane tilt applied to each frame
    blank: np.ndarray  # (frames,) True where the frame was left without a face
    sample_rate: int
    tone_hz: float


@pytest.fixture(scope="session")
def portrait_path() -> Path:
    """The default portrait file (matplotlib's Grace Hopper)."""
    return default_portrait_path()


@pytest.fixture(scope="session")
def portrait_rgb(portrait_path: Path) -> np.ndarray:
    """The default portrait as (H, W, 3) uint8 RGB, full frame (512x600)."""
    return read_image(portrait_path)


@pytest.fixture(scope="session")
def default_portrait() -> Portrait:
    """The default avatar at 512 px (loaded once per session: ~0.5 s)."""
    return Portrait.default(512)


def scripted_frame(image: np.ndarray, size: int, roll_deg: float, shift: float) -> np.ndarray:
    """The photo squared to `size`, tilted clockwise by roll_deg, shifted right by shift*size."""
    height, width = image.shape[:2]
    side = min(height, width)
    top = (height - side) // 2
    square = cv2.resize(image[top:top + side, :side], (size, size), interpolation=cv2.INTER_AREA)
    # OpenCV's positive angle is counter-clockwise on screen: negate for clockwise.
    matrix = cv2.getRotationMatrix2D((size / 2.0, size / 2.0), -roll_deg, 1.0)
    matrix[0, 2] += shift * size
    return cv2.warpAffine(square, matrix, (size, size), borderMode=cv2.BORDER_REPLICATE)


def write_driver_clip(
    path: Path, image: np.ndarray, roll_deg: np.ndarray, blank: np.ndarray, *,
    fps: float = DRIVER_FPS, size: int = DRIVER_SIZE,
) -> DriverClip:
    """Encode a driver clip (H.264 + AAC tone) from a photo and a roll curve."""
    seconds = len(roll_deg) / fps
    t = np.arange(int(round(seconds * DRIVER_SAMPLE_RATE))) / DRIVER_SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * DRIVER_TONE_HZ * t)).astype(np.float32)
    with VideoWriter(path, fps, size, tone, DRIVER_SAMPLE_RATE) as writer:
        for index, roll in enumerate(roll_deg):
            if blank[index]:
                writer.write(np.full((size, size, 3), 30, np.uint8))
            else:
                shift = 0.03 * np.sin(index / 5.0)
                writer.write(scripted_frame(image, size, float(roll), shift))
    return DriverClip(path=path, fps=fps, frames=len(roll_deg), size=size, roll_deg=roll_deg,
                      blank=blank, sample_rate=DRIVER_SAMPLE_RATE, tone_hz=DRIVER_TONE_HZ)


@pytest.fixture(scope="session")
def driver_clip(tmp_path_factory: pytest.TempPathFactory, portrait_rgb: np.ndarray) -> DriverClip:
    """30 frames (1.2 s) at 25 fps, 256 px: roll swings +-12 deg; frames 12-14 are blank."""
    roll = 12.0 * np.sin(np.linspace(0.0, 2.0 * np.pi, DRIVER_FRAMES))
    blank = np.zeros(DRIVER_FRAMES, dtype=bool)
    blank[12:15] = True
    path = tmp_path_factory.mktemp("driver") / "driver.mp4"
    return write_driver_clip(path, portrait_rgb, roll, blank)


@dataclass(frozen=True)
class RenderedClip:
    """A clip of the default portrait rendered from a scripted motion track."""

    path: Path
    motion: np.ndarray  # (frames, MOTION_DIM) absolute motion that was rendered
    fps: float
    size: int


def scripted_motion(reference: np.ndarray, frames: int) -> np.ndarray:
    """Reference motion plus a head turn, a nod and two mouth openings (not in phase)."""
    t = np.linspace(0.0, 1.0, frames)
    motion = np.repeat(reference[None, :].astype(np.float32), frames, axis=0)
    motion[:, column_index("yaw")] += 20.0 * np.sin(2 * np.pi * t)
    motion[:, column_index("pitch")] += 10.0 * np.sin(2 * np.pi * 1.5 * t + 1.0)
    jaw = column_index("jawOpen")
    motion[:, jaw] = np.clip(motion[:, jaw] + 0.6 * np.sin(2 * np.pi * 2 * t) ** 2, 0, 1)
    return motion


@pytest.fixture(scope="session")
def rendered_driver_clip(tmp_path_factory: pytest.TempPathFactory) -> RenderedClip:
    """50 frames at 25 fps, 256 px, rendered by avatar.render.PortraitRenderer."""
    from avatar.render import PortraitRenderer
    portrait = Portrait.default(256)
    renderer = PortraitRenderer(portrait, size=256)
    motion = scripted_motion(portrait.reference_motion, 50)
    path = tmp_path_factory.mktemp("rendered") / "rendered_driver.mp4"
    t = np.arange(2 * DRIVER_SAMPLE_RATE) / DRIVER_SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * DRIVER_TONE_HZ * t)).astype(np.float32)
    with VideoWriter(path, DRIVER_FPS, 256, tone, DRIVER_SAMPLE_RATE) as writer:
        for row in motion:
            writer.write(renderer.render(row))
    return RenderedClip(path=path, motion=motion, fps=DRIVER_FPS, size=256)


@pytest.fixture()
def text_file(tmp_path: Path) -> Iterator[Path]:
    """A file that exists but is no image or video."""
    path = tmp_path / "notes.jpg"
    path.write_text("this is not an image\n")
    yield path
