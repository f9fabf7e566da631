"""Run the reactivity measures (avatar/reactivity.py) over generator variants.

The held-out real users: every analysed face track in a folder
(`cache/real_faces/test`, clips kept out of all training and tuning), each
paired with real recorded speech (read speech, a lecture, a meeting) joined with
1.5 s pauses, so the user talks, pauses and smiles while the avatar listens. The
face and the voice are different people: no packaged video carries its own
speech (docs/REACTIVITY.md).

Variants: shipped checkpoints through the streaming engine's exact loop
(`sample_stream`), the same with user motion dropped (the ablation), and the
rule baseline. Output: one metrics dict per variant, the lag curves and pulse
responses for plots.
"""

from __future__ import annotations

import wave
from pathlib import Path

import cv2
import numpy as np
import torch

from avatar.audio_features import FPS, SAMPLE_RATE, SAMPLES_PER_FRAME
from avatar.baseline import RuleBaseline
from avatar.corpus.signals import frame_energy_db, vad
from avatar.evaluate import Session
from avatar.generator.checkpoint import load_generator
from avatar.generator.sampler import DEFAULT_ANCHOR, Guidance, sample_stream
from avatar.media_utils import resample_track
from avatar.motion import MotionTrack
from avatar.motion_filter import MotionFilter
from avatar.portrait import Portrait
from avatar.reactivity import (
    ListeningSession,
    Variant,
    lag_curve,
    listening_session,
    measure,
    nod_curve,
    smile_pulse_response,
)
from avatar.render import PortraitRenderer
from avatar.retarget import transfer_frame
from avatar.video_io import VideoWriter, iter_frames, probe_video

PAUSE_S = 1.5


def read_speech(paths: list[Path]) -> np.ndarray:
    """16 kHz mono 16-bit WAVs joined with PAUSE_S of silence after each."""
    parts: list[np.ndarray] = []
    for path in paths:
        with wave.open(str(path), "rb") as wav:
            if wav.getframerate() != SAMPLE_RATE or wav.getnchannels() != 1:
                raise ValueError(f"{path}: expected 16 kHz mono WAV")
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        parts += [pcm.astype(np.float32) / 32768.0, np.zeros(int(PAUSE_S * SAMPLE_RATE),
                                                              np.float32)]
    if not parts:
        raise ValueError("no speech clips given")
    return np.concatenate(parts)


def load_listening_sessions(face_dir: str | Path, speech: list[Path],
                            reference: np.ndarray) -> list[ListeningSession]:
    """One session per real face track in `face_dir`, each with the speech
    stream started at a different clip (so sessions do not share timing)."""
    tracks = sorted(Path(face_dir).glob("*.npz"))
    if not tracks:
        raise FileNotFoundError(f"no real face tracks (*.npz) in {face_dir}")
    sessions = []
    for k, path in enumerate(tracks):
        track = MotionTrack.load(path)
        if track.fps != FPS:
            track = resample_track(track, int(len(track) * FPS / track.fps), FPS)
        order = speech[k % len(speech):] + speech[:k % len(speech)]
        sessions.append(listening_session(path.stem, track.data, read_speech(order),
                                          reference))
    return sessions


def generator_variant(path: str | Path, nfe: int | None = None,
                      guidance: Guidance | None = None, use_user_motion: bool = True,
                      seed: int = 0, anchor: float = DEFAULT_ANCHOR) -> Variant:
    """A checkpoint as a variant, sampled as the live engine samples it (NFE and
    guidance from its metadata unless given); output aligned to input frames."""
    ckpt = load_generator(path)
    model = ckpt.model
    steps = nfe if nfe is not None else ckpt.nfe
    guide = guidance if guidance is not None or nfe is not None else ckpt.guidance
    n, lookahead = model.cfg.block_frames, model.cfg.lookahead

    def run(session: ListeningSession) -> np.ndarray:
        frames = len(session.user_motion)
        T = frames // n * n

        def t(x: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(x[:T], np.float32))[None]

        with torch.inference_mode():
            out = sample_stream(model, t(session.avatar_audio), t(session.user_audio),
                                t(session.user_motion),
                                torch.from_numpy(session.reference)[None], steps, guide,
                                torch.Generator().manual_seed(seed), use_user_motion,
                                anchor=anchor)[0].numpy()
        motion = out[lookahead:]  # output frame j shows input frame j - lookahead
        pad = np.repeat(motion[-1:], frames - len(motion), axis=0)
        return np.concatenate([motion, pad]).astype(np.float32)

    return run


def rules_variant(session: ListeningSession) -> np.ndarray:
    """The rule baseline (the corpus's listener rules, driven live)."""
    frames = len(session.user_motion)
    pcm_frames = frames * SAMPLES_PER_FRAME
    user_pcm = session.user_pcm if session.user_pcm is not None else np.zeros(pcm_frames)
    track = RuleBaseline(reference_motion=session.reference).run(
        np.zeros(pcm_frames, np.float32), user_pcm[:pcm_frames], session.user_motion)
    motion = np.asarray(track.data, np.float32)
    pad = np.repeat(motion[-1:], frames - len(motion), axis=0)
    return np.concatenate([motion, pad])


