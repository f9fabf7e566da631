"""Every store fact a reply states must be one the knowledge file holds.

The kiosk's 0.5B model, asked for a person's name the file does not hold, gave one,
and asked for a thing the file says does not exist, gave a neighbouring fact's
value (issue "answers a visitor can trust"). A sentence is checked before it is
spoken: the "facts" in it (numbers with their units, clock times, prices, phone
digits, e-mail addresses, floors, entrances, capitalised names, the word after
"called" / "password is") are read out and each must appear among the facts of
the knowledge file or of the persona's own lines. A sentence with none is small
talk and passes; one with a fact the file lacks is `INVENTED`, and the kiosk says
`DONT_KNOW_REPLY` instead.

Facts are compared after normalisation, so the model may say them its own way:
"nine" = "9", "9 a.m." = "9:00 am" = "nine in the morning", "$49" = "49 dollars" =
"forty-nine dollars", "two fifty" = "250", "five five five, zero one four two" =
"555-0142", "second floor" = "2nd floor".

A fact's condition is checked too: where the file ties a number to a comparison
("over 300 dollars", "within 20 miles"), a sentence that ties the same number to
the opposite one ("under 300 dollars") is `FLIPPED`, and the kiosk says the file's
own sentence instead (`Verdict.fact`).

Plain patterns and set look-ups, no model: tens of microseconds a sentence
(bench/fact_guard.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from agent.knowledge_retrieval import UNKNOWN_AMOUNT_REPLY, split_facts, spoken_fact, terms
from agent.persona import read_prompt_file

#: Said instead of a sentence that states a fact the file does not hold: the kiosk's
#: "I don't know" with its pointer to the staff, as for an amount no fact states.
DONT_KNOW_REPLY = UNKNOWN_AMOUNT_REPLY

_UNITS: dict[str, str] = {
    "dollar": "dollar", "dollars": "dollar", "buck": "dollar", "bucks": "dollar",
    "usd": "dollar", "cent": "cent", "cents": "cent",
    "percent": "percent", "per cent": "percent", "%": "percent",
    "mile": "mile", "miles": "mile", "km": "km", "kilometer": "km", "kilometers": "km",
    "kilometre": "km", "kilometres": "km",
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour",
    "day": "day", "days": "day", "week": "week", "weeks": "week",
    "month": "month", "months": "month", "year": "year", "years": "year",
    "floor": "floor", "floors": "floor",
}
_ONES = {"zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
         "six": 6, "seven": 7, "eight": 8, "nine": 9}
_TEENS = {"ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
          "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19}
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}
_SCALES = {"hundred": 100, "thousand": 1000}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2,
             "3rd": 3, "4th": 4, "5th": 5, "6th": 6, "7th": 7, "8th": 8, "9th": 9,
             "10th": 10}
_NUMBER_WORDS = {**_ONES, **_TEENS, **_TENS}

#: comparisons a condition can make, by the side of the threshold they keep
_ABOVE = ("over", "above", "more than", "greater than", "at least", "exceeding", "beyond",
          "upwards of", "or more")
_BELOW = ("under", "below", "less than", "up to", "within", "at most", "or less",
          "fewer than", "no more than")

#: Capitalised words that start or fill ordinary sentences: never a name.
_COMMON = frozenset(
    """a about absolutely after afraid again all also although always am an and any
    anything are as ask at be because before but by can certainly could do does don't
    each either enjoy even every excellent feel first for from glad good goodbye great
    have hello here hey hi how however i i'd i'll i'm i've if in is it it's just
    let let's may maybe me mine more most my next no nope not of oh ok okay on once
    one only or our ours perfect please plus great since so some sorry sure thank
    thanks that that's the their then there there's these they they're this those
    to today tomorrow totally unfortunately unless until we we'd we'll we're we've
    welcome well what what's when where which while who why will with without would
    yes yeah yesterday yet you you'd you'll you're you've your yours""".split()
)

_TOKEN = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"      # e-mail
    r"|\$\s?\d[\d,]*(?:\.\d+)?"          # $49, $1,200
    r"|\d+(?::\d\d)?(?:st|nd|rd|th)?"    # 49, 9:30, 2nd
    r"|[A-Za-z]+(?:['\u2019][a-z]+)?"    # words, don't
    r"|%"
)
_MERIDIEM = re.compile(r"^\s*(a\.?\s?m\.?|p\.?\s?m\.?)(?![a-z])", re.IGNORECASE)
_PHONE = re.compile(r"\b\d{3}[-. ]\d{4}\b|\b\d{3}[-. ]\d{3}[-. ]\d{4}\b")
_NAMING = re.compile(r"\b(called|named|(?:password|name|code) is)\s+([A-Za-z][\w-]*)",
                     re.IGNORECASE)
#: "the name of the store manager is Sam": a name given as someone's (not "my name is")
_NAME_OF = re.compile(r"(?<!\bmy )\bname\b[^.!?]{0,40}?\bis\s+([A-Z][\w-]*)")
_ENTRANCE = re.compile(r"\b(entrance|door|gate|exit)\s+([A-Z])\b", re.IGNORECASE)


class Kind(Enum):
    """What a checked sentence is."""

    FREE = "free"          # no store fact in it: small talk, an apology
    KNOWN = "known"        # every fact in it is the file's
    INVENTED = "invented"  # a fact the file does not hold
    FLIPPED = "flipped"    # a file's number with the opposite condition


@dataclass(frozen=True)
class Fact:
    """One fact read out of a sentence: its kind and the values it may stand for.

    `values` holds every reading ("two fifty" is 250 or 2 and 50); the fact is the
    file's when one of them is."""

    kind: str  # "number", "time", "digits", "email", "name", "entrance"
    values: frozenset[str]
    text: str
    unit: str | None = None
    comparison: str | None = None  # "above", "below" or None


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


