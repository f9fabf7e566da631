"""The portraits as browser assets, for clients that draw the face themselves (v2.3).

A client that draws (`hello.render`) gets a portrait's assets once, from
`GET /assets/<hash>` (immutable, cached by the browser), then one motion frame per
40 ms. Both come from one `PortraitRenderer` in this process
(avatar/render/browser_assets.py): the bundle is exported from it, and each frame's
motion is solved against its render table (`motion_vector`, no pixels), a generated
block's frames at once (`motion_vectors`, about 0.3 ms a frame).
The renderer is built once per portrait, size and table and shared by every session
that shows them; it never draws here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np

from avatar.motion import MOTION_DIM
from avatar.portrait import Portrait
from avatar.render import Calibration, PortraitRenderer
from avatar.render.browser_assets import export_browser_assets, motion_vector, motion_vectors
from avatar.render.portrait_calibration import portrait_key

#: portraits kept ready (renderer + bundle); the oldest unused goes first
MAX_KEPT = 8
#: blocks whose frames wait for their turn, over all sessions of a face (the oldest go
#: first; a frame of one dropped is solved again, with its block, when its turn comes)
MAX_BLOCKS_AHEAD = 64
#: the most rows a block solved at once may have (a generated block has 5)
MAX_BLOCK_FRAMES = 16


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

    #: blocks solved before their rows' turn: id(block) -> (the block, its rows as solved
    #: (T, 58) float32, their frames (T, 59)); the block is held, so its id stays its own
    _solved: OrderedDict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False)
    _solved_lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False)

    def motion_frame(self, motion: np.ndarray) -> np.ndarray:
        """The generator's (58,) motion as the client's motion frame (float32, 59).

        A frame that is a row of its generated block (a view of a (T, 58) array, as
        `AvatarSession.next_block` plans them) is solved with the whole block, one call
        (`motion_frames`), and the block's other rows wait here for their turn (a row
        whose values changed since is solved again); any other frame is solved alone.
        Either way the same frame. Each session's blocks are its own: two sessions
        that happen to make the same motion each solve it."""
        motion = np.asarray(motion)
        block = _block_of(motion)
        if block is None:
            return np.asarray(motion_vector(self.renderer, motion), dtype=np.float32)
        index = _row_index(block, motion)
        row = np.asarray(motion, np.float32)
        with self._solved_lock:
            entry = self._solved.get(id(block))
        if entry is not None and entry[0] is block and np.array_equal(entry[1][index], row):
            return entry[2][index].copy()
        try:
            vectors = self.motion_frames(block)
        except ValueError:  # a bad row (NaN): each frame alone, so only that one fails
            return np.asarray(motion_vector(self.renderer, motion), dtype=np.float32)
        with self._solved_lock:
            self._solved[id(block)] = (block, np.array(block, np.float32), vectors)
            while len(self._solved) > MAX_BLOCKS_AHEAD:
                self._solved.popitem(last=False)
        return vectors[index].copy()

    def motion_frames(self, motions: np.ndarray) -> np.ndarray:
        """A block of (T, 58) motion as its T motion frames (T, 59), solved at once."""
        return motion_vectors(self.renderer, motions)


def _block_of(motion: np.ndarray) -> np.ndarray | None:
    """The (T, 58) block whose row `motion` is (T <= MAX_BLOCK_FRAMES), or None."""
    base = motion.base
    if (motion.shape != (MOTION_DIM,) or not isinstance(base, np.ndarray) or base.ndim != 2
            or base.shape[1] != MOTION_DIM or not 1 < len(base) <= MAX_BLOCK_FRAMES
            or base.dtype != motion.dtype or not base.flags.c_contiguous):
        return None
    return base if 0 <= _row_index(base, motion) < len(base) else None


def _row_index(block: np.ndarray, row: np.ndarray) -> int:
    """Which row of `block` the view `row` is (its offset in the block's memory);
    -1 when it is not one."""
    offset = (row.__array_interface__["data"][0] - block.__array_interface__["data"][0])
    index, rest = divmod(offset, block.strides[0])
    return int(index) if rest == 0 else -1


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
