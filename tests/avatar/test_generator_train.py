"""Smoke training of all three stages + export + eval, through the CLI, on a tiny
corpus of real synthetic speech (espeak-ng) the test generates itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from avatar.corpus.speech import SpeechSynth, Voice
from avatar.corpus.writer import DialogueSpec, generate
from avatar.generator.checkpoint import load_generator, read_header
from avatar.generator.config import load_pipeline
from avatar.generator.trainer import Trainer
from pipelines.cli import main

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
torch.set_num_threads(1)

V1 = Voice(id="espeak:en-us+m3", engine="espeak", name="en-us+m3")
V2 = Voice(id="espeak:en-gb+f3", engine="espeak", name="en-gb+f3", pitch=60, f0_hz=210)

TINY = """
corpus = "{corpus}"
out_dir = "{out}"
batch_size = 2
threads = 1
log_every = 1
ckpt_every = 2
val_every = 2
column_weights = {{ mouthFunnel = 2.0, mouthPucker = 2.0 }}
[model]
hidden = 32
depth = 1
heads = 2
encoder_heads = 2
window_frames = 20
[teacher]
steps = 4
[dpo]
steps = 2
loser_nfe = 2
[student]
steps = 2
teacher_nfe = 2
"""


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gen_corpus")
    specs = [DialogueSpec(0, "tr", "train", 21, (V1, V2), 14.0),
             DialogueSpec(1, "va", "val", 22, (V2, V1), 8.0),
             DialogueSpec(2, "te", "test", 23, (V1, V2), 8.0)]
    assert all(d is not None for _, d in generate(root, specs, SpeechSynth()))
    return root


def test_train_export_and_eval_through_the_cli(tiny_corpus: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(corpus=tiny_corpus, out=tmp_path / "runs"))
    ship = tmp_path / "ship"
    assert main(["train", "--config", str(config), "--export", str(ship), "--no-progress"]) == 0
    names = sorted(p.name for p in ship.iterdir())
    assert names == ["generator.safetensors", "generator_nodpo.safetensors",
                     "generator_student.safetensors"]
    student = load_generator(ship / "generator_student.safetensors")
    assert student.nfe == 1 and student.guidance is None  # guidance folded in
    teacher = load_generator(ship / "generator.safetensors")
    assert teacher.nfe == 10 and teacher.guidance is not None
    _, meta = read_header(tmp_path / "runs" / "dpo" / "final.safetensors")
    rows = [h for h in meta["history"] if "dpo" in h]
    assert rows and all(np.isfinite(h["loss"]) and 0 <= h["dpo_acc"] <= 1 for h in rows)
    assert (tmp_path / "runs" / "teacher" / "curves_teacher.png").stat().st_size > 5000
    # the statistics learned from the corpus travel in the checkpoint
    assert not torch.equal(teacher.model.motion_std, torch.ones_like(teacher.model.motion_std))

    out = tmp_path / "eval"
    assert main(["eval", "--corpus", str(tiny_corpus), "--checkpoints", str(ship),
                 "--seconds", "6", "--nfe", "2", "--out", str(out),
                 "--json", str(out / "r.json"), "--no-progress"]) == 0
    results = json.loads((out / "r.json").read_text())
    assert {"full", "no user motion", "no DPO", "student 1-NFE"} <= set(results)
    for metrics in results.values():
        assert all(np.isfinite(v) for v in metrics.values())
        assert 0.0 <= metrics["rpcc_exp"] <= 2.0
    assert (out / "eval_metrics.png").is_file() and (out / "eval_example.png").is_file()


def test_training_resumes_where_it_stopped(tiny_corpus: Path, tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY.format(corpus=tiny_corpus, out=tmp_path / "runs"))
    teacher = load_pipeline(config)[0]
    import dataclasses

    Trainer(dataclasses.replace(teacher, steps=2), progress=False).run()
    resumed = Trainer(dataclasses.replace(teacher, steps=4), progress=False)
    assert resumed.step == 2  # picked up the last checkpoint, optimizer state included
    assert resumed.opt.state  # Adam moments restored
    resumed.run()
    _, meta = read_header(tmp_path / "runs" / "teacher" / "final.safetensors")
    assert meta["step"] == 4


@pytest.mark.e2e
def test_shipped_student_is_closer_to_the_guided_teacher_than_one_teacher_step(
    tiny_corpus: Path,
) -> None:
    """What distillation bought, block by block on unseen dialogue (clean real past,
    same noise): the 1-NFE student lands closer to the teacher's 10-NFE guided
    sample than the teacher itself does in one guided step."""
    from avatar.generator.losses import sample_block_given_past
    from avatar.generator.sampler import branch_drop
    from avatar.generator.trainer import is_finite, make_batch, open_split

    ship = Path(__file__).resolve().parents[2] / "avatar" / "checkpoints"
    teacher = load_generator(ship / "generator.safetensors")
    student = load_generator(ship / "generator_student.safetensors").model
    cfg, guidance = teacher.model.cfg, teacher.guidance
    assert guidance is not None
    windows = open_split(tiny_corpus, "val", cfg.window_frames + cfg.lookahead, stride=5)
    samples = [w for w in (windows[i] for i in range(len(windows))) if is_finite(w)][:16]
    batch = make_batch(samples, teacher.model, cfg.window_frames)
    B, P, n = len(samples), cfg.cache_frames, cfg.block_frames
    past = batch.x1[:, :P]
    noise = torch.randn((B, n, batch.x1.shape[2]), generator=torch.Generator().manual_seed(0))
    noise = noise * teacher.model.active
    rows = [batch.avatar_audio, batch.user_audio, batch.user_motion]
    with torch.no_grad():
        cond3 = teacher.model.encode(*(r.repeat(3, 1, 1) for r in rows),
                                     drop=branch_drop(B, guidance))
        target = sample_block_given_past(teacher.model, past, noise, cond3, batch.reference,
                                         10, guidance)
        one = sample_block_given_past(teacher.model, past, noise, cond3, batch.reference,
                                      1, guidance)
        cond = student.encode(*rows)
        fast = sample_block_given_past(student, past, noise, cond, batch.reference, 1, None)
    err_student = float((fast - target).abs().mean())
    err_teacher_1 = float((one - target).abs().mean())
    assert err_student < err_teacher_1, (err_student, err_teacher_1)
