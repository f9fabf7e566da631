"""Per-turn retrieval: which store facts a visitor's message is about, if any.

The kiosk's small embedded model (Qwen2.5-0.5B) reads all of `kiosk_knowledge.md`
in its system prompt and still tells jokes, answers "what's two plus two", repeats
"I am a banana" when asked to and invents a sofa price. Told "no store fact covers
this" next to the message, it still did, and sometimes read the instruction aloud
(docs/LLM_CHOICE.md). So `plan_turn` decides per message:
- a message no fact is about (and not small talk) gets `OUTSIDE_REPLY`, a fixed
  "I can help with the store" sentence, without the LLM: right every time, and
  instant;
- a store question goes to the LLM, the session's first one with its best fact
  written in front of it on a line of its own ("Store fact: Pets: no pets, except
  service animals..."; `note_facts`, default 1; `first_note`);
- small talk ("Hi there.", "Thanks, bye.") goes to the LLM as it is.

Where the fact goes decides what it costs. One thread of the 0.5B model reads
~60-130 prompt tokens/s on this 2-core machine, so a ~20-token fact read on the
turn costs 0.15-0.4 s before the first token. In front of a question that opens
the conversation, the fact ends a prefix that does not depend on the question
(system prompt + fact), so the embedded server's prompt-state cache
(`EmbeddedLLMServer(prompt_cache_mb=...)`) restores it instead of reading it;
`notes` lists every note so start-up can read each once (docs/LLM_CHOICE.md).

The knowledge file is split into facts: a line starting with a label ("Parking:")
starts a fact, other lines continue it, and each sentence is one entry carrying
its label. Entries are scored against the message with BM25 (Robertson & Zaragoza
2009, "The Probabilistic Relevance Framework: BM25 and Beyond", eq. 3.26) over
lightly stemmed words, with a small table mapping visitor words to the
knowledge's ("bathroom" -> "restroom", "amex" -> "american express"): microseconds
per message.

Words miss a visitor who says "Where can I leave my car?" for "Parking:". With an
encoder (agent/sentence_embedding.py: all-MiniLM-L6-v2 from its PyPI package, ~8 ms
a question on one thread) facts are matched by meaning too: the cosine of the two
embeddings, plus a little of the BM25 score (`hybrid_scores`); how it was chosen and
what it finds: docs/ANSWERS.md.

"""

from __future__ import annotations

import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.errors import MissingModelError
from agent.knowledge_check import check_knowledge, days_named
from agent.persona import read_prompt_file
from agent.question_shape import (
    asks_for_amount,
    asks_for_person,
    asks_for_price,
    asks_for_time,
    asks_for_value,
    asks_what_if,
    is_yes_no_question,
    last_sentence,
    person_words,
    states_amount,
    states_price,
    states_time,
    states_value,
    tells_situation,
)

if TYPE_CHECKING:
    from agent.sentence_embedding import SentenceEncoder
    from agent.settings import LLMSettings, PersonaSettings

#: BM25's usual constants: term-frequency saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75

#: questions whose cosines `KnowledgeIndex.semantic_scores` keeps (a session's history)
COSINES_KEPT = 64

_LABEL = re.compile(r"^[A-Z][\w&' -]{0,40}:\s")
_WORD = re.compile(r"[a-z0-9]+")
# A sentence ends at . ! ? before a capital ("9 a.m. to 8 p.m." stays whole).
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")

