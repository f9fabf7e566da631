"""The live face in a pipecat pipeline: the face service (audio and video on one
clock), its start-up, camera, pacing and metrics, and the adapter that puts its
frames onto our websocket."""
