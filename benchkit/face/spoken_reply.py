"""A spoken reply's motion from the shipped generator, for benches that compare two
ways of drawing the same frames (the mouth's pass, the read-out's solve)."""

from __future__ import annotations

import numpy as np

REPLY = ("Sure, I can help with that. The museum opens at nine in the morning and "
         "closes at five, and on Thursdays it stays open until eight.")


def reply_motion() -> np.ndarray:
    """The motion the shipped generator makes for `REPLY` in the piper voice."""
    import torch

    from avatar.corpus.speech import SpeechSynth, Voice
    from avatar.generator.streaming import StreamingGenerator
    from avatar.portrait import Portrait
    from benchkit.face.mouth_realism import speaking_motion

    torch.set_num_threads(1)
    engine = StreamingGenerator.from_checkpoint(Portrait.default(256).reference_motion,
                                                None, seed=0)
    audio = SpeechSynth().say(REPLY, Voice(id="piper:joe", engine="piper")).audio
    return speaking_motion(engine, audio)


__all__ = ["REPLY", "reply_motion"]
