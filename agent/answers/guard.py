"""Every value a reply states must come from where it may: the facts retrieved for this
turn, or the visitor's own words in this visit.

The kiosk's 0.5B model, asked for a person's name the file does not hold, gave one,
and asked for a thing the file says there is none of, gave a neighbouring value of the
same fact. A sentence is checked before it is spoken: the values in it (numbers with
their units, clock times, prices, phone digits, e-mail addresses, floors, entrances,
capitalised names, the word after "called" / "code is"; read by agent/answers/values.py,
normalised so "nine" = "9" and "$49" = "forty-nine dollars"; a source's range reads its
first number in the unit written after its last, "from 10 to 500 dollars" being 10 dollars,
never "10 years") must each appear among:
- the facts the turn was answered from (`knowledge`: for the voice pipeline, the facts
  retrieved for the turn, not the whole file);
- the visitor's own words in this visit (`visitor`: a number they said and ask back);
- the persona, for its names only (the kiosk's own): its instructions' numbers ("one or
  two short sentences") are style, and would let "A coffee costs $2." through.
A sentence with none is small talk and passes; one with a value from nowhere is
`INVENTED`, and the kiosk says its don't-know line instead.

Also caught:
- **a condition turned round**: where a fact ties a number to a comparison ("over 300
  dollars"), a sentence that ties it to the opposite one is `FLIPPED`, and the kiosk
  says the fact instead (`Verdict.fact`);
- **a value where the fact says there is none**: a fact saying "no password" and a
  sentence giving "the password is X" (X taken from another part of the fact) is
  `INVENTED`;
- **a yes/no answered against its fact** (`contradicted`): "Yes, ..." to a question
  whose fact says "no, ...";
- **the question said back as its answer** (`echoes`): "You can get a haircut here." to
  "Can I get a haircut here?" with no fact of it in front of the model: every word of
  the sentence is the question's and none is a fact's, so it says nothing the file does.

Plain patterns and set look-ups, no model: tens of microseconds a sentence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

from agent.answers.index import split_facts, terms
from agent.answers.lines import DONT_KNOW_LINE
from agent.answers.reading import fact_answer_word, spoken_answer
from agent.answers.values import Fact, extract_facts
from agent.persona import KNOWLEDGE_HEADER, read_prompt_file

#: Said instead of a sentence that states a value from nowhere, unless the persona
#: names a line of its own (`dont_know:`)
DONT_KNOW_REPLY = DONT_KNOW_LINE


@dataclass(frozen=True)
class TurnSources:
    """Where a turn's reply may take its values from: the visitor's `question`, the
    `facts` the turn was answered from, and what the visitor said in this visit
    (`visitor`, their messages, this one included). Cleared with the visit."""

    question: str
    facts: tuple[str, ...] = ()
    visitor: tuple[str, ...] = ()


class Kind(Enum):
    """What a checked sentence is."""

    FREE = "free"          # no store fact in it: small talk, an apology
    KNOWN = "known"        # every fact in it is the file's
    INVENTED = "invented"  # a fact the file does not hold
    FLIPPED = "flipped"    # a file's number with the opposite condition


@dataclass(frozen=True)
class Verdict:
    """The check of one sentence: its kind, the facts that failed, and for a flipped
    condition the file's own sentence to say instead."""

    kind: Kind
    missing: tuple[str, ...] = ()
    fact: str | None = None

    @property
    def ok(self) -> bool:
        """True when the sentence may be spoken as it is."""
        return self.kind in (Kind.FREE, Kind.KNOWN)


@dataclass(frozen=True)
class _Allowed:
    numbers: dict[str, set[str | None]]
    times: set[str]
    digits: set[str]
    words: set[str]
    conditions: dict[tuple[str, str | None], tuple[str, str]]  # (value, unit) -> (side, sentence)
    text: str  # the source, lower-cased
    own: set[str]  # the persona's words the knowledge file lacks (its name)
    none: set[str]  # what the facts say there is none of ("no password": "password")


