"""Routing one visitor message: which facts it is about, and whether the LLM answers it.

The kiosk's small embedded model (Qwen2.5-0.5B), given facts, still answers around
them: it tells jokes, invents prices, answers "yes" next to a fact that says no
(docs/LLM_CHOICE.md). So `plan_turn` decides per message:
- a message no fact is about (and not small talk) gets the persona's off-topic line
  without the LLM (`AnswerLines`; neutral by default): right every time, and instant;
- a question whose answer a fact states in so many words (a value, a yes or no, a
  condition's branch) gets the fact said as a person would say it
  (agent/answers/reading.py), without the LLM;
- a question that asks for something no fact found states (an amount, a time, a
  person) gets the persona's don't-know line, without the LLM;
- any other question about the facts goes to the LLM, with the facts found for it
  written in front of it on a line of its own ("Facts: ..."): the LLM sees only the
  facts retrieved for the turn, never the whole file, so a 200-fact file costs a turn
  what a 20-fact one does;
- small talk ("Hi there.", "Thanks, bye.") goes to the LLM as it is, and so does a
  question about what the visitor said earlier in the visit ("What was my number
  again?"), which the visit's history answers;
- a message that asks about several things at once ("What are your opening hours and
  how does delivery work?", agent/answers/parts.py) is planned a part at a time, and
  answered from all of them (`plan_parts`).

The rules read what a question asks for in general English (agent/answers/shape.py),
never a business's topics; docs/ANSWERS.md says why each rule is there.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agent.answers.bands import band_for
from agent.answers.common import CALENDAR, common_words
from agent.answers.days import days_named
from agent.answers.index import (
    WORD,
    KnowledgeIndex,
    asked_part,
    business_name,
    label_of,
    phrasal_verbs,
    stem,
    terms,
    unheld_words,
)
from agent.answers.lines import AnswerLines
from agent.answers.parts import MAX_PARTS, message_parts
from agent.answers.reading import (
    condition_answer,
    fact_answer_word,
    has_condition,
    short_answer,
    split_label,
    spoken_answer,
    tells_the_other_time,
    yes_no_word,
)
from agent.answers.settle import (
    ABOUT_OPENING,
    asked_things,
    opening_hours,
    settled_answer,
    settling_part,
)
from agent.answers.shape import (
    PLACE_WORDS,
    as_meant,
    asks_for_amount,
    asks_for_person,
    asks_for_price,
    asks_for_time,
    asks_for_time_loosely,
    asks_for_value,
    asks_what_if,
    is_yes_no_question,
    last_sentence,
    own_name_asked,
    person_words,
    question_part,
    role_asked,
    states_amount,
    states_price,
    states_time,
    states_value,
    tells_situation,
    where_it_is_asked,
    yes_no_tail,
)
from agent.answers.thesaurus import verb_base
from agent.answers.values import extract_facts

#: Written in front of a question, in the visitor's message, with the facts found for
#: it. It ends in a newline (the question then starts a new token whatever it is) and
#: holds nothing from the question, so a one-fact note in front of a visit's first
#: question ends a prefix llama.cpp's prompt cache restores (`notes`).
FACTS_NOTE = "Facts: {facts}\n"
#: after a yes/no question's note only (in the system prompt the small model opened
#: wh-replies with "Yes" too), so the note's cached prefix holds; "then say ...": asked for
#: yes or no alone, it answered with the bare word (docs/ANSWERS.md)
YES_NO_HINT = ("Begin your answer with Yes or No, then say what the facts say in a short "
               "sentence.\n")
#: after a yes/no question's note when no noted fact says a yes or no to it
#: (`reading.fact_answer_word`): the rules found none to say, so the model is not asked for
#: one (the guard could not check it), only for what the facts say
OPEN_HINT = "Say what the facts say about it in one short sentence.\n"
# Messages made only of these words are small talk: the LLM answers them as they are.
_SMALL_TALK = frozenset(
    """hi hello hey hiya morning afternoon evening good great nice fine cool ok okay
    thanks thank thx cheers you bye goodbye see later care have day night there
    yes no yeah yep nope sure alright right please welcome how are doing well oh ah
    um uh hmm so much very lot all""".split()
)


def is_small_talk(message: str) -> bool:
    """A greeting, thanks or goodbye ("Hi there.", "Thanks, bye."): no facts needed."""
    words = WORD.findall(message.lower())
    return bool(words) and all(word in _SMALL_TALK for word in words)


@dataclass(frozen=True)
class TurnPlan:
    """How to answer one message: ask the LLM (with `note` written in front of the
    message, if any), or say `reply` without the LLM; `facts`: the facts the turn is
    answered from (what a value in the reply may come from: agent/answers/guard.py)."""

    note: str | None = None
    reply: str | None = None
    facts: tuple[str, ...] = ()

    def message(self, text: str) -> str:
        """The user message the LLM reads: `note` + `text` (just `text` without a note),
        with `YES_NO_HINT` between them for a yes/no question a noted fact says a yes or no
        to, `OPEN_HINT` for any other yes/no question (no yes or no the file gives)."""
        if not self.note:
            return text
        hint = ""
        if is_yes_no_question(text):
            answered = any(fact_answer_word(fact, text) for fact in self.facts)
            hint = YES_NO_HINT if answered else OPEN_HINT
        return f"{self.note}{hint}{text}"

    def declines(self, lines: AnswerLines) -> bool:
        """The reply is only a line the kiosk says where the file does not answer (the
        don't-know or off-topic line), no fact's answer."""
        return self.reply is not None and self.reply.strip() in (lines.dont_know, lines.off_topic)


# A message that leans on the one before: "For how long?", "And is it free?", "What about Sunday?"
_LEANS_BACK = re.compile(
    r"^\W*(?:and|but|so|also|what about|how about)\b|\b(?:it|its|that|this|there|they|them|those)\b",
    re.IGNORECASE)


def is_follow_up(message: str) -> bool:
    """True when `message` reads as a follow-up that needs the visitor's question before
    it ("For how long?", "And until what time is it open?"), not a new topic."""
    words = WORD.findall(message.lower())
    return bool(words) and (len(words) <= 3 or (len(words) <= 8 and bool(_LEANS_BACK.search(message))))


# A question whose subject is a pronoun ("And until what time is it open?" after "Where
# is the cafe?"): the question alone does not say which thing, and so which fact.
_PRONOUN = re.compile(r"\b(?:it|its|they|them|those)\b", re.IGNORECASE)
# "it" that stands for nothing before it, but for the verb after it: "How much is it to
# park?", "Does it cost anything to join?", "How long does it take to get there?", "How much
# is it for a grown-up to get in?"
_EMPTY_IT = re.compile(r"\bit\s+(?:(?:costs?|takes?)\s+(?:\w+\s+)?)?(?:for\s+(?:[\w'-]+\s+){1,3}?)?"
                       r"to\s+(\w+)", re.IGNORECASE)


def refers_back(sentence: str) -> bool:
    """True when `sentence` speaks of a thing through a pronoun (it, they, them ...), not
    counting an "it" that stands for the verb after it ("How much is it to park?")."""
    return _PRONOUN.search(_EMPTY_IT.sub(" ", sentence)) is not None


#: the visitor's own thing named: "my car", "our bikes"
_OWN_THING = re.compile(r"\b(?:my|our)\s+[a-z]+", re.IGNORECASE)


def names_before_pronoun(index: KnowledgeIndex, sentence: str, fact: str) -> bool:
    """True when `sentence` names a thing of the fact before its pronoun, so the pronoun
    stands for that thing, not for the question before ("If I order a model kit now, how long
    till it arrives?" and a fact about model kits; not "And until what time is it open?")."""
    pronoun = _PRONOUN.search(_EMPTY_IT.sub(" ", sentence))
    if pronoun is None:
        return False
    before = _EMPTY_IT.sub(" ", sentence)[:pronoun.start()]
    if _OWN_THING.search(before) and index.retrieve(sentence).facts[:1] == (fact,):
        return True  # "Where can I leave my van, and is it free?": the visitor's own thing
    return bool(set(index.query_terms(before)) & set(index.lexical_terms(fact)))


def asks_of_another_act(index: KnowledgeIndex, sentence: str, fact: str) -> bool:
    """True when the "it" of `sentence` stands for an act the fact does not speak of
    ("How much does it cost to become a member?" and "members get in free": the price
    of entry, not of becoming one), so the fact's value is not the answer."""
    if phrasal_verbs(sentence) & phrasal_verbs(fact):
        return False  # "to get in" of a fact saying who gets in
    verbs = [m.group(1) for m in _EMPTY_IT.finditer(sentence)]
    held = set(index.lexical_terms(fact))
    return any(not set(index.query_terms(verb)) & held for verb in verbs)


def leans_on(index: KnowledgeIndex, message: str, previous: str | None) -> bool:
    """True when `message` speaks of what the question before it (`previous`) was about
    through a pronoun: its own best fact may be another thing's ("is it open?" finds the
    place's opening hours after a question about its cafe)."""
    return (previous is not None and refers_back(last_sentence(message))
            and index.retrieve(previous).found)


def recalls_visit(index: KnowledgeIndex, message: str, visit: Sequence[str]) -> bool:
    """True when `message` asks about something the visitor said earlier in this visit
    (`visit`, their messages before it): an earlier message that states a value (a
    number, a time, a name) shares a word with this one that the file does not know
    ("My locker is 42." ... "What was my locker number again?"). The visit's history
    answers it, not a fact. A message that states a value itself (the same words said
    again, "Say I am a banana." twice) asks nothing back: it is routed as any other."""
    if extract_facts(message):
        return False
    own = {t for t in index.lexical_terms(message) if not index.knows(t)}
    return bool(own) and any(extract_facts(said) and own & set(index.lexical_terms(said))
                             for said in visit)


def plan_turn(index: KnowledgeIndex, message: str, previous: str | None = None, *,
              lines: AnswerLines | None = None, visit: Sequence[str] = ()) -> TurnPlan:
    """Facts found: the LLM answers, with up to `index.note_facts` of them in front of
    the question; with `index.answer_rules`, what the question asks for decides which
    fact may answer it (`ANSWER_RULES`: a rule may decline, say a fact, or narrow the
    facts). Small talk: the LLM answers as it is. A follow-up no fact is about on its
    own ("For how long?": `previous`, the visitor's message before) goes to the LLM,
    which reads the visit, when the two together are about a fact; so does a question
    about what the visitor said in the visit (`visit`: their messages before this one).
    Anything else: `lines.off_topic`, without the LLM (module docstring); `lines`
    defaults to the index's (the persona's). A message of several parts (a question or
    topic each, agent/answers/parts.py) is answered from each (`plan_parts`); one of a
    single part is planned whole (`plan_whole`)."""
    lines = lines or index.lines
    message = as_meant(message)
    if visit and recalls_visit(index, message, visit):
        return TurnPlan()  # the LLM reads it back from the visit (the guard lets it through)
    parts = message_parts(index, message)
    if len(parts) > 1:
        return plan_parts(index, parts, lines)
    return with_yes_no_tail(message, plan_whole(index, message, previous, lines), lines)


def prepare_turn(index: KnowledgeIndex, message: str, previous: str | None = None, *,
                 lines: AnswerLines | None = None, visit: Sequence[str] = (),
                 messages: list[Any] | None = None) -> TurnPlan | None:
    """The turn's plan, made in a worker thread ahead of the event loop's use of it:
    `plan_turn` with the same arguments, its plan returned, and, where it would ask the
    LLM, `with_notes` of the request's `messages` (its result dropped: the caller notes
    the context it sends). What the index learns on the way (each text's cosines, each
    unknown word's meaning) is what the notes read next, so on the event loop they encode
    nothing (as long as the index still holds them: index.py keeps `COSINES_KEPT`
    questions' cosines across sessions). Without an encoder: None, nothing made, and the
    caller plans on the loop (there is nothing slow to move off it)."""
    if index.encoder is None:
        return None
    plan = plan_turn(index, message, previous, lines=lines, visit=visit)
    if plan.reply is None and messages is not None:
        with_notes(index, messages)
    return plan


def with_yes_no_tail(part: str, plan: TurnPlan, lines: AnswerLines) -> TurnPlan:
    """`plan`'s reply for `part`, a wh-question with a yes/no question joined after it
    ("Where can I leave my car, and is it free?": `shape.yes_no_tail`), with that one's
    answer after it, yes or no first, where the fact said settles it ("... in front of the
    store. Yes, it is free."); `plan` as it is for any other part, a reply not said from a
    fact, a yes or no the fact does not settle, or a question whose words are not all the
    fact's ("and do I need anything?" of a fact about returns: its "cannot be returned" is
    no answer to it)."""
    tail = yes_no_tail(part)
    if tail is None or plan.reply is None or not plan.facts or plan.reply in (
            lines.dont_know, lines.off_topic):
        return plan
    asked = set(terms(tail))
    if not asked or not asked <= set(terms(plan.facts[0])):
        return plan  # "and do I need anything?": what it asks is not in the fact's words
    word = yes_no_word(plan.facts[0], tail)
    said = short_answer(tail, word) if word else None
    return plan if said is None else TurnPlan(reply=f"{plan.reply} {said}", facts=plan.facts)


def plan_whole(index: KnowledgeIndex, message: str, previous: str | None = None,
               lines: AnswerLines | None = None, *, note_facts: int | None = None) -> TurnPlan:
    """`plan_turn` for `message` taken as one part, as every message was planned before
    messages of several parts (agent/answers/parts.py); `note_facts`: most facts a note
    holds (default `index.note_facts`)."""
    lines = lines or index.lines
    own = own_place_plan(index, message)
    if own is not None:
        return own
    retrieved = index.retrieve(message)
    if retrieved.found:
        facts_found = list(retrieved.facts)
        if index.answer_rules:
            for rule in ANSWER_RULES:
                outcome = rule(index, message, facts_found)
                if isinstance(outcome, TurnPlan):
                    if outcome.reply is None and not outcome.facts:
                        return TurnPlan(reply=lines.dont_know)
                    return outcome
                facts_found = outcome
        noted = tuple(facts_found[: index.note_facts if note_facts is None else note_facts])
        if not noted:
            return TurnPlan(facts=tuple(facts_found))
        return TurnPlan(note=FACTS_NOTE.format(facts=" ".join(noted)), facts=noted)
    if is_small_talk(message):
        return TurnPlan()
    if previous and is_follow_up(message):
        joined = plan_whole(index, f"{previous} {message}", None, lines)
        if joined.declines(lines):
            return joined  # about nothing, or an amount, time or person no fact states
        return TurnPlan(facts=joined.facts)  # no note: the LLM reads the question before it
    return TurnPlan(reply=lines.off_topic)


def own_place_plan(index: KnowledgeIndex, message: str) -> TurnPlan | None:
    """The place's own name ("What is this store called?") from the fact that names it, and
    where it is ("Where are you located?") from the fact labelled as its address or
    location: the file leaves the place's name out of matching, and a question this
    short names no fact's words; None for any other question, or a file without the fact."""
    called, thing = own_name_asked(message), where_it_is_asked(message)
    if called is None and thing is None:
        return None
    name_fact = next((f for f in index.facts if (label_of(f) or "").lower().endswith("name")), "")
    the_place = {"", *PLACE_WORDS, *WORD.findall(name_fact.lower())}
    if called is not None:
        name = business_name(index.facts)
        if called not in the_place or not name or not name_fact:
            return None  # "the name of your mechanic" asks of someone or something inside
        return _said(name_fact, f"This is {name}.")
    if thing is not None:
        if thing not in the_place:
            return None  # "Where is this exhibit?" asks of a thing inside
        fact = next((f for f in index.facts
                     if (label_of(f) or "").lower() in ("address", "location")), None)
        return _said(fact, spoken_answer(fact, message, "place")) if fact else None
    return None


#: most facts the note of a message of several parts holds (one a part first): the 0.5B
#: model reads a short note; more parts than this stay with the last (agent/answers/parts.py)
MOST_NOTED = MAX_PARTS


def plan_parts(index: KnowledgeIndex, parts: Sequence[str], lines: AnswerLines, *,
               use_llm: bool = True) -> TurnPlan:
    """A message of several parts (agent/answers/parts.py), each planned alone, answered
    as one (docs/ANSWERS.md, section 11):
    - every part said without the LLM: the parts' answers one after the other, in the
      message's order;
    - a part no fact answers (declined, or a question the file does not hold): said as
      `lines.dont_know` in its place, and the other parts without the LLM too, a part
      meant for the LLM by its best fact said as the answer: the LLM would answer the
      declined part all the same, with a yes or no no fact gives;
    - otherwise the LLM, with a note of each part's best fact, then its others on the
      same topic, up to `MOST_NOTED`, in front of the whole message.
    `facts`: every fact the parts' answers come from, for the guard. `use_llm=False`:
    every part said without the LLM, as for a declined part (compared in
    bench/answers/multi_part.py)."""
    plans = [plan_whole(index, part, None, lines, note_facts=MOST_NOTED) for part in parts]
    if (not use_llm or all(plan.reply is not None for plan in plans)
            or any(not plan.facts for plan in plans)):
        # every part said from the file; or a part the file does not answer, which the
        # LLM would answer all the same (a yes or no no fact gives): each part said
        # without it, an LLM part by its best fact said as the answer
        said = [_said_alone(plan, part, lines) for plan, part in zip(plans, parts, strict=True)]
        facts = tuple(dict.fromkeys(f for plan in plans for f in plan.facts[:1]))
        return TurnPlan(reply=" ".join(dict.fromkeys(said)), facts=facts)
    # each part's best fact, then its others on the same topic ("Delivery:"'s two
    # sentences), a part at a time, in the message's order
    own = [[f for f in plan.facts if label_of(f) == label_of(plan.facts[0])] for plan in plans
           if plan.facts]
    ranked = list(dict.fromkeys(facts[i] for i in range(MOST_NOTED) for facts in own
                                if i < len(facts)))
    if index.note_facts == 0:
        return TurnPlan(facts=tuple(ranked))
    kept = set(ranked[: max(MOST_NOTED, index.note_facts)])
    noted = tuple(f for f in dict.fromkeys(f for facts in own for f in facts) if f in kept)
    return TurnPlan(note=FACTS_NOTE.format(facts=" ".join(noted)), facts=noted)


def _said_alone(plan: TurnPlan, part: str, lines: AnswerLines) -> str:
    """What a part of a message says without the LLM: its rule's answer, its best fact
    said as the answer to it (agent/answers/reading.py), or the don't-know line."""
    if not plan.facts:
        return lines.dont_know
    if plan.reply is not None:
        return with_yes_no_tail(part, plan, lines).reply or plan.reply
    return spoken_answer(plan.facts[0], part, asks_for_value(part))


#: one answer rule: the facts it leaves (best first), or the turn's plan, which ends it
AnswerRule = Callable[[KnowledgeIndex, str, list[str]], "list[str] | TurnPlan"]
#: a rule's "the facts found do not answer this": the caller says its don't-know line
DECLINE = TurnPlan()


def _said(fact: str, reply: str) -> TurnPlan:
    """A plan that says `reply`, answered from `fact`."""
    return TurnPlan(reply=reply, facts=(fact,))


#: a price asked for past what is free: "longer than the free time", "after the free two
#: hours", "beyond the free allowance"
_PAST_FREE = re.compile(r"\b(?:longer than|more than|over|beyond|past|after|exceeding)\s+"
                        r"(?:the\s+|my\s+|your\s+)?(?:\w+\s+){0,2}?free\b", re.IGNORECASE)
_FREE = re.compile(r"\bfree\b", re.IGNORECASE)


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
    hour to another thing)."""
    if not asks_for_time(message):
        return facts
    timed = [fact for fact in facts if states_time(fact)]
    if not timed and asks_for_time_loosely(message):
        # "Until when is it on?" of "runs until March 31": a date or a length of time
        timed = [fact for fact in facts if states_value(fact, "when")]
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
    return _said(best, spoken_answer(f"{label}: {item}" if label else item, message))


def condition_rule(index: KnowledgeIndex, message: str,
                   facts: list[str]) -> list[str] | TurnPlan:
    """An amount asked about a fact with a threshold ("over 100 dollars"): the fact's
    own words say which side it falls (the small model turned the side round)."""
    best = facts[0]
    if states_amount(message) and has_condition(best) and index.names_topic(message, best):
        return _said(best, condition_answer(best, message))
    return facts


def yes_no_unheld_rule(index: KnowledgeIndex, message: str,
                       facts: list[str]) -> list[str] | TurnPlan:
    """A yes/no question about a thing the file never speaks of, in a rarer word ("Do you
    do gift wrapping?" of a file with gift cards and no wrapping): declined, not answered
    with a neighbouring fact's yes or no (a no the file does not give). Not when one such
    word is all the question lacks and its best fact is as near it as a paraphrase
    (`means_closely`: "Do I pay a penalty if my books are overdue?" and "Late books: ...")."""
    if not is_yes_no_question(message):
        return facts
    unheld = unheld_words(index, message)
    if unheld and not (len(unheld) == 1 and index.means_closely(message, facts[0])):
        return DECLINE
    return facts


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
    return (index.means_little(message, fact) and index.covered(message, fact) < 0.5
            and not _names_only_topic(index, message, fact))


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
    said = best if days_named(last_sentence(message)) else settling_part(best, things)
    return _said(best, spoken_answer(said, message, settled=word))


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
        return _said(best, spoken_answer(best, message))
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
        return _said(best, spoken_answer(best, message))
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
    return _said(fact, spoken_answer(fact, message, kind))


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
ANSWER_RULES: tuple[AnswerRule, ...] = (own_case_rule, amount_rule, time_rule, person_rule,
                                        name_rule, band_rule, condition_rule, named_value_unheld_rule,
                                        yes_no_unheld_rule, yes_no_other_thing_rule,
                                        yes_no_settled_rule, yes_no_spoken_rule,
                                        yes_no_unrelated_rule, situation_rule, value_rule,
                                        yes_no_open_rule)


def user_text(message: Any) -> str | None:
    """A chat message's text if the user sent it (plain or in parts); None otherwise."""
    if not isinstance(message, dict) or message.get("role") != "user":
        return None
    content = message.get("content")
    if isinstance(content, list):  # a message in parts: its text parts
        content = " ".join(part.get("text", "") for part in content
                           if isinstance(part, dict) and part.get("type") == "text")
    return content if isinstance(content, str) and content.strip() else None


def with_notes(index: KnowledgeIndex, messages: list[Any]) -> list[Any] | None:
    """`messages` (chat messages, oldest first) with the facts found for each user
    message written in front of it (`plan_turn`'s note); None when none gets one.

    Every request of a visit writes the same notes in the same places, so it extends
    the one before and llama.cpp reuses the whole history; a visit's first question
    with a one-fact note ends a prefix the prompt cache holds (`notes`). A message that
    speaks of the question before it through a pronoun gets none (`leans_on`): its own
    best fact may be another thing's, and the visit's history says which.
    """
    previous: str | None = None
    out = list(messages)
    changed = False
    for i, message in enumerate(messages):
        content = user_text(message)
        if content is None:
            continue
        previous, before = content, previous
        if leans_on(index, content, before):
            continue
        plan = plan_turn(index, content)
        if plan.note is not None:
            out[i] = {"role": "user", "content": plan.message(content)}
            changed = True
    return out if changed else None


def notes(index: KnowledgeIndex) -> list[str]:
    """Every one-fact note `plan_turn` can write, for warming llama.cpp's prompt cache
    at start-up (a note of several facts is read on its turn)."""
    if index.note_facts == 0:
        return []
    return [FACTS_NOTE.format(facts=fact) for fact in index.facts]
