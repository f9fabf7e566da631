"""What a visitor's question asks for, read in general English: a yes or no, an amount,
a clock time, a person, a kind of value (a day, a duration, a place, a phone number, an
e-mail address), or what happens under a condition.

Why it decides who answers (docs/LLM_CHOICE.md, "Yes or no, and amounts"):
- **yes/no questions**: with a fact that says no written in front of the question, the
  kiosk's 0.5B model still answered "Yes, you can ..." (13 of its 24 wrong fact answers
  began with "Yes"): a yes/no question is answered from the fact itself
  (agent/answers/reading.py);
- **amounts and values**: asked for a price no fact states, it read a neighbouring fact
  and invented one: a question that asks for a kind of value is answerable only by a
  fact that states one (`states_value`).

Nothing here knows a business: question words, auxiliaries, units and the shapes of
values are English. Plain patterns on the words, no model: microseconds a message.
"""

from __future__ import annotations

import re

from agent.answers.days import FULL_DAY

#: Words that open an English yes/no question ("Can I...", "Is there...", "Do you...").
_AUXILIARIES = frozenset(
    """is are am was were isn't aren't wasn't weren't do does did don't doesn't didn't
    can could can't couldn't will would won't wouldn't shall should shouldn't may might
    must have has had haven't hasn't""".split()
)
#: the auxiliaries as a regular-expression alternation, longest first ("isn't" before "is")
_AUXILIARY = "|".join(sorted(_AUXILIARIES, key=len, reverse=True))
# The last sentence carries the question: "I lost my ticket. Can I still get in?"
_SENTENCES = re.compile(r"[^.!?]+[.!?]*")
_FIRST_WORD = re.compile(r"[a-z']+")
#: "How much", "what does it cost", "the price of", "how expensive", "is there a fee".
_ASKS_AMOUNT = re.compile(
    r"\bhow much\b|\bcosts?\b|\bprice of\b|\bhow expensive\b|\bfees?\b|\bwhat do(es)? .* charge\b"
    r"|\bcharge (?:anything|extra|for)\b",
    re.IGNORECASE,
)
#: An amount a fact can state: a number, a number word, "free", a currency or percent.
_STATES_AMOUNT = re.compile(
    r"\d|\$|€|£|\bfree\b|\bdollars?\b|\bcents?\b|\bpercent\b|\b(one|two|three|four|five|six|"
    r"seven|eight|nine|ten|twenty|fifty|hundred|thousand)\b",
    re.IGNORECASE,
)


#: What a price is: money, "free", a charge ("until 7 p.m." holds a number, not a price).
_STATES_PRICE = re.compile(
    r"\$|€|£|\bfree\b|\bdollars?\b|\bcents?\b|\bpercent\b|\bcosts?\b|\bcharges?\b|\bfees?\b",
    re.IGNORECASE,
)
#: "how much time", "how much longer": an amount, not a price
_AMOUNT_OF_TIME = re.compile(r"\bhow much (?:time|longer)\b", re.IGNORECASE)
#: "What time...", "How late...", "How early...", "Until when...", "What are your opening
#: hours?": a clock time. "hours" alone is not one ("How many hours..." is a duration).
_ASKS_TIME = re.compile(r"\bwhat time\b|\bhow (?:late|early)\b|\buntil when\b"
                        r"|\b(?:opening|closing|business|working) hours\b"
                        r"|\bwhat (?:are|were) (?:the|your|its)\s+(?:\w+\s+)?hours\b", re.IGNORECASE)
#: A clock time a fact can state: "9 a.m.", "7 p.m.", "10:30", "noon".
_STATES_TIME = re.compile(
    r"\d\s*(?:a\.?\s?m\b|p\.?\s?m\b)|\d:\d\d|\bnoon\b|\bmidnight\b|o'clock",
    re.IGNORECASE,
)
#: "Who is...", "Who runs...": a question for a person.
_ASKS_WHO = re.compile(r"\bwho(?:'s| is| are| was| runs| owns| manages| works)\b", re.IGNORECASE)
#: "the name of the manager", "what's his name": a person's name.
_ASKS_NAME = re.compile(r"\bnames?\b|\bcalled\b", re.IGNORECASE)
#: The words for a person a fact can name ("Manager: Dana Lee.").
PERSON_WORDS = frozenset(
    """manager managers owner owners boss staff employee employees person people cashier
    clerk assistant supervisor director ceo founder chef barista woman man lady guy
    he she his her him""".split()
)
_PERSON = re.compile(r"\b(?:" + "|".join(sorted(PERSON_WORDS)) + r")\b", re.IGNORECASE)


