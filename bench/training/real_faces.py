"""Figure: none; writes the real face tracks cache/real_faces/{train,test}/*.npz and prints their list (JSON).

No figure: the train pool feeds `avatar-forcing corpus --real-faces`, the test pool
the held-out users of bench/training/reactivity.py (docs/reactivity.png). The split and the
analysis are benchkit/training/real_faces.py.

    python bench/training/real_faces.py            # idempotent; prints what it wrote

Runs: ~10 min on its defaults (estimated for the 2-core host).
Quoted: none: writes the real face tracks for the corpus and the held-out users (docs/CORPUS.md)
"""

from __future__ import annotations

import json

from benchkit.training.real_faces import build


def main() -> None:
    print(json.dumps(build(), indent=1))


if __name__ == "__main__":
    main()
