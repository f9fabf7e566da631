"""What a face service loads before its session: the assets shared by every service
in the process, and the portrait it animates.

The assets (the generator's weights, the analysed portraits, this machine's measured
costs, the face's worker processes) take seconds to build, so services that were
given none share one set per configuration. They load in the background, in
stages: from the moment the first service is built, the portraits, the generator
and the renderer's compiled loops (a face can start in the service's own process on
them, `first`); from the moment a pipeline sets one up, this machine's costs and
the warm worker processes (`assets`); then the library's other portraits, so a
switch to one of them costs no analysis. They are kept while any service holds
them, and KEEP_WARM_SECS after the last one that ran a face let go, so the next
call of a long-running process finds them warm.
"""

from __future__ import annotations

import atexit
import multiprocessing
import multiprocessing.forkserver
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.live import AvatarAssets, PortraitLibrary
from avatar.portrait import Portrait
from avatar.render.raster import compile_now
from pipelines.settings import AvatarSettings

#: Loads a portrait by name or from uploaded bytes (the server's portrait library).
PortraitLoader = Callable[[str | None, bytes | None], Portrait]

#: how long a configuration's assets (and its warm worker processes) stay after the
#: last service that ran a face let go of them
KEEP_WARM_SECS = 600.0
#: at exit, how long the process waits for a first stage still loading (see `_exit_safely`)
EXIT_WAIT_SECS = 60.0

_Key = tuple[str, str, bool]


@dataclass(frozen=True)
class FirstFace:
    """What a face needs to start in this process: the portraits and the generator."""

    portraits: PortraitLibrary
    checkpoint: GeneratorCheckpoint


class _Stage(Future):  # type: ignore[type-arg]
    """A loading stage many services wait on: one waiter giving up (its task cancelled,
    which cancels a wrapped future) must not cancel the stage for the others."""

    def cancel(self) -> bool:
        return False


class SharedAssets:
    """One configuration's assets, loading in a background thread (see the module
    docstring); get one with `shared_loading`."""

    def __init__(self, settings: AvatarSettings, key: _Key) -> None:
        self.key = key
        #: the portraits (the default one analysed) and the generator
        self.first: Future[FirstFace] = _Stage()
        #: everything: costs measured and, with `face_process`, the warm worker pool
        self.assets: Future[AvatarAssets] = _Stage()
        self._holders: weakref.WeakSet[object] = weakref.WeakSet()
        self._keep: threading.Timer | None = None
        self._workers_wanted = threading.Event()
        threading.Thread(target=self._load, args=(settings,), name="avatar-assets",
                         daemon=True).start()
        _LOADING.add(self)

    @property
    def failed(self) -> bool:
        """A stage failed or was dropped: the next service loads afresh."""
        return any(f.done() and (f.cancelled() or f.exception() is not None)
                   for f in (self.first, self.assets))

    def start_workers(self) -> None:
        """A pipeline is setting up a service: go on to the costs and the worker
        processes (a service that is only built never starts them)."""
        self._workers_wanted.set()

    def keep_warm(self) -> None:
        """Keep these assets KEEP_WARM_SECS from now, whoever else holds them (a
        service that ran a face calls it as it stops)."""
        with _SHARED_LOCK:
            if self._keep is not None:
                self._keep.cancel()
            self._keep = threading.Timer(KEEP_WARM_SECS, self._cool)
            self._keep.daemon = True
            _KEPT[self.key] = self
            self._keep.start()

    def _cool(self) -> None:
        with _SHARED_LOCK:
            if _KEPT.get(self.key) is self:
                del _KEPT[self.key]

    def _wanted(self) -> bool:
        """Some service still holds these assets, or they are kept warm."""
        with _SHARED_LOCK:
            return bool(self._holders) or _KEPT.get(self.key) is self

    def _load(self, settings: AvatarSettings) -> None:
        """The stages, in order; once no service holds them, the next stage is not run."""
        try:
            portraits = PortraitLibrary(settings.portrait_dir, settings.default_portrait)
            portraits.get()
            checkpoint = load_generator(DEFAULT_CHECKPOINT)
            checkpoint.model.eval()
            # the renderer's compiled loops, loaded from numba's disk cache (~0.2 s; a
            # fresh install compiles them, ~6 s): a face started here on this stage
            # draws its first frame without them
            compile_now()
        except BaseException as error:
            self.first.set_exception(error)
            self.assets.set_exception(error)
            return
        self.first.set_result(FirstFace(portraits, checkpoint))
        while not self._workers_wanted.wait(1.0):
            if not self._wanted():
                self.assets.set_exception(RuntimeError("no face service wants these assets"))
                return
        try:
            if settings.face_process:
                _start_fork_server()
            assets = AvatarAssets.load(
                portrait_dir=settings.portrait_dir, default_portrait=settings.default_portrait,
                budget_ms=settings.video_budget_ms, portraits=portraits, generator=checkpoint,
                face_workers=settings.warm_face_workers if settings.face_process else None,
                face_worker_sessions=settings.face_worker_sessions,
                faces_per_worker=settings.faces_per_worker,
                batch_steps=settings.batch_steps,
                face_threads=settings.threads)
        except BaseException as error:
            self.assets.set_exception(error)
            return
        if assets.faces is not None:  # the workers end when the last holder lets go
            weakref.finalize(assets, assets.faces.close)
        self.assets.set_result(assets)
        del assets  # held by the future (and by services) from here
        if self._wanted():
            portraits.prepare()


