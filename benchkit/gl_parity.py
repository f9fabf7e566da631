"""The browser's face against the Python renderer's, on the same motion frames.

Shared by tests/browser/test_gl_parity.py and bench/face/gl_parity.py. For a portrait:
the Python `PortraitRenderer` draws each motion frame (the reference), and real headless
Chromium draws the same frames with the WebGL2 renderer (pipelines/web/gl/, software GL
here) from the assets and motion vectors of avatar/render/browser_assets.py. The page is
served from this process on 127.0.0.1 (a secure context, like the real server's
/static/), and reads its own canvas back.

Motion: real speech (piper's voice saying `benchkit.spoken_reply.REPLY`) through the
shipped generator, started from each portrait's own reference, filtered as a live
session shows it; `frames` are spread evenly over the reply.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

import pipelines
from avatar.render.browser_assets import export_browser_assets, motion_vector
from avatar.render.mesh import FACE_OVAL, LIPS_LOWER_OUTER, LIPS_UPPER_OUTER
from avatar.render.renderer import PortraitRenderer
from benchkit.kiosk.browser import launch_chromium

WEB_DIR = Path(pipelines.__file__).with_name("web")
#: the face box (face oval's bounds) grows by this share of its size on each side
FACE_MARGIN = 0.05
#: the region brought back from the page: the face box grown by this share
CROP_MARGIN = 0.25
#: an error this many grey levels or more at a pixel counts toward the seam measure
SEAM_LEVEL = 48

PAGE = b"<!doctype html><meta charset=utf-8><title>gl parity</title><body></body>"

DRAW = """async ([assetUrl, framesUrl, crop]) => {
  const gl = await import("/static/gl/face-renderer.js");
  const assets = await gl.loadFaceAssets(assetUrl);
  const canvas = document.createElement("canvas");
  document.body.appendChild(canvas);
  const r = gl.createFaceRenderer(canvas, assets);
  const frames = new Float32Array(await (await fetch(framesUrl)).arrayBuffer());
  const n = frames.length / r.frameLength;
  const [x0, y0, x1, y1] = crop;
  const out = [];
  let drawMs = 0;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    r.draw(frames.subarray(i * r.frameLength, (i + 1) * r.frameLength));
    const px = r.readPixels();
    drawMs += performance.now() - t0;
    const rgb = new Uint8Array((x1 - x0) * (y1 - y0) * 3);
    let k = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const at = (y * r.size + x) * 4;
        rgb[k++] = px[at]; rgb[k++] = px[at + 1]; rgb[k++] = px[at + 2];
      }
    }
    let s = "";
    for (let j = 0; j < rgb.length; j += 0x8000) {
      s += String.fromCharCode.apply(null, rgb.subarray(j, j + 0x8000));
    }
    out.push(btoa(s));
  }
  const info = canvas.getContext("webgl2").getParameter(0x1F01);  // RENDERER
  r.dispose();
  return { frames: out, drawMs: drawMs / n, renderer: info, hash: assets.hash };
}"""


@dataclass
class PortraitParity:
    """One portrait's frames both ways, cropped to `crop` (x0, y0, x1, y1)."""

    name: str
    crop: tuple[int, int, int, int]
    face: tuple[int, int, int, int]  # the face box, in crop coordinates
    mouth: tuple[int, int, int, int]  # the mouth's box, in crop coordinates
    python: list[np.ndarray]
    browser: list[np.ndarray]
    asset_bytes: int
    asset_hash: str
    browser_hash: str | None
    draw_ms: float
    gl_renderer: str
    extra: dict[str, Any] = field(default_factory=dict)

    def psnr(self) -> tuple[float, list[float]]:
        """(PSNR over the face box of all frames pooled, per-frame PSNR), dB."""
        x0, y0, x1, y1 = self.face
        errors = [float(np.mean((a[y0:y1, x0:x1].astype(np.float64)
                                 - b[y0:y1, x0:x1].astype(np.float64)) ** 2))
                  for a, b in zip(self.python, self.browser, strict=True)]
        per_frame = [_db(e) for e in errors]
        return _db(float(np.mean(errors))), per_frame

    def seam_share(self) -> float:
        """Share of face-box pixels (all frames) off by SEAM_LEVEL grey levels or more:
        a seam or a torn edge shows here, a soft difference in shading does not."""
        x0, y0, x1, y1 = self.face
        bad = [np.abs(a[y0:y1, x0:x1].astype(np.int16) - b[y0:y1, x0:x1].astype(np.int16))
               .max(axis=2) >= SEAM_LEVEL for a, b in zip(self.python, self.browser, strict=True)]
        return float(np.mean(bad))


