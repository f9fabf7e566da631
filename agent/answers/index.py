"""The index of an operator's knowledge file: its facts, and which of them a message is about.

The file is split into facts: a line starting with a label ("Opening hours:") starts a
fact, other lines continue it, and each sentence is one entry carrying its label.
Entries are scored against a message two ways:
- by words: BM25 (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework:
  BM25 and Beyond", eq. 3.26) over lightly stemmed words: microseconds a message;
- by meaning: the cosine of sentence embeddings (agent/sentence_embedding.py,
  all-MiniLM-L6-v2 from its PyPI package, ~8 ms a question on one thread), plus a
  little of the BM25 score (`hybrid_scores`).

A visitor's word the file does not use is met by meaning too, not by a hand-written
synonym table: each word of the file is embedded once, and a question's word that is
not in the file counts as the file word nearest to it in meaning when the cosine of
the two reaches `word_meaning_min` ("toilet" counts as the file's "restrooms"). The
rules that ask whether a question names a fact's topic read these words too. Where the
model does not know a synonym ("couch" and "sofa"), WordNet may
(agent/answers/thesaurus.py): a rarer word of the visitor's counts as the file word it
names there.

Nothing here knows any business: the file's own name (the value of a label ending in
"name") and the persona's name are in every question about the place, and are left out
of what is matched (docs/ANSWERS.md: how the weights were chosen and what they find).

One index serves every session of a server, and a turn's encodings may be made in a worker
thread ahead of its routing (agent/answers/routing.py `prepare_turn`): what the index keeps
of the questions it met (their cosines, the meanings of their words) is read and written
under one lock, never held while encoding.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent.answers.common import CALENDAR, PLACEHOLDER_WORDS, common_words
from agent.answers.knowledge_file import load_knowledge_file
from agent.answers.lines import DEFAULT_LINES, AnswerLines
from agent.answers.shape import question_part
from agent.answers.thesaurus import Thesaurus
from agent.errors import MissingModelError
from agent.persona import persona_name, read_prompt_file

if TYPE_CHECKING:
    from agent.sentence_embedding import SentenceEncoder
    from agent.settings import LLMSettings, PersonaSettings

#: BM25's usual constants: term-frequency saturation and length normalisation.
BM25_K1 = 1.2
BM25_B = 0.75

#: questions whose cosines `KnowledgeIndex.semantic_scores` keeps (a session's history)
COSINES_KEPT = 64

LABEL = re.compile(r"^[A-Z][\w&' -]{0,40}:\s")
WORD = re.compile(r"[a-z0-9]+")
# A sentence ends at . ! ? before a capital ("9 a.m. to 8 p.m." stays whole).
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")

# English words that carry no topic: function words, question words, pronouns and
# politeness; "cost" and "price" alone do not say what about ("How much is a sofa?").
_STOPWORDS = frozenset(
    """a an the and or but if of to in on at for from by with about into over under
    is are was were be been being am do does did doing have has had having can could
    will would shall should may might must i me my mine you your yours we us our ours
    it its they them their he she his her this that these those there here what which
    who whom whose when where why how much many any some all each every no not yes
    please tell know want need like get got just also still ok okay hi hello hey thanks help
    thank so than then too very really there s t d ll m re ve
    cost costs price prices expensive""".split()
)


def stem(word: str) -> str:
    """A light plural/verb-ending stemmer: enough to meet "rooms" with "room"."""
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ches", "ch"), ("shes", "sh"),
                                ("xes", "x"), ("ing", ""), ("ed", "")):
        if word.endswith(suffix) and len(word) - len(suffix) + len(replacement) >= 3 + (
                suffix in ("ies", "sses")):
            return word[: -len(suffix)] + replacement
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


#: informal spellings a transcript or a visitor writes, in their standard English form
INFORMAL_SPELLINGS = {"thru": "through", "tho": "though", "nite": "night", "tonite": "tonight",
                      "nr": "near", "thx": "thanks", "pls": "please", "plz": "please"}


def terms(text: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """The index terms of `text`: lower-cased, stemmed, stopwords (and `skip`) out."""
    text = re.sub(r"(\w)-(\w)", r"\1\2", text.lower())  # "e-mail" = "email"
    out: list[str] = []
    for word in (INFORMAL_SPELLINGS.get(w, w) for w in WORD.findall(text)):
        if word in _STOPWORDS or word in skip:
            continue
        stemmed = stem(word)
        if stemmed not in _STOPWORDS and stemmed not in skip:
            out.append(stemmed)
    return out


#: verbs that say one act with a particle after them ("get in", "come back", "drop off"),
#: each a word `terms` leaves out (a stopword, or too common to name a topic)
_PHRASAL_FORMS = {"get": "gets getting got", "come": "comes coming came",
                  "go": "goes going went", "drop": "drops dropping dropped",
                  # regular: -s, -ing, -ed
                  **{verb: f"{verb}s {verb}ing {verb}ed" for verb in ("check", "pick", "sign")}}
_PHRASAL_VERBS = {form: base for base, forms in _PHRASAL_FORMS.items()
                  for form in (base, *forms.split())}
_PHRASAL = re.compile(r"\b(" + "|".join(_PHRASAL_VERBS) + r")\s+(in|into|out|up|off|back|on|through)\b",
                      re.IGNORECASE)


#: any word and a particle after it, perhaps a pronoun between: a verb-and-particle phrase
#: where WordNet holds one ("bring back", "dropped off", "bring it back"); not a noun
#: after "a", "the", "my" ... ("a lift up to")
_VERB_PARTICLE = re.compile(r"\b(?<!\ba\s)(?<!\ban\s)(?<!\bthe\s)(?<!\bmy\s)(?<!\bour\s)"
                            r"(?<!\byour\s)([a-z]+)\s+((?:it|this|that|them|these|those)\s+)?"
                            r"(back|off|up|out|in|on|over|away|down|by|around)\b", re.IGNORECASE)
#: a phrase's WordNet synonym stands for it where the two are this near in meaning: its
#: commonest sense ("bring back" and "return": 0.595), not a rarer one ("pop out" and
#: "start": 0.264, "come in" and "entrance": 0.501; docs/ANSWERS.md, section 32)
PHRASE_MEANING_MIN = 0.55


def phrasal_verbs(text: str) -> set[str]:
    """The verb-and-particle acts `text` names, in their base form ({"get in"} of "children
    under 12 get in free" and of "How much is it to get in?"): one act `terms` does not see."""
    return {f"{_PHRASAL_VERBS[verb.lower()]} {particle.lower()}"
            for verb, particle in _PHRASAL.findall(text)}


def split_facts(knowledge: str) -> list[str]:
    """One string per fact sentence, each starting with its fact's label.

    A labelled line and the unlabelled lines after it form one fact; its sentences
    become separate entries, so a question gets the one sentence that answers it
    (~15 tokens), not the whole paragraph.
    """
    blocks: list[str] = []
    for line in knowledge.splitlines():
        line = line.strip()
        if not line:
            continue
        if blocks and not LABEL.match(line):
            blocks[-1] = f"{blocks[-1]} {line}"
        else:
            blocks.append(line)
    facts: list[str] = []
    for block in blocks:
        label = LABEL.match(block)
        for sentence in _SENTENCE_BREAK.split(block):
            if label and not LABEL.match(sentence):
                sentence = f"{label.group(0)}{sentence}"
            facts.append(sentence)
    return facts


def label_of(fact: str) -> str | None:
    """A fact's label ("Delivery" of "Delivery: ..."); None for an unlabelled one."""
    label = LABEL.match(fact)
    return label.group(0).rstrip(": ") if label else None


def business_name(facts: list[str]) -> str | None:
    """The business's own name: the value of a fact whose label ends in "name"
    ("Museum name: City Science Museum." -> "City Science Museum"); None without one."""
    for fact in facts:
        match = re.match(r"(?:[\w&' -]*\s)?name:\s+(.+?)\.?$", fact, re.IGNORECASE)
        if match:
            return match.group(1).strip()
    return None


@dataclass(frozen=True)
class Retrieved:
    """The facts chosen for one question, best first, with their scores."""

    facts: tuple[str, ...]
    scores: tuple[float, ...]

    @property
    def found(self) -> bool:
        """True when at least one fact is about the question."""
        return bool(self.facts)


class KnowledgeIndex:
    """BM25 and meaning over the facts of one knowledge file (see the module docstring)."""

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
        word_meaning_min: float = 0.6,
        word_found_min: float = 0.75,
        own_names: tuple[str, ...] = (),
        lines: AnswerLines = DEFAULT_LINES,
        thesaurus: Thesaurus | None = None,
    ) -> None:
        """`facts`: one sentence a fact, "Label: sentence" (none: nothing is ever found);
        `top_k`: most facts `retrieve` returns; `note_facts`: most of them the routing
        writes in front of a question for the LLM (0: none); `min_match`: a fact scoring
        below this share of one shared word found in no other fact is not about the
        question (a word in half the facts scores ~0.1 of that); `relative_cut`: facts
        below this share of the best score are dropped (they are noise); `answer_rules`:
        the routing's rules (agent/answers/rules.py) may answer from a fact without
        the LLM; `encoder`: with one, facts are matched by meaning too (see
        `hybrid_scores`), and words by meaning (`word_meaning_min`); a fact whose cosine
        with the message reaches `semantic_min` is about it even with no shared word, and
        one that shares a word met by meaning when the words' cosine reaches
        `word_found_min` (or `word_meaning_min` where the fact's cosine is 0.6 of
        `semantic_min`);
        `lexical_weight`: how much the BM25 score (in units of `min_score`, at most 2)
        adds to the cosine; `label_weight`: what a fact whose label the question names
        adds (with an encoder); `own_names`: names in every question about the place
        (the persona's), left out of matching, as the file's own name is; `lines`: what
        the routing says where no fact answers (the persona's); `thesaurus`: with an
        encoder, a visitor's word the file does not use counts as a file word WordNet says
        means it (agent/answers/thesaurus.py: "couch" as "sofa"), before meaning."""
        if top_k < 1 or note_facts < 0 or min_match < 0 or not 0 <= relative_cut <= 1:
            raise ValueError("need top_k >= 1, note_facts >= 0, min_match >= 0 and "
                             "0 <= relative_cut <= 1")
        self.facts = list(facts)
        self.top_k = max(top_k, note_facts)  # a note never wants more than is retrieved
        self.note_facts = note_facts
        self.relative_cut = relative_cut
        self.answer_rules = answer_rules
        self.lines = lines
        # the place's own name and the persona's are in every question about the place:
        # matched, they made "Who owns the museum?" as near the name fact as a paraphrase
        name = business_name(self.facts)
        names = [n for n in (name, *own_names) if n]
        self._skip = frozenset(w for n in names for w in WORD.findall(n.lower()))
        self._own_name = (re.compile(r"\b(?:the\s+)?(?:" + "|".join(
            [re.escape(n) for n in names]
            + [re.escape(n.split()[-1]) + "s?" for n in names if len(n.split()) > 1])
            + r")\b", re.IGNORECASE) if names else None)
        self._docs = [Counter(self.lexical_terms(fact)) for fact in self.facts]
        self._lengths = [sum(doc.values()) for doc in self._docs]
        self._mean_length = sum(self._lengths) / max(len(self._lengths), 1) or 1.0
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
        self.word_meaning_min = word_meaning_min
        self.word_found_min = word_found_min
        self._labels = [set(self.lexical_terms(m.group(0))) if (m := LABEL.match(f)) else set()
                        for f in self.facts]
        self._vocabulary = sorted(df)
        self._vocabulary_rows = {t: i for i, t in enumerate(self._vocabulary)}
        # a short form of two names written together ("Gost" of "Gold Star"): the
        # first letters of each, as English shortens a name
        self._short_forms: dict[str, tuple[str, ...]] = {}
        for first, second in re.findall(r"\b([A-Z][a-z]+) ([A-Z][a-z]+)\b", " ".join(self.facts)):
            for i in range(1, 5):
                for j in range(1, 5):
                    self._short_forms.setdefault((first[:i] + second[:j]).lower(),
                                                 (stem(first.lower()), stem(second.lower())))
        # ... and the initials of three or four words in a row ("HSA" of "health savings
        # account"), for a visitor's word English does not use otherwise
        common = common_words(COMMON_RANK)
        for fact in self.facts:
            run = self.lexical_terms(fact)
            for n in (3, 4):
                for i in range(len(run) - n + 1):
                    initials = "".join(t[0] for t in run[i:i + n])
                    if initials.isalpha() and initials not in common:
                        self._short_forms.setdefault(initials, tuple(run[i:i + n]))
        # each term embedded as the file writes it ("christmas", not its stem "christma")
        surface: dict[str, str] = {}
        for fact in self.facts:
            for word in WORD.findall(re.sub(r"(\w)-(\w)", r"\1\2", fact.lower())):
                surface.setdefault(stem(word), word)
        #: each term as the file writes it (a synonym is put back into a question so)
        self._surface = surface
        self._vectors = None
        self._word_vectors = None
        if encoder is not None:
            self._vectors = encoder.encode([self._embedded(f) for f in self.facts])
            self._word_vectors = encoder.encode([surface.get(t, t) for t in self._vocabulary])
        #: guards what the index learns of the questions it meets (`_cosines`,
        #: `_question_vectors`, `_word_meanings`, `_synonyms`): sessions may prepare
        #: their turns in worker threads at once (routing.py `prepare_turn`)
        self._lock = threading.Lock()
        # the cosines of the last questions: a turn asks for a question's cosines several
        # times (its plan, its note, the later turns' notes), each an encoder pass
        self._cosines: OrderedDict[str, list[float]] = OrderedDict()
        #: each fact's questions' embeddings (agent/answers/fact_questions.py), if added
        self._question_vectors: list[Any] | None = None
        #: a visitor's word -> the file's word nearest in meaning, and their cosine
        self._word_meanings: dict[str, tuple[str, float]] = {}
        self.thesaurus = thesaurus if encoder is not None else None
        #: a visitor's word (its term) -> the file's word WordNet says means it, or None
        self._synonyms: dict[str, str | None] = {}
        #: a visitor's verb-and-particle phrase -> the file's word WordNet says means it
        self._phrase_synonyms: dict[str, str | None] = {}
        #: the verb-and-particle phrases the file itself says (WordNet's form), once read
        self._file_phrases: frozenset[str] | None = None

    @classmethod
    def from_file(cls, path: Path, **kwargs: Any) -> KnowledgeIndex:
        """Index an operator's knowledge file as agent/answers/knowledge_file.py loads it:
        whatever it holds (another encoding, prose, a label twice), each problem logged
        as a start-up warning naming its line; a file with no facts gives an index that
        finds nothing, so the kiosk declines every question and keeps serving."""
        loaded = load_knowledge_file(Path(path))
        return cls([fact.text for fact in loaded.facts], **kwargs)

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
        name = persona_name(read_prompt_file(persona.persona_file))
        return cls.from_file(persona.knowledge_file, note_facts=llm.retrieval_facts,
                             answer_rules=llm.answer_rules, encoder=encoder,
                             thesaurus=Thesaurus.system() if encoder is not None else None,
                             own_names=(name,) if name else (),
                             lines=AnswerLines.from_persona(persona.persona_file))

    # -- words ----------------------------------------------------------------

    def lexical_terms(self, text: str) -> list[str]:
        """`terms` of `text` without the place's and the persona's own names."""
        return terms(text, self._skip)

    def query_terms(self, text: str, *, at_least: float | None = None) -> list[str]:
        """The terms of a visitor's `text`, each word the file does not use replaced by
        the file's word nearest in meaning, where the two words' cosine reaches
        `at_least` (default `word_meaning_min`; module docstring)."""
        found = self.lexical_terms(self._phrases_as_file_words(text))
        if self._word_vectors is None or self.encoder is None or not self._vocabulary:
            return [w for t in found for w in (
                self._short_forms[t] if t not in self._idf and len(t) > 2
                and t in self._short_forms else (t,))]
        known = set(self._idf)
        self._learn_synonyms(text, found)
        with self._lock:
            unknown = [t for t in dict.fromkeys(found) if t not in known
                       and t not in self._word_meanings and len(t) > 2 and not t.isdigit()]
        if unknown:
            cosines = self.encoder.encode(unknown) @ self._word_vectors.T  # (U, V)
            with self._lock:  # a word another thread learnt meanwhile keeps its first meaning
                for word, row in zip(unknown, cosines, strict=True):
                    best = int(row.argmax())
                    self._word_meanings.setdefault(word, (self._vocabulary[best], float(row[best])))
        with self._lock:
            synonyms = {t: self._synonyms.get(t) for t in found if t not in known}
            meanings = {t: self._word_meanings.get(t) for t in found if t not in known}
        floor = self.word_meaning_min if at_least is None else at_least
        out: list[str] = []
        for term in found:
            if term not in known and len(term) > 2 and term in self._short_forms:
                out.extend(self._short_forms[term])
                continue
            synonym = synonyms.get(term) if term not in known else None
            meant = meanings.get(term) if term not in known else None
            out.append(synonym or (meant[0] if meant is not None and meant[1] >= floor else term))
        return out

    def _phrases_as_file_words(self, text: str) -> str:
        """`text` with each verb-and-particle phrase the file does not say ("bring back")
        written as the file's word WordNet says means it ("return"), the nearest in
        meaning of several: the phrase's words alone are common and name another act
        ("back" of "board games at the back of the shop")."""
        if self.thesaurus is None or self._word_vectors is None or self.encoder is None:
            return text
        if self._file_phrases is None:
            self._file_phrases = frozenset(
                phrase for fact in self.facts for verb, _, particle in _VERB_PARTICLE.findall(fact)
                if (phrase := self.thesaurus.phrasal_verb(verb, particle)))

        def as_file_word(match: re.Match[str]) -> str:
            assert self.thesaurus is not None and self._file_phrases is not None
            phrase = self.thesaurus.phrasal_verb(match.group(1), match.group(3))
            if phrase is None or phrase in self._file_phrases:
                return match.group(0)
            with self._lock:
                known = phrase in self._phrase_synonyms
                synonym = self._phrase_synonyms.get(phrase)
            if not known:
                synonym = self._nearest_held(phrase, self.thesaurus.related(phrase))
                if synonym is not None and (synonym in self.lexical_terms(phrase)
                                            or synonym == stem(phrase.replace(" ", ""))
                                            or self._cosine(phrase, synonym) < PHRASE_MEANING_MIN):
                    synonym = None  # the phrase's own words, or a sense rarely meant
                with self._lock:
                    self._phrase_synonyms.setdefault(phrase, synonym)
            if synonym is None:
                return match.group(0)
            return f"{self._surface.get(synonym, synonym)} {match.group(2) or ''}".rstrip()

        return _VERB_PARTICLE.sub(as_file_word, text)

    def _cosine(self, first: str, second: str) -> float:
        """The two texts' cosine in meaning (the index's encoder)."""
        assert self.encoder is not None
        vectors = self.encoder.encode([first, second])
        return float(vectors[0] @ vectors[1])

    def _learn_synonyms(self, text: str, found: list[str]) -> None:
        """Each of `found` (terms of `text`) the file does not use: the file's word that
        WordNet says means it (`thesaurus`), kept in `_synonyms`. Of several, the one
        nearest the visitor's word in meaning (a word's other senses reach other words:
        "drop" is a "fall" and a "sink")."""
        if self.thesaurus is None or self._word_vectors is None or self.encoder is None:
            return
        said: dict[str, str] = {}
        for word in WORD.findall(re.sub(r"(\w)-(\w)", r"\1\2", text.lower())):
            said.setdefault(stem(INFORMAL_SPELLINGS.get(word, word)), word)
        # a rarer word only: a common one has many senses ("take", "place") and names little
        common = common_words(COMMON_RANK)
        with self._lock:
            new = {t for t in found if t not in self._idf and t not in self._synonyms
                   and t not in self._short_forms and len(t) > 2 and not t.isdigit()
                   and said.get(t, t) not in common}
        for term in new:
            word = said.get(term, term)
            synonym = (self._nearest_held(word, self.thesaurus.related(word))
                       or self._held_kind(word) or self._held_beside(word))
            with self._lock:
                self._synonyms.setdefault(term, synonym)

    def _nearest_held(self, word: str, candidates: Iterable[str]) -> str | None:
        """Of WordNet's `candidates` for `word`, the file's word (stemmed, a phrase's words
        joined) nearest `word` in meaning; None when the file holds none of them."""
        held = sorted({stem(w.replace(" ", "")) for w in candidates} & self._idf.keys())
        if len(held) > 1 and self.encoder is not None and self._word_vectors is not None:
            cosines = (self.encoder.encode([word])
                       @ self._word_vectors[[self._vocabulary_rows[t] for t in held]].T)[0]
            held = [held[int(cosines.argmax())]]
        return held[0] if held else None

    def _held_kind(self, word: str) -> str | None:
        """The file's word WordNet files directly under `word` as a kind of it (the
        visitor's "drinks" and the file's "coffee": asked about drinks, the coffee is the
        answer); of several, the nearest `word` in meaning; None when the file holds none.
        Never the other way: a file's "holidays" is not the visitor's one holiday."""
        if self.thesaurus is None or self._word_vectors is None or self.encoder is None:
            return None
        return self._nearest_held(word, self.thesaurus.narrower(word))

    def _held_beside(self, word: str) -> str | None:
        """The file's word that WordNet files beside `word` under the same broader word
        (`Thesaurus.beside`) and that the broader word itself names: its cosine with one
        of the broader word's words reaches `word_found_min` ("loo" and "restrooms", both
        kinds of "toilet", and "bathroom" ~ "restrooms" 0.79); None otherwise. Two kinds
        of one thing are not the same thing ("tea" and "coffee", both drinks): only where
        the file's word is what the broader word is said for is it the visitor's thing."""
        if self.thesaurus is None or self._word_vectors is None or self.encoder is None:
            return None
        best: tuple[float, str] | None = None
        for above, sisters in self.thesaurus.beside(word):
            held = sorted({stem(w.replace(" ", "")) for w in sisters} & self._idf.keys())
            if not held or not above:
                continue
            cosines = (self.encoder.encode(sorted(above))
                       @ self._word_vectors[[self._vocabulary_rows[t] for t in held]].T)  # (A, H)
            nearest = [float(cosines[:, j].max()) for j in range(len(held))]
            column = max(range(len(held)), key=nearest.__getitem__)
            cosine = nearest[column]
            if cosine >= self.word_found_min and (best is None or cosine > best[0]):
                best = (cosine, held[column])
        return best[1] if best else None

    def knows(self, word: str) -> bool:
        """True when the file holds `word`, a short form of its names, or a word that
        means it (`query_terms`); without an encoder, only the file's own words."""
        return any(t in self._idf for t in self.query_terms(word))

    def names_topic(self, message: str, fact: str) -> bool:
        """True when the message names the fact's topic, its label, in the file's words
        or in a word that means one of them ("Can I bring my dog?" and "Pets: ...",
        "Are you closed on New Year's Day?" and "Holidays: ...")."""
        label = self._labels[self.facts.index(fact)] if fact in self.facts else set(
            self.lexical_terms(m.group(0)) if (m := LABEL.match(fact)) else [])
        asked = set(self.query_terms(message))
        if label & asked:
            return True
        if self._word_vectors is None or not label or not asked:
            return False
        rows = [self._vocabulary_rows[t] for t in label if t in self._vocabulary_rows]
        known = [self._vocabulary_rows[t] for t in asked if t in self._vocabulary_rows]
        if not rows or not known:
            return False
        cosines = self._word_vectors[known] @ self._word_vectors[rows].T
        return float(cosines.max()) >= self.word_meaning_min

    def covered(self, message: str, fact: str) -> float:
        """The share of the message's terms (`query_terms`, each once) the fact holds."""
        asked = set(self.query_terms(message))
        return len(asked & set(self.lexical_terms(fact))) / len(asked) if asked else 0.0

    # -- scores ---------------------------------------------------------------

    def score(self, question: str, *, at_least: float | None = None) -> list[float]:
        """The BM25 score of every fact for `question` (one per fact, in file order), its
        words met by meaning where the cosine reaches `at_least` (`query_terms`), each
        such word counting its cosine's share of a word the visitor said."""
        query = Counter(self.query_terms(question, at_least=at_least))  # learns its words
        said = set(self.lexical_terms(question))
        weight = {t: 1.0 for t in said}
        with self._lock:
            synonyms = {w: self._synonyms.get(w) for w in said}
            meanings = {w: self._word_meanings.get(w) for w in said}
        for word in said:
            synonym = synonyms[word]
            if synonym and word not in self._idf:
                weight.setdefault(synonym, 1.0)  # a word that means it: as if said
            meant = meanings[word]
            if meant is not None and word not in self._idf:
                weight.setdefault(meant[0], meant[1])
        scores = []
        for doc, length in zip(self._docs, self._lengths, strict=True):
            norm = BM25_K1 * (1 - BM25_B + BM25_B * length / self._mean_length)
            total = 0.0
            for term in query:  # each query term once: repeats in speech are not emphasis
                tf = doc.get(term, 0)
                if tf:
                    total += (weight.get(term, 1.0) * self._idf[term] * tf * (BM25_K1 + 1)
                              / (tf + norm))
            scores.append(total)
        return scores

    def _embedded(self, text: str) -> str:
        """`text` as it is embedded: without the place's own name (see `__init__`)."""
        if self._own_name is None:
            return text
        return " ".join(self._own_name.sub(" ", text).split()) or text

    def add_questions(self, questions: dict[str, list[str]]) -> None:
        """Match each fact by the questions a visitor would ask of it too (written by the
        LLM: agent/answers/fact_questions.py): a fact's cosine becomes the best of its own
        and its questions'. Without an encoder, nothing changes."""
        if self.encoder is None:
            return
        vectors = []
        for fact in self.facts:
            asked = [self._embedded(q) for q in questions.get(fact, [])]
            vectors.append(self.encoder.encode(asked) if asked else None)
        with self._lock:
            self._question_vectors = vectors
            self._cosines.clear()

    def semantic_scores(self, question: str) -> list[float] | None:
        """The cosine of every fact with `question` (file order); None without an encoder."""
        if self.encoder is None or self._vectors is None:
            return None
        text = self._embedded(question)
        with self._lock:
            cosines = self._cosines.get(text)
            if cosines is not None:
                self._cosines.move_to_end(text)
                return list(cosines)
            questions = self._question_vectors
        asked = self.encoder.encode([text])[0]  # not under the lock: other turns read on
        cosines = (self._vectors @ asked).tolist()
        if questions is not None:
            cosines = [max(c, float((q @ asked).max())) if q is not None else c
                       for c, q in zip(cosines, questions, strict=True)]
        with self._lock:
            if self._question_vectors is questions:  # not made stale by `add_questions`
                cosines = self._cosines.setdefault(text, cosines)
                self._cosines.move_to_end(text)
                while len(self._cosines) > COSINES_KEPT:
                    self._cosines.popitem(last=False)
        return list(cosines)

    def hybrid_scores(self, question: str) -> tuple[list[float], bool]:
        """Each fact's score for `question` and whether any fact is about it.

        Words only: BM25, about it at `min_score`. With an encoder: the cosine plus
        `lexical_weight` x the BM25 score in units of `min_score` (capped at 2, so a
        rare shared word breaks a tie of meanings but never outweighs one), plus
        `label_weight` where the question names the fact's label; about it when BM25
        says so or the best cosine reaches `semantic_min` (docs/ANSWERS.md)."""
        if not self.facts:
            return [], False
        lexical = self.score(question)
        # found by the visitor's words, or words that mean the file's closely: one met
        # loosely ranks facts but finds none alone ("today" is near the file's "day")
        found = max(self.score(question, at_least=self.word_found_min)) >= self.min_score
        semantic = self.semantic_scores(question)
        if semantic is None:
            return lexical, found
        # ... or a word met loosely by meaning, in a fact that is near in meaning too
        found = found or max(semantic) >= self.semantic_min or any(
            b >= self.min_score and c >= 0.6 * self.semantic_min
            for b, c in zip(lexical, semantic, strict=True))
        asked = set(self.lexical_terms(question))  # the label named in the visitor's words
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

    def rarer_words_lead_to(self, question: str, fact: str) -> bool:
        """True when the question's rarer words alone (not among the `COMMON_RANK`
        commonest: "paintbrushes", not "need", "new", "head") rank `fact` first by words:
        a common word the question shares with another fact ("new" and a fact's "New
        Year's Day") does not say what the question is about."""
        common = common_words(COMMON_RANK)
        rarer = [w for w in WORD.findall(question.lower()) if w not in common]
        if not rarer:
            return False
        lexical = self.score(" ".join(rarer))
        best = max(lexical)
        return best >= self.min_score and lexical[self.facts.index(fact)] >= best

    def leads_clearly(self, question: str, fact: str, margin: float = 0.05) -> bool:
        """True when `fact` scores first for `question` (`hybrid_scores`) by at least
        `margin` of its score over the second: a question about as near two facts
        clearly means neither."""
        scores = self.hybrid_scores(question)[0]
        own = scores[self.facts.index(fact)]
        ranked = sorted(scores, reverse=True)
        return own >= ranked[0] and (len(ranked) < 2 or own - ranked[1] >= margin * own)

    def means_little(self, question: str, fact: str) -> bool:
        """True when, by meaning, `fact` is not about `question` (its cosine is under
        `semantic_min`); False without an encoder (nothing to say so)."""
        semantic = self.semantic_scores(question)
        return semantic is not None and semantic[self.facts.index(fact)] < self.semantic_min

    def means_closely(self, question: str, fact: str) -> bool:
        """True when `fact` is as near `question` in meaning as a paraphrase of it: its
        cosine reaches `PARAPHRASE_SHARE` x `semantic_min` (0.6); False without an encoder."""
        semantic = self.semantic_scores(question)
        return (semantic is not None
                and semantic[self.facts.index(fact)] >= PARAPHRASE_SHARE * self.semantic_min)

    def retrieve(self, question: str) -> Retrieved:
        """Up to `top_k` facts about `question`, best first; none when nothing scores."""
        scores, found = self.hybrid_scores(question)
        if not found:
            return Retrieved(facts=(), scores=())
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])[: self.top_k]
        best = scores[ranked[0]]
        kept = [i for i in ranked if scores[i] >= self.relative_cut * best]
        return Retrieved(
            facts=tuple(self.facts[i] for i in kept),
            scores=tuple(round(scores[i], 3) for i in kept),
        )


