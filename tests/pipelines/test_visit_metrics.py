"""The kiosk's visit figures (pipelines/kiosk/visit_metrics.py): what a sequence of
presence changes and protocol events adds to the counters an operator scrapes."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from pipelines.kiosk.visit_metrics import VisitMetrics, VisitWords, says_dont_know


class Clock:
    """A clock the test moves (the trackers read time through it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample(registry: CollectorRegistry, name: str) -> float:
    value = registry.get_sample_value(name)
    assert value is not None, f"{name} not exported"
    return value


def test_a_passer_by_two_visits_and_an_answer_walked_away_from() -> None:
    registry, clock = CollectorRegistry(), Clock()
    metrics = VisitMetrics(registry, clock=clock)
    visit = metrics.session("s1")
    clock.now += 30  # 30 s of attract mode
    visit.presence("approaching", "away")
    clock.now += 2
    visit.presence("away", "approaching")  # a passer-by
    clock.now += 10
    # visitor 1: greeted, talks twice, one answer is "I don't know", leaves after it
    visit.presence("approaching", "away")
    visit.presence("engaged", "approaching")
    visit.arrived(greeted=True)
    visit.on_event({"type": "bot-started-speaking"})
    visit.on_event({"type": "bot-stopped-speaking"})
    visit.presence("leaving", "engaged")  # a glance away, not during an answer
    visit.presence("engaged", "leaving")
    clock.now += 40
    visit.presence("leaving", "engaged")
    clock.now += 15
    visit.presence("away", "leaving")
    visit.left(VisitWords(turns=2, answers=2, dont_know=1))
    # visitor 2: greeted, says nothing, walks off while the kiosk speaks
    clock.now += 20
    visit.presence("approaching", "away")
    visit.presence("engaged", "approaching")
    visit.arrived(greeted=True)
    visit.on_event({"type": "bot-started-speaking"})
    clock.now += 3
    visit.presence("leaving", "engaged")
    clock.now += 15
    visit.presence("away", "leaving")
    visit.left(VisitWords())
    clock.now += 5
    assert sample(registry, "avatar_forcing_kiosk_visitors_walked_up_total") == 2
    assert sample(registry, "avatar_forcing_kiosk_visitors_greeted_total") == 2
    assert sample(registry, "avatar_forcing_kiosk_visitors_talked_total") == 1
    assert sample(registry, "avatar_forcing_kiosk_visitors_left_total") == 2
    assert sample(registry, "avatar_forcing_kiosk_visitors_left_during_answer_total") == 1
    assert sample(registry, "avatar_forcing_kiosk_passers_by_total") == 1
    assert sample(registry, "avatar_forcing_kiosk_answers_total") == 2
    assert sample(registry, "avatar_forcing_kiosk_dont_know_answers_total") == 1
    assert sample(registry, "avatar_forcing_kiosk_visit_seconds_count") == 2
    assert sample(registry, "avatar_forcing_kiosk_visit_seconds_sum") == 55 + 18
    assert sample(registry, "avatar_forcing_kiosk_visit_turns_sum") == 2
    # attract mode: 30 + 10 + 20 closed, and the 5 s in progress counted at the scrape
    assert sample(registry, "avatar_forcing_kiosk_attract_seconds_total") == 65
    metrics.end("s1")
    clock.now += 100  # an ended session adds nothing more
    assert sample(registry, "avatar_forcing_kiosk_attract_seconds_total") == 65
    metrics.end("s1")  # idempotent


def test_the_figures_hold_no_words_and_no_session() -> None:
    registry, clock = CollectorRegistry(), Clock()
    metrics = VisitMetrics(registry, clock=clock)
    visit = metrics.session("s7-abc123")
    visit.presence("engaged", "away")
    visit.arrived(greeted=False)
    visit.left(VisitWords.count([{"role": "user", "content": "my secret is pineapple"}]))
    text = generate_latest(registry).decode()
    assert "pineapple" not in text and "s7-abc123" not in text
    assert sample(registry, "avatar_forcing_kiosk_visitors_greeted_total") == 0
    assert sample(registry, "avatar_forcing_kiosk_visitors_talked_total") == 1


def test_the_conversation_is_counted_not_kept() -> None:
    greeting = "Hello, welcome! How can I help you today?"
    messages: list[object] = [
        {"role": "system", "content": "You are Sam."},
        {"role": "assistant", "content": greeting},
        {"role": "user", "content": "Do you sell boats?"},
        {"role": "assistant", "content": "I'm sorry, I don't know. Please ask a staff member."},
        {"role": "user", "content": "When do you open?"},
        {"role": "assistant", "content": "We open at nine a.m."},
    ]
    assert VisitWords.count(messages, greeting) == VisitWords(turns=2, answers=2, dont_know=1)
    assert says_dont_know("Sorry, I do not know that.")
    assert says_dont_know("I don\u2019t know.")
    assert not says_dont_know("Do you know where the paint is? Aisle four.")
