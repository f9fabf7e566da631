"""Real headless Chromium for the browser tests: benchkit/kiosk/browser.py (shared with the
kiosk benches), and a loud skip where Chromium is missing."""

from __future__ import annotations

from benchkit.kiosk.browser import (
    BASE_ARGS,
    CHROMIUM_CANDIDATES,
    Browser,
    chromium_executable,
    launch_chromium,
    media_args,
)

__all__ = ["BASE_ARGS", "CHROMIUM_CANDIDATES", "Browser", "chromium_executable",
           "chromium_or_skip", "launch_chromium", "media_args"]


def chromium_or_skip(what: str) -> str:
    """Chromium's path, or a loud skip naming `what` was not tested (the Debian
    package is the one external tool a browser test may lack)."""
    path = chromium_executable()
    if path is None:
        import pytest

        pytest.skip(f"SKIPPED LOUDLY: Chromium is not installed, so {what} was NOT tested "
                    "in a browser. Run `make setup` as root (apt-get install chromium).")
    return path