#: "a.m.", "p.m.": dots that end no sentence (nor before a "?" or the end: "... at 7 a.m.?")
_MERIDIEM_DOTS = re.compile(r"\b([aApP])\.\s?[mM]\.(?=\s+[a-z0-9]|\s*[?!]|\s*$)")
#: "a.m." before a capital: its last dot ends the sentence, its first does not ("I come at
#: 9 a.m. Is that OK?")
_MERIDIEM_END = re.compile(r"\b([aApP])\.\s?[mM]\.(?=\s+[A-Z])")


#: whisper's "for" or "four" for "floor" after "which" or "what", a question going on after
#: it that asks where ("Which four is the clinic on?", "What for do I go up to for the
#: show?"): "which for" asks nothing in English, "which floor" does; not "What for do you
#: need it?"
_FLOOR_HEARD = re.compile(r"\b(which|what)\s+(?:for|four)\b(?=\s+(?:is|are|do|does|did|can|could"
                          r"|should|will|would|the|i|we|you)\b[^.!?]*\b(?:on|up|down|go)\b)",
                          re.IGNORECASE)


def as_meant(message: str) -> str:
    """`message` with a word whisper mishears in a question's opening written as meant:
    "Which four is the clinic on?" as "Which floor is the clinic on?" (`_FLOOR_HEARD`)."""
    return _FLOOR_HEARD.sub(lambda m: f"{m.group(1)} floor", message)


def sentences(message: str) -> list[str]:
    """The message's non-empty sentences, with their end marks; "9 a.m." inside a
    sentence ends none ("Do you open at 9 a.m. on Mondays?": one sentence)."""
    message = _MERIDIEM_END.sub(r"\1m.", _MERIDIEM_DOTS.sub(r"\1m", message))
    return [s.strip() for s in _SENTENCES.findall(message) if s.strip(" .!?")]


def last_sentence(message: str) -> str:
    """The message's last non-empty sentence (where a spoken question is), or where that
    tells the visitor's situation after their question ("Is this a walk-in clinic? My son
    has a fever."), the last question before it; "9 a.m." inside a sentence ends none ("Do
    you open at 9 a.m. on Mondays?")."""
    said = sentences(message)
    if not said:
        return message.strip()
    # whisper may end a spoken question with "." ("I've got a Gold Card. Is that OK here."):
    # with no "?" in the message, the last sentence turned as a question asks
    heard_asking = not any(s.endswith("?") for s in said) and (
        asks(said[-1]) or _JOINED_ON.match(said[-1]) is not None)
    if not said[-1].endswith("?") and not heard_asking:
        asked = next((s for s in reversed(said[:-1]) if s.endswith("?")), None)
        if asked is None and not any(s.endswith("?") for s in said):
            # whisper may end a spoken question with "." ("What's your fax number. My old
            # doctor needs my records."): the sentence turned as a question asks
            asked = next((s for s in reversed(said[:-1]) if asks(s)), None)
        return asked or said[-1]
    if len(said) > 1 and _asks_of_what_was_told(said[-2], said[-1]):
        # "I only have a voucher. Can I use it here?": whisper ends a sentence where a writer
        # puts a comma; the question's "it" is the told thing, so both are the question
        return f"{said[-2].rstrip(' .')}, {said[-1][0].lower()}{said[-1][1:]}"
    if len(said) > 1 and (said[-2].endswith("?") or asks(said[-2])) and (
            _JOINED_ON.match(said[-1]) or _afterthought(said[-1])):
        # "Where can I leave my car? And is it free?": a question joined to the one before
        # by "and" at its start is said after it, as "..., and is it free?" is; so is a few
        # words' afterthought to it ("Could I come in Saturday afternoon. Like around three?")
        return f"{said[-2].rstrip(' .?')}, {said[-1][0].lower()}{said[-1][1:]}"
    return said[-1]


#: most words an afterthought to a question has ("Like around three?", "Say before noon?")
AFTERTHOUGHT_WORDS = 4
#: a sentence told of the visitor or someone, not an afterthought: "I'm late.", "She's 12."
_TELLS = re.compile(r"^\W*(?:i|i'm|i've|i'd|i'll|we|we're|my|our|he|she|he's|she's|it's|"
                    r"they|they're|thanks|thank|please|hi|hello|hey|bye|ok|okay|yes|no)\b",
                    re.IGNORECASE)