# Words that carry no topic. "store", "maple", "main" name the store itself and so
# match everything; question words and pronouns match nothing useful; "cost" and
# "price" alone do not say what about ("How much is a sofa?" is not about delivery).
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at for from by with about into over under
    is are was were be been being am do does did doing have has had having can could
    will would shall should may might must i me my mine you your yours we us our ours
    it its they them their he she his her this that these those there here what which
    who whom whose when where why how much many any some all each every no not yes
    please tell know want need like get got just also still ok okay hi hello hey thanks help
    thank so than then too very really there s t d ll m re ve
    store stores shop maple main home sam
    cost costs price prices expensive""".split()
)

# Visitor words -> the words the knowledge file uses (after stemming). Applied to
# questions and facts alike, so an operator's own wording keeps working.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "bathroom": ("restroom",), "toilet": ("restroom",), "washroom": ("restroom",),
    "loo": ("restroom",), "lavatory": ("restroom",), "wc": ("restroom",),
    "restroom": ("restroom",),
    "open": ("hour",), "close": ("hour",), "closing": ("hour",), "opening": ("hour",),
    "hour": ("hour",), "weekend": ("saturday", "sunday"),
    "holiday": ("holiday",), "christmas": ("holiday", "christma"), "xmas": ("holiday",),
    "year": ("holiday", "year"),
    "park": ("parking",), "parking": ("parking",), "garage": ("parking", "garage"),
    "return": ("return",), "refund": ("return", "refund"), "exchange": ("return",),
    "receipt": ("receipt", "return"),
    "pay": ("payment",), "payment": ("payment",), "card": ("card", "payment"),
    "credit": ("credit", "payment"), "debit": ("payment",), "amex": ("american", "express"),
    "cheque": ("check",), "cash": ("cash", "payment"), "visa": ("visa", "payment"),
    "mastercard": ("mastercard", "payment"),
    "voucher": ("gift",), "gift": ("gift",),
    "deliver": ("delivery",), "delivery": ("delivery",), "shipping": ("delivery",),
    "ship": ("delivery",),
    "pickup": ("pickup",), "pick": ("pickup",), "collect": ("pickup",),
    "online": ("online", "pickup"),
    "coffee": ("cafe", "coffee"), "food": ("cafe",), "eat": ("cafe",), "drink": ("cafe",),
    "lunch": ("cafe",), "snack": ("cafe",), "hungry": ("cafe",), "sandwich": ("cafe",),
    "caf": ("cafe",), "cafe": ("cafe",), "cafeteria": ("cafe",), "restaurant": ("cafe",),
    "phone": ("phone",), "call": ("phone",), "telephone": ("phone",), "email": ("email",),
    "contact": ("phone", "email"), "number": ("phone",),
    "loyalty": ("loyalty",), "reward": ("loyalty",), "point": ("loyalty",),
    "member": ("loyalty",), "membership": ("loyalty",), "cashback": ("loyalty",),
    "competitor": ("price", "match"), "cheaper": ("price", "match"),
    "wifi": ("wifi",), "internet": ("wifi",), "network": ("wifi",), "password": ("wifi",),
    "sofa": ("furniture",), "couch": ("furniture",), "chair": ("furniture",),
    "table": ("furniture",), "bed": ("furniture", "mattress"),
    "lamp": ("lighting",), "light": ("lighting",), "bulb": ("lighting",),
    "towel": ("bath",), "shower": ("bath",), "pan": ("kitchen",), "pot": ("kitchen",),
    "cookware": ("kitchen",), "plant": ("garden",), "flower": ("garden",),
    "patio": ("garden",), "outdoor": ("garden",),
    "lost": ("lost",), "forgot": ("lost",), "left": ("lost",), "missing": ("lost",),
    "dropp": ("lost",), "drop": ("lost",),
    "dog": ("pet",), "cat": ("pet",), "pet": ("pet",), "animal": ("pet", "animal"),
    "puppy": ("pet",),
    "address": ("address",), "located": ("address",), "location": ("address",),
    "direction": ("address",), "bus": ("address", "bus"), "street": ("address",),
}


def _stem(word: str) -> str:
    """A light plural/verb-ending stemmer: enough to meet "restrooms" with "restroom"."""
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


# "bring it back", "take this back", "my money back": a return, not the loyalty
# program's "5 percent back" (the one file word "back" outscored the mattress fact)
_GIVE_BACK = re.compile(r"\b((?:bring|take|money)(?:\s+\w+){0,2})\s+back\b")


def terms(text: str) -> list[str]:
    """The index terms of `text`: lower-cased, stemmed, stopwords out, synonyms in."""
    text = text.lower().replace("wi-fi", "wifi").replace("e-mail", "email")
    text = _GIVE_BACK.sub(r"\1 return", text)
    out: list[str] = []
    for word in _WORD.findall(text):
        if word in _STOPWORDS:
            continue
        stem = _stem(word)
        if stem in _STOPWORDS:
            continue
        out.extend(_SYNONYMS.get(stem, _SYNONYMS.get(word, (stem,))))
    return out


def split_facts(knowledge: str) -> list[str]:
    """One string per fact sentence, each starting with its fact's label.

    A labelled line ("Returns: ...") and the unlabelled lines after it form one
    fact; its sentences become separate entries, so a question about opened
    mattresses gets that sentence (~15 tokens), not the whole returns policy.
    """
    blocks: list[str] = []
    for line in knowledge.splitlines():
        line = line.strip()
        if not line:
            continue
        if blocks and not _LABEL.match(line):
            blocks[-1] = f"{blocks[-1]} {line}"
        else:
            blocks.append(line)
    facts: list[str] = []
    for block in blocks:
        label = _LABEL.match(block)
        for sentence in _SENTENCE_BREAK.split(block):
            if label and not _LABEL.match(sentence):
                sentence = f"{label.group(0)}{sentence}"
            facts.append(sentence)
    return facts


@dataclass(frozen=True)
class Retrieved:
    """The facts chosen for one question, best first, with their BM25 scores."""

    facts: tuple[str, ...]
    scores: tuple[float, ...]

    @property
    def found(self) -> bool:
        """True when at least one fact is about the question."""
        return bool(self.facts)


class KnowledgeIndex:
    """BM25 over the facts of one knowledge file (see the module docstring)."""

    def __init__(
        self,
        facts: list[str],
        *,
        top_k: int = 2,
        note_facts: int = 1,
        min_match: float = 0.5,
        relative_cut: float = 0.6,
        answer_rules: bool = True,
        encoder: SentenceEncoder | None = None,
        semantic_min: float = 0.4,
        lexical_weight: float = 0.1,
        label_weight: float = 0.1,
    ) -> None:
        """`top_k`: most facts `retrieve` returns; `note_facts`: most of them `plan_turn`
        writes in front of a store question (0: none; 1, the default, is the one whose
        note `notes()` lists for the prompt cache; more facts make notes the cache has
        not seen, read on the turn at ~10 ms a token); `min_match`: a fact scoring
        below this share of one shared word found in no other fact is not about the
        question (a word in half the facts scores ~0.1 of that); `relative_cut`:
        facts below this share of the best score are dropped (they are noise);
        `answer_rules`: `plan_turn` answers a yes/no store question with its best fact's
        own words and an amount no fact states with `UNKNOWN_AMOUNT_REPLY`, both without
        the LLM (agent/question_shape.py); `encoder`: with one, facts are matched by
        meaning too (see `hybrid_scores`); a fact whose cosine with the message reaches
        `semantic_min` is about it even with no shared word; `lexical_weight`: how much
        the BM25 score (in units of `min_score`, at most 2) adds to the cosine;
        `label_weight`: what a fact whose label the question names adds (with an encoder)."""
        if not facts:
            raise ValueError("a knowledge index needs at least one fact")
        if top_k < 1 or note_facts < 0 or min_match < 0 or not 0 <= relative_cut <= 1:
            raise ValueError("need top_k >= 1, note_facts >= 0, min_match >= 0 and "
                             "0 <= relative_cut <= 1")
        self.facts = list(facts)
        self.top_k = max(top_k, note_facts)  # a note never wants more than is retrieved
        self.note_facts = note_facts
        self.relative_cut = relative_cut
        self.answer_rules = answer_rules
        self._docs = [Counter(terms(fact)) for fact in self.facts]
        self._lengths = [sum(doc.values()) for doc in self._docs]
        self._mean_length = sum(self._lengths) / len(self._lengths) or 1.0
        df: Counter[str] = Counter()
        for doc in self._docs:
            df.update(doc.keys())
        n = len(self._docs)
        # BM25's idf with the +1 inside the log, so it never goes negative.
        self._idf = {t: math.log(1 + (n - k + 0.5) / (k + 0.5)) for t, k in df.items()}
        # a word only one fact has, at tf 1 in a fact of mean length, scores its idf
        self.min_score = min_match * math.log(1 + (n - 0.5) / 1.5)
        self.encoder = encoder
        self.semantic_min = semantic_min
        self.lexical_weight = lexical_weight
        self.label_weight = label_weight
        self._labels = [set(terms(m.group(0))) if (m := _LABEL.match(f)) else set()
                        for f in self.facts]
        # the store's own name ("Store name: Maple & Main Home Store.") and "store" are in
        # every question about it: embedded, they made "Who owns the store?" and "Is the
        # store hiring?" as near the store-name fact as a paraphrase is to its fact
        names = [f[m.end():].strip(" .") for f in self.facts
                 if (m := re.match(r"(?:store )?name:\s", f, re.IGNORECASE))]
        self._own_name = re.compile(
            r"\b(?:the\s+)?(?:" + "|".join([*map(re.escape, names), "stores?"]) + r")\b",
            re.IGNORECASE)
        self._vectors = (encoder.encode([self._embedded(f) for f in self.facts])
                         if encoder is not None else None)
        # the cosines of the last questions: a turn asks for a question's cosines several
        # times (its plan, its note, the later turns' notes), each an encoder pass
        self._cosines: OrderedDict[str, list[float]] = OrderedDict()

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> KnowledgeIndex:
        """Index an operator's knowledge file (HTML comments dropped, as for the prompt).

        The file is checked first (agent/knowledge_check.py): an empty one or one with
        no labels raises `KnowledgeFileError` naming the line; a label given twice or
        two opening hours for one day is logged as a warning naming both lines."""
        path = Path(path)
        if path.is_file():
            for warning in check_knowledge(path.read_text(encoding="utf-8"), path):
                logger.warning(f"knowledge file: {warning}")
        return cls(split_facts(read_prompt_file(path)), **kwargs)

    @classmethod
    def from_settings(cls, llm: LLMSettings, persona: PersonaSettings) -> KnowledgeIndex | None:
        """The index the product routes with (`llm.retrieval*`, `llm.answer_rules`) over
        `persona.knowledge_file`; None when retrieval is off. The server and the benches
        build it here, alike."""
        if not llm.retrieval:
            return None
        encoder = None
        if llm.retrieval_semantic:
            try:
                from agent.sentence_embedding import SentenceEncoder

                encoder = SentenceEncoder()
            except MissingModelError as error:
                logger.warning(f"retrieval by meaning is off, words only: {error}")
        return cls.from_file(persona.knowledge_file, note_facts=llm.retrieval_facts,
                             answer_rules=llm.answer_rules, encoder=encoder)

    def score(self, question: str) -> list[float]:
        """The BM25 score of every fact for `question` (one per fact, in file order)."""
        query = Counter(terms(question))
        scores = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            norm = BM25_K1 * (1 - BM25_B + BM25_B * length / self._mean_length)
            total = 0.0
            for term in query:  # each query term once: repeats in speech are not emphasis
                tf = doc.get(term, 0)
                if tf:
                    total += self._idf[term] * tf * (BM25_K1 + 1) / (tf + norm)
            scores.append(total)
        return scores

    def _embedded(self, text: str) -> str:
        """`text` as it is embedded: without the store's own name (see `__init__`)."""
        return " ".join(self._own_name.sub(" ", text).split()) or text

    def semantic_scores(self, question: str) -> list[float] | None:
        """The cosine of every fact with `question` (file order); None without an encoder."""
        if self.encoder is None or self._vectors is None:
            return None
        text = self._embedded(question)
        cosines = self._cosines.get(text)
        if cosines is None:
            cosines = (self._vectors @ self.encoder.encode([text])[0]).tolist()
            self._cosines[text] = cosines
            if len(self._cosines) > COSINES_KEPT:
                self._cosines.popitem(last=False)
        else:
            self._cosines.move_to_end(text)
        return list(cosines)

    def hybrid_scores(self, question: str) -> tuple[list[float], bool]:
        """Each fact's score for `question` and whether any fact is about it.

        Words only: BM25, about it at `min_score`. With an encoder: the cosine plus
        `lexical_weight` x the BM25 score in units of `min_score` (capped at 2, so a
        rare shared word breaks a tie of meanings but never outweighs one); about it
        when BM25 says so or the best cosine reaches `semantic_min` (the weights'
        choice: docs/ANSWERS.md)."""
        lexical = self.score(question)
        found = max(lexical) >= self.min_score
        semantic = self.semantic_scores(question)
        if semantic is None:
            return lexical, found
        found = found or max(semantic) >= self.semantic_min
        # a fact whose label the question names is the one it is about: "Where is the
        # cafe?" was nearer "Restrooms: on the second floor, next to the cafe." by meaning
        asked = set(terms(question))
        return [c + self.lexical_weight * min(b / self.min_score, 2.0)
                + (self.label_weight if asked & label else 0.0)
                for b, c, label in zip(lexical, semantic, self._labels, strict=True)], found

    def words_lead_to(self, question: str, fact: str) -> bool:
        """True when the word match alone ranks `fact` first for `question` (ties
        included), or finds nothing at all (a paraphrase: the meaning leads alone)."""
        lexical = self.score(question)
        best = max(lexical)
        if best < self.min_score:
            return True
        return lexical[self.facts.index(fact)] >= best

    def leads_clearly(self, question: str, fact: str, margin: float = 0.05) -> bool:
        """True when `fact` scores first for `question` (`hybrid_scores`) by at least
        `margin` of its score over the second: "I lost my phone." is about as near the
        phone number as lost and found, and neither is clearly meant."""
        scores = self.hybrid_scores(question)[0]
        own = scores[self.facts.index(fact)]
        ranked = sorted(scores, reverse=True)
        return own >= ranked[0] and (len(ranked) < 2 or own - ranked[1] >= margin * own)

    def means_little(self, question: str, fact: str) -> bool:
        """True when, by meaning, `fact` is not about `question` (its cosine is under
        `semantic_min`); False without an encoder (nothing to say so)."""
        semantic = self.semantic_scores(question)
        return semantic is not None and semantic[self.facts.index(fact)] < self.semantic_min

    def retrieve(self, question: str) -> Retrieved:
        """Up to `top_k` facts about `question`, best first; none when nothing scores."""
        scores, found = self.hybrid_scores(question)
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: self.top_k]
        best = scores[ranked[0]]
        if not found:
            return Retrieved(facts=(), scores=())
        kept = [i for i in ranked if scores[i] >= self.relative_cut * best]
        return Retrieved(
            facts=tuple(self.facts[i] for i in kept),
            scores=tuple(round(scores[i], 3) for i in kept),
        )


