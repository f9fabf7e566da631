"""bench/kiosk/kiosk.py's rounds: every arm asks first, and in each place (so with each
wording), as often as the others, with two arms as with more; and its wordings all take
the same route."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from tests.bench.scripts import load_script

KIOSK = load_script(Path(__file__).resolve().parents[2] / "bench" / "kiosk" / "kiosk.py",
                    "kiosk_bench_round_order")


def test_two_arms_take_turns_asking_first() -> None:
    orders = [KIOSK.round_order(["face", "voice"], r) for r in range(6)]
    assert orders[:4] == [["face", "voice"], ["voice", "face"], ["voice", "face"],
                          ["face", "voice"]]
    assert Counter(order[0] for order in orders) == {"face": 3, "voice": 3}


def test_every_arm_takes_every_place_equally_over_two_cycles() -> None:
    for arms in (["a", "b"], ["a", "b", "c"], ["a", "b", "c", "d"]):
        places = Counter((arm, j) for r in range(2 * len(arms))
                         for j, arm in enumerate(KIOSK.round_order(arms, r)))
        assert set(places.values()) == {2}, arms


def test_every_wording_is_answered_from_a_fact() -> None:
    """No arm's p50 may rest on its wordings sending more turns to the LLM: each of the
    bench's wordings is said from a fact of the shipped file, as the product plans it."""
    from agent import PersonaSettings
    from agent.answers.index import KnowledgeIndex
    from agent.answers.routing import plan_turn
    from agent.sentence_embedding import SentenceEncoder

    index = KnowledgeIndex.from_file(PersonaSettings().knowledge_file, encoder=SentenceEncoder())
    to_llm = [wording for topic in KIOSK.TOPICS for wording in topic
              if plan_turn(index, wording).reply is None]
    assert to_llm == []
    assert {len(topic) for topic in KIOSK.TOPICS} == {4}


def test_with_two_sides_a_round_alternates_between_their_servers() -> None:
    """Each side has its own voice-only arm, and a round's blocks switch server every
    block, in every round's order: neither side goes on warm where the other resumes."""
    arms = [KIOSK.Arm("this", True), KIOSK.Arm("this", False),
            KIOSK.Arm("rev", True), KIOSK.Arm("rev", False)]
    played = KIOSK.interleaved(arms)
    assert [(a.side, a.video) for a in played] == [
        ("this", True), ("rev", True), ("this", False), ("rev", False)]
    for r in range(2 * len(played)):
        sides = [a.side for a in KIOSK.round_order(played, r)]
        assert all(x != y for x, y in zip(sides, sides[1:], strict=False)), (r, sides)


def _args(**given: object) -> argparse.Namespace:
    options = {"render": "drawn", "pixels_too": False, "lip_sync": False, "against": []}
    return argparse.Namespace(**{**options, **given})


def test_against_with_every_added_arm_asks_within_a_topics_wordings() -> None:
    """--against with --pixels-too and --lip-sync (six arms) runs: each side's server has
    its own LLM server, so the sides ask the same wordings, no server hears a wording twice
    in a round, and on each side every arm asks in each wording as often as the others."""
    arms = KIOSK.arms_of(_args(pixels_too=True, lip_sync=True, against=["rev"]))
    assert len(arms) == 6
    played = KIOSK.interleaved(arms)
    wordings = len(KIOSK.TOPICS[0])
    counts: Counter[tuple[str, int]] = Counter()
    for r in range(8):
        plan = KIOSK.round_wordings(played, r)
        assert [arm for arm, _ in plan] == KIOSK.round_order(played, r)
        for side in ("this", "rev"):
            used = [j for arm, j in plan if arm.side == side]
            assert sorted(used) == list(range(len(used))), (r, side, used)
        assert all(j < wordings for _, j in plan)
        counts.update((arm.name, j) for arm, j in plan)
    for side, n in (("this", 4), ("rev", 2)):
        own = {key: c for key, c in counts.items() if key[0].endswith(f"@ {side}")}
        assert len(own) == n * n and set(own.values()) == {8 // n}, (side, own)


def test_one_side_asks_in_the_wording_of_its_place() -> None:
    """Without --against a block's wording is its place in the round, as before."""
    played = KIOSK.interleaved(KIOSK.arms_of(_args(pixels_too=True, lip_sync=True)))
    for r in range(8):
        assert [j for _, j in KIOSK.round_wordings(played, r)] == [0, 1, 2, 3]
