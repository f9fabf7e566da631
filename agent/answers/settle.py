"""Whether a fact settles a yes/no question, and which way, read from the fact's own words.

The kiosk's 0.5B model says "Yes" to most yes/no questions whatever its facts say ("Can we
come by on Monday?" with "closed on Mondays" in front of it: docs/ANSWERS.md, section 13),
so a yes or no is said only where the fact settles it, by one of these general shapes:
- **days and hours**: a question about coming or being open on a day, perhaps at a time
  ("Could I come in Saturday afternoon, around three?"), against a fact that lists days with
  their hours or says a day is closed ("Saturday 8 a.m. to noon; closed on Sundays");
- **a named thing, allowed or not**: the thing the question names (its rarer word or a
  name: "tripod", "Medicaid", "Amex" as "American Express") in the fact, and whether the
  fact says it under a "no" or "not" ("no flash and no tripods", "no, we do not accept
  Medicaid") or plainly ("we accept ... Medicare").
- **coming without booking**: a question asking to walk in ("Can I just walk in?", "...
  without an appointment?") against a fact that says a thing is by appointment only ("no")
  or needs none ("yes"); the thing's own name says nothing of how it is booked.
Where no shape holds, nothing is settled (None): the caller must not say a yes or no.

Plain patterns on the words, no model: microseconds a fact. Nothing here knows a business.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from agent.answers.clock import CLOCK, FROM, SPAN, UNTIL, asked_time, minutes
from agent.answers.common import CALENDAR, PLACEHOLDER_WORDS, common_words
from agent.answers.days import days_named
from agent.answers.index import LABEL, PURPOSE, stem, terms
from agent.answers.shape import last_sentence

#: a question about the place being open, or about coming to it ("Are you open ...?", "Can
#: we come by ...?", "Could I stop in ...?", "Is it OK to visit ...?")
ABOUT_OPENING = re.compile(
    r"\b(?:open|opened|closed|shut|come|coming|visit|visiting|stop|drop|pop|swing|get in|"
    r"walk in|go|head)\b", re.IGNORECASE)
#: a question asking whether the place is closed (the answer turns round)
_ASKS_CLOSED = re.compile(r"\b(?:closed|shut)\b", re.IGNORECASE)
#: "open until nine": open up to that time, its last minute too
_UNTIL_ASKED = re.compile(r"\b(?:until|till)\s", re.IGNORECASE)
#: a clause saying a day is closed ("closed on Mondays", "Sunday closed")
_CLOSED = re.compile(r"\bclosed\b", re.IGNORECASE)
#: every day of the week ("open daily", "every day")
_EVERY_DAY = re.compile(r"\b(?:daily|every day|seven days a week)\b", re.IGNORECASE)
#: words after which a thing is said not to be there or allowed
_NEGATIVE = re.compile(r"^(?:no|not|never|cannot|can't|without|none|nor|n't|don't|doesn't|"
                       r"isn't|aren't|won't)$", re.IGNORECASE)
#: words after which a negation no longer holds ("no pets, except service animals")
_NEGATION_ENDS = re.compile(r"^(?:but|except|yes|only|however|although|though)$", re.IGNORECASE)
_WORDS = re.compile(r"[A-Za-z0-9']+")


def _clauses(fact: str) -> list[str]:
    """The fact's clauses (between semicolons) without its label."""
    label = LABEL.match(fact)
    text = fact[label.end():] if label else fact
    return [c.strip(" .") for c in text.split(";") if c.strip(" .")]


def opening_hours(fact: str) -> tuple[dict[int, tuple[int | None, int | None]], set[int]]:
    """The days a fact says are open, each with its hours as (opens, closes) in minutes after
    midnight (None where the fact does not say), and the days it says are closed
    ("Tuesday to Sunday 10 a.m. to 5 p.m.; Thursday open late until 9 p.m.; closed on
    Mondays": Thursday is open 10 a.m. to 9 p.m., Monday closed). A day in several clauses
    is open from its earliest opening to its latest closing."""
    open_days: dict[int, tuple[int | None, int | None]] = {}
    closed: set[int] = set()
    for clause in _clauses(fact):
        days = days_named(clause) or (set(range(7)) if _EVERY_DAY.search(clause) else set())
        if not days:
            continue
        if _CLOSED.search(clause) and not SPAN.search(clause):
            closed |= days
            continue
        span = SPAN.search(clause)
        until, start = UNTIL.search(clause), FROM.search(clause)
        opens = minutes(span.group(1)) if span else (minutes(start.group(1)) if start else None)
        closes = minutes(span.group(2)) if span else (minutes(until.group(1)) if until else None)
        for day in days:
            before = open_days.get(day, (None, None))
            open_days[day] = (_earliest(before[0], opens), _latest(before[1], closes))
    return open_days, closed - set(open_days)