def _words_to_numbers(words: list[str]) -> list[set[int]]:
    """Runs of number words -> their readings ("two hundred fifty" -> {250},
    "two fifty" -> {250, 2, 50}: a street number or two numbers)."""
    total, current, readings, parts = 0, 0, [], []
    concatenated = False
    for word in words:
        if word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
        else:
            value = _NUMBER_WORDS[word]
            parts.append(value)
            if current % 100 >= 20 and value < 10 and current % 10 == 0:
                current += value  # forty-nine
            elif current and current % 100 == 0 and value < 100:
                current += value  # two hundred fifty
            elif current and current < 10 and value >= 20 or current and value >= 10:
                # "two fifty", "nineteen ninety": concatenated digits
                current = current * 100 + value
                concatenated = True
            else:
                current += value
    readings.append({total + current})
    if concatenated:
        readings.append(set(parts))
    return readings


@dataclass
class _Scan:
    """Facts of one text, read left to right."""

    facts: list[Fact] = field(default_factory=list)


def _comparison(before: str) -> str | None:
    """The comparison a number's preceding words make ("orders over" -> "above")."""
    tail = " ".join(before.lower().split()[-3:])
    for side, phrases in (("above", _ABOVE), ("below", _BELOW)):
        for phrase in phrases:
            if tail.endswith(phrase):
                return side
    return None


def _after_comparison(after: str) -> str | None:
    """A comparison written after the number ("300 dollars or more")."""
    head = " ".join(after.lower().split()[:3])
    if re.match(r"(?:\w+\s)?or more\b|(?:\w+\s)?and (?:up|over|above)\b", head):
        return "above"
    if re.match(r"(?:\w+\s)?or (?:less|fewer)\b|(?:\w+\s)?and (?:under|below)\b", head):
        return "below"
    return None