def _afterthought(text: str) -> bool:
    """True when `text` is a few words added to the question before it, with no question
    or clause of its own ("Like around three?", "Maybe on Sunday?": whisper ends a sentence
    at the speaker's pause, where a writer puts a comma)."""
    text = text.replace("\u2019", "'")
    return (len(_FIRST_WORD.findall(text.lower())) <= AFTERTHOUGHT_WORDS
            and not opens_question(text) and _TELLS.match(text) is None)


#: a question opened by a joining word, leaning on the question before: "And is it free?",
#: "But do I need anything?"
_JOINED_ON = re.compile(r"^\W*(?:and|but|also|plus)\s+(?:also\s+)?(?:" + _AUXILIARY
                        + r"|what|where|when|which|who|whose|how|why)\b", re.IGNORECASE)


#: a question whose subject or object is a pronoun standing for what the sentence before
#: told: "Is that OK here?", "Can I use it here?", "Will you take that?", "How soon will it
#: be ready?", "How does she get in?" (not "Can I just walk in for it today?": its own act,
#: done for the thing, is what it asks)
_ASKS_OF_IT = re.compile(r"^\W*[a-z']+\s+(?:[a-z']+\s+){0,2}"
                         r"(?:it|that|this|they|them|those|he|she|him|her)\b", re.IGNORECASE)


def _asks_of_what_was_told(told: str, asked: str) -> bool:
    """True when `asked` is a question of one clause, yes/no or wh-, that speaks of `told`,
    a statement, through a pronoun ("I brought my own bag." "Is that OK here?"; "I ordered
    online." "How soon will it be ready?"): one question said in two sentences."""
    return (opens_question(asked)
            and not told.rstrip().endswith(("?", "!")) and not opens_question(told)
            and "," not in asked and _ASKS_OF_IT.match(asked) is not None)


#: Words that open a question: an auxiliary ("will I...") or a wh-word ("where...").
_QUESTION_OPENERS = _AUXILIARIES | frozenset("what where when which who whose how why".split())


def opens_question(text: str) -> bool:
    """True when `text` opens as an English question does: with an auxiliary ("Can I
    ...", "Is there ...") or a wh-word ("Where's ...", "How does ...")."""
    first = _FIRST_WORD.match(text.strip().lower().replace("\u2019", "'"))
    return first is not None and (first.group(0) in _QUESTION_OPENERS
                                  or first.group(0).split("'")[0] in _QUESTION_OPENERS)


#: ", will I get a refund?": a clause after a comma, whose first word may open a question
_COMMA_CLAUSE = re.compile(r",\s*([a-z']+)\b", re.IGNORECASE)
#: a clause's first word that joins it to the clause before ("..., and how long does it take?")
_JOIN_WORDS = frozenset(("and", "but", "also", "plus"))


def _asking_clause(last: str) -> re.Match[str] | None:
    """The last clause after a comma in `last` not joined on by "and", "but", "also" or
    "plus": where a question told after a statement opens, even with another question joined
    on after it ("My parcel went to the wrong house, can you resend it, and how long will
    that take?": "can you ...", as whisper writes the pause after the statement with a comma
    where a writer ends the sentence)."""
    clauses = [m for m in _COMMA_CLAUSE.finditer(last) if m.group(1).lower() not in _JOIN_WORDS]
    return clauses[-1] if clauses else None


def question_part(message: str) -> str:
    """The part of the message's last sentence that asks: a question told after a
    statement with only a comma between ("I lost the receipt, will I get a refund?", as
    whisper writes the pause) is its last clause; else the whole last sentence."""
    last = last_sentence(message)
    first = _FIRST_WORD.match(last.lower().replace("\u2019", "'"))
    tail = _asking_clause(last.replace("\u2019", "'"))
    # "where's" opens as "where" does
    if (tail is None
            or (first is not None and first.group(0).split("'")[0] in _QUESTION_OPENERS)
            or tail.group(1).lower().split("'")[0] not in _QUESTION_OPENERS):
        return last
    # whisper may end a spoken question with "." instead of "?": then the clause asks only
    # where it is turned as a question is, an auxiliary before its subject ("..., can
    # someone help him.", not "..., do come back."); a piece of a sentence with no
    # end mark at all (agent/answers/parts.py's) is not one
    if not last.rstrip().endswith("?") and (not last.rstrip().endswith(".")
                                             or not asks(last[tail.start(1):])):
        return last
    return last[tail.start(1):]


