"""Figure: bench/results/kiosk.json and kiosk.png (voice-to-voice of each turn by
phase): the kiosk page in real headless Chromium against `avatar-forcing serve`,
the face on against voice only, alternated.

The face arm asks the page to draw the face itself (`?render=client`: WebGL2 from the
server's motion frames, here in software, SwiftShader), falling back to the server's
JPEGs where WebGL2 fails; each block records which (`render`: the page's
`stats().render.mode`, its fallbacks and why). The page as a kiosk opens it (`/`)
draws only where its WebGL2 has a GPU and asks for the server's pixels where WebGL2 is
drawn on the CPU (9c60a03), so on a box without a GPU the kiosk's own default is the
`--pixels-too` arm: a face arm the server draws (`?render=pixels`). `--lip-sync` adds a
drawn-face arm whose page reads its
own canvas back over each reply (a box round the lips against the voice it played,
benchkit/webrtc/page_lip_sync.py: lip-sync r and A/V offset as the visitor sees them);
that arm's reading costs the page CPU, so its voice-to-voice is kept apart from the
ratios.

The server runs in its own process on the product's embedded defaults (what
`make run` serves); Chromium opens its page at `/` with a fake microphone
(questions spoken by the bundled piper voice, placed on a silent track) and a
fake camera (a real face animated by our renderer, benchkit/browser_media.py).
Everything is measured by the page itself, through `window.kiosk`:

- browser_voice_to_voice_ms: per turn, the reply's first audible audio (the
  playback worklet's voiced-sample counter starting to grow) minus the last
  20 ms mic chunk above speech level before it (the end of the question as the
  page captured it), split at the server's events (input: to user-stopped-speaking,
  server: to bot-started-speaking, output: to heard);
- browser_video_fps: avatar images drawn on the canvas per second (drawn by the page:
  WebGL draws, up to the display's rate; pixels: JPEGs drawn), over the whole block;
  browser_video_fps_in_replies: the same over the page's polls a reply was heard
  through (the rate the issue's goal is for: between replies an idle image that only
  repeats the held one is left out by design);
- browser_av_offset_ms: the page's audio clock minus the pts of the frame it drew.

Phases alternate: the run is `--rounds` rounds, each a block of `--block-turns`
questions with the face on and a block voice only (`?video=0`) (and one of each
added arm), the order turning round each round (`round_order`: over 2 x arms rounds
each arm asks in each place as often as the others, and so with each wording),
each block a fresh page on
the same warm server. Five turns a phase on servers of their own gave x1.22-1.95
for the same code (issue 68): the machine's drift over minutes lands on both phases
alike this way. The LLM server keeps the KV of the prompt before (llama.cpp reuses
the longest common prefix), so a question asked again right after would skip its
prompt evaluation: each block of a round asks the round's topics in a wording of
its own on its server (`TOPICS`, four wordings; `round_wordings`: with `--against`
each side's server has its own LLM server, so the sides ask the same wordings and a
side's arms, at most four, share them out), and rounds ask different topics.

`--this REV` runs this side from REV's worktree instead of the working tree. With
`--against REV` a second server runs REV's product (a git worktree,
benchkit/revision_tree.py) and each round adds a face block and a voice-only block on
it: before and after in one run, each side's face against its own voice only. The
server not in use is stopped (SIGSTOP, its whole tree) so its idle sessions cost the
other nothing. Both sides are treated alike: within a round the blocks alternate
between the sides, and with more than one side every measured block is preceded by
an uncounted one-turn block on its server (`RESUME_QUESTION`), so no block is a
server's first turn after SIGCONT (`--no-resume-warmup`: not). Until session 33 the
voice-only blocks were this side's alone, so this side often went on warm from one
block to the next while a REV's face block was always its server's first turn after
SIGCONT, and this side read 70-95 ms of voice to voice faster whichever commit it ran.

Where the cores went: `benchkit/kiosk/turn_cpu.py` samples every process's CPU from /proc
(Chromium by process type, the server's own process, its face workers, the LLM
server) and each turn's window, from the visitor's last word to the reply heard,
is read back (`turn_window_cores`), beside the whole block's (`block_cores`).

Prints one JSON object (last line) with the machine's load average.

    .venv/bin/python bench/kiosk/kiosk.py [--rounds 6] [--block-turns 2] [--against REV]
        [--pixels-too] [--lip-sync] [--soak-secs 0] [--llm-nice N] [--face-nice N] [--face-cpu K]

Runs: ~7 min on its defaults (measured from a fresh clone, session 33: 6 rounds x 2 arms = 12 blocks of ~30 s, and the start); each added arm ~3 min more. With `--against REV`: ~3 min a round (measured, 6 rounds 18 min; 4 arms, each block after an uncounted warm-up turn), ~4.5 min with `--pixels-too --lip-sync` too.
Quoted: docs/RESULTS.md, "The product at a glance": heard in Chromium, face / voice p50 0.86 s / 0.57 s (x1.51); JS heap +0.004 MB/min
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from avatar.procfs import descendants
from benchkit.bench_args import save_plot
from benchkit.browser_media import speak, write_fake_camera_y4m, write_fake_mic_wav
from benchkit.kiosk.kiosk_page import kiosk_page, plot_heap, soak, stats
from benchkit.kiosk.kiosk_server import free_port, product_server
from benchkit.kiosk.turn_cpu import CpuTimeline, kiosk_groups, shares
from benchkit.live.placement import add_placement_arguments, embedded_llm_pid, placement_from
from benchkit.paths import ROOT
from benchkit.revision_tree import baseline_tree
from benchkit.stats import paired_interval_90, pct
from benchkit.webrtc.page_lip_sync import MIN_CORRELATION, face_png, mouth_box, page_lip_sync

#: one topic a round, each in four wordings: the blocks of a round ask the same things
#: without one block's prompt being the prefix the LLM server kept from the block before.
#: Every wording is answered from a fact, without the LLM, typed and as whisper hears
#: piper say it (checked with `plan_turn` on the shipped file): until session 31 half
#: the topics had a wording that went to the LLM, so an arm's p50 rested on how many
#: such wordings its places drew (1-5 LLM turns of 12 an arm), not on the face. These
#: are the turns where the face's cost shows: an LLM turn hides it behind its own time.
TOPICS = [
    ("What time do you open on Sunday?", "When do you open on Sundays?",
     "On Sunday, what time do you open?", "Are you open on Sunday morning?"),
    ("Where can I find the shoes?", "Where are the shoes?", "Which way to the shoes?",
     "I am looking for shoes, where are they?"),
    ("Do you have a cafe here?", "Is there a cafe in the store?", "Can I get a coffee here?",
     "Is there somewhere to eat in the store?"),
    ("Can I return something without a receipt?", "Is a return possible without the receipt?",
     "Can I bring something back with no receipt?", "Can I return things without a receipt?"),
    ("Is there parking for bicycles?", "Where can I park my bike?",
     "Do you have bicycle parking?", "Is there a bike rack outside?"),
    ("Where are the toilets?", "Where is the restroom?", "Is there a toilet here?",
     "Where can I find the toilets?"),
    ("Do you sell garden furniture?", "Can I buy garden furniture here?",
     "Where is the garden furniture?", "Do you have garden furniture?"),
    ("How late are you open today?", "When do you close today?",
     "What time do you close tonight?", "Until when are you open today?"),
    ("Can I pay with a card?", "Can I pay by credit card?", "Can I use my card to pay?",
     "Can I pay by debit card?"),
    ("Where do I pick up an online order?", "Where is the online order pickup?",
     "I ordered online, where do I collect it?", "Where is click and collect?"),
    ("Do you deliver to my home?", "Do you do home delivery?", "Can you deliver things to my home?",
     "Could you bring this to my house?"),
    ("Is there a lift to the first floor?", "Where is the elevator?",
     "Is there a lift in the store?", "Is there a lift I can take upstairs?"),
]
#: asked once on each server in each of its arms (face, voice only) before its measured
#: blocks, unmeasured: a server's first turn warms its models and the LLM's cached system
#: prompt, as every visitor but the first finds them (a voice-only first turn was slow
#: after a face warm-up alone)
WARMUP_QUESTIONS = ["Hello, can you help me?"]
#: asked, uncounted, on a server just continued (SIGCONT) before each measured block
#: where there are two sides: its first turn after a stop is not measured (answered
#: from a fact, so it leaves the LLM server's cached prompt as it was)
RESUME_QUESTION = TOPICS[-1][0]
LEAD_SECS = 4.0  # page start to its first question: the session is up and drawing
TURN_GAP_SECS = 12.0  # question to question: room for a two-sentence answer
RESULTS = ROOT / "bench" / "results"


#: who draws the face in a face arm, as the page's URL asks it: "drawn" the page (even on
#: a WebGL drawn on the CPU, where the page left to choose asks for pixels; falling back
#: to pixels where WebGL2 fails), "pixels" the server
FACE_QUERIES = {"drawn": "?render=client", "pixels": "?render=pixels"}


@dataclass
class Arm:
    """One kind of block: a server (this tree or REV's), face on or voice only, who
    draws the face (None: the page's default, for REV's older page), and whether the
    page reads its own canvas back (lip sync)."""

    side: str
    video: bool
    render: str | None = None
    lip_sync: bool = False
    turns: list[dict[str, Any]] = field(default_factory=list)
    blocks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def name(self) -> str:
        if not self.video:
            return f"voice only @ {self.side}"
        drawn_by = f" {self.render}" if self.render else ""
        read = ", canvas read back" if self.lip_sync else ""
        return f"face{drawn_by}{read} @ {self.side}"

    @property
    def query(self) -> str:
        """The page's URL query for this arm."""
        return FACE_QUERIES[self.render or "drawn"] if self.video else "?video=0"


@dataclass
class MouthBox:
    """The box round the lips on the page's face, found once a run (the face is the
    same portrait at the same size in every block)."""

    box: dict[str, float] | None = None

    async def of(self, page: Any) -> dict[str, float]:
        if self.box is None:
            try:
                self.box = mouth_box(await face_png(page))
            except RuntimeError:  # a WebGL canvas read outside its frame may come back empty
                self.box = mouth_box(await page.locator("#avatar").screenshot())
        return self.box


def mic_track(models: Any, questions: list[str], folder: Path, name: str) -> Path:
    """The questions TURN_GAP_SECS apart on a silent track, from LEAD_SECS."""
    return write_fake_mic_wav(folder / f"{name}.wav", [
        (LEAD_SECS + i * TURN_GAP_SECS, speak(models, text)) for i, text in enumerate(questions)])


async def page_clock(page: Any) -> float:
    """This process's monotonic clock minus the page's performance.now() (s)."""
    before = time.monotonic()
    now = await page.evaluate("performance.now()")
    return (before + time.monotonic()) / 2 - float(now) / 1000


def turn_windows(client: dict[str, Any], offset: float
                 ) -> list[tuple[float, float, float, float] | None]:
    """Each recorded turn's last loud word, user-stopped-speaking, bot-started-speaking and
    reply heard on the bench's clock, from the page's turn parts and the event times
    they were split at (None: not split)."""
    windows: list[tuple[float, float, float, float] | None] = []
    stops, starts = client["stops"], client["starts"]
    for part in client["parts"]:
        found = None
        if part["input"] is not None and part["server"] is not None:
            for stop in stops:
                if any(abs(start - stop - part["server"]) < 1e-3 for start in starts):
                    spoke = stop - part["input"]
                    found = tuple(offset + ms / 1000 for ms in (
                        spoke, stop, stop + part["server"], spoke + part["v2v"]))
                    break
        windows.append(found)  # type: ignore[arg-type]
    return windows


#: a poll counts as inside a reply when the page played at least this share of it as voice
IN_REPLY_VOICED_SHARE = 0.8


def fps_in_replies(samples: list[tuple[float, int, float]]) -> float | None:
    """Images drawn a second while a reply is heard: over the page's polls (its clock in
    ms, images drawn, voiced seconds played) whose interval the page played as voice for
    at least `IN_REPLY_VOICED_SHARE` of it. The block's whole rate also counts the waits
    between replies, where an idle image that only repeats the held one is left out by
    design (docs/LIVE_AVATAR.md); the issue's rate is the reply's. None: no such poll."""
    drawn = secs = 0.0
    for (t0, d0, v0), (t1, d1, v1) in zip(samples, samples[1:], strict=False):
        wall = (t1 - t0) / 1000
        if wall > 0 and (v1 - v0) >= IN_REPLY_VOICED_SHARE * wall:
            drawn += d1 - d0
            secs += wall
    return round(drawn / secs, 2) if secs > 0 else None


def part_cpu_secs(timeline: CpuTimeline, window: tuple[float, float, float, float]
                  ) -> dict[str, dict[str, float]]:
    """CPU seconds by group in each part of a turn (input, server, output) and in all."""
    spoke, stop, start, heard = window
    return {"all": timeline.secs(spoke, heard), "input": timeline.secs(spoke, stop),
            "server": timeline.secs(stop, start), "output": timeline.secs(start, heard)}


async def block(http: str, wav: Path, y4m: Path, turns: int, *, arm: Arm,
                timeline: CpuTimeline, mouth: MouthBox) -> dict[str, Any]:
    """One fresh page asking `turns` questions: what the page measured, with the CPU
    of each turn's window and of the whole block by group (and, for a lip-sync arm,
    the mouth on its canvas against the voice it played)."""
    from playwright.async_api import Error as PageError

    video = arm.video
    probing = False
    async with kiosk_page(http, wav, y4m, arm.query) as page:
        offset = await page_clock(page)
        start = time.monotonic()
        first = None
        polls: list[tuple[float, int, float]] = []  # (page ms, images drawn, voiced s)
        while (elapsed := time.monotonic() - start) < LEAD_SECS + turns * TURN_GAP_SECS:
            now = await stats(page)
            polls.append((now["now"], now["framesDrawn"], now.get("voicedSecs", 0.0)))
            if first is None and now["connected"]:
                first = now
            if arm.lip_sync and not probing and now["framesDrawn"] > 10:
                box = await mouth.of(page)
                try:
                    await page.evaluate("(box) => window.kiosk.probe(box)", box)
                    probing = True
                except PageError as error:  # its audio not yet playing: the next poll
                    print(f"  the page's probe did not start yet: {error.message}", flush=True)
            if (len(now["voiceToVoiceMs"]) >= turns  # the last reply heard: the block is done
                    and elapsed > LEAD_SECS + (turns - 1) * TURN_GAP_SECS + 4):
                break
            await asyncio.sleep(0.5)
        last = await stats(page)
        client = await page.evaluate(
            "(() => { const c = window.kiosk.client; return {parts: c.turnParts,"
            " stops: c.eventTimes['user-stopped-speaking'],"
            " starts: c.eventTimes['bot-started-speaking']}; })()")
        trace = await page.evaluate("window.kiosk.probeTrace()") if probing else None
        end = time.monotonic()
    assert first is not None, "the page never connected"
    span = (last["now"] - first["now"]) / 1000
    windows = turn_windows(client, offset)
    render = last.get("render") or {}  # (an older REV's page has none)
    return {
        "video": video,
        # who drew the face at the block's end, and whether the page gave up drawing
        "render": {"asked": arm.render, "mode": render.get("mode", "pixels"),
                   "fallbacks": render.get("fallbacks", 0),
                   "fallback_reason": render.get("fallbackReason"),
                   "assets_load_ms": render.get("assetsLoadMs"),
                   "assets_bytes": render.get("assetsBytes"),
                   "motion_received": render.get("motionReceived"),
                   "motion_late": render.get("motionLate")} if video else None,
        "video_fps": round((last["framesDrawn"] - first["framesDrawn"]) / span, 2) if video else None,
        "video_fps_in_replies": fps_in_replies(polls) if video else None,
        "frames_received_per_s": round((last["framesReceived"] - first["framesReceived"]) / span, 2)
        if video else None,
        "frame_gap_ms_max": last.get("frameGapMsMax"),
        "lip_sync": None if trace is None else page_lip_sync(trace),
        "av_offset_ms_p95_abs": last["avOffsetMsP95"],
        "voice_to_voice_ms": [round(v) for v in last["voiceToVoiceMs"]],
        "turn_parts": [{k: None if v is None else round(v) for k, v in part.items()}
                       for part in client["parts"]],
        "windows": windows,
        "window_cpu_secs": [None if w is None else part_cpu_secs(timeline, w) for w in windows],
        "block_cores": shares(timeline.secs(start, end), end - start),
        "underruns": last["underruns"],
        "voice_underruns": last.get("voiceUnderruns"),
        "onset_holds": last.get("onsetHolds"),
        "idle_skipped_secs": last.get("idleSkippedSecs"),  # (an older REV's page has none)
        "voice_breaks": last.get("voiceBreaks"),
        "camera_sent": last.get("cameraSent"),
        "load_1min": round(os.getloadavg()[0], 2),
    }


@contextlib.contextmanager
def stopped_when_idle(pids: dict[str, int]) -> Iterator[Any]:
    """`use(side)`: continue that server's tree and stop the others' (all continued at the end)."""

    def signal_tree(pid: int, sig: signal.Signals) -> None:
        for member in [pid, *descendants(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(member, sig)

    def use(side: str | None) -> None:
        for name, pid in pids.items():
            signal_tree(pid, signal.SIGCONT if name == side else signal.SIGSTOP)

    try:
        yield use
    finally:
        for pid in pids.values():
            signal_tree(pid, signal.SIGCONT)


def arm_summary(arm: Arm) -> dict[str, Any]:
    """An arm's turns: p50, parts, fps, and the cores its turns' windows took by group."""
    v2v = [t["v2v"] for t in arm.turns]
    bounds = {"all": (0, 3), "input": (0, 1), "server": (1, 2), "output": (2, 3)}
    part_cores: dict[str, dict[str, float]] = {}
    for part, (first, last) in bounds.items():
        wall = sum(t["window"][last] - t["window"][first] for t in arm.turns if t["window"])
        secs: dict[str, float] = {}
        for turn in arm.turns:
            for group, value in (turn["cpu_secs"] or {}).get(part, {}).items():
                secs[group] = secs.get(group, 0.0) + value
        part_cores[part] = shares(secs, wall)
    block_cores: dict[str, float] = {}
    for b in arm.blocks:
        for group, value in b["block_cores"].items():
            block_cores[group] = block_cores.get(group, 0.0) + value / len(arm.blocks)
    fps = [b["video_fps"] for b in arm.blocks if b["video_fps"] is not None]
    fps_replies = [b["video_fps_in_replies"] for b in arm.blocks
                   if b.get("video_fps_in_replies") is not None]
    modes = [b["render"]["mode"] for b in arm.blocks if b.get("render")]
    parts = {name: pct([t["parts"][name] for t in arm.turns
                        if t["parts"].get(name) is not None], 50)
             for name in ("input", "server", "output")}
    return {
        "turns": len(v2v),
        "voice_to_voice_ms_p50": pct(v2v, 50),
        "voice_to_voice_ms_p95": pct(v2v, 95),
        "voice_to_voice_ms": v2v,
        "turn_parts_ms_p50": parts,
        "video_fps": round(float(np.mean(fps)), 2) if fps else None,
        "video_fps_in_replies": round(float(np.mean(fps_replies)), 2) if fps_replies else None,
        "render_modes": {mode: modes.count(mode) for mode in sorted(set(modes))},
        "render_fallbacks": sum(b["render"]["fallbacks"] for b in arm.blocks if b.get("render")),
        "lip_sync": lip_sync_summary(arm) if arm.lip_sync else None,
        "av_offset_ms_p95_abs_worst": max((b["av_offset_ms_p95_abs"] for b in arm.blocks
                                           if b["av_offset_ms_p95_abs"] is not None), default=None),
        "turn_window_cores": part_cores.pop("all"),
        "turn_part_cores": part_cores,
        "block_cores": {g: round(v, 3) for g, v in sorted(block_cores.items(), key=lambda x: -x[1])},
    }


def side_summary(arms: list[Arm], side: str) -> dict[str, Any]:
    """One server's face arm (its first) and voice-only arm: p50s, parts, their ratio."""
    face = next(a for a in arms if a.side == side and a.video)
    voice = next((a for a in arms if a.side == side and not a.video), None)
    v2v = {"face": [t["v2v"] for t in face.turns],
           "voice": [t["v2v"] for t in voice.turns] if voice else []}
    return {
        "face": face.name, "voice_only": voice.name if voice else None,
        "voice_to_voice_ms_p50": pct(v2v["face"], 50),
        "voice_to_voice_ms_p50_voice_only": pct(v2v["voice"], 50) if voice else None,
        "turn_parts_ms_p50": arm_summary(face)["turn_parts_ms_p50"],
        "turn_parts_ms_p50_voice_only": arm_summary(voice)["turn_parts_ms_p50"] if voice else None,
        "ratio": ratio(v2v["face"], v2v["voice"]),
    }


def lip_sync_summary(arm: Arm) -> dict[str, Any]:
    """The arm's replies pooled: how well the mouth on the canvas followed the voice
    (r at the best lag, per reply) and by how much it lagged (the followed ones)."""
    replies = [r for b in arm.blocks if b.get("lip_sync") for r in b["lip_sync"]["per_reply"]]
    followed = [r for r in replies if r["r"] >= MIN_CORRELATION]
    return {
        "replies": len(replies),
        "replies_followed": len(followed),
        "r_p50": round(float(np.median([r["r"] for r in replies])), 2) if replies else None,
        "r": [r["r"] for r in replies],
        "lag_ms_p50": pct([r["lag_ms"] for r in followed], 50),
        "abs_lag_ms_p95": pct([abs(r["lag_ms"]) for r in followed], 95),
        "lag_ms": [r["lag_ms"] for r in followed],
    }


def _git(*args: str) -> str:
    found = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                           check=False)
    return found.stdout


def ratio(face: list[float], voice: list[float]) -> float | None:
    return round(float(np.median(face) / np.median(voice)), 3) if face and voice else None


def rounds_bootstrap(face: Arm, voice: Arm, rounds: int) -> list[float] | None:
    """A 90 % interval of the whole run's ratio, rounds drawn again with replacement
    (`benchkit.stats.paired_interval_90`: each round's turns of both arms together, so a
    slow topic stays paired): how far another run of as many rounds would likely read."""
    interval = paired_interval_90(
        [([t["v2v"] for t in face.turns if t["round"] == r],
          [t["v2v"] for t in voice.turns if t["round"] == r]) for r in range(rounds)], ratio)
    return None if interval is None else [round(v, 3) for v in interval]


def spread(face: Arm, voice: Arm, rounds: int) -> dict[str, Any]:
    """The face arm's ratio to voice only: over all turns, each round's, each half's."""
    by_round = [ratio([t["v2v"] for t in face.turns if t["round"] == r],
                      [t["v2v"] for t in voice.turns if t["round"] == r]) for r in range(rounds)]
    half = rounds // 2
    halves = [ratio([t["v2v"] for t in face.turns if (t["round"] < half) == first],
                    [t["v2v"] for t in voice.turns if (t["round"] < half) == first])
              for first in (True, False)]
    return {"ratio": ratio([t["v2v"] for t in face.turns], [t["v2v"] for t in voice.turns]),
            "ratio_interval_90": rounds_bootstrap(face, voice, rounds),
            "ratio_by_round": by_round, "ratio_by_half": halves,
            "ratio_without_first_round": ratio([t["v2v"] for t in face.turns if t["round"]],
                                               [t["v2v"] for t in voice.turns if t["round"]])}


def plot(arms: list[Arm], out: Path) -> None:
    """Each turn's voice-to-voice in the order asked, by arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.2))
    for arm, marker in zip(arms, "os^v", strict=False):
        turns = sorted(arm.turns, key=lambda t: t["at"])
        axis.plot([t["order"] for t in turns], [t["v2v"] for t in turns], marker, ls="",
                  label=f"{arm.name}: p50 {pct([t['v2v'] for t in turns], 50)} ms")
    axis.set_xlabel("turn, in the order asked (blocks alternate)")
    axis.set_ylabel("voice-to-voice (ms)")
    highest = max((t["v2v"] for arm in arms for t in arm.turns), default=1000)
    axis.set_ylim(0, highest * 1.4)  # room for the legend above the turns
    axis.grid(alpha=0.3)
    save_plot(figure, axis, out)


def interleaved(arms: list[Arm]) -> list[Arm]:
    """The arms in the order a round starts from: one of each side's in turn (its face,
    then the next side's face, then each side's voice only, ...), so that with sides of
    as many arms the blocks of a round alternate between the servers."""
    sides: dict[str, list[Arm]] = {}
    for arm in arms:
        sides.setdefault(arm.side, []).append(arm)
    longest = max(len(own) for own in sides.values())
    return [own[k] for k in range(longest) for own in sides.values() if k < len(own)]


def round_wordings(played: list[Arm], r: int) -> list[tuple[Arm, int]]:
    """Round `r`'s blocks in the order they ask, each with the wording it asks in (an
    index into a topic's wordings): the block's place among its own server's blocks,
    in `round_order` of that server's arms. Distinct wordings keep a server's LLM from
    finding a block's prompt cached from the block before; each side runs its own
    server (and LLM server), so the sides reuse each other's wordings, and
    `--against` with `--pixels-too` and `--lip-sync` needs no more than a topic's
    four. With one side this is the block's place in the round, as before session 34;
    on each side every arm asks in each wording as often as its side's others over
    2 x its arms rounds, as `round_order` gives them places."""
    sides: dict[str, list[Arm]] = {}
    for arm in played:
        sides.setdefault(arm.side, []).append(arm)
    wording = {id(arm): k for own in sides.values() for k, arm in enumerate(round_order(own, r))}
    return [(arm, wording[id(arm)]) for arm in round_order(played, r)]


def round_order(arms: list[Any], r: int) -> list[Any]:
    """Round `r`'s arms in the order they ask (a block's place also picks its wording):
    turned round by `r`, and backwards in every other cycle of len(arms) rounds, so that
    over 2 x len(arms) rounds each arm asks in each place as often as the others. (Until
    session 29 every odd round was the turned order reversed, which for two arms is the
    first round's order again: the face asked first, in the first wording, every round.)"""
    n = len(arms)
    turned = arms[r % n:] + arms[: r % n]
    return turned[::-1] if (r // n) % 2 else turned


def arms_of(args: argparse.Namespace) -> list[Arm]:
    """The run's arms: this side's face and voice only (and the added arms), then each
    REV's face and voice only. Stops where a side has more arms than a topic wordings."""
    arms = [Arm("this", True, args.render), Arm("this", False),
            *([Arm("this", True, "pixels")] if args.pixels_too else []),
            *([Arm("this", True, "drawn", lip_sync=True)] if args.lip_sync else []),
            *[arm for rev in args.against
              for arm in (Arm(rev, True, None if args.render == "drawn" else args.render),
                          Arm(rev, False))]]
    wordings = len(TOPICS[0])
    per_side = max(sum(arm.side == a.side for arm in arms) for a in arms)
    if per_side > wordings:  # (this side has at most four: face, voice, pixels, lip sync)
        raise SystemExit(f"{per_side} arms on one side, but each topic has {wordings} wordings")
    return arms


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.speech.models import SpeechModels

    sides = {"this": baseline_tree(args.this) if args.this else ROOT,
             **{rev: baseline_tree(rev) for rev in args.against}}
    arms = arms_of(args)
    played = interleaved(arms)
    resume_warmup = len(sides) > 1 and not args.no_resume_warmup
    if args.rounds * args.block_turns > len(TOPICS):
        raise SystemExit(f"--rounds x --block-turns asks more than the {len(TOPICS)} topics")
    per_side = max(sum(arm.side == side for arm in arms) for side in sides)
    models = SpeechModels.bundled()
    folder = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    tracks = {(r, j): mic_track(models, [TOPICS[r * args.block_turns + t][j]
                                         for t in range(args.block_turns)], folder, f"r{r}w{j}")
              for r in range(args.rounds) for j in range(per_side)}
    warm = mic_track(models, WARMUP_QUESTIONS, folder, "warm")
    resume = mic_track(models, [RESUME_QUESTION], folder, "resume")
    soak_wav = write_fake_mic_wav(folder / "soak.wav", [(1.5, speak(models, TOPICS[0][0])),
                                                        (27.0, bytes(2 * 16000))])
    y4m = write_fake_camera_y4m(folder / "camera.y4m", seconds=4.0)
    del models
    load_before = os.getloadavg()
    placement = placement_from(args)
    order = 0
    failed: list[str] = []
    resume_warmups = 0
    mouth = MouthBox()
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(product_server(free_port(), root))
                   for name, root in sides.items()}
        pids = {name: pid for name, (_, pid) in servers.items()}
        llms = {name: embedded_llm_pid(pid) for name, pid in pids.items()}
        use = stack.enter_context(stopped_when_idle(pids))
        timeline = stack.enter_context(CpuTimeline(kiosk_groups(pids, llms)))
        for name, (http, pid) in servers.items():
            use(name)
            async with placement.kept(pid, llms[name]):  # each kind of page, once
                warmed: set[str] = set()
                for arm in sorted([a for a in arms if a.side == name], key=lambda a: not a.lip_sync):
                    if arm.query not in warmed:  # (a lip-sync arm finds its mouth box here)
                        warmed.add(arm.query)
                        await block(http, warm, y4m, 1, arm=arm, timeline=timeline, mouth=mouth)
        for r in range(args.rounds):
            for arm, j in round_wordings(played, r):
                http, pid = servers[arm.side]
                use(arm.side)
                print(f"round {r + 1}/{args.rounds}: {arm.name}", flush=True)
                try:
                    async with placement.kept(pid, llms[arm.side]):
                        if resume_warmup:  # its first turn after SIGCONT, not counted
                            await block(http, resume, y4m, 1, arm=arm, timeline=timeline,
                                        mouth=mouth)
                            resume_warmups += 1
                        measured = await block(http, tracks[(r, j)], y4m, args.block_turns,
                                               arm=arm, timeline=timeline, mouth=mouth)
                except Exception as error:  # one lost block must not lose the run
                    print(f"  block failed: {error!r}", flush=True)
                    failed.append(f"round {r}, {arm.name}: {error!r}")
                    continue
                arm.blocks.append(measured)
                for k, v2v in enumerate(measured["voice_to_voice_ms"]):
                    window = measured["windows"][k] if k < len(measured["windows"]) else None
                    arm.turns.append({
                        "round": r, "order": order + k, "at": (window or (0.0,))[0], "v2v": v2v,
                        "parts": measured["turn_parts"][k], "window": window,
                        "cpu_secs": measured["window_cpu_secs"][k] if window else None})
                order += args.block_turns
        use("this")
        load_after = os.getloadavg()
        soaked = None
        if args.soak_secs > 0:
            soaked = await soak(servers["this"][0], soak_wav, y4m, args.soak_secs)
    face, voice = arms[0], arms[1]
    pixels = next((arm for arm in arms[1:] if arm.render == "pixels" and arm.side == "this"),
                  None)
    read_back = next((arm for arm in arms if arm.lip_sync), None)
    lip_sync = lip_sync_summary(read_back) if read_back else None
    result: dict[str, Any] = {
        "browser_video_fps": arm_summary(face)["video_fps"],
        "browser_video_fps_in_replies": arm_summary(face)["video_fps_in_replies"],
        "browser_render_modes": arm_summary(face)["render_modes"],
        "browser_voice_to_voice_ms_p50": pct([t["v2v"] for t in face.turns], 50),
        "browser_voice_to_voice_ms_p50_voice_only": pct([t["v2v"] for t in voice.turns], 50),
        "face_over_voice_only": spread(face, voice, args.rounds),
        **({"browser_voice_to_voice_ms_p50_pixels": pct([t["v2v"] for t in pixels.turns], 50),
            "browser_video_fps_pixels": arm_summary(pixels)["video_fps"],
            "face_over_voice_only_pixels": spread(pixels, voice, args.rounds)} if pixels else {}),
        "lip_sync_canvas": lip_sync,
        # a REV's face against this side's voice only (before session 33 its only ratio)
        **{f"face_over_voice_only_against_{arm.side}": spread(arm, voice, args.rounds)
           for arm in arms if arm.side != "this" and arm.video},
        # a REV's face against its own voice only: the figure to compare with this side's
        **{f"face_over_voice_only_own_{rev}": spread(
            next(a for a in arms if a.side == rev and a.video),
            next(a for a in arms if a.side == rev and not a.video), args.rounds)
           for rev in args.against},
        # a REV's voice only against this side's: the two servers alike, were it not for
        # their product (about 1 where both sides run the same commit)
        **{f"voice_only_{rev}_over_this": spread(
            next(a for a in arms if a.side == rev and not a.video), voice, args.rounds)
           for rev in args.against},
        "sides": {side: side_summary(arms, side) for side in sides},
        "resume_warmup": resume_warmup,
        "resume_warmups": resume_warmups,
        "round_start_order": [arm.name for arm in played],
        "arms": {arm.name: arm_summary(arm) for arm in arms},
        "blocks": {arm.name: arm.blocks for arm in arms},
        "blocks_failed": failed,
        "heap_mb_after_soak": soaked["heap_mb_end"] if soaked else None,
        "soak": soaked,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after_conversations": [round(x, 2) for x in load_after],
        "load_avg_end": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
        "placement": placement.label,
        # what "this" ran beyond its commit (the working tree is shared)
        "this_commit": args.this or _git("rev-parse", "--short", "HEAD").strip(),
        "this_uncommitted": [] if args.this else _git(
            "status", "--porcelain", "--", "avatar", "pipelines", "agent").splitlines(),
        "method": (f"{args.rounds} rounds of {args.block_turns}-question blocks, phases "
                   "alternated on one warm server each, the idle server stopped"
                   + (", each side its own voice only, the sides alternated, an uncounted "
                      "turn before each block" if resume_warmup else "")),
    }
    result["goals"] = {
        "ratio_le_1_1": (result["face_over_voice_only"]["ratio"] or 9) <= 1.1,
        "v2v_p50_le_900ms": (result["browser_voice_to_voice_ms_p50"] or 9e9) <= 900,
        "fps_ge_24": (result["browser_video_fps"] or 0) >= 24,
        "fps_in_replies_ge_24": (result["browser_video_fps_in_replies"] or 0) >= 24,
        **({"lip_sync_r_ge_0_7": (lip_sync["r_p50"] or 0) >= 0.7,
            "av_offset_le_40ms": (lip_sync["abs_lag_ms_p95"] or 9e9) <= 40} if lip_sync else {}),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    plot(arms, args.out.with_suffix(".png"))
    if soaked:
        plot_heap(soaked["heap_samples"], args.out.with_name(args.out.stem + "_heap.png"))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6,
                        help="rounds, each a block of every arm (face, voice only, the added arms, "
                             "each REV's face)")
    parser.add_argument("--block-turns", type=int, default=2, help="questions per block")
    parser.add_argument("--against", action="append", default=[], metavar="REV",
                        help="also a face block and a voice-only block on REV's product "
                             "each round (repeatable)")
    parser.add_argument("--no-resume-warmup", action="store_true",
                        help="with --against, no uncounted turn on a server before each "
                             "measured block (its first turn after SIGCONT is then measured)")
    parser.add_argument("--this", metavar="REV", default=None,
                        help="run 'this' side from REV's worktree, not the working tree "
                             "(which others may be editing)")
    parser.add_argument("--pixels-too", action="store_true",
                        help="also a face arm drawn by the server (?render=pixels) each round")
    parser.add_argument("--render", choices=sorted(FACE_QUERIES), default="drawn",
                        help="who draws the face arms, this side's and each REV's: the page "
                             "(WebGL2) or the server (pixels: the kiosk page's own choice where "
                             "its WebGL2 is software, as on a kiosk box without a GPU)")
    parser.add_argument("--lip-sync", action="store_true",
                        help="also a drawn-face arm whose page reads its canvas back over each "
                             "reply: lip-sync r and A/V offset as shown (its turns kept apart)")
    parser.add_argument("--soak-secs", type=float, default=0.0,
                        help="then the page open this long, its heap after GC (0: none)")
    parser.add_argument("--out", type=Path, default=RESULTS / "kiosk.json")
    add_placement_arguments(parser)
    arguments = parser.parse_args()
    if arguments.rounds < 2 or arguments.block_turns < 1 or arguments.soak_secs < 0:
        parser.error("--rounds must be >= 2, --block-turns >= 1, --soak-secs >= 0")
    if arguments.pixels_too and arguments.render == "pixels":
        parser.error("--pixels-too adds a pixels arm to a drawn face: not with --render pixels")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    output = asyncio.run(main(arguments))
    arguments.out.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps({k: v for k, v in output.items() if k != "blocks"}))
