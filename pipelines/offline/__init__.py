"""Work done from files, no pipecat pipeline.

    converse.py        one recorded exchange through the live avatar: a user clip in,
                       user | avatar out (`avatar-forcing converse`)
    clip.py            the user's recording: its audio, its frames on the 25 fps clock
    reply.py           the avatar's answer: whisper, the LLM (or a given text), piper
    exchange.py        what an exchange takes (`ConverseOptions`) and gives back
    passes.py          the two passes: generate every block, then render and encode
    contact_sheet.py   the PNG of frames while the avatar listens and speaks

Same models and face as the server, driven on the video's own clock as fast as the
CPU allows.
"""