#: Written in front of a store question, in the visitor's message. It must end the
#: prefix that llama.cpp's prompt cache restores, so it ends in a newline (the question
#: then starts a new token whatever it is) and holds nothing from the question.
FACTS_NOTE = "Store fact: {facts}\n"
#: Said, without asking the LLM, to a message no store fact is about. The 0.5B model
#: told "no fact covers this" still told jokes, invented prices and read the
#: instruction aloud; a fixed answer is right every time and needs no LLM time.
OUTSIDE_REPLY = (
    "Sorry, I don't know that. I can help with questions about the store, like opening "
    "hours, returns or delivery."
)
#: Said to a store question that asks for an amount no fact states ("How much is a
#: sofa?"): asked, the model invented prices next to the departments fact.
UNKNOWN_AMOUNT_REPLY = "Sorry, I don't know that. A member of staff can tell you."
# Messages made only of these words are small talk: the LLM answers them as before.
_SMALL_TALK = frozenset(
    """hi hello hey hiya morning afternoon evening good great nice fine cool ok okay
    thanks thank thx cheers you bye goodbye see later care have day night there sam
    yes no yeah yep nope sure alright right please welcome how are doing well oh ah
    um uh hmm so much very lot all""".split()
)


def is_small_talk(message: str) -> bool:
    """A greeting, thanks or goodbye ("Hi there.", "Thanks, bye."): no facts needed."""
    words = _WORD.findall(message.lower())
    return bool(words) and all(word in _SMALL_TALK for word in words)


