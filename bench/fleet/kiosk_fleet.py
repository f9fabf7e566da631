"""Figure: bench/results/kiosk_fleet_<tag>.json, the kiosk fleet on a 3-node Ray cluster on this host.

The kiosk fleet (fleet/, issue 23) measured in one run, all on loopback: a head
(Serve's proxy, the shared LLM pool) and `--workers` kiosk nodes of one CPU each,
every kiosk machine running the product's own server (fleet/kiosk_replica.py).

1. admission: sessions admitted (256 px video, idle) against the free slots the
   machines advertised from their live capacity measure, and the refusal's code;
   connect-to-first-face-frame p50/p95 over those sessions;
2. media path: frame-interval p95 of an idle session through the proxy against the
   same machine's direct door, then voice-to-voice p50/p95 of kiosk questions asked
   alternately through the proxy and direct to that machine (ratio; goal <= 1.05);
3. the shared LLM: first-token time of 1..N concurrent requests to one replica
   (the kiosk prompt; how many conversations it holds before 500 ms);
4. a machine killed (raylet, kill -9) under a live session: time to the close, and
   to a new session's first frame through the public door (goal <= 5 s).

    python bench/fleet/kiosk_fleet.py [--workers 2] [--turns 6] [--llm-concurrency 4]
        [--model qwen2.5-0.5b] [--tag NAME]

Named kiosk_fleet, not fleet: a script bench/fleet.py run as `python bench/fleet.py`
would shadow the `fleet` package it measures (the script's folder comes first on
the import path).

JSON (last stdout line; also bench/results/kiosk_fleet_TAG.json), with the load average;
plot: bench/results/kiosk_fleet_TAG.png.

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: docs/RESULTS.md, "The product at a glance": a killed machine's visitor: close 1.15 s, new face 1.3 s after the kill; 4 of 5 advertised slots admitted
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# fleet.loopback.prepare_environment()'s flag, before Ray is imported anywhere
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

from tqdm import tqdm

from agent.persona import build_system_prompt
from benchkit.fleet.fleet_probe import (
    FleetDoor,
    fill,
    frame_intervals,
    llm_first_tokens,
    open_session,
    paired_turn,
    reconnect_after_kill,
)
from benchkit.load import load_average
from benchkit.paths import RESULTS
from benchkit.speech import load_test_voice, piper_pcm16k
from benchkit.stats import rounded_percentile
from benchkit.visitor import QUESTIONS
from fleet import loopback
from fleet.launch import start_fleet
from fleet.local_cluster import local_fleet
from fleet.settings import FleetSettings
from pipelines.settings import Settings

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((loopback.LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def measure(door: FleetDoor, cluster: Any, args: argparse.Namespace,
                  settings: Settings) -> dict[str, Any]:
    """Every measure, in order, on one running fleet."""
    out: dict[str, Any] = {}
    advertised = door.status()
    clients, first_frames, refusal = await fill(door.ws_url, limit=16)
    out["admission"] = {
        "advertised_free": advertised["totals"]["free"],
        "per_machine_free": [m["free"] for m in advertised["machines"]],
        "per_session_cores": [m["capacity"].get("per_session_cores")
                              for m in advertised["machines"]],
        "admitted": len(clients),
        "refusal": None if refusal is None else {"code": refusal.code,
                                                 "retry_after_s": refusal.retry_after_s,
                                                 "message": refusal.message},
        "connect_to_first_frame_p50_s": rounded_percentile(first_frames, 50),
        "connect_to_first_frame_p95_s": rounded_percentile(first_frames, 95),
    }
    for client in clients:
        await client.close()
    door.wait_idle()

    # the same machine both ways: a proxied session first, then its machine's direct door
    before = door.sessions()
    proxied, _ = await open_session(door.ws_url)
    node = door.node_of_new_session(before)
    direct_url = door.direct_url(node)
    proxy_gaps = await frame_intervals(proxied, 15.0)
    await proxied.close()
    door.wait_idle()
    direct, _ = await open_session(direct_url)
    direct_gaps = await frame_intervals(direct, 15.0)
    await direct.close()
    door.wait_idle()
    voice = load_test_voice()
    v2v: dict[str, list[float]] = {"proxy": [], "direct": []}
    skipped = 0
    for turn in tqdm(range(args.turns), desc="voice-to-voice, proxy vs direct, same machine"):
        pcm = piper_pcm16k(voice, QUESTIONS[turn % len(QUESTIONS)])
        proxy_ms, direct_ms, _ = await paired_turn(door, pcm, proxy_first=turn % 2 == 0)
        if proxy_ms is None or direct_ms is None:
            skipped += 1
            continue
        v2v["proxy"].append(proxy_ms)
        v2v["direct"].append(direct_ms)
    p50 = {path: rounded_percentile(values, 50) for path, values in v2v.items()}
    out["media"] = {
        "node": node,
        "frame_interval_p95_ms": {"proxy": rounded_percentile(proxy_gaps, 95),
                                  "direct": rounded_percentile(direct_gaps, 95)},
        "voice_to_voice_p50_ms": p50,
        "voice_to_voice_p95_ms": {path: rounded_percentile(values, 95)
                                  for path, values in v2v.items()},
        "voice_to_voice_ratio_p50": (round(p50["proxy"] / p50["direct"], 3)
                                     if p50["proxy"] and p50["direct"] else None),
        "turn_pairs": len(v2v["proxy"]),
        "pairs_skipped": skipped,  # the door chose another machine than the direct one
    }

    llm = door.status()["machines"][0]["llm"]
    system = build_system_prompt(settings.persona)
    first_tokens = {}
    for concurrent in range(1, args.llm_concurrency + 1):
        times = await llm_first_tokens(llm["base_url"], llm["model"], system,
                                       QUESTIONS[concurrent % len(QUESTIONS)], concurrent)
        first_tokens[concurrent] = {"max_ms": round(max(times)),
                                    "p50_ms": round(statistics.median(times))}
    held = [n for n, t in first_tokens.items() if t["max_ms"] <= 500]
    out["llm_replica"] = {"first_token_by_concurrency": first_tokens,
                          "conversations_under_500ms": max(held) if held else 0,
                          "model": llm["model"]}

    before = door.sessions()
    victim_client, _ = await open_session(door.ws_url)
    victim_node = door.node_of_new_session(before)
    victim = next(w for w in cluster.workers if w.node_id == victim_node)
    out["node_death"] = await reconnect_after_kill(
        door, victim_client, lambda: cluster.kill_worker(victim))
    return out


def plot(report: dict[str, Any], path: Path) -> Figure:
    """Two panels: voice-to-voice through the door against direct, and the LLM
    replica's first token against concurrent requests (with the 500 ms line).
    Returns the figure (saved to `path`), for a caller that reads what it drew."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    media = report["media"]
    paths = ["direct", "proxy"]
    left.bar([0, 1], [media["voice_to_voice_p50_ms"][p] or 0 for p in paths], width=0.4,
             label="p50")
    left.bar([0.4, 1.4], [media["voice_to_voice_p95_ms"][p] or 0 for p in paths], width=0.4,
             label="p95")
    left.set_xticks([0.2, 1.2], ["direct door", "through the proxy"])
    left.set_ylabel("voice to voice (ms)")
    left.set_title(f"same machine, {media['turn_pairs']} question pairs "
                   f"(p50 ratio {media['voice_to_voice_ratio_p50']})")
    left.legend()
    # keyed by int in the measured report, by str once read back from its JSON
    tokens = {int(n): t for n, t in report["llm_replica"]["first_token_by_concurrency"].items()}
    counts = sorted(tokens)
    right.plot(counts, [tokens[n]["max_ms"] for n in counts], "o-", label="slowest")
    right.plot(counts, [tokens[n]["p50_ms"] for n in counts], "s--", label="median")
    right.axhline(500, color="grey", linestyle=":", label="500 ms")
    right.set_xlabel("concurrent requests to one LLM replica (1 CPU)")
    right.set_ylabel("first token (ms)")
    right.set_title(report["llm_replica"]["model"])
    right.legend()
    figure.suptitle(f"kiosk fleet on one host, load {report['load_average_start']:.1f}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return figure


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--turns", type=int, default=6, help="questions per path")
    parser.add_argument("--llm-concurrency", type=int, default=4)
    parser.add_argument("--model", default="qwen2.5-0.5b", help="the LLM pool's model")
    parser.add_argument("--tag", default="run")
    parser.add_argument("--plot-only", type=Path, default=None,
                        help="redraw the plot of a saved JSON, measure nothing")
    args = parser.parse_args()
    if args.plot_only is not None:
        plot(json.loads(args.plot_only.read_text()), args.plot_only.with_suffix(".png"))
        return 0
    load_at_start = load_average()
    port = _free_port()
    settings = Settings.load(llm={"embedded_model": args.model},
                             avatar={"calibrate_portraits": False})
    fleet = FleetSettings(port=port, kiosk_machines=args.workers, llm_replicas=1)
    started = time.monotonic()
    with local_fleet(workers=args.workers, temp_dir=f"/tmp/rfbench-{os.getpid()}") as cluster:
        deploy = start_fleet(fleet, settings)
        door = FleetDoor(f"http://{loopback.LOOPBACK}:{port}")
        results = asyncio.run(measure(door, cluster, args, settings))
    report = {"bench": "kiosk_fleet", "tag": args.tag, "workers": args.workers,
              "cpus_per_node": 1, "model": args.model, "load_average_start": load_at_start,
              "load_average_end": load_average(), "deploy_secs": deploy["deploy_secs"],
              "wall_secs": round(time.monotonic() - started, 1), **results}
    RESULTS.mkdir(parents=True, exist_ok=True)
    Path(RESULTS / f"kiosk_fleet_{args.tag}.json").write_text(json.dumps(report, indent=2) + "\n")
    plot(report, RESULTS / f"kiosk_fleet_{args.tag}.png")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
