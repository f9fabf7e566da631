"""What a browser needs to draw a portrait itself: the assets once, then motion vectors.

Why: the WebGL2 renderer (pipelines/web/gl/face-renderer.js) draws the same face as
`PortraitRenderer` on the visitor's GPU, so a session drawn by its client costs the
server its generator and nothing else. The heavy, once-per-portrait parts (layers,
mesh, expression fields, eye and mouth set-up) travel once, as one binary container
named by its hash (the browser caches it); every frame then needs only the pose, the
gaze, the lip rounding and the actuator amplitudes, 59 floats (`motion_vector`).

The amplitudes are solved here, on the server, with the session's calibration table
(avatar/render/calibration.py): the browser never needs the table or its readout model, and a table that lands
mid-session changes the frames, not the assets.

Container layout, manifest keys and the frame layout: docs/GL_RENDERER.md.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from avatar.motion import MOTION_DIM
from avatar.render import mouth_fields
from avatar.render.expression import ACTUATORS
from avatar.render.eyes import LASH_RGB
from avatar.render.mesh import (
    FOLD_JUMP_PX,
    LIPS_LOWER_INNER,
    LIPS_LOWER_OUTER,
    LIPS_UPPER_INNER,
    LIPS_UPPER_OUTER,
    SLIVER_GAIN,
)
from avatar.render.mouth import (
    _TEXTURE,
    BAND_MIN_PX,
    BAND_WIDTH,
    DEEP_FROM,
    DEEP_FROM_WIDE,
    EVERT_FEATHER_IOD,
    EVERT_TINT,
    GATHER_FROM,
    GATHER_OVER,
    HIDE_FROM,
    LOWER_ANCHORS,
    LOWER_DIM,
    MIN_OPENING_PX,
    REST_LIPS,
    ROUNDED_DIM,
    ROUNDED_HIDES,
    TEXTURE_AMP,
    UPPER_ANCHORS,
    WARM_SHADE,
    WIDE_SHADE_THROAT,
)
from avatar.render.renderer import PortraitRenderer

MAGIC = b"AFGL"
CONTAINER_VERSION = 1
FORMAT = "avatar-forcing/face-gl"
#: layout version of `motion_vector`'s output (GL_INTERFACE.md, "Motion frame")
MOTION_FRAME_VERSION = 1
#: rotation (9), scale, shift (2), gaze (2 x 2), rounding, then one amplitude per actuator
MOTION_HEADER_LEN = 17
MOTION_FRAME_LEN = MOTION_HEADER_LEN + len(ACTUATORS)
_ALIGN = 8
_GREY_SPREAD = 6  # the renderer's test for a black-and-white photo (PortraitRenderer._grey)
_SIDES = {"Right": 0, "Left": 1}


@dataclass(frozen=True)
class BrowserAssets:
    """One portrait's assets: the manifest, the container's bytes and their sha256."""

    manifest: dict[str, Any]
    data: bytes
    hash: str


class _Blobs:
    """Collects named arrays and images into the container's blob section."""

    def __init__(self) -> None:
        self.index: dict[str, dict[str, Any]] = {}
        self.parts: list[bytes] = []
        self.offset = 0

    def _add(self, name: str, raw: bytes, dtype: str, shape: tuple[int, ...]) -> None:
        self.index[name] = {"offset": self.offset, "length": len(raw), "dtype": dtype,
                            "shape": list(shape)}
        pad = (-len(raw)) % _ALIGN
        self.parts.append(raw + b"\0" * pad)
        self.offset += len(raw) + pad

    def array(self, name: str, values: np.ndarray, dtype: str) -> None:
        """A raw little-endian C-order array (`float32`, `int32` or `uint8`)."""
        arr = np.ascontiguousarray(values, np.dtype(dtype).newbyteorder("<"))
        self._add(name, arr.tobytes(), dtype, arr.shape)

    def png(self, name: str, image: np.ndarray) -> None:
        """An RGB or RGBA uint8 image, PNG-encoded (lossless; the browser decodes it)."""
        image = np.ascontiguousarray(image, np.uint8)
        bgr = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4
                           else cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 6])
        if not ok:
            raise RuntimeError(f"PNG encoding of the asset {name!r} failed")
        self._add(name, encoded.tobytes(), "png", image.shape)


