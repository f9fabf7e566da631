"""Plan and write the corpus on disk: resumable, growable, safe to run in parallel.

Layout (the trainer's contract):
    <root>/<split>/<dialogue_id>/audio_a.wav, audio_b.wav   16 kHz mono int16
                                 motion_a.npz, motion_b.npz MotionTrack, 25 fps
                                 meta.json                  written last
Why: `plan_corpus(seed)` is an infinite, prefix-stable list of dialogue specs,
so `--hours 1` then `--hours 5` with the same seed extends the same corpus.
A dialogue directory is complete iff meta.json exists (written after a rename
from a temporary directory); a worker claims a dialogue with an O_EXCL lock
file, so several generator processes can share the work.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.corpus.dialogue import Dialogue, render_dialogue
from avatar.corpus.real_faces import RealFacePool
from avatar.corpus.speech import SpeechSynth, Voice
from avatar.corpus.voices import voice_pool
from avatar.media_utils import write_wav

# 16 of every 20 dialogues train, 2 val, 2 test (80/10/10)
_SPLIT_CYCLE = ("train",) * 16 + ("val", "val", "test", "test")


@dataclass(frozen=True)
class DialogueSpec:
    """Everything that determines one dialogue (seed, split, voices, length)."""

    index: int
    dialogue_id: str
    split: str
    seed: int
    voices: tuple[Voice, Voice]
    target_s: float


def _spec(corpus_seed: int, index: int) -> DialogueSpec:
    split = _SPLIT_CYCLE[index % len(_SPLIT_CYCLE)]
    seed = int(np.random.SeedSequence([corpus_seed, index]).generate_state(1)[0])
    rng = np.random.default_rng(seed)
    piper, espeak = voice_pool(split)
    r = rng.random()
    if r < 0.55:  # piper vs espeak: the common case for an avatar speaking with piper
        pair = [piper[int(rng.integers(len(piper)))], espeak[int(rng.integers(len(espeak)))]]
    elif r < 0.65 and len(piper) > 1:
        i, j = rng.choice(len(piper), 2, replace=False)
        pair = [piper[int(i)], piper[int(j)]]
    else:
        i, j = rng.choice(len(espeak), 2, replace=False)
        pair = [espeak[int(i)], espeak[int(j)]]
    if rng.random() < 0.5:
        pair.reverse()
    return DialogueSpec(index, f"d{corpus_seed:03d}_{index:05d}", split, seed,
                        (pair[0], pair[1]), float(rng.uniform(60.0, 150.0)))


def plan_corpus(corpus_seed: int, hours: float) -> list[DialogueSpec]:
    """Specs whose target durations add up to `hours` (all splits together)."""
    if hours <= 0:
        raise ValueError(f"hours must be positive, got {hours}")
    specs: list[DialogueSpec] = []
    total = 0.0
    while total < hours * 3600.0:
        spec = _spec(corpus_seed, len(specs))
        specs.append(spec)
        total += spec.target_s * 1.15  # rendered dialogues run ~15 % over their target
    return specs


def dialogue_dir(root: Path, spec: DialogueSpec) -> Path:
    return root / spec.split / spec.dialogue_id


def is_done(root: Path, spec: DialogueSpec) -> bool:
    return (dialogue_dir(root, spec) / "meta.json").is_file()


def save_dialogue(out_dir: Path, dialogue: Dialogue, extra_meta: dict[str, object]) -> None:
    """Write atomically: files go to a temp dir renamed into place, meta.json last."""
    for role in ("a", "b"):  # never write a broken dialogue the trainer would choke on
        if not (np.isfinite(dialogue.audio[role]).all()
                and np.isfinite(dialogue.motion[role].data).all()):
            raise ValueError(f"{out_dir.name}: non-finite audio or motion for role {role}")
    tmp = out_dir.with_name(out_dir.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for role in ("a", "b"):
        write_wav(tmp / f"audio_{role}.wav", dialogue.audio[role])
        dialogue.motion[role].save(tmp / f"motion_{role}.npz")
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    meta = {**dialogue.meta, **extra_meta}
    (out_dir / "meta.json.tmp").write_text(json.dumps(meta, indent=1))
    (out_dir / "meta.json.tmp").rename(out_dir / "meta.json")


def _claim(lock: Path) -> bool:
    """Take the dialogue's lock; a lock left by a dead process is taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        try:
            pid = int(lock.read_text().strip() or 0)
            os.kill(pid, 0)
            return False  # a live worker owns it
        except (ValueError, ProcessLookupError, FileNotFoundError):
            lock.unlink(missing_ok=True)
            return _claim(lock)
        except PermissionError:
            return False
    with os.fdopen(fd, "w") as f:
        f.write(str(os.getpid()))
    return True


def generate(root: Path, specs: list[DialogueSpec], synth: SpeechSynth | None = None,
             real_faces: RealFacePool | None = None,
             ) -> Iterator[tuple[DialogueSpec, float | None]]:
    """Render every spec not yet on disk; yields (spec, seconds written or None if skipped)."""
    synth = synth or SpeechSynth()
    for spec in specs:
        out = dialogue_dir(root, spec)
        if is_done(root, spec):
            yield spec, None
            continue
        lock = out.with_name(out.name + ".lock")
        if not _claim(lock):
            yield spec, None
            continue
        try:
            if is_done(root, spec):
                yield spec, None
                continue
            voices = {"a": spec.voices[0], "b": spec.voices[1]}
            dialogue = render_dialogue(spec.dialogue_id, spec.seed, voices, spec.target_s, synth,
                                       real_faces)
            save_dialogue(out, dialogue, {"split": spec.split, "index": spec.index})
            yield spec, float(dialogue.meta["duration_s"])  # type: ignore[arg-type]
        finally:
            lock.unlink(missing_ok=True)
