"""`VoiceClient`: the protocol connection plus camera sources (a video file, a webcam).

Heavy imports (OpenCV, PyAV through avatar.video_io) happen inside the methods
that need them, so an audio-only client pays nothing for video support.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path

from sdk.connection import VoiceConnection
from sdk.errors import ClientError
from sdk.images import DEFAULT_CAMERA_WIDTH, DEFAULT_JPEG_QUALITY, encode_jpeg
from sdk.media import DEFAULT_CAMERA_FPS, check_camera_fps, sampled_jpegs


class VoiceClient(VoiceConnection):
    """One protocol session (v2, or v1 on request). Create with `await VoiceClient.connect(...)`.

    Audio only unless `connect()` asks for video: then `receive()` also yields
    `BotVideo`, and with `video_in` the user's camera or motion can be sent.
    """

    async def stream_video_file(
        self,
        path: str | os.PathLike[str],
        *,
        fps: float = DEFAULT_CAMERA_FPS,
        width: int = DEFAULT_CAMERA_WIDTH,
        quality: int = DEFAULT_JPEG_QUALITY,
        loop: bool = False,
    ) -> int:
        """Send a video file's frames as the camera, at real-time pace, like a webcam.

        The file's frames are sampled at `fps` (never more than the file has);
        decoding and JPEG encoding run in a worker thread so audio streamed on
        the same event loop keeps its pace. While the server thinks up a reply
        (`camera_hold`, followed by `receive()`) the clip waits, nothing decoded or
        sent, and goes on from where it was. With `loop` the clip restarts at its
        end and this runs until cancelled.

        Returns:
            The number of frames sent.

        Raises:
            FileNotFoundError, ValueError: no such file, not a video, bad fps/width.
        """
        from avatar.video_io import probe_video

        self._require_video_in("stream_video_file")
        rate = check_camera_fps(fps)
        info = probe_video(Path(path))  # fails now, with the file's name, rather than mid-stream
        step = max(1.0, info.fps / rate)  # source frames per sent frame: never upsample
        period = step / info.fps
        sent = 0
        started = time.monotonic()
        while True:
            frames = sampled_jpegs(Path(path), step, width, quality)
            sent_this_pass = 0
            try:
                while True:
                    started += await self.camera_hold.wait(period)
                    jpeg = await asyncio.to_thread(next, frames, None)
                    if jpeg is None:
                        break
                    delay = started + sent * period - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -period:  # fell behind (busy machine): rebase, do not burst
                        started -= delay
                    await self.send_camera_jpeg(jpeg)
                    sent += 1
                    sent_this_pass += 1
            finally:
                with contextlib.suppress(ValueError):  # still running in its thread: GC closes it
                    frames.close()
            if not loop:
                return sent
            if sent_this_pass == 0:
                raise ValueError(f"{path}: no decodable frames to loop")

    async def stream_webcam(
        self,
        index: int = 0,
        *,
        fps: float = DEFAULT_CAMERA_FPS,
        width: int = DEFAULT_CAMERA_WIDTH,
        quality: int = DEFAULT_JPEG_QUALITY,
    ) -> None:
        """Send a local camera (OpenCV device `index`) as camera frames until cancelled
        (none while the server thinks up a reply: `camera_hold`).

        Raises:
            ClientError: the camera cannot be opened or stops delivering frames.
        """
        import cv2

        self._require_video_in("stream_webcam")
        period = 1.0 / check_camera_fps(fps)
        capture = cv2.VideoCapture(index)
        if not capture.isOpened():
            capture.release()
            raise ClientError(f"cannot open camera {index}: no such device or no permission "
                              "(stream_video_file() sends a recorded clip instead)")

        def grab() -> bytes | None:
            ok, bgr = capture.read()
            return encode_jpeg(bgr, width=width, quality=quality, bgr=True) if ok else None

        try:
            next_at = time.monotonic()
            while True:
                if await self.camera_hold.wait(period):
                    next_at = time.monotonic()
                jpeg = await asyncio.to_thread(grab)
                if jpeg is None:
                    raise ClientError(f"camera {index} stopped delivering frames")
                await self.send_camera_jpeg(jpeg)
                next_at = max(next_at + period, time.monotonic() - period)
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            capture.release()