def extract_facts(text: str) -> list[Fact]:
    """The store facts `text` states (see the module docstring), in order."""
    facts: list[Fact] = []
    text = text.replace("\u2019", "'")
    used: list[tuple[int, int]] = []

    def add(kind: str, values: Iterable[str], start: int, end: int, unit: str | None = None,
            comparison: str | None = None) -> None:
        facts.append(Fact(kind=kind, values=frozenset(values), text=text[start:end],
                          unit=unit, comparison=comparison))
        used.append((start, end))

    for match in _PHONE.finditer(text):
        add("digits", {re.sub(r"\D", "", match.group(0))}, match.start(), match.end())
    for match in _NAMING.finditer(text):
        word = match.group(2)
        if word.lower() not in _COMMON and word.lower() not in ("a", "an", "the"):
            # "the password is MapleGuest": the file must name it so ("name MapleGuest"),
            # not only hold the word (the model gave the network's name as the password)
            keyword = match.group(1).split()[0].lower()
            own = text[:match.start()].lower().endswith("my ")  # "my name is Sam"
            kind = "named" if keyword in ("password", "name", "code") and not own else "name"
            add(kind, {f"{keyword} {word.lower()}" if kind == "named" else word.lower()},
                match.start(2), match.end(2))
    for match in _NAME_OF.finditer(text):
        if not any(a <= match.start(1) < b for a, b in used):
            add("named", {f"name {match.group(1).lower()}"}, match.start(1), match.end(1))
    for match in _ENTRANCE.finditer(text):
        add("entrance", {match.group(2).lower()}, match.start(), match.end())

    tokens = list(_TOKEN.finditer(text))
    i = 0
    sentence_start = True
    while i < len(tokens):
        token = tokens[i]
        word = token.group(0)
        lower = word.lower()
        start = token.start()
        if any(a <= start < b for a, b in used):
            i += 1
            sentence_start = False
            continue
        if "@" in word:
            add("email", {lower.rstrip(".")}, start, token.end())
            i += 1
            continue
        number: list[set[int]] | None = None
        end = token.end()
        j = i + 1
        ordinal = False
        if word.startswith("$") or word[0].isdigit():
            digits = word.lstrip("$").replace(",", "").strip()
            if ":" in digits:
                hours, minutes = digits.split(":")
                number = [{int(hours)}]
                minute_part = int(minutes)
            else:
                minute_part = 0
                core = re.sub(r"(st|nd|rd|th)$", "", digits)
                ordinal = core != digits
                number = [{int(float(core))}]
            unit = "dollar" if word.startswith("$") else None
        elif lower in _NUMBER_WORDS or (lower in _SCALES and i > 0):
            run = [lower]
            while j < len(tokens) and tokens[j].group(0).lower() in {*_NUMBER_WORDS, *_SCALES, "and"}:
                gap = text[tokens[j - 1].end():tokens[j].start()]
                spelled = run[-1] in _ONES and tokens[j].group(0).lower() in _ONES
                if gap.strip(" -" + (",." if spelled else "")) or (tokens[j].group(0).lower() == "and" and not (
                        j + 1 < len(tokens) and tokens[j + 1].group(0).lower() in _NUMBER_WORDS
                        and run[-1] in _SCALES)):
                    break
                if tokens[j].group(0).lower() != "and":
                    run.append(tokens[j].group(0).lower())
                j += 1
            end = tokens[j - 1].end()
            minute_part = 0
            unit = None
            if len(run) >= 3 and all(w in _ONES for w in run):
                add("digits", {"".join(str(_ONES[w]) for w in run)}, start, end)
                i = j
                sentence_start = False
                continue
            number = _words_to_numbers(run)
            if run == ["one"] or run == ["zero"] or run == ["oh"]:
                # "one" is mostly a pronoun ("ask one of our staff"): a number only with a unit
                following = text[end:end + 12].lower().split()
                if not following or following[0].strip(".,;") not in _UNITS:
                    i = j
                    sentence_start = False
                    continue
        elif lower in _ORDINALS:
            following = text[token.end():token.end() + 8].lower().split()
            if following and following[0].strip(".,;") in ("floor", "floors", "entrance"):
                number = [{_ORDINALS[lower]}]
                ordinal = True
                minute_part = 0
                unit = "floor"
        if number is not None:
            rest = text[end:]
            meridiem = _MERIDIEM.match(rest)
            is_time = (meridiem is not None or bool(minute_part)
                       or re.match(r"\s*o'?clock", rest, re.IGNORECASE) is not None)
            if is_time:
                half = (meridiem.group(1).lower()[0] if meridiem else "")
                if meridiem is not None:
                    end += meridiem.end()
                add("time", {f"{h}:{minute_part:02d}{half}" for h in number[0]}, start, end)
            else:
                if unit is None and not ordinal:
                    after = re.match(r"\s*(per cent|%|[a-z]+)", rest, re.IGNORECASE)
                    if after and after.group(1).lower() in _UNITS:
                        unit = _UNITS[after.group(1).lower()]
                comparison = _comparison(text[:start]) or _after_comparison(rest)
                values = {str(v) for reading in number for v in reading}
                add("number", values, start, end, unit=unit, comparison=comparison)
            i = j
            sentence_start = False
            continue
        if word[0].isupper() and lower not in _COMMON and (
                not sentence_start or _subject_name(word, tokens[i + 1:i + 2])):
            add("name", {lower}, start, token.end())
        sentence_start = text[token.end():token.end() + 2].lstrip().startswith(("!", "?")) or (
            text[token.end():token.end() + 1] == "." and not _is_abbreviation(lower))
        i += 1
    return facts


def _is_abbreviation(word: str) -> bool:
    """a.m., p.m., e.g.: a dot that ends no sentence."""
    return word in ("a", "p", "e", "i", "m", "mr", "mrs", "ms", "dr", "st", "vs")


#: words that follow a name as the subject of a sentence ("Maria is", "John can")
_AFTER_SUBJECT = frozenset(
    """is was can will would could should has does did works manages runs owns handles
    designed founded leads 's""".split()
)


def _subject_name(word: str, following: list[re.Match[str]]) -> bool:
    """A sentence's first capitalised word is a name when a name or a subject's verb
    follows it ("Sarah Miller is...", "Maria can help"); otherwise it is an ordinary
    word that starts the sentence ("Call us", "Deliveries happen"). Without a
    dictionary, this is the line drawn."""
    if not following:
        return False
    after = following[0].group(0)
    return after[0].isupper() or after.lower() in _AFTER_SUBJECT


