"""How the answers benches group a question set into visits (benchkit/answers/visits.py):
a single question is a visit of its own, a session's turns one visit in turn order."""

from __future__ import annotations

from benchkit.answers.visits import visits


def test_single_questions_are_visits_of_their_own_and_a_session_is_one_visit_in_turn_order() -> None:
    questions = [
        {"q": "Do you rent canoes?"},
        {"q": "How much for a day?", "session": "canoe", "turn": 2},
        {"q": "Is there a lake nearby?", "session": "canoe", "turn": 1},
        {"q": "Can I bring a dog?"},
        {"q": "And a life jacket?", "session": "canoe", "turn": 3},
        {"q": "Where do I check in?", "session": "hotel", "turn": 1},
    ]
    grouped = visits(questions)
    assert [[q["q"] for q in visit] for visit in grouped] == [
        ["Do you rent canoes?"],
        ["Is there a lake nearby?", "How much for a day?", "And a life jacket?"],
        ["Can I bring a dog?"],
        ["Where do I check in?"],
    ]


def test_no_questions_no_visits() -> None:
    assert visits([]) == []
