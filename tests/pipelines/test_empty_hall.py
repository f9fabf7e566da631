"""The server's side of the empty hall: while nobody is there (or a reply is thought
up) our websocket sends only the images the face draws (pipelines/server/idle_images.py), and a client's
missing audio is not filled with silence while the filler is paused (a kiosk's
client holds its quiet mic back then, sdk/mic_gate.py)."""

from __future__ import annotations

from pipecat.frames.frames import InputAudioRawFrame, OutputAudioRawFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.tests.utils import SleepFrame, run_test

from pipelines.server.idle_images import MAX_GAP_FRAMES, IdleImageFilter
from pipelines.turns.input_silence import InputSilenceFiller
from pipelines.wire.frames import AvatarImageFrame


def image(jpeg: bytes, index: int) -> AvatarImageFrame:
    return AvatarImageFrame(image=bytes(12), size=(2, 2), format="RGB", jpeg=jpeg,
                            frame_index=index)


def silence() -> OutputAudioRawFrame:
    return OutputAudioRawFrame(audio=bytes(1764), sample_rate=22050, num_channels=1)


async def test_repeats_are_left_out_only_while_nobody_is_there() -> None:
    nobody = [True]
    drawn_a, drawn_b = b"\xff\xd8\xffA", b"\xff\xd8\xffB"
    # attract: one image drawn in five, the others repeat it, each before its audio
    frames = []
    for index in range(10):
        frames += [image(drawn_a if index < 5 else drawn_b, index), silence()]
    idle = IdleImageFilter(lambda: nobody[0])
    down, _ = await run_test(Pipeline([idle]), frames_to_send=frames, expected_down_frames=None)
    images = [f for f in down if isinstance(f, AvatarImageFrame)]
    assert [f.frame_index for f in images] == [0, 5], "only the drawn images"
    assert sum(isinstance(f, OutputAudioRawFrame) for f in down) == 10, "audio never touched"
    assert idle.dropped == 8

    nobody[0] = False  # a face seen: every frame goes out, repeats included
    frames = [image(drawn_b, 10 + index) for index in range(5)]
    down, _ = await run_test(Pipeline([idle]), frames_to_send=frames, expected_down_frames=None)
    assert [f.frame_index for f in down if isinstance(f, AvatarImageFrame)] == list(range(10, 15))


async def test_a_face_that_draws_nothing_new_still_sends_an_image_every_gap() -> None:
    # the reply thought up on a busy machine: one image drawn, then only repeats
    frames = [image(b"\xff\xd8\xffA", index) for index in range(3 * MAX_GAP_FRAMES + 1)]
    idle = IdleImageFilter(lambda: True)
    down, _ = await run_test(Pipeline([idle]), frames_to_send=frames, expected_down_frames=None)
    sent = [f.frame_index for f in down if isinstance(f, AvatarImageFrame)]
    assert sent == [0, MAX_GAP_FRAMES, 2 * MAX_GAP_FRAMES, 3 * MAX_GAP_FRAMES]
    assert idle.dropped == len(frames) - len(sent)


async def test_no_silence_is_filled_while_paused_and_it_is_again_after() -> None:
    filler = InputSilenceFiller(sample_rate=16000, gap_secs=0.3, chunk_secs=0.02)
    nobody = [True]
    filler.paused = lambda: nobody[0]
    down, _ = await run_test(filler, frames_to_send=[SleepFrame(sleep=1.5)])
    assert not any(isinstance(f, InputAudioRawFrame) for f in down), "nobody there: nothing"
    assert filler.frames_filled == 0
    nobody[0] = False  # someone came: a client's missing audio is silence again
    down, _ = await run_test(filler, frames_to_send=[SleepFrame(sleep=1.5)])
    assert sum(isinstance(f, InputAudioRawFrame) for f in down) >= 10
