"""The speech models and the pipecat services on them, in pipecat's style: models.py
(whisper and piper loaded once per process; no pipecat), stt.py and
speculative_stt.py (whisper), transcript_confidence.py, whisper_alternatives.py
(whisper's n-best, for the file to choose among), llm.py (the local
OpenAI-compatible LLM), first_clause.py (the reply cut into TTS chunks), tts.py (piper)."""
