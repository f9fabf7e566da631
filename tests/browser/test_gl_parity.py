"""The browser draws the Python renderer's face: WebGL2 in real headless Chromium against
`PortraitRenderer`, on the same motion frames of real speech (benchkit/gl_parity.py).

Two portraits that exercise different paths: grace_hopper (the default: lips that round,
glasses) and eileen_collins (a smile with teeth at rest: the flat mouth, a tilted head).
The figure for all four bench portraits and 50 frames each is bench/face/gl_parity.py's
(there eileen_collins is the PNG inside scikit-image's wheel; here the JPEG the example ships).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avatar.motion import MOTION_DIM
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.browser_assets import (
    MOTION_FRAME_LEN,
    export_browser_assets,
    motion_vector,
    read_container,
)
from benchkit.gl_parity import PortraitParity, measure, serve, speech_motion
from benchkit.kiosk.browser import launch_chromium
from tests.browser.chromium import chromium_or_skip

#: PSNR over the face box, all frames pooled: the floor this test holds. The issue's goal
#: is 32 dB; bench/face/gl_parity.py measured 46.4 (grace_hopper) and 43.2 (eileen_collins)
#: on 50 frames (docs/GL_RENDERER.md), so 36 leaves room for another Chromium's software GL
#: while a lost lid, a misplaced mouth or a torn outline (each 3-6 dB) still fails
PSNR_FLOOR_DB = 36.0
#: no single frame below the goal (worst frames measured: 39.9 and 39.1 dB)
FRAME_FLOOR_DB = 32.0
#: share of face-box pixels off by 48 levels or more: a seam would show here
SEAM_CEILING = 0.002
FRAMES = 12
#: skimage's astronaut photo (eileen_collins), as the repository's example ships it
ASTRONAUT = Path(__file__).parents[2] / "examples" / "voice_assistant" / "portraits" / "astronaut.jpg"


@pytest.fixture(scope="module")
def renderers() -> dict[str, PortraitRenderer]:
    out = {}
    for name, source in (("grace_hopper", None), ("eileen_collins", ASTRONAUT)):
        portrait = Portrait.default(512) if source is None else Portrait.load(source, 512)
        renderer = PortraitRenderer(portrait, 512)
        assert renderer.wait_for_plate(60.0)
        out[name] = renderer
    return out


@pytest.fixture(scope="module")
def parity(renderers: dict[str, PortraitRenderer]) -> dict[str, PortraitParity]:
    chromium_or_skip("the WebGL2 face renderer's parity with the Python renderer")
    return {name: measure(name, r, speech_motion(r.reference, FRAMES))
            for name, r in renderers.items()}


@pytest.mark.parametrize("name", ["grace_hopper", "eileen_collins"])
def test_the_browser_draws_the_python_renderers_face(parity: dict[str, PortraitParity],
                                                     name: str) -> None:
    result = parity[name]
    pooled, frames = result.psnr()
    assert pooled >= PSNR_FLOOR_DB, f"{name}: {pooled:.2f} dB over the face box"
    assert min(frames) >= FRAME_FLOOR_DB, f"{name}: worst frame {min(frames):.2f} dB"
    assert result.seam_share() <= SEAM_CEILING
    # the speech moved the mouth in both renderers alike: the frames are not all the rest pose
    x0, y0, x1, y1 = result.mouth
    moved = [np.abs(b[y0:y1, x0:x1].astype(int) - result.browser[0][y0:y1, x0:x1]).mean()
             for b in result.browser]
    assert max(moved) > 2.0
    assert result.browser_hash == result.asset_hash  # the page loaded the very container


def test_the_asset_container_is_stable_and_readable(renderers: dict[str, PortraitRenderer]
                                                    ) -> None:
    renderer = renderers["grace_hopper"]
    first, again = export_browser_assets(renderer), export_browser_assets(renderer)
    assert first.hash == again.hash and len(first.hash) == 64
    manifest, blobs = read_container(first.data)
    assert manifest == first.manifest
    n = len(renderer.mesh.vertices)
    assert manifest["blobs"]["basis"]["shape"] == [len(manifest["actuators"]), n, 2]
    for name, entry in manifest["blobs"].items():
        assert entry["offset"] + entry["length"] <= len(blobs), name
    other = export_browser_assets(renderers["eileen_collins"])
    assert other.hash != first.hash
    with pytest.raises(ValueError, match="magic"):
        read_container(b"PNG...." + first.data)


def test_the_rest_pose_is_the_identity_frame(renderers: dict[str, PortraitRenderer]) -> None:
    renderer = renderers["eileen_collins"]
    vector = motion_vector(renderer, renderer.reference)
    assert vector.shape == (MOTION_FRAME_LEN,) and vector.dtype == np.float32
    np.testing.assert_allclose(vector[:9].reshape(3, 3), np.eye(3), atol=1e-6)
    assert vector[9] == pytest.approx(1.0)
    np.testing.assert_allclose(vector[10:16], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="58"):
        motion_vector(renderer, np.zeros(MOTION_DIM - 1, np.float32))
    with pytest.raises(ValueError, match="NaN"):
        motion_vector(renderer, np.full(MOTION_DIM, np.nan, np.float32))


BAD_INPUT = """async (url) => {
  const gl = await import("/static/gl/face-renderer.js");
  const said = {};
  try { await gl.loadFaceAssets(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13])); }
  catch (e) { said.garbage = `${e.name}: ${e.message}`; }
  const assets = await gl.loadFaceAssets(url);
  const r = gl.createFaceRenderer(document.body.appendChild(document.createElement("canvas")),
                                  assets);
  try { r.draw(new Float32Array(10)); } catch (e) { said.short = `${e.name}: ${e.message}`; }
  const nan = r.restFrame(); nan[20] = NaN;
  try { r.draw(nan); } catch (e) { said.nan = `${e.name}: ${e.message}`; }
  said.drew = r.draw(r.restFrame());
  let lost = null;
  r.onContextLost((why) => { lost = why; });
  r.dispose();
  said.lost = lost;
  return said;
}"""


def test_bad_input_gets_a_clear_error(renderers: dict[str, PortraitRenderer]) -> None:
    chromium_or_skip("the WebGL2 face renderer's errors")
    assets = export_browser_assets(renderers["grace_hopper"])

    async def run(base: str) -> dict[str, Any]:
        async with launch_chromium([]) as chromium:
            page = await chromium.new_page()
            await page.goto(base + "/")
            said = await page.evaluate(BAD_INPUT, base + "/parity/assets")
            assert page.errors == []
            return said

    with serve({"/parity/assets": assets.data}) as base:
        said = asyncio.run(run(base))
    assert said["garbage"].startswith("AssetError") and "AFGL" in said["garbage"]
    assert said["short"].startswith("TypeError") and "59" in said["short"]
    assert said["nan"].startswith("TypeError") and "not finite" in said["nan"]
    assert said["drew"] is True
