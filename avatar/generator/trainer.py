"""Training loop for the three stages: teacher (diffusion forcing), DPO, student.

Why one loop: the stages differ only in their loss and in which frozen model they
consult, so they share data loading, optimisation, checkpointing, validation and
curves. Resumable: `out_dir/last.safetensors` holds weights, optimizer state and
the step; rerunning the same command continues where it stopped. A wall-clock
budget (`max_minutes`) lets a shared CPU train "as long as time allows".
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from avatar.corpus.dataset import DyadicDataset
from avatar.generator.checkpoint import (
    load_generator,
    load_optimizer_state,
    read_header,
    save_checkpoint,
)
from avatar.generator.config import TrainConfig
from avatar.generator.losses import (
    Batch,
    column_weight_vector,
    diffusion_forcing_loss,
    distillation_loss,
    dpo_loss,
)
from avatar.generator.model import MotionGenerator
from avatar.generator.sampler import Guidance

REFRESH_EVERY = 500  # steps between re-scans of a corpus that is still being written
STAT_STD_FLOOR = 5e-3  # columns spreading less carry nothing visible (_neutral, jawLeft...)


class WindowDataset(Protocol):
    """What the trainer needs from `avatar.corpus.dataset.DyadicDataset`."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> dict[str, np.ndarray]: ...


def open_split(corpus: str | Path, split: str, window_frames: int, stride: int | None = None
               ) -> WindowDataset:
    """The corpus split as fixed-length windows (both roles: every dialogue trains
    the avatar as either speaker). A small stride gives overlapping windows, i.e.
    random crops, which matters with an hour of data."""
    root = Path(corpus)
    if not root.is_dir():
        raise FileNotFoundError(f"corpus folder not found: {root}")
    dataset: WindowDataset = DyadicDataset(root, split, window_frames=window_frames,
                                           roles="both", stride=stride)
    if len(dataset) == 0:
        raise ValueError(f"corpus split {split!r} under {root} has no windows")
    return dataset


def user_key(relative: bool) -> str:
    """The dataset key of the user motion a model reads (GeneratorConfig.user_relative)."""
    return "user_motion_rel" if relative else "user_motion"


