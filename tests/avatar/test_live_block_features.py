"""The audio features a session hands its generator each block (the block's frames and
the lookahead frames after them) are the reply's offline features, row for row: the
played frames featurized once into the stream, the lookahead read from a copy."""

from __future__ import annotations

import numpy as np

from avatar.audio_features import SAMPLES_PER_FRAME, compute_features
from avatar.generator.checkpoint import DEFAULT_CHECKPOINT, GeneratorCheckpoint, load_generator
from avatar.live import AvatarSession, SessionOptions
from avatar.live.face import LocalFace
from avatar.portrait import Portrait
from benchkit.face_inputs import RATE, reply_tone

BLOCKS = 12  # 2.4 s: the reply (1.5 s) ends mid-block and silence follows


class RecordingFace(LocalFace):
    """The shipped face, keeping the audio features of each step it is asked for."""

    def __init__(self, checkpoint: GeneratorCheckpoint) -> None:
        super().__init__(checkpoint)
        self.features: list[np.ndarray] = []

    def step(self, avatar: np.ndarray, user_audio: np.ndarray, user_motion: np.ndarray,
             present: np.ndarray) -> np.ndarray:
        self.features.append(np.array(avatar, copy=True))
        return super().step(avatar, user_audio, user_motion, present)


def test_each_blocks_features_are_the_replys_offline_features() -> None:
    face = RecordingFace(load_generator(DEFAULT_CHECKPOINT))
    session = AvatarSession(Portrait.default(), None, output_rate=RATE, face=face,
                            options=SessionOptions(size=256))
    session.push_avatar_audio(reply_tone(1.5), RATE)
    reply_16k = session._reply._16k.copy()  # the reply as the session resampled it
    lookahead = session._shape.lookahead
    n = session.block_frames
    for _ in range(BLOCKS):
        session.next_block()
    session.close()
    total = (BLOCKS * n + lookahead) * SAMPLES_PER_FRAME
    offline = compute_features(np.pad(reply_16k, (0, total - len(reply_16k))))
    assert len(face.features) == BLOCKS and lookahead > 0
    for b, got in enumerate(face.features):
        assert got.shape == (n + lookahead, offline.shape[1])
        np.testing.assert_array_equal(got, offline[b * n:(b + 1) * n + lookahead])
    assert np.ptp(offline[:, 0]) > 0.5  # the reply and the silence after it differ
