"""The face service's lifecycle: one state, moved only along the allowed transitions.

    LOADING --StartFrame--> STARTING <--reply ends-- PASSTHROUGH
       |                       |  \\--reply passes-->    |
       |                       v                        v
       +----(a given session)--> RUNNING <--reply ends--+
    any of them --> FAILED (the voice goes on without the face)
    any of them --> STOPPING --> STOPPED (the face closed: once)
"""

from __future__ import annotations

import enum
import time


class FaceState(enum.Enum):
    """Where the face stands."""

    #: built: the face's assets load in the background; no StartFrame yet
    LOADING = "loading"
    #: StartFrame came: the session is being built while the voice passes through
    STARTING = "starting"
    #: a reply passes through without the face; the face takes over after it
    PASSTHROUGH = "passthrough"
    #: the block clock runs: TTS audio is animated
    RUNNING = "running"
    #: the face could not start or failed: the voice goes on without it
    FAILED = "failed"
    #: the pipeline ends: tasks are cancelled, the face is about to close
    STOPPING = "stopping"
    #: the face is closed (or there was none to close)
    STOPPED = "stopped"


_S = FaceState
ALLOWED: dict[FaceState, frozenset[FaceState]] = {
    _S.LOADING: frozenset({_S.STARTING, _S.RUNNING, _S.FAILED, _S.STOPPING}),
    _S.STARTING: frozenset({_S.PASSTHROUGH, _S.RUNNING, _S.FAILED, _S.STOPPING}),
    _S.PASSTHROUGH: frozenset({_S.STARTING, _S.RUNNING, _S.FAILED, _S.STOPPING}),
    _S.RUNNING: frozenset({_S.FAILED, _S.STOPPING}),
    _S.FAILED: frozenset({_S.STOPPING}),
    _S.STOPPING: frozenset({_S.STOPPED}),
    _S.STOPPED: frozenset(),
}


class Lifecycle:
    """The face's state and, once it failed, why (the failure outlives the stop)."""

    def __init__(self) -> None:
        self.state = FaceState.LOADING
        #: why the face is not running (it could not start, or it failed)
        self.failure: str | None = None
        #: when the service was built, then when the face started running
        self.started_at = time.monotonic()

    def to(self, state: FaceState) -> None:
        """Move to `state`; a transition the diagram does not allow is a defect."""
        if state not in ALLOWED[self.state]:
            raise RuntimeError(f"face state {self.state.value} -> {state.value} not allowed")
        self.state = state
        if state is FaceState.RUNNING:
            self.started_at = time.monotonic()

    def fail(self, failure: str) -> None:
        """The face failed: FAILED, unless the pipeline is already ending."""
        self.failure = failure
        if not self.stopping and self.state is not FaceState.FAILED:
            self.to(FaceState.FAILED)

    def stop(self) -> bool:
        """The pipeline ends: STOPPING; False when it already was ending."""
        if self.stopping:
            return False
        self.to(FaceState.STOPPING)
        return True

    @property
    def stopping(self) -> bool:
        """The pipeline ends (or ended): camera frames and late work are ignored."""
        return self.state in (FaceState.STOPPING, FaceState.STOPPED)

    @property
    def running(self) -> bool:
        return self.state is FaceState.RUNNING

    @property
    def starting(self) -> bool:
        """The face is not up yet and a reply may pass through meanwhile."""
        return self.state in (FaceState.STARTING, FaceState.PASSTHROUGH)
