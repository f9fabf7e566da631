"""The pipecat WebRTC example (examples/pipecat_webrtc/bot.py) run as a developer runs
it, and a real WebRTC peer as its browser: shared by the example's test in the
repository and the wheel's test in a clean venv (tests/packaging/test_wheel.py).

The peer (aiortc) signals as pipecat's prebuilt client does (`/start`, then
`/sessions/{id}/api/offer`), sends a microphone (a spoken question by the bundled
piper voice, 48 kHz as browsers send it) and a camera (a webcam-like clip of a real
face), and records the bot's audio and video tracks. It checks behaviour, never speed:

* pipecat's runner serves its prebuilt client (`/` redirects to `/client/`);
* video arrives before anyone speaks (idle video) and while the bot speaks, each
  image at the size the face drew it (512 px, 256 px on a busy machine);
* one media clock (issue 45): over the call (40-60 s), the video's and the
  audio's RTP time advance with the wall clock within a frame, and together;
* the bot answers aloud: its audio, transcribed by the bundled whisper, has words
  about the question (Sunday opening hours are in the example's system prompt) and
  most of the words the LLM wrote;
* pipecat's RTVI events on the data channel: bot-ready, the question heard, the bot
  speaking once (one reply, one turn), after the user (never for the idle video),
  then stopping;
* the face talks: mediapipe's jawOpen on the received images follows the reply's
  loudness (at the video's delay behind the audio, found by correlation), wider
  while the reply is loud than on the idle face before the question;
* the example's log holds no traceback, no ERROR and no deprecated call of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
BOT = REPO / "examples" / "pipecat_webrtc" / "bot.py"
QUESTION = "What time do you open on Sunday?"
#: words of a reply about Sunday's opening time (the prompt says 10 am to 4 pm)
ANSWER_WORDS = {"sunday", "sundays", "open", "opens", "opening", "ten", "10", "am", "four",
                "4", "pm", "hours", "closed"}
LOUD = 300  # int16 peak above which a 20 ms chunk holds sound, not silence or codec noise
#: the call lasts this long in all, for the media-clock check
CLOCK_SECS = 60.0
CLOCK_WINDOW_SECS = 5.0
FRAME_SECS = 0.04


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """Live child processes of `pid` (Linux /proc), e.g. the embedded llama.cpp server."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def pid_alive(pid: int) -> bool:
    """`pid` runs (and is not a zombie)."""
    with contextlib.suppress(OSError, IndexError):
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return False


@contextlib.contextmanager
def running_example(log: Path, *, python: str = sys.executable, bot: Path = BOT,
                    env: dict[str, str] | None = None,
                    start_timeout_s: float = 240.0) -> Iterator[str]:
    """`python bot.py` (pipecat's runner) on a free loopback port, run from the bot's
    folder as a developer runs it, until its page answers; yields its base URL.

    Stopped with SIGTERM (uvicorn's shutdown hangs up the peers; the embedded LLM
    stops with its parent), then its process group is killed whatever happened."""
    port = _free_port()
    environ = dict(env if env is not None else os.environ)
    environ = {k: v for k, v in environ.items() if not k.startswith("OPENAI_")}  # embedded
    # every DeprecationWarning shown once in the log, where the test looks for the
    # example's own lines (pipecat raises its own under an "always" filter, which an
    # "error" filter here could not turn into an exception)
    environ.update(HF_HUB_OFFLINE="1", PYTHONWARNINGS="default::DeprecationWarning")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [python, bot.name, "--host", "127.0.0.1", "--port", str(port)], stdout=out,
            stderr=subprocess.STDOUT, cwd=bot.parent, env=environ, start_new_session=True)
    children: list[int] = []
    try:
        deadline = time.monotonic() + start_timeout_s
        while True:
            if process.poll() is not None:
                pytest.fail(f"example exited with {process.returncode}:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"example not up after {start_timeout_s:.0f} s:\n"
                            f"{log.read_text(errors='replace')[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/client/", timeout=2):
                    break
            except (OSError, urllib.error.URLError):
                time.sleep(0.25)
        children = child_pids(process.pid)
        yield f"http://127.0.0.1:{port}"
    finally:
        children = children or child_pids(process.pid)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of its group
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while [pid for pid in children if pid_alive(pid)] and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in children:  # the LLM server runs in a session of its own
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                pytest.fail(f"the example left its child {pid} running")


