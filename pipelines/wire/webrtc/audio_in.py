"""The visitor's voice out of aiortc's receiver without its four packets of prefetch.

Why: aiortc's audio receiver hands a packet to the decoder only once four later
packets have arrived (`JitterBuffer(capacity=16, prefetch=4)`), so every 20 ms of
the microphone reached the pipeline 80 ms late, and the end of each question
reached the VAD 80 ms late. A playout device needs that cushion; a pipeline that
only listens (VAD, speech recognition) does not. With no prefetch a packet is
handed on when the next one arrives: 20 ms, as a reordering window of one.

The receiver's buffer is replaced by one without prefetch (a buffer whose prefetch
is lowered in place keeps the packets it holds as a lag for good: it hands on one
frame per packet received). Best done before media flows (the server does it when
the offer is answered); later, the up to four packets it held are dropped once.
"""

from __future__ import annotations

from typing import Any

from aiortc.jitterbuffer import JitterBuffer

#: packets aiortc's audio receiver holds back before decoding (its own default is 4)
AUDIO_IN_PREFETCH = 0


def trim_audio_prefetch(peer_connection: Any) -> int:
    """Set the prefetch of every audio receiver of `peer_connection` (aiortc's
    RTCPeerConnection) to AUDIO_IN_PREFETCH; the number of receivers changed."""
    changed = 0
    try:
        transceivers = peer_connection.getTransceivers()
    except Exception:  # no peer connection yet
        return 0
    for transceiver in transceivers:
        if transceiver.kind != "audio" or transceiver.receiver is None:
            continue
        receiver = transceiver.receiver
        buffer = getattr(receiver, "_RTCRtpReceiver__jitter_buffer", None)
        if isinstance(buffer, JitterBuffer) and buffer._prefetch != AUDIO_IN_PREFETCH:
            receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(
                capacity=buffer.capacity, prefetch=AUDIO_IN_PREFETCH)
            changed += 1
    return changed
