"""DyadicDataset: fixed-length windows of two-person conversations, numpy only.

Contract (the trainer consumes exactly this):

    ds = DyadicDataset(root, split, window_frames=50, roles="both", stride=None)
    item = ds[i]  # dict of numpy arrays, W = window_frames, 25 fps
        avatar_audio     (W, FEATURE_DIM) float32  causal features of the avatar's channel
        user_audio       (W, FEATURE_DIM) float32  causal features of the partner's channel
        user_motion      (W, 58) float32           partner's motion (absolute, MotionTrack)
        user_motion_rel  (W, 58) float32           the same relative to the partner's running
                                                   baseline from the dialogue's start
                                                   (avatar/user_baseline.py)
        avatar_motion    (W, 58) float32           target motion (absolute)
        reference_motion (58,) float32             the avatar's neutral face
        avatar_speaking  (W,) bool                 energy VAD of the avatar's channel
        avatar_valid, user_valid (W,) bool         face found (always True if synthetic)

Either side of a dialogue may play the avatar: roles="both" yields every window
twice (a as avatar with b as user, then the reverse); "a" or "b" picks one.
Synthetic corpus and ingested real data share the layout
<root>/<split>/<id>/{audio_a.wav, audio_b.wav, motion_a.npz, motion_b.npz, meta.json},
so both load here. Features and VAD are computed once per dialogue and cached
beside the audio as .npy (versioned names; delete them to recompute), because
featurising hours of audio on every epoch would dominate a CPU training step.
Reference motion comes from meta.json ("reference_motion" per role); when
missing it is the median of the role's found, non-speaking frames.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from avatar.audio_features import FEATURE_DIM, SAMPLES_PER_FRAME, compute_features
from avatar.corpus.signals import frame_energy_db, vad
from avatar.media_utils import read_wav
from avatar.motion import MOTION_DIM, MotionTrack
from avatar.user_baseline import relative_user_motion

FEATURE_CACHE_VERSION = 1
USER_REL_CACHE_VERSION = 1  # bump when avatar/user_baseline.py's rates change
_ROLES = {"both": ("a", "b"), "a": ("a",), "b": ("b",)}


@dataclass
class _Dialogue:
    path: Path
    frames: int
    meta: dict[str, object]


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


class DyadicDataset:
    """Map-style dataset of windows over every complete dialogue in root/split."""

    def __init__(self, root: str | Path, split: str, window_frames: int = 50,
                 roles: str = "both", stride: int | None = None) -> None:
        self.root = Path(root)
        split_dir = self.root / split
        if not split_dir.is_dir():
            raise FileNotFoundError(f"no split {split!r} under {self.root}")
        if roles not in _ROLES:
            raise ValueError(f"roles must be one of {sorted(_ROLES)}, got {roles!r}")
        if window_frames < 1:
            raise ValueError(f"window_frames must be >= 1, got {window_frames}")
        self.split, self.window, self.roles = split, window_frames, _ROLES[roles]
        self.stride = stride or window_frames
        self.dialogues: list[_Dialogue] = []
        for path in sorted(p for p in split_dir.iterdir() if (p / "meta.json").is_file()):
            meta = json.loads((path / "meta.json").read_text())
            frames = int(meta.get("frames", 0)) or len(MotionTrack.load(path / "motion_a.npz"))
            self.dialogues.append(_Dialogue(path, frames, meta))
        self._index = [
            (d, role, start)
            for d, dlg in enumerate(self.dialogues)
            for role in self.roles
            for start in range(0, dlg.frames - window_frames + 1, self.stride)
        ]
        self._cache: dict[int, dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self._index)

    @property
    def total_frames(self) -> int:
        return sum(d.frames for d in self.dialogues)

    def _signals(self, d: int) -> dict[str, np.ndarray]:
        """All per-frame arrays of dialogue d (features/VAD from the .npy cache)."""
        if d in self._cache:
            return self._cache[d]
        dlg = self.dialogues[d]
        out: dict[str, np.ndarray] = {}
        for role in ("a", "b"):
            feat_path = dlg.path / f"features_v{FEATURE_CACHE_VERSION}_{role}.npy"
            vad_path = dlg.path / f"speaking_v{FEATURE_CACHE_VERSION}_{role}.npy"
            if feat_path.is_file() and vad_path.is_file():
                feats, speaking = np.load(feat_path), np.load(vad_path)
            else:
                pcm = read_wav(dlg.path / f"audio_{role}.wav")
                feats = compute_features(pcm)
                speaking = vad(frame_energy_db(pcm))
                _atomic_save(feat_path, feats)
                _atomic_save(vad_path, speaking)
            track = MotionTrack.load(dlg.path / f"motion_{role}.npz")
            rel_path = dlg.path / f"user_rel_v{USER_REL_CACHE_VERSION}_{role}.npy"
            if rel_path.is_file():
                relative = np.load(rel_path)
            else:
                relative = relative_user_motion(track.data, track.found)
                _atomic_save(rel_path, relative)
            frames = min(dlg.frames, len(track), len(feats))
            if frames < dlg.frames:
                dlg.frames = frames  # a short channel: windows past it are skipped below
            out[f"features_{role}"] = feats
            out[f"speaking_{role}"] = speaking
            out[f"motion_{role}"] = track.data
            out[f"relative_{role}"] = relative
            out[f"found_{role}"] = track.found
            out[f"reference_{role}"] = self._reference(dlg, role, track, speaking)
        if len(self._cache) > 64:  # bound memory for multi-hour corpora
            self._cache.pop(next(iter(self._cache)))
        self._cache[d] = out
        return out

    @staticmethod
    def _reference(dlg: _Dialogue, role: str, track: MotionTrack,
                   speaking: np.ndarray) -> np.ndarray:
        refs = dlg.meta.get("reference_motion")
        if isinstance(refs, dict) and role in refs:
            ref = np.asarray(refs[role], dtype=np.float32)
            if ref.shape == (MOTION_DIM,):
                return ref
        n = min(len(track), len(speaking))
        quiet = track.found[:n] & ~speaking[:n]
        chosen = track.data[:n][quiet] if quiet.any() else track.data[track.found]
        if len(chosen) == 0:
            raise ValueError(f"{dlg.path}: no frame with a face for role {role}")
        return np.median(chosen, axis=0).astype(np.float32)

    def prepare(self, progress: bool = True) -> None:
        """Compute every dialogue's feature/VAD cache now (else on first access).

        Why: featurising ~1 s of CPU per dialogue inside the first training epoch
        makes its first steps look slow and, with several loader workers, repeats
        work; run this once before training.
        """
        indices = range(len(self.dialogues))
        if progress:
            indices = tqdm(indices, unit="dlg", desc=f"features {self.split}")
        for d in indices:
            self._signals(d)

    def dialogue(self, d: int, avatar_role: str = "a") -> dict[str, np.ndarray]:
        """Whole-dialogue arrays (same keys as an item) for evaluation and plots."""
        if avatar_role not in ("a", "b"):
            raise ValueError(f"avatar_role must be 'a' or 'b', got {avatar_role!r}")
        return self._item(d, avatar_role, 0, self.dialogues[d].frames)

    def _item(self, d: int, role: str, start: int, length: int) -> dict[str, np.ndarray]:
        s = self._signals(d)
        user = "b" if role == "a" else "a"
        sl = slice(start, start + length)
        return {
            "avatar_audio": s[f"features_{role}"][sl],
            "user_audio": s[f"features_{user}"][sl],
            "user_motion": s[f"motion_{user}"][sl],
            "user_motion_rel": s[f"relative_{user}"][sl],
            "avatar_motion": s[f"motion_{role}"][sl],
            "reference_motion": s[f"reference_{role}"],
            "avatar_speaking": s[f"speaking_{role}"][sl],
            "avatar_valid": s[f"found_{role}"][sl],
            "user_valid": s[f"found_{user}"][sl],
        }

    def __getitem__(self, i: int) -> dict[str, np.ndarray]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} windows")
        d, role, start = self._index[i]
        item = self._item(d, role, start, self.window)
        if len(item["avatar_motion"]) != self.window or len(item["user_audio"]) != self.window:
            raise ValueError(f"{self.dialogues[d].path}: channels shorter than meta frames")
        return item


__all__ = ["DyadicDataset", "FEATURE_DIM", "SAMPLES_PER_FRAME"]
