"""What the WebRTC benches share (bench/webrtc/): lip sync read off the page, the codec
measures.
"""
