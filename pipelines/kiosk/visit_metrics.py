"""A kiosk's visits as Prometheus counters and histograms (`GET /metrics`).

What an operator asks first of a kiosk in a hall: how many people walked up today,
how many it greeted, how many talked, for how long and for how many turns, how many
walked off while it was answering, how often it said it did not know, and how long
it stood idle. Only counts and durations are kept: no words, no faces, no session
ids, nothing that tells one visitor from another. Each presence session (the kiosk
page's `?kiosk=1`, an SDK's `presence`) feeds a `VisitTracker` from its attendant
(pipelines/kiosk/attendant.py) and its protocol events (bot speaking or not).

Metrics (all prefixed `avatar_forcing_kiosk_`; docs/KIOSK.md has the PromQL):
- `visitors_walked_up_total`: visitors who engaged (near and facing the screen, or spoke);
- `visitors_greeted_total`: of them, greeted (the greeting was queued to be said);
- `visitors_talked_total`: visits that ended with at least one turn of the visitor's;
- `visitors_left_total`: visits that ended (`away_secs` of nobody);
- `visitors_left_during_answer_total`: of them, the visitor turned to go while the
  kiosk was speaking, and did not come back;
- `passers_by_total`: someone seen approaching who never engaged;
- `visit_seconds`: histogram, arrival to departure (the departure is `away_secs`
  after the last face or word, so a visit is at least that long);
- `visit_turns`: histogram, the visitor's turns in a visit;
- `answers_total`, `dont_know_answers_total`: the kiosk's replies in visits that
  ended, and those that said it did not know ("I don't know ...");
- `attract_seconds_total`: seconds presence sessions spent with nobody there (attract
  mode), counted live at each scrape.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

PREFIX = "avatar_forcing_kiosk"
#: a visit is at least `away_secs` (15 s by default) long; most are under 5 minutes
VISIT_SECONDS_BUCKETS = (15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0, 1200.0)
VISIT_TURNS_BUCKETS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0)
#: "I don't know", "I do not know", "we don't know": the persona's and the fact
#: check's line when the store facts do not hold the answer
_DONT_KNOW = re.compile(r"\b(?:don['\u2019]?t|do not)\s+know\b", re.IGNORECASE)


def says_dont_know(text: str) -> bool:
    """The reply says the kiosk does not know."""
    return _DONT_KNOW.search(text) is not None


@dataclass(frozen=True)
class VisitWords:
    """What the attendant counts in a visit's conversation before forgetting it (the
    counts only: the words stay in the session and are forgotten with it)."""

    turns: int = 0
    answers: int = 0
    dont_know: int = 0

    @classmethod
    def count(cls, messages: list[object], greeting: str | None = None) -> VisitWords:
        """Count the visitor's turns and the kiosk's answers (not its greeting)
        among an LLM context's messages."""
        turns = answers = dont_know = 0
        for message in messages:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            text = content if isinstance(content, str) else str(content or "")
            if message.get("role") == "user":
                turns += 1
            elif message.get("role") == "assistant" and text.strip() and (
                    greeting is None or text.strip() != greeting.strip()):
                answers += 1
                dont_know += says_dont_know(text)
        return cls(turns, answers, dont_know)


