"""How a command run as its own process ends: Python's exit steps, minus finalization.

Python ends a process by joining its non-daemon threads, running its `atexit`
functions, flushing its streams, and then finalizing the interpreter, which stops
daemon threads where they stand. A daemon thread still inside torch or onnxruntime
at that moment (a portrait's browser assets being built, a face worker being
launched, a model's warm-up) is unwound through C++ frames that forbid it, and the
process aborts ("terminate called without an active exception", exit -6) after a
shutdown that was otherwise clean: a supervisor then reports a crash. `end_process`
takes the same steps in the same order and ends the process with its own exit code
instead of finalizing (`os._exit`): nothing a command owns is left open by then.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from typing import NoReturn


def exit_code(status: object) -> int:
    """The process exit code for a `SystemExit` argument or a handler's return value
    (None: 0; a message: printed to stderr, 1), as `sys.exit` would make it."""
    if status is None:
        return 0
    if isinstance(status, int):
        return status
    print(status, file=sys.stderr)
    return 1


def end_process(code: int) -> NoReturn:
    """Join the non-daemon threads, run the `atexit` functions (the embedded LLM's stop,
    multiprocessing's children), flush logging and the standard streams, then end with
    `code` without finalizing the interpreter (see the module docstring)."""
    current = threading.current_thread()
    for thread in threading.enumerate():
        if thread is not current and not thread.daemon and thread.is_alive():
            thread.join()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or its reader gone: nothing to keep
            pass
    os._exit(code)


__all__ = ["end_process", "exit_code"]