def _floats(values: Any) -> list[float]:
    return [float(v) for v in np.asarray(values, np.float64).ravel()]


def _ints(values: Any) -> list[int]:
    return [int(v) for v in np.asarray(values).ravel()]


def _eyelids(renderer: PortraitRenderer) -> dict[str, Any]:
    painter = renderer._eyelids
    eyes = [{"upper": _ints(upper), "upper_copies": _ints(copies), "lower": _ints(lower),
             "colour": _floats(colour), "rest_gap": float(rest_gap)}
            for upper, copies, lower, colour, rest_gap in painter.eyes]
    return {"eyes": eyes, "iod": float(painter.iod), "lash_rgb": _floats(LASH_RGB)}


def _gaze_eyes(renderer: PortraitRenderer, blobs: _Blobs) -> list[dict[str, Any]]:
    out = []
    for eye in renderer.gaze.eyes:
        side = _SIDES["Right" if eye["in_sign"] > 0 else "Left"]
        blobs.array(f"sclera_{side}", np.clip(np.round(eye["sclera"]), 0, 255), "uint8")
        blobs.array(f"open_{side}", eye["open"][..., 0], "float32")
        blobs.array(f"iris_{side}", eye["iris_alpha"], "float32")
        out.append({"side": side, "box": _ints(eye["box"])})
    return out


def _mouth(renderer: PortraitRenderer, blobs: _Blobs) -> dict[str, Any]:
    painter = renderer.mouth
    pal = painter.palette
    blobs.array("mouth_anchor_xy", painter._anchor_xy, "float32")
    blobs.array("mouth_anchor_z", painter._anchor_z, "float32")
    blobs.array("mouth_jaw", painter._jaw.astype(np.uint8), "uint8")
    blobs.array("mouth_jaw_field", painter._jaw_field, "float32")
    blobs.array("grain", _TEXTURE, "float32")
    return {
        "iod": painter.iod, "rest_gap": _floats(painter.rest_gap),
        "rest_width": painter.rest_width, "evert_gain": _floats(painter._evert_gain),
        "lips": {"upper_inner": list(LIPS_UPPER_INNER), "lower_inner": list(LIPS_LOWER_INNER),
                 "upper_outer": list(LIPS_UPPER_OUTER), "lower_outer": list(LIPS_LOWER_OUTER)},
        "rows": {"upper": [UPPER_ANCHORS.start, UPPER_ANCHORS.stop],
                 "lower": [LOWER_ANCHORS.start, LOWER_ANCHORS.stop],
                 "rest_lips": [REST_LIPS.start, REST_LIPS.stop]},
        "palette": {name: _floats(getattr(pal, name))
                    for name in ("lips", "teeth", "tongue", "cavity", "throat", "shade", "gum")},
        "constants": {
            "min_opening_px": MIN_OPENING_PX, "band_width": BAND_WIDTH,
            "band_min_px": BAND_MIN_PX, "deep_from": DEEP_FROM, "deep_from_wide": DEEP_FROM_WIDE,
            "gather_from": GATHER_FROM, "gather_over": GATHER_OVER,
            "rounded_dim": ROUNDED_DIM, "rounded_hides": ROUNDED_HIDES, "hide_from": HIDE_FROM,
            "lower_dim": LOWER_DIM, "warm": WARM_SHADE, "wide_shade_throat": WIDE_SHADE_THROAT,
            "grain_amp": TEXTURE_AMP, "evert_tint": EVERT_TINT,
            "evert_feather_px": EVERT_FEATHER_IOD * painter.iod,
        },
        "fields": _field_constants(),
    }


