"""Clock times as English writes them in a file and says them in a question: "9 a.m.",
"7:30 p.m.", "noon", a span ("10 a.m. to 6 p.m."), and the hour a visitor names
("around three", "at 8", "in the afternoon"). Read by the rules that answer a yes/no
question about hours from the fact (agent/answers/reading.py, settle.py)."""

from __future__ import annotations

import re

#: a clock time a fact writes: "9 a.m.", "7:30 p.m.", "noon", "midnight"
CLOCK = r"(?:\d{1,2}(?::\d\d)?\s*[ap]\.?\s?m\.?|noon|midnight)"
#: "9 a.m. to 8 p.m.": a span of clock times
SPAN = re.compile(rf"({CLOCK})\s*(?:to|until|till|-|\u2013)\s*({CLOCK})", re.IGNORECASE)
#: "until 9 p.m.", "open late till midnight": an end with no start
UNTIL = re.compile(rf"\b(?:until|till)\s+({CLOCK})", re.IGNORECASE)
#: "from 7 a.m.", "opens at 7:30 a.m.": a start with no end
FROM = re.compile(rf"\b(?:from|opens?\s+at)\s+({CLOCK})", re.IGNORECASE)
#: an hour said in words
CLOCK_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
               "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
#: the parts of a day a visitor names, as (from, to) in minutes after midnight
DAY_PARTS = {"morning": (6 * 60, 12 * 60), "afternoon": (12 * 60, 17 * 60),
             "evening": (17 * 60, 21 * 60), "tonight": (17 * 60, 24 * 60),
             "night": (21 * 60, 24 * 60)}
_DAY_PART = re.compile(r"\b(" + "|".join(DAY_PARTS) + r")\b", re.IGNORECASE)
#: a bare hour a visitor names: "at three", "around 3", "like about eight", "by 9"
_BARE_HOUR = re.compile(r"\b(?:at|around|about|by|after|before|till|until)\s+(?:around\s+|about\s+)?"
                        r"(\d{1,2}|" + "|".join(CLOCK_WORDS) + r")(?::(\d\d))?\b(?!\s*(?:days?|"
                        r"weeks?|hours?|minutes?|years?|people|of|percent|dollars?))",
                        re.IGNORECASE)

#: an hour told by what follows it, whatever comes before ("8 in the morning", "three
#: o'clock"): the word before it may be misheard ("Do you open it 8 in the morning?")
_TOLD_HOUR = re.compile(r"\b(\d{1,2}|" + "|".join(CLOCK_WORDS) + r")(?::(\d\d))?\s+"
                        r"(?:o'?clock|in the (?:morning|afternoon|evening)|at night)\b",
                        re.IGNORECASE)


def minutes(clock: str) -> int | None:
    """Minutes after midnight of "9 a.m.", "7:30 p.m.", "noon"; None if not a clock time."""
    text = clock.lower().replace(".", "").replace(" ", "")
    if text in ("noon", "midnight"):
        return 12 * 60 if text == "noon" else 0
    match = re.match(r"(\d{1,2})(?::(\d\d))?([ap])m", text)
    if match is None:
        return None
    hour = int(match.group(1)) % 12 + (12 if match.group(3) == "p" else 0)
    return hour * 60 + int(match.group(2) or 0)


def asked_time(question: str) -> tuple[int, int] | None:
    """The time a visitor asks about, as (from, to) minutes after midnight: a clock time
    ("at 8 a.m.": one minute), a bare hour ("around three", "8 in the morning", "three
    o'clock", read in the part of the day the question names, else as the hours a place is
    open: 1-7 in the afternoon, 8-11 in the morning; after "until" in the evening), or a part
    of the day alone ("Saturday afternoon"); None when it names none."""
    part = _DAY_PART.search(question)
    window = DAY_PARTS[part.group(1).lower()] if part else None
    told = re.search(rf"\b({CLOCK})", question, re.IGNORECASE)
    if told is not None and (at := minutes(told.group(1))) is not None:
        return at, at
    bare = _BARE_HOUR.search(question) or _TOLD_HOUR.search(question)
    if bare is not None:
        word = bare.group(1).lower()
        hour = int(word) if word.isdigit() else CLOCK_WORDS[word]
        if hour > 23:
            return window
        # "open until nine", "past ten": a closing time, in the evening
        closing = bare.group(0).split()[0].lower() in ("till", "until", "after")
        afternoon = (window[0] >= 12 * 60) if window else (1 <= hour <= 7 or closing)
        at = (hour % 12 + (12 if afternoon and hour < 12 else 0)) * 60 + int(bare.group(2) or 0)
        if hour >= 13:
            at = hour * 60 + int(bare.group(2) or 0)
        return at, at
    return window
