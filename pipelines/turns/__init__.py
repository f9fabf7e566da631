"""Whose turn it is: speech onset from the VAD, backchannel-tolerant barge-in and
the voice-only reply pacer, holds on unfinished turns (by words and by the LLM's
reading), speculative replies, joined split turns, and the bounded context the
LLM reads (history window, knowledge injection)."""
