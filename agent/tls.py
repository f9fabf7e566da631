"""One TLS context per process for every HTTP client the agent opens.

httpx builds a fresh context for each client it makes, loading the CA bundle each
time: about 25 ms of CPU, on the event loop, which each session's LLM client and
turn-end reader paid when the session started. A context can serve any number of
clients and connections, so the process builds it once.
"""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def shared_tls_context() -> ssl.SSLContext:
    """httpx's default context (its CA bundle, or SSL_CERT_FILE / SSL_CERT_DIR from the
    environment), built on first use and shared from then on."""
    return httpx.create_ssl_context()


__all__ = ["shared_tls_context"]
