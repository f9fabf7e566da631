"""Motion frames made from a reference by naming what changes: the tests' and benches'
way to ask for "the portrait's rest, jaw open 0.5, head turned 20 degrees".

Why here: the renderer's and the mouth's tests vary the same reference motion the
same way; one definition keeps the head angles relative.
"""

from __future__ import annotations

import numpy as np

from avatar.motion import column_index

_RELATIVE = ("yaw", "pitch", "roll")  # head angles are turned by the value, not set to it


def varied(reference: np.ndarray, **values: float) -> np.ndarray:
    """A copy of the motion frame `reference` with each named column set to its value
    (blendshapes, tx, ty, scale), the head angles turned by theirs (degrees)."""
    motion = reference.copy()
    for name, value in values.items():
        col = column_index(name)
        motion[col] = motion[col] + value if name in _RELATIVE else value
    return motion
