"""One recorded exchange through the live avatar, offline: a user clip in, user | avatar out.

`avatar-forcing converse` plays a face video with the user's voice (a "webcam
recording") to the SAME `avatar.live.AvatarSession` the server drives on a wall
clock, only as fast as the CPU allows:

1. the user's side, block by block (5 frames = 200 ms per `next_block`): each
   40 ms of the clip's audio goes to `push_user_audio` (the session resamples)
   and each frame's face, measured by `CameraMotion.analyze_rgb` as the server
   measures a camera frame, to `push_user_motion` (None when no face);
2. the turn: the end of the user's speech is found from the audio's energy;
   whisper transcribes the utterance, the LLM answers through the `openai`
   client with the same spoken-style persona as the voice pipeline (or
   `--reply TEXT` skips the LLM), and piper speaks the answer;
3. the reply is pushed with `push_avatar_audio` + `end_of_reply` at the block
   where a live pipeline would start playing it, `turn_gap_secs` after the end
   of speech (VAD stop + turn decision; the LLM and TTS cost no time offline),
   and blocks go on, with the user's side silent and holding the clip's last
   frame, until the reply has played plus `tail_secs`.

Why the reply is computed before the blocks are generated: the offline clock
has no wall time, so when the answer is computed does not change the video;
doing it first fails fast (a dead LLM endpoint is reported before minutes of
rendering) and gives the progress bar its exact length.

Why two passes (generate every block, then render): `VideoWriter` muxes audio
that is known up front, and the avatar's audio is known only once every block
has been generated. Planned frames (motion + 40 ms of audio) are tiny, so the
first pass keeps them all; the second renders each with `session.render` and
encodes it, so memory stays flat for clips of any length.

Output: the mp4 (the avatar, or with `side_by_side` the user's clip frame
resized to the avatar's height | the avatar) with both voices mixed, and a PNG
contact sheet beside it: frames while the avatar listens and while it speaks.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import cv2
import numpy as np
import soxr
from loguru import logger
from tqdm import tqdm

from avatar.audio_features import to_16k
from avatar.live import AvatarSession, CameraMotion, PlannedFrame, SessionOptions
from avatar.live.camera import ANALYSIS_WIDTH
from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.video_io import VideoInfo, VideoWriter, iter_frames, probe_video, read_audio

if TYPE_CHECKING:
    from pipelines.settings import Settings
    from pipelines.speech.models import SpeechModels

FPS = 25
FRAME_SECS = 1.0 / FPS
JAW = column_index("jawOpen")


@dataclass(frozen=True)
class ConverseOptions:
    """How the exchange is run and drawn (defaults: a natural turn, a 512 px avatar)."""

    size: int = 512  # avatar video edge, 256..512 (the session's size)
    side_by_side: bool = False  # user clip | avatar instead of the avatar alone
    #: end of the user's speech -> first reply audio (a live pipeline's VAD stop
    #: + turn decision; offline the LLM and TTS take no time on the video's clock)
    turn_gap_secs: float = 0.5
    tail_secs: float = 0.5  # after the reply has played
    seed: int = 0
    sheet_columns: int = 4  # frames per contact-sheet row (one row listening, one speaking)
    sheet_height: int = 144  # thumbnail height in the contact sheet (px)
    progress: bool = True  # tqdm bars and stage lines

    def __post_init__(self) -> None:
        if not 256 <= self.size <= 512 or self.size % 2:
            raise ValueError(f"size must be an even number in 256..512, got {self.size}")
        if self.turn_gap_secs < 0 or self.tail_secs < 0:
            raise ValueError("turn_gap_secs and tail_secs must be >= 0")
        if self.sheet_columns < 1 or self.sheet_height < 32:
            raise ValueError("sheet_columns must be >= 1 and sheet_height >= 32")


# ------------------------------------------------------------------------- the clip


@dataclass(frozen=True)
class UserClip:
    """The user's recording: its header and its whole audio track (mono float32)."""

    path: Path
    info: VideoInfo
    audio: np.ndarray
    sample_rate: int

    @property
    def duration_secs(self) -> float:
        """Video or audio, whichever lasts longer."""
        info = self.info
        video = info.frame_count / info.fps if info.frame_count else info.duration_s
        return max(video, len(self.audio) / self.sample_rate)

    def audio_frame(self, index: int) -> np.ndarray:
        """The clip's audio under output frame `index` (40 ms; silence past the end)."""
        start = round(index * self.sample_rate / FPS)
        stop = round((index + 1) * self.sample_rate / FPS)
        chunk = self.audio[start:stop]
        if len(chunk) < stop - start:
            chunk = np.concatenate([chunk, np.zeros(stop - start - len(chunk), np.float32)])
        return chunk


