"""Log hygiene for uvicorn's loggers: no secrets in the logs, no tracebacks for bad clients.

uvicorn logs every request line with its query string, on "uvicorn.access"
(HTTP) and "uvicorn.error" (`"WebSocket /ws?token=..." [accepted]`), so a
token a browser sent as `?token=` (it cannot set headers on a websocket) would
sit in clear in the server's log. And when a client sends a text frame that is
not UTF-8, uvicorn closes with 1007, which is right, but logs it with
`logger.exception`: a traceback for the client's mistake, not ours.

Both are fixed with `logging.Filter`s on those two loggers (a logger's filters
see every record logged on it, whichever handlers the logging config sets up).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Callable
from typing import Any

from loguru import logger

#: Loggers uvicorn writes request lines to.
UVICORN_LOGGERS: tuple[str, ...] = ("uvicorn.access", "uvicorn.error")

#: `token=` in a query string, up to the next parameter, space or quote.
_TOKEN_QUERY = re.compile(r"([?&]token=)[^&\s\"']*", re.IGNORECASE)

#: What uvicorn logs (with a traceback) for a text frame that is not UTF-8.
_INVALID_UTF8 = "Invalid UTF-8 sequence received from client"


def redact_tokens(text: str) -> str:
    """`text` with the value of every `token=` query parameter replaced by `***`."""
    return _TOKEN_QUERY.sub(r"\1***", text)


class TokenRedactionFilter(logging.Filter):
    """Replace `?token=VALUE` by `?token=***` in a record's message and arguments.

    The arguments are redacted in place rather than merged into the message:
    uvicorn's access formatter unpacks `record.args` (client, method, path,
    version, status) and would break on a pre-formatted message.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact and keep the record."""
        if isinstance(record.msg, str):
            record.msg = redact_tokens(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_tokens(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        elif isinstance(record.args, dict):
            record.args = {
                key: redact_tokens(arg) if isinstance(arg, str) else arg
                for key, arg in record.args.items()
            }
        return True


class InvalidUtf8Filter(logging.Filter):
    """Log uvicorn's close 1007 (text frame not UTF-8) as one warning line, no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the 1007 record; leave every other record alone."""
        if isinstance(record.msg, str) and record.msg.startswith(_INVALID_UTF8):
            record.msg = "a client sent a text message that is not valid UTF-8; closed it with 1007"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.levelno = logging.WARNING
            record.levelname = logging.getLevelName(logging.WARNING)
        return True


def install_uvicorn_log_filters() -> None:
    """Add the filters to uvicorn's loggers (idempotent: each is added once).

    Installing before `uvicorn.Config` is built is fine: `logging.config.dictConfig`
    replaces a logger's handlers but keeps its filters.
    """
    for name in UVICORN_LOGGERS:
        log = logging.getLogger(name)
        for kind in (TokenRedactionFilter, InvalidUtf8Filter):
            if not any(isinstance(existing, kind) for existing in log.filters):
                log.addFilter(kind())


#: pipecat logs what was heard and said below INFO (transcriptions, LLM contexts)
_PIPECAT_PREFIX = "pipecat"


def visitor_words_filter(log_transcripts: bool) -> Callable[[Any], bool]:
    """A loguru filter that keeps visitors' words out of the log unless the operator
    asks for them (`kiosk.log_transcripts`): records bound with `transcript=True` and
    pipecat's records below INFO (where it logs transcriptions and LLM contexts) are
    dropped. A shared kiosk keeps no transcript of one visitor for the next to find."""
    info = logger.level("INFO").no

    def keep(record: Any) -> bool:
        if log_transcripts:
            return True
        if record["extra"].get("transcript"):
            return False
        name = record["name"] or ""
        return not (name.startswith(_PIPECAT_PREFIX) and record["level"].no < info)

    return keep


def install_visitor_words_filter(log_transcripts: bool) -> None:
    """Send the process's log to stderr through `visitor_words_filter` (the server's
    own logging; a library leaves the app's alone)."""
    logger.remove()
    logger.add(sys.stderr, filter=visitor_words_filter(log_transcripts), level="DEBUG")
