"""Reading a fact aloud: a knowledge-file line turned into the answer a person would say.

The file is written as labelled lines ("Restrooms: on the second floor, next to the
cafe."), which read aloud sound like a form being read out. Where the kiosk answers
from a fact without the LLM (agent/answers/routing.py), or the guard puts a fact in
place of a wrong sentence (agent/answers/guard.py), the fact is said by general
rules of English, for any business's file:
- **the label is never read out**: it becomes the sentence's subject where the rest
  has none ("The restrooms are on the second floor, next to the cafe."), a value's
  name ("The phone number is 555-0100."), or is dropped where the rest is a sentence
  of its own ("We accept cash and cards.");
- **the clause that answers the question**: of a fact in several clauses ("Monday to
  Saturday 9 a.m. to 8 p.m.; Sunday 10 a.m. to 6 p.m."), the one that states what the
  question asks for (agent/answers/shape.py) and shares the most words with it
  ("On Sunday, the opening hours are 10 a.m. to 6 p.m.");
- **yes or no first** for a yes/no question where the fact says it ("No, we do not
  accept personal checks."); otherwise the fact's "no," is not said (a statement is
  right after "Are you open?" and after "Are you closed?" alike).

Plain patterns, no model: microseconds a fact.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.answers.clock import CLOCK, CLOCK_WORDS, SPAN, asked_time, minutes
from agent.answers.common import common_words
from agent.answers.days import days_named
from agent.answers.index import LABEL, stem, terms
from agent.answers.settle import settled_answer
from agent.answers.shape import asks_for_value, is_yes_no_question, question_part, states_value
from agent.answers.thesaurus import verb_base
from agent.answers.values import extract_facts

#: a clause opening with the answer's yes or no ("no, they do not expire")
_ANSWER_WORD = re.compile(r"^(no|yes),\s*", re.IGNORECASE)
#: a clause saying there is none ("no animals, except assistance dogs"): a no, kept as said
_NONE_OF = re.compile(r"^no\s+\w", re.IGNORECASE)
#: where what a "no" says there is none of ends ("no animals, except assistance dogs")
_NONE_ENDS = re.compile(r"[,(]|\b(?:but|except|only|however|apart from|other than)\b",
                        re.IGNORECASE)

#: a "no" that says a thing is not needed ("no booking needed"), and a question asking
#: whether something must be done ("Do I have to book?"): the "no" answers it
_NEEDED = re.compile(r"\b(?:needed|required|necessary)\b", re.IGNORECASE)
_ASKS_NEED = re.compile(r"\b(?:have|has|need|needs)\s+to\b|\b(?:must|need|needed|required?|"
                        r"necessary)\b", re.IGNORECASE)


def says_none_asked(clause: str, question: str, others: Sequence[str] = ()) -> bool:
    """True when `clause` says there is none of a thing ("no booking needed") and that
    "no" answers `question`: the question names the thing under the "no", or nothing else
    the fact says (`others`: its other clauses; the clause's own words after an "except").
    "Can I get a puncture fixed on Tuesday?" of "walk-in puncture repairs every weekday; no
    booking needed" asks of the repairs, and "Are assistance dogs allowed?" of "no animals,
    except assistance dogs" of the exception: a "no" to neither."""
    if not _NONE_OF.match(clause):
        return False
    negated, *rest = _NONE_ENDS.split(clause, maxsplit=1)
    asked = set(terms(question))
    if asked & set(terms(negated)) or (_NEEDED.search(negated) and _ASKS_NEED.search(question)):
        return True  # the thing asked, or "Do I have to ...?" of "no ... needed"
    return not asked & set(terms(" ".join([*rest, *others])))
#: the commonest English verbs a fact's instruction opens with ("ask at the desk")
_IMPERATIVE = re.compile(
    r"^(?:ask|call|visit|go|come|use|see|take|bring|show|press|follow|check|contact|text|"
    r"book|pay|speak|talk|find|head|try|enter|keep|write|sign|wait|register|order|buy|"
    r"please|just|simply)\b", re.IGNORECASE)
#: a pronoun subject that stands for the label ("they cannot be returned")
_PRONOUN_SUBJECT = re.compile(r"^(they|it)\b\s+", re.IGNORECASE)
#: a subject of the clause's own (a pronoun or a determined noun: "the cafe serves...")
_OWN_SUBJECT = re.compile(
    r"^(?:we|you|they|it|there|he|she|i|our|the|this|these|those|each|every|all|most|any)\b",
    re.IGNORECASE)
#: a finite verb English writes with an auxiliary, modal or copula
_VERB = re.compile(
    r"\b(?:is|are|was|were|be|been|can|cannot|can't|could|will|won't|would|may|might|must|"
    r"should|shall|do|does|don't|doesn't|did|didn't|have|has|had|isn't|aren't|get|gets)\b"
    # and the commonest English verbs a fact is told with, in their present forms
    r"|\b(?:accept|allow|appear|apply|applie|arrive|charge|close|come|cost|end|give|go|goe"
    r"|hang|happen|include|leave|lie|make|meet|need|offer|open|pay|require|run|sell|serve|sit"
    r"|stand|start|stay|take|welcome|work)s?\b",
    re.IGNORECASE)
#: words a place or a time is told with ("on the second floor", "until 7 p.m.")
_PREPOSITIONS = ("on", "in", "at", "by", "behind", "next", "near", "outside", "inside",
                 "upstairs", "downstairs", "opposite", "beside", "between", "across", "above",
                 "below", "under", "until", "from", "after", "before", "around", "along",
                 "down", "up", "past", "through", "across", "beyond", "off")
_PLACE = re.compile(r"\s(" + "|".join(p for p in _PREPOSITIONS if p not in ("from", "until",
                    "after", "before")) + r")\s", re.IGNORECASE)
#: "sold", "opened", "kept": a past participle, whose subject is the label
_PARTICIPLE = re.compile(
    r"^(?:\w+ed|sold|made|held|kept|paid|built|done|given|shown|seen|taken|found|run|"
    r"closed|included)\b", re.IGNORECASE)
#: a day or a span of days opening a clause ("Sunday 10 a.m. ...", "Monday to Friday ...")
_DAYS_FIRST = re.compile(
    r"^(?P<days>(?:mon|tues|wednes|thurs|fri|satur|sun)days?"
    r"(?:\s*(?:to|through|and|-|\u2013)\s*(?:mon|tues|wednes|thurs|fri|satur|sun)days?)?)"
    r",?\s+(?P<rest>.+)$", re.IGNORECASE)
_CONDITION = re.compile(
    r"\b(?:over|above|under|below|within|more than|less than|at least|up to|or more)\s+"
    r"(?:\$\s?)?\d", re.IGNORECASE)


def split_label(fact: str) -> tuple[str, str]:
    """(label, the rest) of a fact line; ("", fact) for one without a label."""
    text = " ".join(fact.split())
    match = LABEL.match(text)
    if match is None:
        return "", text
    return match.group(0).rstrip(": "), text[match.end():].strip()


def clauses_of(text: str) -> list[str]:
    """The clauses of a fact's text: its parts between semicolons, without end marks."""
    return [c.strip(" .") for c in text.split(";") if c.strip(" .")]


def _subject(label: str) -> str:
    """The label as a sentence's subject: lower-cased where it is written in sentence
    case ("Opening hours" -> "opening hours"; "Wi-Fi" and "Main Hall" stay)."""
    words = label.split()
    if words and words[0][1:].islower() and all(w.islower() for w in words[1:]):
        words[0] = words[0].lower()
    return " ".join(words)


_INNER_PREPOSITION = re.compile(r"\s(?:for|of|with|within|from|to|at|in|on|by|until|over|under)\s")
_HEAD_END = re.compile(r"[,;(]|" + _INNER_PREPOSITION.pattern)


def _plural(phrase: str) -> bool:
    """A phrase whose head noun is plural ("opening hours", "bread and milk"; not "free
    parking for 2 hours": its head ends before "for")."""
    listed = _INNER_PREPOSITION.split(f" {phrase.lower()} ", maxsplit=1)[0]
    head = _HEAD_END.split(f" {phrase.lower()} ", maxsplit=1)[0]
    words = re.findall(r"[a-z']+", head)
    return bool(words) and (" and " in f" {listed} " or (
        words[-1].endswith("s") and not words[-1].endswith(("ss", "us", "is"))))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _lower_first(text: str) -> str:
    """`text` with its first letter lower-cased, unless its first word is a name (a day,
    an abbreviation, a word with capitals inside, or one a capitalised word follows:
    "Monday", "ATM", "Main Hall" stay)."""
    words = text.split(" ", 2)
    first = words[0]
    if first.lower() in _FUNCTION_WORDS:
        return text[:1].lower() + text[1:]
    if (not first[1:].islower() or first.lower().rstrip(",") in _NAMES_ALWAYS
            or (len(words) > 1 and words[1][:1].isupper())):
        return text
    return text[:1].lower() + text[1:]


#: words that never start a name
_FUNCTION_WORDS = frozenset("""on in at for with without by from the a an we our you your
    they their it there every all each this these those""".split())
#: words English always capitalises
_NAMES_ALWAYS = frozenset("""i monday tuesday wednesday thursday friday saturday sunday
    january february march april may june july august september october november
    december""".split())
#: a clause that opens with its condition ("for emergencies call 911")
_CONDITION_CLAUSE = re.compile(r"^(?:if|for|unless|when|without|in case)\b", re.IGNORECASE)
#: "open" and "closed" told of the place itself ("closed on Mondays")
_OPEN_OR_CLOSED = re.compile(r"^(?:open|closed)\b", re.IGNORECASE)
#: a label that is a condition, not a subject ("Without a receipt", "For groups")
_CONDITION_LABEL = re.compile(r"^(?:without|with|for|if|after|before|during|when|unless|"
                              r"on|in|at|from|until|under|over)\b", re.IGNORECASE)


def as_sentence(label: str, clause: str) -> str:
    """One clause of a fact said as a sentence of its own, its label told as its subject
    where the clause has none (see the module docstring). No end mark is added twice."""
    clause = clause.strip(" .")
    subject = _subject(label) if label else ""
    if not clause:
        return ""
    if subject and _CONDITION_LABEL.match(subject):
        # "Without a receipt: no refund" -> "Without a receipt, there is no refund."
        own = _VERB.search(clause) or _OWN_SUBJECT.match(clause)
        return f"{_capital(subject)}, {_lower_first(as_sentence('', clause) if own else _there(clause))}"
    pronoun = _PRONOUN_SUBJECT.match(clause)
    if subject and pronoun and (pronoun.group(1).lower() == "they") == _plural(subject):
        # "they cannot be returned": the label is who "they" are
        clause = f"{subject} {clause[pronoun.end():]}"
        return _capital(clause) + "."
    if (not subject or _OWN_SUBJECT.match(clause) or _IMPERATIVE.match(clause)
            or _CONDITION_CLAUSE.match(clause)):
        return _capital(clause) + "."
    if _OPEN_OR_CLOSED.match(clause):
        return f"We are {clause}."  # the place's own hours: "closed on Mondays"
    days = _DAYS_FIRST.match(clause)
    if days is not None and (not _VERB.search(clause) or _OPEN_OR_CLOSED.match(days.group("rest"))):
        span = days.group("days")
        lead = f"On {span}" if not re.search(r"\s(?:to|through|-|\u2013)\s", span) else span
        rest = days.group("rest")
        if _OPEN_OR_CLOSED.match(rest):
            return f"{_capital(lead)}, we are {rest}."
        be = "are" if _plural(subject) else "is"
        return f"{_capital(lead)}, the {subject} {be} {rest}."
    be = "are" if _plural(subject) else "is"
    first = clause.split(" ", 1)[0].lower()
    if first in _PREPOSITIONS:
        return f"The {subject} {be} {clause}."  # "on the second floor"
    if _PARTICIPLE.match(clause) and not _VERB.search(clause.split(" ", 1)[-1]):
        return f"{_capital(subject)} {be} {clause}."  # "sold at every checkout"
    if _VERB.search(clause):
        return _capital(clause) + "."  # a sentence of its own ("items can be returned...")
    if clause[:1].isdigit() or clause[:1].isupper() or "@" in clause.split(" ", 1)[0]:
        return f"The {subject} {be} {clause}."  # a value: a number, a name, an address
    place = _PLACE.search(clause)
    if (first != "no" and place is not None and place.start() > 0
            and not _INNER_PREPOSITION.search(f" {clause[:place.start()]} ")):
        head = clause[:place.start()]  # "furniture on the first floor", not "parking for 2 hours"
        return f"{_capital(head)} {'are' if _plural(head) else 'is'} {clause[place.start() + 1:]}."
    return _there(clause)


def _there(clause: str) -> str:
    """A clause without a verb told as what there is ("There is free parking ...", "There
    are shows every hour": plural when a word of the noun phrase before any preposition
    is)."""
    head = _HEAD_END.split(f" {clause.lower()} ", maxsplit=1)[0].split()[:4]
    plural = any(w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > 3
                 for w in head)
    return f"There {'are' if plural else 'is'} {clause}."


def _shared(question: str, clause: str) -> int:
    """Words (and days: a span counts for each day in it) a clause shares with a question."""
    return (len(set(terms(question)) & set(terms(clause)))
            + len(days_named(question) & days_named(clause)))


def answer_clauses(fact: str, question: str, kind: str | None = None) -> list[str]:
    """The clauses of `fact` that answer `question`: those stating a `kind` of value
    (agent/answers/shape.py `asks_for_value`) when one is asked for, the one sharing
    the most words with the question where one does, else all (a fact with a condition
    stays whole: its branches belong together)."""
    _, rest = split_label(fact)
    clauses = clauses_of(rest)
    if len(clauses) < 2 or has_condition(fact):
        return clauses
    if kind is not None:
        stating = [c for c in clauses if states_value(c, kind)]
        clauses = stating or clauses
        if len(clauses) < 2:
            return clauses
    shared = [_shared(question, c) for c in clauses]
    best = max(shared)
    closest = clauses[shared.index(best)] if best and shared.count(best) == 1 else None
    if is_yes_no_question(question):
        # the clause that says yes or no first, then the one nearest the question
        answered = [c for c in clauses if _ANSWER_WORD.match(c) or says_none_asked(
            c, question, [o for o in clauses if o != c])][:1]
        done = _does_the_verb(fact, question)
        if done is not None and (not answered or done != answered[0]):
            # "Do you sell them?" of "sold at the front desk; no, they are not refundable": the
            # clause of the verb asked answers, not a "no" about another act
            return [done]
        if answered and closest is not None and _names_held(question, closest) - _names_held(
                question, answered[0]):
            # the question names what another clause holds ("Do you take Aqua Card?" and
            # "we accept ... Aqua Card; no, we do not accept Aqua Pass"): that one answers
            return [closest]
        if answered:
            # and what the fact says next, or the clause nearest the question: "No, we do
            # not see walk-ins. Every visit needs an appointment."
            after = clauses.index(answered[0]) + 1
            more = (closest if closest not in (None, answered[0])
                    else clauses[after] if after < len(clauses) else None)
            return answered + ([more] if more and more != answered[0] else [])
    return [closest] if closest else clauses


def _names_held(question: str, clause: str) -> set[str]:
    """The names the question says inside it (capitalised words: "Aqua", "Sunday")
    that `clause` holds (a day also within a span of days: "Monday to Saturday")."""
    names = {w.lower() for w in re.findall(r"(?<=\w )([A-Z][\w-]+)", question)}
    told = set(re.findall(r"[\w-]+", clause.lower()))
    days = days_named(clause)
    return {n for n in names if n in told or (days_named(n) and days_named(n) <= days)}


def spoken_answer(fact: str, question: str = "", kind: str | None = None, *,
                  settled: str | None = None) -> str:
    """`fact` said as the answer to `question` (module docstring): the clauses that answer
    it, each a sentence, the label told as a subject, yes or no first for a yes/no
    question where the fact says it; `settled`: the yes or no to say first, where the
    caller read it from the fact (agent/answers/settle.py), in place of the clause's own."""
    label, _ = split_label(fact)
    chosen = answer_clauses(fact, question, kind)
    yes_no = is_yes_no_question(question) if question else False
    sentences: list[str] = []
    answer = ""
    for clause in chosen:
        lead = _ANSWER_WORD.match(clause)
        if lead is not None:
            answer = answer or lead.group(1).lower()
            clause = clause[lead.end():]
        elif says_none_asked(clause, question, [c for c in clauses_of(split_label(fact)[1])
                                                if c != clause]):
            answer = answer or "no"
        sentences.append(as_sentence(label, clause))
    text = " ".join(s for s in sentences if s)
    if yes_no and settled is None and chosen and chosen[0] == _does_the_verb(fact, question):
        settled = "yes"  # "Do you sell tickets?" and "Tickets: sold at the front desk"
    if yes_no and settled is None:
        settled = settled_answer(fact, question)  # the days and hours, or the thing asked
    if yes_no and settled is not None:
        return f"{_capital(settled)}, {_lower_first(text)}"
    if yes_no and not answer:
        answer = ("no" if _says_none_of(chosen, question) or _states_the_opposite(chosen, question)
                  else _time_answer(chosen, question) or _day_answer(chosen, question)
                  or _bound_answer(chosen, question) or _statement_answer(chosen, question)) or ""
    elif yes_no and _takes_the_other_side(question, chosen[:1]):
        answer = ""  # "Is it closed?" and "no, we are not open": a yes or no would mislead
    if yes_no and answer:
        return f"{_capital(answer)}, {_lower_first(text)}"
    return text


#: a question's word beyond these many commonest names the thing a statement must state
#: for its yes ("Spanish", "pressure"; not "bring", which any instruction says)
STATEMENT_RANK = 1000
#: words that make a statement negative
_NEGATION = re.compile(r"\b(?:no|not|never|none|cannot|without|only)\b|n't\b", re.IGNORECASE)


def _states_the_opposite(clauses: list[str], question: str) -> bool:
    """True when a plain (not negative) statement takes the other side of what is asked
    ("Are you open on Sundays?" and "Sunday closed")."""
    return not _NEGATION.search(" ".join(clauses)) and _takes_the_other_side(question, clauses)


#: a question whether a thing is so ("Is the yard free?", "Are they open?"): what it asks
#: is all in its words
_IS_IT = re.compile(r"^\W*(?:is|are)\s+(?!there\b)\w", re.IGNORECASE)
#: a question whether a thing is there ("Is there ...?", "Are there any ...?")
_THERE_IS = re.compile(r"^\W*(?:is|are)\s+there\b", re.IGNORECASE)


def _negates_what_is_asked(clauses: list[str], question: str) -> bool:
    """True when a part of the clauses (cut at commas) is negative ("no", "not", "only")
    and speaks of something the question asks; a negative part about another thing says
    nothing of it ("Is the wifi free?" and "free guest Wi-Fi, network name X, no password")."""
    asked = set(terms(question_part(question)))
    return any(_NEGATION.search(part) and set(terms(part)) & asked
               for clause in clauses for part in re.split(r",\s+", clause))


def _statement_answer(clauses: list[str], question: str) -> str | None:
    """"yes" or "no" that a fact without one gives a yes/no question by what it states: a
    plain statement of the thing asked ("Does anybody speak Spanish?" and "our
    pharmacists speak English and Spanish": yes), or of its opposite ("Are you open on
    Sundays?" and "Sunday closed", "Do I pay extra?" and "free guided tours": no). None
    where the statement is negative or names nothing the question asks."""
    told = " ".join(clauses)
    rare = {w for w in terms(question) if w not in common_words(STATEMENT_RANK)}
    if _negates_what_is_asked(clauses, question):
        return None
    if _THERE_IS.match(question_part(question)) and not _takes_the_other_side(question, clauses):
        return "yes"  # "Is there internet for guests?" and "free guest Wi-Fi, ...": it is there
    if _does_as_asked(clauses, question) and not _takes_the_other_side(question, clauses):
        return "yes"  # "Will you match it?" and "we match a local competitor's price ..."
    asked = set(terms(question_part(question)))
    if (_IS_IT.match(question_part(question)) and asked and asked <= set(terms(told))
            and not _takes_the_other_side(question, clauses)):
        return "yes"  # "Is the yard free?" and "a free yard for bikes ...": all it asks
    if not rare & set(terms(told)):
        return None
    if _takes_the_other_side(question, clauses):
        return "no"
    return "yes"


#: "Will you match it?", "Do you guys deliver?": whether the place does a thing; its verb and
#: what follows it
_ASKS_YOU_DO = re.compile(
    r"^\W*(?:do|will|would|can|could)\s+you(?:\s+(?:guys|all|folks))?"
    r"(?:\s+(?:also|still|ever|actually|really))?\s+([a-z]+)\b(.*)$", re.IGNORECASE)
#: "Do I need to bring anything?", "Do we have to book?", "Should I bring ...?": whether the
#: visitor must do a thing; its verb and what follows it
_ASKS_MUST_DO = re.compile(
    r"^\W*(?:(?:do|does)\s+(?:i|we|he|she|they|my\s+\w+)\s+(?:need|have)\s+to|"
    r"(?:should|must)\s+(?:i|we))\s+([a-z]+)\b(.*)$", re.IGNORECASE)
#: an infinitive of purpose or a clause of time or condition after what is asked ("... to
#: collect my meds", "... when I pick it up"): why or when, not what
_TO_DO = re.compile(r"\b(?:to|when|if|while|before|after)\s+[a-z]+\b.*$", re.IGNORECASE)
#: "we match ...", "we can transfer ...": the place's own act in a clause
_WE_DO = re.compile(r"\bwe\s+(?:(?:can|will|also|always|gladly|happily)\s+)?([a-z]+)\b",
                    re.IGNORECASE)


def _does_as_asked(clauses: list[str], question: str) -> bool:
    """True when a clause says, plainly, the act a yes/no question asks about, in the
    question's own verb: "Will you match it?" and "we match a local competitor's advertised
    price" (the place's act, "we"), "Do I need to bring anything?" and "bring a photo ID" (an
    instruction to the visitor). Every rarer word the question says after its verb must be
    the clause's ("Do you sell muffins?" and "we sell coffee and scones" is not a yes; nor
    "Do I have to bring my passport?" and "bring a photo ID")."""
    asked = question_part(question)
    common = common_words(STATEMENT_RANK)
    for pattern, own in ((_ASKS_YOU_DO, False), (_ASKS_MUST_DO, True)):
        match = pattern.match(asked)
        if match is None:
            continue
        verb = stem(match.group(1).lower())
        rest = _TO_DO.sub(" ", match.group(2)) if own else match.group(2)
        rarer = {t for w in re.findall(r"[a-z]+", rest.lower()) if w not in common
                 for t in terms(w)}
        for clause in clauses:
            if rarer - set(terms(clause)):
                continue
            if own:
                first = _FIRST_WORD.match(clause)
                if first is not None and stem(first.group(0).lower()) == verb:
                    return True
            elif any(stem(m.group(1).lower()) == verb for m in _WE_DO.finditer(clause)):
                return True
    return False


_FIRST_WORD = re.compile(r"[a-z]+", re.IGNORECASE)
#: verbs too light to say which act is asked ("do you have ...", "can you get ...")
_LIGHT_VERBS = frozenset("be have get do make take go come need want let".split())


def _does_the_verb(fact: str, question: str) -> str | None:
    """The clause of `fact` that says plainly (no "no" or "not") the act a "do/will/can you
    VERB ...?" question asks about, in any form of its verb ("Do you sell tickets?" and
    "Tickets: sold at the front desk": "sold" is a form of "sell"), every other word of
    the question the clause's or the label's; None where no clause, or more than one, does.
    A "no" in another clause ("no, they are not refundable") is about another act."""
    match = _ASKS_YOU_DO.match(question_part(question))
    if match is None:
        return None
    verb = verb_base(match.group(1))
    if verb in _LIGHT_VERBS:
        return None
    label, rest = split_label(fact)
    wanted = set(terms(match.group(2)))
    found = [c for c in clauses_of(rest)
             if not _NEGATION.search(c) and wanted <= set(terms(f"{label} {c}"))
             and any(stem(verb_base(w)) == stem(verb) for w in re.findall(r"[a-z]+", c.lower()))]
    return found[0] if len(found) == 1 else None


def yes_no_word(fact: str, question: str) -> str | None:
    """The yes or no `spoken_answer` says first when it says `fact` to the yes/no
    `question`, or None."""
    said = _ANSWER_WORD.match(spoken_answer(fact, question))
    return said.group(1).lower() if said else None


#: a yes/no question a short answer can echo: its auxiliary, its subject pronoun, the rest
_SHORT = re.compile(r"^\W*(is|are|do|does|can|will)\s+(it|they|i|we|you|there)\b\s*([^?]*)",
                    re.IGNORECASE)
#: the subject a reply says for the visitor's ("Can I ...?": "Yes, you can.")
_REPLY_SUBJECT = {"i": "you", "we": "you", "you": "we"}
_AUX_FOR = {("are", "you"): "are", ("is", "you"): "are", ("are", "we"): "are",
            ("do", "it"): "does", ("does", "you"): "do", ("does", "we"): "do"}
_NOT = {"is": "is not", "are": "are not", "do": "don't", "does": "doesn't", "can": "can't",
        "will": "won't"}


def short_answer(question: str, word: str) -> str | None:
    """A yes/no `question` asked with a pronoun ("is it free?", "can I park?") answered in
    short, as a person would ("Yes, it is free.", "No, you can't."): a question of "is" or
    "are" keeps what it asks when it says nothing of the visitor ("free"); None for one
    asked of a thing by name."""
    match = _SHORT.match(question)
    if match is None:
        return None
    aux, subject, rest = (g.lower() if i < 2 else g for i, g in enumerate(match.groups()))
    subject = _REPLY_SUBJECT.get(subject, subject)
    aux = _AUX_FOR.get((aux, subject), aux)
    rest = rest.strip(" ,.")
    keep = aux in ("is", "are") and rest and not re.search(
        r"\b(?:i|me|my|we|us|our|you|your)\b", rest, re.IGNORECASE)
    said = _NOT[aux] if word == "no" else aux
    return f"{_capital(word)}, {subject} {said}{' ' + rest if keep else ''}."


def fact_answer_word(fact: str, question: str) -> str | None:
    """"yes" or "no" where `fact` says one to the yes/no `question` (its answering
    clause opens with it, says "no ...", or lists the days asked about), else None; None
    too where the two take opposite words ("closed" asked, "open" told)."""
    if not is_yes_no_question(question):
        return None
    settled = settled_answer(fact, question)  # agent/answers/settle.py, as the rules read it
    if settled is not None:
        return settled
    chosen = answer_clauses(fact, question)
    if _takes_the_other_side(question, chosen[:1]):
        return None
    clauses = clauses_of(split_label(fact)[1])
    for clause in chosen:
        lead = _ANSWER_WORD.match(clause)
        if lead is not None:
            return lead.group(1).lower()
        if says_none_asked(clause, question, [c for c in clauses if c != clause]):
            return "no"
    return "no" if _says_none_of(chosen, question) else _day_answer(chosen, question)


#: English opposites a question and its fact may take sides on ("Are you closed on ...?"
#: and "no, we are not open on ..."): where they do, the fact's yes or no is the other's
_OPPOSITES = (frozenset({"open", "opened", "opens"}), frozenset({"closed", "close", "shut"}),
              frozenset({"allowed", "permitted", "welcome", "ok"}),
              frozenset({"forbidden", "banned", "prohibited"}),
              frozenset({"pay", "cost", "costs", "charge", "charged", "extra", "fee", "price"}),
              frozenset({"free"}))


#: whether a thing must be bought: a question of its cost ("Do I have to buy a ticket for my
#: four-year-old?" and "children under 6 get in free": no)
_MUST_BUY = re.compile(r"\b(?:have|has|need|needs)\s+to\s+(?:buy|purchase)\b|\bmust\s+(?:i\s+)?"
                       r"(?:buy|purchase)\b", re.IGNORECASE)


def _takes_the_other_side(question: str, clauses: list[str]) -> bool:
    """True when the question asks with one of two opposites and the clauses answer with
    the other ("closed" asked, "open" told): their yes or no would mislead."""
    asked = set(re.findall(r"[a-z]+", question.lower()))
    if _MUST_BUY.search(question):
        asked.add("pay")  # "Do I have to buy a ticket for him?" asks whether it costs
    told = set(re.findall(r"[a-z]+", " ".join(clauses).lower()))
    return any(asked & a and told & b and not asked & b
               for a, b in zip(_OPPOSITES[::2], _OPPOSITES[1::2], strict=True)
               for a, b in ((a, b), (b, a)))


#: "open at 8", "close by 6", "open until 9", "open late": what a question asks of a span
_ASKS_OPEN = re.compile(r"\b(open|close|closed|shut)s?\s+(?:\w+\s+)?(at|by|until|till|past)\b",
                        re.IGNORECASE)


def _asked_minutes(question: str, opening: bool) -> int | None:
    """The clock time a question names ("at 8 a.m.", "at eight in the morning", "until
    nine": a bare hour read as the morning for an opening, else the afternoon)."""
    match = re.search(rf"({CLOCK})|\b(\d{{1,2}}|{'|'.join(CLOCK_WORDS)})\b(\s+in the morning"
                      r"|\s+in the (?:afternoon|evening)|\s+at night)?", question, re.IGNORECASE)
    if match is None:
        return None
    if match.group(1):
        return minutes(match.group(1))
    word = match.group(2).lower()
    hour = int(word) if word.isdigit() else CLOCK_WORDS[word]
    part = (match.group(3) or "").strip().lower()
    evening = "morning" not in part and (bool(part) or not (opening and 6 <= hour <= 11))
    return (hour % 12 + (12 if evening else 0)) * 60


def _time_answer(clauses: list[str], question: str) -> str | None:
    """"yes" or "no" to "Do you open at eight ...?", "Are you open until nine?" from the
    span of hours the clause states; None where either says no clock time."""
    asks = _ASKS_OPEN.search(question)
    spans = [m for c in clauses for m in SPAN.finditer(c)]
    if asks is None or len(spans) != 1:
        return None
    start, end = minutes(spans[0].group(1)), minutes(spans[0].group(2))
    opening = asks.group(1).lower() == "open" and asks.group(2).lower() in ("at", "by")
    asked = _asked_minutes(question[asks.end():], opening)
    if asked is None or start is None or end is None:
        return None
    if opening:
        return "yes" if (start == asked if asks.group(2).lower() == "at" else start <= asked) else "no"
    if asks.group(1).lower() == "open":  # open until / past
        return "yes" if end >= asked else "no"
    return "yes" if end == asked else "no"  # close at


#: "before 10 a.m.", "after 2 p.m.": a bound on the time of day a thing is done
_BOUND = re.compile(rf"\b(before|after|by)\s+({CLOCK})", re.IGNORECASE)
#: a question that names a bound itself ("Do I have to come before nine?"): not a time asked
_ASKS_BOUND = re.compile(r"\b(?:before|after|by)\b", re.IGNORECASE)


def _bound_answer(clauses: list[str], question: str) -> str | None:
    """"yes" or "no" to a yes/no question naming a time of day ("in the afternoon", "at
    nine") of a clause that bounds when the thing is done ("fasting tests are done before
    10 a.m."): no where the time asked falls wholly on the other side of the bound, yes
    where wholly on its side; None where either names no such time, the clause a span
    of hours, or the two overlap."""
    bounds = [m for c in clauses for m in _BOUND.finditer(c)]
    window = asked_time(question)
    if (len(bounds) != 1 or window is None or _ASKS_BOUND.search(question)
            or any(SPAN.search(c) for c in clauses)):
        return None
    at = minutes(bounds[0].group(2))
    if at is None:
        return None
    start, end = window
    if bounds[0].group(1).lower() == "after":
        return "yes" if start >= at else "no" if end <= at else None
    return "yes" if end < at else "no" if start >= at else None


def tells_the_other_time(question: str, fact: str) -> bool:
    """True when a question asks when something opens and its fact tells only when it
    closes, or the other way round ("What time does the lab close?" and "the lab opens
    at 7:30 a.m."); a span ("10 a.m. to 6 p.m.", "open until 7 p.m.") tells both."""
    _, rest = split_label(fact)
    if SPAN.search(rest) or re.search(r"\b(?:until|till)\b", rest, re.IGNORECASE):
        return False
    return _takes_the_other_side(question, [rest])


def _day_answer(clauses: list[str], question: str) -> str | None:
    """"yes" or "no" to a yes/no question about days that the clauses list days for
    ("Do you deliver on Mondays?" and "Deliveries happen Tuesday to Saturday": no);
    None where the question also states a time or an amount (the days alone do not
    answer "Do you open at eight on Tuesdays?") or names no day."""
    asked = days_named(question)
    told = set().union(*(days_named(c) for c in clauses)) if clauses else set()
    if not asked or not told or any(f.kind in ("number", "time") for f in extract_facts(question)):
        return None
    # a day the clauses say is closed is not a day they list ("closed on Mondays")
    closed = set().union(*(days_named(c) for c in clauses
                           if _CLOSED_DAYS.search(c) and not SPAN.search(c)))
    if _ASKS_CLOSED.search(question) and not re.search(r"\bopen\b", question, re.IGNORECASE):
        return "yes" if asked <= closed else "no" if asked <= told - closed else None
    return "yes" if asked <= told - closed else "no"


#: a clause saying days are closed, and a question asking whether they are
_CLOSED_DAYS = re.compile(r"\bclosed\b", re.IGNORECASE)
_ASKS_CLOSED = re.compile(r"\b(?:closed|shut)\b", re.IGNORECASE)


def _says_none_of(clauses: list[str], question: str) -> bool:
    """True when a clause says there is none of a thing the question asks about ("no
    password" for "Is there a password?")."""
    asked = set(terms(question))
    return any(set(terms(m.group(1))) & asked
               for c in clauses for m in re.finditer(r"\bno\s+(\w+)", c, re.IGNORECASE))


def relabelled(sentence: str, facts: Sequence[str], question: str) -> str | None:
    """The fact said as an answer when `sentence` reads one of `facts` out with its label
    ("Lessons: children's lessons on Saturday mornings ...", the model copying its note), at its
    start or after a few words of its own ("Yes, insurance: we accept ..."); None when it
    reads no label."""
    for fact in facts:
        label, _ = split_label(fact)
        if label and re.search(rf"(?<!\w){re.escape(label)}\s*:", sentence, re.IGNORECASE):
            return spoken_answer(fact, question, asks_for_value(question))
    return None


def has_condition(fact: str) -> bool:
    """True when a fact ties what it says to a threshold ("free delivery for orders
    over 300 dollars within 20 miles")."""
    return _CONDITION.search(fact) is not None


def condition_answer(fact: str, message: str) -> str:
    """The fact's own words for a question that states an amount against its threshold:
    the branch that amount takes when the fact is written "X for orders over 100
    dollars; otherwise Y", else the whole fact, said as sentences (`spoken_answer`)."""
    label, rest = split_label(fact)
    clauses = clauses_of(rest)
    otherwise = [c for c in clauses if c.lower().startswith("otherwise ")]
    asked = [f for f in extract_facts(message) if f.kind == "number"]
    for condition in (f for f in extract_facts(rest) if f.kind == "number" and f.comparison):
        amounts = [max(int(v) for v in a.values) for a in asked
                   if a.unit == condition.unit and condition.unit is not None]
        if len(amounts) != 1 or len(otherwise) != 1:
            continue
        threshold = max(int(v) for v in condition.values)
        holds = amounts[0] > threshold if condition.comparison == "above" else (
            amounts[0] <= threshold)
        if holds:
            return as_sentence(label, next(c for c in clauses if condition.text in c))
        return as_sentence(label, otherwise[0][len("otherwise "):])
    # both branches said: the other keeps its "otherwise" ("... for orders over 300 dollars.
    # Otherwise, delivery costs 49 dollars."), or it would read as said of every order
    return " ".join(f"Otherwise, {_lower_first(as_sentence(label, c[len('otherwise '):]))}"
                    if c.lower().startswith("otherwise ") else as_sentence(label, c)
                    for c in clauses)
