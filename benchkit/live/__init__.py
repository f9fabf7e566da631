"""What the live-server benches share (bench/live/, and the kiosk ones that talk to the
server as a client): a live session's client and log, the server under test, A/V sync,
the quality log, memory sites.
"""
