"""Voice pools per split: val and test speak with voices never heard in train.

Why held-out voices: the model must generalise to a user (and an avatar voice)
it has not trained on. The bundled piper voice is in every split (it is the
avatar's production voice), but with rate/variability settings unique to each
split; espeak-ng variants and accents are disjoint between splits.
"""

from __future__ import annotations

import hashlib

from avatar.corpus.speech import Voice

SPLITS: tuple[str, ...] = ("train", "val", "test")

_PIPER: dict[str, list[tuple[str, float, float, float]]] = {  # id, length, noise, noise_w
    "train": [("joe", 1.0, 0.667, 0.8), ("joe-slow", 1.15, 0.6, 0.7),
              ("joe-fast", 0.88, 0.7, 0.9), ("joe-lively", 1.0, 0.85, 1.0)],
    "val": [("joe-val", 0.95, 0.75, 0.85)],
    "test": [("joe-test", 1.06, 0.55, 0.75)],
}
_ESPEAK_LANGS: dict[str, list[str]] = {
    "train": ["en-us", "en-gb", "en-gb-scotland", "en-029", "en-us-nyc", "en-gb-x-rp"],
    "val": ["en-gb-x-gbclan", "en-us"],
    "test": ["en-gb-x-gbcwmd", "en-gb"],
}
_ESPEAK_VARIANTS: dict[str, list[str]] = {  # +variant, female?
    "train": ["m1", "m2", "m3", "m6", "m7", "f1", "f2", "f3", "klatt", "Alex", "linda", "john"],
    "val": ["m4", "f4", "Andy", "anika"],
    "test": ["m5", "f5", "Annie", "max"],
}
_FEMALE = {"f1", "f2", "f3", "f4", "f5", "linda", "anika", "Annie"}


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def voice_pool(split: str) -> tuple[list[Voice], list[Voice]]:
    """(piper voices, espeak voices) of a split; raises ValueError for unknown splits."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    piper = [Voice(id=f"piper:{vid}", engine="piper", length_scale=ls, noise_scale=ns,
                   noise_w=nw, f0_hz=110.0) for vid, ls, ns, nw in _PIPER[split]]
    espeak = []
    for lang in _ESPEAK_LANGS[split]:
        for variant in _ESPEAK_VARIANTS[split]:
            spec = f"{lang}+{variant}"
            h = _h(spec)
            female = variant in _FEMALE
            espeak.append(Voice(
                id=f"espeak:{spec}", engine="espeak", name=spec,
                speed=150 + h % 40, pitch=(45 + h % 25) if not female else (55 + h % 25),
                f0_hz=210.0 if female else 120.0,
            ))
    return piper, espeak
