"""The fact guard (agent/answers/guard.py) on the shipped knowledge file and persona: a
reply sentence with a name, price, time, floor or phone number the file does not hold
is caught; the file's facts said the model's way, small talk and the persona's lines
pass; a condition turned round is caught with the file's own sentence."""

from __future__ import annotations

import pytest

from agent import PersonaSettings
from agent.answers.guard import FactGuard, Kind, extract_facts

GUARD = FactGuard.from_files(PersonaSettings().knowledge_file, PersonaSettings().persona_file)


@pytest.mark.parametrize("sentence", [
    "The store manager's name is John.",
    "Sarah Miller is our store manager.",
    "Maria can help you at the service desk.",
    "A sofa costs $25.",
    "A queen mattress is four hundred ninety-nine dollars.",
    "We open at 8 a.m. on Saturday.",
    "You can park for free for three hours.",
    "The restrooms are on the third floor.",
    "Pick up your order at entrance D.",
    "The Wi-Fi password is sunshine.",
    "The Wi-Fi password is MapleGuest.",  # the network's name given as the password
    "The name of the store manager is Sam.",  # the persona's name given as the manager's
    "Our Boston store is open too.",
    "Call us at 555-0199.",
])
def test_an_invented_fact_is_caught(sentence: str) -> None:
    verdict = GUARD.check(sentence)
    assert verdict.kind is Kind.INVENTED, verdict
    assert verdict.missing


@pytest.mark.parametrize("sentence", [
    "We open at nine a.m. on Saturday.",
    "We are open Monday to Saturday from 9:00 am to 8:00 pm.",
    "On Sundays we close at six p.m.",
    "Delivery costs forty-nine dollars.",
    "Delivery is $49 unless your order is over three hundred dollars.",
    "Our address is two fifty Harbor Road, next to the Riverside bus station.",
    "You can call us at five five five, zero one four two.",
    "The customer service number is 555-0142.",
    "Email us at help@mapleandmain.example.",
    "The restrooms are on the 2nd floor, next to the cafe.",
    "The network is called MapleGuest, and there is no password.",
    "The network name is MapleGuest.",
    "Maple Rewards members get 5% back on every purchase.",
    "Gift cards go from ten to five hundred dollars.",
    "Items can be returned within thirty days with the receipt.",
    "Pick up your online order at entrance B within two hours.",
    "Yes, we accept Apple Pay and Google Pay.",
    "Yes, we accept Amex, and there is free WiFi.",
    "We are open Mon-Sat, 9 A.M. to 8 P.M.",
    "Delivery is free for orders of $300 or more.",
])
def test_a_fact_of_the_file_said_the_models_way_passes(sentence: str) -> None:
    verdict = GUARD.check(sentence)
    assert verdict.kind is Kind.KNOWN, verdict


@pytest.mark.parametrize("sentence", [
    "You're welcome! Have a great day.",
    "Hello, how can I help you today?",
    "Sorry, I don't know that. A member of staff can tell you.",
    "Please ask a staff member at the service desk.",
])
def test_small_talk_is_free(sentence: str) -> None:
    assert GUARD.check(sentence).kind is Kind.FREE


def test_the_personas_own_name_passes_and_another_does_not() -> None:
    assert GUARD.check("Hi, I'm Sam, the store's help kiosk.").ok
    assert not GUARD.check("Hi, I'm Alex, the store's help kiosk.").ok


def test_a_condition_turned_round_gets_the_files_sentence() -> None:
    verdict = GUARD.check("Delivery is free for orders under 300 dollars.")
    assert verdict.kind is Kind.FLIPPED
    assert verdict.fact is not None and "over 300 dollars" in verdict.fact
    assert GUARD.check("Delivery is free for orders over three hundred dollars.").kind is Kind.KNOWN
    assert GUARD.check("Free delivery applies beyond twenty miles.").kind is Kind.FLIPPED


