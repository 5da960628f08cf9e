"""`maskvox serve`: the Synthesizer behind an HTTP API (FastAPI, run by uvicorn).

app.py builds the app from any engine with `clone_batch` (the Synthesizer, or a stub in tests);
voices.py holds the registered voices (prompt + transcript, by name); worker.py runs generation
in one thread behind a bounded queue; guards.py bounds request bodies and checks the bearer
token; uploads.py reads uploaded audio (bounded in bytes and seconds); settings.py holds the
bounds; errors.py turns every refusal into a 4xx/5xx JSON body `{"error": "..."}` of one line.
Importing this package loads neither FastAPI nor torch: `from maskvox.serve.app import create_app`.
"""