def compute_stats(dataset: WindowDataset, max_windows: int = 3000, seed: int = 0,
                  user_relative: bool = False) -> dict[str, torch.Tensor]:
    """Per-dimension statistics of motion relative to the reference, of the
    reference itself and of user motion (as the model reads it), from a sample
    of training windows."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(dataset), size=min(max_windows, len(dataset)), replace=False)
    rel, refs, users = [], [], []
    for i in idx:
        s = dataset[int(i)]
        if not is_finite(s):
            continue
        rel.append(s["avatar_motion"] - s["reference_motion"][None])
        refs.append(s["reference_motion"][None])
        users.append(s[user_key(user_relative)])
    rel_a, ref_a, user_a = (np.concatenate(x).astype(np.float64) for x in (rel, refs, users))
    motion_std = rel_a.std(0)
    active = motion_std > STAT_STD_FLOOR

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(x, dtype=np.float32))

    return {
        "motion_mean": t(rel_a.mean(0)),
        "motion_std": t(np.maximum(motion_std, STAT_STD_FLOOR)),
        "ref_mean": t(ref_a.mean(0)),
        "ref_std": t(np.maximum(ref_a.std(0), STAT_STD_FLOOR)),
        "user_mean": t(user_a.mean(0)),
        "user_std": t(np.maximum(user_a.std(0), STAT_STD_FLOOR)),
        "active": torch.from_numpy(active),
    }


def make_batch(samples: list[dict[str, np.ndarray]], model: MotionGenerator, frames: int
               ) -> Batch:
    """Stack dataset windows; motion is the first `frames` frames, conditions all
    of them (the extra `lookahead` frames feed the last block's look-ahead)."""

    def stack(key: str) -> torch.Tensor:
        return torch.from_numpy(np.stack([s[key] for s in samples]).astype(np.float32))

    reference = stack("reference_motion")
    motion = stack("avatar_motion")[:, :frames]
    return Batch(
        x1=model.normalize(motion, reference),
        avatar_audio=stack("avatar_audio"),
        user_audio=stack("user_audio"),
        user_motion=stack(user_key(model.cfg.user_relative)),
        reference=reference,
    )


def is_finite(sample: dict[str, np.ndarray]) -> bool:
    """False for windows holding NaN/inf (seen in a corpus dialogue's motion track):
    one such window would turn every weight into NaN."""
    return all(np.isfinite(v).all() for v in sample.values() if v.dtype.kind == "f")


def batches(dataset: WindowDataset, batch_size: int, seed: int) -> Iterator[list[dict]]:
    """Endless shuffled batches of finite windows (no worker processes: shared CPU)."""
    rng = np.random.default_rng(seed)
    batch: list[dict[str, np.ndarray]] = []
    while True:
        for j in rng.permutation(len(dataset)):
            sample = dataset[int(j)]
            if not is_finite(sample):
                continue
            batch.append(sample)
            if len(batch) == batch_size:
                yield batch
                batch = []


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to 10%."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps))
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


class Trainer:
    """Runs one stage from a `TrainConfig`; `run()` returns the final checkpoint path."""

    def __init__(self, cfg: TrainConfig, progress: bool = True) -> None:
        self.cfg = cfg
        self.progress = progress
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        torch.set_num_threads(cfg.threads)
        self.frames = cfg.model.window_frames  # motion frames per window (10 blocks)
        window = self.frames + cfg.model.lookahead
        self.train_set = open_split(cfg.corpus, "train", window, stride=cfg.model.block_frames)
        self.val_set = open_split(cfg.corpus, "val", window)
        self.model, self.frozen, self.start_meta = self._build_models()
        self.columns = column_weight_vector(cfg.column_weights)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self._resume()

    # ------------------------------------------------------------------ set-up
    def _build_models(self) -> tuple[MotionGenerator, MotionGenerator | None, dict[str, Any]]:
        cfg = self.cfg
        if cfg.stage == "teacher":
            model = MotionGenerator(cfg.model)
            if cfg.init_from:  # warm start: same architecture, fresh corpus statistics
                weights = load_generator(cfg.init_from).model.state_dict()
                model.load_state_dict(weights)
                print(f"teacher warm-started from {cfg.init_from}")
            model.set_stats(compute_stats(self.train_set, seed=cfg.seed,
                                          user_relative=cfg.model.user_relative))
            return model, None, {}
        init = load_generator(cfg.init_from)
        frozen = init.model
        for p in frozen.parameters():
            p.requires_grad_(False)
        model = copy.deepcopy(frozen)
        for p in model.parameters():
            p.requires_grad_(True)
        return model.train(), frozen.eval(), init.meta

    def _resume(self) -> None:
        last = self.out / "last.safetensors"
        if not last.is_file():
            return
        _, meta = read_header(last)
        if meta.get("stage") != self.cfg.stage:
            raise ValueError(f"{last} is a {meta.get('stage')!r} run, not {self.cfg.stage!r}: "
                             "use another out_dir")
        self.model.load_state_dict(load_generator(last).model.state_dict())
        load_optimizer_state(last, self.opt)
        self.step = int(meta["step"])
        self.history = list(meta.get("history", []))
        print(f"resumed {self.cfg.stage} from {last} at step {self.step}")

    # ------------------------------------------------------------------- losses
    def _loss(self, batch: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        cfg, columns = self.cfg, self.columns
        if cfg.stage == "teacher":
            return diffusion_forcing_loss(self.model, batch, cfg.cond_dropout,
                                          cfg.clean_history_prob, gen, columns)
        assert self.frozen is not None
        if cfg.stage == "dpo":
            l_df, logs = diffusion_forcing_loss(self.model, batch, cfg.cond_dropout,
                                                cfg.clean_history_prob, gen, columns)
            l_dpo, logs2 = dpo_loss(self.model, self.frozen, batch, cfg.dpo_beta,
                                    cfg.loser_nfe, gen)
            return l_df + cfg.dpo_weight * l_dpo, {**logs, **logs2}
        guidance = Guidance(cfg.guidance_avatar, cfg.guidance_user)
        return distillation_loss(self.model, self.frozen, batch, cfg.student_steps,
                                 cfg.teacher_nfe, guidance, gen, columns)

    @torch.no_grad()
    def validate(self, n_batches: int = 4) -> float:
        """Same loss on fixed validation windows and fixed noise (comparable over time)."""
        self.model.eval()
        gen = torch.Generator().manual_seed(1234)
        it = batches(self.val_set, self.cfg.batch_size, seed=1234)
        total = 0.0
        for _ in range(n_batches):
            batch = make_batch(next(it), self.model, self.frames)
            total += float(self._loss(batch, gen)[0])
        self.model.train()
        return total / n_batches

    # --------------------------------------------------------------------- loop
    def run(self) -> Path:
        cfg = self.cfg
        gen = torch.Generator().manual_seed(cfg.seed + self.step)
        data = batches(self.train_set, cfg.batch_size, seed=cfg.seed + self.step)
        started = time.monotonic()
        self.model.train()
        bar = _progress(cfg.steps, self.step, f"train {cfg.stage}", self.progress)
        window: list[dict[str, float]] = []
        while self.step < cfg.steps:
            if cfg.max_minutes and time.monotonic() - started > 60 * cfg.max_minutes:
                print(f"time budget of {cfg.max_minutes} min reached at step {self.step}")
                break
            for group in self.opt.param_groups:
                group["lr"] = lr_at(self.step, cfg)
            if self.step % REFRESH_EVERY == 0 and self.step:
                data = self._refresh_data(data)
            batch = make_batch(next(data), self.model, self.frames)
            loss, logs = self._loss(batch, gen)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            grad = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
            self.opt.step()
            self.step += 1
            window.append({"loss": float(loss.detach()), "grad": grad, **logs})
            bar.update(1)
            if self.step % cfg.log_every == 0:
                row = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                row.update(step=self.step, lr=lr_at(self.step, cfg))
                window = []
                if self.step % cfg.val_every == 0:
                    row["val"] = self.validate()
                self.history.append(row)
                bar.set_postfix({k: f"{v:.4f}" for k, v in row.items()
                                 if k in ("loss", "val", "dpo_acc")})
            if self.step % cfg.ckpt_every == 0:
                self._save()
        bar.close()
        if not self.history or "val" not in self.history[-1]:
            self.history.append({"step": self.step, "val": self.validate()})
        self._save()
        final = self.out / "final.safetensors"
        save_checkpoint(final, self.model, self._meta())
        return final

    def _refresh_data(self, data: Iterator[list[dict]]) -> Iterator[list[dict]]:
        """Pick up dialogues the corpus writer finished since the start (training
        may begin while the corpus is still being generated)."""
        window = self.frames + self.cfg.model.lookahead
        fresh = open_split(self.cfg.corpus, "train", window, stride=self.cfg.model.block_frames)
        if len(fresh) <= len(self.train_set):
            return data
        print(f"corpus grew: {len(self.train_set)} -> {len(fresh)} training windows")
        self.train_set = fresh
        return batches(self.train_set, self.cfg.batch_size, seed=self.cfg.seed + self.step)

    # ------------------------------------------------------------------ outputs
    def _meta(self) -> dict[str, Any]:
        cfg = self.cfg
        if cfg.stage == "student":
            nfe, guidance = cfg.student_steps, None  # guidance folded into the student
        else:
            nfe = cfg.teacher_nfe
            guidance = {"avatar": cfg.guidance_avatar, "user": cfg.guidance_user}
        return {
            "stage": cfg.stage, "step": self.step, "nfe": nfe, "guidance": guidance,
            "train_config": cfg.to_dict(), "history": self.history,
            "parent": self.start_meta.get("stage"),
        }

    def _save(self) -> Path:
        path = save_checkpoint(self.out / "last.safetensors", self.model, self._meta(), self.opt)
        (self.out / "history.json").write_text(json.dumps(self.history, indent=1))
        plot_history(self.history, self.out / f"curves_{self.cfg.stage}.png", self.cfg.stage)
        return path


def plot_history(history: list[dict[str, float]], path: Path, title: str) -> None:
    """Loss curves (train, validation, and DPO accuracy when present) as a PNG."""
    # pyplot only when drawing: choosing the Agg backend is process-wide, must come
    # before pyplot loads, and pyplot costs about a second to import
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [h for h in history if "loss" in h]
    if not rows:
        return
    keys = [k for k in ("loss", "df", "dpo", "distill") if k in rows[0]]
    fig, axes = plt.subplots(1, 2 if "dpo_acc" in rows[0] else 1, figsize=(10, 4),
                             squeeze=False)
    ax = axes[0, 0]
    for k in keys:
        ax.plot([h["step"] for h in rows], [h[k] for h in rows], label=f"train {k}")
    vals = [h for h in history if "val" in h]
    if vals:
        ax.plot([h["step"] for h in vals], [h["val"] for h in vals], "o-", label="val loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(f"generator {title}")
    ax.grid(alpha=0.3)
    ax.legend()
    if axes.shape[1] > 1:
        axes[0, 1].plot([h["step"] for h in rows], [h["dpo_acc"] for h in rows])
        axes[0, 1].set_title("DPO: winner preferred (fraction)")
        axes[0, 1].set_xlabel("step")
        axes[0, 1].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any:
    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled,
                mininterval=5.0, dynamic_ncols=True)
