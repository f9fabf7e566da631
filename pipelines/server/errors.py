"""Errors of the voice server (the protocol's and the SDK's are in sdk.errors).

    PipelineError (sdk.errors)   base of runtime failures of the SDK and the server
     └── ServerError             the voice server could not start or serve
"""

from __future__ import annotations

from sdk.errors import PipelineError


class ServerError(PipelineError):
    """The voice server could not start (models, LLM endpoint, port) or serve."""
