"""bench/README.md, made from the scripts themselves: every bench script by area, what it
measures, how long a run takes and where its last result is quoted, and every result
file kept in bench/quoted/.

Why generated: the list goes stale the day a script moves, retires or gets a new
figure (issue 77: 71 scripts, no index, 7 docstrings that said how long a run takes).
Each script's docstring carries its own entry, so the entry is edited beside the code:

- the first line, `Figure: ...`, says what it produces (tests/bench/test_bench_scripts.py);
- a line `Runs: ~N min ...` says how long a run on its defaults takes;
- a line `Quoted: docs/PAGE.md, "Section title": the figure` says where its last
  result is quoted and what it was (`Quoted: none: ...` for a script that only lists
  or prepares inputs).

    python -m benchkit.bench_readme           # writes bench/README.md
    python -m benchkit.bench_readme --check   # exit 1 if bench/README.md is stale

tests/bench/test_bench_readme.py runs the check and checks each `Quoted:` page names
its script under that section title.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from benchkit.paths import ROOT

BENCH = ROOT / "bench"
README = BENCH / "README.md"
QUOTED = BENCH / "quoted"
#: the areas in the order the README lists them, each with what its scripts are about
AREAS = {
    "face": "the renderer, the generator and the camera's analysis, alone",
    "live": "the live server's face end to end: sessions, workers, memory, adapting",
    "voice": "the voice pipeline: latency, barge-in, the turn's end",
    "answers": "what the kiosk answers: recognizer, retrieval, LLM, the fact guard",
    "kiosk": "the kiosk as a visitor meets it: the page, presence, restarts, a day",
    "webrtc": "pipecat's WebRTC transport with the face",
    "fleet": "the kiosk fleet on Ray",
    "training": "the corpus and the generator's training and evaluation",
}
_QUOTED = re.compile(r'^Quoted: (?:(?P<none>none\b.*)|(?P<page>docs/\S+\.md), "(?P<section>[^"]+)": (?P<figure>.+))$')


@dataclass(frozen=True)
class Entry:
    """One script's line in the README, read from its docstring."""

    path: Path
    measures: str
    runs: str
    page: str | None
    section: str | None
    figure: str

    @property
    def area(self) -> str:
        return self.path.parent.name


def scripts() -> list[Path]:
    """Every bench script: bench/<area>/<name>.py."""
    return sorted(BENCH.glob("*/*.py"))


def entry(script: Path) -> Entry:
    """The script's entry from its docstring.

    Raises:
        ValueError: the docstring lacks its `Figure:`, `Runs:` or `Quoted:` line,
            named with the script.
    """
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    name = script.relative_to(ROOT)
    lines = doc.splitlines()
    if not lines or not lines[0].startswith("Figure: "):
        raise ValueError(f"{name}: the docstring does not start with 'Figure: '")
    first = [lines[0].removeprefix("Figure: ")]
    for line in lines[1:]:  # the first sentence may run over a few lines
        if not line.strip():
            break
        first.append(line.strip())
    runs = [line.removeprefix("Runs: ") for line in lines if line.startswith("Runs: ")]
    quoted = [_QUOTED.match(line) for line in lines if line.startswith("Quoted: ")]
    if len(runs) != 1:
        raise ValueError(f"{name}: the docstring needs one 'Runs: ~N min ...' line")
    if len(quoted) != 1 or quoted[0] is None:
        raise ValueError(f"{name}: the docstring needs one line 'Quoted: docs/PAGE.md, "
                         f"\"Section\": figure' (or 'Quoted: none: why')")
    match = quoted[0]
    return Entry(script, " ".join(first), runs[0], match["page"], match["section"],
                 match["figure"] or match["none"])


def quoted_files() -> list[str]:
    """The result files kept in bench/quoted/, by name."""
    return sorted(p.name for p in QUOTED.iterdir() if p.is_file()) if QUOTED.is_dir() else []


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """bench/README.md as it should read now."""
    entries = [entry(script) for script in scripts()]
    out = [
        "# Benches",
        "",
        "<!-- Made by `python -m benchkit.bench_readme` from each script's docstring; edit",
        "     the docstrings, not this file (tests/bench/test_bench_readme.py checks it). -->",
        "",
        "Every bench script, by what it measures. Run one from the repository root:",
        "`.venv/bin/python bench/AREA/NAME.py` (`--help` for its options). Each prints one",
        "JSON object as its last line of output and, on its defaults, writes only under",
        "`bench/results/` (git-ignored). The run times are estimates for the 2-core host on",
        "each script's defaults. Retired one-off experiments and their conclusions:",
        "[docs/history/retired_bench.md](../docs/history/retired_bench.md). How figures are",
        "quoted and kept: [docs/RESULTS.md](../docs/RESULTS.md).",
        "",
        f"{len(entries)} scripts in {len({e.area for e in entries})} areas.",
        "",
    ]
    known = list(AREAS) + sorted({e.area for e in entries} - set(AREAS))
    for area in known:
        mine = [e for e in entries if e.area == area]
        if not mine:
            continue
        out += [f"## {area}", "", AREAS.get(area, "").capitalize() + ".", "",
                "| script | measures | runs | last quoted result |", "|---|---|---|---|"]
        for e in mine:
            if e.page is None:
                quoted = _cell(e.figure)
            else:
                page = Path(e.page)
                quoted = f"{_cell(e.figure)} ([{page.stem}](../{e.page}), \"{_cell(e.section or '')}\")"
            runs = e.runs.split(" on its defaults")[0]
            out.append(f"| [{e.path.name}]({area}/{e.path.name}) | {_cell(e.measures)} "
                       f"| {_cell(runs)} | {quoted} |")
        out.append("")
    files = quoted_files()
    out += ["## Quoted result files", "",
            "The raw files a page quotes by name, kept in `bench/quoted/` (tracked; a run",
            "writes its own under `bench/results/`, and a file is copied here in the commit",
            "that quotes it). Every one is named on a page of docs/ or bench/",
            "(tests/bench/test_bench_readme.py).", ""]
    out += [f"- `{name}`" for name in files] or ["(none)"]
    out.append("")
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when bench/README.md is not what the scripts say")
    args = parser.parse_args()
    try:
        text = render()
    except ValueError as error:
        print(f"bench_readme: {error}", file=sys.stderr)
        return 2
    if args.check:
        if not README.is_file() or README.read_text(encoding="utf-8") != text:
            print("bench/README.md is stale: run `python -m benchkit.bench_readme`",
                  file=sys.stderr)
            return 1
        return 0
    README.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