def _field_constants() -> dict[str, Any]:
    """The per-pixel fields' constants (avatar/render/mouth_fields.py), which the
    fragment shader takes as #defines: one source for both renderers."""
    f = mouth_fields
    return {
        "upper_shorter": _floats(f.UPPER_SHORTER), "lower_shorter": _floats(f.LOWER_SHORTER),
        "tip_power": _floats(f.TOOTH_TIP_POWER), "crown_upper": f.CROWN_UPPER,
        "crown_lower": f.CROWN_LOWER, "corner_round": f.CORNER_ROUND, "gap_dark": f.GAP_DARK,
        "gap_width": f.GAP_WIDTH, "gap_min_px": f.GAP_MIN_PX, "cervical_dark": f.CERVICAL_DARK,
        "teeth_glint": f.TEETH_GLINT, "tooth_round": f.TOOTH_ROUND,
        "edge_translucent": f.EDGE_TRANSLUCENT, "tongue_half_width": f.TONGUE_HALF_WIDTH,
        "shadow_under_lip": f.SHADOW_UNDER_LIP, "shadow_falloff": f.SHADOW_FALLOFF,
        "band_dark": f.BAND_DARK, "corner_dark": f.CORNER_DARK,
        "texture_cells": f.TEXTURE_CELLS,
    }


def _grid(renderer: PortraitRenderer, blobs: _Blobs) -> dict[str, Any]:
    """How mesh.py's `BackwardMapper` builds its map on a grid: each triangle's flags
    (bit 0: sharp, its warp stays exact; bit 1: foldable, mended at folds; bit 2: the
    mouth's, kept on its photo triangle when squashed to a sliver), the Gaussian
    that smooths the outline's displacement, the dilation that guards the sharp cells,
    and the jump that marks a fold."""
    mapper = renderer._mapper
    flags = (mapper.sharp[:-1].astype(np.uint8) | (mapper.foldable[:-1].astype(np.uint8) << 1)
             | (mapper.mouth.astype(np.uint8) << 2))
    blobs.array("tri_flags", flags, "uint8")
    radius = int(round(mapper.sigma * 4.0 * 2.0 + 1.0)) | 1  # cv2's kernel for a float image
    kernel = cv2.getGaussianKernel(radius, mapper.sigma).ravel()
    return {"step": mapper.step, "cells": mapper.grid, "kernel": _floats(kernel),
            "guard": [_ints(row) for row in mapper.guard],
            "fold_limit": FOLD_JUMP_PX + mapper.step, "sliver_gain": SLIVER_GAIN}


def is_grey(image: np.ndarray) -> bool:
    """Whether the renderer draws this photo in grey (its colour spread is tiny)."""
    spread = np.ptp(np.asarray(image).astype(np.int16), axis=2)
    return bool(np.percentile(spread, 99) <= _GREY_SPREAD)


