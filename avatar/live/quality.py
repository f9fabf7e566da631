"""Video quality that follows the machine while a session runs, both ways.

A kiosk shares its two cores with a browser, updates and other sessions, and
machines of one kind differ by 2x, so a quality chosen once (the start-up
probe, `choose_video`) is only a starting point. While the session runs its
node reports how long the avatar's worker was busy (wall time, which includes
the time it waited for a core) and which frames came late; `QualityGovernor`
turns that into a level of a `quality_ladder`. A level change is a visible jump
in sharpness or smoothness, so the governor moves only on load that lasts:

- **down** when, over the last `down_secs` of measured frames, the worker was busy
  more than `down_busy` of real time (or frames came late) in most blocks
  (`down_share`), not on average: a burst shorter than the rest of the window never
  moves it. It steps straight to the first level whose predicted load fits
  `target_busy`, but never past the last level that draws every image unless
  already there: fewer images a second take a second overload at that level;
- **down, slowly**, when over the last `slow_secs` of measured frames the worker
  was fairly busy and images were lost all along (`slow_late`): a neighbour that
  starves the whole pipeline more than the worker, whose busy share then never
  looks overloaded (a late frame skips its render). Late frames the busy share
  does not explain step to the first level costing at most `slow_relief` of the
  current one (512 -> 256 px at once), and hold the levels above for
  `lost_hold_secs` unless the load falls;
- **up** when a better level's predicted load stays under `up_busy` for `up_secs`
  with no late frame: straight to the best such level;
- **planned bursts count neither way**: while the reply is thought up and in the
  first seconds of its playing, whisper, the LLM and piper work beside the face
  (the face service marks those frames `planned`, and a caller can plan a window
  ahead with `plan_until`). Those bursts come with every turn and end by
  themselves: chased, they swing the level every turn;
- **predictions** start from the probe's cost ratios between levels and are
  replaced by the ratio the session measured when it last moved between two
  levels (either way). A learned ratio holds while the load at the level it was
  measured from stays above `forget_load` of what it was: a clearly lighter load
  means the neighbour that shaped the ratio has gone. So a lasting hog moves the
  level down once and does not tempt it back up, and the level comes back once the
  hog has gone;
- **no flapping**: a step up that has to be taken back within `flap_secs`
  doubles the hold before the next step up (up to `max_up_secs`).

The ladder steps down in the order that costs the visitor least for the CPU it
frees (ms of one core per 200 ms block on the 2-core machine of
docs/LIVE_AVATAR.md; `MachineCosts.block_cost_ms` prices each level):

1. camera analysis 10 -> 5 a second (~10 ms a block): the visitor's face
   changes slowly; 5 measurements a second still feed every generator block;
2. render size 512 -> 256 px (~25-30 ms a block, the largest saving): the face
   is drawn softer, its motion, lips and timing are untouched;
3. camera 5 -> 2.5 a second (~5 ms): reactions to the face lag ~0.2 s more;
4. draw every second frame and repeat the image in between (~7 ms at 256 px):
   motion looks choppier (12.5 images a second), the audio is never touched.

Audio is never on the ladder: a frame whose image repeats still carries its
own 40 ms of audio, so the reply plays on unbroken at every level.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

#: Frames per second on the wire (the audio clock); a level only changes how
#: many of them are freshly drawn.
WIRE_FPS = 25
#: The floor a session must keep for admission (docs/LIVE_AVATAR.md): 256 px,
#: every frame drawn, the camera at 5 a second (when it has a camera).
FLOOR_SIZE = 256
FLOOR_CAMERA_FPS = 5.0


@dataclass(frozen=True)
class QualityLevel:
    """One rung of the ladder: what the session draws and analyses."""

    size: int  # square frame edge, px
    camera_fps: float  # camera frames analysed a second (0: no camera)
    draw_stride: int = 1  # 1: every frame drawn; n: one in n, the others repeat it

    @property
    def drawn_fps(self) -> float:
        """Distinct images a second."""
        return WIRE_FPS / self.draw_stride

    def describe(self) -> str:
        """`512 px, camera 10/s, 25 images/s` for logs and reasons."""
        camera = f"camera {self.camera_fps:g}/s" if self.camera_fps else "no camera"
        return f"{self.size} px, {camera}, {self.drawn_fps:g} images/s"


def quality_ladder(requested_size: int, *, camera: bool) -> list[QualityLevel]:
    """The levels from what the client asked for (index 0) to the cheapest.

    Sizes between 256 and 512 are rendered at 512 and resized, so they cost what
    512 costs: the step below any size above 256 is 256 itself.
    """
    if not 256 <= requested_size <= 512:
        raise ValueError(f"video size must be 256..512, got {requested_size}")
    sizes = [requested_size] if requested_size == FLOOR_SIZE else [requested_size, FLOOR_SIZE]
    if not camera:
        levels = [QualityLevel(size, 0.0) for size in sizes]
        return [*levels, QualityLevel(FLOOR_SIZE, 0.0, draw_stride=2)]
    levels = [QualityLevel(sizes[0], 10.0), QualityLevel(sizes[0], 5.0)]
    if len(sizes) > 1:
        levels.append(QualityLevel(FLOOR_SIZE, 5.0))
    levels += [QualityLevel(FLOOR_SIZE, 2.5), QualityLevel(FLOOR_SIZE, 2.5, draw_stride=2)]
    return levels


def floor_index(ladder: list[QualityLevel]) -> int:
    """The cheapest level that still keeps the admission floor (see FLOOR_*)."""
    camera = any(level.camera_fps for level in ladder)
    for index in range(len(ladder) - 1, -1, -1):
        level = ladder[index]
        if level.draw_stride == 1 and (not camera or level.camera_fps >= FLOOR_CAMERA_FPS):
            return index
    return 0


@dataclass(frozen=True)
class GovernorParams:
    """Thresholds on the worker's busy share of real time (1.0 = never idle)."""

    #: above this (or with late frames) in most blocks over `down_secs`: step down
    down_busy: float = 0.85
    #: late frames above this share of the window also step down
    down_late: float = 0.1
    #: measured (unplanned) seconds the overload is judged over: 1 s chased every
    #: burst of the speech models that the planned windows do not cover
    down_secs: float = 3.0
    #: the overload must show in at least this share of the window's blocks (200 ms)
    down_share: float = 0.6
    #: a slower watch for a neighbour that starves the pipeline more than the
    #: worker: over the last `slow_secs` of measured frames the worker busy more
    #: than `slow_busy` on average and more than `slow_late` of frames late. Then the
    #: worker never looks 85 % busy (a late frame skips its render), yet images are
    #: lost all the time (both cores hogged: 60-78 % busy, 20 distinct images a
    #: second at 512 px). It steps to the first level that costs at most
    #: `slow_relief` of the current one (512 -> 256 px)
    slow_secs: float = 10.0
    slow_busy: float = 0.6
    slow_late: float = 0.05
    #: ...with late frames spread over at least this share of its blocks (a turn's
    #: burst loses images in a few blocks together, a starving neighbour all along)
    slow_spread: float = 0.3
    #: a step down for lost images (which the busy share does not explain) goes to
    #: the first level that costs at most this share of the current one
    slow_relief: float = 0.6
    #: after such a step the levels left are not tried again for this long unless the
    #: load falls (`forget_load`): the busy share did not explain the lost images, so it
    #: cannot say when they would stop
    lost_hold_secs: float = 30.0
    #: after a step down, the load the new level is predicted to run at
    target_busy: float = 0.7
    #: a better level is taken when its predicted load stays under this
    up_busy: float = 0.65
    up_secs: float = 3.0
    #: a step up taken back within this long doubles `up_secs` (up to max_up_secs)
    flap_secs: float = 10.0
    #: 10 s: once a busy neighbour has gone, the session is back at its requested
    #: quality within the longest hold of frames without a late one (30 s left it
    #: low long after the hog stopped: docs/LIVE_AVATAR.md)
    max_up_secs: float = 10.0
    #: a learned ratio between two levels holds while the load at the level it was
    #: learned from stays above this share of the load it was learned at
    forget_load: float = 0.8
    #: a ratio learned on a step down is at most this times the probe's: the load that
    #: decided it may have been a burst that ended with the step (a 30x ratio would
    #: keep the session low for good); the live server was seen at 1.5x the probe
    max_down_ratio_over_probe: float = 1.6
    #: the load reported (`busy`, `steady_busy`, admission) is over this long
    window_secs: float = 2.0
    #: measured samples older than this are forgotten: a decision rests on the
    #: last `down_secs` / `up_secs` of measured frames, never on a load long gone
    horizon_secs: float = 30.0
    #: a session's first seconds are not measured: building its renderer, the
    #: portrait's background plate and the pipeline's start make them slower than
    #: what the level costs (it stepped down then climbed back in every session)
    warmup_secs: float = 4.0
    #: samples in this long after a change are not measured either: a size seen for
    #: the first time builds its renderer in the worker, which stalls a few frames
    settle_secs: float = 1.0


