"""Fake camera and microphone media for browser end-to-end tests and the benches.

Why in benchkit: bench/kiosk/kiosk.py, bench/kiosk/kiosk_turns.py and bench/kiosk/presence.py feed
Chromium the same camera and microphone as the tests (tests/browser/media.py
re-exports this module).

Chromium can replace the webcam and the microphone with files:

    --use-fake-device-for-media-stream --use-fake-ui-for-media-stream
    --use-file-for-fake-video-capture=/tmp/camera.y4m   (Y4M, I420; looped)
    --use-file-for-fake-audio-capture=/tmp/mic.wav      (WAV; looped unless the
                                                         path ends in "%noloop")

The camera is a webcam-like scene: a real face photo (the default portrait,
Grace Hopper) animated by our own `PortraitRenderer` with a scripted motion
track (nods, turns, a little tilt, mouth movement, blinks), composited into a
640x480 room with a soft-edged person mask, a swaying position and sensor
noise. The microphone is a silent track with speech (from the bundled piper
voice, `speak`) placed at given times.

Everything here is a pure function of its arguments (the noise is seeded), so
tests are reproducible.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from avatar.motion import column_index
from avatar.portrait import Portrait

if TYPE_CHECKING:
    from pipelines.speech.models import SpeechModels

#: Sample rate of the PCM `speak` returns and `write_fake_mic_wav` takes.
SPEECH_RATE = 16_000
#: Most distinct frames `write_fake_camera_y4m` renders; longer files ping-pong them.
MAX_DISTINCT_SECONDS = 3.0
#: Silence after the last segment of a fake microphone track.
MIC_TAIL_SECONDS = 2.0

_YAW, _PITCH, _ROLL = column_index("yaw"), column_index("pitch"), column_index("roll")
_JAW = column_index("jawOpen")
_SMILE = (column_index("mouthSmileLeft"), column_index("mouthSmileRight"))
_BLINK = (column_index("eyeBlinkLeft"), column_index("eyeBlinkRight"))


# --------------------------------------------------------------------------- motion


def webcam_motion(reference: np.ndarray, frames: int, fps: float, *,
                  amplitude: float = 1.0) -> np.ndarray:
    """A visitor's head in front of a kiosk: (frames, 58) absolute motion around `reference`.

    At amplitude 1: turns of +-10 deg (4 s period), nods of +-6 deg (2.5 s), a
    +-4 deg tilt (5 s), speech-like jaw opening (0..0.35, bursts at ~3 Hz under
    a 2 s envelope), a slow smile (0..0.35) and a 150 ms blink every 2.7 s.
    Angles scale with `amplitude`; expressions stay within [0, 1].
    """
    t = np.arange(frames, dtype=np.float64) / fps
    motion = np.repeat(np.asarray(reference, np.float32)[None, :], frames, axis=0)
    motion[:, _YAW] += amplitude * 10.0 * np.sin(2 * np.pi * t / 4.0)
    motion[:, _PITCH] += amplitude * 6.0 * np.sin(2 * np.pi * t / 2.5 + 1.0)
    motion[:, _ROLL] += amplitude * 4.0 * np.sin(2 * np.pi * t / 5.0 + 2.0)
    envelope = np.clip(np.sin(2 * np.pi * t / 2.0), 0.0, 1.0)  # talking half the time
    jaw = 0.35 * envelope * np.abs(np.sin(2 * np.pi * 1.6 * t))
    motion[:, _JAW] = np.clip(motion[:, _JAW] + min(amplitude, 1.5) * jaw, 0.0, 1.0)
    smile = 0.35 * np.sin(2 * np.pi * t / 6.0) ** 2
    for col in _SMILE:
        motion[:, col] = np.clip(motion[:, col] + smile, 0.0, 1.0)
    phase = np.mod(t - 1.0, 2.7)
    blink = np.clip(1.0 - np.abs(phase - 0.075) / 0.075, 0.0, 1.0)
    for col in _BLINK:
        motion[:, col] = np.maximum(motion[:, col], blink)
    return motion.astype(np.float32)


# --------------------------------------------------------------------------- scene


def room_background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A plain, slightly out-of-focus room: (height, width, 3) uint8 RGB.

    A warm wall with a light gradient, a door frame, a picture and a shelf, all
    blurred as a webcam focused on a near face sees them.
    """
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, height)[:, None, None]
    x = np.linspace(0.0, 1.0, width)[None, :, None]
    wall = np.array([196, 186, 168], np.float32) * (1.05 - 0.25 * y) * (0.9 + 0.1 * x)
    image = np.broadcast_to(wall, (height, width, 3)).copy()
    image[int(0.82 * height):] *= 0.7  # floor / desk edge

    def box(x0: float, y0: float, x1: float, y1: float, colour: Sequence[int]) -> None:
        image[int(y0 * height):int(y1 * height), int(x0 * width):int(x1 * width)] = colour

    box(0.04, 0.08, 0.26, 0.85, (150, 120, 90))  # door
    box(0.06, 0.11, 0.24, 0.85, (175, 150, 118))
    box(0.72, 0.12, 0.92, 0.38, (60, 80, 110))  # a picture
    box(0.74, 0.15, 0.90, 0.35, tuple(int(v) for v in rng.integers(90, 200, 3)))
    box(0.70, 0.55, 0.98, 0.58, (110, 85, 60))  # a shelf
    for i in range(5):
        box(0.72 + 0.05 * i, 0.47, 0.75 + 0.05 * i, 0.55,
            tuple(int(v) for v in rng.integers(40, 220, 3)))
    sigma = max(1.0, width / 320.0)
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return np.clip(blurred, 0, 255).astype(np.uint8)