@dataclass(frozen=True)
class TurnPlan:
    """How to answer one message: ask the LLM (with `note` written in front of the
    message, if any), or say `reply` without the LLM."""

    note: str | None = None
    reply: str | None = None

    def message(self, text: str) -> str:
        """The user message the LLM reads: `note` + `text` (just `text` without a note)."""
        return f"{self.note}{text}" if self.note else text


# A fact's answer that starts with a yes/no word, and one with a subject of its own.
_YES_NO = re.compile(r"^(?:no|yes),\s+", re.IGNORECASE)
_OWN_SUBJECT = re.compile(r"^(?:we|you|there)\b", re.IGNORECASE)


def spoken_fact(fact: str) -> str:
    """A knowledge-file sentence as the kiosk says it in answer to a yes/no question.

    The yes/no word is dropped: "Holidays: no, we are not open on Christmas Day" is
    right for "Are you open on Christmas?" and reads as a contradiction after "Is the
    store closed on Christmas?"; the statement itself is right after either. The
    label is dropped when what follows has a subject of its own ("We do not accept
    personal checks."), and kept when it names what the rest is about ("Opened
    mattresses and cut fabric: they cannot be returned.")."""
    text = " ".join(fact.split())
    label = _LABEL.match(text)
    if label is None:
        return text
    rest, answered = _YES_NO.subn("", text[label.end():].lstrip(), count=1)
    if answered and _OWN_SUBJECT.match(rest):
        return rest[0].upper() + rest[1:]
    return f"{label.group(0).rstrip()} {rest}"


