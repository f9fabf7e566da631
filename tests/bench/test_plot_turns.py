"""benchkit.live.plot_turns draws one quoted live.py run: its turns and each stage's median
length, face beside voice only."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from PIL import Image

from benchkit.live.plot_turns import plot, segment_medians

QUOTED = Path(__file__).resolve().parents[2] / "bench" / "quoted"


def test_the_stages_are_each_turns_own_lengths(tmp_path: Path) -> None:
    rows = [{"video": video, "voice_to_voice_ms": 500 + extra,
             "stages": {"vad_stop": 250.0, "transcript": 280.0 + extra,
                        "llm_first_text": 330.0 + extra, "tts_text": 333.0 + extra,
                        "tts_audio": 430.0 + extra, "wire_audio": 480.0 + extra + wait,
                        "client_audio": 483.0 + extra + wait}}
            for video, extra, wait in ((True, 20.0, 30.0), (True, 40.0, 10.0),
                                       (False, 0.0, 0.0), (False, 0.0, 0.0))]
    medians = segment_medians(rows)
    assert medians["transcript"] == {"face": 60.0, "voice_only": 30.0}
    assert medians["to the transport"] == {"face": 70.0, "voice_only": 50.0}
    assert medians["VAD's stop"] == {"face": 250.0, "voice_only": 250.0}


def test_the_quoted_session_29_run_is_drawn(tmp_path: Path) -> None:
    run = json.loads(gzip.decompress((QUOTED / "live_face_adds_s29.json.gz").read_bytes()))
    out = tmp_path / "turns.png"
    medians = plot(run, out)
    assert medians["to the transport"]["face"] > medians["to the transport"]["voice_only"]
    with Image.open(out) as image:
        assert image.size[0] > 600 and image.size[1] > 200
