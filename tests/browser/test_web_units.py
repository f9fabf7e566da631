"""The browser SDK's pure parts under Node's test runner (tests/browser/js/).

The protocol header, the microphone resampler (rate, level, pitch, aliasing),
the playback worklet's clock, jitter buffer, flush and backlog skip, and how the
client follows `video-quality` events (parsing, its event and stats, the camera
sender's rate changed live, on mocked timers) run in Node with the globals an
AudioWorklet has; the whole page runs in real Chromium in
tests/pipelines/test_kiosk_browser.py, its layout under frame-size changes in
tests/browser/test_kiosk_layout.py.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS_TESTS = Path(__file__).with_name("js")


def test_browser_sdk_units_pass_under_node() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("SKIPPED LOUDLY: Node.js is not installed, so the browser SDK's unit tests did "
                    "NOT run. Run `make setup` as root (apt-get install nodejs).")
    done = subprocess.run([node, "--test", str(JS_TESTS)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "# fail 0" in done.stdout and "# pass " in done.stdout, done.stdout[-2000:]
