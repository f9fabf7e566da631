"""Figure: bench/results/render_mapper_ab.json: the renderer's map and readout, a base tree's against this tree's, frame by frame.

Issue 36 made the renderer's per-frame map (avatar/render/mesh.py,
BackwardMapper) and its readout model (avatar/render/calibration.py,
ReadoutModel.predict) cheaper without changing what they compute. Two trees
cannot both be imported, but those two pieces can be swapped: this builds one
renderer per size from this tree and renders every frame of a mixed track
twice, once with the base tree's BackwardMapper and einsum readout and once
with this tree's, alternating which goes first; one thread, CPU time per frame.
Same run, same load: the ratio is the figure (the machine's own speed drifts
by a third between runs). It also reports how far the images differ (the
largest per-pixel difference, pixels over 2 levels, the mean).

    python bench/face/render_mapper_ab.py /tmp/base      # a checkout of the base commit
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.calibration import POSE_SCALE_DEG, ReadoutModel
from avatar.render.roundtrip import mixed_track
from benchkit.paths import RESULTS


def base_mesh_module(base: Path) -> ModuleType:
    """The base tree's avatar/render/mesh.py, loaded under another name."""
    spec = importlib.util.spec_from_file_location("base_mesh", base / "avatar/render/mesh.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no avatar/render/mesh.py under {base}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["base_mesh"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def einsum_predict(self: ReadoutModel, amps: np.ndarray,
                   pose: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The readout model as the base computed it (three einsums over the ensemble)."""
    k = len(self.scale)
    x = amps / self.scale
    if self.w1.shape[1] > k:
        p = np.zeros(self.w1.shape[1] - k) if pose is None else pose / POSE_SCALE_DEG
        x = np.concatenate([x, np.clip(p, -1.5, 1.5)])
    h = np.tanh(np.einsum("i,eih->eh", x, self.w1) + self.b1)
    out = (np.einsum("eh,eho->eo", h, self.w2) + self.b2).mean(axis=0)
    jac = np.einsum("eho,eh,eih->oi", self.w2, 1.0 - h * h, self.w1[:, :k]) / len(h)
    return out, jac / self.scale


def compare(size: int, base_mesh: ModuleType, frames: int) -> dict[str, Any]:
    """CPU ms per frame, base and new, and how far their images differ, at `size`."""
    renderer = PortraitRenderer(Portrait.default(size), size)
    renderer.wait_for_plate()
    new_mapper = renderer._mapper
    base_mapper = base_mesh.BackwardMapper(new_mapper.mesh, grid_step=new_mapper.step)
    new_predict = ReadoutModel.predict
    times: dict[str, list[float]] = {"base": [], "new": []}
    worst, over_2, mean_abs = 0, 0, 0.0
    try:
        for i, motion in enumerate(mixed_track(renderer.reference, frames, seed=0)):
            images = {}
            for variant in (("base", "new") if i % 2 else ("new", "base")):
                renderer._mapper = base_mapper if variant == "base" else new_mapper
                ReadoutModel.predict = einsum_predict if variant == "base" else new_predict  # type: ignore[method-assign]
                started = time.thread_time()
                images[variant] = renderer.render(motion).astype(np.int16)
                if i >= 10:  # the first frames fill caches
                    times[variant].append(time.thread_time() - started)
            diff = np.abs(images["base"] - images["new"])
            worst = max(worst, int(diff.max()))
            over_2 = max(over_2, int((diff.max(axis=2) > 2).sum()))
            mean_abs = max(mean_abs, float(diff.mean()))
    finally:
        ReadoutModel.predict = new_predict  # type: ignore[method-assign]
        renderer._mapper = new_mapper
    base_ms, new_ms = (float(np.median(times[v])) * 1e3 for v in ("base", "new"))
    return {"cpu_ms_p50_base": round(base_ms, 2), "cpu_ms_p50_new": round(new_ms, 2),
            "ratio": round(new_ms / base_ms, 3), "max_pixel_diff": worst,
            "pixels_over_2_levels_max": over_2, "mean_abs_diff_max": round(mean_abs, 6)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base", type=Path, help="a checkout of the base commit")
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args()
    cv2.setNumThreads(1)
    base_mesh = base_mesh_module(args.base.resolve())
    out: dict[str, Any] = {"base": str(args.base), "load_avg_start": round(os.getloadavg()[0], 2)}
    for size in (256, 512):
        out[str(size)] = compare(size, base_mesh, args.frames)
    out["load_avg_end"] = round(os.getloadavg()[0], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "render_mapper_ab.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