class FactGuard:
    """The facts of one knowledge file (+ persona lines), and the check of a sentence."""

    def __init__(self, knowledge: str, persona: str = "", *, visitor: str = "",
                 sentences: Iterable[str] | None = None) -> None:
        """`knowledge`: the facts a reply may state (a turn's retrieved facts, or a whole
        file as read), one a line; `persona`: the persona's own text, whose names and
        words are allowed too, but not its numbers, times or digits; `visitor`: what the
        visitor said in this visit, whose values may be said back; `sentences`: the
        facts' sentences, for a flipped condition's answer (default: the knowledge split
        into facts)."""
        if sentences is not None:
            sentences = list(sentences)
        #: what this guard was made of, for the same guard with a visit's words (`with_visitor`)
        self._made_of = (knowledge, persona, sentences)
        source = f"{knowledge}\n{persona}\n{visitor}"
        numbers: dict[str, set[str | None]] = {}
        times: set[str] = set()
        digits: set[str] = set()
        sourced = [*((fact, False) for fact in _source_facts(knowledge)),
                   *((fact, True) for fact in _source_facts(visitor))]
        for fact, told in sourced:
            if fact.kind == "number":
                # the visitor's bare number ("my daughter's 12") is no price: said back as
                # one ("you pay $12") it is the model's, not theirs
                unit = _VISITOR_BARE if told and fact.unit is None else fact.unit
                for value in fact.values:
                    numbers.setdefault(value, set()).add(unit)
            elif fact.kind == "time":
                times.update(fact.values)
            elif fact.kind == "digits":
                digits.update(fact.values)
        words = _words(source)
        own = _words(persona) - _words(knowledge) - _words(visitor)
        if sentences is None:
            sentences = [spoken_answer(fact) for fact in split_facts(knowledge)]
        conditions: dict[tuple[str, str | None], tuple[str, str]] = {}
        for sentence in sentences:
            for fact in extract_facts(sentence):
                if fact.kind == "number" and fact.comparison is not None:
                    for value in fact.values:
                        conditions[(value, fact.unit)] = (fact.comparison, sentence)
        none = {m.group(1).lower() for m in _NONE.finditer(knowledge)}
        self._allowed = _Allowed(numbers=numbers, times=times, digits=digits, words=words,
                                 conditions=conditions, text=source.lower(), own=own,
                                 none=none)

    def with_visitor(self, visitor: Iterable[str]) -> FactGuard:
        """This guard's facts and persona with what the visitor said in this visit, whose
        values may be said back (a guard with no turn's sources: the whole file's)."""
        knowledge, persona, sentences = self._made_of
        return FactGuard(knowledge, persona, visitor="\n".join(visitor), sentences=sentences)

    @classmethod
    def from_system_prompt(cls, system_prompt: str, *,
                           sentences: Iterable[str] | None = None) -> FactGuard:
        """The guard of a system prompt as `compose_system_prompt` writes it: the persona
        before `KNOWLEDGE_HEADER`, the facts after (a prompt without the header is all facts)."""
        persona, header, knowledge = system_prompt.partition(KNOWLEDGE_HEADER)
        if not header:
            return cls(system_prompt, sentences=sentences)
        return cls(knowledge, persona, sentences=sentences)

    @classmethod
    def for_turn(cls, facts: Iterable[str], persona: str = "",
                 visitor: Iterable[str] = ()) -> FactGuard:
        """The guard of one turn: the facts it was answered from, the persona's names,
        and what the visitor said in this visit (module docstring)."""
        facts = list(facts)
        return cls("\n".join(facts), persona, visitor="\n".join(visitor),
                   sentences=[spoken_answer(fact) for fact in facts])

    @classmethod
    def from_files(cls, knowledge_file: Path, persona_file: Path | None = None) -> FactGuard:
        """The guard of an operator's knowledge file and persona (comments dropped)."""
        persona = read_prompt_file(persona_file) if persona_file is not None else ""
        return cls(read_prompt_file(knowledge_file), persona)

    def known(self, fact: Fact) -> bool:
        """Whether the file holds `fact` (a name: the file or the persona)."""
        allowed = self._allowed
        if fact.kind == "number":
            for value in fact.values:
                units = allowed.numbers.get(value)
                if units is not None and (fact.unit is None or fact.unit in units or None in units
                                          or (_VISITOR_BARE in units and fact.unit not in _MONEY)):
                    return True
                if fact.unit is None and any(t.split(":")[0] == value for t in allowed.times):
                    return True  # "we open at nine"
            return False
        if fact.kind == "time":
            for value in fact.values:
                if value in allowed.times:
                    return True
                if not value[-1].isalpha() and any(t.startswith(value) for t in allowed.times):
                    return True  # "nine o'clock": either half of the day
                hour = value.split(":")[0]
                if value.endswith(":00") and hour in allowed.numbers:
                    return True
            return False
        if fact.kind == "digits":
            return any(v in allowed.digits or v in allowed.numbers for v in fact.values)
        if fact.kind == "named":  # "code is X": the file says "code[ is] X"
            keyword, _, word = next(iter(fact.values)).partition(" ")
            return re.search(rf"\b{keyword}\W+(?:is\W+)?(?:\w+\W+)?{re.escape(word)}\b",
                             allowed.text) is not None
        # names, e-mails, entrances: the file's own words
        return all(_word_known(v, allowed.words) for v in fact.values)

    def flipped(self, fact: Fact) -> str | None:
        """The file's sentence when `fact` ties one of the file's condition numbers to
        the opposite comparison; None otherwise."""
        if fact.kind != "number" or fact.comparison is None:
            return None
        for value in fact.values:
            for unit in {fact.unit, None}:
                condition = self._allowed.conditions.get((value, unit))
                if condition is not None:
                    side, sentence = condition
                    return sentence if side != fact.comparison else None
        return None

    def without_speaker_label(self, text: str) -> str:
        """`text` without a leading speaker label made of a persona word the file lacks
        ("Sam: I'm sorry..." -> "I'm sorry..."): the model copies the persona example's
        "Sam:" lines, and the TTS would say the name as part of the reply. A file label
        ("Parking: free parking...") stays."""
        match = _SPEAKER_LABEL.match(text)
        if match is None or match.group(1).lower() not in self._allowed.own:
            return text
        return text[match.end():]

    def check(self, sentence: str) -> Verdict:
        """Whether `sentence` may be spoken (see the module docstring)."""
        facts = extract_facts(sentence)
        if not facts:
            return Verdict(Kind.FREE)
        missing = tuple(f.text for f in facts if not self.known(f))
        if not _FIRST_PERSON.search(sentence):
            # the persona's name is the kiosk's own ("I'm Sam"), not a staff member's: "The
            # person at the service desk today is Sam."
            missing += tuple(f.text for f in facts if f.kind == "name" and f.text not in missing
                             and any(v in self._allowed.own for v in f.values))
        for thing in self._allowed.none:
            # "no password" in the fact, "the password is X" in the sentence
            said = re.search(rf"\b{re.escape(thing)}s?\W+(?:is|are|:)\s+(?!not\b|none\b|no\b)(\S+)",
                             sentence, re.IGNORECASE)
            value = said.group(1).strip(".,!?") if said is not None else ""
            if said is not None and value.lower() not in _NOT_A_VALUE and (
                    not value.islower() or any(c.isdigit() for c in value)
                    or value.lower() not in self._allowed.text):
                missing += (said.group(0),)  # a value given for it (a name, a code)
        if missing:
            return Verdict(Kind.INVENTED, missing=missing)
        for fact in facts:
            own = self.flipped(fact)
            if own is not None:
                return Verdict(Kind.FLIPPED, missing=(fact.text,), fact=own)
        return Verdict(Kind.KNOWN)


