"""The websocket end of the pipeline: the server's protocol state machine
(protocol_session.py; the schema it checks is sdk.protocol), the pipecat serializer,
protocol events, the per-session outbox, the transport, and every custom pipecat
frame (frames.py)."""