def evaluate_reactivity(sessions: list[ListeningSession], variants: dict[str, Variant],
                        pulses: bool = True) -> tuple[dict[str, dict[str, float]],
                                                      dict[str, dict[str, np.ndarray]]]:
    """Per variant: metrics averaged over sessions (weighted by length), with
    `smile_r` read off the averaged lag curve; and the curves for plots."""
    results: dict[str, dict[str, float]] = {}
    curves: dict[str, dict[str, np.ndarray]] = {}
    weights = np.array([len(s.user_motion) for s in sessions], float)
    weights /= weights.sum()
    for name, variant in variants.items():
        per: list[dict[str, float]] = []
        lag_rows, pulse_rows, nod_rows = [], [], []
        for session in sessions:
            motion = variant(session)
            per.append(measure(session, motion))
            lag_rows.append(lag_curve(session, motion))
            nod_rows.append(nod_curve(session, motion))
            if pulses:
                response, stats = smile_pulse_response(variant, session)
                pulse_rows.append(response)
                per[-1].update(stats)
        row = {key: float(np.nansum([w * p[key] for w, p in zip(weights, per, strict=True)]))
               for key in per[0]}
        lag = np.nansum([w * r for w, r in zip(weights, lag_rows, strict=True)], axis=0)
        lags = np.arange(len(lag))
        human = (lags >= 0.3 * FPS) & (lags <= 1.2 * FPS)
        best = int(np.argmax(np.where(human, lag, -np.inf)))
        row["smile_r"], row["smile_lag_ms"] = float(lag[best]), float(best / FPS * 1000.0)
        row["smile_r_sessions_min"] = float(min(p["smile_r"] for p in per))
        results[name] = row
        curves[name] = {"lag": lag, "nod": np.nanmean(nod_rows, axis=0)}
        if pulse_rows:
            curves[name]["pulse"] = np.nanmean(pulse_rows, axis=0)
    return results, curves


def plot_reactivity(results: dict[str, dict[str, float]],
                    curves: dict[str, dict[str, np.ndarray]], path: Path,
                    title: str = "") -> None:
    """Lag curves (user smile -> avatar smile) and smile-pulse responses per variant."""
    # pyplot only when drawing: choosing the Agg backend is process-wide, must come
    # before pyplot loads, and pyplot costs about a second to import
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.2))
    for name, c in curves.items():
        lag = c["lag"]
        axes[0].plot(np.arange(len(lag)) / FPS, lag,
                     label=f"{name} (r {results[name]['smile_r']:.2f})")
        if "pulse" in c:
            p = c["pulse"]
            axes[1].plot((np.arange(len(p)) - FPS // 2) / FPS, p, label=name)
        nod = c["nod"]
        axes[2].plot((np.arange(len(nod)) - FPS // 2) / FPS, nod,
                     label=f"{name} ({results[name]['nod_deg_after_pause']:.1f} deg)")
    axes[0].axvspan(0.3, 1.2, color="0.9", zorder=0, label="human lags")
    axes[0].set_xlabel("lag (s): avatar smile after user smile")
    axes[0].set_ylabel("correlation r")
    axes[0].set_title("user smile -> avatar smile, held-out real users")
    axes[1].axvspan(0, 1.5, color="0.9", zorder=0, label="user smile pulse")
    axes[1].set_xlabel("time after the pulse onset (s)")
    axes[1].set_ylabel("avatar smile change")
    axes[1].set_title("causal probe: +0.5 smile pulse on the real face")
    axes[2].axvline(0, color="0.5", lw=1)
    axes[2].set_xlabel("time after the user's pause (s)")
    axes[2].set_ylabel("avatar head pitch change (deg, > 0 chin down)")
    axes[2].set_title("user pauses after >= 1 s of speech -> nod")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def render_listening_video(video: str | Path, start_s: float, session: ListeningSession,
                           motion: np.ndarray, out: str | Path, size: int = 256) -> Path:
    """Real user (the recorded video itself) | avatar (generated motion rendered
    on the default portrait), with the user's speech as the sound track."""
    portrait = Portrait.default(256)
    renderer = PortraitRenderer(portrait, size=size)
    smooth = MotionFilter()(motion)  # the live session's causal jitter filter
    fps_in = probe_video(video).fps
    frames_in = list(iter_frames(video))
    first = int(round(start_s * fps_in))
    # a square around the person's face (median position and size over the clip)
    h, w = frames_in[0].shape[:2]
    tx, ty, scale = np.median(session.user_motion[:, 3:6], axis=0)
    side = int(min(h, w, max(64.0, 2.4 * float(scale) * h)))
    cx = int(np.clip((0.5 + tx) * w, side / 2, w - side / 2))
    cy = int(np.clip((0.5 + ty) * h, side / 2, h - side / 2))
    out = Path(out)
    with VideoWriter(out, FPS, (2 * size, size), audio=session.user_pcm,
                     sample_rate=SAMPLE_RATE) as writer:
        for k in range(len(smooth)):
            src = frames_in[min(len(frames_in) - 1, first + int(k * fps_in / FPS))]
            crop = src[cy - side // 2:cy + side // 2, cx - side // 2:cx + side // 2]
            user = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            avatar = renderer.render(transfer_frame(smooth[k], session.reference,
                                                    portrait.reference_motion))
            frame = np.concatenate([user, avatar], axis=1)
            if session.user_speaking[k]:
                cv2.rectangle(frame, (0, size - 6), (size, size), (40, 200, 60), -1)
            writer.write(frame)
    return out


def listening_from_corpus(session: Session) -> ListeningSession:
    """A corpus dialogue side (`avatar.evaluate.Session`) as a reactivity session,
    the avatar's own speech kept: the validation split is where user guidance is
    tuned, never the held-out real clips."""
    frames = len(session.user_motion)
    pcm = np.zeros(frames * SAMPLES_PER_FRAME, np.float32)
    pcm[:min(len(pcm), len(session.user_pcm))] = session.user_pcm[:len(pcm)]
    return ListeningSession(session.name, session.user_motion, session.user_audio,
                            vad(frame_energy_db(pcm))[:frames], session.avatar_audio,
                            session.reference, pcm)