def _db(mse: float) -> float:
    return float("inf") if mse <= 0 else float(10.0 * np.log10(255.0 ** 2 / mse))


def _box(points: np.ndarray, margin: float, size: int) -> tuple[int, int, int, int]:
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = (hi - lo) * margin
    x0, y0 = np.floor(lo - pad).astype(int)
    x1, y1 = np.ceil(hi + pad).astype(int) + 1
    return max(int(x0), 0), max(int(y0), 0), min(int(x1), size), min(int(y1), size)


def speech_motion(reference: np.ndarray, frames: int, seed: int = 0) -> np.ndarray:
    """`frames` absolute motion frames spread over the generator speaking the reply."""
    import torch

    from avatar.corpus.speech import SpeechSynth, Voice
    from avatar.generator.streaming import StreamingGenerator
    from benchkit.face.mouth_realism import speaking_motion
    from benchkit.face.spoken_reply import REPLY

    torch.set_num_threads(1)
    engine = StreamingGenerator.from_checkpoint(reference, None, seed=seed)
    audio = _reply_audio(SpeechSynth, Voice, REPLY)
    motion = speaking_motion(engine, audio, seed=seed)
    picks = np.linspace(0, len(motion) - 1, frames).round().astype(int)
    return motion[picks].astype(np.float32)


_AUDIO: dict[str, np.ndarray] = {}