def covered(message: str, fact: str) -> float:
    """The share of the message's terms (`terms`, each once) that the fact holds."""
    asked = set(terms(message))
    return len(asked & set(terms(fact))) / len(asked) if asked else 0.0


def label_of(fact: str) -> str | None:
    """A fact's label ("Delivery" of "Delivery: ..."); None for an unlabelled one."""
    label = _LABEL.match(fact)
    return label.group(0).rstrip(": ") if label else None


def names_topic(message: str, fact: str) -> bool:
    """True when the message names the fact's topic, its label ("Can I bring my dog?"
    and "Pets: ..."). A fact is spoken as the answer only then: "Is my bike ready yet?"
    shares only "ready" with "Full overhaul: Ready in three days.", which is about
    something else (the bike shop example's file)."""
    label = _LABEL.match(fact)
    return label is not None and bool(set(terms(label.group(0))) & set(terms(message)))


_CONDITION = re.compile(
    r"\b(?:over|above|under|below|within|more than|less than|at least|up to|or more)\s+"
    r"(?:\$\s?)?\d", re.IGNORECASE)


def has_condition(fact: str) -> bool:
    """True when a fact ties what it says to a threshold ("free delivery for orders
    over 300 dollars within 20 miles")."""
    return _CONDITION.search(fact) is not None