#: a wh-question's opening: a wh-word, perhaps the word it asks of ("what time", "which
#: floor", "how long"), then an auxiliary or "'s" ("where's", "where do I", "what time do
#: you"); not a relative clause ("..., where I parked.", "..., which is why I came.")
_WH_ASKS = re.compile(
    r"(?:what|where|when|who|whose|how|why)(?:'s|'re|\s+(?:" + _AUXILIARY + r"))\b"
    r"|(?:what|which|whose|how)\s+(?!(?:" + _AUXILIARY + r")\b)[a-z]+(?:'s|\s+(?:" + _AUXILIARY
    + r"))\s+(?:i|you|we|he|she|it|they|that|this|there|the|my|our|your|his|her|their|mine"
    r"|yours|ours|hers|theirs)\b",
    re.IGNORECASE)


def asks(text: str) -> bool:
    """True when `text` is turned as an English question is, whatever its end mark: an
    auxiliary before its subject ("can someone help him.") or a wh-word before one
    ("where's the bathroom.", "where do I go.", "what time do you close."), as whisper may
    write a spoken question with "." for "?"."""
    text = text.strip().replace("\u2019", "'")
    return _INVERTED.match(text) is not None or _WH_ASKS.match(text) is not None


#: an auxiliary before its subject: "can someone ...", "is that ...", "do I ..."
_INVERTED = re.compile(
    r"(?:" + _AUXILIARY + r")\s+(?:i|you|we|he|she|it"
    r"|they|that|this|there|someone|somebody|anyone|anybody|the|my|our|your|his|her|their"
    r"|these|those)\b", re.IGNORECASE)


#: "... or is it extra", "... or do I pay": a second question offered as the other choice
_OR_ASKS = re.compile(r"\bor\s+(?:" + _AUXILIARY + r")\b", re.IGNORECASE)


def is_yes_no_question(message: str) -> bool:
    """True when the message ends in a yes/no question ("Can I bring my dog?", "I lost
    the receipt, will I get a refund?"); not a question offering a choice of two, the
    second turned as a question too ("Is it included or is it extra?": yes or no answers
    neither; "Do you take cards or just cash?" is still asked yes or no)."""
    asked = question_part(message).lower().replace("\u2019", "'")
    first = _FIRST_WORD.match(asked)
    return first is not None and first.group(0) in _AUXILIARIES and not _OR_ASKS.search(asked)


#: ", and is it free?", " and do I need anything?": a yes/no clause joined after another
#: question; group 1 is the clause without its join
_YES_NO_TAIL = re.compile(r"(?:,\s*|\s+)(?:and|but|also|plus)\s+(?:also\s+)?"
                          r"((" + _AUXILIARY + r")\b[^,;]*?)\s*\??\s*$", re.IGNORECASE)


def yes_no_tail(message: str) -> str | None:
    """The yes/no question joined by "and" after a wh-question in the message's last
    sentence ("is it free?" of "Where can I leave my car, and is it free?"), or None: the
    clause before it nearest it that opens a question must open with a wh-word.
    `is_yes_no_question` reads such a message by its first question (whose answer comes
    first, in the message's order); this says the one after it."""
    last = last_sentence(message).replace("\u2019", "'")
    tail = _YES_NO_TAIL.search(last)
    if tail is None:
        return None
    # the question before it: the clause nearest it that opens as a question does
    openers = [_FIRST_WORD.match(c.strip().lower()) for c in last[:tail.start()].split(",")]
    asked = [m.group(0).split("'")[0] for m in openers
             if m is not None and m.group(0).split("'")[0] in _QUESTION_OPENERS]
    if not asked or asked[-1] in _AUXILIARIES:
        return None
    return tail.group(1).strip().rstrip(" .") + "?"


def asks_for_amount(message: str) -> bool:
    """True when the message asks for a price or another amount ("How much is...")."""
    return _ASKS_AMOUNT.search(message) is not None


def states_amount(fact: str) -> bool:
    """True when a fact states an amount (a number, "free", dollars, percent)."""
    return _STATES_AMOUNT.search(fact) is not None


