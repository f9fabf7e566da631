"""A visitor's message that asks about several things at once, cut into its parts.

"What are your opening hours and how does delivery work?" asks two questions; "Please
tell me everything about delivery and returns and gift cards." names three topics.
Retrieval ranks the file's facts for the whole message, and the best one alone (or
the one rule that answers it) spoke for all of it: the reply told the hours and never
the delivery. So the routing (agent/answers/routing.py `plan_turn`) answers each part
and joins the answers; this module says where the parts are, in general English:

- **where a message may join parts**: between its sentences, and inside one at a
  comma or semicolon, "and", "and also", "as well as" or "plus" (`segments`);
- **what each piece is**: a question of its own (it opens with an auxiliary or a
  wh-word: "how does delivery work"), context for the piece after it (the visitor's
  situation or a condition: "I lost my receipt, ...", "If I pop out for lunch, ..."),
  a topic after a join ("... and returns") or, at a sentence's start, a request
  ("Please tell me everything about delivery");
- **a piece is a part of its own only when it is a question or topic on its own**: it
  has words of its own (not only "and you?"), it does not lean on the piece before
  through a pronoun ("... and is it open late?"), and it finds a fact of its own whose
  topic (label) differs from the part before's. A topic or a request must also name its
  fact's topic, and a topic after a join lead the facts of other topics clearly and
  follow a part that found a fact: "Do you sell tables and chairs?", "Is parking free
  for customers and visitors?" and "bread and butter" are one topic each (the two sides
  find one fact, or one side none). A question that finds no fact is a part of its own
  (one the file does not answer) only when it names, in a rarer word, a thing the file
  does not hold, and is far in meaning from the other part's fact;
- **a topic is asked as the question before it asks** ("Where are the restrooms, the
  cafe ...": "Where are the cafe"), so the rules that answer a question answer it.

Anything else stays with the piece before it, and a message of one part is routed
whole, exactly as before. Plain patterns plus the retrieval the turn runs anyway (one
encoder pass a piece, ~8 ms, only for a message with a join).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.answers.index import KnowledgeIndex, label_of, unheld_words
from agent.answers.shape import opens_question

#: most parts a message is answered in (a reply of two or three sentences, a note of at
#: most three facts for the 0.5B model); further pieces stay with the third
MAX_PARTS = 3
#: a topic after a join leads the best fact of any other topic by this share of its score
TOPIC_LEAD = 0.05
#: a question finding no fact is its own part only below this cosine to the fact of the
#: part before ("how long can I stay" after "Is parking free" is about the parking)
UNRELATED_COSINE = 0.25

# A sentence ends at "?" or "!", or at "." before a capital or the end ("9 a.m. on
# Monday" goes on).
_SENTENCE_END = re.compile(r"[?!]+|\.(?=\s+[A-Z0-9\"']|\s*$)")
# Inside a sentence, where clauses or topics are joined.
_JOIN = re.compile(r",(?=\s)|;|\s+(?:and\s+also|and|as\s+well\s+as|plus)\s+(?=\S)", re.IGNORECASE)
# Words that join a piece to the one before, said at its start ("And do you ...", "Also, ...").
_CONNECTIVE = re.compile(r"^(?:(?:and|also|plus|but|so|then|oh|well|ok|okay)\b[\s,]*)+",
                         re.IGNORECASE)
# A piece that sets the scene for the one after: a condition or time clause, or the
# visitor's own situation ("I lost my receipt", "My son is twelve").
_CONDITION = re.compile(r"^(?:if|because|since|although|though|unless|while|as|in case|"
                        r"(?:when|before|after|once)\s+(?:i|we|you|my|our|the|a)\b)",
                        re.IGNORECASE)
_FIRST_PERSON = re.compile(r"^(?:i|i'm|i've|i'd|i'll|im|we|we're|we've)\b"
                           # "My son is twelve", not "... and my stroller" (a topic)
                           r"|^(?:my|our)\s+\S+\s+\S+\s+\S", re.IGNORECASE)
# ... unless the visitor asks through it ("I'd like to know your hours", "I was wondering ...")
_ASKING = re.compile(r"\b(?:know|tell|ask|asking|wonder|wondering|hear|learn|find out|"
                     r"information|info|explain)\b", re.IGNORECASE)
# A piece that speaks of the one before: "... and is it open late?", "... and do they expire?"
_LEANS_BACK = re.compile(r"\b(?:it|its|it's|they|them|their|those|that|this|these|he|she|him|her|his)\b",
                         re.IGNORECASE)

QUESTION, CONTEXT, TOPIC, REQUEST = "question", "context", "topic", "request"


@dataclass(frozen=True)
class Segment:
    """A piece of a message between two joins: where it is (`start`, `end`), its words
    without the join's own ("and", "also"), and what it is (module docstring)."""

    start: int
    end: int
    text: str
    kind: str


def segments(message: str) -> list[Segment]:
    """The message cut at every place it may join parts (module docstring), in order."""
    out: list[Segment] = []
    sentence_start = 0
    ends = [m.end() for m in _SENTENCE_END.finditer(message)]
    for sentence_end in [*ends, len(message)]:
        piece_start = sentence_start
        joins = [(m.start(), m.end()) for m in _JOIN.finditer(message, sentence_start, sentence_end)]
        for cut_start, cut_end in [*joins, (sentence_end, sentence_end)]:
            raw = message[piece_start:cut_start]
            text = _CONNECTIVE.sub("", raw.strip(" \t\n,;.!?")).strip(" ,")
            if text:
                start = piece_start + len(raw) - len(raw.lstrip())
                out.append(Segment(start, cut_start, text,
                                   _kind(text, sentence_start=piece_start == sentence_start)))
            piece_start = cut_end
        sentence_start = sentence_end
    return out