def load_user_clip(path: str | Path) -> UserClip:
    """Check and read a user clip: it must exist, have a video stream and an audio track.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a video (`NotAVideoError`), or no audio track / empty audio.
    """
    path = Path(path)
    info = probe_video(path)  # FileNotFoundError / NotAVideoError
    if not info.has_audio:
        raise ValueError(f"{path} has no audio track: converse needs the user's voice in "
                         "the clip (a face video recorded with its sound)")
    sound = read_audio(path)
    if sound is None or len(sound[0]) == 0:
        raise ValueError(f"the audio track of {path} holds no samples")
    audio, rate = sound
    return UserClip(path=path, info=info, audio=audio, sample_rate=rate)


def speech_span(audio: np.ndarray, sample_rate: int, *, floor_db: float = -50.0,
                range_db: float = 30.0) -> tuple[float, float] | None:
    """(start, end) seconds of the speech in `audio`, or None when it is all quiet.

    A 40 ms frame is speech when its RMS is within `range_db` of the loudest
    frame and above `floor_db` dBFS. Pauses between words fall inside the span:
    only the first and last speech frames count (one utterance per clip).
    """
    hop = max(1, sample_rate // FPS)
    frames = len(audio) // hop
    if frames == 0:
        return None
    blocks = np.asarray(audio[: frames * hop], np.float64).reshape(frames, hop)
    db = 10.0 * np.log10(np.mean(blocks**2, axis=1) + 1e-12)
    loudest = float(db.max())
    if loudest < floor_db:
        return None
    voiced = np.flatnonzero(db > max(floor_db, loudest - range_db))
    return float(voiced[0] * hop / sample_rate), float((voiced[-1] + 1) * hop / sample_rate)


def clip_frames(path: Path, fps: float,
                count: int) -> Generator[tuple[int, np.ndarray], None, None]:
    """(clip frame index, RGB) for each of `count` output frames at 25 fps.

    Output frame k shows the latest clip frame at or before k * 40 ms, so clips
    at any frame rate map onto the session's clock; past the clip's end its
    last frame stays (the camera still sees the user).
    """
    decoded = cast(Generator[np.ndarray, None, None], iter_frames(path))  # closable
    try:
        frame = next(decoded, None)
        if frame is None:
            raise ValueError(f"{path} has a video stream but no decodable frames")
        index, exhausted = 0, False
        for k in range(count):
            wanted = int(k * fps / FPS + 1e-6)
            while index < wanted and not exhausted:
                following = next(decoded, None)
                if following is None:
                    exhausted = True
                else:
                    frame, index = following, index + 1
            yield index, frame
    finally:
        decoded.close()


def _for_analysis(rgb: np.ndarray) -> np.ndarray:
    """Shrink as the server does for camera frames (camera.ANALYSIS_WIDTH)."""
    if rgb.shape[1] <= ANALYSIS_WIDTH:
        return rgb
    height = max(1, round(rgb.shape[0] * ANALYSIS_WIDTH / rgb.shape[1]))
    return cv2.resize(rgb, (ANALYSIS_WIDTH, height), interpolation=cv2.INTER_AREA)


# ------------------------------------------------------------------------- the turn


@dataclass(frozen=True)
class Reply:
    """What the avatar answers: the words it heard and said, and the speech."""

    transcript: str
    text: str
    pcm: np.ndarray  # int16 mono at sample_rate
    sample_rate: int
    source: str  # "--reply" or the LLM that wrote it

    @property
    def secs(self) -> float:
        """Length of the spoken reply."""
        return len(self.pcm) / self.sample_rate


def transcribe(models: SpeechModels, audio_16k: np.ndarray, language: str = "en") -> str:
    """The bundled whisper's greedy transcript of one utterance (as the pipeline decodes)."""
    segments, _info = models.whisper.transcribe(
        audio_16k.astype(np.float32), language=language, beam_size=models.asr.beam_size,
        temperature=0.0, condition_on_previous_text=False, without_timestamps=True,
        vad_filter=False)
    kept = [s.text for s in segments
            if s.compression_ratio <= models.asr.max_compression_ratio]
    return " ".join(text.strip() for text in kept).strip()


def synthesize(models: SpeechModels, text: str) -> np.ndarray:
    """Piper speech for `text`: int16 mono at `models.tts_sample_rate`."""
    chunks = [chunk.audio_int16_array.reshape(-1) for chunk in models.piper.synthesize(text)]
    if not chunks:
        raise ValueError(f"piper produced no audio for {text!r}")
    return np.concatenate(chunks).astype(np.int16)


def ask_llm(settings: Settings, transcript: str) -> tuple[str, str]:
    """The LLM's spoken-style answer to `transcript`; returns (text, which LLM answered).

    The endpoint is the settings' one, or the embedded llama.cpp server started
    for this call and stopped after it. The system prompt is the voice
    pipeline's (persona + knowledge + spoken-style rules).

    Raises:
        LLMServerError: the embedded server did not start (its log tail is in the message).
        LLMEndpointError: the endpoint is down, refused us, or answered nothing; the
            message names its URL.
    """
    from agent.errors import LLMEndpointError
    from agent.llm_client import build_messages, check_llm_endpoint, complete_reply, make_client
    from agent.llm_server import resolve_llm_endpoint
    from agent.persona import build_system_prompt
    from pipelines.voice_pipeline import spoken_system_prompt

    system_prompt = spoken_system_prompt(build_system_prompt(settings.persona))
    endpoint = resolve_llm_endpoint(settings.llm, video=settings.avatar.video)
    where = (f"the embedded LLM ({endpoint.model}) at {endpoint.base_url}"
             if endpoint.server is not None else
             f"LLM endpoint {endpoint.base_url} (model {endpoint.model or '?'})")

    async def answer() -> str:
        await check_llm_endpoint(endpoint.base_url, endpoint.api_key)
        client = make_client(endpoint.base_url, endpoint.api_key,
                             timeout_s=settings.llm.request_timeout_s)
        try:
            return await complete_reply(
                client, model=endpoint.model, messages=build_messages(system_prompt, transcript),
                max_tokens=settings.llm.max_tokens, temperature=settings.llm.temperature)
        except LLMEndpointError as error:
            raise LLMEndpointError(f"{where}: {error}") from error
        finally:
            await client.close()

    try:
        text = asyncio.run(answer())
    finally:
        if endpoint.server is not None:
            endpoint.server.stop()
    if not text:
        raise LLMEndpointError(f"{where} returned an empty reply to {transcript!r}")
    return text, where


# ------------------------------------------------------------------------- the result


@dataclass
class ConverseResult:
    """What `converse` wrote and measured (per output frame arrays have `frames` rows)."""

    video: Path
    sheet: Path
    frames: int
    sample_rate: int  # of the mixed audio track
    reply: Reply
    speech: tuple[float, float] | None  # the user's utterance in the clip (s)
    reply_start_secs: float
    motion: np.ndarray  # (frames, 58) the avatar's generated motion
    speaking: np.ndarray  # (frames,) the avatar's audio holds reply speech
    user_speaking: np.ndarray  # (frames,) inside the user's utterance
    user_face: np.ndarray  # (frames,) a user face was measured for this frame
    clip_frames_analysed: int = 0
    clip_faces_found: int = 0
    warnings: list[str] = field(default_factory=list)
    timings_secs: dict[str, float] = field(default_factory=dict)

    @property
    def duration_secs(self) -> float:
        """Length of the output video."""
        return self.frames * FRAME_SECS

    def jaw_open(self, mask: np.ndarray) -> float:
        """Mean generated jawOpen over the frames in `mask` (nan when none)."""
        return float(self.motion[mask, JAW].mean()) if mask.any() else float("nan")

    def summary(self) -> str:
        """A few lines for the command line."""
        listening = self.user_speaking & ~self.speaking
        speech = (f"{self.speech[0]:.2f}-{self.speech[1]:.2f} s" if self.speech
                  else "none detected")
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in self.timings_secs.items())
        lines = [
            f"{self.video}: {self.frames} frames ({self.duration_secs:.2f} s at {FPS} fps), "
            f"audio {self.sample_rate} Hz; contact sheet {self.sheet}",
            f"user: speech {speech}, face in {self.clip_faces_found}/"
            f"{self.clip_frames_analysed} clip frames; heard: {self.reply.transcript!r}",
            f"avatar ({self.reply.source}): {self.reply.text!r} ({self.reply.secs:.2f} s, "
            f"from {self.reply_start_secs:.2f} s)",
            f"jawOpen mean: listening {self.jaw_open(listening):.3f}, "
            f"speaking {self.jaw_open(self.speaking):.3f}",
            f"time: {timings}",
        ]
        return "\n".join(lines + [f"warning: {w}" for w in self.warnings])


