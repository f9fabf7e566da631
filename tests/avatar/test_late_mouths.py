"""The frames gliding from a reply's hand-over block may be shown from its mouths
(avatar/live/late_mouths.py, `AvatarSession.show_mouth`): never a drawing, the mouth
whose jaw is nearest the frame's own, only for that reply's glide at that size."""

from __future__ import annotations

from typing import Any

import numpy as np

from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
from avatar.live import AvatarSession, PlannedFrame, SessionOptions
from avatar.live.hand_over import Mouths
from avatar.live.late_mouths import LateMouths
from avatar.live.session import GLIDE_FRAMES
from avatar.motion import column_index
from avatar.portrait import Portrait
from tests.speech import load_test_voice, piper_int16

JAW = column_index("jawOpen")


def _mouths() -> Mouths:
    pose = np.zeros(58, np.float32)
    pose[JAW] = 0.05
    mouths = Mouths(pose, np.zeros((4, 4, 3), np.uint8), b"held")
    for jaw in (0.2, 0.35, 0.1):
        mouths.drawn.append((jaw, np.full((4, 4, 3), int(jaw * 100), np.uint8),
                             f"jaw {jaw}".encode()))
    return mouths


def _frame(index: int, jaw: float, generation: int = 3) -> PlannedFrame:
    motion = np.ones(58, np.float32)
    motion[JAW] = jaw
    return PlannedFrame(index=index, pts_us=index * 40_000, audio=bytes(1764), motion=motion,
                        speaking=True, reply_position=0, generation=generation)


def test_late_mouths_cover_the_glide_of_their_reply_at_their_size() -> None:
    late = LateMouths(_mouths(), generation=3, first_index=10, until_index=20, size=256)
    assert late.covers(_frame(10, 0.2), 256) and late.covers(_frame(19, 0.2), 256)
    assert not late.covers(_frame(9, 0.2), 256)  # the hand-over block's own
    assert not late.covers(_frame(20, 0.2), 256)  # the glide is over
    assert not late.covers(_frame(12, 0.2, generation=4), 256)  # after a barge-in
    assert not late.covers(_frame(12, 0.2), 384)  # the size changed


def test_a_late_frame_takes_the_mouth_nearest_its_jaw_on_the_held_pose() -> None:
    mouths = _mouths()
    late = LateMouths(mouths, generation=3, first_index=10, until_index=20, size=256)
    for jaw, jpeg in ((0.33, b"jaw 0.35"), (0.12, b"jaw 0.1"), (0.0, b"held"),
                      (0.9, b"jaw 0.35")):
        motion, _, shown = late.picture(_frame(12, jaw))
        assert shown == jpeg, (jaw, shown)
        others = np.arange(58) != JAW
        np.testing.assert_array_equal(motion[others], mouths.pose[others])


def test_the_frames_after_a_hand_over_block_show_its_mouths_without_a_drawing() -> None:
    voice = load_test_voice()
    rate = voice.config.sample_rate
    reply = piper_int16(voice, "Yes, the pharmacy is open on Sundays until six.")
    session = AvatarSession(Portrait.default(512), load_generator(DEFAULT_CHECKPOINT),
                            output_rate=rate, options=SessionOptions(size=256))
    n = session.block_frames
    for _ in range(2):
        session.push_user_audio(np.zeros(3200, np.int16), 16000)
        idle = session.next_block()
    held = session.render(idle[-1])  # the image the face holds while it thinks
    images = [held.image]  # and its mouths, drawn while the reply is thought up
    face, draw = session.face, session.face.draw

    def noted_draw(*args: Any) -> Any:
        drawn = draw(*args)
        images.append(drawn.image)
        return drawn

    face.draw = noted_draw  # type: ignore[method-assign]
    while session.hand_over_due():
        session.draw_hand_over()
    face.draw = draw  # type: ignore[method-assign]
    session.push_avatar_audio(reply, rate)
    session.push_user_audio(np.zeros(3200 * 4, np.int16), 16000)
    opened = session.open_block(lead_in=True)
    assert opened.hand_over is not None
    first = opened.first_index
    for frame in opened.hand_over:
        assert session.show_drawn(frame) is not None
    session.step_block(opened)
    after = session.next_block() + session.next_block() + session.next_block()
    assert [f.index for f in after] == list(range(first + n, first + 4 * n))
    renders = len(session.stats.render_ms)
    shown = [session.show_mouth(frame) for frame in after]
    glide = shown[:GLIDE_FRAMES]
    assert all(s is not None for s in glide), "a frame of the glide had no mouth"
    assert shown[GLIDE_FRAMES:] == [None] * (len(after) - GLIDE_FRAMES)
    assert len(session.stats.render_ms) == renders  # nothing drawn
    assert session.stats.late_mouths == GLIDE_FRAMES
    others = np.arange(58) != JAW
    for frame, mouth in zip(after, glide, strict=False):
        assert mouth is not None
        assert any(mouth.image is image for image in images)  # drawn while it thought
        np.testing.assert_array_equal(mouth.motion[others], held.motion[others])
        assert mouth.audio == frame.audio and mouth.speaking == frame.speaking
    # the size changes: the mouths of the old size are not shown
    session.set_size(384)
    assert session.show_mouth(after[0]) is None
