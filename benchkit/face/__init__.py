"""What the face benches share (bench/face/): the bench portraits, the renderer's quality
and round-trip measures, the mouth against real mouths, the numpy references the
compiled kernels are measured against.
"""
