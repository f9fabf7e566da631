"""Configuration of the Avatar Forcing generator, sized for one CPU core.

One dataclass for the architecture (`GeneratorConfig`, saved inside every
checkpoint so a checkpoint rebuilds its own model) and one for training
(`TrainConfig`, read from a TOML file by `avatar-forcing train`).

Why these sizes (the upstream generator is 8 blocks x 1024 wide, ~150M params): at small
widths the CPU cost is per-operation overhead, not FLOPs, so the paper's 8 x 1024
model (150M params) becomes 4 x 128 (about 1.6M); blocks of 5 frames (200 ms)
instead of 10 keep the reaction latency under 300 ms.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from avatar.motion import MOTION_COLUMNS, MOTION_DIM


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of the causal DFoT motion generator."""

    motion_dim: int = MOTION_DIM  # 58: pose (6) + blendshapes (52), avatar/motion.py
    audio_dim: int = 84  # avatar.audio_features.FEATURE_DIM
    hidden: int = 128  # paper 1024; 128 trains ~3x faster than 192 on one shared core
    depth: int = 4  # DFoT blocks; paper 8
    heads: int = 4  # head dim 32
    mlp_ratio: int = 4  # as the paper
    encoder_heads: int = 4  # dual motion encoder cross-attention heads
    block_frames: int = 5  # frames denoised together (200 ms at 25 fps); paper 10
    lookahead: int = 2  # future condition frames a frame may see (80 ms); paper 2
    cond_past: int = 2  # past condition frames in the sliding window (paper: +-2)
    encoder_past: int = 4  # past frames the dual motion encoder attends to (causal)
    window_frames: int = 50  # self-attention window incl. the current block; paper 50
    rope_base: float = 10000.0
    dropout: float = 0.0  # small data, short training: regularise with cond dropout only
    # user motion read relative to the user's own running baseline (avatar/user_baseline.py),
    # as the corpus rules read it; False: absolute values (older checkpoints)
    user_relative: bool = False

    def __post_init__(self) -> None:
        if self.hidden % self.heads or self.hidden % self.encoder_heads:
            raise ValueError(f"hidden {self.hidden} must divide by heads {self.heads}")
        if (self.hidden // self.heads) % 2:
            raise ValueError("head dim must be even for RoPE")
        if self.window_frames % self.block_frames:
            raise ValueError(
                f"window_frames {self.window_frames} must be a multiple of "
                f"block_frames {self.block_frames}"
            )
        if self.lookahead < 0 or self.cond_past < 0 or self.encoder_past < 0:
            raise ValueError("lookahead, cond_past and encoder_past must be >= 0")

    @property
    def window_blocks(self) -> int:
        """Blocks a query block may attend to, itself included."""
        return self.window_frames // self.block_frames

    @property
    def cache_frames(self) -> int:
        """Past frames kept in the rolling KV cache."""
        return self.window_frames - self.block_frames

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        """Build from a dict, rejecting unknown keys (a typo must not pass silently)."""
        return cls(**_known(cls, data, "model"))


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training stage (teacher, DPO or student)."""

    stage: str = "teacher"  # teacher | dpo | student
    corpus: str = "data/corpus"
    out_dir: str = "runs/generator"
    init_from: str = ""  # checkpoint to start from (dpo/student; optional warm start of a teacher)
    steps: int = 20000
    batch_size: int = 32
    lr: float = 3e-4  # higher than the paper's 1e-4: tiny model, short run
    weight_decay: float = 0.01
    warmup_steps: int = 300
    grad_clip: float = 1.0
    cond_dropout: float = 0.1  # per condition, paper 10%
    clean_history_prob: float = 0.5  # samples whose past blocks are clean (streaming case)
    seed: int = 0
    threads: int = 1
    log_every: int = 50
    ckpt_every: int = 500
    val_every: int = 1000
    max_minutes: float = 0.0  # stop (and checkpoint) after this wall time; 0 = no limit
    # DPO (paper: L = L_DF + 0.1 L_DPO, beta 1000, frozen reference)
    dpo_beta: float = 1000.0
    dpo_weight: float = 0.1
    loser_nfe: int = 4  # Euler steps to sample the losing (user-blind) motion
    # student distillation
    student_steps: int = 1  # student NFE (1 or 2)
    teacher_nfe: int = 10
    guidance_avatar: float = 2.0  # w_a, paper/code default
    guidance_user: float = 1.0  # w_u
    # loss weight per motion column by name (avatar/motion.py), default 1: the lip-rounding
    # retrain weights mouthFunnel and mouthPucker, which are a small, sparse share of
    # the 58 columns the L1 averages over, so the model learned to half-round every vowel
    column_weights: dict[str, float] = field(default_factory=dict)
    model: GeneratorConfig = field(default_factory=GeneratorConfig)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.column_weights) - set(MOTION_COLUMNS))
        if unknown:
            raise ValueError(f"column_weights: unknown motion columns {unknown}")
        if any(not w > 0 for w in self.column_weights.values()):
            raise ValueError(f"column_weights must be positive, got {self.column_weights}")
        if self.stage not in ("teacher", "dpo", "student"):
            raise ValueError(f"stage must be teacher, dpo or student, got {self.stage!r}")
        if self.stage != "teacher" and not self.init_from:  # a teacher may warm-start
            raise ValueError(f"stage {self.stage!r} needs init_from (a teacher checkpoint)")
        if self.student_steps not in (1, 2):
            raise ValueError(f"student_steps must be 1 or 2, got {self.student_steps}")
        if self.steps <= 0 or self.batch_size <= 0:
            raise ValueError("steps and batch_size must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        model = GeneratorConfig.from_dict(data.pop("model", {}))
        return cls(model=model, **_known(cls, data, "train"))

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        """Read a TOML file: top-level training keys plus a [model] table."""
        return cls.from_dict(_read_toml(path))


def _read_toml(path: str | Path) -> dict[str, Any]:
    """A training config file as a dict; clear errors for a missing or broken file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {path}")
    with path.open("rb") as handle:
        try:
            return tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: invalid TOML: {error}") from error


STAGES: tuple[str, ...] = ("teacher", "dpo", "student")


def load_pipeline(path: str | Path) -> list[TrainConfig]:
    """Read a multi-stage TOML: shared top-level keys and [model], then one table
    per stage ([teacher], [dpo], [student]) overriding them. Each stage writes to
    <out_dir>/<stage> and starts from the previous stage's final checkpoint, so
    one command reproduces the shipped checkpoints."""
    data = _read_toml(path)
    shared = {k: v for k, v in data.items() if k not in STAGES}
    stages = [s for s in STAGES if s in data]
    if not stages:
        return [TrainConfig.from_dict(shared)]
    out_root = Path(shared.pop("out_dir", "runs/generator"))
    configs: list[TrainConfig] = []
    for stage in stages:
        merged = {**shared, **data[stage], "stage": stage, "out_dir": str(out_root / stage)}
        if stage == "dpo":
            merged.setdefault("init_from", str(out_root / "teacher" / "final.safetensors"))
        if stage == "student":
            parent = "dpo" if "dpo" in stages else "teacher"
            merged.setdefault("init_from", str(out_root / parent / "final.safetensors"))
        configs.append(TrainConfig.from_dict(merged))
    return configs


def _known(cls: type, data: dict[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in fields(cls)} - {"model"}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {what} config keys: {sorted(unknown)}")
    return data