def asks_for_price(message: str) -> bool:
    """True when the message asks what something costs ("How much is a coffee?", "Is
    there a fee...?"), not how much time ("How much time do I have?")."""
    return asks_for_amount(message) and _AMOUNT_OF_TIME.search(message) is None


def states_price(fact: str) -> bool:
    """True when a fact states a price: money, "free", a cost or a fee (a clock time or
    a count of hours is not one)."""
    return _STATES_PRICE.search(fact) is not None


def asks_for_time(message: str) -> bool:
    """True when the message asks for a clock time ("What time does the bus leave?")."""
    return _ASKS_TIME.search(message) is not None


#: "Until when...", "How early...", "How late...": a clock time, or where no fact states one,
#: a date or a length of time ("runs until March 31", "at least 15 minutes before")
_ASKS_TIME_LOOSELY = re.compile(r"\buntil when\b|\bhow (?:late|early)\b|\bby when\b",
                                re.IGNORECASE)


def asks_for_time_loosely(message: str) -> bool:
    """True when the message asks for a time that a date or a length of time may give
    ("Until when is the exhibition on?", "How early should I come?")."""
    return _ASKS_TIME_LOOSELY.search(message) is not None


def states_time(fact: str) -> bool:
    """True when a fact states a clock time ("9 a.m.", "until 7 p.m.")."""
    return _STATES_TIME.search(fact) is not None


#: a time told by another one: "closes 30 minutes after the gallery", "an hour before the
#: show" (general English)
_STATES_RELATIVE_TIME = re.compile(
    r"\b(?:\d+|an?|one|two|three|four|five|ten|fifteen|twenty|thirty|forty-five|half an?)\s+"
    r"(?:minutes?|hours?|mins?)\s+(?:after|before)\b", re.IGNORECASE)


def states_relative_time(fact: str) -> bool:
    """True when a fact tells a time by another one ("closes 30 minutes after the
    gallery"): the answer to "what time", though it names no hour."""
    return _STATES_RELATIVE_TIME.search(fact) is not None


#: "What is this store called?", "Remind me of the name of this shop.": the place's own name
#: (not a person's: "the name of your manager" is left to `asks_for_person`)
_ASKS_OWN_NAME = re.compile(
    r"\bwhat(?:'s| is| was) this (?:(?P<called>\w+) )?called\b"
    r"|\bname of (?:this|your) (?P<named>\w+)\b(?!'s)", re.IGNORECASE)
#: what a visitor calls a place, whatever its kind (the file's name fact adds its own words)
PLACE_WORDS = frozenset({"place", "business", "shop", "building", "company"})
#: "Where are you located?", "Where is this place?", "What's close by?", "How do I find
#: you?": the whole question asks where the place is (what is near it is where it is)
_ASKS_WHERE_IT_IS = re.compile(
    r"^\W*(?:(?:where|whereabouts) (?:are you|is this(?: (?P<thing>\w+))?)(?: guys| folks| all)?"
    r"(?: located| based| situated)?(?: exactly| again)?"
    r"|what(?:'s| is) (?:close by|nearby|near (?:you|here|by)|around (?:you|here))"
    r"|how (?:do|can|would|will) (?:i|we) find (?:you|this place))\W*$", re.IGNORECASE)


def own_name_asked(message: str) -> str | None:
    """When the message asks what a place is called: the word it calls the place ("shop"
    of "What is this shop called?", "" of "What is this called?"); None for another
    question, or one naming a person ("the name of your manager")."""
    match = _ASKS_OWN_NAME.search(message)
    if match is None or person_words(message):
        return None
    return (match.group("called") or match.group("named") or "").lower()


def where_it_is_asked(message: str) -> str | None:
    """When the message only asks where the place is: the thing it names ("pharmacy" of
    "Where is this pharmacy?", "" of "Where are you located?"); None for another question."""
    match = _ASKS_WHERE_IT_IS.search(question_part(message))
    if match is None:
        return None
    thing = (match.group("thing") or "").lower()
    return "" if thing in ("located", "based", "situated", "exactly", "again") else thing


#: "Which teachers work here?", "What nurses are on duty today?": the people of a role
#: asked for; group 1 is the role
_ASKS_WHICH_PEOPLE = re.compile(
    r"\b(?:which|what)\s+(?:[a-z]+\s+)?([a-z]+)(?:'s)?\s+(?:work|works|are working|is working|are on"
    r"|is on)\s+(?:here|there|today|tonight|now|at|in|duty|shift|staff|call)\b", re.IGNORECASE)


