"""Synthetic dyadic conversation corpus: speech, turn-taking, motion rules, dataset.

See docs/CORPUS.md. Modules: speech (piper/espeak-ng/laughs), voices (split pools),
script (what is said), dialogue (timeline + both motion tracks), rules/gestures/
visemes/persona (the causal motion rules, shared with avatar/baseline.py),
writer (plan + resumable on-disk generation), dataset (DyadicDataset), plots.
"""

from avatar.corpus.dataset import DyadicDataset
from avatar.corpus.dialogue import Dialogue, render_dialogue
from avatar.corpus.rules import FrameInput, RuleEngine
from avatar.corpus.speech import SpeechSynth, Utterance, Voice
from avatar.corpus.writer import DialogueSpec, generate, plan_corpus

__all__ = [
    "Dialogue", "DialogueSpec", "DyadicDataset", "FrameInput", "RuleEngine", "SpeechSynth",
    "Utterance", "Voice", "generate", "plan_corpus", "render_dialogue",
]
