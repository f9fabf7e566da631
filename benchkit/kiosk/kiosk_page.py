"""The kiosk page in headless Chromium: opened and started, its own counters, a long
soak with its JS heap after GC, and CPU by process name.

Why here: the library part of bench/kiosk/kiosk.py; everything is measured by the page
itself (`window.kiosk.stats()`), the script strings the phases together.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from avatar.procfs import cpu_seconds
from benchkit.kiosk.browser import launch_chromium, media_args


def cpu_secs(pattern: str) -> float:
    """CPU seconds (user + system) of every process whose command line matches `pattern`."""
    found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)
    total = 0.0
    for pid in found.stdout.split():
        total += cpu_seconds(int(pid)) or 0.0
    return total


@contextlib.asynccontextmanager
async def kiosk_page(http: str, wav: Path, y4m: Path, query: str = "", loop: bool = False
                     ) -> AsyncIterator[Any]:
    """Chromium on the kiosk page, started (the tap done)."""
    async with launch_chromium(media_args(mic_wav=wav, camera_y4m=y4m, mic_loop=loop)) as browser:
        page = await browser.new_page()
        await page.goto(f"{http}/{query}")
        await page.click("#start")
        yield page


async def stats(page: Any) -> dict[str, Any]:
    """The page's counters plus its clock."""
    return dict(await page.evaluate("({now: performance.now(), ...window.kiosk.stats()})"))


async def soak(http: str, wav: Path, y4m: Path, seconds: float) -> dict[str, Any]:
    """The page open for `seconds` with a question every 30 s; its heap after GC every 30 s."""
    async with kiosk_page(http, wav, y4m, loop=True) as page:
        cdp = await page.context.new_cdp_session(page)

        async def heap_mb() -> float:
            await cdp.send("HeapProfiler.collectGarbage")
            usage = await cdp.send("Runtime.getHeapUsage")
            return float(usage["usedSize"]) / 2**20

        await asyncio.sleep(5)  # connected, first frames drawn
        samples = [(0.0, await heap_mb())]
        first = await stats(page)
        start = time.monotonic()
        with tqdm(total=int(seconds), desc="soak", unit="s") as bar:
            while (elapsed := time.monotonic() - start) < seconds:
                await asyncio.sleep(min(30.0, seconds - elapsed))
                samples.append((time.monotonic() - start, await heap_mb()))
                bar.update(int(time.monotonic() - start) - bar.n)
        last = await stats(page)
        dom_nodes = await page.evaluate("document.getElementsByTagName('*').length")
    times = np.array([t for t, _ in samples])
    heap = np.array([h for _, h in samples])
    half = times >= times[-1] / 2
    slope = float(np.polyfit(times[half] / 60, heap[half], 1)[0]) if half.sum() >= 3 else None
    span = (last["now"] - first["now"]) / 1000
    return {
        "secs": round(float(times[-1]), 1),
        "heap_mb_start": round(float(heap[0]), 2),
        "heap_mb_end": round(float(heap[-1]), 2),
        "heap_mb_max": round(float(heap.max()), 2),
        "heap_mb_per_min_second_half": None if slope is None else round(slope, 3),
        "heap_samples": [[round(float(t)), round(float(h), 2)] for t, h in samples],
        "video_fps": round((last["framesDrawn"] - first["framesDrawn"]) / span, 2),
        "turns_answered": len(last["voiceToVoiceMs"]),
        "dom_nodes_end": dom_nodes,
        "frames_queued_end": last["framesQueued"],
    }


def plot_heap(samples: list[list[float]], out: Path) -> None:
    """Heap over the soak."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] / 60 for s in samples]
    h = [s[1] for s in samples]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(t, h, marker="o")
    ax.set_xlabel("minutes with the page open (a question every 30 s)")
    ax.set_ylabel("JS heap after GC (MB)")
    ax.set_ylim(0, max(h) * 1.3)
    ax.grid(alpha=0.3)
    ax.set_title("Kiosk page memory in Chromium")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
