"""The live avatar in the pipeline: the avatar node (audio and video on one clock),
the camera-rate gate, and the adapter that puts its frames onto the wire."""