# ------------------------------------------------------------------------- the run


def converse(
    user_video: str | Path, out: str | Path, *, settings: Settings | None = None,
    portrait: Portrait | str | Path | None = None, reply_text: str | None = None,
    checkpoint: str | Path | None = None, models: SpeechModels | None = None,
    options: ConverseOptions | None = None,
) -> ConverseResult:
    """Run `user_video` through a live avatar session offline; write `out` and a sheet.

    `portrait`: a loaded Portrait, an image path, or None for the settings'
    default portrait (`avatar.portrait_dir` / `avatar.default_portrait`). `reply_text` skips
    the LLM. `models` reuses already loaded speech models.

    Raises:
        FileNotFoundError, ValueError: the clip, portrait or output is unusable.
        agent.errors.AgentError: the LLM could not answer (named in the message).
    """
    from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, load_generator
    from avatar.live import PortraitLibrary

    options = options or ConverseOptions()
    out = Path(out)
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"--out must be an .mp4 file, got {out}")
    if reply_text is not None and not reply_text.strip():
        raise ValueError("the reply text is empty")
    report = tqdm.write if options.progress else _quiet
    timings: dict[str, float] = {}
    started = time.perf_counter()

    clip = load_user_clip(user_video)
    speech = speech_span(clip.audio, clip.sample_rate)
    if speech is None and reply_text is None:
        raise ValueError(f"no speech in the audio of {clip.path}: nothing to answer "
                         "(give --reply TEXT to make the avatar speak anyway)")
    if settings is None:
        from pipelines.settings import Settings

        settings = Settings.load()
    if isinstance(portrait, Portrait):
        face = portrait
    elif portrait is not None:
        face = Portrait.load(portrait)
    else:
        face = PortraitLibrary(settings.avatar.portrait_dir, settings.avatar.default_portrait).get()
    generator = load_generator(checkpoint or DEFAULT_CHECKPOINT)
    generator.model.eval()
    if models is None:
        from pipelines.speech.models import ASRParams, SpeechModels

        models = SpeechModels.bundled(asr_model_path=settings.asr.model_path,
                                      tts_voice_path=settings.tts.voice_path,
                                      asr=ASRParams.from_section(settings.asr))
    timings["load"] = time.perf_counter() - started

    # the turn: what the user said, the answer, its speech
    started = time.perf_counter()
    heard_until = speech[1] + 0.3 if speech else clip.duration_secs
    utterance = clip.audio[: int(heard_until * clip.sample_rate)]
    transcript = transcribe(models, to_16k(utterance, clip.sample_rate), settings.asr.language)
    report(f"heard: {transcript!r}")
    timings["asr"] = time.perf_counter() - started
    if reply_text is None:
        if not transcript:
            raise ValueError(f"whisper heard no words in the speech of {clip.path}")
        started = time.perf_counter()
        report("asking the LLM ...")
        text, source = ask_llm(settings, transcript)
        timings["llm"] = time.perf_counter() - started
    else:
        text, source = reply_text.strip(), "--reply"
    report(f"reply: {text!r}")
    started = time.perf_counter()
    reply = Reply(transcript=transcript, text=text, pcm=synthesize(models, text),
                  sample_rate=models.tts_sample_rate, source=source)
    timings["tts"] = time.perf_counter() - started

    session = AvatarSession(face, generator, output_rate=reply.sample_rate,
                            options=SessionOptions(size=options.size, jpeg_quality=0,
                                                   seed=options.seed))
    block = session.block_frames
    answer_at = (speech[1] if speech else clip.duration_secs) + options.turn_gap_secs
    reply_frame = math.ceil(answer_at / FRAME_SECS / block - 1e-9) * block
    reply_frames = math.ceil(len(reply.pcm) / session.samples_per_frame)
    clip_out_frames = math.ceil(clip.duration_secs / FRAME_SECS - 1e-9)
    needed = max(clip_out_frames, reply_frame + reply_frames + round(options.tail_secs * FPS))
    total = math.ceil(needed / block) * block

    started = time.perf_counter()
    planned, user_face, camera = _generate(session, clip, reply, reply_frame, total, options)
    timings["generate"] = time.perf_counter() - started
    warnings = []
    if camera.faces == 0:
        warnings.append(f"no face found in any of the {camera.analysed} frames of {clip.path}: "
                        "the avatar listened to the voice only")
        logger.warning(warnings[-1])

    frame_times = np.arange(total) * FRAME_SECS
    user_speaking = (np.zeros(total, bool) if speech is None else
                     (frame_times >= speech[0]) & (frame_times < speech[1]))
    speaking = np.array([p.speaking for p in planned], bool)
    mix = _mix(clip, planned, session.output_rate)
    started = time.perf_counter()
    sheet = _render(session, clip, planned, mix, out, options, speaking, user_speaking, reply)
    timings["render"] = time.perf_counter() - started
    return ConverseResult(
        video=out, sheet=sheet, frames=total, sample_rate=session.output_rate, reply=reply,
        speech=speech, reply_start_secs=reply_frame * FRAME_SECS,
        motion=np.stack([p.motion for p in planned]).astype(np.float32), speaking=speaking,
        user_speaking=user_speaking, user_face=user_face,
        clip_frames_analysed=camera.analysed, clip_faces_found=camera.faces,
        warnings=warnings, timings_secs=timings)