def _person_alpha(side: int) -> np.ndarray:
    """(side, side) float32 mask of head + shoulders in a head crop, soft edges."""
    v, u = np.mgrid[0:side, 0:side].astype(np.float32) / side
    head = ((u - 0.5) / 0.33) ** 2 + ((v - 0.45) / 0.45) ** 2 <= 1.0
    shoulders = ((u - 0.5) / 0.5) ** 2 + ((v - 1.2) / 0.45) ** 2 <= 1.0
    mask = (head | shoulders).astype(np.float32)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.03 * side))


class WebcamScene:
    """A person (a portrait animated by `PortraitRenderer`) in a room, as a webcam sees it.

    `face_fraction` is the face's height (forehead to chin, what the landmarker
    measures) over the frame height: about 0.33-0.5 for a visitor standing at a
    kiosk, 0.2 for one a step or two back.
    """

    def __init__(self, portrait: Portrait, *, width: int = 640, height: int = 480,
                 face_fraction: float = 0.4, noise: float = 2.0, seed: int = 0) -> None:
        from avatar.render import PortraitRenderer

        self.portrait = portrait
        self.width, self.height = width, height
        self.noise = noise
        face_in_crop = portrait.measurement.face_height / portrait.size
        self.side = max(32, int(round(face_fraction * height / face_in_crop)))
        self.renderer = PortraitRenderer(portrait, 256 if self.side <= 256 else 512)
        self.background = room_background(width, height, seed).astype(np.float32)
        self._seed = seed
        # the face centre a little above the frame centre, like a camera above a screen
        x0, y0, x1, y1 = portrait.measurement.bbox
        face_v = (y0 + y1) / 2.0 / portrait.size
        face_u = (x0 + x1) / 2.0 / portrait.size
        self._top = 0.42 * height - face_v * self.side
        self._left = 0.5 * width - face_u * self.side
        alpha = _person_alpha(self.side)
        extra = max(0, int(np.ceil(height - (self._top + self.side))) + 2)  # the torso below
        self._extra = extra
        self._alpha = cv2.copyMakeBorder(alpha, 0, extra, 0, 0, cv2.BORDER_REPLICATE)

    def frame(self, motion: np.ndarray, index: int, fps: float = 15.0) -> np.ndarray:
        """One (height, width, 3) uint8 RGB frame for a motion row at frame `index`."""
        head = self.renderer.render(motion)
        interp = cv2.INTER_AREA if self.side < head.shape[0] else cv2.INTER_CUBIC
        head = cv2.resize(head, (self.side, self.side), interpolation=interp)
        person = cv2.copyMakeBorder(head, 0, self._extra, 0, 0, cv2.BORDER_REPLICATE)
        t = index / fps
        # the whole body sways a little (weight shifting), on top of the head motion
        left = int(round(self._left + 0.03 * self.width * np.sin(2 * np.pi * t / 7.0)))
        top = int(round(self._top + 0.01 * self.height * np.sin(2 * np.pi * t / 3.3)))
        out = self.background.copy()
        blend_into(out, person.astype(np.float32), self._alpha, left, top)
        if self.noise > 0:
            rng = np.random.default_rng((self._seed, index))
            out += rng.normal(0.0, self.noise, out.shape).astype(np.float32)
        return np.clip(out, 0, 255).astype(np.uint8)

    def frames(self, motion: np.ndarray, fps: float = 15.0) -> Iterator[np.ndarray]:
        """Frames for each row of a (frames, 58) motion track."""
        for index, row in enumerate(motion):
            yield self.frame(row, index, fps)


