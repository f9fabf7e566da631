"""What the figure benches share: the command line of those that draw every bench
portrait both ways (a tag, the results folder, the portraits' cache), the compile
time of the kernel they measure, and how a result is written with its plot."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from benchkit.load import load_average
from benchkit.paths import CACHE, RESULTS


def tagged_parser(doc: str | None, tag: str) -> argparse.ArgumentParser:
    """A parser described by the first line of `doc`, with `--tag` (default `tag`),
    `--results` and `--portrait-cache`."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--tag", default=tag)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--portrait-cache", type=Path, default=CACHE / "portraits")
    return parser


def compile_secs(compile_now: Callable[[], None]) -> float:
    """Seconds `compile_now` took (a fresh machine compiles; a warm cache loads)."""
    t0 = time.perf_counter()
    compile_now()
    return time.perf_counter() - t0


def write_results(args: argparse.Namespace, bench: str, doc: str | None,
                  summary: dict[str, Any], **more: Any) -> None:
    """`<results>/<bench>_<tag>.json`: the tag, the bench's definitions (its docstring),
    `more`, the summary and the machine's cores; then the summary on stdout (last line)."""
    full = {"tag": args.tag, "definitions": (doc or "").strip(), **more, "summary": summary,
            "cpus": os.cpu_count()}
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{bench}_{args.tag}.json").write_text(json.dumps(full, indent=2))
    print(json.dumps(summary))


def save_plot(figure: Any, axis: Any, out: Path) -> None:
    """A one-axis plot finished as the benches finish theirs: `axis`'s legend, a tight
    layout, `out` at 100 dpi as a palette PNG (a third of the bytes, for the
    repository's results), the figure closed (matplotlib keeps open ones)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    axis.legend()
    figure.tight_layout()
    figure.savefig(out, dpi=100)
    plt.close(figure)
    with Image.open(out) as image:
        palette = image.convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    palette.save(out, optimize=True)


def run_async_figure(run: Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]],
                     args: argparse.Namespace,
                     plot: Callable[[dict[str, Any], Path], None]) -> None:
    """`run(args)` on an event loop, the load average before and after added to its
    result, written to `args.out` with its plot (`write_figure`)."""
    load_start = load_average()
    result = asyncio.run(run(args))
    result.update(load_average_start=load_start, load_average_end=load_average())
    write_figure(args.out, result, plot)


def write_figure(out: Path, result: dict[str, Any],
                 plot: Callable[[dict[str, Any], Path], None]) -> None:
    """`out` (JSON) and its plot beside it (`out` as .png), then the result on stdout
    (last line), as the benches that print one JSON object do."""
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(result, out.with_suffix(".png"))
    write_json(out, result, indent=2)


def write_json(out: Path, result: dict[str, Any], *, indent: int = 1) -> None:
    """`out` (JSON, its folder made), then the result on stdout as the last line."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=indent) + "\n", encoding="utf-8")
    print(json.dumps(result))


__all__ = ["compile_secs", "save_plot", "tagged_parser", "write_figure", "write_json", "write_results"]
