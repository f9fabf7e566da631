"""One live avatar conversation, with no transport: conditions in, A/V frames out.

Like LiveKit's VideoGenerator, this knows nothing of pipecat or sockets, so the
pipeline node, `converse`, the benches and the tests all drive the same code:

    session = AvatarSession(portrait, checkpoint, output_rate=22050)
    session.push_user_audio(mic_pcm16k)           # as it arrives, any chunking
    session.push_user_motion(motion_or_None)      # latest camera measurement
    session.push_avatar_audio(tts_pcm, 22050)     # the reply, faster than real time
    for planned in session.next_block():          # 5 frames = 200 ms, every 200 ms
        frame = session.render(planned)           # RGB + JPEG + its exact audio chunk
    played_secs = session.clear()                 # barge-in

The block clock (DESIGN.md, "The data path"). Frame k has pts k * 40 ms; the
caller asks for the next block when it is due and plays each frame's audio with
its image, so a frame and its audio are never separated. Always on: with no
reply queued the avatar's own audio is silence and the face idles and listens.

Why the reply costs no look-ahead wait. The generator looks `lookahead` frames
into its conditions. The user's conditions only exist in real time, so the
user's audio and motion are consumed a block at a time and placed after the
previous block's look-ahead (the avatar sees the user about 7-9 frames late,
the reaction latency). The reply's audio arrives from TTS much faster than real
time, so it is placed at the very next frame to be generated: look-ahead rows
stay provisional (`StreamingGenerator.step_window`) and a reply that arrives
between two blocks simply replaces the silence the previous block peeked at.

Why a live reply's first audio waits for no generator step. `next_block` is
`open_block` (the block's reply audio and user rows taken) then `step_block` (the
generator). A live clock opens with `lead_in=True`: a block that opens a reply then
comes with its first frame planned at once, the last motion held and the jaw opened
by that frame's own audio, which goes out while the block's step runs. Where that
audio asks no more jaw than the last image drawn shows (piper's first 40 ms is nearly
always its lead silence; `LEAD_IN_JAW_SLACK`), the lead-in is that image's own frame
again (`OpenedBlock.lead_in_shown`): the picture the face shows (or was about to show)
goes on for those 40 ms, so the reply's first audio waits for no drawing either.
Where the face drew the image it holds again with the jaw opened while the reply was
thought up (`draw_hand_over`), the whole block is planned so (`OpenedBlock.hand_over`,
avatar/live/hand_over.py): its first 200 ms wait for no step and no drawing. Its
frames are shown by `show_drawn`, which never draws and holds the session's lock, so
a live clock shows them from its own thread while the block's step (and the next
block's) runs on the worker.

The face can move to another backend while the session runs (`start_face` in any
thread, then `move_face` between two jobs): a face started in this process while
the worker processes start is handed to a worker, mid-reply if need be. The reply
queue, the filters and the clock go on; the new generator starts from the
portrait's reference, and its motion glides from the last face's over
GLIDE_FRAMES, so the picture does not jump.

`clear()` drops the queued reply (audio and the frames it would have driven)
but keeps the generator's KV cache and filters, so motion goes on with no jump.
Pushes come from the event loop while `next_block`/`render` run in a worker
thread; a lock guards the queues, and a block computed across a `clear()` is
emitted silent so no stale reply audio leaves after the barge-in.

The user's rows wait in a `UserInput` (avatar/live/user_input.py), the reply in a
`ReplyQueue` (avatar/live/reply_queue.py); the options and frames are in
avatar/live/session_types.py. This module plans the blocks and draws the frames.

The heavy steps (the generator, the renderer, the camera analysis) go to a
`FaceBackend` (avatar/live/face.py): in this thread (`LocalFace`, the default)
or in a worker process of their own (`WorkerFace`, avatar/live/face_pool.py,
what servers use). Everything else here is the same either way.

A portrait's own render calibration. With the server's `PortraitCalibrator`,
every portrait the session shows is queued for a background fit and rendered
with the shipped table meanwhile; `render` checks before each drawn frame and
switches to the portrait's own table from the frame after it lands.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from avatar.audio_features import SAMPLE_RATE, SAMPLES_PER_FRAME, CausalAudioFeaturizer
from avatar.generator.checkpoint import GeneratorCheckpoint
from avatar.live.face import FaceBackend, FaceShape, LocalFace
from avatar.live.gaze import GazeFollower
from avatar.live.hand_over import HandOver, Mouths, plan_hand_over
from avatar.live.late_mouths import LateMouths
from avatar.live.listening import ListeningCues
from avatar.live.reply_queue import ReplyBlock, ReplyQueue
from avatar.live.session_types import (
    FPS,
    FRAME_US,
    AvatarFrame,
    PlannedFrame,
    SessionOptions,
    SessionStats,
)
from avatar.live.user_input import UserInput, UserRow, checked_user_motion
from avatar.live.video_codec import VideoRequest
from avatar.live.voice_jaw import VoiceJaw
from avatar.motion import column_index
from avatar.motion_filter import MotionFilter
from avatar.portrait import Portrait
from avatar.render import Calibration
from avatar.render.portrait_calibration import calibration_for, portrait_key

if TYPE_CHECKING:
    from avatar.live.calibrator import PortraitCalibrator

#: after `move_face`, frames over which the motion glides from the last face's to the
#: new one's (its generator restarts from the portrait's reference): 0.4 s hides the
#: step without holding the new face's lips back for long
GLIDE_FRAMES = 10
#: a reply's lead-in shows the last image drawn when its voice asks for a jaw at most this
#: much wider than that image's (jawOpen): a tenth of a syllable's at the voice's level
#: (JAW_AT_LEVEL 0.2), less than the listening face's own jaw moves between frames (the
#: shipped generator's idle frames span about -0.02..0.03)
LEAD_IN_JAW_SLACK = 0.03
_JAW = column_index("jawOpen")


@dataclass(frozen=True)
class StartedFace:
    """A face backend started on what a session showed when `start_face` ran."""

    face: FaceBackend
    shape: FaceShape
    portrait: Portrait
    size: int


def _fading_shift(motion: np.ndarray, offset: np.ndarray, left: int) -> tuple[np.ndarray, int]:
    """`motion` shifted by `offset`, the shift fading linearly to nothing over the
    `left` frames still to glide (of GLIDE_FRAMES); and the frames left after it."""
    fade = np.clip(np.arange(left, left - len(motion), -1) / GLIDE_FRAMES, 0.0, 1.0)
    return motion + fade[:, None].astype(np.float32) * offset, left - len(motion)


@dataclass
class OpenedBlock:
    """A block whose inputs were taken (`AvatarSession.open_block`) and whose motion is
    not generated yet (`step_block`)."""

    first_index: int
    reply: ReplyBlock
    user_rows: list[UserRow]
    #: user-audio frames heard when the block was opened (reaction latency)
    user_frames: int
    #: the block's first frame, planned at once where it opens a reply (else None)
    lead_in: PlannedFrame | None = None
    #: the lead-in's picture is the last image drawn (its motion is that frame's, the
    #: jaw its audio asks for is no wider): `render(lead_in, repeat=True)` shows it
    lead_in_shown: bool = False
    #: every frame of the block, planned at once from mouths drawn ahead (hand_over.py;
    #: the lead-in is its first): the step only moves the generator on (else None)
    hand_over: list[PlannedFrame] | None = None


class AvatarSession:
    """The live avatar of one conversation (see the module docstring)."""

    def __init__(self, portrait: Portrait, checkpoint: GeneratorCheckpoint | None, *,
                 output_rate: int, options: SessionOptions | None = None,
                 calibrator: PortraitCalibrator | None = None,
                 face: FaceBackend | None = None) -> None:
        """`calibrator`: the server's background fits (avatar/live/calibrator.py); each
        portrait shown is queued, and its own table is used from the frame after it
        lands. None: the cached table or the shipped one, as the renderer finds it.

        `face`: where the generator, renderer and camera analysis run (a `WorkerFace`
        for a worker process); None: a `LocalFace` on `checkpoint`, in this thread."""
        self.options = options or SessionOptions()
        if not 256 <= self.options.size <= 512:
            raise ValueError(f"video size must be 256..512, got {self.options.size}")
        if output_rate % FPS:
            raise ValueError(f"output rate {output_rate} Hz is not a whole number of "
                             f"samples per {1000 // FPS} ms frame")
        self.output_rate = output_rate
        self.samples_per_frame = output_rate // FPS
        if face is None:
            if checkpoint is None:
                raise ValueError("an AvatarSession needs a checkpoint or a face backend")
            face = LocalFace(checkpoint)
        self._face: FaceBackend = face
        self._calibrator = calibrator
        #: the portrait's key while its own table may still land (render() asks)
        self._awaiting_table: str | None = None
        #: the render table the face was given (None: the one it finds itself)
        self._table: Calibration | None = None
        #: the face's last generated frame (58,), and after `move_face` the offset from
        #: the new face's motion to it with the frames it still fades over
        self._last_generated: np.ndarray | None = None
        self._glide: tuple[np.ndarray | None, int] | None = None
        self._lock = threading.Lock()
        self.stats = SessionStats()
        self._reply = ReplyQueue(output_rate, self.samples_per_frame, self.stats)
        self._user = UserInput(self.stats, self.options.motion_hold_secs,
                               self.options.max_user_backlog)
        self._frame_index = 0
        self._reply_arrived_at = 0.0
        #: called (in the pushing thread) when a reply's first audio is queued: a
        #: clock waiting out an idle frame's slot can give the slot to the reply
        self.reply_listener: Callable[[], None] | None = None
        self._last_image: np.ndarray | None = None
        self._last_jpeg: bytes | None = None
        #: the motion of the last image drawn with pixels (what a reply's lead-in may
        #: show again, `open_block`); None: none to show
        self._shown: np.ndarray | None = None
        #: the shown image drawn again with the jaw opened (`draw_hand_over`)
        self._mouths: Mouths | None = None
        #: a hand-over block's pictures by frame index, until rendered
        self._hand_over_pictures: dict[int, tuple[np.ndarray, bytes | None]] = {}
        self._cues = ListeningCues()
        self._voice_jaw = VoiceJaw(self.options.voice_jaw, output_rate)
        self._gaze = GazeFollower()
        self.set_portrait(portrait)

    # ------------------------------------------------------------------ portrait
    def set_portrait(self, portrait: Portrait) -> None:
        """Animate `portrait` from the next block on (a new identity: the motion
        state restarts from its reference; the reply queue is kept).

        With a calibrator, a portrait without its own table is queued for a fit
        first, then the renderer is built with whatever table exists now: one
        that lands in between is read from disk, a later one by `render`."""
        awaiting, table = None, None
        if self._calibrator is not None:
            if self._calibrator.request(portrait):
                awaiting = portrait_key(portrait)
            table = calibration_for(portrait, self._calibrator.folder)
        shape = self._face.start(portrait, self.options.size, table, self.options.seed)
        with self._lock:
            self.portrait = portrait
            self._awaiting_table = awaiting
            self._table = table
            self._glide = None  # a new identity starts from its own reference
            self._hand_over_glide: tuple[np.ndarray, int] | None = None
            self._shown = None  # its last image is of the old portrait
            self._hand_over_pictures = {}
            self._late_mouths: LateMouths | None = None
            self._last_planned: PlannedFrame | None = None  # nothing of the last one held
            self._shape: FaceShape = shape
            self._filter = MotionFilter(fps=FPS)
            self._avatar_in = CausalAudioFeaturizer()
            lookahead = shape.lookahead
            self._user_window: list[UserRow] = [
                (self._user.silence, portrait.reference_motion, False)] * lookahead
            self._user.set_reference(portrait.reference_motion.astype(np.float32))

    def set_size(self, size: int) -> None:
        """Send frames of `size` px from the next drawn frame on (the quality
        governor's step; audio and motion are untouched).

        A renderer per native size is built once and kept, so stepping back and
        forth costs one renderer build (run it in the worker thread, like render).
        """
        if not 256 <= size <= 512:
            raise ValueError(f"video size must be 256..512, got {size}")
        self._face.set_size(size)
        with self._lock:
            self.options = replace(self.options, size=size)
            self._last_image = self._last_jpeg = None  # never repeat an image of the old size
            self._shown = None
            self._hand_over_pictures = {}
            self._late_mouths = None

    def start_face(self, face: FaceBackend) -> StartedFace:
        """Start `face` on this session's portrait, size and render table, in any thread,
        while the current face goes on drawing (for `move_face`)."""
        with self._lock:
            portrait, size, table = self.portrait, self.options.size, self._table
        shape = face.start(portrait, size, table, self.options.seed)
        return StartedFace(face, shape, portrait, size)

    def move_face(self, started: StartedFace) -> FaceBackend | None:
        """Go on with `started` from the next block; returns the face it replaces (the
        caller closes it), or None when the portrait changed since `start_face` (start
        it again). Call it in the worker thread, like `render`.

        The reply queue, the filters and the listening state are kept; the generator's
        memory restarts from the portrait's reference, and the motion glides from the
        last face's over GLIDE_FRAMES."""
        face = started.face
        if started.portrait is not self.portrait:
            return None
        if started.size != self.options.size:
            face.set_size(self.options.size)
        old, self._face = self._face, face
        with self._lock:
            self._shape = started.shape
            self._glide = (None, GLIDE_FRAMES) if self._last_generated is not None else None
        return old

    @property
    def block_frames(self) -> int:
        """Frames per generated block (5 = 200 ms)."""
        return self._shape.block_frames

    # -------------------------------------------------------------------- inputs
    def push_avatar_audio(self, pcm: bytes | np.ndarray, sample_rate: int) -> None:
        """Queue reply audio (PCM s16le bytes or an array) at any sample rate."""
        audio = self._reply.at_output_rate(pcm, sample_rate)
        with self._lock:
            first = not self._reply.playing  # a reply's (or a resumed one's) first audio
            if first:
                self._reply_arrived_at = time.monotonic()
            self._reply.append(audio)
        listener = self.reply_listener
        if first and listener is not None:
            listener()

    def end_of_reply(self) -> None:
        """The reply's audio is complete: flush the resampler's tail into the queue."""
        with self._lock:
            self._reply.flush()

    def push_user_audio(self, pcm: bytes | np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
        """The user's microphone, as it arrives (any chunking)."""
        rows = self._user.featurize(pcm, sample_rate)
        if not len(rows):
            return
        with self._lock:
            self._user.queue(rows)

    def push_user_motion(self, motion: np.ndarray | None) -> None:
        """The user's latest face measurement (58,), or None: no face in view."""
        motion = checked_user_motion(motion)
        with self._lock:
            self._user.set_motion(motion)

    def set_user_speaking(self, speaking: bool) -> None:
        """The user started (VAD) or stopped speaking: drives the listening cues."""
        with self._lock:
            self._cues.set_user_speaking(speaking)

    def welcome_visitor(self) -> None:
        """A kiosk visitor arrived: a welcoming smile over the next seconds."""
        with self._lock:
            self._cues.welcome()

    # ------------------------------------------------------------------- control
    def pause_reply(self) -> None:
        """The user made a sound over the reply: stop it at the next frame, keep the rest.

        Frames already planned but not yet rendered give their reply audio back
        to the queue and go out silent (on the last image), so the reply resumes
        at the first sample not played. Until `resume_reply` (or `clear`) the
        blocks carry no reply audio: the face listens.
        """
        with self._lock:
            self._reply.pause()

    def resume_reply(self) -> None:
        """It was a backchannel or a noise: the paused reply plays on."""
        with self._lock:
            self._reply.paused = False

    @property
    def reply_paused(self) -> bool:
        """True between `pause_reply` and `resume_reply`/`clear`."""
        with self._lock:
            return self._reply.paused

    def clear(self) -> float:
        """Barge-in: drop the queued reply; returns the seconds of it that were output
        (rendered for sending: frames generated but not yet rendered do not count)."""
        with self._lock:
            return self._reply.clear()

    def take_reply_audio(self) -> bytes:
        """The queued reply audio not yet planned into frames (PCM s16le mono at the
        output rate), removed from the queue: when the face fails, the voice plays
        it without the face rather than losing it. Counts as played."""
        with self._lock:
            return self._reply.take_all()

    @property
    def generation(self) -> int:
        """Bumped by `clear()` and `pause_reply()`: a frame planned under an older
        generation must not play its reply audio."""
        with self._lock:
            return self._reply.generation

    @property
    def queued_total(self) -> int:
        """Reply samples queued so far (session-cumulative); a text frame that
        arrives now belongs to the audio up to this position."""
        with self._lock:
            return self._reply.queued_total

    @property
    def reply_pending_secs(self) -> float:
        """Reply audio queued and not yet output."""
        with self._lock:
            return self._reply.pending_secs

    @property
    def reply_arrived_at(self) -> float:
        """When the current reply's first audio was queued (monotonic s; 0: none yet):
        the instant its first frames are measured from (pipelines/face/first_frames.py)."""
        with self._lock:
            return self._reply_arrived_at

    @property
    def reply_playing(self) -> bool:
        """The avatar speaks: reply audio is queued or in the block planned last, and
        the reply is not paused (the user spoke over it). The camera is analysed at
        a lower rate then (pipelines/face/rate_gate.py `CameraGate`)."""
        with self._lock:
            return self._reply.playing

    # ---------------------------------------------------------------- generation
    def next_block(self) -> list[PlannedFrame]:
        """Generate the next 200 ms block: motion plus each frame's audio chunk."""
        return self.step_block(self.open_block())

    def open_block(self, lead_in: bool = False) -> OpenedBlock:
        """The next block's inputs taken (its reply audio and the user's rows), with no
        generator step: cheap, so it may run in the caller's thread. `step_block` then
        generates its motion.

        With `lead_in`, a block whose first frame opens a reply (reply audio after a
        silent frame) comes with that frame planned at once (`OpenedBlock.lead_in`):
        the last frame's motion held, the jaw opened by the frame's own audio. Its
        audio need not wait for the generator's step, so a live face's reply is heard
        as soon as it comes; the step then generates the block's other frames
        (`step_block` returns the lead-in as frame 0, unchanged). Without it (what
        `next_block` does) every frame is the generator's.

        Where the frame's audio asks no more jaw than the last image drawn shows (within
        `LEAD_IN_JAW_SLACK`), the lead-in takes that image's motion instead
        (`lead_in_shown`): its picture is that image, drawn already (the one the face
        shows, held while the reply was thought up, or drawn for the slot the reply
        took)."""
        n, spf = self.block_frames, self.samples_per_frame
        with self._lock:
            reply = self._reply.take_block(n, self._shape.lookahead, self._frame_index)
            new_rows = self._user.take_rows(n)
            heard = self._user.heard
            first, last, shown = self._frame_index, self._last_planned, self._shown
            mouths = self._mouths
            self._frame_index += n
        block = OpenedBlock(first, reply, new_rows, heard)
        real = len(reply.out) // 2
        if lead_in and real and last is not None and not last.speaking:
            if mouths is not None and mouths.pose is shown and mouths.drawn:
                self._open_hand_over(block, mouths)
                return block
            chunk = _pad_bytes(reply.out[:spf * 2], spf * 2)
            pcm = np.frombuffer(chunk, np.int16)[None]
            opening = float(self._voice_jaw.opening(pcm)[0])
            if shown is not None and opening <= float(shown[_JAW]) + LEAD_IN_JAW_SLACK:
                # the voice opens the jaw no wider than the last image shows it: the
                # lead-in is that image's frame again, nothing new to draw
                motion, block.lead_in_shown = shown, True
            else:
                motion = last.motion.copy()
                motion[_JAW] = max(float(motion[_JAW]), opening)
            block.lead_in = PlannedFrame(
                index=first, pts_us=first * FRAME_US, audio=chunk, motion=motion,
                speaking=True, reply_position=reply.position - max(0, real - spf),
                user_frames=heard, generation=reply.generation,
                reply_samples=min(spf, real))
        return block

    def _open_hand_over(self, block: OpenedBlock, mouths: Mouths) -> None:
        """Plan every frame of `block`, a reply's first, from the mouths drawn ahead
        (hand_over.py): each shows the picture whose jaw is nearest its own audio's."""
        n, spf = self.block_frames, self.samples_per_frame
        reply = block.reply
        audio = _pad_bytes(reply.out, n * spf * 2)
        openings = self._voice_jaw.opening(np.frombuffer(audio, np.int16).reshape(n, spf))
        planned: HandOver = plan_hand_over(
            mouths, first_index=block.first_index, audio=audio, real=len(reply.out) // 2,
            position=reply.position, openings=openings, samples_per_frame=spf,
            user_frames=block.user_frames, generation=reply.generation)
        block.hand_over = planned.frames
        block.lead_in, block.lead_in_shown = planned.frames[0], planned.first_shown
        after = block.first_index + n
        with self._lock:
            self._hand_over_pictures = planned.pictures
            # the frames gliding from the held pose after it may show these mouths late
            self._late_mouths = LateMouths(mouths, reply.generation, after,
                                           after + GLIDE_FRAMES, self.options.size)
        self.stats.hand_over_blocks += 1

    def hand_over_due(self) -> bool:
        """A mouth of the image the face shows is still to draw (`draw_hand_over`)."""
        with self._lock:
            shown, mouths = self._shown, self._mouths
            if shown is None or self._last_image is None:
                return False
            return (mouths is None or mouths.pose is not shown
                    or mouths.next_jaw(LEAD_IN_JAW_SLACK) is not None)

    def draw_hand_over(self) -> None:
        """Draw the image the face shows once more with its jaw opened to the next level
        (hand_over.py `HAND_OVER_JAWS`), for a reply's hand-over block: one drawing, so a
        reply that comes meanwhile waits for one at most. Run it where `render` runs,
        while the face holds its image (a reply is thought up); a newer image drawn
        since makes the mouths of the older one useless."""
        with self._lock:
            shown, image, jpeg = self._shown, self._last_image, self._last_jpeg
            if shown is None or image is None:
                return
            mouths = self._mouths
            if mouths is None or mouths.pose is not shown:
                mouths = self._mouths = Mouths(shown, image, jpeg)
            jaw = mouths.next_jaw(LEAD_IN_JAW_SLACK)
            size, quality = self.options.size, self.options.jpeg_quality
        if jaw is None:
            return
        drawn = self._face.draw(mouths.motion(jaw), size, quality)
        with self._lock:
            if self._mouths is mouths and self._shown is shown and self.options.size == size:
                mouths.drawn.append((jaw, drawn.image, drawn.jpeg))

    def step_block(self, block: OpenedBlock) -> list[PlannedFrame]:
        """The generator's step of an opened block: its frames, motion and audio. A
        block opened with a lead-in frame returns it unchanged as frame 0 (it may be
        out already); the generated motion goes on from frame 1."""
        started = time.perf_counter()  # the step's own time: a lead-in's wait is not the block's
        n = self.block_frames
        lookahead = self._shape.lookahead
        spf = self.samples_per_frame
        reply = block.reply
        with self._lock:
            motion_filter = self._filter
        generation, out, position = reply.generation, reply.out, reply.position
        real = len(out) // 2
        window_16k = _pad(reply.window_16k, (n + lookahead) * SAMPLES_PER_FRAME)
        # the block's own frames are the played samples (the window's first n frames,
        # `ReplyQueue.take_block`): featurized once, into the stream's state; a copy of
        # that state then reads the lookahead frames ahead. The same rows as the whole
        # window pushed into a copy (streamed == offline, bit for bit), n frames fewer.
        avatar = self._avatar_in.push(window_16k[:n * SAMPLES_PER_FRAME])
        if lookahead:
            ahead = copy.deepcopy(self._avatar_in).push(window_16k[n * SAMPLES_PER_FRAME:])
            avatar = np.concatenate([avatar, ahead])
        rows = self._user_window + block.user_rows
        self._user_window = rows[-lookahead:]
        user_audio = np.stack([r[0] for r in rows]).astype(np.float32)
        user_motion = np.stack([r[1] for r in rows]).astype(np.float32)
        present = np.array([r[2] for r in rows], dtype=bool)
        motion = self._glided(self._face.step(avatar, user_audio, user_motion, present))
        voiced = np.arange(n) * spf < real  # frames that carry the reply's audio
        if voiced.any() and self._voice_jaw.weight > 0:
            pcm = np.frombuffer(_pad_bytes(out, n * spf * 2), np.int16).reshape(n, spf)
            motion = motion.copy()
            motion[:, _JAW] = self._voice_jaw(motion[:, _JAW], pcm, voiced)
        if self.options.listening_cues:
            with self._lock:
                motion = motion + self._cues.offsets(n)
        if self.options.mutual_gaze:
            with self._lock:
                visitor, seen = self._user.current_motion()
                self._gaze.set_visitor(visitor if seen else None)
                motion = motion + self._gaze.offsets(n)
        if self.options.smooth:
            motion = motion_filter(motion, voiced)  # the lighter speech filter there
        motion = self._from_hand_over(motion)
        with self._lock:
            stale = generation != self._reply.generation
        out = _pad_bytes(b"" if stale else out, n * spf * 2)
        frames = []
        for k in range(n):
            index = block.first_index + k
            chunk = out[k * spf * 2:(k + 1) * spf * 2]
            speaking = not stale and real > k * spf
            frames.append(PlannedFrame(
                index=index, pts_us=index * FRAME_US, audio=chunk,
                motion=motion[k], speaking=speaking,
                reply_position=position - max(0, real - (k + 1) * spf),
                user_frames=block.user_frames, generation=generation,
                reply_samples=0 if stale else min(spf, max(0, real - k * spf))))
        if block.hand_over is not None:
            # the block went out from the held pose: the next blocks glide from it
            offset = (block.hand_over[-1].motion - frames[-1].motion).astype(np.float32)
            offset[_JAW] = 0.0
            self._hand_over_glide = (offset, GLIDE_FRAMES)
            frames = list(block.hand_over)
        elif block.lead_in is not None:
            frames[0] = block.lead_in
        self._last_planned = frames[-1]
        self.stats.blocks += 1
        self.stats.frames += n
        self.stats.speaking_frames += sum(f.speaking for f in frames)
        self.stats.block_ms.append((time.perf_counter() - started) * 1000.0)
        return frames

    def held_block(self) -> list[PlannedFrame] | None:
        """The next 200 ms block without a generator step: the last frame's motion held,
        silence, the user's audio taken as a block takes it. For a face nobody is there
        to watch (a kiosk's empty hall steps one block in two). None where a block must
        be generated: none yet, or a reply's audio is queued, plays or just played."""
        n, spf = self.block_frames, self.samples_per_frame
        with self._lock:
            last = self._last_planned
            if last is None or last.speaking or self._reply.pending_secs > 0:
                return None
            rows = self._user_window + self._user.take_rows(n)
            self._user_window = rows[-self._shape.lookahead:]
            first, self._frame_index = self._frame_index, self._frame_index + n
            heard, generation = self._user.heard, self._reply.generation
        silence = bytes(spf * 2)
        self.stats.held_blocks += 1
        self.stats.frames += n
        return [replace(last, index=index, pts_us=index * FRAME_US, audio=silence,
                        user_frames=heard, generation=generation, reply_samples=0)
                for index in range(first, first + n)]

    def _glided(self, motion: np.ndarray) -> np.ndarray:
        """The face's motion, after a `move_face` shifted toward where the last face
        left off, the shift fading linearly to nothing over GLIDE_FRAMES."""
        glide = self._glide
        if glide is not None and self._last_generated is not None:
            offset, left = glide
            if offset is None:  # the new face's first block: measure the step
                offset = self._last_generated - motion[0]
            motion, left = _fading_shift(motion, offset, left)
            self._glide = (offset, left) if left > 0 else None
        self._last_generated = motion[-1].copy()
        return motion

    def _from_hand_over(self, motion: np.ndarray) -> np.ndarray:
        """A block's final motion after a hand-over block, shifted toward the held pose
        that block showed, the shift fading linearly to nothing over GLIDE_FRAMES: its
        first frame is one ordinary step from the hand-over's last (after the filter,
        whose state stays the generator's)."""
        glide = self._hand_over_glide
        if glide is None:
            return motion
        offset, left = glide
        motion, left = _fading_shift(motion, offset, left)
        self._hand_over_glide = (offset, left) if left > 0 else None
        return motion

    # ----------------------------------------------------------------- rendering
    def render(self, frame: PlannedFrame, repeat: bool = False,
               video: VideoRequest | None = None) -> AvatarFrame:
        """Draw `frame` (or, with `repeat` and an earlier image, reuse that image
        to save CPU: video may repeat under load, audio never breaks). A frame
        generated before the last `clear()` goes out silent on the last image.
        `video`: also encode the drawn image as the next frame of the session's VP8
        stream, where the face runs (a repeat is not encoded again)."""
        if video is None and (shown := self.show_drawn(frame)) is not None:
            return shown  # a hand-over frame: drawn already
        started = time.perf_counter()
        with self._lock:
            stale = self._reply.rendered(frame.index, frame.generation, frame.reply_samples)
            self._hand_over_pictures.pop(frame.index, None)
        if stale:  # planned before a barge-in or a pause: neither its audio nor its lips
            # go out, and it does not count as played (reply_position 0)
            frame = replace(frame, audio=bytes(len(frame.audio)), speaking=False,
                            reply_position=0)
            repeat = True
        if repeat and self._last_image is not None:
            return AvatarFrame(frame.index, frame.pts_us, frame.audio, self._last_image,
                               self._last_jpeg, frame.motion, frame.speaking,
                               frame.reply_position, frame.user_frames, repeated=True)
        self._take_landed_table()
        options = self.options
        drawn = self._face.draw(frame.motion, options.size, options.jpeg_quality, video)
        image, jpeg = drawn.image, drawn.jpeg
        self._last_image, self._last_jpeg = image, jpeg
        # a face its client draws has no pixels here: its lead-in is never "shown"
        self._shown = frame.motion if image.size else None
        self.stats.render_ms.append((time.perf_counter() - started) * 1000.0)
        return AvatarFrame(frame.index, frame.pts_us, frame.audio, image, jpeg, frame.motion,
                           frame.speaking, frame.reply_position, frame.user_frames,
                           video=drawn.video)

    def show_drawn(self, frame: PlannedFrame) -> AvatarFrame | None:
        """`frame` shown from the picture drawn ahead for it (a hand-over block's), as
        `render` shows it: never a drawing, and all under the session's lock, so the
        caller's thread may show it while a job (the block's generator step) runs on
        the worker. None: `frame` has no such picture (`render` draws it)."""
        with self._lock:
            picture = self._hand_over_pictures.pop(frame.index, None)
            if picture is None:
                return None
            image, jpeg = picture
            return self._show(frame, image, jpeg, frame.motion)

    def show_mouth(self, frame: PlannedFrame) -> AvatarFrame | None:
        """`frame`, one of those gliding from a reply's hand-over block, shown from the
        mouth of that block's held image whose jaw is nearest its own (late_mouths.py):
        never a drawing, under the session's lock, as `show_drawn`. For a frame whose
        drawing would come too late. None: no mouths for `frame` (`render` draws it)."""
        with self._lock:
            late = self._late_mouths
            if late is None or not late.covers(frame, self.options.size):
                return None
            motion, image, jpeg = late.picture(frame)
            self._hand_over_pictures.pop(frame.index, None)
            self.stats.late_mouths += 1
            return self._show(frame, image, jpeg, motion)

    def _show(self, frame: PlannedFrame, image: np.ndarray, jpeg: bytes | None,
              motion: np.ndarray) -> AvatarFrame:
        """`frame` shown with `image` (`motion`: what that image shows), drawn already;
        under the session's lock. A frame planned before a barge-in or a pause goes out
        silent on the last image."""
        if self._reply.rendered(frame.index, frame.generation, frame.reply_samples):
            # planned before a barge-in or a pause: silent, on the last image
            if self._last_image is not None:
                image, jpeg = self._last_image, self._last_jpeg
            frame = replace(frame, audio=bytes(len(frame.audio)), speaking=False,
                            reply_position=0)
            return AvatarFrame(frame.index, frame.pts_us, frame.audio, image, jpeg,
                               frame.motion, False, 0, frame.user_frames,
                               repeated=image is self._last_image)
        repeated = image is self._last_image
        self._last_image, self._last_jpeg, self._shown = image, jpeg, motion
        return AvatarFrame(frame.index, frame.pts_us, frame.audio, image, jpeg,
                           motion, frame.speaking, frame.reply_position,
                           frame.user_frames, repeated=repeated)

    def _take_landed_table(self) -> None:
        """Switch to the portrait's own table if it landed since the last frame: the
        swap happens here, between two frames, and never waits."""
        with self._lock:
            key = self._awaiting_table
        if key is None or self._calibrator is None:
            return
        if self._calibrator.status(key) in ("queued", "fitting"):
            return
        table = self._calibrator.landed(key)  # set before the status leaves "fitting"
        if table is not None:
            self._face.set_calibration(table)
            self._table = table
        with self._lock:  # landed, failed or not needed: nothing more to wait for
            if self._awaiting_table == key:
                self._awaiting_table = None

    # ------------------------------------------------------------------- camera
    def analyze_camera_jpeg(self, data: bytes, timestamp_ms: int) -> np.ndarray | None:
        """The user's face motion in a JPEG camera frame (None: no face), measured
        where the face runs. Call it in the worker thread, like `render`.

        Raises:
            BadCameraFrameError: the bytes are not a decodable image.
        """
        return self._face.analyze_jpeg(data, timestamp_ms)

    def analyze_camera_rgb(self, rgb: np.ndarray, timestamp_ms: int) -> np.ndarray | None:
        """As `analyze_camera_jpeg`, for a decoded RGB frame."""
        return self._face.analyze_rgb(rgb, timestamp_ms)

    @property
    def face(self) -> FaceBackend:
        """Where the generator, the renderer and the camera analysis run."""
        return self._face

    def close(self) -> None:
        """Free the face (its worker goes back to its pool); call once the worker
        thread is idle. Safe twice."""
        self._face.close()

    @property
    def calibration(self) -> Calibration:
        """The render calibration in use (the portrait's own, or the shipped table)."""
        return self._face.calibration()

    @property
    def awaiting_calibration(self) -> bool:
        """True while the portrait's own table is being fitted (the shipped one is used)."""
        with self._lock:
            return self._awaiting_table is not None


def _pad(audio: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad (or cut) float audio to `length` samples."""
    if len(audio) >= length:
        return audio[:length]
    return np.concatenate([audio, np.zeros(length - len(audio), np.float32)])


def _pad_bytes(pcm: bytes, length: int) -> bytes:
    """Zero-pad PCM bytes to `length`."""
    return pcm + bytes(length - len(pcm)) if len(pcm) < length else pcm[:length]


__all__ = ["GLIDE_FRAMES", "LEAD_IN_JAW_SLACK", "AvatarSession", "OpenedBlock", "StartedFace"]
