"""What a face service loads before its session: the assets shared by every service
in the process, and the portrait it animates.

The assets (the generator's weights, the analysed portraits, this machine's measured
costs, the face's worker processes) take seconds to build, so services that were
given none share one set per configuration while any of them lives.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from pathlib import Path

from avatar.live import AvatarAssets
from avatar.portrait import Portrait
from pipelines.settings import AvatarSettings

#: Loads a portrait by name or from uploaded bytes (the server's portrait library).
PortraitLoader = Callable[[str | None, bytes | None], Portrait]

#: Assets loaded by services that were given none, shared while any of them lives
#: (the generator's weights, the analysed portraits, this machine's measured
#: costs: a few seconds to build), keyed by what they were loaded from.
_SHARED_ASSETS: weakref.WeakValueDictionary[tuple[str, str, bool], AvatarAssets] = (
    weakref.WeakValueDictionary())
_SHARED_LOCK = threading.Lock()


def shared_assets(settings: AvatarSettings) -> AvatarAssets:
    """The assets for `settings` (portrait folder, default portrait, budget), loaded
    once per process while any service holds them (blocking: call in a thread)."""
    key = (str(settings.portrait_dir or ""), settings.default_portrait,
           settings.face_process)
    with _SHARED_LOCK:
        assets = _SHARED_ASSETS.get(key)
        if assets is None:
            assets = AvatarAssets.load(
                portrait_dir=settings.portrait_dir, default_portrait=settings.default_portrait,
                budget_ms=settings.video_budget_ms,
                # the face in worker processes in every app; a cold pool (fork server,
                # plates, a primed worker: 10-15 s on 2 cores) no longer holds up
                # pipecat's StartFrame: the service builds its session in the background
                # (AvatarForcingVideoService.start)
                face_workers=settings.warm_face_workers if settings.face_process else None,
                face_worker_sessions=settings.face_worker_sessions,
                face_threads=settings.threads)
            if assets.faces is not None:  # the workers end when the last service lets go
                weakref.finalize(assets, assets.faces.close)
            _SHARED_ASSETS[key] = assets
        return assets


def resolve_portrait(portrait: str | Path | Portrait | None, assets: AvatarAssets) -> Portrait:
    """A portrait from a bundled (or portrait-folder) name, an image path, or as given.

    Raises:
        UnknownPortraitError: a name that is neither a known portrait nor a file.
        NoFaceError, FaceTooSmallError, NotAnImageError: the image is unusable.
    """
    if portrait is None:
        return assets.portraits.get()
    if isinstance(portrait, Portrait):
        return portrait
    path = Path(portrait)
    if isinstance(portrait, Path) or path.suffix or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"portrait image {path} does not exist")
        loaded = Portrait.load(path)
        loaded.name = path.stem
        return loaded
    return assets.portraits.get(str(portrait))



__all__ = ["PortraitLoader", "resolve_portrait", "shared_assets"]