def _generate(session: AvatarSession, clip: UserClip, reply: Reply, reply_frame: int,
              total: int, options: ConverseOptions,
              ) -> tuple[list[PlannedFrame], np.ndarray, CameraMotion]:
    """Pass 1: every block, fed as the live node feeds it (see the module docstring)."""
    camera = CameraMotion(skip_still=False)  # offline: every frame measured
    planned: list[PlannedFrame] = []
    user_face = np.zeros(total, bool)
    frames = clip_frames(clip.path, clip.info.fps, total)
    motion: np.ndarray | None = None
    analysed_index = -1
    block = session.block_frames
    try:
        with tqdm(total=total, desc="listen + reply", unit="frame",
                  disable=not options.progress) as bar:
            for start in range(0, total, block):
                if start == reply_frame:
                    session.push_avatar_audio(reply.pcm, reply.sample_rate)
                    session.end_of_reply()
                for k in range(start, start + block):
                    index, rgb = next(frames)
                    if index != analysed_index:  # a new clip frame: measure it
                        motion = camera.analyze_rgb(_for_analysis(rgb), k * 40)
                        analysed_index = index
                    user_face[k] = motion is not None
                    session.push_user_motion(motion)
                    session.push_user_audio(clip.audio_frame(k), clip.sample_rate)
                planned.extend(session.next_block())
                bar.update(block)
    finally:
        frames.close()
        camera.close()
    return planned, user_face, camera