#: Assets loaded for services that were given none, shared while any holds them,
#: keyed by what they are loaded from; and those kept warm after their last service.
_SHARED: weakref.WeakValueDictionary[_Key, SharedAssets] = weakref.WeakValueDictionary()
_KEPT: dict[_Key, SharedAssets] = {}
_SHARED_LOCK = threading.Lock()
_LOADING: weakref.WeakSet[SharedAssets] = weakref.WeakSet()


@atexit.register
def _exit_safely() -> None:
    """A process that ends while a first stage loads (torch, the landmarker: native
    threads) would abort in the runtimes' teardown ("terminate called without an
    active exception"); it waits for that stage instead, at most EXIT_WAIT_SECS."""
    for shared in list(_LOADING):
        try:
            shared.first.exception(timeout=EXIT_WAIT_SECS)
        except Exception:  # timed out or cancelled: nothing more to wait for
            pass


class _Process:
    """Holds what `shared_assets` callers asked for, for the life of the process."""


_PROCESS = _Process()


def shared_loading(settings: AvatarSettings, holder: object) -> SharedAssets:
    """The assets for `settings` (portrait folder, default portrait, worker processes),
    loading in the background from the first call; `holder` keeps them while it lives."""
    key = (str(settings.portrait_dir or ""), settings.default_portrait, settings.face_process)
    with _SHARED_LOCK:
        shared = _SHARED.get(key)
        if shared is not None and shared.failed:
            shared = None
        if shared is None:
            shared = SharedAssets(settings, key)
            _SHARED[key] = shared
        shared._holders.add(holder)
        return shared


def shared_assets(settings: AvatarSettings) -> AvatarAssets:
    """The assets for `settings`, loaded once and kept for the process (blocking:
    call in a thread)."""
    shared = shared_loading(settings, holder=_PROCESS)
    shared.start_workers()
    return shared.assets.result()


def _start_fork_server() -> None:
    """Start multiprocessing's fork server now with the modules face workers preload
    (seconds of imports in a process of its own), while this process measures the
    machine and makes the portrait's plates."""
    from avatar.live.face_pool import PRELOAD

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)  # type: ignore[attr-defined]
    multiprocessing.forkserver.ensure_running()  # type: ignore[attr-defined]


def resolve_portrait(portrait: str | Path | Portrait | None,
                     assets: AvatarAssets | PortraitLibrary) -> Portrait:
    """A portrait from a bundled (or portrait-folder) name, an image path (analysed
    once and kept, by the library), or as given.

    Raises:
        UnknownPortraitError: a name that is neither a known portrait nor a file.
        NoFaceError, FaceTooSmallError, NotAnImageError: the image is unusable.
    """
    library = assets.portraits if isinstance(assets, AvatarAssets) else assets
    if portrait is None:
        return library.get()
    if isinstance(portrait, Portrait):
        return portrait
    path = Path(portrait)
    if isinstance(portrait, Path) or path.suffix or path.is_file():
        return library.load_file(path)
    return library.get(str(portrait))


__all__ = ["FirstFace", "KEEP_WARM_SECS", "PortraitLoader", "SharedAssets", "resolve_portrait",
           "shared_assets", "shared_loading"]