def condition_answer(fact: str, message: str) -> str:
    """The fact's own words for a question that states an amount against its threshold:
    the branch that amount takes when the fact is written "X for orders over 300
    dollars ...; otherwise Y" (400 dollars: "Delivery: free delivery for orders over 300
    dollars within 20 miles."; 250: "Delivery costs 49 dollars."), else the whole fact."""
    from agent.fact_reading import extract_facts

    spoken = spoken_fact(fact)
    clauses = [c.strip(" .") for c in spoken.split(";")]
    otherwise = [c for c in clauses if c.lower().startswith("otherwise ")]
    asked = [f for f in extract_facts(message) if f.kind == "number"]
    for condition in (f for f in extract_facts(spoken) if f.kind == "number" and f.comparison):
        amounts = [max(int(v) for v in a.values) for a in asked
                   if a.unit == condition.unit and condition.unit is not None]
        if len(amounts) != 1 or len(otherwise) != 1:
            continue
        threshold = max(int(v) for v in condition.values)
        holds = amounts[0] > threshold if condition.comparison == "above" else (
            amounts[0] <= threshold)
        if holds:
            return next(c for c in clauses if condition.text in c) + "."
        rest = otherwise[0][len("otherwise "):]
        return rest[0].upper() + rest[1:] + "."
    return spoken


# A message that leans on the one before: "For how long?", "And is it free?", "What about Sunday?"
_LEANS_BACK = re.compile(
    r"^\W*(?:and|but|so|also|what about|how about)\b|\b(?:it|its|that|this|there|they|them|those)\b",
    re.IGNORECASE)


def is_follow_up(message: str) -> bool:
    """True when `message` reads as a follow-up that needs the visitor's question before
    it ("For how long?", "And until what time is it open?"), not a new topic."""
    words = _WORD.findall(message.lower())
    return bool(words) and (len(words) <= 3 or (len(words) <= 8 and bool(_LEANS_BACK.search(message))))


# A question whose subject is a pronoun ("And until what time is it open?" after "Where
# is the cafe?"): the question alone does not say which thing, and so which fact.
_PRONOUN = re.compile(r"\b(?:it|its|they|them|those)\b", re.IGNORECASE)


def leans_on(index: KnowledgeIndex, message: str, previous: str | None) -> bool:
    """True when `message` speaks of what the store question before it (`previous`) was
    about through a pronoun: its own best fact may be another thing's ("is it open?"
    finds the store's opening hours after a question about the cafe)."""
    return (previous is not None and _PRONOUN.search(last_sentence(message)) is not None
            and index.retrieve(previous).found)


