"""When and how soon the Python SDK reconnects, and what it says when it did (no I/O).

Why: a kiosk's machine dies, the server restarts, a network blip drops the socket.
The browser SDK (pipelines/web/avatar-client.js) reconnects by itself after 0.5, 1,
2, 4, 5 s and tells the visitor the new conversation remembers nothing; a Python
client (a kiosk written in Python, a soak's scripted visitor) needs the same.
`VoiceConnection.connect(reconnect=...)` takes a `ReconnectPolicy`; `receive()` then
yields a `SessionRestarted` where it would have yielded `Closed`.

The same close codes end both SDKs for good: a broken handshake (1002), data the
server cannot take (1003, 1007, 1009, 1010) and a refused token (1008): trying
again cannot help. Every other close, or a socket that just drops (1006, no close
frame), is retried; a busy server's 1013 after its `retry_after_s`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Close codes after which reconnecting cannot help (the browser SDK's
#: FATAL_CLOSE_CODES, plus the data errors its server never sends to a browser).
FATAL_CLOSE_CODES = frozenset({1002, 1003, 1007, 1008, 1009, 1010})
#: Handshake refusals (`error` codes) that the next attempt would get again.
FATAL_HANDSHAKE_CODES = frozenset({"unauthorized", "unsupported_version",
                                   "unsupported_sample_rate", "invalid_message",
                                   "handshake_required"})


@dataclass(frozen=True)
class ReconnectPolicy:
    """Exponential back-off with jitter, bounded in delay and in attempts.

    The defaults are the browser SDK's (0.5, 1, 2, 4, then 5 s), each delay moved by
    up to `jitter` of itself, so a fleet's clients cut by one machine's death do not
    all knock on the door in the same millisecond.

    Args:
        first_delay_secs: the wait before the first attempt.
        factor: each next wait is this many times the last one...
        max_delay_secs: ...but never longer than this.
        jitter: each wait is moved by a random fraction in [-jitter, +jitter] of itself.
        max_attempts: give up after this many failed attempts in a row (then
            `receive()` yields the `Closed` of the drop); 0: never give up.
        stall_secs: a session with the live face (`video_out`) that receives nothing
            for this long counts as dropped and is reopened. The face streams ~25
            images a second, so silence means a frozen machine or a cut network,
            which send no close: without this the socket's keepalive notices after
            20-40 s. 0: wait for the socket.
    """

    first_delay_secs: float = 0.5
    factor: float = 2.0
    max_delay_secs: float = 5.0
    jitter: float = 0.2
    max_attempts: int = 10
    stall_secs: float = 3.0

    def __post_init__(self) -> None:
        if self.first_delay_secs < 0 or self.max_delay_secs < self.first_delay_secs:
            raise ValueError("reconnect delays need 0 <= first_delay_secs <= max_delay_secs, "
                             f"got {self.first_delay_secs} and {self.max_delay_secs}")
        if self.factor < 1:
            raise ValueError(f"reconnect factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"reconnect jitter must be in [0, 1), got {self.jitter}")
        if self.stall_secs < 0:
            raise ValueError(f"stall_secs must be >= 0 (0: off), got {self.stall_secs}")
        if self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0 (0: forever), got {self.max_attempts}")

    def delay_secs(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before attempt number `attempt` (0 = the first after the drop)."""
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt}")
        base = min(self.max_delay_secs, self.first_delay_secs * self.factor ** min(attempt, 64))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1.0 + spread))

    def gives_up_after(self, attempts: int) -> bool:
        """Whether `attempts` failed attempts in a row are the last."""
        return self.max_attempts > 0 and attempts >= self.max_attempts


def reconnect_policy(value: ReconnectPolicy | bool | None) -> ReconnectPolicy | None:
    """`connect(reconnect=...)` as a policy: True = the defaults, False/None = off."""
    if value is None or value is False:
        return None
    if value is True:
        return ReconnectPolicy()
    if isinstance(value, ReconnectPolicy):
        return value
    raise ValueError(f"reconnect must be a ReconnectPolicy or a bool, got {value!r}")


def may_reconnect(close_code: int | None) -> bool:
    """Whether a close with `close_code` (None: the socket dropped) is worth retrying."""
    return close_code not in FATAL_CLOSE_CODES


@dataclass(frozen=True)
class SessionRestarted:
    """The connection dropped and the SDK opened a new session: the conversation was cut.

    The new session remembers nothing of the old one (a new `session_id`, an empty
    history); tell the user so, as the browser SDK's `session-restarted` event does.
    `receive()` yields it where it would have yielded `Closed`; the connection's
    `welcome` is the new session's from then on.
    """

    previous_session_id: str
    session_id: str
    #: the close code of the drop (None: the socket dropped without one)
    code: int | None
    reason: str
    #: connection attempts it took (1: the first one worked)
    attempts: int
    #: from the drop to the new welcome
    downtime_secs: float

    type: str = "session-restarted"
