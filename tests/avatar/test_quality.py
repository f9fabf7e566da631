"""The quality governor and the capacity board, driven by measured-load samples.

The samples are what a node reports (worker wall time per frame, late frames),
written out on a synthetic clock, so each decision is checked exactly and
independently of this machine's speed. The face service that feeds them for real is
tested end to end in tests/pipelines/test_e2e_adapt.py.
"""

from __future__ import annotations

import pytest

from avatar.live.capacity import (
    AUTO_FACES_PER_WORKER,
    CapacityBoard,
    faces_per_worker_for,
    warm_workers_for,
)
from avatar.live.quality import (
    GovernorParams,
    QualityGovernor,
    QualityLevel,
    floor_index,
    quality_ladder,
)

FRAME = 0.04
#: decisions from the first sample on (warm-up and settling are tested on their own)
PARAMS = GovernorParams(warmup_secs=0.0, settle_secs=0.0)


def cost_ms(level: QualityLevel) -> float:
    """A 2-core machine's prices (ms of one core per 200 ms block), as the probe gives."""
    render = {512: 9.0, 256: 3.0}[level.size]
    return 8.0 + 5 / level.draw_stride * render + level.camera_fps * 0.2 * 10.0


def feed(governor: QualityGovernor, start: float, secs: float, busy: float, *,
         late: bool = False, planned: bool = False) -> tuple[float, list[int]]:
    """Frames for `secs` whose worker is busy `busy` of real time; returns the end
    time and the levels the governor moved to (decided once a block)."""
    now, moves = start, []
    for k in range(round(secs / FRAME)):
        now += FRAME
        governor.observe(now, busy_secs=busy * FRAME, late=int(late), planned=planned)
        if k % 5 == 4 and (change := governor.decide(now)) is not None:
            moves.append(change.level)
    return now, moves


def test_the_ladder_steps_camera_then_size_then_drawn_frames() -> None:
    ladder = quality_ladder(512, camera=True)
    assert ladder[0] == QualityLevel(512, 10.0)
    assert [(q.size, q.camera_fps, q.draw_stride) for q in ladder] == [
        (512, 10.0, 1), (512, 5.0, 1), (256, 5.0, 1), (256, 2.5, 1), (256, 2.5, 2)]
    assert ladder[floor_index(ladder)] == QualityLevel(256, 5.0)
    costs = [cost_ms(q) for q in ladder]
    assert costs == sorted(costs, reverse=True)  # every step down frees CPU
    assert [q.size for q in quality_ladder(256, camera=False)] == [256, 256]
    assert quality_ladder(384, camera=False)[1].size == 256
    with pytest.raises(ValueError, match="256..512"):
        quality_ladder(640, camera=True)


def test_sustained_load_steps_down_to_the_level_that_fits() -> None:
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, params=PARAMS, now=0.0)
    now, moves = feed(governor, 0.0, PARAMS.down_secs - 0.4, busy=1.2)
    assert moves == []  # not yet sustained over down_secs
    now, moves = feed(governor, now, 1.0, busy=1.2)
    # 1.2 at 75 ms a block: 512/5 (65 ms) predicts 1.04, 256/5 (33 ms) 0.53 <= 0.6
    assert moves == [2] and governor.quality == QualityLevel(256, 5.0)


def test_late_frames_step_down_even_when_the_worker_looks_idle() -> None:
    governor = QualityGovernor(quality_ladder(512, camera=True), cost_ms, params=PARAMS, now=0.0)
    _, moves = feed(governor, 0.0, PARAMS.down_secs + 0.5, busy=0.3, late=True)
    assert moves and moves[0] >= 1


def test_a_short_burst_changes_nothing() -> None:
    governor = QualityGovernor(quality_ladder(512, camera=True), cost_ms, params=PARAMS, now=0.0)
    now, _ = feed(governor, 0.0, 2.0, busy=0.3)
    now, moves = feed(governor, now, 0.2, busy=2.0)  # a 200 ms stall
    now, more = feed(governor, now, 2.0, busy=0.3)
    assert moves == [] and more == [] and governor.level == 0