def plan_turn(index: KnowledgeIndex, message: str, previous: str | None = None) -> TurnPlan:
    """Facts found: the LLM answers, with up to `index.note_facts` of them in front of
    the question; with `index.answer_rules`, what the question asks for decides which
    fact may answer it (`ANSWER_RULES`: a rule may decline, say a fact's own sentence,
    or narrow the facts). Small talk: the LLM answers as it is. A follow-up no fact is
    about on its own ("For how long?" after "Is there parking?": `previous`, the
    visitor's message before) goes to the LLM, which reads the visit, when the two
    together are about a fact. Anything else is outside the store facts:
    `OUTSIDE_REPLY`, without the LLM (docs/ANSWERS.md, section 7: why each rule)."""
    retrieved = index.retrieve(message)
    if retrieved.found:
        facts_found = list(retrieved.facts)
        if index.answer_rules:
            for rule in ANSWER_RULES:
                outcome = rule(index, message, facts_found)
                if isinstance(outcome, TurnPlan):
                    return outcome
                facts_found = outcome
        if index.note_facts == 0:
            return TurnPlan()
        facts = " ".join(facts_found[: index.note_facts])
        return TurnPlan(note=FACTS_NOTE.format(facts=facts))
    if is_small_talk(message):
        return TurnPlan()
    if previous and is_follow_up(message):
        joined = plan_turn(index, f"{previous} {message}")
        if joined.reply in (OUTSIDE_REPLY, UNKNOWN_AMOUNT_REPLY):
            return joined  # about nothing, or an amount, time or person no fact states
        return TurnPlan()  # no note: the LLM reads the question before it in the visit
    return TurnPlan(reply=OUTSIDE_REPLY)


#: one answer rule: the facts it leaves (best first), or the turn's plan, which ends it
AnswerRule = Callable[[KnowledgeIndex, str, list[str]], "list[str] | TurnPlan"]
DECLINE = TurnPlan(reply=UNKNOWN_AMOUNT_REPLY)


def amount_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """"How much": only facts on the best fact's topic that state an amount (a price when
    a price is asked) and that the question's words lead to, not its meaning alone (a
    shorter fact outscores the one with the figure; meaning alone reaches a neighbouring
    fact's price)."""
    if not asks_for_amount(message):
        return facts
    lexical = dict(zip(index.facts, index.score(message), strict=True))
    states = states_price if asks_for_price(message) else states_amount
    topic = label_of(facts[0])
    kept = [fact for fact in facts if states(fact) and label_of(fact) == topic
            and (lexical[fact] >= index.min_score or names_topic(message, fact))]
    return kept or DECLINE


def time_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """"What time": only facts that state a clock time (else the model lends one fact's
    hour to another thing)."""
    if not asks_for_time(message):
        return facts
    return [fact for fact in facts if states_time(fact)] or DECLINE


def person_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """"Who": declined unless a fact names the role asked about (else the model
    invents a name)."""
    if asks_for_person(message) and not person_words(message) & person_words(" ".join(facts)):
        return DECLINE
    return facts


def condition_rule(index: KnowledgeIndex, message: str,
                   facts: list[str]) -> list[str] | TurnPlan:
    """An amount asked about a fact with a threshold ("over 300 dollars"): the fact's
    own words say which side it falls (the small model turned the side round)."""
    best = facts[0]
    if states_amount(message) and has_condition(best) and names_topic(message, best):
        return TurnPlan(reply=condition_answer(best, message))
    return facts


