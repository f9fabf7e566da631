"""The answer rules: what a question asks for (an amount, a time, a person, a name, a yes
or no, a value) decides which of the facts found may answer it. Each rule leaves the facts
that may (best first), or ends the turn with a plan: a fact said without the LLM, or
`DECLINE` (the persona's don't-know line). `ANSWER_RULES` runs them in order
(agent/answers/routing.py `plan_whole`); docs/ANSWERS.md says why each rule is there.
The rules read general English (agent/answers/shape.py), never a business's topics.
"""


from __future__ import annotations

import re
from collections.abc import Callable

from agent.answers.bands import band_for, states_range
from agent.answers.common import CALENDAR, common_words
from agent.answers.days import days_named
from agent.answers.index import (
    WORD,
    KnowledgeIndex,
    asked_part,
    label_of,
    offered_thing,
    phrasal_verbs,
    stem,
    unheld_offered_thing,
    unheld_place_thing,
    unheld_words,
)
from agent.answers.plan import DECLINE, TurnPlan, said_plan
from agent.answers.pronouns import (
    asks_of_another_act,
    names_before_pronoun,
    refers_back,
    with_thing_named,
)
from agent.answers.reading import (
    condition_answer,
    fact_answer_word,
    has_condition,
    split_label,
    spoken_answer,
    tells_the_other_time,
)
from agent.answers.settle import (
    ABOUT_OPENING,
    asked_things,
    opening_hours,
    settled_answer,
    settling_part,
    walk_in_answer,
)
from agent.answers.shape import (
    asks_for_amount,
    asks_for_person,
    asks_for_price,
    asks_for_time,
    asks_for_time_loosely,
    asks_for_value,
    asks_what_if,
    is_yes_no_question,
    last_sentence,
    person_words,
    question_part,
    role_asked,
    states_amount,
    states_price,
    states_relative_time,
    states_time,
    states_value,
    tells_situation,
)
from agent.answers.thesaurus import verb_base
from agent.answers.values import extract_facts

#: one answer rule: the facts it leaves (best first), or the turn's plan, which ends it
AnswerRule = Callable[[KnowledgeIndex, str, list[str]], "list[str] | TurnPlan"]


#: a price asked for past what is free: "longer than the free time", "after the free two
#: hours", "beyond the free allowance"
_PAST_FREE = re.compile(r"\b(?:longer than|more than|over|beyond|past|after|exceeding)\s+"
                        r"(?:the\s+|my\s+|your\s+)?(?:\w+\s+){0,2}?free\b", re.IGNORECASE)
_FREE = re.compile(r"\bfree\b", re.IGNORECASE)


#: "What's the most I can put on a voucher?", "the cheapest", "the maximum": one end of a
#: range asked for (general English)
_ASKS_AN_END = re.compile(
    r"\bwhat(?:'s| is| are)\s+(?:the\s+)?(?:most|least|maximum|minimum|max|min|highest|"
    r"lowest|largest|smallest|biggest|cheapest|dearest|longest|shortest)\b", re.IGNORECASE)


def range_end_rule(index: KnowledgeIndex, message: str,
                   facts: list[str]) -> list[str] | TurnPlan:
    """One end of a range asked for ("What's the most I can put on a voucher?") of a fact
    that states the range ("from 15 to 200 dollars") and whose topic the question names:
    the fact is said, both ends with it (the small model gave the low end for "the most")."""
    best = facts[0]
    if (_ASKS_AN_END.search(asked_part(message)) and states_range(best)
            and index.names_topic(message, best)):
        return said_plan(best, spoken_answer(best, message))
    return facts


def amount_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """"How much": only facts on the best fact's topic that state an amount (a price when
    a price is asked) and that the question's words lead to, not its meaning alone (a
    shorter fact outscores the one with the figure; meaning alone reaches a neighbouring
    fact's price); an act said with a particle counts as such words ("How much is it for a
    grown-up to get in?" and "children under 12 get in free")."""
    if not asks_for_amount(message):
        return facts
    lexical = dict(zip(index.facts, index.score(message), strict=True))
    states = states_price if asks_for_price(message) else states_amount
    topic = label_of(facts[0])
    acts = phrasal_verbs(message)
    kept = [fact for fact in facts if states(fact) and label_of(fact) == topic
            and (lexical[fact] >= index.min_score or index.names_topic(message, fact)
                 or bool(acts & phrasal_verbs(fact)))]
    if _PAST_FREE.search(message):
        # the price past what is free: a fact that only says what is free does not state it
        kept = [fact for fact in kept if states_price(_FREE.sub(" ", fact))]
    return kept or DECLINE


