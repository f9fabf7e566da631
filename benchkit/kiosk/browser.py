"""Real headless Chromium for the kiosk page: launch flags, fake mic and camera, page handles.

Used by the browser e2e tests (tests/browser/chromium.py re-exports it) and
bench/kiosk/kiosk.py, bench/kiosk/kiosk_turns.py: the benches measure the page the tests check. Chromium is the Debian
package (`scripts/setup.sh` installs it as root) driven by pip Playwright with
`executable_path`: `playwright install` would download a browser, which this
machine cannot. Fake media come from files: a WAV for the microphone and a Y4M
for the camera (benchkit/browser_media.py makes both from real speech and a real face).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Where the Debian package puts it; overridable for other systems.
CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "/usr/bin/chromium")

#: Headless as root, and nothing that reaches the internet (fake mic and camera come from files).
BASE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
)


def chromium_executable() -> str | None:
    """The Chromium binary, or None when the Debian package is not installed."""
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def media_args(*, mic_wav: Path | None, camera_y4m: Path | None, fake_ui: bool = True,
               mic_loop: bool = False) -> list[str]:
    """Flags for fake capture devices fed from files (a default tone/pattern when None).

    `fake_ui` auto-accepts permission prompts; without it, only what the
    browser context grants is allowed (so a test can refuse the camera).
    """
    args = ["--use-fake-device-for-media-stream"]
    if fake_ui:
        args.append("--use-fake-ui-for-media-stream")
    if mic_wav is not None:
        args.append(f"--use-file-for-fake-audio-capture={mic_wav.resolve()}"
                    + ("" if mic_loop else "%noloop"))
    if camera_y4m is not None:
        args.append(f"--use-file-for-fake-video-capture={camera_y4m.resolve()}")
    return args


@dataclass
class Browser:
    """A running Chromium and its Playwright handles."""

    playwright: Any
    browser: Any

    async def new_page(self, *, permissions: list[str] | None = None, origin: str | None = None,
                       viewport: tuple[int, int] = (1280, 800)) -> Any:
        """A page in a fresh context; `permissions` granted for `origin` when given."""
        context = await self.browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]})
        if permissions is not None and origin is not None:
            await context.grant_permissions(permissions, origin=origin)
        page = await context.new_page()
        page.errors = []  # uncaught page errors, for tests to assert none happened
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        return page


@contextlib.asynccontextmanager
async def launch_chromium(extra_args: list[str], *, executable: str | None = None
                          ) -> AsyncIterator[Browser]:
    """Start headless Chromium with `extra_args` (Playwright gives it a throwaway profile)."""
    from playwright.async_api import async_playwright

    executable = executable or chromium_executable()
    if executable is None:
        raise FileNotFoundError("Chromium is not installed (Debian package `chromium`)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=[*BASE_ARGS, *extra_args])
        try:
            yield Browser(playwright, browser)
        finally:
            await browser.close()
