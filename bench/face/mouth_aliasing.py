"""Figure: bench/results/mouth_aliasing_<tag>.json, the mouth's edges at 512 px against
the same frame drawn at 2x and scaled down.

What is measured. Each bench portrait (benchkit/portraits.py) draws speech-like mouth
frames (`FRAMES`: jaw 0.2-0.7, a smile with the jaw open, funnel, pucker, an "oo")
twice from the same 512 px portrait: at 512 px, as it ships, and at 1024 px (the
portrait scaled up, its landmarks scaled: the same geometry, the inverse map on the
same 128 x 128 grid), which is then scaled down to 512 with INTER_AREA (each pixel
the mean of four: what a 512 px picture of that drawing can hold). PSNR (dB) of the
512 px frame against that reference over the mouth (the outer-lip polygon of the
frame's moved vertices, grown by 3 px) and over a ring of skin around it (from 3 to
12 px outside the lips, where no mouth layer draws): the skin ring says how much the
warp's own resampling differs at 1x and 2x, the mouth's gap below it is the mouth's
aliasing. Before and after in one run: each side draws in a fresh process, "before"
with the mouth as it was before lips that round (`--flat-mouth`: no lips turned out,
the opening's mask and its edge distance at 1x) at both sizes, "after" as this tree
draws; the report gives both and the gain.

    .venv/bin/python bench/face/mouth_aliasing.py [--tag NAME] [--sheet PATH]
        [--speech-sheet PATH --against REV]

`--sheet` writes the default portrait's mouth at "jaw 0.45" and "oo" at 3x: before,
after and the 2x reference (a palette PNG).
`--speech-sheet` writes a contact sheet of real speech: the shipped generator speaks
`SPEECH_TEXT` with the bundled piper voice (as bench/face/mouth_realism.py's rounding figures
do), and the default portrait shows one frame at the middle of each of its first
`SPEECH_TILES` vowels (at most `SPEECH_PER_VOWEL` of each), labelled with the vowel, at
1x (the lower face) and at 3x (the mouth), revision REV's renderer (benchkit/revision_tree.py, its own calibration table)
above this tree's (a palette PNG).

Prints ONE JSON object (the summary) as the last stdout line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np

from avatar.motion import column_index
from avatar.portrait import Portrait
from avatar.render import PortraitRenderer
from avatar.render.mesh import LIPS_LOWER_OUTER, LIPS_UPPER_OUTER
from benchkit.load import load_average
from benchkit.paths import CACHE, RESULTS, ROOT
from benchkit.revision_tree import baseline_tree, path_with

FRAMES: tuple[tuple[str, dict[str, float]], ...] = (
    ("jaw 0.2", {"jawOpen": 0.2}), ("jaw 0.45", {"jawOpen": 0.45}),
    ("jaw 0.7", {"jawOpen": 0.7}),
    ("jaw 0.4 smile .3", {"jawOpen": 0.4, "mouthSmileLeft": 0.3, "mouthSmileRight": 0.3}),
    ("funnel 0.4", {"mouthFunnel": 0.4}), ("pucker 0.5", {"mouthPucker": 0.5}),
    ("oo", {"jawOpen": 0.12, "mouthFunnel": 0.35, "mouthPucker": 0.4}),
)
SHEET_FRAMES = ("jaw 0.45", "oo")
ZOOM = 3
SPEECH_TEXT = "Who knew you would go to the old boat so soon?"
SPEECH_TILES = 6  # vowels shown, at most SPEECH_PER_VOWEL of each
SPEECH_PER_VOWEL = 2
_OUTER = list(LIPS_UPPER_OUTER) + list(LIPS_LOWER_OUTER[-2:0:-1])


def motion_for(reference: np.ndarray, values: dict[str, float]) -> np.ndarray:
    """The reference with these blendshapes set (smiles added to the portrait's own)."""
    motion = np.asarray(reference, np.float32).copy()
    for key, value in values.items():
        col = column_index(key)
        motion[col] = min(1.0, motion[col] + value) if key.startswith("mouthSmile") else value
    return motion


def regions(renderer: PortraitRenderer, motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mouth, skin ring) bool masks of a 512 px frame: the outer lips grown by 3 px,
    and the skin from 3 to 12 px outside them."""
    xy, _ = renderer.vertices(motion)
    lips = np.zeros((renderer.size, renderer.size), np.uint8)
    cv2.fillPoly(lips, [np.round(xy[_OUTER] * 8).astype(np.int32)], 1, cv2.LINE_8, 3)
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    mouth = cv2.dilate(lips, grow)
    outer = cv2.dilate(lips, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (25, 25)))
    return mouth.astype(bool), (outer > 0) & (mouth == 0)


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """PSNR (dB, 8-bit) of a against b over the pixels `where`."""
    diff = a[where].astype(np.float64) - b[where].astype(np.float64)
    mse = max(float(np.mean(diff * diff)), 1e-6)
    return 10.0 * float(np.log10(255.0 ** 2 / mse))


def draw(names: list[str], portrait_cache: Path) -> dict[str, dict[str, np.ndarray]]:
    """Every portrait's FRAMES at 512 px and the 2x reference, scaled down."""
    from benchkit.portraits import fetch_portraits

    cv2.setNumThreads(1)
    paths = fetch_portraits(portrait_cache)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in names:
        portrait = Portrait.load(paths[name], 512)
        one = PortraitRenderer(portrait, 512, layered=False)
        two = PortraitRenderer(portrait, 1024, layered=False, map_step=2 * one.map_step)
        for label, values in FRAMES:
            motion = motion_for(one.reference, values)
            big = two.render(motion)
            out.setdefault(name, {})[label] = one.render(motion)
            out[name][label + " 2x"] = cv2.resize(big, (512, 512), interpolation=cv2.INTER_AREA)
    return out


def measure(frames: dict[str, dict[str, np.ndarray]], portrait_cache: Path,
            flat: bool = False) -> dict[str, Any]:
    """PSNR of each portrait's 512 px frames against their 2x references (the regions
    from the lips as that side drew them: `flat`, the flat mouth's)."""
    from avatar.render import renderer as drawing
    from benchkit.portraits import fetch_portraits

    paths = fetch_portraits(portrait_cache)
    per: dict[str, Any] = {}
    for name, drawn in frames.items():
        portrait = Portrait.load(paths[name], 512)
        blockers = drawing.rounding_blockers
        if flat:
            drawing.rounding_blockers = lambda image, landmarks: ["flat"]
        try:
            renderer = PortraitRenderer(portrait, 512, layered=False)
        finally:
            drawing.rounding_blockers = blockers
        rows = {}
        for label, values in FRAMES:
            mouth, ring = regions(renderer, motion_for(renderer.reference, values))
            rows[label] = {"mouth_db": round(psnr(drawn[label], drawn[label + " 2x"], mouth), 2),
                           "skin_ring_db": round(psnr(drawn[label], drawn[label + " 2x"], ring),
                                                 2)}
        per[name] = {"frames": rows,
                     "mouth_db_mean": round(float(np.mean([r["mouth_db"] for r in rows.values()])),
                                            2),
                     "skin_ring_db_mean": round(float(np.mean(
                         [r["skin_ring_db"] for r in rows.values()])), 2)}
    return {"per_portrait": per,
            "mouth_db_mean": round(float(np.mean([p["mouth_db_mean"] for p in per.values()])), 2),
            "skin_ring_db_mean": round(float(np.mean(
                [p["skin_ring_db_mean"] for p in per.values()])), 2)}


def speech_track() -> tuple[np.ndarray, list[tuple[int, str]]]:
    """The shipped generator's motion for SPEECH_TEXT (piper), and the frame at the
    middle of each of its first SPEECH_TILES vowels with the vowel."""
    import torch

    from avatar.corpus.speech import SpeechSynth, Voice
    from avatar.corpus.visemes import resolve_phonemes
    from avatar.generator.streaming import StreamingGenerator
    from benchkit.mouth_realism import phoneme_frames, speaking_motion

    torch.set_num_threads(1)
    reference = Portrait.default(512).reference_motion
    engine = StreamingGenerator.from_checkpoint(reference, None, seed=0)
    utterance = SpeechSynth().say(SPEECH_TEXT, Voice(id="piper:joe", engine="piper"))
    motion = speaking_motion(engine, utterance.audio, 0)
    names = {"open": "a", "mid": "e", "schwa": "schwa", "close_front": "i",
             "round_open": "o", "round_close": "u/w"}
    picks: list[tuple[int, str]] = []
    for cls, t0, t1 in resolve_phonemes(utterance.phonemes)[0]:
        frames = phoneme_frames(t0, t1, len(motion))
        shown = sum(1 for _, v in picks if v == names.get(cls))
        if (cls in names and len(frames) and len(picks) < SPEECH_TILES
                and shown < SPEECH_PER_VOWEL):
            picks.append((int(frames[len(frames) // 2]), names[cls]))
    return motion, picks


def _emit_speech(args: argparse.Namespace) -> int:
    """--emit-speech: draw the speech track's picked frames with the renderer on the path."""
    data = np.load(args.emit_speech)
    renderer = PortraitRenderer(Portrait.default(512), 512)
    renderer.wait_for_plate()
    frames = [renderer.render(row) for row in data["motion"][data["frames"]]]
    np.savez_compressed(args.emit_speech.with_name(args.emit_speech.stem + "_drawn.npz"),
                        frames=np.stack(frames))
    return 0


def speech_sheet(path: Path, args: argparse.Namespace, tree: Path | None) -> None:
    """The speech contact sheet (see the module docstring): a column per vowel, the lower
    face at 1x (before | after) over the mouth at 3x (before, then after)."""
    motion, picks = speech_track()
    work = CACHE / "mouth_aliasing"
    track = work / "speech.npz"
    np.savez_compressed(track, motion=motion, frames=np.array([f for f, _ in picks]))
    drawn = {}
    for title, where in (("before", tree), ("after", ROOT)):
        if where is None:
            continue
        command = [sys.executable, str(Path(__file__).resolve()), "--emit-speech", str(track)]
        done = subprocess.run(command, env=path_with(where), capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"speech frames in {where} failed:\n{done.stderr[-3000:]}")
        drawn[title] = np.load(work / "speech_drawn.npz")["frames"]
    renderer = PortraitRenderer(Portrait.default(512), 512, layered=False)
    xy, _ = renderer.vertices(renderer.reference)
    centre = xy[[61, 291]].mean(axis=0)
    width = float(np.linalg.norm(xy[291] - xy[61]))

    def crop(frame: np.ndarray, half_w: float, half_h: float, up: float) -> np.ndarray:
        x0, x1 = int(centre[0] - half_w * width), int(centre[0] + half_w * width)
        y0 = int(centre[1] - (half_h + up) * width)
        return frame[y0:y0 + int(2 * half_h * width), x0:x1]

    def label(tile: np.ndarray, text: str) -> np.ndarray:
        tile = np.ascontiguousarray(tile)
        cv2.rectangle(tile, (0, 0), (tile.shape[1], 12), (0, 0, 0), -1)
        cv2.putText(tile, text, (2, 9), cv2.FONT_HERSHEY_SIMPLEX, 0.32, (255, 255, 255), 1,
                    cv2.LINE_AA)
        return tile

    columns = []
    for k, (_, vowel) in enumerate(picks):
        big = [label(cv2.resize(crop(frames[k], 0.7, 0.45, 0.05), None, fx=ZOOM, fy=ZOOM,
                                interpolation=cv2.INTER_NEAREST), f"{title} 3x /{vowel}/")
               for title, frames in drawn.items()]
        small = [label(crop(frames[k], 1.0, 0.8, 0.25).copy(), f"{title} 1x")
                 for title, frames in drawn.items()]
        top = np.hstack(small)
        pad = big[0].shape[1] - top.shape[1]
        top = np.pad(top, ((0, 0), (pad // 2, pad - pad // 2), (0, 0))) if pad > 0 \
            else top[:, :big[0].shape[1]]
        columns.append(np.vstack([top, *big]))
    gap = np.full((columns[0].shape[0], 4, 3), 255, np.uint8)
    save_palette_png(path, np.hstack([part for column in columns for part in (column, gap)][:-1]))


def _emit(args: argparse.Namespace) -> int:
    """--emit: draw the frames with whatever renderer is on the path, save them as .npz."""
    frames = draw(args.portraits.split(","), args.portrait_cache)
    np.savez_compressed(args.emit, allow_pickle=False,
                        **{f"{n}|{k}": v for n, d in frames.items() for k, v in d.items()})
    return 0


def _load(path: Path) -> dict[str, dict[str, np.ndarray]]:
    data = np.load(path)
    out: dict[str, dict[str, np.ndarray]] = {}
    for key in data.files:
        name, label = key.split("|", 1)
        out.setdefault(name, {})[label] = data[key]
    return out


def _drawn(flat: bool, args: argparse.Namespace, out: Path) -> dict[str, dict[str, np.ndarray]]:
    """The frames drawn in a fresh process (with the flat mouth or as this tree draws)."""
    command = [sys.executable, str(Path(__file__).resolve()), "--emit", str(out),
               "--portraits", args.portraits, "--portrait-cache", str(args.portrait_cache)]
    if flat:
        command.append("--flat-mouth")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"mouth_aliasing (flat mouth: {flat}) failed ({done.returncode}):\n"
                           f"{done.stderr[-3000:]}")
    return _load(out)


def flat_mouth() -> None:
    """Every renderer made after this draws the mouth as before lips that round: no
    portrait's lips are turned out (as on a portrait that cannot round) and the
    opening's mask and its edge distance are made at the frame's own resolution."""
    from avatar.render import mouth, renderer

    mouth.SUPERSAMPLE = 1
    renderer.rounding_blockers = lambda image, landmarks: ["the bench asked for the flat mouth"]


def sheet(path: Path, after: dict[str, dict[str, np.ndarray]],
          before: dict[str, dict[str, np.ndarray]] | None, portrait_cache: Path) -> None:
    """The default portrait's mouth at 3x: before (REV), after, the 2x reference."""
    from benchkit.portraits import fetch_portraits

    name = next(iter(after))

    renderer = PortraitRenderer(Portrait.load(fetch_portraits(portrait_cache)[name], 512), 512,
                                layered=False)
    rows = []
    for label in SHEET_FRAMES:
        xy, _ = renderer.vertices(motion_for(renderer.reference, dict(FRAMES)[label]))
        x0, y0 = np.floor(xy[_OUTER].min(axis=0)).astype(int) - 8
        x1, y1 = np.ceil(xy[_OUTER].max(axis=0)).astype(int) + 8
        tiles = []
        for title, frames in (("before", before), ("after", after), ("2x reference", after)):
            if frames is None:
                continue
            key = label + " 2x" if title == "2x reference" else label
            crop = frames[name][key][y0:y1, x0:x1]
            big = cv2.resize(crop, None, fx=ZOOM, fy=ZOOM, interpolation=cv2.INTER_NEAREST)
            cv2.putText(big, f"{title}: {label}", (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(big)
        rows.append(np.hstack(tiles))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    save_palette_png(path, np.vstack(rows))


def save_palette_png(path: Path, rgb: np.ndarray, colours: int = 192) -> None:
    """An RGB picture as a palette PNG (docs/ keeps its pictures small)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(rgb)).quantize(
        colors=colours, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tag", default="after")
    parser.add_argument("--against", default=None, metavar="REV")
    parser.add_argument("--portraits", default="grace_hopper,eileen_collins,barack_obama,"
                                                "joe_biden,luis_pedro_coelho,takeo_kanade")
    parser.add_argument("--portrait-cache", type=Path, default=CACHE / "portraits")
    parser.add_argument("--sheet", type=Path, default=None)
    parser.add_argument("--speech-sheet", type=Path, default=None)
    parser.add_argument("--speech-only", action="store_true",
                        help="only the speech sheet (no PSNR figures)")
    parser.add_argument("--flat-mouth", action="store_true",
                        help="draw the mouth as before lips that round")
    parser.add_argument("--emit", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--emit-speech", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flat_mouth:
        flat_mouth()
    if args.emit is not None:
        return _emit(args)
    if args.emit_speech is not None:
        return _emit_speech(args)
    load_start = load_average()
    work = CACHE / "mouth_aliasing"
    work.mkdir(parents=True, exist_ok=True)
    tree = None
    if args.against:
        try:
            tree = baseline_tree(args.against)
        except ValueError as error:
            raise SystemExit(f"{Path(__file__).name}: error: {error}") from None
    if args.speech_sheet is not None:
        speech_sheet(args.speech_sheet, args, tree)
        if args.speech_only:
            return 0
    before = _drawn(True, args, work / "before.npz")
    after = _drawn(False, args, work / "after.npz")
    report: dict[str, Any] = {"tag": args.tag, "definitions": (__doc__ or "").strip(),
                              "load_average_start": load_start}
    report["after"] = measure(after, args.portrait_cache)
    summary = {"mouth_db_mean": report["after"]["mouth_db_mean"],
               "skin_ring_db_mean": report["after"]["skin_ring_db_mean"]}
    report["before"] = measure(before, args.portrait_cache, flat=True)
    summary |= {"before_mouth_db_mean": report["before"]["mouth_db_mean"],
                "before_skin_ring_db_mean": report["before"]["skin_ring_db_mean"],
                "mouth_gain_db": round(report["after"]["mouth_db_mean"]
                                       - report["before"]["mouth_db_mean"], 2)}
    if args.sheet is not None:
        sheet(args.sheet, after, before, args.portrait_cache)
    report["load_average_end"] = load_average()
    report["summary"] = summary
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"mouth_aliasing_{args.tag}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(summary | {"load_average": report["load_average_end"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
