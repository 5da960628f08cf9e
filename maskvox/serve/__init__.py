"""`maskvox serve`: the Synthesizer behind an HTTP API (FastAPI, run by uvicorn or Ray Serve).

app.py builds the app from any engine with `clone_batch` (the Synthesizer, or a stub in tests);
voices.py holds the registered voices (prompt + transcript, by name); worker.py runs generation
in one thread behind a bounded queue, gathering clone requests that wait together into one
`clone_batch` call (dynamic batching); stream.py cuts a streamed request into sentences and
writes the wav header of unknown length; guards.py bounds request bodies and checks the bearer
token; uploads.py reads uploaded audio (bounded in bytes and seconds); settings.py holds the
bounds; errors.py turns every refusal into a 4xx/5xx JSON body `{"error": "..."}` of one line;
ray_app.py deploys the same app on Ray Serve (replicas, CPUs/GPUs, autoscaling).
Importing this package loads neither FastAPI nor torch: `from maskvox.serve.app import create_app`.
"""