def _days_spoken_of(fact: str) -> int:
    """How many days `fact` gives hours for or says are closed (the place's hours speak of
    the most)."""
    opened, closed = opening_hours(fact)
    return len(set(opened) | closed)


def time_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """"What time": only facts that state a clock time (else the model lends one fact's
    hour to another thing), or failing those a time told by another of the thing asked
    about ("closes 30 minutes after the gallery")."""
    if not asks_for_time(message):
        return facts
    timed = [fact for fact in facts if states_time(fact)]
    if not timed and asks_for_time_loosely(message):
        # "Until when is it on?" of "runs until March 31": a date or a length of time
        timed = [fact for fact in facts if states_value(fact, "when")]
    if not timed:
        # "What time does the bookshop close?" of "closes 30 minutes after the gallery": a
        # time told by another, of the thing the question names
        timed = [fact for fact in facts
                 if states_relative_time(fact) and index.names_topic(message, fact)]
    if len(timed) > 1 and ABOUT_OPENING.search(asked_part(message)) and not index.names_topic(
            message, timed[0]):
        # "How early can I swing by on a weekday?": coming, asked of no thing the best fact is
        # about ("every weekday from 10 a.m." of one service): the fact of the place's hours,
        # the one that speaks of the most days
        hours = max(timed, key=_days_spoken_of)
        if _days_spoken_of(hours) > _days_spoken_of(timed[0]):
            timed = [hours, *(f for f in timed if f != hours)]
    return timed or DECLINE


def person_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """"Who": declined unless a fact names the role asked about (else the model
    invents a name); "Which doctors work here?" too, unless a fact found holds the role
    asked (its word, or a word meaning it)."""
    if not asks_for_person(message) or person_words(message) & person_words(" ".join(facts)):
        return facts
    role = role_asked(message)
    if role and set(index.query_terms(role, at_least=_SAME_WORD)) & set(
            index.lexical_terms(" ".join(facts))):
        return facts
    return DECLINE


#: a question for what a person or thing is called: "What's the name of the pharmacist on
#: duty?", "What is the guide's name?", "What's that film called?" (general English)
_ASKS_NAME_OF = re.compile(
    r"\bname of\b|'s name\b|\bwhat(?:'s| is| are)\s+(?:\w+\s+){1,3}called\b"
    r"|\bwhat(?:'s| is)\s+(?:the|their|his|her|its)\s+(?:\w+\s+)?name\b", re.IGNORECASE)


def name_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """A name asked for ("What's the name of the pharmacist working today?") that no fact
    found and noted for the LLM states (a capitalised word after its label: a person's, a
    film's): declined. The small model answered with the fact about the role or the thing,
    which holds no name; the place's own name is answered before the rules
    (`own_place_plan`)."""
    if is_yes_no_question(message) or not _ASKS_NAME_OF.search(question_part(message)):
        return facts
    noted = facts[:max(index.note_facts, 1)]  # what the LLM would read
    if any(value.kind == "name" and not value.values <= CALENDAR for fact in noted
           for value in extract_facts(split_label(fact)[1])):  # "Friday" names no one
        return facts
    return DECLINE


def band_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """The visitor's age or count against a fact that lists bands of it ("My son is
    twelve" and "children 6 to 17 pay 9 dollars, children under 6 get in free"): the band
    it falls in is said (agent/answers/bands.py), yes or no first for a yes/no question;
    the small model read the whole list, or answered "Yes." to "Do I have to pay for my
    three year old?"."""
    best = facts[0]
    label, text = split_label(best)
    item = band_for(text, message)
    # said when the fact found first names the topic, leads by words or holds a question word
    if item is None or not (index.names_topic(message, best) or index.words_lead_to(message, best)
                            or index.covered(message, best) > 0):
        return facts
    return said_plan(best, spoken_answer(f"{label}: {item}" if label else item, message))