def test_numbers_are_read_with_their_units_and_times() -> None:
    facts = extract_facts("Delivery costs forty-nine dollars, from 9 a.m. until 7 pm.")
    assert [(f.kind, sorted(f.values), f.unit) for f in facts] == [
        ("number", ["49"], "dollar"), ("time", ["9:00a"], None), ("time", ["7:00p"], None)]
    # a pronoun "one" is no number; "one hour" is
    assert extract_facts("Ask one of our staff.") == []
    assert [f.values for f in extract_facts("It takes one hour.")] == [frozenset({"1"})]


def test_another_file_guards_its_own_facts() -> None:
    bikes = FactGuard("Full overhaul: ready in three days, 120 dollars.\nOwner: Priya Shah.")
    assert bikes.check("A full overhaul costs one hundred twenty dollars.").ok
    assert bikes.check("Priya Shah owns the shop.").ok
    assert not bikes.check("A full overhaul costs 150 dollars.").ok
    assert not bikes.check("A full overhaul takes five days.").ok


@pytest.mark.parametrize("sentence", [
    "A coffee costs $2.",  # the persona's "one or two short sentences"
    "The warranty on a mattress is 2 years.",
    "Delivery takes 40 minutes.",  # its "under 40 words"
])
def test_the_personas_instruction_numbers_are_not_store_facts(sentence: str) -> None:
    from agent.persona import build_system_prompt

    in_pipeline = FactGuard.from_system_prompt(build_system_prompt(PersonaSettings()))
    for guard in (GUARD, in_pipeline):
        assert guard.check(sentence).kind is Kind.INVENTED
    assert in_pipeline.check("Hi, I'm Sam, the help kiosk of Maple & Main Home Store.").ok


@pytest.mark.parametrize("sentence", [
    "The person at the service desk today is Sam.",
    "Sam runs the cafe.",
    "Ask Sam at the service desk.",
])
def test_the_personas_name_is_not_a_staff_members(sentence: str) -> None:
    """The persona lends the kiosk its name ("I'm Sam"), not a staff member's: asked who
    was at the desk, the model said "The person at the service desk today is Sam."."""
    from agent.persona import build_system_prompt

    in_pipeline = FactGuard.from_system_prompt(build_system_prompt(PersonaSettings()))
    assert in_pipeline.check(sentence).kind is Kind.INVENTED
    assert in_pipeline.check("My name is Sam, I'm the store's help kiosk.").ok
    assert in_pipeline.check("I'm Sam. How can I help?").ok


#: a file of this test's own: three facts, and the persona that lends the kiosk its name
SHOP = ("Gift cards: sold at the front desk, from 10 to 500 dollars.\n"
        "Parking: free for 2 hours behind the shop.\n"
        "Opening hours: 9 a.m. to 6 p.m. every day.")
SHOP_PERSONA = "You are Ada, the help kiosk of Bramble Books. Answer in one or two short sentences."


def test_a_turns_values_come_from_its_own_facts_and_the_visitors_words() -> None:
    """A reply's values come from the facts retrieved for its turn or from what the
    visitor said in this visit: a value of another fact of the file is refused, though
    the file holds it, and so is a number only the last visitor said."""
    parking = SHOP.splitlines()[1]
    visit = ["I'll be about 3 hours.", "How long can I park behind the shop?"]
    turn = FactGuard.for_turn([parking], SHOP_PERSONA, visit)
    assert turn.check("You can park behind the shop for free for 2 hours.").ok
    assert turn.check("Parking is free for 2 hours, so 3 hours is over the limit.").ok
    assert turn.check("I'm Ada. Parking is free for two hours.").ok
    unrelated = "Gift cards go up to 500 dollars."
    assert FactGuard(SHOP, SHOP_PERSONA).check(unrelated).ok  # the file holds it
    assert turn.check(unrelated).kind is Kind.INVENTED  # not this turn's fact
    next_visit = FactGuard.for_turn([parking], SHOP_PERSONA, ["How long can I park?"])
    assert next_visit.check("Parking is free for 2 hours, so 3 hours is over the limit.").kind \
        is Kind.INVENTED


