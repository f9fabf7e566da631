"""The voice server: the FastAPI app and uvicorn (app.py), per-connection sessions
(call.py), the shared runtime and configuration (runtime.py), log hygiene and
the server's errors."""
