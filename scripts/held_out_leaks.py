"""Held-out answer questions that have been seen, by file (JSON); --move puts them in the
tune half. A maintenance command, not a benchmark (moved out of bench/answers/).

Held out: every question of bench/answers/heldout/<business>.json and the `heldout` split of
bench/answers/spoken_questions.json. A held-out question has been seen when, normalised
(lower case, punctuation and spacing dropped), it appears in a .py, .js or .md file of the
repository outside bench/answers/heldout/ (tests, code, docs), or in a question set that may
be tuned on (the tune halves, the text sets, the spoken set's tune split). A seen question
is a tuning item: `--move` moves it to its set's tune half (a spoken follow-up moves with
its whole visit), again until none is left.

Nothing here prints a held-out question: the counts and file names are enough to act on,
and whoever runs it may be tuning (tests/answers/test_held_out_questions.py runs `leaks`).

Usage: python scripts/held_out_leaks.py [--move]
The last stdout line is one JSON object: leaks per set, by file (and what moved).
Takes ~1 min (it reads every .py, .js and .md file of the repository).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ROOT / "bench" / "answers"
HELD_OUT_DIR = ANSWERS / "heldout"
SPOKEN = ANSWERS / "spoken_questions.json"
BUSINESSES = ANSWERS / "businesses"
SPOKEN_SET = "spoken_questions"
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
                ".pytest_cache", "build", "dist"}


def normalised(text: str) -> str:
    """Lower case, each run of non-letters/digits one space, padded: "What's" = " what s "."""
    return " " + " ".join(re.sub(r"[\W_]+", " ", text.lower()).split()) + " "


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def held_out() -> dict[str, list[str]]:
    """Held-out questions by set: a business's name, or `SPOKEN_SET`."""
    sets = {p.stem: [q["q"] for q in _read(p)["questions"]]
            for p in sorted(HELD_OUT_DIR.glob("*.json"))}
    sets[SPOKEN_SET] = [q["q"] for q in _read(SPOKEN)["questions"] if q["split"] == "heldout"]
    return sets


def searched_files() -> Iterator[Path]:
    """Every .py, .js and .md file of the repository outside the held-out folder."""
    stack = [ROOT]
    while stack:
        folder = stack.pop()
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                if entry.name not in SKIPPED_DIRS and entry != HELD_OUT_DIR:
                    stack.append(entry)
            elif entry.suffix in (".py", ".js", ".md") and entry.is_file():
                yield entry


def tunable_questions() -> Iterator[tuple[Path, str]]:
    """(file, question) of every question set that may be read: the tune halves, the text
    sets, the spoken set's tune split."""
    for path in sorted(ANSWERS.rglob("*.json")):
        if HELD_OUT_DIR in path.parents:
            continue
        try:
            data = _read(path)
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue
        for item in data.get("questions", []) if isinstance(data, dict) else []:
            if isinstance(item, dict) and isinstance(item.get("q"), str):
                if not (path == SPOKEN and item.get("split") == "heldout"):
                    yield path, item["q"]


def seen_texts() -> dict[str, str]:
    """Normalised text of everything a held-out question must not appear in, by file."""
    texts = {str(p.relative_to(ROOT)): normalised(p.read_text(encoding="utf-8", errors="replace"))
             for p in searched_files()}
    for path, question in tunable_questions():
        name = str(path.relative_to(ROOT))
        texts[name] = texts.get(name, "") + normalised(question)
    return texts


def leaked(questions: list[str], texts: dict[str, str]) -> dict[str, list[int]]:
    """For each file, the indices of `questions` found in it."""
    found: dict[str, list[int]] = {}
    keys = [normalised(q) for q in questions]
    for name, text in texts.items():
        hits = [i for i, key in enumerate(keys) if key in text]
        if hits:
            found[name] = hits
    return found


def leaks() -> dict[str, dict[str, int]]:
    """Per held-out set, {file: how many of its questions appear there} (empty: none)."""
    texts = seen_texts()
    return {name: {f: len(hits) for f, hits in leaked(questions, texts).items()}
            for name, questions in held_out().items()}


def move_leaked() -> dict[str, int]:
    """Move every seen held-out question to its set's tune half, until none is left;
    the number moved per set."""
    moved: dict[str, int] = {}
    while True:
        texts = seen_texts()
        changed = False
        for name, questions in held_out().items():
            seen = {i for hits in leaked(questions, texts).values() for i in hits}
            if not seen:
                continue
            changed = True
            keys = {normalised(questions[i]) for i in seen}
            if name == SPOKEN_SET:
                spec = _read(SPOKEN)
                sessions = {q["session"] for q in spec["questions"]
                            if q["split"] == "heldout" and normalised(q["q"]) in keys
                            and "session" in q}
                for q in spec["questions"]:
                    if q["split"] == "heldout" and (normalised(q["q"]) in keys
                                                    or q.get("session") in sessions):
                        q["split"] = "tune"
                        moved[name] = moved.get(name, 0) + 1
                SPOKEN.write_text(json.dumps(spec, indent=1, ensure_ascii=False) + "\n",
                                  encoding="utf-8")
                continue
            held_path, tune_path = HELD_OUT_DIR / f"{name}.json", BUSINESSES / name / "tune.json"
            held, tune = _read(held_path), _read(tune_path)
            going = [q for q in held["questions"] if normalised(q["q"]) in keys]
            held["questions"] = [q for q in held["questions"] if normalised(q["q"]) not in keys]
            tune["questions"] += going
            moved[name] = moved.get(name, 0) + len(going)
            for path, data in ((held_path, held), (tune_path, tune)):
                path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n",
                                encoding="utf-8")
        if not changed:
            return moved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--move", action="store_true",
                        help="move each seen held-out question to its set's tune half")
    args = parser.parse_args()
    moved = move_leaked() if args.move else {}
    sizes = {name: len(questions) for name, questions in held_out().items()}
    print(json.dumps({"moved_to_tune": moved, "held_out_sizes": sizes, "leaks": leaks()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