def role_asked(message: str) -> str | None:
    """The role whose people the message asks for ("doctors" of "Which doctors work
    here?"), or None."""
    match = _ASKS_WHICH_PEOPLE.search(message)
    return match.group(1).lower() if match else None


def asks_for_person(message: str) -> bool:
    """True when the message asks who someone is or a person's name ("Who runs the
    cafe?", "What's the manager's name?"), or which people work there ("Which doctors
    work here?": `role_asked`); not "Who can I ask...?" or "What is this store called?"
    (no person in it)."""
    if _ASKS_WHO.search(message) or role_asked(message) is not None:
        return True
    return _ASKS_NAME.search(message) is not None and _PERSON.search(message) is not None


def person_words(text: str) -> set[str]:
    """The words for a person in `text` ("manager", "staff"), lower-cased."""
    return {w.lower() for w in _PERSON.findall(text)} - {"he", "she", "his", "her", "him"}



#: The kinds of value a question can ask for, whose answer a fact states in so many words.
#: Order matters: the first that matches is what the question asks for.
_ASKS_VALUE: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("e-mail", re.compile(r"\be-?mail\b", re.IGNORECASE)),
    ("phone", re.compile(r"\b(?:phone|telephone) number\b|\bnumber (?:to|can i|do i|should i) call\b"
                         r"|\b(?:call|phone|ring) (?:you|them|somebody|someone|anyone)\b",
                         re.IGNORECASE)),
    ("price", _ASKS_AMOUNT),
    ("time", _ASKS_TIME),
    ("duration", re.compile(r"\bhow long\b|\bhow many (?:days|hours|minutes|weeks|months)\b"
                            r"|\bhow soon\b", re.IGNORECASE)),
    ("day", re.compile(r"\b(?:which|what) days?\b", re.IGNORECASE)),
    ("when", re.compile(r"^\W*when\b", re.IGNORECASE)),
    # "Which side of the hall is ...?", "Whereabouts is ...?", "What's the street?", "How far
    # is it from the station?" (where it is, from a place the visitor names)
    ("place", re.compile(r"^\W*(?:where|whereabouts)\b|\b(?:which|what) (?:floor|street|entrance)s?\b"
                         r"|\bhow far (?:is|are)\b"
                         r"|\b(?:which|what) (?:part|side|wing|area|level|end|corner)s? of\b"
                         r"|\bwhat(?:'s| is) the (?:street|road)(?: name)?(?: again)?\W*$"
                         r"|\bwho (?:do|should|can|could) (?:i|we) (?:ask|talk to|speak to|see)\b"
                         r"|\bwhat(?:'s| is) (?:the|your) (?:street |full |postal |mailing )?address\b", re.IGNORECASE)),
)
#: What a fact states, by kind (a "when" is answered by a clock time, a duration or a day).
_STATES_VALUE: dict[str, re.Pattern[str]] = {
    "e-mail": re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+"),
    "phone": re.compile(r"\d{3}[-\s]\d{4}\b"),
    "price": _STATES_PRICE,
    "time": _STATES_TIME,
    "duration": re.compile(r"\b(?:\d+|one|two|three|four|five|six|seven|ten|thirty)\s+"
                           r"(?:(?:business|working|calendar|full)\s+)?"
                           r"(?:minutes?|hours?|days?|weeks?|months?|years?)\b"
                           r"|\buntil\s+(?:the\s+)?\w+", re.IGNORECASE),
    "day": re.compile(rf"\b{FULL_DAY}\b", re.IGNORECASE),
    "place": re.compile(r"\b(?:floor|entrance|next to|behind|outside|inside|desk|counter|aisle"
                        r"|road|street|avenue|station|near|opposite|upstairs|downstairs|hall"
                        r"|checkouts?|reception|cashiers?"
                        r"|room|lobby|wing|corner|level|suite|garage|building|across|past"
                        r"|in front of|at the (?:back|front|rear|side)|beside|next door|close to"
                        r"|on the (?:left|right)"
                        # a place on the internet: "on the patient portal", "on our website"
                        r"|on (?:the|our|its) (?:\w+ )?(?:portal|website|web site|app)|online)\b",
                        re.IGNORECASE),
}
_STATES_VALUE["when"] = re.compile("|".join(_STATES_VALUE[k].pattern
                                            for k in ("time", "duration", "day")), re.IGNORECASE)


