"""Every local link in the README and docs/ leads to a file in the repository.

Why: the layout moves (issue 24) and bench scripts retire; a link to a moved file
fails here rather than in front of a reader. Links to the web are not checked.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: `[text](target)` and `![alt](target)`; the target ends at the first space or ')'.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
#: fenced code blocks hold examples, not links
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


def _pages() -> list[Path]:
    pages = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"]
    pages += sorted((ROOT / "docs").rglob("*.md"))
    return [page for page in pages if page.is_file()]


def _local_targets(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # http:, https:, mailto:, or an anchor on the same page
        targets.append(target.split("#", 1)[0])
    return targets


@pytest.mark.parametrize("page", _pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_local_links_resolve(page: Path) -> None:
    broken = [target for target in _local_targets(page)
              if not (page.parent / target).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_the_pages_have_links_to_check() -> None:
    assert sum(len(_local_targets(page)) for page in _pages()) > 20


def test_no_link_leads_into_the_bench_output() -> None:
    # bench/results/ is git-ignored output (issue 58): a fresh clone has none of it, so
    # the docs quote a figure as a small table with the command that remakes it
    into = [(str(page.relative_to(ROOT)), target) for page in _pages()
            for target in _local_targets(page)
            if (page.parent / target).resolve().is_relative_to(ROOT / "bench" / "results")]
    assert not into, f"links into git-ignored bench/results/: {into}"


def test_every_picture_in_docs_is_shown_or_named_on_a_page() -> None:
    # docs/ keeps only the pictures and videos a page shows or names (issue 58: size)
    media = [p for p in (ROOT / "docs").rglob("*")
             if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".gif", ".mp4", ".webm"}]
    pages = [*_pages(), ROOT / "CHANGELOG.md", *sorted((ROOT / "bench").rglob("*.md"))]
    text = "\n".join(page.read_text(encoding="utf-8") for page in pages if page.is_file())
    unnamed = [str(p.relative_to(ROOT)) for p in media if p.name not in text]
    assert not unnamed, f"pictures no page shows or names: {unnamed}"