#: words after "the password is" that give no value for it
_NOT_A_VALUE = frozenset("""a an the not none no free needed required necessary available
    only just also optional""".split())
#: "no password", "no charge": what a fact says there is none of
_NONE = re.compile(r"\bno\s+([a-z]{3,})\b(?!\s*,\s*(?:except|but))", re.IGNORECASE)
#: a reply's opening yes or no
_REPLY_ANSWER = re.compile(r"^\W*(yes|yeah|yep|sure|of course|no|nope)\b", re.IGNORECASE)


def contradicted(sentence: str, question: str, facts: Iterable[str]) -> str | None:
    """The fact said as the answer when `sentence` opens with a yes or no that its fact
    says the other way round ("Yes, ..." to a question whose fact says "no, ..."); None
    when it agrees, says neither, or no fact says one."""
    opening = _REPLY_ANSWER.match(sentence)
    if opening is None:
        return None
    said = "no" if opening.group(1).lower() in ("no", "nope") else "yes"
    facts = list(facts)
    if len(facts) > 1:
        # a turn of several parts (agent/answers/parts.py): the yes or no answers the
        # fact the sentence speaks of, not the first fact that says one
        words = set(terms(sentence))
        shared = [len(words & set(terms(fact))) for fact in facts]
        if max(shared) > 0:
            facts = [fact for fact, n in zip(facts, shared, strict=True) if n == max(shared)]
    for fact in facts:
        word = fact_answer_word(fact, question)
        if word is not None:
            return spoken_answer(fact, question) if word != said else None
    return None


#: words an answer adds to the question's without saying anything ("Yes, you can ... here")
_NO_NEWS = frozenset("yes yeah no can could you we i here there also just sure of course".split())


