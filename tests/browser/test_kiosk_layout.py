"""The kiosk page's layout holds while the server changes the avatar's frame size.

With adaptive video quality the server may switch the frames it sends from 512 to
256 px and back mid-session, announcing each change with a `video-quality` event
(docs/PROTOCOL.md); frames already queued keep the old size. Here the real page
runs in real headless Chromium, served from its own files (nothing in it needs a
model until a visitor taps start), and is fed through the SDK's own inbound path
(`client.onMedia` with kind-2 messages, `client.onEvent`) JPEGs of a real face at
512, then 256, then 512 px, with the events in between. The test moves the audio
clock the frames are scheduled on, so every frame is due as soon as it is decoded.

After every frame drawn: the face, the state pill, the captions and the buttons
keep the same boxes; the canvas's backing store is the frame's own size, so the
256 px face fills the same box as the 512 px one (a screenshot of each matches);
the face's tooltip tells the quality.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import threading
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import pipelines
from avatar.portrait import default_portrait_path
from tests.browser.chromium import chromium_or_skip, launch_chromium

WEB_DIR = Path(pipelines.__file__).with_name("web")

#: A portrait and a landscape kiosk screen: the face's box is set by 512px, then by 56vh.
VIEWPORTS = ((1080, 1920), (1280, 800))

#: What the page shows around the face, whose boxes must not move.
LAYOUT = ("#avatar-frame", "#avatar", "#state", "#captions", "#controls", "#mute", "#toggle")

DOWN = {"type": "video-quality", "width": 256, "height": 256, "fps": 25, "drawn_fps": 12.5,
        "camera_fps": 2.5, "level": 3, "levels": 6, "direction": "down",
        "reason": "frames running late: the avatar's worker was busy 93 % of real time",
        "ts": 1763900000.1}
UP = {"type": "video-quality", "width": 512, "height": 512, "fps": 25, "drawn_fps": 25.0,
      "camera_fps": 10.0, "level": 0, "levels": 6, "direction": "up",
      "reason": "headroom: the avatar's worker was busy 41 % of real time", "ts": 1763900030.5}

# In the page: the clock the frame scheduler draws by becomes one the test moves
# (no audio plays here), and one frame goes in through the SDK's inbound path.
INSTALL_CLOCK = """() => {
  window.layoutClockUs = 0;  // integer microseconds: a frame's pts is exactly the clock
  window.kiosk.client.pixels().clock = () => window.layoutClockUs / 1e6;  // the JPEG player, made now
  document.getElementById("start-overlay").hidden = true;  // not tapped: no mic, no socket
  window.kiosk.client.caption("bot", "Hello! Ask me anything about the store.", true);
}"""

FEED_FRAME = """async ([b64, boxes]) => {
  const { Kind, encodeMedia } = await import("/static/protocol.js");
  const client = window.kiosk.client;
  const jpeg = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const drawn = client.frames.drawn;
  window.layoutClockUs += 40000;
  client.onMedia(encodeMedia(Kind.VIDEO, jpeg, window.layoutClockUs));
  for (let i = 0; i < 600 && client.frames.drawn === drawn; i++) {
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  const canvas = document.getElementById("avatar");
  const rect = (selector) => {
    const r = document.querySelector(selector).getBoundingClientRect();
    return [r.x, r.y, r.width, r.height];
  };
  return { drawn: client.frames.drawn - drawn, backing: [canvas.width, canvas.height],
           boxes: Object.fromEntries(boxes.map((selector) => [selector, rect(selector)])),
           title: canvas.title };
}"""


REPEAT_FRAME = """async (b64) => {
  const { Kind, encodeMedia } = await import("/static/protocol.js");
  const client = window.kiosk.client;
  const before = client.frames.repeats;
  window.layoutClockUs += 40000;
  client.onMedia(encodeMedia(Kind.VIDEO, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
                             window.layoutClockUs));
  return client.frames.repeats - before;
}"""


@pytest.fixture(scope="module")
def chromium() -> str:
    """Chromium's path; a loud skip when the Debian package is missing."""
    return chromium_or_skip("the kiosk layout")


class KioskFiles(http.server.SimpleHTTPRequestHandler):
    """The page as `avatar-forcing serve` lays it out: `/` and `/static/*` from pipelines/web."""

    def translate_path(self, path: str) -> str:
        path = urllib.parse.urlsplit(path).path
        if path == "/":
            return str(WEB_DIR / "index.html")
        if path.startswith("/static/"):
            target = (WEB_DIR / path.removeprefix("/static/")).resolve()
            if target.is_relative_to(WEB_DIR):
                return str(target)
        return str(WEB_DIR / "no-such-file")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads what the page did, not the request log."""


@contextlib.contextmanager
def serve_kiosk_files() -> Iterator[str]:
    """The kiosk's files over HTTP on a free local port (a secure context, like the server's)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), KioskFiles)
    thread = threading.Thread(target=server.serve_forever, name="kiosk-files", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def face_jpeg(size: int, quality: int = 80) -> str:
    """The default portrait (a real photo) as a square JPEG of `size` px, base64
    (another `quality` gives other bytes: the page skips a repeated image)."""
    image = Image.open(default_portrait_path()).convert("RGB")
    edge = min(image.size)
    left, top = (image.width - edge) // 2, (image.height - edge) // 2
    square = image.crop((left, top, left + edge, top + edge)).resize((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    square.save(out, format="JPEG", quality=quality)
    return base64.b64encode(out.getvalue()).decode("ascii")


def png_pixels(png: bytes) -> np.ndarray:
    """A screenshot as float RGB."""
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)


@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: f"{v[0]}x{v[1]}")
async def test_kiosk_layout_holds_when_frames_switch_between_512_and_256_px(
        chromium: str, viewport: tuple[int, int]) -> None:
    bigs = [face_jpeg(512, quality) for quality in (78, 80, 82, 84)]
    smalls = [face_jpeg(256, quality) for quality in (78, 80, 82, 84)]
    big, small = bigs[-1], smalls[-1]
    with serve_kiosk_files() as http_url:
        async with launch_chromium([], executable=chromium) as browser:
            page = await browser.new_page(viewport=viewport)
            # the pixels the server draws (the page draws the face itself by default:
            # test_kiosk_drawn_face.py); the JPEG path is the one whose sizes switch
            await page.goto(f"{http_url}/?render=pixels")
            await page.evaluate(INSTALL_CLOCK)
            layout = list(LAYOUT)

            async def feed(jpeg: str, size: int) -> dict[str, Any]:
                step = dict(await page.evaluate(FEED_FRAME, [jpeg, layout]))
                assert step["drawn"] == 1, f"a {size} px frame was not drawn: {step}"
                assert step["backing"] == [size, size], f"drawn at {step['backing']}, not its own size"
                return step

            steps = [await feed(jpeg, 512) for jpeg in bigs[:3]]
            shot_big = await page.locator("#avatar").screenshot()

            await page.evaluate("(event) => window.kiosk.client.onEvent(event)", DOWN)
            steps.append(await feed(big, 512))  # sent before the change: still 512 px
            steps += [await feed(jpeg, 256) for jpeg in smalls[:3]]
            shot_small = await page.locator("#avatar").screenshot()
            assert "256 px" in steps[-1]["title"] and DOWN["reason"] in steps[-1]["title"], steps[-1]

            await page.evaluate("(event) => window.kiosk.client.onEvent(event)", UP)
            steps.append(await feed(small, 256))
            steps += [await feed(jpeg, 512) for jpeg in bigs[:3]]
            assert "512 px" in steps[-1]["title"] and "lowered" not in steps[-1]["title"], steps[-1]

            # the same image sent again (the server repeats it when it draws less) is
            # neither decoded nor drawn: the face stays as it is
            repeats = await page.evaluate(REPEAT_FRAME, bigs[2])
            assert repeats == 1, f"a repeated image was counted {repeats} times"

            # nothing on the page moved or changed size, at any frame
            first = steps[0]["boxes"]
            for step in steps[1:]:
                assert step["boxes"] == first, f"layout moved: {first} -> {step['boxes']}"
            face = first["#avatar"]
            assert face[2] > 200 and abs(face[2] - face[3]) < 0.5, f"the face's box: {face}"

            # the 256 px face fills the same box as the 512 px one (scaled, not in a corner)
            a, b = png_pixels(shot_big), png_pixels(shot_small)
            assert a.shape == b.shape
            difference = float(np.abs(a - b).mean())
            assert difference < 12, f"256 px frame looks unlike the 512 px one: mean |diff| {difference:.1f}"
            assert float(a.std()) > 20, "the screenshot shows no face at all"
            assert not page.errors, page.errors
