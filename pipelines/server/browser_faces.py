"""The portraits as browser assets, for clients that draw the face themselves (v2.3).

A client that draws (`hello.render`) gets a portrait's assets once, from
`GET /assets/<hash>` (immutable, cached by the browser), then one motion frame per
40 ms. Both come from one `PortraitRenderer` in this process
(avatar/render/browser_assets.py): the bundle is exported from it, and each frame's
motion is solved against its render table (`motion_vector`, about 0.1 ms, no pixels).
The renderer is built once per portrait, size and table and shared by every session
that shows them; it never draws here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np

from avatar.portrait import Portrait
from avatar.render import Calibration, PortraitRenderer
from avatar.render.browser_assets import export_browser_assets, motion_vector
from avatar.render.portrait_calibration import portrait_key

#: portraits kept ready (renderer + bundle); the oldest unused goes first
MAX_KEPT = 8


@dataclass(frozen=True)
class BrowserFace:
    """One portrait as a client draws it: its asset bundle and the renderer whose table
    solves its motion frames."""

    portrait: str
    size: int
    renderer: PortraitRenderer
    #: sha256 of `data`: the URL's name and the ETag
    hash: str
    #: the asset container (docs/PROTOCOL.md, "Drawn by the client")
    data: bytes
    #: the container's format version
    version: int

    def motion_frame(self, motion: np.ndarray) -> np.ndarray:
        """The generator's (58,) motion as the client's motion frame (float32, 59)."""
        return np.asarray(motion_vector(self.renderer, motion), dtype=np.float32)

    def motion_payload(self, motion: np.ndarray) -> bytes:
        """`motion_frame` as a kind-6 message's payload: little-endian float32, as every
        client reads it (docs/PROTOCOL.md, "Drawn by the client")."""
        return self.motion_frame(motion).astype("<f4").tobytes()


class BrowserFaces:
    """A server's `BrowserFace`s by portrait, size and table, built once each and
    served by hash (thread-safe: sessions build them from worker threads)."""

    def __init__(self, table_for: Callable[[Portrait], Calibration | None] | None = None, *,
                 max_kept: int = MAX_KEPT) -> None:
        """`table_for(portrait)`: the render table its sessions use (the portrait's own
        fit when one exists); None: the renderer finds its own."""
        self._table_for = table_for
        self._max_kept = max_kept
        self._lock = threading.Lock()
        self._faces: OrderedDict[tuple[str, int, bool], Future[BrowserFace]] = OrderedDict()
        self._by_hash: dict[str, BrowserFace] = {}

    def get(self, portrait: Portrait, size: int) -> BrowserFace:
        """`portrait` at `size` px, built now when no session built it before (blocking:
        a renderer and its background plate, then the export; run it off the loop)."""
        table = self._table_for(portrait) if self._table_for is not None else None
        # the portrait's own table, once its fit landed, makes new assets for later sessions
        key = (portrait_key(portrait), size, table is not None)
        with self._lock:
            future = self._faces.get(key)
            owner = future is None
            if future is None:
                future = self._faces[key] = Future()
            self._faces.move_to_end(key)
        if not owner:
            return future.result()
        try:
            face = _build(portrait, size, table)
        except BaseException as error:
            with self._lock:
                self._faces.pop(key, None)
            future.set_exception(error)
            raise
        with self._lock:
            self._by_hash[face.hash] = face
            while len(self._faces) > self._max_kept:
                _, old = self._faces.popitem(last=False)
                if old.done() and old.exception() is None:
                    self._by_hash.pop(old.result().hash, None)
        future.set_result(face)
        return face

    def by_hash(self, asset_hash: str) -> BrowserFace | None:
        """The bundle a URL names, or None (never built here, or let go)."""
        with self._lock:
            return self._by_hash.get(asset_hash)


def _build(portrait: Portrait, size: int, table: Calibration | None) -> BrowserFace:
    renderer = PortraitRenderer(portrait, size, calibration=table)
    bundle = export_browser_assets(renderer)
    version = int(bundle.manifest.get("version", 1))
    return BrowserFace(portrait.name, size, renderer, bundle.hash, bundle.data, version)


__all__ = ["BrowserFace", "BrowserFaces", "MAX_KEPT"]