def test_a_ranges_first_number_has_the_ranges_unit() -> None:
    """"from 10 to 500 dollars" vouches for 10 dollars, not for "10 years": the model, asked
    about the store, said it had been running it "for over 10 years", and a range's first
    end read without a unit let any unit through."""
    whole = FactGuard(SHOP, SHOP_PERSONA)
    assert whole.check("I'm Ada, and I've been running the shop for over 10 years.").kind \
        is Kind.INVENTED
    assert whole.check("Gift cards start at 10 dollars.").ok
    assert whole.check("Gift cards go from $10 to $500.").ok
    assert whole.check("Gift cards cost between ten and five hundred dollars.").ok
    gift_cards = FactGuard.for_turn([SHOP.splitlines()[0]], SHOP_PERSONA, ["Who runs the shop?"])
    assert gift_cards.check("I've been running the shop for 10 years.").kind is Kind.INVENTED


def test_the_visitors_bare_number_is_said_back_but_not_as_a_price() -> None:
    """A number the visitor said without a unit may be said back, in their words or with a
    unit that is no price, never as a price: "My daughter is 12, what does she pay?" and
    "You pay $12." is the model's price, not the visitor's (docs/ANSWERS.md, section 22)."""
    parking = SHOP.splitlines()[1]
    visit = ["My daughter is 12 and my locker is 40, what does she pay?"]
    turn = FactGuard.for_turn([parking], SHOP_PERSONA, visit)
    assert turn.check("Your daughter is 12, and your locker is number 40.").ok
    assert turn.check("At 12 years old, parking is still free for 2 hours.").ok
    for price in ("You pay $12 for your daughter.", "That is 12 dollars.",
                  "It costs forty dollars."):
        assert turn.check(price).kind is Kind.INVENTED, price
    # a price the visitor said is theirs to hear back
    assert FactGuard.for_turn([parking], SHOP_PERSONA, ["I paid 30 dollars for it."]).check(
        "You paid 30 dollars for it.").ok


def test_pounds_and_euros_are_money_as_dollars_are() -> None:
    """A price in pounds, pence or euros (words or "£", "€") is read with its unit, as
    dollars are: the visitor's bare number is not said back as one, and another amount of
    the same currency is refused (docs/ANSWERS.md, section 23)."""
    tickets = "Tickets: adults 8 pounds, children 4 pounds; a map is 2 euros."
    turn = FactGuard.for_turn([tickets], SHOP_PERSONA, ["My son is 12, what does he pay?"])
    for said in ("Children pay 4 pounds.", "Children pay £4.", "A map is €2.",
                 "At 12, he pays 4 pounds."):
        assert turn.check(said).ok, said
    for price in ("He pays 12 pounds.", "He pays £12.", "That is 12 euros.", "A map is 3 euros.",
                  "Adults pay 9 pounds."):
        assert turn.check(price).kind is Kind.INVENTED, price


def test_a_sentence_that_only_says_the_question_back_is_an_echo() -> None:
    from agent.answers.guard import echoes

    facts = ["Appointments: book by phone or on the patient portal."]
    assert echoes("We have a children's dentist here.", "Do you have a children's dentist here?",
                  facts)
    assert echoes("Yes, you can get a haircut here.", "Can I get a haircut here?", facts)
    # a word the question lacks, or a word of the facts: an answer, not an echo
    assert not echoes("You can book one on the patient portal.", "Can I book a dentist?", facts)
    assert not echoes("You can book here.", "Can I book here?", facts)
    assert not echoes("Hello there!", "Hello there.", [])
    # asked back, it is an echo even with a word of the facts ("book")
    assert echoes("You do dentist bookings and how do I book one?",
                  "Hi, do you do dentist bookings and how do I book one?", facts)
    assert not echoes("Do you want to book by phone?", "Can I book a dentist?", facts)