def test_a_start_taken_under_load_climbs_back_to_what_was_asked() -> None:
    """The start-up probe only sets a starting point: with headroom the session
    returns to the requested size and camera rate in one step."""
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, start=len(ladder) - 1, params=PARAMS, now=0.0)
    now, moves = feed(governor, 0.0, 2.0, busy=0.1)
    assert moves == []  # up needs up_secs (3 s) of headroom
    now, moves = feed(governor, now, 1.5, busy=0.1)
    assert moves == [0] and governor.quality == QualityLevel(512, 10.0)


def test_planned_bursts_are_taken_neither_for_headroom_nor_for_overload() -> None:
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, start=3, params=PARAMS, now=0.0)
    _, moves = feed(governor, 0.0, 5.0, busy=0.1, planned=True)
    assert moves == [] and governor.level == 3
    governor = QualityGovernor(ladder, cost_ms, params=PARAMS, now=0.0)
    _, moves = feed(governor, 0.0, 8.0, busy=2.0, late=True, planned=True)
    assert moves == [] and governor.level == 0
    # a caller plans a window ahead (the kiosk giving a turn the cores first)
    governor.plan_until(12.0)
    now, moves = feed(governor, 8.0, 4.0, busy=2.0, late=True)
    assert moves == [] and governor.level == 0
    _, moves = feed(governor, now, PARAMS.down_secs + 0.5, busy=2.0, late=True)
    assert moves and governor.level > 0


def test_no_step_up_while_frames_are_late_and_flapping_lengthens_the_hold() -> None:
    params = PARAMS
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, start=2, params=params, now=0.0)
    now, moves = feed(governor, 0.0, 4.0, busy=0.1, late=True)
    assert 0 not in moves  # late frames are no headroom
    governor = QualityGovernor(ladder, cost_ms, start=2, params=params, now=0.0)
    now, moves = feed(governor, 0.0, 3.2, busy=0.1)
    assert moves == [0]
    now, moves = feed(governor, now, params.down_secs + 0.5, busy=1.5)  # the step up did not hold
    assert moves and governor.level > 0
    # the next step up now needs twice the headroom time
    now, moves = feed(governor, now, params.up_secs + 0.4, busy=0.05)
    assert moves == []
    now, moves = feed(governor, now, params.up_secs, busy=0.05)
    assert moves == [0]


def test_the_first_seconds_of_a_session_are_not_measured() -> None:
    """Building the renderer and the pipeline's start make the first frames late:
    that is no reason to step down, nor a measure of what the session costs."""
    governor = QualityGovernor(quality_ladder(512, camera=True), cost_ms, now=0.0)
    now, moves = feed(governor, 0.0, GovernorParams().warmup_secs, busy=2.0, late=True)
    assert moves == [] and governor.floor_load(now) is None
    now, moves = feed(governor, now, 2.0, busy=0.3)
    assert moves == [] and governor.level == 0 and governor.floor_load(now) is not None


def test_the_stall_right_after_a_change_is_not_taken_for_the_new_levels_cost() -> None:
    """A size seen for the first time builds its renderer in the worker: the frames
    right after the change come late, and that says nothing of the new level."""
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, params=GovernorParams(warmup_secs=0.0),
                               start=3, now=0.0)
    now, moves = feed(governor, 0.0, 3.0, busy=0.1)  # up at the last block of it
    assert moves == [0]
    now, moves = feed(governor, now, GovernorParams().settle_secs, busy=3.0, late=True)
    now, more = feed(governor, now, 2.0, busy=0.3)
    assert moves == [] and more == [] and governor.level == 0