#: a fact this many times `semantic_min` near a question in meaning is as near as a
#: paraphrase of it ("Do I pay a penalty if my books are overdue?" and "Late books: no, we
#: do not charge fines ..."); docs/ANSWERS.md, section 14, says how it was chosen
PARAPHRASE_SHARE = 1.5

#: a word among these many commonest says little alone ("bring", "somewhere", "day")
COMMON_RANK = 3000


#: where a question's reason or purpose starts ("Is there a lift so I don't have to take
#: the stairs?"): the thing asked about is named before it
PURPOSE = re.compile(r"\s(?:so that|so (?:i|we|that)|because|since|in order to)\s", re.IGNORECASE)


def asked_part(message: str) -> str:
    """What the message's question asks about: its question part (shape.py) without the
    reason it gives for asking ("Is there a lift" of "Is there a lift so I don't have to
    take the stairs?")."""
    return PURPOSE.split(question_part(message), maxsplit=1)[0]


#: a word said of the visitor's own thing: "stash my scarf", "park our bikes", "dump my
#: coat and ..." (the thing is not a joining or pointing word: whisper drops the comma
#: before "and")
_ACT_ON_OWN = re.compile(r"\b([a-z]+)\s+(?:my|our)\s+(?:[a-z]+\s+)?(?!(?:and|or|but|so|then|to|for"
                         r"|with|in|on|at|of|from|by|here|there|too|also|please)\b)([a-z]+)\b",
                         re.IGNORECASE)