def question_48k() -> np.ndarray:
    """The question in the bundled piper voice, resampled to 48 kHz (a browser's mic)."""
    from tests.webrtc_peer import spoken_48k

    return spoken_48k(QUESTION)


def transcribe(audio: np.ndarray, rate: int) -> str:
    """What the bundled whisper hears in int16 mono `audio`."""
    import soxr
    from faster_whisper import WhisperModel

    from agent.bundled_models import whisper_model_dir

    model = WhisperModel(str(whisper_model_dir()), device="cpu", compute_type="int8",
                         cpu_threads=2)
    audio16 = soxr.resample(audio.astype(np.float32) / 32768, rate, 16_000)
    segments, _ = model.transcribe(audio16, language="en", beam_size=1)
    return " ".join(segment.text.strip() for segment in segments)


def jaw_openings(images: list[np.ndarray]) -> np.ndarray:
    """mediapipe's jawOpen on each RGB image (NaN where no face is found)."""
    from avatar.face_analysis import FaceAnalyzer
    from avatar.motion import BLENDSHAPE_COLUMNS

    jaw = BLENDSHAPE_COLUMNS.index("jawOpen")
    values = []
    with FaceAnalyzer(mode="image") as analyzer:
        for rgb in images:
            found = analyzer.analyze(np.ascontiguousarray(rgb))
            values.append(np.nan if found is None else float(found.blendshapes[jaw]))
    return np.asarray(values, np.float64)


def best_lag(jaw_times: np.ndarray, jaw: np.ndarray, audio_times: np.ndarray,
              level: np.ndarray) -> tuple[float, float]:
    """The video's delay behind the audio (s, -1..4) at which jawOpen best follows the
    audio's loudness, and that correlation."""
    best = (0.0, -1.0)
    for lag in np.arange(-1.0, 4.0, 0.04):
        loudness = np.interp(jaw_times - lag, audio_times, level)
        if loudness.std() > 0 and jaw.std() > 0:
            corr = float(np.corrcoef(loudness, jaw)[0, 1])
            if corr > best[1]:
                best = (float(lag), corr)
    return best


def assert_one_media_clock(received: Any, clock_secs: float = CLOCK_SECS) -> None:
    """Issue 45: what the developer's pipeline sends over pipecat's SmallWebRTC, with
    pipecat's own avatar-example settings, carries one media clock: each stream's RTP
    time advances with the wall clock within a frame over the call, and the two
    together. With pipecat's stock tracks the video's ran 30 images a media second
    whatever the images' spacing and fell 1.5 s behind in 45 s
    (bench/webrtc/webrtc_media_clock.py). That is what any receiver's own A/V sync needs."""
    video, audio = received.video_pts, received.audio_pts
    span = video[-1][0] - video[0][0]
    assert span >= clock_secs - 5, f"only {span:.0f} s of video"
    media_fps = (len(video) - 1) / (video[-1][1] - video[0][1])
    assert media_fps <= 25.5, f"video stamped {media_fps:.1f} images per media second"
    from tests.webrtc_peer import clock_offsets

    video_offsets = clock_offsets(video, CLOCK_WINDOW_SECS)
    audio_offsets = clock_offsets(audio, CLOCK_WINDOW_SECS)
    report = (f"per {CLOCK_WINDOW_SECS:g} s window, arrival minus media time (ms): video "
              f"{np.round(video_offsets * 1000).tolist()}, audio "
              f"{np.round(audio_offsets * 1000).tolist()}")
    print(report)
    assert np.abs(video_offsets).max() <= FRAME_SECS, report
    assert np.abs(audio_offsets).max() <= FRAME_SECS, report
    n = min(len(video_offsets), len(audio_offsets))
    assert np.abs(video_offsets[:n] - audio_offsets[:n]).max() <= FRAME_SECS, report


async def wait_for(condition: Callable[[], object], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout_s:.0f} s"
        await asyncio.sleep(0.1)


