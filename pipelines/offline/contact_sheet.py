"""The contact sheet beside a converse video: frames while the avatar listens and while
it speaks, under the words of the turn, so one PNG shows the exchange at a glance.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def spread(indices: np.ndarray, picks: int) -> list[int]:
    """Up to `picks` evenly spaced entries of `indices` (inner points, not the edges)."""
    if len(indices) == 0:
        return []
    positions = (np.arange(picks) + 0.5) * len(indices) / picks
    return sorted({int(indices[min(len(indices) - 1, int(p))]) for p in positions})


def thumbnail(image: np.ndarray, text: str, speaking: bool, height: int) -> np.ndarray:
    """A labelled thumbnail; a green bar marks frames whose audio is the avatar's speech."""
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    thumb = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    cv2.rectangle(thumb, (0, 0), (width, 18), (0, 0, 0), -1)
    cv2.putText(thumb, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                cv2.LINE_AA)
    if speaking:
        cv2.rectangle(thumb, (0, height - 5), (width, height), (40, 200, 60), -1)
    return thumb


def write_sheet(shots: dict[str, list[np.ndarray]], columns: int, path: Path,
                 header: list[str]) -> None:
    """Rows of thumbnails (listening, then speaking) under the words of the turn."""
    thumbs = [t for row in shots.values() for t in row]
    if not thumbs:
        raise ValueError("no frames for the contact sheet (the reply produced no speech)")
    blank = np.zeros_like(thumbs[0])
    rows = [np.concatenate((row + [blank] * columns)[:columns], axis=1)
            for row in shots.values() if row]
    width = rows[0].shape[1]
    line_h = 20
    top = np.full((line_h * len(header) + 6, width, 3), 255, np.uint8)
    for number, line in enumerate(header):
        cv2.putText(top, _fit_text(line, width - 8, 0.45), (4, 15 + number * line_h),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.concatenate([top, *rows], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise ValueError(f"cannot write the contact sheet {path}")


def _fit_text(text: str, width: int, scale: float) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels in OpenCV's simplex font."""
    def fits(candidate: str) -> bool:
        size, _baseline = cv2.getTextSize(candidate, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        return bool(size[0] <= width)

    if fits(text):
        return text
    while text and not fits(text + "..."):
        text = text[:-1]
    return text + "..."