#: a yes/no question ending on the thing a place would have, sell or serve: "Does the cafe
#: have soy milk?", "Do you sell any batteries?" (the verb, up to two words before the thing,
#: none a pronoun, then the thing as the question's last word)
_OFFERED_THING = re.compile(
    r"\b(?:have|has|sell|sells|serve|serves|stock|stocks|carry|carries|offer|offers)\s+"
    r"(?:(?!(?:i|you|we|they|it|he|she|me|us|them|one|anything|something)\b)[a-z']+\s+){0,2}"
    r"([a-z]+)\W*$", re.IGNORECASE)


#: "Is there a vending machine in the lobby?", "Are there any lockers here?": the thing asked to
#: exist, its last word before a word that places or qualifies it (general English)
_EXISTING_THING = re.compile(
    r"^\W*(?:is|are)\s+there\s+(?:(?:a|an|any|some)\s+)?((?:[a-z'-]+\s+){0,2}?([a-z]+))"
    r"(?=\s+(?:in|on|at|near|nearby|here|around|for|inside|close|that|which|where|i|we|to|"
    r"today|tonight|anywhere)\b|\W*$)", re.IGNORECASE)

#: "Where are the nearest lockers?", "Where can I find the lifts?": the thing whose
#: place is asked, its last word before a word that places or qualifies it
_PLACE_ASKED_THING = re.compile(
    r"^\W*(?:where|whereabouts)(?:'s|\s+is|\s+are|\s+(?:do|can|could|would)\s+(?:i|we)\s+"
    r"(?:find|get))\s+(?:(?:the|a|an|your|any|some)\s+)?"
    r"(?!(?:you|it|they|we|he|she|this|that|these|those)\b)((?:[a-z'-]+\s+){0,2}?([a-z]+))"
    r"(?=\s+(?:in|on|at|near|nearby|here|around|for|inside|close|that|which|i|we|to|"
    r"today|tonight|please)\b|\W*$)", re.IGNORECASE)

