"""Figure: none, a file: bench/answers/long_file/knowledge.md, 200 facts, for measuring what
a long operator's file costs a turn (bench/voice/voice_latency.py --knowledge-file ...).

Made from the businesses' own files, as one site that holds them all (a harbour-side
centre): the demo store's facts first and as they are (so the voice benches' store
questions are answered from the same lines), then the pharmacy's, museum's and clinic's
with their business's name in front of each label ("Pharmacy parking: ..."), then a
directory of the centre's other tenants, one line each, until the file holds `--facts`
labelled lines. Every label is distinct, and the file loads without a warning
(agent/answers/knowledge_file.py). Seeded: the same file every time.

Usage: python bench/answers/long_file.py [--facts 200] [--out bench/answers/long_file/knowledge.md]
The last stdout line is one JSON object.

Runs: ~1 min on its defaults.
Quoted: none: it prepares an input of bench/voice/voice_latency.py --knowledge-file
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUSINESSES = ROOT / "bench" / "answers" / "businesses"
OUT = ROOT / "bench" / "answers" / "long_file" / "knowledge.md"
_LABELLED = re.compile(r"^([A-Z][^:.,;!?]{0,59}):\s")
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

_FIRST = ("Harbor", "Blue", "Corner", "Golden", "Green", "Old Town", "Sunny", "Little", "North",
          "Maple Leaf", "Silver", "Riverside", "Lighthouse", "Copper", "Cedar", "Bayview",
          "Juniper", "Anchor", "Willow", "Quayside", "Pebble", "Meadow", "Elm", "Saltwater")
_KINDS = (("Books", "new and used books"), ("Shoes", "shoes and shoe repairs"),
          ("Bakery", "bread, cakes and pastries"), ("Toys", "toys and board games"),
          ("Opticians", "eye tests and glasses"), ("Florist", "flowers and plants"),
          ("Barber", "haircuts and shaves"), ("Bank", "a bank branch with two cash machines"),
          ("Phone Repair", "phone and tablet repairs"), ("Noodle Bar", "noodles and soups"),
          ("Pizza", "pizza by the slice"), ("Tea Room", "tea, scones and light lunches"),
          ("Outdoor Gear", "tents, boots and rain jackets"), ("Pet Shop", "pet food and supplies"),
          ("Music", "instruments and sheet music"), ("Dry Cleaners", "dry cleaning and alterations"),
          ("Jewellers", "jewellery and watch repairs"), ("Art Supplies", "paints, paper and frames"),
          ("Post Office", "stamps, parcels and passport photos"), ("Gym", "a gym with day passes"),
          ("Travel Agent", "holiday bookings"), ("Bike Shop", "bikes and bike repairs"),
          ("Ice Cream", "ice cream and frozen yogurt"), ("Sushi", "sushi to eat in or take away"))
_PLACES = ("on the ground floor by the north doors", "on the ground floor next to the lifts",
           "on the first floor above the fountain", "on the first floor by the food court",
           "on the second floor at the east end", "on the second floor by the car park bridge",
           "in the courtyard", "by the south entrance")
_CLOSES = ("5 p.m.", "6 p.m.", "7 p.m.", "8 p.m.", "9 p.m.", "10 p.m.")


def facts_of(path: Path) -> list[str]:
    """The labelled lines of a knowledge file, each with its continuation lines joined."""
    lines: list[str] = []
    for raw in _COMMENT.sub("", path.read_text(encoding="utf-8")).splitlines():
        line = raw.strip()
        if not line:
            continue
        if _LABELLED.match(line) or not lines:
            lines.append(line)
        else:
            lines[-1] = f"{lines[-1]} {line}"
    return lines


def tenants(count: int, taken: set[str], seed: int = 7) -> list[str]:
    """`count` directory lines of other tenants, their labels distinct and not in `taken`."""
    rng = random.Random(seed)
    names = [f"{first} {kind}" for first in _FIRST for kind, _ in _KINDS]
    rng.shuffle(names)
    what = dict(_KINDS)
    out: list[str] = []
    for unit, name in enumerate(names, start=101):
        if len(out) == count:
            break
        if name.lower() in taken:
            continue
        kind = next(k for k in what if name.endswith(k))
        out.append(f"{name}: unit {unit}, {rng.choice(_PLACES)}; {what[kind]}; open daily "
                   f"until {rng.choice(_CLOSES)}")
    if len(out) < count:
        raise ValueError(f"only {len(out)} tenant names for {count} lines")
    return out


def long_file(facts: int) -> str:
    """The knowledge file's text, `facts` labelled lines."""
    lines = facts_of(BUSINESSES / "store" / "knowledge.md")
    for business in ("pharmacy", "museum", "clinic"):
        prefix = business.capitalize()
        for line in facts_of(BUSINESSES / business / "knowledge.md"):
            label, rest = line.split(":", 1)
            lines.append(f"{prefix} {label[0].lower()}{label[1:]}:{rest}"
                         if not label.lower().startswith(business) else line)
    taken = {line.split(":", 1)[0].lower() for line in lines}
    if len(lines) > facts:
        raise ValueError(f"the businesses' files alone hold {len(lines)} facts, over {facts}")
    lines += tenants(facts - len(lines), taken)
    header = ("<!--\nA long operator's file, made by bench/answers/long_file.py from the "
              "businesses' files\n(bench/answers/businesses/) and a directory of tenants: "
              f"{facts} labelled lines, for\nmeasuring what a long file costs a turn. Not "
              "shipped.\n-->\n")
    return header + "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=200)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    text = long_file(args.facts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    labels = [line.split(":", 1)[0] for line in text.splitlines() if _LABELLED.match(line)]
    print(json.dumps({"out": str(args.out), "labelled_lines": len(labels),
                      "distinct_labels": len(set(map(str.lower, labels))),
                      "words": len(text.split())}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