@dataclass(frozen=True)
class _Allowed:
    numbers: dict[str, set[str | None]]
    times: set[str]
    digits: set[str]
    words: set[str]
    conditions: dict[tuple[str, str | None], tuple[str, str]]  # (value, unit) -> (side, sentence)
    text: str  # the source, lower-cased


class FactGuard:
    """The facts of one knowledge file (+ persona lines), and the check of a sentence."""

    def __init__(self, knowledge: str, persona: str = "", *,
                 sentences: Iterable[str] | None = None) -> None:
        """`knowledge`: the operator's file as read (comments dropped); `persona`: the
        persona's own text (its name, its lines), whose facts are allowed too;
        `sentences`: the file's fact sentences, for a flipped condition's answer
        (default: the knowledge split at line ends and "." before a capital)."""
        source = f"{knowledge}\n{persona}"
        numbers: dict[str, set[str | None]] = {}
        times: set[str] = set()
        digits: set[str] = set()
        for fact in extract_facts(source):
            if fact.kind == "number":
                for value in fact.values:
                    numbers.setdefault(value, set()).add(fact.unit)
            elif fact.kind == "time":
                times.update(fact.values)
            elif fact.kind == "digits":
                digits.update(fact.values)
        words = {w.lower() for w in re.findall(r"[\w.+-]+@[\w.-]+\w|[A-Za-z]+", source)}
        # joined names ("MapleGuest") and names said apart ("Maple Guest"), hyphens
        # dropped ("Wi-Fi" -> "wifi")
        words |= {w.lower() for w in re.findall(r"[A-Z][a-z]+", source)}
        words |= {w.lower().replace("-", "") for w in re.findall(r"\w+(?:-\w+)+", source)}
        if sentences is None:
            sentences = [spoken_fact(fact) for fact in split_facts(knowledge)]
        conditions: dict[tuple[str, str | None], tuple[str, str]] = {}
        for sentence in sentences:
            for fact in extract_facts(sentence):
                if fact.kind == "number" and fact.comparison is not None:
                    for value in fact.values:
                        conditions[(value, fact.unit)] = (fact.comparison, sentence)
        self._allowed = _Allowed(numbers=numbers, times=times, digits=digits, words=words,
                                 conditions=conditions, text=source.lower())

    @classmethod
    def from_files(cls, knowledge_file: Path, persona_file: Path | None = None) -> FactGuard:
        """The guard of an operator's knowledge file and persona (comments dropped)."""
        persona = read_prompt_file(persona_file) if persona_file is not None else ""
        return cls(read_prompt_file(knowledge_file), persona)

    def known(self, fact: Fact) -> bool:
        """Whether the file (or the persona) holds `fact`."""
        allowed = self._allowed
        if fact.kind == "number":
            for value in fact.values:
                units = allowed.numbers.get(value)
                if units is not None and (fact.unit is None or fact.unit in units or None in units):
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
        if fact.kind == "named":  # "password is X": the file says "password[ is] X"
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

    def check(self, sentence: str) -> Verdict:
        """Whether `sentence` may be spoken (see the module docstring)."""
        facts = extract_facts(sentence)
        if not facts:
            return Verdict(Kind.FREE)
        missing = tuple(f.text for f in facts if not self.known(f))
        if missing:
            return Verdict(Kind.INVENTED, missing=missing)
        for fact in facts:
            own = self.flipped(fact)
            if own is not None:
                return Verdict(Kind.FLIPPED, missing=(fact.text,), fact=own)
        return Verdict(Kind.KNOWN)


def _word_known(value: str, words: set[str]) -> bool:
    """A name is the file's when it, or each part of it, is a file word."""
    if value in words or value.removesuffix("'s") in words or (
            value.endswith("s") and value[:-1] in words):
        return True  # "Sundays", "Maple's"
    parts = re.findall(r"[a-z]+", value)
    if parts and all(p in words for p in parts):
        return True
    if len(value) >= 3 and value.isalpha() and any(
            w.startswith(value) and w[:1].isalpha() and len(w) > len(value) for w in _DAY_WORDS
            if w in words):
        return True  # "Mon", "Sat": a day the file names, shortened
    # the retrieval's visitor words ("Amex" -> "american express")
    synonyms = terms(value)
    return bool(synonyms) and synonyms != [value] and all(t in words for t in synonyms)


_DAY_WORDS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
              "january", "february", "march", "april", "june", "july", "august",
              "september", "october", "november", "december")