#: words that ask for any place, way or thing, not a thing the file could lack ("Is there
#: somewhere I can sit?")
_ANY_PLACE_OR_WAY = frozenset("""somewhere anywhere someplace place places way ways
    something anything someone anyone somebody anybody one chance option options""".split())


def _thing_word(index: KnowledgeIndex, said: str) -> str | None:
    """The word a visitor said for a thing, in its usual spelling ("thru" -> "through"); None
    where it names no thing a file could hold: a number, a placeholder ("thingy") or a word
    with no topic."""
    word = INFORMAL_SPELLINGS.get(said, said)
    if word.isdigit() or word in PLACEHOLDER_WORDS or not index.lexical_terms(word):
        return None
    return word


def offered_thing(index: KnowledgeIndex, message: str) -> str | None:
    """The thing a question ends on after "have", "sell", "serve", "stock", "carry" or
    "offer" ("milk" of "Does the cafe have soy milk?"), or asks to exist ("machine" of "Is
    there a vending machine in the lobby?"), as the visitor says it; None where it asks of
    no such thing, of any place or way ("Is there somewhere I can sit?"), or of a number, a
    placeholder ("thingy"), a compound the file writes joined ("drive thru") or a word with
    no topic."""
    asked = asked_part(message)
    offered = _OFFERED_THING.search(asked)
    if offered is not None:
        thing = offered.group(1).lower()
    else:
        existing = _EXISTING_THING.search(asked)
        if existing is None or existing.group(2).lower() in _ANY_PLACE_OR_WAY:
            return None
        named = existing.group(1).lower().split()
        if len(named) > 1 and index.knows("-".join(named[-2:])):
            return None  # a compound the file writes joined ("drive thru", "drive-through")
        thing = existing.group(2).lower()
    return _thing_word(index, thing)


