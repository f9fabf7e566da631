"""Where the benches read and write: the repository root, bench/results/ and cache/.

Why one place: results and caches are addressed relative to the checkout, not to
the script that runs, so a library module and a script agree on bench/results/.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root (benchkit/ sits at the top of the checkout).
ROOT = Path(__file__).resolve().parents[1]
#: Where every bench writes its JSON and PNG results.
RESULTS = ROOT / "bench" / "results"
#: Downloaded packages, extracted media and analysed tracks (not in git).
CACHE = ROOT / "cache"
