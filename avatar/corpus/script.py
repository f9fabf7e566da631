"""What the synthetic partners say: a small seeded grammar of conversational turns.

Why a grammar and not an LLM: generation must be fast, seeded and offline; the
motion model learns timing and reactions, not content, so plausible everyday
sentences with questions, statements, jokes and short replies are enough.
Each turn carries the intents the motion rules need (joke -> smile/laugh,
question -> brow raise at its end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SUBJECTS = ["my sister", "my neighbour", "a friend of mine", "my boss", "the kids", "my dad",
             "our team", "my cousin", "the guy next door", "my old roommate"]
_PLACES = ["the park", "the office", "the market", "the beach", "the library", "the station",
           "that new cafe", "the mountains", "the city centre", "the museum"]
_THINGS = ["a bicycle", "some flowers", "a new phone", "an old map", "a cake", "a puppy",
           "a guitar", "a pair of boots", "a huge pizza", "a tiny robot"]
_TIMES = ["yesterday", "last weekend", "this morning", "on Friday", "a few days ago",
          "last summer", "tonight", "after lunch"]
_TOPICS = ["the weather", "cooking", "the new project", "football", "music", "holidays",
           "the train delays", "gardening", "that movie", "working from home"]
_ADJ = ["amazing", "strange", "lovely", "exhausting", "surprising", "fun", "terrible", "quiet"]

_STATEMENTS = [
    "I went to {place} {time} and it was {adj}.",
    "{Subject} bought {thing} {time}.",
    "Honestly, I have been thinking a lot about {topic} lately.",
    "We should really talk about {topic} at some point.",
    "I think {topic} is more {adj} than people say.",
    "{Subject} told me that {place} was completely full {time}.",
    "I was not expecting it to be so {adj}, to be honest.",
    "The thing is, I never really liked {topic} that much.",
    "It took us almost an hour to get to {place}.",
    "Anyway, that is when {subject} showed up with {thing}.",
    "I tried that once, and it went surprisingly well.",
    "Well, it depends on how you look at it, I suppose.",
    "So we ended up walking all the way to {place}.",
    "I read something about {topic} {time}, it was {adj}.",
]
_QUESTIONS = [
    "Have you ever been to {place}?",
    "What do you think about {topic}?",
    "Did you hear what happened {time}?",
    "How was your weekend, by the way?",
    "Do you want to go to {place} {time}?",
    "Wait, did {subject} really buy {thing}?",
    "Are you serious?",
    "What would you do in that situation?",
    "Is that not a bit {adj}?",
]
_JOKES = [
    "And then {subject} tried to pay with {thing}!",
    "I told the waiter I wanted {thing}, and he actually brought one!",
    "{Subject} got lost in {place}, again, for the third time!",
    "The dog ate my homework, and then it ate my excuses too!",
    "Apparently {thing} is now a valid form of transport!",
    "I tried to be healthy, so I ordered a salad with a pizza on top!",
]
_REPLIES = [
    "Yeah, totally.", "Oh, really?", "No way!", "That makes sense.", "Hmm, I am not sure.",
    "Right, right.", "Exactly!", "Oh, I see.", "Wow.", "Sure, why not.", "Ha, that is funny.",
    "I know, right?", "Fair enough.", "Oh no!",
]
BACKCHANNELS = ["mm-hmm", "yeah", "right", "uh-huh", "okay", "mm", "yes", "oh"]


@dataclass
class Turn:
    """One speaker's turn: sentences plus the intents the motion rules use."""

    speaker: str  # "a" or "b"
    sentences: list[str]
    kind: str  # statement | question | joke | reply
    smile: float = 0.0  # smile intent while speaking (jokes, friendly replies)
    laugh_after: bool = False  # the speaker laughs at the end (jokes)


def _fill(template: str, rng: np.random.Generator) -> str:
    def pick(options: list[str]) -> str:
        return str(options[int(rng.integers(len(options)))])

    subject = pick(_SUBJECTS)
    return template.format(
        subject=subject, Subject=subject[0].upper() + subject[1:], place=pick(_PLACES),
        thing=pick(_THINGS), time=pick(_TIMES), topic=pick(_TOPICS), adj=pick(_ADJ),
    )


def plan_turns(rng: np.random.Generator, n_turns: int) -> list[Turn]:
    """A dialogue of `n_turns` alternating turns with a mix of turn kinds."""
    turns: list[Turn] = []
    speaker = "a" if rng.random() < 0.5 else "b"
    previous_kind = ""
    for _ in range(n_turns):
        r = rng.random()
        if previous_kind == "question" or r < 0.2:
            kind = "reply" if previous_kind != "question" or rng.random() < 0.4 else "statement"
        elif r < 0.4:
            kind = "question"
        elif r < 0.55:
            kind = "joke"
        else:
            kind = "statement"
        if kind == "reply":
            sentences = [str(_REPLIES[int(rng.integers(len(_REPLIES)))])]
            if rng.random() < 0.5:
                sentences.append(_fill(_STATEMENTS[int(rng.integers(len(_STATEMENTS)))], rng))
        else:
            n = int(rng.integers(1, 4))
            sentences = [_fill(_STATEMENTS[int(rng.integers(len(_STATEMENTS)))], rng)
                         for _ in range(n - 1)]
            pool = {"question": _QUESTIONS, "joke": _JOKES, "statement": _STATEMENTS}[kind]
            sentences.append(_fill(pool[int(rng.integers(len(pool)))], rng))
        smile = 0.0
        if kind == "joke":
            smile = float(rng.uniform(0.3, 0.7))
        elif kind == "reply" and rng.random() < 0.3:
            smile = float(rng.uniform(0.2, 0.4))
        turns.append(Turn(speaker, sentences, kind, smile,
                          laugh_after=kind == "joke" and rng.random() < 0.7))
        previous_kind = kind
        speaker = "b" if speaker == "a" else "a"
    return turns
