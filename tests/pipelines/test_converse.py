"""`avatar-forcing converse`: a real recorded user clip through the live avatar session.

The user clip is real material made here, no mocks: the astronaut photo (the
voice-assistant example's portrait, a different face from the default avatar)
rendered with a scripted head motion whose mouth follows a question spoken by
the bundled piper voice, muxed into an mp4. The command runs with `--reply`
(no LLM) and its output is measured the way a viewer would judge it: length,
both voices on the sound track, a face in every avatar frame, and the mouth,
re-measured by the face landmarker, opening more while replying than while
listening.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from avatar.motion import column_index
from avatar.video_io import VideoWriter, probe_video, read_audio

REPO = Path(__file__).resolve().parents[2]
USER_FACE = REPO / "examples" / "voice_assistant" / "portraits" / "astronaut.jpg"
QUESTION = "Hello! What time do you open on Saturday?"
REPLY = "We open at nine in the morning on Saturdays, and close at six."
CLIP_SIZE = 256
LEAD_SECS, TRAIL_SECS = 0.4, 0.8
JAW = column_index("jawOpen")


@dataclass(frozen=True)
class UserRecording:
    """A user clip and what was put into it."""

    path: Path
    frames: int
    sample_rate: int
    speech: tuple[float, float]  # where the question is, seconds


def make_user_clip(path: Path, speech: np.ndarray, sample_rate: int, *,
                   face: bool = True) -> UserRecording:
    """Render the astronaut speaking `speech` (int16) with a swaying head; mux the audio.

    The jaw follows the speech's loudness per frame, as a real speaker's does;
    `face=False` writes grey frames instead (a camera pointed at a wall).
    """
    from avatar.portrait import Portrait
    from avatar.render import PortraitRenderer

    audio = np.concatenate([np.zeros(int(LEAD_SECS * sample_rate), np.int16), speech,
                            np.zeros(int(TRAIL_SECS * sample_rate), np.int16)])
    hop = sample_rate // 25
    frames = int(np.ceil(len(audio) / hop))
    padded = np.pad(audio.astype(np.float32) / 32768.0, (0, frames * hop - len(audio)))
    rms = np.sqrt(np.mean(padded.reshape(frames, hop) ** 2, axis=1))
    portrait = Portrait.load(USER_FACE, 256)
    renderer = PortraitRenderer(portrait, size=CLIP_SIZE)
    motion = np.repeat(portrait.reference_motion[None], frames, axis=0)
    t = np.arange(frames) / 25.0
    motion[:, column_index("yaw")] += 8.0 * np.sin(2 * np.pi * 0.4 * t)
    motion[:, column_index("pitch")] += 4.0 * np.sin(2 * np.pi * 0.7 * t + 1.0)
    motion[:, JAW] = np.clip(motion[:, JAW] + 3.0 * rms, 0.0, 0.6)
    with VideoWriter(path, 25, CLIP_SIZE, audio, sample_rate) as writer:
        for row in motion:
            writer.write(renderer.render(row) if face
                         else np.full((CLIP_SIZE, CLIP_SIZE, 3), 90, np.uint8))
    start = LEAD_SECS
    return UserRecording(path=path, frames=frames, sample_rate=sample_rate,
                         speech=(start, start + len(speech) / sample_rate))


@pytest.fixture(scope="module")
def question_speech(speech_models: Any) -> np.ndarray:
    """The question, spoken by the bundled piper voice (int16 at 22,050 Hz), the same
    samples on every run (without piper's sampled noise, tests/speech.py; the
    reply is the product's own piper speech and keeps its natural variety)."""
    from tests.speech import piper_int16

    return piper_int16(speech_models.piper, QUESTION)


@pytest.fixture(scope="module")
def user_clip(tmp_path_factory: pytest.TempPathFactory, question_speech: np.ndarray,
              speech_models: Any) -> UserRecording:
    path = tmp_path_factory.mktemp("converse") / "user.mp4"
    return make_user_clip(path, question_speech, speech_models.tts_sample_rate)


# --------------------------------------------------------------------------- fast checks


def test_speech_span_finds_the_utterance_inside_silence() -> None:
    from pipelines.offline.clip import speech_span

    rate = 16_000
    rng = np.random.default_rng(0)
    audio = np.zeros(3 * rate, np.float32)
    audio[int(0.5 * rate):int(1.7 * rate)] = 0.2 * rng.standard_normal(int(1.2 * rate))
    audio[int(0.9 * rate):int(1.1 * rate)] = 0.0  # a pause between words stays inside
    audio += 1e-4 * rng.standard_normal(len(audio)).astype(np.float32)  # room noise
    start, end = speech_span(audio, rate) or (-1.0, -1.0)
    assert start == pytest.approx(0.5, abs=0.04) and end == pytest.approx(1.7, abs=0.04)
    assert speech_span(np.zeros(rate, np.float32), rate) is None


def test_bad_clips_are_named(tmp_path: Path) -> None:
    from pipelines.cli import main
    from pipelines.offline.clip import load_user_clip

    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        load_user_clip(tmp_path / "missing.mp4")
    silent_film = tmp_path / "silent.mp4"
    with VideoWriter(silent_film, 25, 64) as writer:
        for _ in range(5):
            writer.write(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="no audio track"):
        load_user_clip(silent_film)
    assert main(["converse", "--user-video", str(silent_film), "--out",
                 str(tmp_path / "o.mp4"), "--reply", "hi", "--quiet"]) == 1


def test_a_dead_llm_endpoint_is_named(tmp_path: Path) -> None:
    from agent.errors import LLMEndpointError
    from agent.llm_server import free_port
    from pipelines.offline.reply import ask_llm
    from pipelines.settings import Settings

    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = Settings.load(llm={"base_url": url, "model": "nobody"})
    with pytest.raises(LLMEndpointError, match=url.replace(".", r"\.")):
        ask_llm(settings, "What time do you open?")


# --------------------------------------------------------------- end to end (~15 s, real models)


def test_converse_listens_then_answers_with_its_mouth(
        user_clip: UserRecording, tmp_path: Path, speech_models: Any,
        wer: Any) -> None:
    from avatar.face_analysis import FaceAnalyzer
    from avatar.video_io import iter_frames
    from pipelines.offline.converse import converse
    from pipelines.offline.exchange import ConverseOptions

    out = tmp_path / "reply.mp4"
    result = converse(user_clip.path, out, reply_text=REPLY, models=speech_models,
                      options=ConverseOptions(size=256, side_by_side=True, progress=False))

    # the turn: heard the question, answered after it, and the video lasts until the
    # reply has played plus the tail, in whole 200 ms blocks
    assert wer(QUESTION, result.reply.transcript) <= 0.25, result.reply.transcript
    assert result.speech is not None
    assert result.speech[0] == pytest.approx(user_clip.speech[0], abs=0.1)
    # piper ends its audio with a little silence: the speech ends inside it
    assert user_clip.speech[1] - 0.4 <= result.speech[1] <= user_clip.speech[1] + 0.05
    assert result.speech[1] + 0.5 <= result.reply_start_secs <= result.speech[1] + 0.7
    # in whole frames as the session counts them: piper's voice is randomised, and a
    # float formula (secs / 0.2) disagreed with the frame count at block boundaries
    reply_frames = -(-len(result.reply.pcm) // (result.sample_rate // 25))
    tail_frames = round(0.5 * 25)
    expected = -(-(round(result.reply_start_secs * 25) + reply_frames + tail_frames) // 5) * 5
    assert result.frames == expected
    assert result.clip_faces_found == result.clip_frames_analysed == user_clip.frames
    assert not result.warnings

    # the file: frame count, size, duration, and both voices where they happened
    info = probe_video(out)
    assert info.frame_count == result.frames and info.fps == 25
    assert (info.width, info.height) == (256 + 256, 256)
    sound = read_audio(out)
    assert sound is not None
    audio, rate = sound
    assert rate == speech_models.tts_sample_rate
    assert len(audio) / rate == pytest.approx(result.frames / 25, abs=0.05)

    def loudness(start: float, stop: float) -> float:
        chunk = audio[int(start * rate):int(stop * rate)]
        return float(np.sqrt(np.mean(chunk**2)))

    user_part = loudness(*user_clip.speech)
    reply_part = loudness(result.reply_start_secs, result.reply_start_secs + result.reply.secs)
    quiet_part = loudness(result.speech[1] + 0.1, result.reply_start_secs - 0.05)
    assert user_part > 0.02 and reply_part > 0.02
    assert quiet_part < 0.1 * min(user_part, reply_part)

    # the avatar's face, re-measured on the encoded frames (right half of each)
    listening = result.user_speaking & ~result.speaking
    jaw = np.full(result.frames, np.nan)
    with FaceAnalyzer(mode="video") as analyzer:
        for index, frame in enumerate(iter_frames(out)):
            found = analyzer.analyze(np.ascontiguousarray(frame[:, 256:]), index * 40)
            if found is not None:
                jaw[index] = found.motion[JAW]
    assert np.isfinite(jaw).mean() >= 0.98, "the avatar's face is lost in some frames"
    jaw_listen = np.nanmean(jaw[listening])
    jaw_speak = np.nanmean(jaw[result.speaking])
    assert jaw_speak > jaw_listen + 0.08, (jaw_listen, jaw_speak)
    # the session's own motion says the same
    assert result.jaw_open(result.speaking) > result.jaw_open(listening) + 0.08

    assert result.sheet.is_file() and result.sheet.suffix == ".png"


def test_a_clip_without_a_face_is_a_warning_and_the_avatar_still_answers(
        tmp_path: Path, question_speech: np.ndarray, speech_models: Any) -> None:
    from pipelines.offline.converse import converse
    from pipelines.offline.exchange import ConverseOptions

    clip = make_user_clip(tmp_path / "wall.mp4", question_speech,
                          speech_models.tts_sample_rate, face=False)
    result = converse(clip.path, tmp_path / "out.mp4", reply_text="Sorry, I cannot see you.",
                      models=speech_models, options=ConverseOptions(size=256, progress=False))
    assert result.clip_faces_found == 0 and not result.user_face.any()
    assert any("no face" in w for w in result.warnings)
    assert result.speaking.sum() >= int(result.reply.secs * 25) - 1
    assert probe_video(result.video).frame_count == result.frames
