"""The mouth's compiled pass paints what the numpy fields painted, within a level.

The pass (avatar/render/mouth_compose.py) computes every field in float64 with
numba's exp, so it is not bit-identical to the numpy path it replaced
(benchkit/face/numpy_mouth.py); real frames of the default portrait, at both sizes and
through a jaw opening, head turns and rounded lips, must agree to one 8-bit level,
and nearly everywhere exactly. Figures over a spoken reply on six portraits:
mouth_pass.py, retired (docs/history/retired_bench.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.mouth_fields import interp, tooth
from benchkit.face.numpy_mouth import paint_numpy
from tests.motion_edits import varied
from tests.mouth_calls import painted_calls


@pytest.fixture(scope="module", params=[512, 256])
def renderer(request: pytest.FixtureRequest, default_portrait: Portrait) -> PortraitRenderer:
    portrait = default_portrait if request.param == 512 else Portrait.default(256)
    return PortraitRenderer(portrait, request.param, layered=False)


def test_pass_matches_the_numpy_fields_within_a_level(renderer: PortraitRenderer) -> None:
    ref = renderer.reference
    motions = [varied(ref, jawOpen=jaw) for jaw in (0.05, 0.15, 0.3, 0.5, 0.8)]
    motions += [varied(ref, jawOpen=0.5, yaw=20.0), varied(ref, jawOpen=0.4, pitch=-12.0),
                varied(ref, jawOpen=0.4, roll=15.0),
                varied(ref, jawOpen=0.3, mouthFunnel=0.6, mouthPucker=0.4),
                varied(ref, jawOpen=0.3, mouthSmileLeft=0.7, mouthSmileRight=0.7,
                       mouthUpperUpLeft=0.5, mouthUpperUpRight=0.5)]
    painted, exact, total = 0, 0, 0
    for before, xy, anchors, rounding in painted_calls(renderer, motions):
        new, old = before.copy(), before.copy()
        renderer.mouth.paint(new, xy, anchors, rounding)
        paint_numpy(renderer.mouth, old, xy, anchors, rounding)
        changed = np.any(old != before, axis=2)
        painted += int(changed.sum())
        diff = np.abs(new.astype(np.int16) - old.astype(np.int16))
        assert diff.max() <= 1
        exact += int((diff[changed] == 0).sum())
        total += diff[changed].size
    assert painted > 2000  # the mouths were open
    assert exact / total > 0.99


@pytest.mark.parametrize("seed", range(3))
def test_interp_is_numpys(seed: int) -> None:
    rng = np.random.default_rng(seed)
    xp = np.maximum.accumulate(rng.uniform(-1, 1, 13))  # non-decreasing, as an arch folds
    xp[4] = xp[5]  # a repeated boundary
    fp = rng.uniform(-1, 1, 13)
    for x in np.concatenate([rng.uniform(-1.5, 1.5, 200), xp]):
        assert interp(float(x), xp, fp) == pytest.approx(float(np.interp(x, xp, fp)), abs=1e-12)


def test_teeth_fields_match_the_numpy_formulas() -> None:
    """The compiled tooth fields against benchkit's numpy ones on a grid over the arch."""
    from benchkit.face.numpy_mouth import teeth_fields

    edge = np.stack([np.linspace(-0.44, 0.44, 13), 0.08 - 0.12 * np.linspace(-0.44, 0.44, 13) ** 2],
                    axis=1)
    u, v = np.meshgrid(np.linspace(-0.5, 0.5, 61), np.linspace(-0.1, 0.4, 41))
    for upper in (True, False):
        for ppu in (60.0, 120.0):
            fields = teeth_fields(u, v, edge, ppu, upper)
            got = np.array([[tooth(float(a), float(b), edge[:, 0].copy(), edge[:, 1].copy(),
                                   ppu, upper) for a, b in zip(row_u, row_v, strict=True)]
                            for row_u, row_v in zip(u, v, strict=True)]).transpose(2, 0, 1)
            np.testing.assert_allclose(got[:len(fields)], fields, atol=1e-9)