@dataclass(frozen=True)
class QualityChange:
    """A decision: the new level and why, for the client event and the logs."""

    level: int
    quality: QualityLevel
    previous: int
    direction: Literal["down", "up"]
    reason: str
    busy: float  # the measured load that decided it


@dataclass
class _Sample:
    at: float
    busy_secs: float
    frames: int
    late: int
    planned: bool


@dataclass(frozen=True)
class _Learned:
    """A load ratio between two levels this session measured, and the load at the
    level it was measured from (it holds while that load stays about the same)."""

    ratio: float
    busy_from: float


#: frames in one block: the overload is judged per block (see `down_share`)
BLOCK_FRAMES = 5


class QualityGovernor:
    """Decides the session's level from its measured load (see module docstring).

    `cost_ms(level)` prices a level in ms of one core per 200 ms block (the
    probe's `MachineCosts.block_cost_ms`); only ratios between levels are used,
    so a probe taken under load still predicts the right steps.
    """

    def __init__(self, ladder: list[QualityLevel], cost_ms: Callable[[QualityLevel], float], *,
                 start: int = 0, params: GovernorParams | None = None, now: float = 0.0) -> None:
        if not ladder:
            raise ValueError("the quality ladder is empty")
        if not 0 <= start < len(ladder):
            raise ValueError(f"start level {start} is not on a ladder of {len(ladder)}")
        self.ladder = ladder
        self.params = params or GovernorParams()
        self.level = start
        self._costs = [max(1e-3, cost_ms(level)) for level in ladder]
        self._samples: deque[_Sample] = deque()
        self._warm_at = now + self.params.warmup_secs
        self._settle_until = now  # after a change: its stall is not measured
        self._changed_at = now
        self._planned_until = now  # samples before this are a planned burst
        self._up_at: float | None = None  # when the last step up was taken
        self._up_secs = self.params.up_secs
        self._floor_load: float | None = None
        #: (from level, to level) -> the load ratio this session measured between them
        self._learned: dict[tuple[int, int], _Learned] = {}
        #: (level left, its load) at the last change, until the new level is measured
        self._moved: tuple[int, float] | None = None
        #: the last step down for lost images: (level left, when, the load it led to);
        #: no step up while it holds
        self._lost: tuple[int, float, float | None] | None = None
        self._lost_hold = self.params.lost_hold_secs

    @property
    def quality(self) -> QualityLevel:
        """The level in force."""
        return self.ladder[self.level]

    def resume(self, now: float) -> None:
        """Measure afresh from `now` (after a stretch the governor did not decide, such
        as a kiosk's attract mode): old samples are dropped and the next second is
        not measured, as after a change."""
        self._samples.clear()
        self._settle_until = now + self.params.settle_secs
        self._changed_at = now

    def plan_until(self, until: float) -> None:
        """Work beside the face is planned until `until` (a turn's speech models, or
        a caller that gives the turn's critical path the cores): the frames drawn
        until then count neither way, so the picture does not change for it."""
        self._planned_until = max(self._planned_until, until)

    # ---------------------------------------------------------------- measure
    def observe(self, now: float, *, busy_secs: float, frames: int = 1, late: int = 0,
                planned: bool = False) -> None:
        """Record `busy_secs` of worker wall time spent since the last call on
        `frames` frames, `late` of which came late (ignored while warming up).
        `planned`: taken in a planned burst (see `plan_until`)."""
        if now < self._warm_at or now < self._settle_until:
            return
        planned = planned or now < self._planned_until
        self._samples.append(_Sample(now, busy_secs, frames, late, planned))
        horizon = now - max(self.params.horizon_secs, self.params.window_secs, self._up_secs,
                            self.params.slow_secs)
        while self._samples and self._samples[0].at < horizon:
            self._samples.popleft()

    def _recent(self, now: float, secs: float, planned: bool | None) -> list[_Sample]:
        return [s for s in self._samples if s.at >= now - secs
                and (planned is None or s.planned == planned)]

    @staticmethod
    def _share(samples: list[_Sample]) -> float:
        frames = sum(s.frames for s in samples)
        return sum(s.busy_secs for s in samples) / max(1e-6, frames / WIRE_FPS)

    def busy(self, now: float, secs: float | None = None, *, planned: bool | None = None
             ) -> float:
        """The worker's busy share of real time over the last `secs` (window_secs),
        optionally only over samples taken in planned bursts (or not)."""
        picked = self._recent(now, self.params.window_secs if secs is None else secs, planned)
        return self._share(picked) if picked else 0.0

    def measured(self, now: float) -> bool:
        """True once the level in force has been measured for half a window."""
        return bool(self._samples) and now - self._samples[0].at >= 0.5 * self.params.window_secs

    def steady_busy(self, now: float) -> float:
        """The load over the window outside planned bursts (the turn's speech models
        run then), or over all of it if it was all planned."""
        if self._recent(now, self.params.window_secs, planned=False):
            return self.busy(now, planned=False)
        return self.busy(now)

    def late_share(self, now: float, secs: float | None = None, *,
                   planned: bool | None = None) -> float:
        """Share of frames that came late over the last `secs` (optionally only
        those taken in planned bursts, or not)."""
        picked = self._recent(now, self.params.window_secs if secs is None else secs, planned)
        frames = sum(s.frames for s in picked)
        return sum(s.late for s in picked) / frames if frames else 0.0

    def _measured_tail(self, secs: float) -> list[_Sample] | None:
        """The latest unplanned samples covering `secs` of frames (planned stretches in
        between are skipped), or None while fewer were measured since the change."""
        picked: list[_Sample] = []
        frames = 0
        for sample in reversed(self._samples):
            if sample.planned:
                continue
            picked.append(sample)
            frames += sample.frames
            if frames >= secs * WIRE_FPS:
                return picked[::-1]
        return None

    def _blocks(self, samples: list[_Sample]) -> list[tuple[float, bool]]:
        """(busy share, any frame late) per block of BLOCK_FRAMES frames."""
        out, block = [], []
        for sample in samples:
            block.append(sample)
            if sum(s.frames for s in block) >= BLOCK_FRAMES:
                out.append((self._share(block), any(s.late for s in block)))
                block = []
        return out

    def load_at(self, level: int, busy: float) -> float:
        """`busy` measured at the current level, predicted at `level`: by the ratio
        this session measured between the two levels, while the load it was measured
        at still holds; else by the probe's cost ratio."""
        learned = self._valid(self.level, level, busy)
        if learned is not None:
            return busy * learned.ratio
        probe = busy * self._costs[level] / self._costs[self.level]
        if level < self.level and (step := self._valid(self.level, self.level - 1, busy)):
            # the probe underrated the next step up: it underrates those beyond it too
            return probe * max(1.0, step.ratio * self._costs[self.level]
                               / self._costs[self.level - 1])
        return probe

    def _valid(self, start: int, level: int, busy: float) -> _Learned | None:
        """The ratio learned from `start` to `level`, unless the load at `start` fell
        clearly below what it was then (the neighbour that shaped it has gone)."""
        learned = self._learned.get((start, level))
        if learned is None or busy < self.params.forget_load * learned.busy_from:
            return None
        return learned

    def _learn(self, now: float) -> None:
        """Once the level taken at the last change is measured, keep the measured
        load ratio between it and the level it came from. The probe prices a frame
        alone; in the live server the renders also wait for the interpreter, the other
        threads and any neighbour, so a level can cost twice what the probe says
        (measured: 41 % busy at 12.5 images/s, 87 % at 25 on the 2-core CI machine).
        Without the ratio a step up would be taken back at once, then tried again
        after each hold; learned on the way down, it keeps a lasting hog from
        tempting the session back up at all."""
        if (self._moved is None or not self._samples
                or now - self._samples[0].at < self.params.window_secs):
            return  # a whole window at the new level, not its first second
        previous, busy_before = self._moved
        self._moved = None
        busy_now = self.steady_busy(now)
        if self._lost is not None and self._lost[2] is None:
            self._lost = (self._lost[0], self._lost[1], busy_now)
        if busy_before <= 0.05 or busy_now <= 0.05:
            return
        better, worse = min(previous, self.level), max(previous, self.level)
        busy_better, busy_worse = ((busy_before, busy_now) if previous == better
                                   else (busy_now, busy_before))
        # a better level never costs less than the probe says (one noisy measure once
        # predicted a step up at 45 % from 58 %); a load measured while overloaded is
        # a floor of the level's cost, so the ratio is a floor too
        probe = self._costs[better] / self._costs[worse]
        ratio = max(probe, busy_better / busy_worse)
        if previous == better:  # learned on a step down
            ratio = min(ratio, self.params.max_down_ratio_over_probe * probe)
        self._learned[(worse, better)] = _Learned(ratio, busy_worse)
        self._learned[(better, worse)] = _Learned(1.0 / ratio, busy_better)
        # the levels between are priced by the same measure (a step down that skipped
        # them must not be undone by a climb to one of them at the load it left)
        for between in range(better + 1, worse):
            scaled = ratio * self._costs[between] / self._costs[better]
            self._learned[(worse, between)] = _Learned(
                max(scaled, self._costs[between] / self._costs[worse]), busy_worse)

    def floor_load(self, now: float) -> float | None:
        """This session's load (share of a core) if it ran at the floor level: from
        the level in force once measured, else from the measure that decided the
        last change (None: never measured yet)."""
        if self.measured(now):
            self._floor_load = self.load_at(floor_index(self.ladder), self.steady_busy(now))
        return self._floor_load

    # ---------------------------------------------------------------- decide
    def decide(self, now: float) -> QualityChange | None:
        """A change of level, or None; call once a frame or once a block.

        Only samples taken outside planned bursts count either way (see
        `plan_until`): the turn's speech models come with every turn and leave by
        themselves, so they say little of what the level costs."""
        self._learn(now)
        since = now - max(self._changed_at, self._warm_at)
        return self._down(now, since) or self._up(now, since)

    def _down(self, now: float, since: float) -> QualityChange | None:
        p = self.params
        if since < p.down_secs or self.level >= len(self.ladder) - 1:
            return None
        tail = self._measured_tail(p.down_secs)
        if tail is None:
            return None
        return self._down_fast(now, tail) or self._down_slow(now)

    def _down_slow(self, now: float) -> QualityChange | None:
        """The slower watch (see `GovernorParams.slow_secs`)."""
        p = self.params
        tail = self._measured_tail(p.slow_secs)
        if tail is None:
            return None
        busy = self._share(tail)
        late = sum(s.late for s in tail) / max(1, sum(s.frames for s in tail))
        blocks = self._blocks(tail)
        spread = sum(late for _, late in blocks) / max(1, len(blocks))
        if busy <= p.slow_busy or late <= p.slow_late or spread < p.slow_spread:
            return None
        lower = self._relief()
        self._mark_lost(now)
        why = (f"{late:.0%} of frames late over the last {p.slow_secs:g} s measured, the "
               f"worker busy {busy:.0%} of real time")
        return self._change(now, lower, "down", why, busy)

    def _down_fast(self, now: float, tail: list[_Sample]) -> QualityChange | None:
        """Lasting overload over `down_secs` (see the module docstring)."""
        p = self.params
        blocks = self._blocks(tail)
        if not blocks:
            return None
        # the load that lasted: the block share most blocks were above, not the mean
        # (a burst of a few blocks does not move it)
        shares = sorted(share for share, _ in blocks)
        lasting = shares[int((1.0 - p.down_share) * (len(shares) - 1))]
        late_blocks = sum(late for _, late in blocks) / len(blocks)
        frames = sum(s.frames for s in tail)
        late = sum(s.late for s in tail) / max(1, frames)
        overloaded = lasting > p.down_busy
        late_lasting = late > p.down_late and late_blocks >= p.down_share
        if not (overloaded or late_lasting):
            return None
        busy = max(lasting, self._share(tail)) if overloaded else self._share(tail)
        if overloaded:
            lower = next((i for i in range(self.level + 1, len(self.ladder))
                          if self.load_at(i, busy) <= p.target_busy), len(self.ladder) - 1)
            lower = min(lower, self._fewer_images_gate())
        else:  # images lost that the busy share does not explain
            lower = self._relief()
            self._mark_lost(now)
        why = (f"{late:.0%} of frames late in {late_blocks:.0%} of the last "
               f"{p.down_secs:g} s measured" if late_lasting and not overloaded else
               f"the avatar's worker was busy over {p.down_busy:.0%} of real time in "
               f"{p.down_share:.0%} of the last {p.down_secs:g} s measured ({busy:.0%})")
        return self._change(now, lower, "down", why, busy)

    def _up(self, now: float, since: float) -> QualityChange | None:
        p = self.params
        if self.level == 0 or since < self._up_secs:
            return None
        tail = self._measured_tail(self._up_secs)
        if tail is None or now - tail[0].at > p.horizon_secs or any(s.late for s in tail):
            return None
        # the load most of the hold stayed under (its 3rd quartile of blocks): a hold
        # that still holds a neighbour's last seconds waits, then climbs in one step
        # rather than to a level between
        shares = sorted(share for share, _ in self._blocks(tail))
        busy = max(self._share(tail) if not shares else shares[int(0.75 * (len(shares) - 1))],
                   0.0)
        if self._lost is not None:
            _, at, load = self._lost
            if now - at < self._lost_hold and (load is None or busy >= p.forget_load * load):
                return None  # images were lost above, and nothing says they would not be
            self._lost = None
        target = next((i for i in range(self.level) if self.load_at(i, busy) <= p.up_busy), None)
        if target is None:
            return None
        why = (f"headroom: the worker was busy {busy:.0%} of real time, "
               f"{self.load_at(target, busy):.0%} predicted at the new level")
        return self._change(now, target, "up", why, busy)

    def _mark_lost(self, now: float) -> None:
        """A step down for lost images: hold the levels above for `lost_hold_secs`,
        twice as long each time a try back up lost images again (up to 4x)."""
        p = self.params
        retried = self._up_at is not None and now - self._up_at < p.flap_secs
        self._lost_hold = (min(4 * p.lost_hold_secs, 2 * self._lost_hold) if retried
                           else p.lost_hold_secs)
        self._lost = (self.level, now, None)

    def _relief(self) -> int:
        """The first level that costs at most `slow_relief` of the current one (within
        the fewer-images gate): where lost images, not the busy share, ask for a step."""
        cost = self._costs[self.level]
        lower = next((i for i in range(self.level + 1, len(self.ladder))
                      if self._costs[i] <= self.params.slow_relief * cost), len(self.ladder) - 1)
        return min(lower, self._fewer_images_gate())

    def _fewer_images_gate(self) -> int:
        """The lowest level a step down may reach from the current one.

        Levels that draw fewer images (draw_stride > 1) are the only ones a visitor
        sees as choppy motion; they are reached only from the last level that still
        draws every image, after an overload there. Why: a burst of late frames
        while the speech models answer made the governor jump straight from 512 px to
        12.5 images a second and hold it for the whole up hold (up to 10 s); the level
        above it, 256 px with the camera at 2.5 a second, already frees most of the
        CPU and keeps 25 images a second."""
        full_rate = [i for i, level in enumerate(self.ladder) if level.draw_stride == 1]
        last_full = max(full_rate, default=len(self.ladder) - 1)
        return len(self.ladder) - 1 if self.level >= last_full else last_full

    def _change(self, now: float, target: int, direction: Literal["down", "up"], why: str,
                busy: float) -> QualityChange:
        if direction == "down" and self._up_at is not None and now - self._up_at < self.params.flap_secs:
            self._up_secs = min(self.params.max_up_secs, 2 * self._up_secs)  # it flapped
        elif direction == "up":
            if self._up_at is not None and now - self._up_at > 3 * self.params.max_up_secs:
                self._up_secs = self.params.up_secs  # stable for long: forgive
            self._up_at = now
        self._floor_load = self.load_at(floor_index(self.ladder), busy)  # before it moves
        previous, self.level = self.level, target
        self._moved = (previous, busy)  # learned once the new level is measured
        self._changed_at = now
        self._settle_until = now + self.params.settle_secs
        self._samples.clear()  # the old level's load says nothing of the new one
        quality = self.ladder[target]
        return QualityChange(target, quality, previous, direction,
                             f"{why}: {quality.describe()}", busy)


__all__ = ["BLOCK_FRAMES", "FLOOR_CAMERA_FPS", "FLOOR_SIZE", "GovernorParams", "QualityChange",
           "QualityGovernor", "QualityLevel", "floor_index", "quality_ladder"]