def _earliest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _latest(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def hours_answer(fact: str, question: str) -> str | None:
    """"yes" or "no" to a question about coming or being open on a day (and at a time) that
    the fact's days and hours settle (`opening_hours`): "Can we come by on Monday?" and
    "closed on Mondays": no; "Could I come in Saturday afternoon?" and "Saturday 8 a.m. to
    noon": no. None where the question names no day, is not about opening or coming, the
    fact lists no day's hours, or a time asked falls where the fact gives no hour."""
    asked = days_named(question)
    if not asked or ABOUT_OPENING.search(question) is None:
        return None
    open_days, closed = opening_hours(fact)
    if not open_days and not closed:
        return None
    if not asked <= set(open_days) | closed:
        return None  # a day the fact does not speak of
    is_open = not asked & closed
    window = asked_time(question)
    if is_open and window is not None:
        for day in asked:
            opens, closes = open_days[day]
            if opens is None or closes is None:
                return None  # an hour the fact does not give
            # open at some time of what is asked ("around three": that minute; "in the
            # afternoon": any time of it)
            if not (opens <= window[1] and window[0] < closes if window[0] != window[1]
                    else opens <= window[0] <= closes if _UNTIL_ASKED.search(question)
                    else opens <= window[0] < closes):
                is_open = False
    asks_closed = _ASKS_CLOSED.search(question) is not None and not re.search(
        r"\bopen\b", question, re.IGNORECASE)
    return "yes" if is_open != asks_closed else "no"


def _said_negatively(words: list[str], at: int) -> bool:
    """True when the word at `at` of a clause's `words` falls under a negation before it
    ("no flash and no tripods", "we do not accept Medicaid"), not ended by "but" or
    "except" ("no pets, except service animals")."""
    for word in reversed(words[:at]):
        if _NEGATION_ENDS.match(word):
            return False
        if _NEGATIVE.match(word) or word.lower().endswith("n't"):
            return True
    return False


def thing_answer(fact: str, asked: Iterable[str]) -> str | None:
    """"yes" or "no" from where the fact says the thing a question names (`asked`: its
    words in the file's form, stemmed as agent/answers/index.py's `terms` does): "no" when
    every one the fact holds is under a negation ("no tripods", "we do not accept
    Medicaid"), "yes" when every one is said plainly ("we accept ... Medicare"); None when
    the fact holds under half of them ("charge my electric car in the garage" and "parking
    in the garage"), or says them both ways."""
    wanted = {w.lower() for w in asked}
    sides: set[bool] = set()
    held: set[str] = set()
    for clause in _clauses(fact):
        words = _WORDS.findall(re.sub(r"(\w)-(\w)", r"\1\2", clause))
        for at, word in enumerate(words):
            if stem(word.lower()) in wanted:
                sides.add(_said_negatively(words, at))
                held.add(stem(word.lower()))
    if len(sides) != 1 or 2 * len(held) < len(wanted):
        return None  # said both ways, or most of what is asked is not the fact's
    return "no" if sides.pop() else "yes"


#: a question's word beyond these many commonest English words names the thing it asks
#: about ("tripod", "Medicaid"; not "bring" or "use")
THING_RANK = 3000


def asked_things(question: str, terms_of: Callable[[str], list[str]] = terms) -> set[str]:
    """The rarer words of what a question's last sentence asks about, not the reason it
    gives for asking ("tripod" and "skeleton" of "Can I set up my tripod to get shots of the
    skeleton?", "Medicaid" of "I'm on Medicaid, can I use it here?"), in the form `terms_of` gives (the index's may say a visitor's word in the
    file's words); days and words for an unnamed thing ("thingy") are not things."""
    common = common_words(THING_RANK)
    asked = PURPOSE.split(last_sentence(question), maxsplit=1)[0]
    said = [t for t in terms(asked) if t not in common]
    return {w for t in said if t not in _CALENDAR_STEMS and t not in PLACEHOLDER_WORDS
            for w in terms_of(t)}


#: a question a plain mention of its thing does not answer: one asking whether it must be
#: done or is needed, what it costs, or whether it is not so ("Do I have to book ahead?",
#: "Do I need a booking?", "Does it cost anything to join?" of "free to join"); "pay with",
#: "pay by" ask how, not whether it costs ("Can I pay with my Fit Pass card?" is answered
#: by the fact that names the card)
_TAKES_A_SIDE = re.compile(
    r"\b(?:have|has)\s+to\b|\b(?:pay|paid)\b(?!\s+(?:with|by|using|via)\b)"
    r"|\b(?:need|needs|needed|must|required?|cost|costs|"
    r"charge|charged|fees?|extra|free|price|not|never|without|closed|shut|forbidden|banned|prohibited)\b|n't\b",
    re.IGNORECASE)
_CLOCK = re.compile(CLOCK, re.IGNORECASE)
_CALENDAR_STEMS = frozenset(stem(w) for w in CALENDAR) | CALENDAR


#: a question asking to come without booking first ("Can I just walk in?", "Is it OK to
#: drop in?", "Can I see someone without an appointment?")
_ASKS_WALK_IN = re.compile(
    r"\b(?:walk(?:ing)?[- ]?ins?|drop(?:ping)?\s+in|pop(?:ping)?\s+in|turn(?:ing)?\s+up"
    r"|show(?:ing)?\s+up)\b|\bwithout\s+(?:an?\s+|any\s+)?(?:appointments?|bookings?|reservations?)\b",
    re.IGNORECASE)
#: a fact's clause saying a thing must be booked ("by appointment only", "appointments
#: required", "every visit needs an appointment", "booking essential")
_BOOKING_ONLY = re.compile(
    r"\b(?:by|with)\s+(?:an?\s+)?(?:appointments?|bookings?|reservations?)\s+only\b"
    r"|\b(?:appointments?|bookings?|reservations?)\s+(?:only|(?:is\s+|are\s+)?(?:required|"
    r"needed|necessary|essential|mandatory))\b"
    r"|\bneeds?\s+(?:an?\s+)?(?:appointments?|bookings?|reservations?)\b"
    r"|\bmust\s+(?:be\s+)?(?:book|booked|reserve|reserved)\b", re.IGNORECASE)
#: a fact's clause saying no booking is needed ("no appointment needed", "walk-ins welcome")
_NO_BOOKING = re.compile(
    r"\bno\s+(?:appointments?|bookings?|reservations?)\s+(?:is\s+|are\s+)?(?:needed|required|"
    r"necessary)\b|\bwalk[- ]?ins?\s+(?:are\s+)?(?:welcome|accepted|ok|okay)\b", re.IGNORECASE)


def walk_in_answer(fact: str, question: str) -> str | None:
    """"no" where the question asks to come without booking and the fact says its thing is
    by appointment only ("Can I just walk in for a shingles shot?" and "shingles vaccines by
    appointment only"), "yes" where the fact says no booking is needed; None for any other
    question, or a fact that says neither or both."""
    if _ASKS_WALK_IN.search(question) is None:
        return None
    booked, free = _BOOKING_ONLY.search(fact) is not None, _NO_BOOKING.search(fact) is not None
    if booked == free:
        return None
    return "no" if booked else "yes"


def settled_answer(fact: str, question: str, things: Iterable[str] | None = None) -> str | None:
    """"yes" or "no" where the fact settles the yes/no `question` (module docstring): by
    whether it asks to come without booking of a fact that says how its thing is booked
    (`walk_in_answer`), by its days and hours (`hours_answer`), else by where it says the
    thing asked about (`thing_answer`; `things`: the question's words for it, default
    `asked_things`); None where it settles nothing."""
    walk_in = walk_in_answer(fact, question)
    if walk_in is not None:
        return walk_in
    hours = hours_answer(fact, question)
    # the side is taken in what is asked, not in the reason given for asking ("Is there a
    # lift so I don't have to take the stairs?" asks whether there is one)
    asked = PURPOSE.split(question, maxsplit=1)[0]
    if (hours is not None or days_named(question) or _TAKES_A_SIDE.search(asked)
            or (asked_time(asked) is not None and _CLOCK.search(fact) is not None)):
        # a time of day asked of a fact that gives times ("done before 10 a.m."): whether
        # the thing is there does not say whether it is then
        return hours
    return thing_answer(fact, asked_things(question) if things is None else things)


def settling_part(fact: str, things: Iterable[str]) -> str:
    """The fact without its clauses that give a yes or no of their own about another thing
    than the one asked (`things`, as for `thing_answer`), its label kept: "Passes: we accept
    Aqua Card and Fit Pass" of "...; no, we do not accept vouchers" for "Fit Pass", while "no,
    we do not do X-rays here; we refer you to the imaging centre next door" stays whole."""
    wanted = {w.lower() for w in things}
    label = LABEL.match(fact)
    clauses = _clauses(fact)
    kept = [c for c in clauses
            if not _OWN_ANSWER.match(c)
            or wanted & {stem(w.lower()) for w in _WORDS.findall(re.sub(r"(\w)-(\w)", r"\1\2", c))}]
    if not kept or len(kept) == len(clauses):
        return fact
    return f"{label.group(0) if label else ''}{'; '.join(kept)}."


#: a clause that opens with a yes or no of its own ("no, we do not accept ...", "no pets")
_OWN_ANSWER = re.compile(r"^(?:yes|no)\b", re.IGNORECASE)
