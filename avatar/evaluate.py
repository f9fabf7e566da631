"""Evaluate generator variants on held-out dialogues (paper Tables 1 and 5).

Every variant runs the streaming engine's exact block loop (`sample_stream`,
tested equal to `StreamingGenerator`, batched over sessions for speed), block by
block with the rolling KV cache over whole dialogues of the test split
(voices and seeds never trained on), with each side of the dialogue playing the
avatar in turn. Metrics come from `avatar.metrics.evaluate` on all frames of the
split concatenated (SID and FD are distribution measures).

Variants: the full model (DPO teacher, 10 NFE, CFG), without user motion (same
model, user-motion condition dropped at inference: our ablation does not retrain),
without DPO (the teacher before DPO), the distilled student (1 NFE, no CFG) and
the rule-based baseline (avatar/baseline.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from avatar.baseline import RuleBaseline
from avatar.corpus.dataset import DyadicDataset
from avatar.generator.checkpoint import load_generator
from avatar.generator.sampler import DEFAULT_ANCHOR, Guidance, sample_stream
from avatar.media_utils import read_wav
from avatar.metrics import evaluate
from avatar.motion import MOTION_DIM, column_index


@dataclass(frozen=True)
class Variant:
    """One row of the results table."""

    name: str
    checkpoint: Path | None  # None: the rule-based baseline
    nfe: int = 10
    guidance: Guidance | None = None
    use_user_motion: bool = True
    anchor: float = DEFAULT_ANCHOR


@dataclass
class Session:
    """One dialogue seen from one side: the avatar's and the user's signals."""

    name: str
    avatar_audio: np.ndarray  # (T, F)
    user_audio: np.ndarray  # (T, F)
    user_motion: np.ndarray  # (T, 58)
    avatar_motion: np.ndarray  # (T, 58) real
    reference: np.ndarray  # (58,)
    avatar_pcm: np.ndarray  # 16 kHz float32
    user_pcm: np.ndarray  # 16 kHz float32 (the rule baseline listens to it)
    avatar_speaking: np.ndarray  # (T,) bool


def load_sessions(corpus: str | Path, split: str = "test", max_seconds: float = 60.0,
                  max_dialogues: int = 0) -> list[Session]:
    """Whole dialogues of a split, both roles, cut to `max_seconds` each."""
    ds = DyadicDataset(corpus, split, window_frames=50, roles="both")
    frames = int(max_seconds * 25)
    sessions: list[Session] = []
    count = len(ds.dialogues) if not max_dialogues else min(max_dialogues, len(ds.dialogues))
    for d in range(count):
        for role in ("a", "b"):
            item = ds.dialogue(d, role)
            n = min(frames, len(item["avatar_motion"]))
            pcm = read_wav(ds.dialogues[d].path / f"audio_{role}.wav")
            other = "b" if role == "a" else "a"
            user_pcm = read_wav(ds.dialogues[d].path / f"audio_{other}.wav")
            sessions.append(Session(
                name=f"{ds.dialogues[d].path.name}/{role}",
                avatar_audio=item["avatar_audio"][:n], user_audio=item["user_audio"][:n],
                user_motion=item["user_motion"][:n], avatar_motion=item["avatar_motion"][:n],
                reference=item["reference_motion"], avatar_pcm=pcm[: n * 640],
                user_pcm=user_pcm[: n * 640],
                avatar_speaking=item["avatar_speaking"][:n],
            ))
    if not sessions:
        raise ValueError(f"no dialogues in split {split!r} of {corpus}")
    return sessions


def baseline_generate(session: Session) -> np.ndarray:
    """The rule-based baseline's motion for a session.

    Note: it runs the very rules that animated the synthetic corpus (minus the
    script's intents), so on this corpus it is close to an upper bound."""
    track = RuleBaseline(reference_motion=session.reference).run(
        session.avatar_pcm, session.user_pcm, session.user_motion)
    motion = np.asarray(track.data, dtype=np.float32)
    return motion[: len(session.avatar_audio)]


def generate_batched(ckpt_path: Path, variant: Variant, sessions: list[Session], seed: int
                     ) -> list[np.ndarray]:
    """All sessions in one batch through `sample_stream` (the engine's exact loop,
    tested equal to it), cropped to a common length; motion aligned to the input."""
    ckpt = load_generator(ckpt_path)
    n, L = ckpt.model.cfg.block_frames, ckpt.model.cfg.lookahead
    T = min(len(s.avatar_audio) for s in sessions) // n * n

    def stack(key: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([getattr(s, key)[:T] for s in sessions]))

    refs = torch.from_numpy(np.stack([s.reference for s in sessions]))
    out = sample_stream(ckpt.model, stack("avatar_audio"), stack("user_audio"),
                        stack("user_motion"), refs, variant.nfe, variant.guidance,
                        torch.Generator().manual_seed(seed), variant.use_user_motion,
                        anchor=variant.anchor)
    return [m[L:] for m in out.numpy()]  # output frame j shows input frame j - L


def evaluate_variants(
    sessions: list[Session], variants: list[Variant], seed: int = 0, threads: int = 1,
    progress: bool = True,
) -> tuple[dict[str, dict[str, float]], dict[str, list[np.ndarray]]]:
    """Metrics per variant and the generated tracks (for plots)."""
    torch.set_num_threads(threads)
    results: dict[str, dict[str, float]] = {}
    tracks: dict[str, list[np.ndarray]] = {}
    for variant in tqdm(variants, desc="variants", disable=not progress):
        if variant.checkpoint is None:
            gen_all = [baseline_generate(s) for s in sessions]
        else:
            gen_all = generate_batched(variant.checkpoint, variant, sessions, seed)
        tracks[variant.name] = gen_all
        results[variant.name] = _score(sessions, gen_all, evaluate)
        results[variant.name]["nfe"] = float(variant.nfe)
    return results, tracks


def _score(sessions: list[Session], generated: list[np.ndarray],
           evaluate: Callable[..., dict[str, float]]) -> dict[str, float]:
    """Concatenate aligned frames of all sessions and score them."""
    users, reals, gens, pcms = [], [], [], []
    for session, motion in zip(sessions, generated, strict=True):
        n = min(len(motion), len(session.avatar_motion))
        users.append(session.user_motion[:n])
        reals.append(session.avatar_motion[:n])
        gens.append(motion[:n])
        pcms.append(session.avatar_pcm[: n * 640])
    gen = np.concatenate(gens)
    if gen.shape[1] != MOTION_DIM or not np.isfinite(gen).all():
        raise ValueError("generated motion is malformed (NaN or wrong width)")
    return evaluate(np.concatenate(users), np.concatenate(reals), gen,
                    avatar_pcm=np.concatenate(pcms))


METRIC_ROWS = (
    ("rpcc_exp", "rPCC-Exp (lower better)"),
    ("rpcc_pose", "rPCC-Pose (lower better)"),
    ("sid_exp", "SID-Exp (higher richer)"),
    ("sid_pose", "SID-Pose"),
    ("var_exp", "Var-Exp"),
    ("var_pose", "Var-Pose"),
    ("fd_exp", "FD-Exp (lower better)"),
    ("fd_pose", "FD-Pose (lower better)"),
    ("lipsync_corr", "lip sync r (jawOpen vs envelope)"),
    ("lipsync_lag_ms", "lip sync lag ms (0 ideal)"),
)


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    """Results as a markdown table, one column per variant (+ real data where given)."""
    names = list(results)
    real_col = next(iter(results.values()), {})
    head = "| metric | " + " | ".join(names) + " | real data |"
    lines = [head, "|" + "---|" * (len(names) + 2)]
    for key, label in METRIC_ROWS:
        real_key = {"rpcc_exp": None, "rpcc_pose": None, "fd_exp": None, "fd_pose": None,
                    "lipsync_corr": "lipsync_corr_real",
                    "lipsync_lag_ms": "lipsync_lag_ms_real"}.get(key, f"{key}_real")
        real = "0" if key.startswith(("rpcc", "fd")) else (
            f"{real_col[real_key]:.3f}" if real_key and real_key in real_col else "-")
        cells = [f"{results[n][key]:.3f}" if key in results[n] else "-" for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {real} |")
    cells = [str(int(results[n].get("nfe", 0))) for n in names]
    lines.append("| function evaluations / block | " + " | ".join(cells) + " | - |")
    return "\n".join(lines)


def plot_metrics(results: dict[str, dict[str, float]], path: Path) -> None:
    """Bar charts of the main metrics per variant."""
    # pyplot only when drawing: choosing the Agg backend is process-wide, must come
    # before pyplot loads, and pyplot costs about a second to import
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k, _ in METRIC_ROWS]
    fig, axes = plt.subplots(2, 5, figsize=(18, 6.5))
    names = list(results)
    colors = plt.cm.tab10(np.arange(len(names)))
    for ax, (key, label) in zip(axes.ravel(), METRIC_ROWS, strict=True):
        vals = [results[n].get(key, np.nan) for n in names]
        ax.bar(range(len(names)), vals, color=colors)
        real_key = f"{key}_real" if not key.startswith("lipsync") else key.replace(
            "lipsync_corr", "lipsync_corr_real").replace("lipsync_lag_ms", "lipsync_lag_ms_real")
        if real_key in results[names[0]] and real_key != key:
            ax.axhline(results[names[0]][real_key], color="k", ls="--", lw=1, label="real")
            ax.legend(fontsize=7)
        ax.set_title(label, fontsize=9)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, rotation=35, ha="right", fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    del keys
    fig.suptitle("Generator variants on the held-out test split (unseen voices and seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_example(session: Session, tracks: dict[str, np.ndarray], path: Path,
                 seconds: float = 20.0) -> None:
    """Time series of one session: jawOpen, pitch (nods), yaw and smile, real vs
    generated, with the avatar's speech shaded -- what "reactive" looks like."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = min(int(seconds * 25), len(session.avatar_motion))
    t = np.arange(n) / 25.0
    cols = ("jawOpen", "pitch", "yaw", "mouthSmileLeft")
    fig, axes = plt.subplots(len(cols), 1, figsize=(14, 9), sharex=True)
    for ax, col in zip(axes, cols, strict=True):
        c = column_index(col)
        ax.fill_between(t, 0, 1, where=session.avatar_speaking[:n], color="0.9",
                        transform=ax.get_xaxis_transform(), label="avatar speaks")
        ax.plot(t, session.avatar_motion[:n, c], "k", lw=1.5, label="real")
        ax.plot(t, session.user_motion[:n, c], color="tab:gray", lw=0.8, ls=":", label="user")
        for name, motion in tracks.items():
            ax.plot(t[: len(motion[:n])], motion[:n, c], lw=1, label=name)
        ax.set_ylabel(col)
        ax.grid(alpha=0.3)
    axes[0].legend(ncol=4, fontsize=8, loc="upper right")
    axes[-1].set_xlabel("seconds")
    fig.suptitle(f"held-out session {session.name}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