def test_capacity_admits_while_the_floor_fits_and_refuses_with_a_reason() -> None:
    ladder = quality_ladder(512, camera=True)
    board = CapacityBoard(probe_floor_cores=0.2, cores=2.0)  # 1 core for avatars
    assert board.admit("a", now=0.0)[0]  # alone: always (it adapts)
    first = QualityGovernor(ladder, cost_ms, params=PARAMS, now=0.0)
    board.register("a", first)
    feed(first, 0.0, 2.0, busy=0.35)  # 512/10 at 0.35 -> 0.15 of a core at the floor
    report = board.report(now=2.0)
    assert report.sessions == 1 and report.floor_load == pytest.approx(0.154, abs=0.01)
    assert report.slots == 5
    ok, _ = board.admit("b", now=2.0)
    assert ok and board.report(now=2.0).sessions == 2  # b holds its place while starting
    # the machine gets busy: a's worker waits for a core, its floor cost grows
    board.unregister("b")
    feed(first, 2.0, 2.0, busy=1.9)
    ok, reason = board.admit("c", now=4.0)
    assert not ok and "capacity" in reason and "try again later" in reason
    board.unregister("a")
    assert board.report(now=4.0).sessions == 0 and board.admit("d", now=4.0)[0]


def test_warm_face_workers_never_outnumber_the_sessions_the_machine_admits() -> None:
    roomy = CapacityBoard(probe_floor_cores=0.2, cores=2.0)  # 1 core for avatars: 5 slots
    assert warm_workers_for(2, roomy) == 2  # what the settings ask, when it fits
    assert warm_workers_for(64, roomy) == 5  # never more than the slots
    assert warm_workers_for(0, roomy) == 0  # none asked: none kept
    tight = CapacityBoard(probe_floor_cores=0.8, cores=1.0)  # 0.5 core: no full slot
    assert warm_workers_for(2, tight) == 1  # one still: a lone session always gets in


def test_faces_per_worker_is_what_is_asked_or_chosen_from_the_machine() -> None:
    roomy = CapacityBoard(probe_floor_cores=0.2, cores=2.0)  # 5 slots on 2 cores
    assert faces_per_worker_for(3, roomy, cores=2) == 3  # asked: kept
    assert faces_per_worker_for(0, roomy, cores=2) == AUTO_FACES_PER_WORKER  # more than cores
    assert faces_per_worker_for(0, roomy, cores=16) == 1  # fewer sessions than cores
    tight = CapacityBoard(probe_floor_cores=0.8, cores=1.0)
    assert faces_per_worker_for(0, tight, cores=1) == 1


def test_a_step_up_that_costs_more_than_the_probe_said_is_learned() -> None:
    """In the live server a level can cost twice what the probe's ratio predicts:
    the governor keeps the ratio it measured, so it does not try the same step
    again at the same load, and takes it once the load has really fallen."""
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, start=4, params=PARAMS, now=0.0)
    now, moves = feed(governor, 0.0, PARAMS.up_secs, busy=0.41)
    assert moves == [3]  # the probe predicts 0.41 * 28 / 20.5 = 0.56
    now, moves = feed(governor, now, PARAMS.down_secs, busy=0.87)  # but it costs 0.87
    assert moves == [4]
    now, moves = feed(governor, now, 30.0, busy=0.41)  # the same load: no new try
    assert moves == [] and governor.level == 4
    now, moves = feed(governor, now, 7.0, busy=0.25)  # the load fell for a whole hold
    # ...and the levels beyond the learned step are priced up by the same misreading
    # (x1.55): 256 px with the camera at 5/s, 0.62; never straight to 512 px (1.19)
    assert moves and moves[0] in (2, 3)


