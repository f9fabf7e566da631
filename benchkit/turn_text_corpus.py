"""Labelled text for the turn-end reader: finished turns and the unfinished ones inside them.

The LLM's reading (agent/turn_end_text.py) says "unsure" after most statements, so
with it on a kiosk answer to "Yes, please." waited a second (docs/LATENCY.md).
A text classifier (benchkit/turn_end_combiner.py) is fitted on these the way
LiveKit's text detector is: every written conversational turn is *finished* where
it ends and *unfinished* at word boundaries before that.

The turns come from chatterbot-corpus (BSD-3-Clause, PyPI): English dialogue
written turn by turn, greetings, small talk, questions and answers. Its topic files
of keywords ("stock market") and code are left out, and so is a turn not written as
a sentence (lower-case start). Each text is rendered the way whisper writes speech:
a finished turn gets a final mark if it has none; a cut one keeps the words up to
the cut with whisper's usual endings at a pause (a period, an ellipsis, none), which
is what the live reading sees when a visitor pauses.

Splits are by conversation (a hash of its first turn), so a conversation's turns and
their cuts are all on one side. Never tuned on here: the kiosk's own questions and
statements (benchkit/voice.py) and the real clips (bench/voice/turn_splits.py --real,
--held-out), which the combiner is judged on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from agent.turn_end_text import split_final_mark
from benchkit.real_media import DEFAULT_CACHE, MediaSource, Release, fetch_media
from benchkit.voice import QUESTIONS, STATEMENTS

_CHATTERBOT: Release = ("pypi", "chatterbot-corpus", "1.3.3", "wheel")
_LICENCE = "BSD-3-Clause (chatterbot-corpus, Gunther Cox)"

#: topic file -> SHA-256 of the file as shipped
_FILES = {
    "conversations": "1cf105b5802f377b2dc145f741f7df85629c9ca27e450538165286a75b5e3416",
    "greetings": "0dd7eb8dcee8e2a38cd1a137bcfbd7f3eb732cddfa1bd396fac5a24b063a4d55",
    "emotion": "510a018938c1880dd0f67e1ae458e26878c91a570daef5a84fb83713c89f0989",
    "food": "68eab2497721d03044d520b70c27d8a0d8ba8e505b3265fb3a1ff3e1a64c7124",
    "humor": "d2aa03a63f0e8e054589f642788afbc41b8c76f5d734c50901a9a63b359ea06b",
    "psychology": "5047c211d35f715af4fbc3398f111135e99d34afcd0905a661c40bdeb1413a58",
    "sports": "8d1bcc632cad4058e3b8490daa15dcd7c2a51790a7b9140b252600b794590403",
    "movies": "075ca9d91a527206c635c88bf0353323826a25a6f2057be1bc71888af389f842",
    "literature": "9361ff1478273d811259ca307a1e6be23a5e08e776a5bc5d9524fb13deb886f1",
    "gossip": "d6f1b1613ed70821fc1c427bdd00395f58b77ff57d76fbe4ab8cb2038cf15c9b",
    "politics": "c436d5efedea6f715a8a811423a8edf396097771eb11e43b1f0a43a6aee7c2f0",
    "health": "eb88edc5302d688ca096374c7e3f5b9d7cd821f053a17d80204c4acdc20ea4f5",
    "history": "0ff4beeb6ef9b641dc12e1039a149c6a03eb8f2e183702fad2b0997fcc1d63e3",
    "science": "3c259799bba36c67a1601fc264ec01ab051e9e63950734ce1ef644e022081fe7",
    "computers": "a222c5a432efe4289e6c5edf1c3d99fd26c48df99db0ff893d1d5ab569f5b750",
    "ai": "620a65787a56641db4a03e1419a7578e813967218cf6721e3ea4ef90844916aa",
    "botprofile": "1a694c5288f3f8f87d027d2f98dae71d02efa88e28853a6e5d27e6dbce907294",
    "money": "2911d9766625ff5c2feb3d784f2951b2ebd5e9658547efce7568d0282c49274b",
}

#: chatterbot's English topic files, fetched from the pinned wheel and checked by hash
DIALOGUE_SOURCES: dict[str, MediaSource] = {
    f"chatterbot_{name}": MediaSource(
        "annotation", *_CHATTERBOT, f"chatterbot_corpus/data/english/{name}.yml", digest, 0.0,
        _LICENCE, f"written English dialogue, topic '{name}'")
    for name, digest in _FILES.items()
}

Split = Literal["train", "test"]
#: the endings whisper writes at a pause, cycled over the cuts
_CUT_ENDINGS = (".", "...", "", ".", ",")
MAX_WORDS = 30
CUTS_PER_TURN = 2


@dataclass(frozen=True)
class LabelledText:
    """One transcript as the reader would see it, and whether the turn ended there."""

    text: str
    finished: bool
    conversation: str  # the first turn of its conversation: the split key
    split: Split


def split_of(conversation: str, test_share: float = 0.25) -> Split:
    """A stable split by conversation (the same on every machine)."""
    digest = hashlib.sha256(conversation.encode()).digest()
    return "test" if digest[0] < int(256 * test_share) else "train"


def _written_turns(path: Path) -> Iterator[list[str]]:
    """Each conversation of one chatterbot file, as its turns (strings only)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for conversation in data.get("conversations") or []:
        yield [" ".join(str(turn).split()) for turn in conversation if isinstance(turn, str)]


def _usable(turn: str) -> bool:
    """A turn written as a sentence a person would say, not a keyword or code."""
    words = turn.split()
    return (0 < len(words) <= MAX_WORDS and turn[0].isupper() and "`" not in turn
            and not any(ch in turn for ch in "{}<>=_#*"))


def _cuts(turn: str, words: int) -> list[int]:
    """Up to CUTS_PER_TURN word boundaries inside a turn, chosen by a hash of it: every
    boundary of every turn would be 4,500 readings for little more to learn."""
    seed = int.from_bytes(hashlib.sha256(turn.encode()).digest()[:8], "big")
    inner = list(range(1, words))
    chosen: list[int] = []
    while inner and len(chosen) < CUTS_PER_TURN:
        chosen.append(inner.pop(seed % len(inner)))
        seed //= 7
    return sorted(chosen)


def labelled_texts(cache_dir: Path = DEFAULT_CACHE) -> list[LabelledText]:
    """Every usable turn (finished) and cuts inside it (unfinished, `_cuts`),
    deduplicated by text (the first conversation that has it decides the split)."""
    files = fetch_media(cache_dir, sources=DIALOGUE_SOURCES)
    seen: dict[str, LabelledText] = {}
    cut_index = 0
    for name in sorted(files):
        for conversation in _written_turns(files[name]):
            if not conversation:
                continue
            key = conversation[0]
            split = split_of(key)
            for turn in filter(_usable, conversation):
                whole = turn if split_final_mark(turn)[1] else turn + "."
                seen.setdefault(whole, LabelledText(whole, True, key, split))
                words = turn.split()
                for cut in _cuts(turn, len(words)):
                    ending = _CUT_ENDINGS[cut_index % len(_CUT_ENDINGS)]
                    cut_index += 1
                    text = " ".join(words[:cut]).rstrip(",;:") + ending
                    seen.setdefault(text, LabelledText(text, False, key, split))
    # a cut that is also somebody's whole turn ("Hello." / "Hello, how are you?") is
    # kept once, as finished: the reader cannot tell them apart and should not try;
    # what the kiosk sets say ("Okay.", "Hello.") is left to judge it on
    judged_on = set(QUESTIONS) | set(STATEMENTS)
    return [text for text in seen.values() if text.text not in judged_on]