def export_browser_assets(renderer: PortraitRenderer,
                          plate_timeout_s: float = 60.0) -> BrowserAssets:
    """The container a browser loads once for `renderer`'s portrait (see the module doc).

    Waits for the shift-map plate (up to `plate_timeout_s`), so the browser and the
    server draw the same background; raises TimeoutError if it does not come.
    """
    if not renderer.wait_for_plate(plate_timeout_s):
        raise TimeoutError(f"the portrait's background plate was not ready after "
                           f"{plate_timeout_s:.0f} s: no browser assets without it")
    blobs = _Blobs()
    layers = renderer.layers
    size = renderer.size
    if layers is not None:
        blobs.png("foreground", layers.source)
        blobs.png("plate", layers.plate)
    else:  # the one-sheet warp: the whole photo moves, nothing behind it
        blobs.png("foreground", np.dstack([renderer.image, np.full((size, size), 255, np.uint8)]))
        blobs.png("plate", np.zeros((size, size, 3), np.uint8))
    mesh = renderer.mesh
    blobs.array("xy0", renderer._xy0, "float32")
    blobs.array("z0", renderer._z0, "float32")
    blobs.array("moves", renderer._moves, "float32")
    blobs.array("triangles", mesh.triangles, "int32")
    blobs.array("tri_layer", mesh.tri_layer, "float32")
    blobs.array("basis", renderer._basis.reshape(len(ACTUATORS), -1, 2), "float32")
    manifest: dict[str, Any] = {
        "format": FORMAT, "version": CONTAINER_VERSION,
        "motion_frame_version": MOTION_FRAME_VERSION, "motion_frame_len": MOTION_FRAME_LEN,
        "size": size, "map_step": renderer.map_step, "actuators": list(ACTUATORS),
        "grey": is_grey(renderer.image),
        "rounding": not renderer.rounding_blockers,
        "pivot": _floats(renderer._pivot), "depth_gain": _floats(renderer._depth_gain),
        "grid": _grid(renderer, blobs),
        "eyelids": _eyelids(renderer), "gaze_eyes": _gaze_eyes(renderer, blobs),
        "mouth": _mouth(renderer, blobs),
    }
    manifest["blobs"] = blobs.index
    text = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
    head = MAGIC + struct.pack("<II", CONTAINER_VERSION, len(text)) + text
    head += b"\0" * ((-len(head)) % _ALIGN)
    data = head + b"".join(blobs.parts)
    return BrowserAssets(manifest=manifest, data=data, hash=hashlib.sha256(data).hexdigest())


def read_container(data: bytes) -> tuple[dict[str, Any], memoryview]:
    """(manifest, blob section) of a container; ValueError naming what is wrong."""
    if len(data) < 12 or data[:4] != MAGIC:
        raise ValueError("not a face-gl asset container (no 'AFGL' magic)")
    version, length = struct.unpack_from("<II", data, 4)
    if version != CONTAINER_VERSION:
        raise ValueError(f"face-gl container version {version}, this build reads "
                         f"{CONTAINER_VERSION}")
    if 12 + length > len(data):
        raise ValueError("face-gl container truncated inside its manifest")
    manifest = json.loads(bytes(data[12:12 + length]))
    start = 12 + length + (-(12 + length)) % _ALIGN
    return manifest, memoryview(data)[start:]


def motion_vector(renderer: PortraitRenderer, motion: np.ndarray) -> np.ndarray:
    """The (MOTION_FRAME_LEN,) float32 frame the browser draws for an absolute (58,)
    motion frame: what `renderer.render(motion)` would draw, without the pixels."""
    motion = np.asarray(motion, np.float32)
    if motion.shape != (MOTION_DIM,):
        raise ValueError(f"motion frame must be ({MOTION_DIM},), got {motion.shape}")
    if not np.all(np.isfinite(motion)):
        raise ValueError("motion frame contains NaN or infinite values")
    amps = renderer.amplitudes(motion)
    delta, scale, shift = renderer._pose(motion)
    out = np.zeros(MOTION_FRAME_LEN, np.float32)
    out[0:9] = delta.ravel()
    out[9] = scale
    out[10:12] = shift
    gaze = renderer.gaze
    for eye, (dx, dy) in zip(gaze.eyes, gaze.offsets(motion, renderer.reference), strict=True):
        side = _SIDES["Right" if eye["in_sign"] > 0 else "Left"]
        out[12 + 2 * side:14 + 2 * side] = (dx, dy)
    out[16] = min(max(float(amps[renderer._rounding].sum()), 0.0), 1.0)
    out[MOTION_HEADER_LEN:] = amps
    return out


__all__ = ["MOTION_FRAME_LEN", "MOTION_FRAME_VERSION", "BrowserAssets",
           "export_browser_assets", "is_grey", "motion_vector", "read_container"]