class VisitMetrics(Collector):
    """The server's visit figures, registered in its /metrics registry; one
    `VisitTracker` per live presence session."""

    def __init__(self, registry: CollectorRegistry,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._trackers: dict[str, VisitTracker] = {}
        self._attract_closed = 0.0  # attract seconds of periods that ended

        def counter(name: str, doc: str) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, registry=registry)

        self.walked_up = counter("visitors_walked_up", "Visitors who engaged with the kiosk.")
        self.greeted = counter("visitors_greeted", "Visitors greeted on arrival.")
        self.talked = counter("visitors_talked", "Visits with at least one visitor turn.")
        self.left = counter("visitors_left", "Visits that ended (nobody for away_secs).")
        self.left_during_answer = counter(
            "visitors_left_during_answer",
            "Visitors who turned to go while the kiosk was speaking and did not come back.")
        self.passers_by = counter("passers_by", "People seen approaching who never engaged.")
        self.answers = counter("answers", "The kiosk's replies in visits that ended.")
        self.dont_know = counter("dont_know_answers",
                                 "Replies in which the kiosk said it did not know.")
        self.visit_seconds = Histogram(f"{PREFIX}_visit_seconds",
                                       "Visit length, arrival to departure (seconds).",
                                       buckets=VISIT_SECONDS_BUCKETS, registry=registry)
        self.visit_turns = Histogram(f"{PREFIX}_visit_turns", "Visitor turns in a visit.",
                                     buckets=VISIT_TURNS_BUCKETS, registry=registry)
        registry.register(self)

    def session(self, session_id: str) -> VisitTracker:
        """A presence session's tracker (it starts in attract mode: nobody there)."""
        tracker = VisitTracker(self)
        self._trackers[session_id] = tracker
        return tracker

    def end(self, session_id: str) -> None:
        """The session ended: its attract time so far is kept (idempotent)."""
        tracker = self._trackers.pop(session_id, None)
        if tracker is not None:
            tracker.close()

    def add_attract(self, secs: float) -> None:
        self._attract_closed += max(0.0, secs)

    def collect(self) -> Iterator[CounterMetricFamily]:
        """`attract_seconds_total`, the periods in progress included."""
        now = self.clock()
        live = sum(t.attract_secs(now) for t in list(self._trackers.values()))
        yield CounterMetricFamily(f"{PREFIX}_attract_seconds",
                                  "Seconds presence sessions spent with nobody there.",
                                  value=self._attract_closed + live)


class VisitTracker:
    """One presence session's visit in progress: when it began, whether the kiosk
    is speaking, whether the visitor turned to go during an answer."""

    def __init__(self, metrics: VisitMetrics) -> None:
        self._metrics = metrics
        self._attract_since: float | None = metrics.clock()
        self._arrived_at: float | None = None
        self._bot_speaking = False
        self._left_mid_answer = False

    def on_event(self, event: dict) -> None:
        """A protocol event of the session (the kiosk speaking or not)."""
        kind = event.get("type")
        if kind == "bot-started-speaking":
            self._bot_speaking = True
        elif kind in ("bot-stopped-speaking", "bot-interrupted"):
            self._bot_speaking = False

    def attract_secs(self, now: float) -> float:
        """Seconds of the attract period in progress (0: someone is there)."""
        return 0.0 if self._attract_since is None else now - self._attract_since

    def presence(self, state: str, previous: str) -> None:
        """A presence change (`avatar.live.presence.PresenceState` values)."""
        now = self._metrics.clock()
        if previous == "away" and self._attract_since is not None:
            self._metrics.add_attract(now - self._attract_since)
            self._attract_since = None
        if state == "away":
            self._attract_since = now
            if previous == "approaching":
                self._metrics.passers_by.inc()
        if state == "leaving" and previous == "engaged":
            self._left_mid_answer = self._bot_speaking
        elif state == "engaged":
            self._left_mid_answer = False

    def arrived(self, greeted: bool) -> None:
        """A visitor engaged (`greeted`: the greeting was queued)."""
        self._arrived_at = self._metrics.clock()
        self._left_mid_answer = False
        self._metrics.walked_up.inc()
        if greeted:
            self._metrics.greeted.inc()

    def left(self, words: VisitWords) -> None:
        """The visitor is gone; `words`: what their conversation held, counted."""
        metrics = self._metrics
        metrics.left.inc()
        if words.turns:
            metrics.talked.inc()
        if self._left_mid_answer:
            metrics.left_during_answer.inc()
        if self._arrived_at is not None:
            metrics.visit_seconds.observe(metrics.clock() - self._arrived_at)
        metrics.visit_turns.observe(words.turns)
        metrics.answers.inc(words.answers)
        metrics.dont_know.inc(words.dont_know)
        self._arrived_at = None
        self._left_mid_answer = False

    def close(self) -> None:
        """The session ended: keep its attract time so far."""
        if self._attract_since is not None:
            self._metrics.add_attract(self._metrics.clock() - self._attract_since)
            self._attract_since = None


def chain_events(*hooks: Callable[[dict], None]) -> Callable[[dict], None]:
    """One `on_event` hook calling each of `hooks` in turn."""

    def on_event(event: dict) -> None:
        for hook in hooks:
            hook(event)

    return on_event


__all__ = ["VisitMetrics", "VisitTracker", "VisitWords", "chain_events", "says_dont_know"]