def test_after_lost_images_the_session_waits_for_the_load_to_fall_then_climbs_within_10_s() -> None:
    """A neighbour makes frames late while the worker looks far from busy: one step
    down to 256 px; no try back up while the load stays what it was (the busy share
    did not explain the lost images, so it cannot say when they would stop); once
    the neighbour leaves and the load falls, the asked level is back within 10 s
    (bench/live/adapt.py's goal). Before, each try up met late frames and came back
    down: 9 changes in a 40 s phase with one core hogged."""
    params = GovernorParams(warmup_secs=0.0)
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, params=params, now=0.0)
    now, moves = feed(governor, 0.0, params.down_secs + 0.5, busy=0.35, late=True)
    assert len(moves) == 1 and ladder[moves[0]].size == 256, moves
    now, moves = feed(governor, now, params.lost_hold_secs - 5.0, busy=0.2)
    assert moves == []  # the same load: no try
    now, moves = feed(governor, now, 10.0, busy=0.12)  # the neighbour left
    assert moves == [0] and governor.level == 0


def test_fewer_images_only_after_a_second_of_overload_at_the_last_full_rate_level() -> None:
    """A burst of late frames (the speech models answering) steps down to the last
    level that draws every image, not straight to drawing one in two; an overload that
    lasts reaches it a second later (issue 48)."""
    ladder = quality_ladder(512, camera=True)
    last_full = max(i for i, q in enumerate(ladder) if q.draw_stride == 1)
    governor = QualityGovernor(ladder, cost_ms, params=PARAMS, now=0.0)
    now, moves = feed(governor, 0.0, PARAMS.down_secs + 0.2, busy=3.0, late=True)
    assert moves == [last_full] and governor.quality.drawn_fps == 25
    now, moves = feed(governor, now, PARAMS.down_secs + 0.2, busy=3.0, late=True)
    assert moves == [len(ladder) - 1] and governor.quality.draw_stride == 2


def converse(governor: QualityGovernor, start: float, secs: float, *, base: float,
             hog: float = 0.0, bursts: bool = True) -> tuple[float, list[tuple[float, int]]]:
    """A kiosk conversation as the face service feeds it: a turn every 12 s (the
    visitor speaks 3 s, the reply is thought up 1.5 s and plays 6 s), the worker
    busy `base` of real time at the asked level, priced by the probe's cost at the
    level in force, more with a neighbour (`hog`: extra share of real time spent
    waiting for a core). The turn's speech models add a burst: while the reply is
    thought up (planned), and, unplanned, 1.2 s of whisper and piper work at the
    reply's end; frames come late whenever the worker is busy over real time.
    Returns the end time and (time, level) of every change."""
    now, moves = start, []
    ladder_cost = cost_ms(governor.ladder[0])
    for k in range(round(secs / FRAME)):
        now += FRAME
        in_turn = (now - start) % 12.0
        thinking = 3.0 <= in_turn < 4.5
        tail_burst = bursts and 10.5 <= in_turn < 11.7
        load = base * cost_ms(governor.quality) / ladder_cost
        load = load * (1.0 + hog) + (0.5 if thinking or tail_burst else 0.0)
        if thinking:
            governor.plan_until(now + 4.0)  # as pipelines/face/face_quality.py does
        governor.observe(now, busy_secs=min(load, 3.0) * FRAME, late=int(load > 1.0),
                         planned=thinking)
        if k % 5 == 4 and (change := governor.decide(now)) is not None:
            moves.append((round(now - start, 1), change.level))
    return now, moves


def test_a_quiet_conversations_bursts_never_move_the_level() -> None:
    """Five minutes of turns on a quiet machine, each turn's speech models pushing the
    worker over real time for a while: the level stays put (issue 67: 2-6 changes in
    each 42 s session of bench/live/live.py before). The asked level at 50 % busy outside
    the bursts (bench/live/adapt.py's quiet phase on 2 cores: 35-48 %), and at 70 %."""
    for base in (0.5, 0.7):
        governor = QualityGovernor(quality_ladder(512, camera=True), cost_ms, now=0.0)
        _, moves = converse(governor, 0.0, 300.0, base=base)
        assert moves == [] and governor.level == 0, (base, moves)