def yes_no_spoken_rule(index: KnowledgeIndex, message: str,
                       facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question naming its fact's topic, which its words (not only its
    meaning) lead to: the fact's own sentence is said. Not when the topic is named by
    a word alone, far in meaning and under half the question ("Does the garden center
    sell Christmas trees?" names the holidays' "Christmas": that fact does not answer it)."""
    best = facts[0]
    if (is_yes_no_question(message) and names_topic(message, best)
            and not (index.means_little(message, best) and covered(message, best) < 0.5)
            and (asks_for_amount(message) or index.words_lead_to(message, best))):
        return TurnPlan(reply=spoken_fact(best))
    return facts


def yes_no_unrelated_rule(index: KnowledgeIndex, message: str,
                          facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question whose best fact is not near it in meaning and holds under half
    of its words: declined (the model answers yes or no where the file says neither),
    even when a word names the fact's topic (one word of "Christmas trees")."""
    best = facts[0]
    if (is_yes_no_question(message)
            and index.means_little(message, best) and covered(message, best) < 0.5):
        return DECLINE
    return facts


def situation_rule(index: KnowledgeIndex, message: str,
                   facts: list[str]) -> list[str] | TurnPlan:
    """The visitor tells their situation ("I want to return a lamp.", "I don't have the
    receipt anymore.") or asks what happens under a condition ("What happens if I return
    something without the receipt?"), naming the topic of the fact the words lead to: the
    fact's own sentence is said, when the retrieval clearly means that fact
    (`leads_clearly`): the small model contradicted a fact's condition, or declined
    with the fact in front of it."""
    best = facts[0]
    if ((tells_situation(message) or asks_what_if(message)) and names_topic(message, best)
            and index.words_lead_to(message, best) and index.leads_clearly(message, best)):
        return TurnPlan(reply=spoken_fact(best))
    return facts


#: kinds of value that, when no fact found states one, are declined: asked "How long is
#: the warranty on a mattress?", the model gave the returns' "30 days"
_DECLINED_WITHOUT = frozenset({"duration"})


def value_clause(fact: str, message: str, kind: str) -> str:
    """The fact's own words that answer a question for a `kind` of value
    (agent/question_shape.py `asks_for_value`), as the kiosk says them.

    A fact of several clauses ("Opening hours: Monday to Saturday 9 a.m. to 8 p.m.; Sunday
    10 a.m. to 6 p.m.") is said as the one clause that states the value and shares the most
    words with the question (a day inside a span of days counts), with the fact's label
    ("What time do you open on Sunday?" -> "Opening hours: Sunday 10 a.m. to 6 p.m."); with no one such clause, or a condition
    in the fact (its branches belong together), the whole sentence (`spoken_fact`)."""
    spoken = spoken_fact(fact)
    label = _LABEL.match(spoken)
    head = label.group(0) if label else ""
    clauses = [c.strip(" .") for c in spoken[len(head):].split(";")]
    stating = [c for c in clauses if states_value(c, kind)]
    if has_condition(fact) or len(clauses) < 2 or not stating:
        return spoken
    asked = set(terms(message)) - set(terms(head))
    shared = [len(asked & set(terms(c))) + len(days_named(message) & days_named(c))
              for c in stating]
    if len(stating) > 1 and (max(shared) == 0 or shared.count(max(shared)) > 1):
        return spoken
    clause = stating[shared.index(max(shared))]
    return f"{head}{clause[0].upper() if not head else clause[0]}{clause[1:]}."


def value_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """A question for a value (a clock time, a price, a duration, a day, an e-mail, a phone
    number, a place) about a fact that states that kind of value: the fact's own words
    say it (`value_clause`), not the model's paraphrase (which paired true values
    wrongly: "The doors close on Sundays at 10 a.m.", or left the value out: the e-mail
    address). A duration no fact found states is declined; a pronoun subject ("is it
    open?") leaves the turn to the model, which reads the visit."""
    kind = asks_for_value(message)
    if kind is None or _PRONOUN.search(last_sentence(message)):
        return facts
    stating = [fact for fact in facts if states_value(fact, kind)]
    if not stating:
        return DECLINE if kind in _DECLINED_WITHOUT else facts
    fact = stating[0]
    if index.means_little(message, fact) and not (
            names_topic(message, fact) or index.words_lead_to(message, fact)):
        return facts
    return TurnPlan(reply=value_clause(fact, message, kind))


#: in this order: the first to end the turn decides it
ANSWER_RULES: tuple[AnswerRule, ...] = (amount_rule, time_rule, person_rule, condition_rule,
                                        yes_no_spoken_rule, yes_no_unrelated_rule,
                                        situation_rule, value_rule)


def first_note(index: KnowledgeIndex, messages: list[Any]) -> list[Any] | None:
    """`messages` (chat messages, oldest first) with `plan_turn`'s note written in front
    of the first user message that gets one; None when none does.

    Only the first: when it opens the conversation, system prompt + note is a prefix
    the prompt cache holds (see the module docstring); written again on every later
    request, it keeps the prefix those requests share with the last one. A message that
    speaks of the store question before it through a pronoun gets none (`leans_on`):
    after "Where is the cafe?" (answered by the cafe's sentence, without the LLM), "And
    until what time is it open?" would get the store's opening hours.
    """
    previous: str | None = None
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):  # a message in parts: its text parts
            content = " ".join(part.get("text", "") for part in content
                               if isinstance(part, dict) and part.get("type") == "text")
        if not isinstance(content, str) or not content.strip():
            continue
        previous, before = content, previous
        if leans_on(index, content, before):
            continue  # its own best fact may be another thing's: the visit says which
        plan = plan_turn(index, content)
        if plan.note is not None:
            return [*messages[:i], {"role": "user", "content": plan.message(content)},
                    *messages[i + 1:]]
    return None


def notes(index: KnowledgeIndex) -> list[str]:
    """Every one-fact note `plan_turn` can write, for warming llama.cpp's prompt cache
    at start-up (a note of several facts is cached the first time it is used)."""
    if index.note_facts == 0:
        return []
    return [FACTS_NOTE.format(facts=fact) for fact in index.facts]
