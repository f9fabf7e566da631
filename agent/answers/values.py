"""Reading the values a sentence states: numbers with their units, clock times, prices,
phone digits, e-mail addresses, floors, entrances and names (agent/answers/guard.py
checks them against where they may come from; agent/answers/reading.py reads a
question's amount against a fact's threshold with them).

Normalised so the model may say a fact its own way: "nine" = "9", "9 a.m." = "9:00 am",
"$49" = "49 dollars" = "forty-nine dollars", "two fifty" = 250 (or 2 and 50), "five five
five, zero one four two" = "555-0142", "second floor" = "2nd floor". A number carries the
comparison written before or after it ("over 300 dollars", "300 dollars or more").
Plain patterns, no model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_UNITS: dict[str, str] = {
    "dollar": "dollar", "dollars": "dollar", "buck": "dollar", "bucks": "dollar",
    "usd": "dollar", "cent": "cent", "cents": "cent",
    "pound": "pound", "pounds": "pound", "quid": "pound", "gbp": "pound",
    "penny": "penny", "pence": "penny", "euro": "euro", "euros": "euro", "eur": "euro",
    "percent": "percent", "per cent": "percent", "%": "percent",
    "mile": "mile", "miles": "mile", "km": "km", "kilometer": "km", "kilometers": "km",
    "kilometre": "km", "kilometres": "km",
    "minute": "minute", "minutes": "minute", "min": "minute", "mins": "minute",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour",
    "day": "day", "days": "day", "week": "week", "weeks": "week",
    "month": "month", "months": "month", "year": "year", "years": "year",
    "floor": "floor", "floors": "floor",
}
#: a currency's sign written before its amount
_CURRENCY = {"$": "dollar", "\u00a3": "pound", "\u20ac": "euro"}
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
    r"|[$£€]\s?\d[\d,]*(?:\.\d+)?"       # $49, $1,200, £5, €12
    r"|\d+(?::\d\d)?(?:st|nd|rd|th)?"    # 49, 9:30, 2nd
    r"|[A-Za-z]+(?:['\u2019][a-z]+)?"    # words, don't
    r"|%"
)
_MERIDIEM = re.compile(r"^\s*(a\.?\s?m\.?|p\.?\s?m\.?)(?![a-z])", re.IGNORECASE)
_PHONE = re.compile(r"\b\d{3}[-. ]\d{4}\b|\b\d{3}[-. ]\d{3}[-. ]\d{4}\b")
_NAMING = re.compile(r"\b(called|named|(?:name|code) is)\s+([A-Za-z][\w-]*)",
                     re.IGNORECASE)
#: "the name of the store manager is Sam": a name given as someone's (not "my name is")
_NAME_OF = re.compile(r"(?<!\bmy )\bname\b[^.!?]{0,40}?\bis\s+([A-Z][\w-]*)")
_ENTRANCE = re.compile(r"\b(entrance|door|gate|exit)\s+([A-Z])\b", re.IGNORECASE)


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
            # "the code is X": the file must name it so ("code X"), not only hold the word
            # (the model gave a network's name as the code the file says there is none of)
            keyword = match.group(1).split()[0].lower()
            own = text[:match.start()].lower().endswith("my ")  # "my name is Ada"
            kind = "named" if keyword in ("name", "code") and not own else "name"
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
        if word[0] in _CURRENCY or word[0].isdigit():
            digits = word.lstrip("".join(_CURRENCY)).replace(",", "").strip()
            if ":" in digits:
                hours, minutes = digits.split(":")
                number = [{int(hours)}]
                minute_part = int(minutes)
            else:
                minute_part = 0
                core = re.sub(r"(st|nd|rd|th)$", "", digits)
                ordinal = core != digits
                number = [{int(float(core))}]
            unit = _CURRENCY.get(word[0])
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
