"""Errors of the wire protocol, shared by the client SDK and the server (`pipelines`).

Protocol errors are answered on the wire as an `error` event carrying `code`
(see docs/PROTOCOL.md); everything else is an environment problem. The tree::

    Exception
     ├── ValueError
     │    └── ProtocolError          a peer broke wire protocol v1 (has .code, .fatal)
     └── RuntimeError
          └── PipelineError          base of runtime failures of the SDK and the server
               ├── ServerError       the voice server could not start or serve
               │                     (pipelines.server.errors: the server's own)
               └── ClientError       the SDK could not talk to a server
                    └── HandshakeError  the server refused or never answered `hello`

`ProtocolError` is a `ValueError` because it is always bad input: the server
answers it and keeps serving, the CLI prints it as one line.
"""

from __future__ import annotations


class ProtocolError(ValueError):
    """A message that breaks wire protocol v1.

    `code` is the stable machine-readable name sent in the `error` event;
    `fatal` says whether the session must close (e.g. a failed handshake) or the
    offending message is merely dropped.
    """

    def __init__(self, code: str, message: str, *, fatal: bool = False) -> None:
        self.code = code
        self.fatal = fatal
        super().__init__(f"{code}: {message}")
        self.detail = message


class PipelineError(RuntimeError):
    """Base class so callers can catch every runtime failure of the SDK and the server at once."""


class ClientError(PipelineError):
    """The client SDK lost or could not open its connection."""


class HandshakeError(ClientError):
    """The server answered `hello` with an error event, or not at all."""

    def __init__(self, code: str, message: str, retry_after_s: float | None = None) -> None:
        self.code = code
        self.message = message
        #: with `server_busy`: when the server suggests trying again
        self.retry_after_s = retry_after_s
        super().__init__(f"handshake refused ({code}): {message}")