def unheld_place_thing(index: KnowledgeIndex, message: str) -> str | None:
    """The thing whose place a "where" question asks ("lockers" of "Where are the nearest
    lockers?") when no fact of the file holds or means it; else None (a question of
    another shape, a pronoun, a placeholder, or a thing the file holds)."""
    asked = _PLACE_ASKED_THING.search(asked_part(message))
    if asked is None:
        return None
    word = _thing_word(index, asked.group(2).lower())
    if word is None or word in _ANY_PLACE_OR_WAY or index.knows(word):
        return None
    return word


def unheld_offered_thing(index: KnowledgeIndex, message: str) -> str | None:
    """The question's `offered_thing` when no fact of the file holds or means it, even a
    common word (`unheld_words` leaves the commonest out, so "milk" asked of a file whose
    cafe serves "tea and cakes" would let the cafe's fact say yes); else None."""
    word = offered_thing(index, message)
    return None if word is None or index.knows(word) else word


def unheld_words(index: KnowledgeIndex, message: str) -> list[str]:
    """The question's rarer words (not among the commonest English ones) that no fact of
    the file holds or means ("wrapping" asked of a file that speaks of no wrapping), in
    what it asks, not in the reason it gives for asking; a word that stands for an unnamed
    thing ("thingy", `PLACEHOLDER_WORDS`) names nothing the file could lack."""
    common = common_words(COMMON_RANK)
    asked = asked_part(message)
    # a name (a capitalised word inside the question, the calendar's apart) is rare
    names = {w.lower() for w in re.findall(r"(?<=[a-z,] )([A-Z][a-z]+)", asked)} - CALENDAR
    # a verb said of the visitor's own thing the file holds ("stash" of "stash my scarf"): what
    # is done with it, not a thing the file lacks
    acts = {verb.lower() for verb, thing in _ACT_ON_OWN.findall(asked) if index.knows(thing)}
    out = []
    for word in dict.fromkeys(INFORMAL_SPELLINGS.get(w, w) for w in WORD.findall(asked.lower())):
        if ((word in common and word not in names) or word.isdigit() or word in PLACEHOLDER_WORDS
                or not index.lexical_terms(word) or word in acts):
            continue
        if not index.knows(word):
            out.append(word)
    return out
