"""The live face in a pipecat pipeline: the face service (audio and video on one
clock), its settings, start-up, camera, pacing and metrics."""