def _kind(text: str, *, sentence_start: bool) -> str:
    """What a piece is: a question, context, a topic after a join, or a request."""
    if _CONDITION.match(text) or (_FIRST_PERSON.match(text) and not _ASKING.search(text)):
        return CONTEXT
    if opens_question(text):
        return QUESTION
    return REQUEST if sentence_start else TOPIC


@dataclass
class _Part:
    start: int
    end: int
    fact: str | None  # the best fact its first piece finds alone
    asked: str  # its first piece's words
    frame: str = ""  # a topic's question, borrowed from the part before ("Where are")


def message_parts(index: KnowledgeIndex, message: str) -> list[str]:
    """The parts of `message` that are each a question or topic on its own (module
    docstring), each with the context told before it; `[message]` when it has one."""
    pieces = segments(message)
    if len(pieces) < 2:
        return [message]
    parts: list[_Part] = []
    context_start: int | None = None
    for piece in pieces:
        fact = _own_fact(index, piece) if index.lexical_terms(piece.text) else None
        if piece.kind == CONTEXT or (fact is None and not _asks_of_its_own(index, piece)):
            if parts and piece.kind != CONTEXT:
                parts[-1].end = piece.end  # "... and visitors": the part before's
            elif context_start is None:
                context_start = piece.start  # told for the part after it
            continue
        start = piece.start if context_start is None else context_start
        context_start = None
        if not parts or (len(parts) < MAX_PARTS and _on_its_own(index, piece, fact, parts[-1])):
            frame = ""
            if piece.kind == TOPIC and parts:
                frame = parts[-1].frame or _frame(index, parts[-1].asked)
            parts.append(_Part(start, piece.end, fact, piece.text, frame))
        else:
            parts[-1].end = piece.end
    if len(parts) < 2 or not any(p.fact for p in parts):
        return [message]
    parts[-1].end = len(message)  # context told after the last part is its
    return [" ".join([p.frame, _CONNECTIVE.sub("", message[p.start:p.end].strip(" ,;"))]).strip()
            for p in parts]


def _frame(index: KnowledgeIndex, asked: str) -> str:
    """The words a question or request asks with, before its topic ("Where are" of
    "Where are the restrooms", "Do you have" of "Do you have Wi-Fi"): a topic joined
    after it ("..., the cafe") is asked the same way."""
    words = asked.split()
    for i, word in enumerate(words):
        if index.lexical_terms(word):
            return " ".join(w for w in words[:i] if w.lower() not in _DETERMINERS)
    return ""


#: words that open a noun phrase, not a question's frame
_DETERMINERS = frozenset("the a an your our its their this that these those some any".split())


def _own_fact(index: KnowledgeIndex, piece: Segment) -> str | None:
    """The best fact the piece finds alone; None when it finds none, when a piece that is
    no question does not name that fact's topic, or when a topic after a join does not
    lead other topics' facts clearly."""
    found = index.retrieve(piece.text)
    if not found.found:
        return None
    best = found.facts[0]
    if piece.kind == QUESTION:
        return best
    if not index.names_topic(piece.text, best):
        return None  # "Excuse me": a word near a fact's, no topic named
    if piece.kind == REQUEST:
        return best
    scores = index.hybrid_scores(piece.text)[0]
    own = scores[index.facts.index(best)]
    others = [s for f, s in zip(index.facts, scores, strict=True) if label_of(f) != label_of(best)]
    leads = not others or own - max(others) >= TOPIC_LEAD * own
    return best if leads else None


def _asks_of_its_own(index: KnowledgeIndex, piece: Segment) -> bool:
    """True when a piece that finds no fact is still a question of its own: it opens as
    a question and names, in a rarer word, a thing the file does not hold ("and do you
    do gift wrapping?"); not "and how long can I stay?", which asks about the part
    before's topic in common words."""
    return piece.kind == QUESTION and bool(unheld_words(index, piece.text))


def _on_its_own(index: KnowledgeIndex, piece: Segment, fact: str | None, before: _Part) -> bool:
    """Whether `piece` starts a part of its own after the part `before` (module
    docstring): it does not lean on it, and it finds a fact of another topic than
    `before`'s, or (a question finding none) is far in meaning from `before`'s fact."""
    if _LEANS_BACK.search(piece.text):
        return False
    if fact is not None and before.fact is not None:
        return label_of(fact) != label_of(before.fact)
    if fact is not None:  # after a question the file does not answer
        return piece.kind != TOPIC and _unrelated(index, before.asked, fact)
    if before.fact is None:
        return False  # two questions that find nothing: routed whole, as before
    return _unrelated(index, piece.text, before.fact)


def _unrelated(index: KnowledgeIndex, asked: str, fact: str) -> bool:
    """True when a question that finds no fact is far in meaning from `fact` (another
    part's), so it is not that part's topic asked about in other words."""
    cosines = index.semantic_scores(asked)
    return cosines is not None and cosines[index.facts.index(fact)] < UNRELATED_COSINE
