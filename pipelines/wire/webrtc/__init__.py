"""Our WebRTC end of the wire: media-clock audio and video tracks for pipecat's
SmallWebRTC output (output.py, fitted by fitting.py), the pacer threads that send
their RTP at its time (pacer.py, audio_pacer.py, video_pacer.py over rtp_link.py),
the writer process that puts the datagrams on the socket (datagram_writer.py), the
Opus encoder (opus.py) and the microphone's prefetch trim (audio_in.py)."""
