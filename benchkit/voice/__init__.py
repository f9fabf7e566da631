"""What the voice benches share (bench/voice/): barge-in clips and their set, paused
utterances, turn splits and the turn-end combiner, voice-to-voice sides and stages.
"""