def blend_into(out: np.ndarray, image: np.ndarray, alpha: np.ndarray, left: int, top: int) -> None:
    """Alpha-blend `image` into `out` in place at (left, top), clipped to `out`."""
    height, width = out.shape[:2]
    x0, y0 = max(0, left), max(0, top)
    x1, y1 = min(width, left + image.shape[1]), min(height, top + image.shape[0])
    if x1 <= x0 or y1 <= y0:
        return
    src = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    a = alpha[src][..., None]
    region = out[y0:y1, x0:x1]
    region *= 1.0 - a
    region += a * image[src]


def webcam_clip(seconds: float, *, width: int = 640, height: int = 480, fps: float = 15.0,
                face_fraction: float = 0.42, amplitude: float = 1.0,
                portrait: Portrait | None = None, seed: int = 0) -> list[np.ndarray]:
    """`seconds` of webcam-like RGB frames (all distinct) of `portrait` (default: Grace Hopper)."""
    portrait = portrait if portrait is not None else Portrait.default(512)
    scene = WebcamScene(portrait, width=width, height=height, face_fraction=face_fraction,
                        seed=seed)
    count = max(1, int(round(seconds * fps)))
    motion = webcam_motion(portrait.reference_motion, count, fps, amplitude=amplitude)
    return list(scene.frames(motion, fps))


def ping_pong(count: int, distinct: int) -> list[int]:
    """Indices 0, 1, ..., distinct-1, distinct-2, ..., 1, 0, 1, ... (count of them)."""
    if distinct <= 1:
        return [0] * count
    period = 2 * distinct - 2
    return [i % period if i % period < distinct else period - i % period for i in range(count)]


# --------------------------------------------------------------------------- camera file


def y4m_header(width: int, height: int, fps: int) -> bytes:
    """The stream header Chromium's Y4mFileParser accepts (I420, progressive, square pixels)."""
    return f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")


