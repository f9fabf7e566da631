"""Errors raised by the `agent` package.

Every error here is a `RuntimeError` (something in the environment is wrong, not
the caller's arguments; bad arguments raise `ValueError`/`FileNotFoundError`, and
bad settings raise pydantic's `ValidationError`, itself a `ValueError`)::

    RuntimeError
     └── AgentError                 base of everything below
          ├── MissingModelError     a PyPI package carrying model weights is absent
          ├── LLMServerError        the embedded llama.cpp server failed or died
          └── LLMEndpointError      an OpenAI-compatible endpoint is down, slow or refuses us
"""

from __future__ import annotations


class AgentError(RuntimeError):
    """Base class so callers can catch every agent failure in one place."""


class MissingModelError(AgentError):
    """A bundled model is not installed; the message carries the pip command to fix it."""

    def __init__(self, what: str, package: str, version: str | None = None) -> None:
        pin = f"=={version}" if version else ""
        self.package = package
        super().__init__(
            f"{what} is not installed: it ships in the PyPI package '{package}'. "
            f"Install it with: pip install '{package}{pin}'"
        )


class LLMServerError(AgentError):
    """The embedded `llama_cpp.server` subprocess did not become healthy or exited."""


class LLMEndpointError(AgentError):
    """An OpenAI-compatible endpoint cannot serve us (unreachable, timed out, rejected)."""
