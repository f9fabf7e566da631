"""What a pronoun in a visitor's question stands for: the thing asked about before (a
follow-up), a thing the question itself names before it, or the act after an empty "it"
("How much is it to park?"). The routing (agent/answers/routing.py) and the value rule
(agent/answers/rules.py) read it.
"""

from __future__ import annotations

import re

from agent.answers.index import KnowledgeIndex, phrasal_verbs

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
