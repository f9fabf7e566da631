"""A renderer's calls of its mouth painter, recorded: the frame as it was before the
mouth, the warped vertices, the posed anchors and the lips' rounding.

Why: the mouth's two painters (the compiled pass and benchkit/face/numpy_mouth.py) are
compared on the very calls a render makes (tests/avatar/test_mouth_compose.py; the
retired mouth_pass.py timed them: docs/history/retired_bench.md), so a render is run
once and its calls replayed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

#: (frame before the mouth, xy, anchors, rounding): `MouthPainter.paint`'s arguments
MouthCall = tuple[np.ndarray, np.ndarray, np.ndarray, float]


def painted_calls(renderer: Any, motions: Iterable[np.ndarray]) -> list[MouthCall]:
    """Render each motion frame with `renderer` (a `PortraitRenderer`), keeping each
    frame's mouth call (its frame copied before the mouth is painted into it)."""
    calls: list[MouthCall] = []
    painter = renderer.mouth
    paint = painter.paint

    def keep(image: np.ndarray, xy: np.ndarray, anchors: np.ndarray,
             rounding: float = 0.0) -> None:
        calls.append((image.copy(), xy.copy(), np.array(anchors), rounding))
        paint(image, xy, anchors, rounding)

    painter.paint = keep
    try:
        for motion in motions:
            renderer.render(motion)
    finally:
        del painter.paint
    return calls
