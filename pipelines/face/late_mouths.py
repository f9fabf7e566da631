"""When the clock shows a reply's frame from its hand-over block's mouths, not drawn.

The frames right after a reply's hand-over block glide from its held pose
(avatar/live/late_mouths.py). A drawing there that would leave the frame short of its
time (slow drawings on a loaded machine, docs/KIOSK.md) is not made: the frame shows
the mouth drawn ahead whose jaw is nearest its own, at once. Where the frame has time, it is drawn as ever. Only where the clock sends a
reply's frames ahead of their time (`REPLY_LEAD_SECS`, our websocket, the reply's first
seconds): elsewhere a frame goes on its slot and is never two frames ahead of it.
"""

from __future__ import annotations

#: a reply frame gliding from its hand-over block that may go ahead of its time (the reply
#: lead) and is less than MOUTH_MARGIN_SECS from its time (or past it) when its drawing
#: would start is shown from that block's mouths instead (False: drawn, or the last image
#: repeated when over a frame late, as before; docs/KIOSK.md)
LATE_MOUTHS = True
#: how far ahead of its time (s) such a frame must be for its drawing to start: two
#: frames, well beyond a drawing's usual time
MOUTH_MARGIN_SECS = 0.08


def shows_a_mouth(*, speaking: bool, chosen: bool, encoded: bool, lead_secs: float,
                  margin_secs: float) -> bool:
    """Whether the frame is shown from a hand-over block's mouths, if it has them: it
    carries the reply's voice, repeats no image by choice (the level's stride, the
    thinking hold), is not encoded where it is drawn (our WebRTC tracks), may go up to
    `lead_secs` ahead of its time (the reply lead; 0: on its slot), and is `margin_secs`
    ahead of its time, less than MOUTH_MARGIN_SECS (negative: behind)."""
    return (LATE_MOUTHS and speaking and not chosen and not encoded and lead_secs > 0
            and margin_secs < MOUTH_MARGIN_SECS)


__all__ = ["LATE_MOUTHS", "MOUTH_MARGIN_SECS", "shows_a_mouth"]
