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

Then two passes (pipelines.offline.passes says why): generate every block, then
render and encode each frame, so memory stays flat for clips of any length.

Output: the mp4 (the avatar, or with `side_by_side` the user's clip frame
resized to the avatar's height | the avatar) with both voices mixed, and a PNG
contact sheet beside it: frames while the avatar listens and while it speaks.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from loguru import logger
from tqdm import tqdm

from avatar.audio_features import to_16k
from avatar.live import AvatarSession, SessionOptions
from avatar.portrait import Portrait
from pipelines.offline.clip import FPS, FRAME_SECS, load_user_clip, speech_span
from pipelines.offline.exchange import ConverseOptions, ConverseResult
from pipelines.offline.passes import generate_blocks, mix_voices, render_video
from pipelines.offline.reply import Reply, ask_llm, synthesize, transcribe

if TYPE_CHECKING:
    from pipelines.settings import Settings
    from pipelines.speech.models import SpeechModels


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
    planned, user_face, camera = generate_blocks(session, clip, reply, reply_frame, total, options)
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
    mix = mix_voices(clip, planned, session.output_rate)
    started = time.perf_counter()
    sheet = render_video(session, clip, planned, mix, out, options, speaking, user_speaking, reply)
    timings["render"] = time.perf_counter() - started
    return ConverseResult(
        video=out, sheet=sheet, frames=total, sample_rate=session.output_rate, reply=reply,
        speech=speech, reply_start_secs=reply_frame * FRAME_SECS,
        motion=np.stack([p.motion for p in planned]).astype(np.float32), speaking=speaking,
        user_speaking=user_speaking, user_face=user_face,
        clip_frames_analysed=camera.analysed, clip_faces_found=camera.faces,
        warnings=warnings, timings_secs=timings)


def _quiet(_message: str) -> None:
    """Progress off: stage lines go nowhere."""