def asks_for_value(message: str) -> str | None:
    """The kind of value a wh-question asks for: "e-mail", "phone", "price", "time" (a clock
    time), "duration", "day", "when" (a time, a duration or a day) or "place"; None for a
    yes/no question or one asking for something else ("What is this store called?")."""
    if is_yes_no_question(message):
        return None
    question = question_part(message)
    return next((kind for kind, asks in _ASKS_VALUE if asks.search(question)), None)


def states_value(text: str, kind: str) -> bool:
    """True when `text` states a value of `kind` (see `asks_for_value`): "Sunday 10 a.m.
    to 6 p.m." a time, "within 30 days" a duration, "on the second floor" a place."""
    if kind not in _STATES_VALUE:
        raise ValueError(f"unknown kind of value {kind!r}: one of {sorted(_STATES_VALUE)}")
    return _STATES_VALUE[kind].search(text) is not None


#: "I want to return a lamp.", "I don't have the receipt anymore.", "My card was declined."
_FIRST_PERSON = re.compile(r"^\W*(?:i|i'm|i've|i'd|i'll|my)\b", re.IGNORECASE)
#: "What happens if...", "What if...", "What do I do if...": a question about a condition.
_WHAT_IF = re.compile(r"\bwhat (?:happens|if)\b|\bwhat (?:do|can|should) i do (?:if|when)\b",
                      re.IGNORECASE)


def tells_situation(message: str) -> bool:
    """True when the message ends by telling the visitor's own situation, not asking
    ("I want to return a lamp.", "I don't have the receipt anymore."): the answer is
    what the store's fact says about it. Whisper's punctuation is not trusted: "Is the
    great corner sofa in stock." is a question, and starts with no "I"."""
    last = last_sentence(message)
    return (_FIRST_PERSON.match(last.replace("\u2019", "'")) is not None
            and not last.rstrip().endswith("?") and question_part(message) == last)


def asks_what_if(message: str) -> bool:
    """True when the message asks what happens under a condition ("What happens if I
    return something without the receipt?"): the fact's condition answers it."""
    return _WHAT_IF.search(last_sentence(message)) is not None


#: words a sentence may open with before what it says: "Okay, so what time ...", "Oh and I ..."
_LEAD_IN = re.compile(r"^\W*(?:(?:and|but|so|also|plus|then|oh|well|ok|okay|um|uh|er|yes|yeah|no"
                      r"|hi|hello|hey|please|sorry|thanks|thank you)\b[\s,]*)+", re.IGNORECASE)
#: a question or a want inside a told sentence: "I'd like to know when you close.", "I was
#: wondering if ...", "I forgot where ...", "I need a new key.", "I'm looking for the lift."
_ASKS_WITHIN = re.compile(
    r"\b(?:know|wonder(?:ing|ed)?|tell (?:me|us)|ask(?:ing|ed)?|find out|sure|forgot|forget"
    r"|remember|curious|idea)\s+(?:if|whether|what|where|when|which|who|whose|how|why)\b"
    r"|\b(?:i|we)(?:'d| would)\s+(?:like|love)\b|\b(?:need|needs|want|wants|wanna|looking for"
    r"|hoping|trying to find)\b", re.IGNORECASE)
_CLAUSES = re.compile(r"[,;:]")


def only_tells(message: str) -> bool:
    """True when the message tells and asks nothing, read in its words whatever whisper's
    marks: every sentence opens with the speaker or another person as its subject, or with
    thanks, yes or no ("I lost my receipt.", "My son is twelve. He's with me.", "Thanks,
    that's all."), and none holds a "?", a clause that opens as a question or is turned as
    one ("I got Medicare, is that okay here."), a question inside it ("I'd like to know when
    you close.") or a want ("I need a new key."). A message garbled at its start ("If I come
    in at night, we'll interact, ...", "However, you open on Thursday evenings.") is not
    read as told: a misheard question often loses its opening words."""
    if "?" in message:
        return False
    said = sentences(message.replace("\u2019", "'"))
    if not said:
        return False
    for sentence in said:
        if _TELLS.match(sentence) is None or _ASKS_WITHIN.search(sentence):
            return False
        for clause in (sentence, *_CLAUSES.split(sentence)[1:]):
            clause = _LEAD_IN.sub("", clause)
            if opens_question(clause) or asks(clause):
                return False
    return True