def test_images_lost_all_along_step_the_size_down_once() -> None:
    """Both cores hogged: the worker is 70 % busy, never over 85 % (a late frame skips its
    render), yet one image in seven is lost, in every turn and between them. The
    slower watch steps 512 -> 256 px once, within its window, and goes no further
    while the images come (issue 67: 20 distinct images a second at 512 px)."""
    ladder = quality_ladder(512, camera=True)
    governor = QualityGovernor(ladder, cost_ms, params=PARAMS, now=0.0)
    now, moves = 0.0, []
    for k in range(round(90.0 / FRAME)):
        now += FRAME
        load = 0.7 * cost_ms(governor.quality) / cost_ms(ladder[0])
        lost = load > 0.45 and k % 7 == 0  # at 512 px, whatever the camera rate
        governor.observe(now, busy_secs=load * FRAME, late=int(lost))
        if k % 5 == 4 and (change := governor.decide(now)) is not None:
            moves.append((round(now, 1), change.level))
    assert ladder[moves[0][1]].size == 256 and moves[0][0] <= PARAMS.slow_secs + 1.0, moves
    # while the load stays, one try back up after lost_hold_secs, the next after twice that
    assert moves[1][0] >= moves[0][0] + PARAMS.lost_hold_secs, moves
    assert len(moves) == 3 and ladder[moves[2][1]].size == 256, moves
    # the slower watch alone (lost images in too few blocks for the 3 s one) does it too
    slow = QualityGovernor(ladder, cost_ms, params=PARAMS, now=0.0)
    now, moves = 0.0, []
    for k in range(round(30.0 / FRAME)):
        now += FRAME
        load = 0.7 * cost_ms(slow.quality) / cost_ms(ladder[0])
        lost = load > 0.45 and k % 13 == 0
        slow.observe(now, busy_secs=load * FRAME, late=int(lost))
        if k % 5 == 4 and (change := slow.decide(now)) is not None:
            moves.append((round(now, 1), change.level))
    assert len(moves) == 1 and ladder[moves[0][1]].size == 256, moves
    assert PARAMS.down_secs < moves[0][0] <= PARAMS.slow_secs + 1.0, moves
    assert governor.quality.drawn_fps == 25


def test_a_lasting_hog_moves_the_level_down_once_and_back_up_once() -> None:
    """A neighbour that takes a core for a minute: one step down, no try back up while
    it stays, one step up within 10 s of its leaving (bench/live/adapt.py's goals)."""
    params = GovernorParams()
    governor = QualityGovernor(quality_ladder(512, camera=True), cost_ms, now=0.0)
    now, quiet = converse(governor, 0.0, 30.0, base=0.6)
    assert quiet == []
    now, hogged = converse(governor, now, 60.0, base=0.6, hog=0.8)
    assert len(hogged) == 1 and hogged[0][1] > 0, hogged
    assert governor.quality.drawn_fps == 25  # 256 px at every image, not choppier
    now, after = converse(governor, now, 40.0, base=0.6, bursts=False)
    assert [level for _, level in after] == [0], after
    assert after[0][0] <= 10.0 + params.settle_secs, after


def test_a_hog_on_both_cores_steps_down_once_more_and_no_further() -> None:
    """Both cores hogged: the level goes where the load fits, at most two steps, and
    holds there while the hog stays."""
    governor = QualityGovernor(quality_ladder(512, camera=True), cost_ms, now=0.0)
    now, _ = converse(governor, 0.0, 20.0, base=0.6)
    now, hogged = converse(governor, now, 60.0, base=0.6, hog=1.6)
    assert 1 <= len(hogged) <= 2 and all(b > a for (_, a), (_, b) in
                                         zip([(0, 0), *hogged], hogged, strict=False))
    level = governor.level
    now, more = converse(governor, now, 60.0, base=0.6, hog=1.6)
    assert more == [] and governor.level == level