def echoes(sentence: str, question: str, facts: Iterable[str]) -> bool:
    """True when `sentence` only says the visitor's question back: its words (stemmed,
    stopwords out) are all the question's, and none is a word of the turn's facts ("We have
    a children's dentist here." to "Do you have a children's dentist here?" with an
    appointments fact) or it asks the question back ("You do key cutting?"). The small
    model does so where the file is silent;
    no value is in such a sentence, so the value check lets it through. A turn with no
    facts (small talk, a question about the visit) is never an echo: "Hi there!" to "Hi
    there." is an answer."""
    facts = list(facts)
    said = set(terms(sentence)) - _NO_NEWS
    if not (facts and said and said <= set(terms(question))):
        return False
    # a sentence that asks the question back ("You guys do key cutting?") answers nothing,
    # whatever words of the facts it holds
    return sentence.rstrip().endswith("?") or not said & set(terms(" ".join(facts)))


#: the unit a number the visitor said bare vouches for: any but money (`FactGuard`)
_VISITOR_BARE = "<visitor's bare number>"
_MONEY = frozenset({"dollar", "cent", "pound", "penny", "euro"})
#: what joins the two ends of a range: "from 10 to 500 dollars", "10-500 dollars",
#: "between 5 and 10 minutes", "2 or 3 days"
_RANGE_JOIN = re.compile(r"\s*(?:to|through|and|or|-|\u2013)\s*", re.IGNORECASE)


def _source_facts(text: str) -> list[Fact]:
    """The values `text` (a source: facts, the visitor's words) states, a range's first
    number with the unit written after its last ("from 10 to 500 dollars": 10 dollars,
    not a bare 10). A bare number vouches for a reply's number in any unit ("Address: 250
    ..."), so a range's first end read bare let "over 10 years" through on a fact's
    "from 10 to 500 dollars"."""
    facts = extract_facts(text)
    numbers = [i for i, fact in enumerate(facts) if fact.kind == "number"]
    spans: dict[int, tuple[int, int]] = {}  # where each number is, read in the text's order
    place = 0
    for i in numbers:
        found = text.find(facts[i].text, place)
        if found >= 0:
            place = found + len(facts[i].text)
            spans[i] = (found, place)
    units: dict[int, str] = {}
    for first, last in zip(numbers, numbers[1:], strict=False):
        unit = facts[last].unit
        if (facts[first].unit is None and unit is not None and first in spans and last in spans
                and _RANGE_JOIN.fullmatch(text[spans[first][1]:spans[last][0]])):
            units[first] = unit
    return [replace(fact, unit=units[i]) if i in units else fact for i, fact in enumerate(facts)]


#: "Ada: " at the start of a reply: one capitalised word and a colon
_SPEAKER_LABEL = re.compile(r"^\s*([A-Z][a-z]+):\s*")
#: a sentence in which the kiosk speaks of itself ("I'm Sam", "my name is Sam")
_FIRST_PERSON = re.compile(r"\b(?:I|I'm|I am|me|my|myself)\b", re.IGNORECASE)


def _words(text: str) -> set[str]:
    """The words a name in a reply may be made of: every word of `text` lower-cased,
    joined names ("CityPass") and names said apart ("City Pass"), hyphens dropped
    ("Wi-Fi" -> "wifi"), e-mail addresses whole."""
    words = {w.lower() for w in re.findall(r"[\w.+-]+@[\w.-]+\w|[A-Za-z]+", text)}
    words |= {w.lower() for w in re.findall(r"[A-Z][a-z]+", text)}
    words |= {w.lower().replace("-", "") for w in re.findall(r"\w+(?:-\w+)+", text)}
    # two names' short form: their first letters, as "Gold Star" is "Gost"'s
    words |= {(a[:i] + b[:j]).lower() for a, b in re.findall(r"\b([A-Z][a-z]+) ([A-Z][a-z]+)\b", text)
              for i in range(1, 5) for j in range(1, 5) if i + j >= 3}
    return words


def _word_known(value: str, words: set[str]) -> bool:
    """A name is the file's when it, or each part of it, is a file word."""
    if value in words or value.removesuffix("'s") in words or (
            value.endswith("s") and value[:-1] in words):
        return True  # "Sundays", "Maple's"
    parts = re.findall(r"[a-z]+", value)
    if parts and all(p in words for p in parts):
        return True
    return len(value) >= 3 and value.isalpha() and any(
        w.startswith(value) and w[:1].isalpha() and len(w) > len(value) for w in _DAY_WORDS
        if w in words)  # "Mon", "Sat": a day the file names, shortened


_DAY_WORDS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
              "january", "february", "march", "april", "june", "july", "august",
              "september", "october", "november", "december")
