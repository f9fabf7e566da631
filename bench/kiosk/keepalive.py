"""Figure: bench/results/keepalive.json, how long a kiosk's websocket session outlives
its network: a presence session whose packets stop (no FIN), ended by the server.

The product server (`avatar-forcing serve` on its defaults, its own process). A kiosk
client (the Python SDK with `presence`, a 256 px face, a live microphone's silence)
connects through a loopback TCP relay (benchkit/loopback_relay.py); after
`--open-secs` the relay stops moving bytes both ways and keeps both sockets open, as
lost Wi-Fi does. `ended_secs` is the time from then until the server's /healthz counts
no session (its slot given back). Two clients, alternated, in one run:
- `v2.2`: answers the server's keepalive pings (the SDK and the page as shipped);
- `v2.1`: does not (an older client, skipping the unknown `ping` event), so only
  the websocket's own pings (uvicorn's, 20 s + 20 s) end it: the time before the
  keepalive, for every client.

    .venv/bin/python bench/kiosk/keepalive.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from benchkit.bench_args import run_async_figure
from benchkit.kiosk_server import free_port, healthz, product_server
from benchkit.loopback_relay import FrozenRelay
from benchkit.paths import RESULTS
from sdk.client import VoiceClient
from sdk.events import KeepalivePing


class OlderClient(VoiceClient):
    """A v2.1 client: the server's `ping` is an unknown event to it, skipped."""

    async def _answer_keepalive(self, ping: KeepalivePing) -> None:
        return None


async def one_round(http: str, variant: str, open_secs: float, watch_secs: float
                    ) -> dict[str, Any]:
    """A kiosk through the relay, its traffic stopped after `open_secs`."""
    relay = await FrozenRelay(int(http.rsplit(":", 1)[1])).start()
    kind = VoiceClient if variant == "v2.2" else OlderClient
    client = await kind.connect(relay.url, video_out={"size": 256}, video_in="camera",
                                presence=True)

    async def read() -> None:
        async for _item in client.receive():
            pass

    reader = asyncio.create_task(read())
    mic = asyncio.create_task(client.stream_pcm(bytes(16000 * 2 * int(open_secs + watch_secs))))
    try:
        await asyncio.sleep(open_secs)
        live = healthz(http)["sessions"]
        pongs = client.keepalive_pongs
        relay.freeze()
        frozen_at, ended_secs = time.monotonic(), None
        while time.monotonic() - frozen_at < watch_secs:
            if healthz(http)["sessions"] == 0:
                ended_secs = round(time.monotonic() - frozen_at, 2)
                break
            await asyncio.sleep(0.1)
    finally:
        mic.cancel()
        reader.cancel()
        with contextlib.suppress(Exception):
            client._ws.transport.abort()
        await relay.close()
    for _ in range(240):  # the next round starts with the server empty (polled: no event)
        if not healthz(http)["sessions"]:
            break
        await asyncio.sleep(0.5)
    return {"variant": variant, "sessions_while_open": live, "pongs_before_drop": pongs,
            "ended_secs": ended_secs}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rounds = []
    with product_server(free_port()) as (http, _pid):
        for index in tqdm(range(args.rounds), desc="rounds", file=sys.stderr):
            order = ["v2.1", "v2.2"] if index % 2 == 0 else ["v2.2", "v2.1"]
            for variant in order:
                rounds.append(await one_round(http, variant, args.open_secs, args.watch_secs))
    summary: dict[str, Any] = {}
    for variant in ("v2.1", "v2.2"):
        ended = [r["ended_secs"] for r in rounds if r["variant"] == variant]
        done = [e for e in ended if e is not None]
        summary[variant] = {"ended_secs_max": max(done) if len(done) == len(ended) else None,
                            "ended_secs_median": float(np.median(done)) if done else None}
    return {"bench": "keepalive", "open_secs": args.open_secs, "watch_secs": args.watch_secs,
            "ended_secs_max_answering": summary["v2.2"]["ended_secs_max"],
            "ended_secs_max_not_answering": summary["v2.1"]["ended_secs_max"],
            **summary, "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--open-secs", type=float, default=8.0)
    parser.add_argument("--watch-secs", type=float, default=70.0)
    parser.add_argument("--out", type=Path, default=RESULTS / "keepalive.json")
    args = parser.parse_args()
    run_async_figure(run, args, lambda _result, _png: None)  # the figure is the JSON


if __name__ == "__main__":
    main()
