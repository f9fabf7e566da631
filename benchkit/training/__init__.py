"""What the training benches share (bench/training/): the real face tracks.
"""
