"""Who draws a session's face (pipelines/server/render_switch.py): the assets before the
frames that need them, a client that never loads them, a portrait switch, a client that
asks for pixels; and the face that draws nothing until then (client_drawn_face.py).

A real portrait, its real browser export and the bundled generator; the clock is the
one thing set by hand, so the timeout is checked without waiting it out."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from pipecat.tests.utils import run_test

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
from avatar.portrait import Portrait
from pipelines.server.browser_faces import BrowserFace, BrowserFaces
from pipelines.server.client_drawn_face import NO_IMAGE, ClientDrawnLocalFace
from pipelines.server.client_drawn_route import ClientDrawnRoute
from pipelines.server.render_switch import RenderSwitch
from pipelines.wire.frames import AvatarImageFrame, EncodedMotionFrame, EncodedVideoFrame
from sdk.protocol import FACE_MOTION_DIM, AssetsLoaded, SetRender


@pytest.fixture(scope="module")
def faces() -> BrowserFaces:
    return BrowserFaces()


@pytest.fixture(scope="module")
def portrait() -> Portrait:
    return Portrait.default(256)


@pytest.fixture(scope="module")
def first(faces: BrowserFaces, portrait: Portrait) -> BrowserFace:
    return faces.get(portrait, 256)


@pytest.fixture(scope="module")
def face() -> Any:
    return load_generator(DEFAULT_CHECKPOINT)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def switch_for(checkpoint: Any, faces: BrowserFaces, first: BrowserFace, shown: list[Portrait],
               clock: Clock) -> tuple[RenderSwitch, ClientDrawnLocalFace]:
    drawn = ClientDrawnLocalFace(checkpoint)
    switch = RenderSwitch(drawn, faces, first, portrait=lambda: shown[-1], session_id="s-test",
                          timeout_secs=10.0, clock=clock)
    return switch, drawn


def test_the_same_portrait_is_exported_once_and_served_by_its_hash(
        faces: BrowserFaces, portrait: Portrait, first: BrowserFace) -> None:
    assert faces.get(portrait, 256) is first
    assert faces.by_hash(first.hash) is first and faces.by_hash("0" * 64) is None
    assert len(first.hash) == 64 and first.data[:4] == b"AFGL"
    frame = first.motion_frame(portrait.reference_motion)
    assert frame.shape == (FACE_MOTION_DIM,) and frame.dtype == np.float32
    assert frame[:9] == pytest.approx(np.eye(3).ravel(), abs=1e-4)  # at rest: no turn


def test_assets_come_first_then_a_motion_frame_a_frame_and_no_pixels(
        face: Any, faces: BrowserFaces, portrait: Portrait, first: BrowserFace) -> None:
    clock = Clock()
    switch, drawn = switch_for(face, faces, first, [portrait], clock)
    assert switch.welcome() == {"mode": "client", "asset_format": 1, "motion_format": 1,
                                "assets_timeout_secs": 10.0}
    announced = switch.announce_first()
    assert announced["type"] == "assets" and announced["id"] == first.hash
    assert announced["url"] == f"/assets/{first.hash}" and announced["serial"] == 1
    events, motion = switch.on_frame(portrait.reference_motion)
    assert events == [] and motion is not None
    payload, serial = motion
    assert serial == 1 and len(payload) == 4 * FACE_MOTION_DIM
    # the face draws nothing while the client does: no warp, no JPEG
    drawn_image = drawn.draw(portrait.reference_motion, 256, 80)
    assert drawn_image.image is NO_IMAGE and drawn_image.jpeg is None
    assert switch.on_client(AssetsLoaded(id=first.hash)) is None
    clock.now += 60.0  # loaded: no timeout however long the session
    assert switch.on_frame(portrait.reference_motion)[1] is not None and switch.client_draws


def test_a_client_that_never_loads_its_assets_gets_pixels_and_is_told_why(
        face: Any, faces: BrowserFaces, portrait: Portrait, first: BrowserFace) -> None:
    clock = Clock()
    switch, drawn = switch_for(face, faces, first, [portrait], clock)
    switch.announce_first()
    clock.now += 9.0
    assert switch.on_frame(portrait.reference_motion)[1] is not None
    clock.now += 2.0
    events, motion = switch.on_frame(portrait.reference_motion)
    assert motion is None and not switch.client_draws and drawn.drawing
    assert [e["type"] for e in events] == ["error", "render"]
    assert events[0]["code"] == "assets_not_loaded" and events[0]["fatal"] is False
    assert events[1]["mode"] == "pixels" and "within 10 s" in events[1]["reason"]
    assert switch.on_frame(portrait.reference_motion) == ([], None)  # told once
    assert switch.to_pixels("again") == []


def test_unknown_assets_are_named_and_change_nothing(
        face: Any, faces: BrowserFaces, portrait: Portrait, first: BrowserFace) -> None:
    switch, _ = switch_for(face, faces, first, [portrait], Clock())
    switch.announce_first()
    answer = switch.on_client(AssetsLoaded(id="f" * 64))
    assert answer is not None and answer["code"] == "bad_render" and "never announced" in answer["message"]
    assert switch.client_draws


def test_asking_for_pixels_switches_at_once_and_is_told_once(
        face: Any, faces: BrowserFaces, portrait: Portrait, first: BrowserFace) -> None:
    switch, drawn = switch_for(face, faces, first, [portrait], Clock())
    switch.announce_first()
    answer = switch.on_client(SetRender(reason="the GL context was lost"))
    assert answer is not None and answer["type"] == "render" and answer["mode"] == "pixels"
    assert "GL context was lost" in answer["reason"] and drawn.drawing
    assert switch.on_client(SetRender(reason="twice")) is None
    assert switch.on_frame(portrait.reference_motion) == ([], None)


def test_a_portrait_switch_sends_its_assets_before_its_first_frame(
        face: Any, faces: BrowserFaces, portrait: Portrait, first: BrowserFace) -> None:
    shown = [portrait]
    switch, _ = switch_for(face, faces, first, shown, Clock())
    switch.announce_first()
    switch.on_client(AssetsLoaded(id=first.hash))
    # another portrait: the same face a little darker (other pixels, so other assets)
    other = replace(portrait, image=(portrait.image * 0.9).astype(np.uint8), name="grace_dim")
    shown.append(other)
    held = 0
    deadline = time.monotonic() + 120
    while True:  # its assets are built off the loop: frames are held meanwhile
        events, motion = switch.on_frame(other.reference_motion)
        if motion is not None:
            break
        assert events == [] and time.monotonic() < deadline
        held += 1
        time.sleep(0.05)
    assert held == switch.frames_held
    assert [e["type"] for e in events] == ["assets"]
    assert events[0]["portrait"] == "grace_dim" and events[0]["serial"] == 2
    assert events[0]["id"] != first.hash and faces.by_hash(events[0]["id"]) is not None
    assert motion[1] == 2  # the frame that needs them comes after them
    later_events, later = switch.on_frame(other.reference_motion)
    assert later_events == [] and later is not None and later[1] == 2  # announced once


async def test_the_route_sends_motion_while_the_client_draws_then_jpegs(
        face: Any, faces: BrowserFaces, portrait: Portrait, first: BrowserFace) -> None:
    switch, _ = switch_for(face, faces, first, [portrait], Clock())
    switch.announce_first()

    def image(jpeg: bytes, index: int) -> AvatarImageFrame:
        return AvatarImageFrame(image=b"", size=(0, 0), format="RGB", jpeg=jpeg, frame_index=index,
                                motion=portrait.reference_motion)

    down, _ = await run_test(ClientDrawnRoute(switch), expected_down_frames=None, frames_to_send=[
        image(b"", 0), image(b"", 1)])
    motions = [f for f in down if isinstance(f, EncodedMotionFrame)]
    assert [f.frame_index for f in motions] == [0, 1] and not any(
        isinstance(f, EncodedVideoFrame) for f in down)
    assert all(len(f.payload) == 4 * FACE_MOTION_DIM and f.serial == 1 for f in motions)
    switch.on_client(SetRender(reason="test"))
    route = ClientDrawnRoute(switch)
    down, _ = await run_test(route, expected_down_frames=None, frames_to_send=[
        image(b"", 2), image(b"\xff\xd8\xffjpeg", 3)])
    videos = [f for f in down if isinstance(f, EncodedVideoFrame)]
    assert [f.frame_index for f in videos] == [3] and route.imageless == 1
    assert not any(isinstance(f, EncodedMotionFrame) for f in down)