def write_fake_camera_y4m(path: Path, seconds: float, width: int = 640, height: int = 480,
                          fps: int = 15) -> Path:
    """Write a webcam-like Y4M clip for `--use-file-for-fake-video-capture`; returns `path`.

    `round(seconds * fps)` frames of `width` x `height` (both even) at `fps`,
    yuv420p (I420, BT.601 limited range as OpenCV converts it). At most
    `MAX_DISTINCT_SECONDS` of distinct frames are rendered (about 30 ms each);
    a longer clip plays them forwards and backwards (ping-pong), so the motion
    never jumps. Chromium loops the file itself, so a few seconds are enough
    for a test of any length; every frame is 1.5 * width * height bytes.
    """
    if width % 2 or height % 2:
        raise ValueError(f"Y4M I420 needs an even frame size, got {width}x{height}")
    if seconds <= 0 or fps <= 0:
        raise ValueError(f"seconds and fps must be positive, got {seconds} and {fps}")
    count = max(1, int(round(seconds * fps)))
    distinct = min(count, max(1, int(round(MAX_DISTINCT_SECONDS * fps))))
    frames = webcam_clip(distinct / fps, width=width, height=height, fps=fps)
    planes = [cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes() for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(y4m_header(width, height, fps))
        for index in ping_pong(count, len(planes)):
            handle.write(b"FRAME\n")
            handle.write(planes[index])
    return path


def read_y4m(path: Path) -> tuple[dict[str, str], list[np.ndarray]]:
    """Read a Y4M file written by `write_fake_camera_y4m`: (header tags, RGB frames)."""
    data = Path(path).read_bytes()
    end = data.index(b"\n")
    words = data[:end].decode("ascii").split(" ")
    if words[0] != "YUV4MPEG2":
        raise ValueError(f"{path} is not a Y4M file")
    tags = {word[0]: word[1:] for word in words[1:]}
    width, height = int(tags["W"]), int(tags["H"])
    size = width * height * 3 // 2
    frames: list[np.ndarray] = []
    offset = end + 1
    while offset < len(data):
        header_end = data.index(b"\n", offset)
        if not data[offset:header_end].startswith(b"FRAME"):
            raise ValueError(f"{path}: no FRAME marker at byte {offset}")
        start = header_end + 1
        plane = np.frombuffer(data, np.uint8, size, start).reshape(height * 3 // 2, width)
        frames.append(cv2.cvtColor(plane, cv2.COLOR_YUV2RGB_I420))
        offset = start + size
    return tags, frames


# --------------------------------------------------------------------------- microphone


def speak(models: SpeechModels, text: str, lead_s: float = 0.3) -> bytes:
    """`text` spoken by the bundled piper voice: 16 kHz mono PCM s16le.

    Starts with `lead_s` of silence, like the `say` fixture in
    tests/pipelines/conftest.py (whose output this matches), and like it is the
    same audio on every run (piper without sampled noise, benchkit/speech.py).
    """
    from benchkit.speech import piper_pcm16k

    return piper_pcm16k(models.piper, text, lead_s)


def mic_track(segments: Sequence[tuple[float, bytes | None]], rate: int = 48_000) -> np.ndarray:
    """The int16 samples `write_fake_mic_wav` writes (see there)."""
    import soxr

    placed: list[tuple[int, np.ndarray]] = []
    end_s = 0.0
    for start_s, pcm in segments:
        if start_s < 0:
            raise ValueError(f"segment start must be >= 0, got {start_s}")
        samples = np.zeros(0, np.float32)
        if pcm:
            if len(pcm) % 2:
                raise ValueError("PCM s16le segments need an even number of bytes")
            samples = np.frombuffer(pcm, np.int16).astype(np.float32)
            if rate != SPEECH_RATE:
                samples = soxr.resample(samples, SPEECH_RATE, rate)
        placed.append((int(round(start_s * rate)), samples))
        end_s = max(end_s, start_s + len(samples) / rate)
    track = np.zeros(int(round((end_s + MIC_TAIL_SECONDS) * rate)), np.float32)
    for offset, samples in placed:
        stop = min(len(track), offset + len(samples))
        track[offset:stop] += samples[:stop - offset]
    return np.clip(np.round(track), -32768, 32767).astype(np.int16)


def write_fake_mic_wav(path: Path, segments: list[tuple[float, bytes | None]],
                       rate: int = 48_000) -> Path:
    """Write a mono 16-bit WAV for `--use-file-for-fake-audio-capture`; returns `path`.

    Each segment is (start seconds, 16 kHz PCM s16le or None) and is placed at
    its start on a silent track (resampled to `rate` with soxr; overlapping
    segments add). None (or empty bytes) places nothing but still counts as a
    point on the timeline. The track lasts until the end of the last segment
    plus `MIC_TAIL_SECONDS` (2 s) of silence, so the last turn ends.
    """
    from sdk.media import write_wav_pcm16

    track = mic_track(segments, rate)
    write_wav_pcm16(Path(path), track.astype("<i2").tobytes(), rate)
    return Path(path)