async def converse_with_the_example(base_url: str, log: Path, *,
                                    clock_secs: float = CLOCK_SECS) -> None:
    """Be the browser of a running example (`running_example`): ask the question and
    check the answer, its face and pipecat's events; with `clock_secs` > 0 the call
    lasts that long and its media clocks are checked."""
    from benchkit.browser_media import webcam_clip
    from tests.webrtc_peer import CameraTrack, connect

    question = question_48k()
    # a real face as a webcam sends it (small: the machine encodes and decodes VP8 on
    # both sides of the call, beside the models)
    webcam = CameraTrack(webcam_clip(2.0, width=320, height=240, fps=10.0), fps=10.0)
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        root = await http.get("/")
        page = await http.get("/client/")
    peer = await connect(base_url, webcam, keep_every=3)
    try:
        received = peer.received
        await wait_for(lambda: len(received.video) >= 40, "40 idle video frames", 120)
        asked_at = time.monotonic()
        # every image from here on: the talking check below needs enough images
        # while the reply is loud, and a short reply on a busy machine (video
        # behind, fewer frames a second) gave 9 at one image in three
        received.keep_every = 1
        peer.mic.say(question)
        await wait_for(lambda: peer.mic.spoken, "the question sent", 30)
        asked_end = peer.mic.spoken[0][1]

        def loud_times() -> list[float]:
            return [t for t, a in received.audio
                    if t > asked_end and np.abs(a).max(initial=0) > LOUD]

        await wait_for(loud_times, "reply audio", 120)
        # the reply is over once 4 s pass without sound (or after 30 s of it); the
        # video of its end may come later than its audio
        reply_start = loud_times()[0]
        await wait_for(lambda: time.monotonic() - loud_times()[-1] > 4.0
                        or time.monotonic() - reply_start > 30, "the reply's end", 60)
        # the call lasts clock_secs in all (idle, question, answer, idle): the clocks below
        connected_at = received.video[0][0]
        await asyncio.sleep(max(0.0, connected_at + clock_secs - time.monotonic()))
    finally:
        await peer.close()

    log_text = await asyncio.to_thread(log.read_text, errors="replace")
    if clock_secs > 0:
        assert_one_media_clock(received, clock_secs)
    deprecated = re.findall(r"bot\.py:\d+: DeprecationWarning.*", log_text)
    assert not deprecated, f"the example uses deprecated APIs: {deprecated}"
    assert "Traceback" not in log_text and "| ERROR" not in log_text, log_text[-3000:]
    # pipecat's runner serves its prebuilt client
    assert root.status_code in (302, 307) and root.headers["location"] == "/client/"
    assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:200]

    # video: from the start, before anyone spoke, and while the bot spoke; each image goes
    # out at the size it was drawn (512 px, or 256 px when the machine is busy: a WebRTC
    # receiver scales it, nothing re-encodes an upscaled copy)
    sizes = {(w, h) for _, w, h in received.video}
    assert all(w == h and 256 <= w <= 512 for w, h in sizes), sizes
    idle = [t for t, _, _ in received.video if t < asked_at]
    reply_end = loud_times()[-1]
    during = [t for t, _, _ in received.video if reply_start <= t <= reply_end]
    assert len(idle) >= 40, f"{len(idle)} idle frames"
    assert len(during) >= 10, f"{len(during)} frames while the bot spoke"

    # pipecat's own events on the data channel (what the prebuilt client shows): the
    # bot was ready, heard the question, and spoke once, after the user (idle video
    # and its silence never count as the bot speaking), and stopped
    events = [m.get("type") for m in received.messages]
    said = " ".join(m["data"]["text"] for m in received.messages
                    if m.get("type") == "user-transcription" and m["data"].get("final"))
    written = " ".join(m["data"]["text"] for m in received.messages
                       if m.get("type") == "bot-transcription")
    timings = [f"{kind} {entry['processor'].split('#')[0]} {entry['value']:.2f} s"
               for m in received.messages if m.get("type") == "metrics"
               for kind in ("processing", "ttfb") for entry in m["data"].get(kind, [])
               if entry.get("value")]
    print(f"the bot heard {said!r} and wrote {written!r}; pipecat's metrics: {timings}")
    assert "bot-ready" in events, events
    assert {"what", "time", "open", "sunday"} & set(re.findall(r"[a-z]+", said.lower())), (
        f"the bot heard {said!r}")
    speaking = [e for e in events if e in ("user-started-speaking", "bot-started-speaking",
                                           "bot-stopped-speaking")]
    assert speaking[0] == "user-started-speaking", speaking
    assert speaking.count("bot-started-speaking") == 1, speaking  # one reply, one turn
    assert speaking[-1] == "bot-stopped-speaking", speaking
    # pipecat 1.14 sends each sentence's bot-output twice by design: "new" when the TTS
    # takes it, "completed" once its audio is out (the face releases it with its audio);
    # never a sentence twice in one state
    outputs = [m["data"] for m in received.messages if m.get("type") == "bot-output"]
    states = collections.Counter((d.get("segment_id"), d.get("spoken_status")) for d in outputs)
    assert outputs and max(states.values()) == 1, states
    assert {status for _, status in states} == {"new", "completed"}, states

    # the reply: spoken, and about the question
    reply = np.concatenate([a for t, a in received.audio
                            if reply_start - 0.5 <= t <= reply_end + 0.5])
    heard = transcribe(reply, received.audio_rate)
    words = set(re.findall(r"[a-z0-9]+", heard.lower()))
    video_times = np.array([t for t, _, _ in received.video])
    fps = (len(video_times) - 1) / max(1e-3, video_times[-1] - video_times[0])
    print(f"\nreply heard as {heard!r} ({len(reply) / received.audio_rate:.1f} s); "
          f"video {fps:.1f} frames/s received, {len(idle)} before the question, "
          f"{len(during)} during the reply; reply began "
          f"{reply_start - asked_end:.1f} s after the question ended")
    assert len(words) >= 2, f"the reply was {heard!r}\n{log_text[-2000:]}"
    assert words & ANSWER_WORDS, f"the reply {heard!r} to {said!r} is not about Sunday's hours"

    # what was played is what the LLM wrote
    written_words = re.findall(r"[a-z0-9]+", written.lower())
    played = sum(word in words for word in written_words) / max(1, len(written_words))
    assert played >= 0.5, f"heard {heard!r}, but the LLM wrote {written!r}"

    # the face talked: its jaw followed the reply's loudness. Video and audio reach an
    # aiortc peer on their own clocks (aiortc does no lip sync), and on a busy machine
    # pipecat's WebRTC video falls behind its audio (its video track queues every image
    # the encoder has not taken yet), so the video's delay is found by correlation
    idle_jaw = jaw_openings([rgb for t, rgb in received.images if t < asked_at])
    reply_images = [(t, rgb) for t, rgb in received.images if t >= reply_start - 1.0]
    jaw_times = np.array([t for t, _ in reply_images])
    jaw = jaw_openings([rgb for _, rgb in reply_images])
    audio_times = np.array([t for t, _ in received.audio])
    level = np.array([float(np.abs(a).max(initial=0) > LOUD) for _, a in received.audio])
    found = ~np.isnan(jaw)
    assert found.mean() > 0.9 and np.isfinite(idle_jaw).mean() > 0.9, "the face was lost"
    jaw_times, jaw = jaw_times[found], jaw[found]
    lag, corr = best_lag(jaw_times, jaw, audio_times, level)
    talking = jaw[np.interp(jaw_times - lag, audio_times, level) > 0.5]
    print(f"jawOpen idle median {np.nanmedian(idle_jaw):.3f}, talking median "
          f"{np.median(talking):.3f} ({len(talking)} images); jaw follows loudness with "
          f"r {corr:.2f} at a video delay of {lag * 1000:+.0f} ms")
    # each distinct image is sent once (a repeat is not sent again, issue 45), so a short
    # reply on a busy machine, whose face draws fewer images, brings fewer of them
    assert len(talking) >= 6, f"{len(talking)} images while the reply was loud"
    assert np.percentile(talking, 75) > np.nanpercentile(idle_jaw, 75) + 0.05, (
        np.percentile(talking, 75), np.nanpercentile(idle_jaw, 75))
    assert corr > 0.2, f"the jaw did not follow the reply (best r {corr:.2f})"