def condition_rule(index: KnowledgeIndex, message: str,
                   facts: list[str]) -> list[str] | TurnPlan:
    """An amount asked about a fact with a threshold ("over 100 dollars"): the fact's
    own words say which side it falls (the small model turned the side round)."""
    best = facts[0]
    if states_amount(message) and has_condition(best) and index.names_topic(message, best):
        return said_plan(best, condition_answer(best, message))
    return facts


def yes_no_unheld_rule(index: KnowledgeIndex, message: str,
                       facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question about a thing the file never speaks of, in a rarer word ("Do you
    do gift wrapping?" of a file with gift cards and no wrapping): declined, not answered
    with a neighbouring fact's yes or no (a no the file does not give); the thing the
    question ends on after "have", "sell", "serve" ... counts even when a common word
    (`unheld_offered_thing`: "Does the cafe have milk?" of a cafe's tea and cakes). Not when one such
    word is all the question lacks and its best fact is as near it as a paraphrase
    (`means_closely`: "Do I pay a penalty if my books are overdue?" and "Late books: ...")."""
    if not is_yes_no_question(message):
        return facts
    unheld = unheld_words(index, message)
    thing = unheld_offered_thing(index, message)
    if thing is not None and thing not in unheld:
        unheld.append(thing)
    if unheld and not (len(unheld) == 1 and index.means_closely(message, facts[0])):
        return DECLINE
    return facts


def yes_no_thing_elsewhere_rule(index: KnowledgeIndex, message: str,
                                facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question asking whether there is, or the place has, a thing the file speaks
    of ("Is there a sale on Saturday?" of a file whose refunds speak of a "purchase"),
    whose best fact neither holds that thing (in its words or a word meaning it, as `knows`)
    nor is as near the question as a paraphrase: answered from the facts found that hold
    it, and declined where none does, not answered with the best fact's yes or no ("Yes,
    cakes are delivered Wednesday to Saturday.")."""
    if not is_yes_no_question(message):
        return facts
    thing = offered_thing(index, message)
    if thing is None or index.means_closely(message, facts[0]):
        return facts
    meant = set(index.query_terms(thing))
    holding = [fact for fact in facts if meant & set(index.lexical_terms(fact))]
    if holding and holding[0] == facts[0]:
        return facts
    return holding or DECLINE


#: "Can I bring my dog?", "May we bring our own food?": whether the visitor may do a thing
#: with a thing; the verb and the thing (the word after the verb, past a determiner)
_MAY_I_DO = re.compile(
    r"^\W*(?:can|could|may|should)\s+(?:i|we)\s+(?:also\s+|still\s+|just\s+)?([a-z]+)\s+"
    r"(?:(?:my|our|a|an|the|some|his|her|their|this|that|these|those)\s+)?(?:own\s+)?([a-z]+)",
    re.IGNORECASE)
#: words after a verb that show it is not followed by the things it is done to ("returned
#: within 30 days", "bring along"), or that make what is named stand for any thing
_NO_OBJECT = frozenset("""in on at to for with within by from into back up out over before
    after here there only along about around anything everything any all every each items
    item things thing whatever""".split())
#: where a thing is brought, after the thing ("your ID to the front desk")
_TO_WHERE = frozenset("in on at to for with by from".split())
#: verbs too light to say which act is asked ("can I have ...", "can I get ...")
_LIGHT = frozenset("be have get do make take go come need want let use see".split())


def _things_done(fact: str, verb: str) -> list[str]:
    """What `fact` says is done by `verb` (any form), as the clause after it names it:
    "Bring your insurance card, a photo ID and your medicines." and "bring": that clause;
    none where the verb is followed by no thing ("can be returned within 30 days") or by a
    word standing for any thing ("return any item")."""
    _, rest = split_label(fact)
    done = []
    for match in re.finditer(r"[a-z]+", rest, re.IGNORECASE):
        if stem(verb_base(match.group(0))) != stem(verb):
            continue
        after = re.split(r"[.;:!?]", rest[match.end():], maxsplit=1)[0]
        named = WORD.findall(after.lower())
        if not named or named[0] in _NO_OBJECT or (_NO_OBJECT & set(named[:3])) - _TO_WHERE:
            return []
        done.append(after)
    return done


def yes_no_other_thing_rule(index: KnowledgeIndex, message: str,
                            facts: list[str]) -> list[str] | TurnPlan:
    """"Can I bring my dog?" and a fact telling the things to bring ("Bring your insurance
    card and a photo ID."): the fact names what is done with the verb asked, and the thing
    asked is none of them (not in the fact's words nor a word meaning one): declined, not
    answered with the fact's list. Not where the fact names no thing after its verb, or a
    word for any thing ("Return any item within 30 days" answers "Can I return my lamp?")."""
    match = _MAY_I_DO.match(question_part(message).replace("\u2019", "'"))
    if match is None or not is_yes_no_question(message):
        return facts
    verb, thing = match.group(1).lower(), match.group(2).lower()
    if verb in _LIGHT or thing in _NO_OBJECT or not index.lexical_terms(thing):
        return facts
    done = _things_done(facts[0], verb)
    held = set(index.lexical_terms(" ".join(done)))
    if done and not set(index.query_terms(thing, at_least=_SAME_WORD)) & held:
        return DECLINE
    return facts


#: a number, address or line named by the thing it is for: "your fax number", "the pager
#: number", "the billing address", "the complaints line" (general English: the noun before
#: says which one)
_NAMED_VALUE = re.compile(r"\b(?:your|the|an?)\s+([a-z]+)\s+(?:number|address|line)\b",
                          re.IGNORECASE)


def named_value_unheld_rule(index: KnowledgeIndex, message: str,
                            facts: list[str]) -> list[str] | TurnPlan:
    """A number, address or line asked for by the thing it is for, in a rarer word the file
    never speaks of ("What's your fax number?" of a file with a phone number only):
    declined, not answered with another thing's number (the guard lets the file's own
    number through, said as the fax's)."""
    asked = {m.group(1).lower() for m in _NAMED_VALUE.finditer(last_sentence(message))}
    if asked and asked & set(unheld_words(index, last_sentence(message))):
        return DECLINE
    return facts


def place_unheld_rule(index: KnowledgeIndex, message: str,
                      facts: list[str]) -> list[str] | TurnPlan:
    """A "where" question about a thing the file never speaks of, even in a common word
    ("Where are the nearest lockers?" of a file with a cloakroom and no lockers,
    `unheld_place_thing`): declined, not answered with the place of a fact one of its other
    words leads to (WordNet's "near" is also "close": a shop's that "closes ...")."""
    return DECLINE if unheld_place_thing(index, message) is not None else facts


#: a question after how the visitor's own thing stands: "Is my repair ready yet?", "Has my
#: order shipped?", "Are our tickets done?" (general English: a status word after "my")
_OWN_CASE = re.compile(
    # not "to have my bike collected", "can I have my ...": having it done, asked
    r"\b(?<!to )(?<!i )(?<!we )(?<!you )(?:is|are|was|were|has|have)\s+(?:my|our)\s+(?:\w+\s+){1,3}?"
    r"(?:ready|done|fixed|finished|repaired|shipped|sent|delivered|arrived|back|"
    r"processed|filled|approved|in)\b", re.IGNORECASE)


def own_case_rule(index: KnowledgeIndex, message: str,
                  facts: list[str]) -> list[str] | TurnPlan:
    """A question after the visitor's own case ("Is my repair ready yet?"): a file of the
    place's facts cannot say how one visitor's repair or order stands, and a general fact
    read as its answer is an invented status ("Yes, it is ready in three days"):
    declined with the persona's don't-know line."""
    if _OWN_CASE.search(message):
        return DECLINE
    return facts


def _holds_most(index: KnowledgeIndex, message: str, fact: str) -> bool:
    """True when the fact holds at least 3/4 of the question's own words, two or more
    ("Is this an emergency room?" and "... not an emergency room ...")."""
    asked = set(index.lexical_terms(message))
    return len(asked) >= 2 and len(asked & set(index.lexical_terms(fact))) >= 0.75 * len(asked)


def _leads_to_alone(index: KnowledgeIndex, asked: str, fact: str) -> bool:
    """True when what is asked (`asked`, without the reason given for asking) scores `fact`
    clearly first (`leads_clearly`), near it in meaning, the fact holding half its words or words meaning
    them ("Is there a lift" and "every floor has an elevator")."""
    return (index.covered(asked, fact) >= 0.5 and not index.means_little(asked, fact)
            and index.leads_clearly(asked, fact))


#: how far the best fact must lead the second (a share of its score) to be a question's
#: only topic: 0.5, it scores twice any other
ONLY_TOPIC_MARGIN = 0.5


def _names_only_topic(index: KnowledgeIndex, message: str, fact: str) -> bool:
    """True when the question names the fact's topic (its label, or a word meaning it) and
    the fact scores twice any other (`leads_clearly`): "Is my dog allowed inside?" and a fact
    labelled "Pets", far apart as sentences but about nothing else of the file."""
    return (index.names_topic(message, fact)
            and index.leads_clearly(message, fact, margin=ONLY_TOPIC_MARGIN))


def _far_from(index: KnowledgeIndex, message: str, fact: str) -> bool:
    """True when the fact is far from the question in meaning, holds under half its words
    and is not plainly its only topic (`_names_only_topic`)."""
    if not (index.means_little(message, fact) and index.covered(message, fact) < 0.5
            and not _names_only_topic(index, message, fact)):
        return False
    resolved = with_thing_named(message)
    return resolved is None or index.means_little(resolved, fact)


#: no cosine reaches it: a visitor's word counts as a file word only by its short form or
#: WordNet (the thing asked must be the fact's, not a neighbour's: "sofas" and "furniture")
_SAME_WORD = 2.0


def yes_no_settled_rule(index: KnowledgeIndex, message: str,
                        facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question its best fact settles (agent/answers/settle.py): by the days and
    hours it lists ("Can we swim on Monday?" and "closed on Mondays"), or by whether it
    says the thing asked about under a "no" ("Can I wear my wetsuit?" and "no wetsuits and no
    snorkels") or plainly ("Do you take Fit Pass?" and "we accept ... Fit Pass"): the
    fact is said with that yes or no first. The small model said "Yes" to such questions
    whatever its note said. Not for a fact far from the question (`_far_from`)."""
    best = facts[0]
    if not is_yes_no_question(message) or _far_from(index, message, best):
        return facts
    things = asked_things(message, lambda term: index.query_terms(term, at_least=_SAME_WORD))
    word = settled_answer(best, last_sentence(message), things)
    if word is None:
        return facts
    # a fact read for its days, or for how its thing is booked, is said whole ("no, we do
    # not see walk-ins; every visit needs an appointment")
    whole = (days_named(last_sentence(message))
             or walk_in_answer(best, last_sentence(message)) is not None)
    said = best if whole else settling_part(best, things)
    return said_plan(best, spoken_answer(said, message, settled=word))


def yes_no_spoken_rule(index: KnowledgeIndex, message: str,
                       facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question naming its fact's topic (or most of whose words the fact holds),
    which its words (not only its meaning) lead to: the fact is said, yes or no first
    where it says one. Not when the
    topic is named by a word alone, far in meaning and under half the question (a word
    the question shares with a fact about something else does not make it the answer),
    unless the fact is plainly the question's only topic (`_names_only_topic`)."""
    best = facts[0]
    if (is_yes_no_question(message)
            and (index.names_topic(message, best) or _holds_most(index, message, best)
                 or _leads_to_alone(index, asked_part(message), best))
            and not _far_from(index, message, best)
            and (asks_for_amount(message) or index.words_lead_to(message, best))):
        return said_plan(best, spoken_answer(best, message))
    return facts


def yes_no_unrelated_rule(index: KnowledgeIndex, message: str,
                          facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question whose best fact is not near it in meaning and holds under half
    of its words: declined (the model answers yes or no where the file says neither),
    even when a word names the fact's topic, unless the fact is plainly the question's only
    topic (`_names_only_topic`)."""
    best = facts[0]
    if is_yes_no_question(message) and _far_from(index, message, best):
        return DECLINE
    return facts


def situation_rule(index: KnowledgeIndex, message: str,
                   facts: list[str]) -> list[str] | TurnPlan:
    """The visitor tells their situation ("I want to return this.", "I don't have my
    ticket.") or asks what happens under a condition ("What happens if I ...?"), naming
    the topic of the fact the words lead to: the fact is said, when the retrieval
    clearly means that fact (`leads_clearly`): the small model contradicted a fact's
    condition, or declined with the fact in front of it."""
    best = facts[0]
    if ((tells_situation(message) or asks_what_if(message)) and index.names_topic(message, best)
            and index.words_lead_to(message, best) and index.leads_clearly(message, best)):
        return said_plan(best, spoken_answer(best, message))
    return facts


#: kinds of value that, when no fact found states one, are declined: asked how long a
#: warranty lasts, the model gave the returns' number of days
_DECLINED_WITHOUT = frozenset({"duration"})


def value_rule(index: KnowledgeIndex, message: str, facts: list[str]) -> list[str] | TurnPlan:
    """A question for a value (a clock time, a price, a duration, a day, an e-mail, a phone
    number, a place) about a fact that states that kind of value: the fact says it, the
    clause that answers (agent/answers/reading.py), not the model's paraphrase (which
    paired true values wrongly, or left the value out). A duration no fact found states
    is declined; a pronoun subject ("is it open?") leaves the turn to the model, which
    reads the visit, unless the question names its thing before it (`names_before_pronoun`)."""
    kind = asks_for_value(message)
    if kind is None or (refers_back(last_sentence(message))
                        and not names_before_pronoun(index, last_sentence(message), facts[0])):
        return facts
    stating = [fact for fact in facts if states_value(fact, kind)]
    if not stating and kind == "time" and asks_for_time_loosely(message):
        kind = "when"  # a date or a length of time answers it (`time_rule`)
        stating = [fact for fact in facts if states_value(fact, kind)]
    if not stating:
        return DECLINE if kind in _DECLINED_WITHOUT else facts
    fact = stating[0]
    if asks_of_another_act(index, last_sentence(message), fact):
        return facts
    if index.means_little(message, fact) and not (
            index.names_topic(message, fact) or index.words_lead_to(message, fact)
            or index.rarer_words_lead_to(message, fact)):
        return facts
    if kind in ("time", "when") and tells_the_other_time(message, fact):
        return DECLINE  # "What time does the lab close?" and "the lab opens at 7:30 a.m."
    return said_plan(fact, spoken_answer(fact, message, kind))


#: a question's words beyond these many commonest name what it asks about ("charge",
#: "electric"; not "bring", "car") for `yes_no_open_rule`
OPEN_RANK = 1000


#: whether a thing costs ("have to pay", "is it free"): a fact stating prices answers it
_ASKS_COST = re.compile(r"\b(?:pay|paid|cost|costs|free|fee|fees|price)\b", re.IGNORECASE)


def yes_no_open_rule(index: KnowledgeIndex, message: str,
                     facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question the rules leave to the LLM with no yes or no to give (no fact found
    says one: `OPEN_HINT`), whose best fact holds under half of what it asks about (its words
    beyond the `OPEN_RANK` commonest, in the file's words or words meaning them): declined.
    Asked "Is there somewhere to charge my electric car in the garage?" with a note on the
    garage's free parking, the small model said there is a charging station."""
    if not is_yes_no_question(message) or any(
            fact_answer_word(fact, message) for fact in facts[:max(index.note_facts, 1)]):
        return facts
    if _ASKS_COST.search(asked_part(message)) and states_price(facts[0]):
        return facts  # "Would he have to pay to get his pills brought?": the prices answer
    common = common_words(OPEN_RANK)
    rarer = [w for w in dict.fromkeys(WORD.findall(asked_part(message).lower()))
             if w not in common and index.lexical_terms(w)]
    held = set(index.lexical_terms(facts[0]))
    missing = [w for w in rarer if not set(index.query_terms(w)) & held]
    if rarer and 2 * len(missing) > len(rarer):
        return DECLINE
    return facts


#: in this order: the first to end the turn decides it
ANSWER_RULES: tuple[AnswerRule, ...] = (own_case_rule, range_end_rule, amount_rule, time_rule, person_rule,
                                        name_rule, band_rule, condition_rule, named_value_unheld_rule,
                                        place_unheld_rule,
                                        yes_no_unheld_rule, yes_no_thing_elsewhere_rule,
                                        yes_no_other_thing_rule,
                                        yes_no_settled_rule, yes_no_spoken_rule,
                                        yes_no_unrelated_rule, situation_rule, value_rule,
                                        yes_no_open_rule)