def _reply_audio(synth_cls: Any, voice_cls: Any, text: str) -> np.ndarray:
    """piper's reply audio, the same on every run: its sampled noise (voice and phoneme
    durations, drawn unseeded) is set to none, so the motion frames, and which mouth
    shapes the parity is measured on, do not change from run to run."""
    if text not in _AUDIO:
        voice = voice_cls(id="piper:joe", engine="piper", noise_scale=0.0, noise_w=0.0)
        _AUDIO[text] = synth_cls().say(text, voice).audio
    return _AUDIO[text]


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        body: bytes | None = None
        kind = "application/octet-stream"
        if path == "/":
            body, kind = PAGE, "text/html"
        elif path.startswith("/static/"):
            local = (WEB_DIR / path[len("/static/"):]).resolve()
            if local.is_file() and WEB_DIR.resolve() in local.parents:
                body = local.read_bytes()
                kind = "text/javascript" if local.suffix in (".js", ".mjs") else kind
        else:
            body = self.files.get(path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(files: dict[str, bytes]) -> Iterator[str]:
    """http://127.0.0.1:PORT serving `/` (a blank page), `/static/` (pipelines/web) and
    `files` ({path: bytes}); stopped on exit."""
    handler = type("Handler", (_Handler,), {"files": files})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def python_frames(renderer: PortraitRenderer, motion: np.ndarray) -> list[np.ndarray]:
    """The reference: the Python renderer's frames."""
    return [renderer.render(m) for m in motion]


async def browser_frames(base: str, crop: tuple[int, int, int, int]) -> dict[str, Any]:
    """The page's frames for the assets and motion served at /parity/."""
    async with launch_chromium([]) as chromium:
        page = await chromium.new_page()
        await page.goto(base + "/")
        got = await page.evaluate(DRAW, [base + "/parity/assets", base + "/parity/frames",
                                         list(crop)])
        if page.errors:
            raise RuntimeError(f"the parity page failed: {page.errors}")
        return got


def measure(name: str, renderer: PortraitRenderer, motion: np.ndarray) -> PortraitParity:
    """One portrait's frames both ways (the Python renderer's plate must be ready)."""
    size = renderer.size
    assets = export_browser_assets(renderer)
    vectors = np.stack([motion_vector(renderer, m) for m in motion]).astype("<f4")
    xy0 = renderer.mesh.vertices[:, :2]
    face_abs = _box(xy0[list(FACE_OVAL)], FACE_MARGIN, size)
    crop = _box(xy0[list(FACE_OVAL)], CROP_MARGIN, size)
    mouth_abs = _box(xy0[list(LIPS_UPPER_OUTER + LIPS_LOWER_OUTER)], 0.35, size)
    python = [f[crop[1]:crop[3], crop[0]:crop[2]] for f in python_frames(renderer, motion)]
    with serve({"/parity/assets": assets.data, "/parity/frames": vectors.tobytes()}) as base:
        got = asyncio.run(browser_frames(base, crop))
    h, w = crop[3] - crop[1], crop[2] - crop[0]
    browser = [np.frombuffer(base64.b64decode(s), np.uint8).reshape(h, w, 3)
               for s in got["frames"]]
    def local(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        return box[0] - crop[0], box[1] - crop[1], box[2] - crop[0], box[3] - crop[1]

    return PortraitParity(
        name=name, crop=crop, face=local(face_abs), mouth=local(mouth_abs), python=python,
        browser=browser, asset_bytes=len(assets.data), asset_hash=assets.hash,
        browser_hash=got["hash"], draw_ms=float(got["drawMs"]), gl_renderer=got["renderer"])


def contact_sheet(results: list[PortraitParity], path: Path, frames: int = 3) -> None:
    """Per portrait, `frames` frames (the widest mouths): Python | browser | difference x4
    at 1x over the face box, then the mouth at 3x both ways; written as a PNG."""
    rows = []
    for r in results:
        x0, y0, x1, y1 = r.face
        mx0, my0, mx1, my1 = r.mouth
        openness = [float(np.mean(np.abs(p[my0:my1, mx0:mx1].astype(np.int16) - r.python[0]
                                          [my0:my1, mx0:mx1].astype(np.int16)))) for p in r.python]
        picks = sorted(np.argsort(openness)[-frames:].tolist())
        for i in picks:
            a, b = r.python[i], r.browser[i]
            diff = np.clip(np.abs(a.astype(np.int16) - b.astype(np.int16)) * 4, 0, 255
                           ).astype(np.uint8)
            face = [img[y0:y1, x0:x1] for img in (a, b, diff)]
            mouth = [cv2.resize(img[my0:my1, mx0:mx1], None, fx=3, fy=3,
                                interpolation=cv2.INTER_NEAREST) for img in (a, b)]
            height = max(face[0].shape[0], mouth[0].shape[0])
            tiles = [np.pad(t, ((0, height - t.shape[0]), (0, 4), (0, 0)), constant_values=255)
                     for t in face + mouth]
            row = np.concatenate(tiles, axis=1)
            label = f"{r.name} frame {i}: python | browser | |diff| x4 | mouth 3x python | browser"
            row = np.concatenate([np.full((18, row.shape[1], 3), 255, np.uint8), row], axis=0)
            cv2.putText(row, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1,
                        cv2.LINE_AA)
            rows.append(row)
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 6), (0, width - r.shape[1]), (0, 0)),
                                   constant_values=255) for r in rows], axis=0)
    quality = [cv2.IMWRITE_JPEG_QUALITY, 94] if path.suffix.lower() in (".jpg", ".jpeg") else []
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), quality)


__all__ = ["PortraitParity", "browser_frames", "contact_sheet", "measure", "python_frames",
           "serve", "speech_motion"]
