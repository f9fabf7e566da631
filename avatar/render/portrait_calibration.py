"""A calibration fitted on the portrait itself, computed once and cached on disk.

The shipped table (avatar/data/render_calibration.json) is fitted on the
default portrait; on other faces the landmarker reads jaw, smiles and pucker
differently (a portrait that already smiles, a beard), and the readout model's
crosstalk is grace_hopper's. `fit_portrait_calibration` refits the per-shape
curves and the readout model on the portrait itself with a reduced recipe
(RECIPE_RUNS: 2,000 measured renders instead of 9,500) and the pitch
gains (FITTED_POSE_AXES: the landmarker reads the same nod 0.7-1.2x on
different faces), and saves it under the cache dir, keyed by the portrait's
pixels and RECIPE_VERSION. `calibration_for(portrait)` returns it when it
exists, else the shipped table: whoever builds a renderer hands it that table
(the renderer never looks in this cache itself), so nothing waits for a fit.
Measured in docs/renderer.md, "A calibration per portrait": held-out mixed-track r
on the portraits the shipped table fits worst.

    avatar-forcing calibrate PORTRAIT     # 2,110 measured renders + the fit; progress bars

The server does the same by itself for every portrait a session shows, in a
background process at nice 19 (avatar/live/calibrator.py).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np

from avatar.cache_paths import avatar_cache_root
from avatar.face_analysis import FaceAnalyzer
from avatar.portrait import Portrait
from avatar.render import calibration_fit
from avatar.render.calibration import Calibration, load_calibration
from avatar.render.renderer import PortraitRenderer

#: Bump when the fit changes (actuators, recipe, readout model): old tables are ignored.
#: 2: the pitch gains are the portrait's own. 3: the painted mouth (teeth and
#: interior, which the landmarker reads differently). 4: lips that round (the funnel and
#: pucker fields turn the lips out into a ring). 5: the turn-out scaled by each lip's thickness.
RECIPE_VERSION = 5
#: Readout samples: (seed, frames, head-pose range deg), frontal then turned.
RECIPE_RUNS: tuple[tuple[int, int, float], ...] = ((0, 1000, 0.0), (2, 1000, 15.0))
FIT_SIZE = 512  # render size the fit measures at (the shipped table's too)
# Pose axes whose gains are fitted on the portrait itself. Yaw is drawn at the
# commanded size (the depth stretch, docs/renderer.md "Turns with depth") and
# reads back at 0.99x median, roll reads back within 0.6 degrees everywhere; a
# nod reads 0.7-1.2x depending on the face (docs/renderer.md "Why one pitch gain
# does not fit every portrait"), so pitch gets the portrait's own gain.
FITTED_POSE_AXES: tuple[str, ...] = ("pitch",)


def cache_dir() -> Path:
    """The portraits' own tables: `avatar_cache_root()` (avatar/cache_paths.py) +
    `/calibrations`."""
    return avatar_cache_root() / "calibrations"


def portrait_key(portrait: Portrait) -> str:
    """Content key: the portrait crop's pixels (any size) and the recipe version."""
    image = np.ascontiguousarray(portrait.image, np.uint8)
    digest = hashlib.sha256(f"{image.shape}".encode() + image.tobytes()).hexdigest()
    return f"{digest[:20]}-r{RECIPE_VERSION}"


def cached_path(portrait: Portrait, folder: Path | None = None) -> Path:
    """Where the portrait's own table is (or will be) stored."""
    return key_path(portrait_key(portrait), folder)


def key_path(key: str, folder: Path | None = None) -> Path:
    """Where the table of the portrait with `portrait_key` `key` is stored (for callers
    that already hold the key: hashing a 512 px crop again costs ~1 ms)."""
    return (folder if folder is not None else cache_dir()) / f"{key}.json"


@functools.lru_cache(maxsize=2)
def _default_key(size: int) -> str:
    return portrait_key(Portrait.default(size))  # type: ignore[arg-type]


def is_default_portrait(portrait: Portrait) -> bool:
    """True for the default portrait's crop: the shipped table is its own fit, so it
    never needs (and must never get) a table of its own. By pixels, not by name or
    path: a portrait folder may hold any file named grace_hopper. The first call
    per size analyses the default portrait (about a second)."""
    return portrait_key(portrait) == _default_key(portrait.size)


def calibration_for(portrait: Portrait, folder: Path | None = None) -> Calibration:
    """The portrait's own table when it has been fitted, else the shipped one."""
    path = cached_path(portrait, folder)
    if path.is_file():
        try:
            return load_calibration(path)
        except (ValueError, OSError):
            pass  # a torn or foreign file: fall back, a refit overwrites it
    return load_calibration()


def fit_portrait_calibration(portrait: Portrait, folder: Path | None = None,
                             runs: tuple[tuple[int, int, float], ...] = RECIPE_RUNS,
                             progress: bool = True, members: int | None = None,
                             steps: int = 3000) -> Path:
    """Fit the portrait's own curves and readout model and cache them; returns the path.

    Curves (every calibrated actuator swept alone, ~110 renders), the pitch
    gains (FITTED_POSE_AXES, ~24 renders at offsets the quality bench does not
    measure), then the readout ensemble on `runs` of random mixes, rendered with
    those gains (calibration_fit). Yaw and roll keep the shipped gains.
    `members` / `steps` shrink the ensemble for tests.
    """
    if not runs or any(count <= 0 for _, count, _ in runs):
        # before the curves' minute of renders, not after it
        raise ValueError(f"the readout fit needs runs of at least one sample, got {runs!r}")
    shipped = load_calibration()
    # curves only: the pose gains are the shipped ones but for FITTED_POSE_AXES, fitted
    # below on the final plate and at the table's own gains
    fitted = calibration_fit.fit_calibration(portrait, FIT_SIZE, progress=False, pose_axes=())
    table = Calibration(curves=fitted.curves, pose_gain=shipped.pose_gain.copy())
    with FaceAnalyzer(mode="image") as analyzer:
        renderer = PortraitRenderer(portrait, FIT_SIZE, calibration=table)
        renderer.wait_for_plate()  # measure the picture sessions will show
        table.pose_gain = calibration_fit.fit_pose_gains(
            renderer, analyzer, axes=FITTED_POSE_AXES, start=table.pose_gain,
            progress=progress)
    samples = [calibration_fit.collect_readout_samples(portrait, count, seed, FIT_SIZE, progress,
                                                       pose_deg, table.pose_gain)
               for seed, count, pose_deg in runs]
    table.readout = calibration_fit.fit_readout(
        np.concatenate([a for a, _ in samples]), np.concatenate([r for _, r in samples]),
        steps=steps, members=members or calibration_fit.READOUT_MEMBERS)
    path = cached_path(portrait, folder)
    tmp = path.with_suffix(".tmp")
    table.save(tmp)
    tmp.replace(path)  # atomic: a reader never sees half a table
    return path
