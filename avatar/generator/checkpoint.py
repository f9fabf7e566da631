"""Checkpoints as safetensors: weights, corpus statistics, config and metadata.

Why safetensors: no pickle (loading a checkpoint cannot run code), and the file
is self-describing: the model config and training metadata travel as JSON in
the header, so `load_generator(path)` rebuilds the exact model with no side file.
Optimizer state for resuming is flattened into the same format (`opt/...` keys).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from avatar.generator.config import GeneratorConfig
from avatar.generator.model import MotionGenerator
from avatar.generator.sampler import Guidance

_OPT = "opt/"
CHECKPOINT_DIR = Path(__file__).resolve().parents[1] / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINT_DIR / "generator_student.safetensors"  # CPU fast path
FULL_CHECKPOINT = CHECKPOINT_DIR / "generator.safetensors"  # DPO teacher, 10 NFE + CFG


@dataclass
class GeneratorCheckpoint:
    """A loaded model plus how it is meant to be sampled."""

    model: MotionGenerator
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def nfe(self) -> int:
        """Function evaluations per block this model was trained for."""
        return int(self.meta.get("nfe", 10))

    @property
    def guidance(self) -> Guidance | None:
        """CFG weights, or None for a guidance-distilled student."""
        g = self.meta.get("guidance")
        return None if g is None else Guidance(avatar=g["avatar"], user=g["user"])


def save_checkpoint(
    path: str | Path,
    model: MotionGenerator,
    meta: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    half: bool = False,
) -> Path:
    """Write weights (+ optimizer state) atomically; `half` stores float16 weights
    (the shipped file: half the size, loaded back as float32)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, value in model.state_dict().items():
        value = value.detach().contiguous()
        if half and value.is_floating_point() and not name.endswith(("_mean", "_std")):
            value = value.half()
        tensors[name] = value
    if optimizer is not None:
        tensors.update(_flatten_optimizer(optimizer))
    header = {
        "model_config": json.dumps(model.cfg.to_dict()),
        "meta": json.dumps(meta),
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata=header)
    tmp.replace(path)  # a crash mid-write never leaves a truncated checkpoint
    return path


def read_header(path: str | Path) -> tuple[GeneratorConfig, dict[str, Any]]:
    """Model config and metadata without loading the weights."""
    path = _existing(path)
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except (SafetensorError, OSError) as error:
        raise ValueError(f"{path} is not a safetensors checkpoint: {error}") from error
    if "model_config" not in header:
        raise ValueError(f"{path} is not a generator checkpoint (no model_config)")
    return GeneratorConfig.from_dict(json.loads(header["model_config"])), json.loads(
        header.get("meta", "{}")
    )


def load_generator(path: str | Path) -> GeneratorCheckpoint:
    """Rebuild the model from a checkpoint (float32, eval mode)."""
    path = _existing(path)
    cfg, meta = read_header(path)
    tensors = load_file(str(path))
    weights = {k: v.float() if v.is_floating_point() else v
               for k, v in tensors.items() if not k.startswith(_OPT)}
    model = MotionGenerator(cfg)
    missing, unexpected = model.load_state_dict(weights, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path}: weights do not match the config "
                         f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    return GeneratorCheckpoint(model=model.eval(), meta=meta)


def load_optimizer_state(path: str | Path, optimizer: torch.optim.Optimizer) -> bool:
    """Restore optimizer state saved by `save_checkpoint`; False if none was saved."""
    tensors = load_file(str(_existing(path)))
    opt = {k[len(_OPT):]: v for k, v in tensors.items() if k.startswith(_OPT)}
    if not opt:
        return False
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, param in enumerate(params):
        state = {key.split("/", 1)[1]: value for key, value in opt.items()
                 if key.split("/", 1)[0] == str(index)}
        if state:
            optimizer.state[param] = state
    return True


def _flatten_optimizer(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for index, param in enumerate(params):
        for key, value in optimizer.state.get(param, {}).items():
            tensor = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            out[f"{_OPT}{index}/{key}"] = tensor.detach().contiguous()
    return out


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"generator checkpoint not found: {path}")
    return path


def export_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Ship a training checkpoint: float16 weights, no optimizer state (~4x smaller)."""
    ckpt = load_generator(src)
    meta = {k: v for k, v in ckpt.meta.items() if k != "history"}
    meta["history_tail"] = ckpt.meta.get("history", [])[-3:]
    return save_checkpoint(dst, ckpt.model, meta, half=True)