def _mix(clip: UserClip, planned: list[PlannedFrame], rate: int) -> np.ndarray:
    """Both voices on one track at the session's output rate: the user's where it
    happened in the clip, the avatar's exactly as its frames carried it."""
    avatar = np.frombuffer(b"".join(p.audio for p in planned), np.int16).astype(np.float32)
    avatar /= 32768.0
    user = clip.audio
    if clip.sample_rate != rate:
        user = np.asarray(soxr.resample(user, clip.sample_rate, rate), np.float32)
    mix = avatar.copy()
    length = min(len(user), len(mix))
    mix[:length] += user[:length]
    peak = float(np.abs(mix).max()) if len(mix) else 0.0
    return mix / (peak / 0.95) if peak > 0.95 else mix


def _render(session: AvatarSession, clip: UserClip, planned: list[PlannedFrame],
            mix: np.ndarray, out: Path, options: ConverseOptions, speaking: np.ndarray,
            user_speaking: np.ndarray, reply: Reply) -> Path:
    """Pass 2: render each planned frame, compose, encode; collect the sheet's frames."""
    size = options.size
    total = len(planned)
    user_width = 0
    if options.side_by_side:
        width, height = clip.info.width, clip.info.height
        user_width = max(2, 2 * round(width * size / height / 2))
    picks = {
        "listening": _spread(np.flatnonzero(user_speaking & ~speaking), options.sheet_columns),
        "speaking": _spread(np.flatnonzero(speaking), options.sheet_columns),
    }
    wanted = {int(k): label for label, ks in picks.items() for k in ks}
    shots: dict[str, list[np.ndarray]] = {"listening": [], "speaking": []}
    frames = clip_frames(clip.path, clip.info.fps, total) if options.side_by_side else None
    try:
        with VideoWriter(out, FPS, (user_width + size, size), audio=mix,
                         sample_rate=session.output_rate) as writer, \
                tqdm(total=total, desc=f"render {out.name}", unit="frame",
                     disable=not options.progress) as bar:
            for item in planned:
                image = session.render(item).image
                if frames is not None:
                    _index, user = next(frames)
                    user = cv2.resize(user, (user_width, size), interpolation=cv2.INTER_AREA)
                    image = np.concatenate([user, image], axis=1)
                writer.write(image)
                label = wanted.get(item.index)
                if label is not None:
                    shots[label].append(_thumbnail(image, f"{label} {item.pts_us / 1e6:.2f} s",
                                                   item.speaking, options.sheet_height))
                bar.update(1)
    finally:
        if frames is not None:
            frames.close()
    sheet = out.with_suffix(".png")
    _write_sheet(shots, options.sheet_columns, sheet,
                 header=[f"user: {reply.transcript or '(no words)'}",
                         f"avatar: {reply.text}"])
    return sheet


def _spread(indices: np.ndarray, picks: int) -> list[int]:
    """Up to `picks` evenly spaced entries of `indices` (inner points, not the edges)."""
    if len(indices) == 0:
        return []
    positions = (np.arange(picks) + 0.5) * len(indices) / picks
    return sorted({int(indices[min(len(indices) - 1, int(p))]) for p in positions})


def _thumbnail(image: np.ndarray, text: str, speaking: bool, height: int) -> np.ndarray:
    """A labelled thumbnail; a green bar marks frames whose audio is the avatar's speech."""
    width = max(1, round(image.shape[1] * height / image.shape[0]))
    thumb = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    cv2.rectangle(thumb, (0, 0), (width, 18), (0, 0, 0), -1)
    cv2.putText(thumb, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1,
                cv2.LINE_AA)
    if speaking:
        cv2.rectangle(thumb, (0, height - 5), (width, height), (40, 200, 60), -1)
    return thumb


def _write_sheet(shots: dict[str, list[np.ndarray]], columns: int, path: Path,
                 header: list[str]) -> None:
    """Rows of thumbnails (listening, then speaking) under the words of the turn."""
    thumbs = [t for row in shots.values() for t in row]
    if not thumbs:
        raise ValueError("no frames for the contact sheet (the reply produced no speech)")
    blank = np.zeros_like(thumbs[0])
    rows = [np.concatenate((row + [blank] * columns)[:columns], axis=1)
            for row in shots.values() if row]
    width = rows[0].shape[1]
    line_h = 20
    top = np.full((line_h * len(header) + 6, width, 3), 255, np.uint8)
    for number, line in enumerate(header):
        cv2.putText(top, _fit_text(line, width - 8, 0.45), (4, 15 + number * line_h),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    grid = np.concatenate([top, *rows], axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR),
                       [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        raise ValueError(f"cannot write the contact sheet {path}")


def _fit_text(text: str, width: int, scale: float) -> str:
    """`text`, cut with an ellipsis to fit `width` pixels in OpenCV's simplex font."""
    def fits(candidate: str) -> bool:
        size, _baseline = cv2.getTextSize(candidate, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        return bool(size[0] <= width)

    if fits(text):
        return text
    while text and not fits(text + "..."):
        text = text[:-1]
    return text + "..."


def _quiet(_message: str) -> None:
    """Progress off: stage lines go nowhere."""


__all__ = ["ConverseOptions", "ConverseResult", "Reply", "UserClip", "ask_llm", "clip_frames",
           "converse", "load_user_clip", "speech_span", "synthesize", "transcribe"]
