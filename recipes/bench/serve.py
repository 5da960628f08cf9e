"""Serving benchmark: dynamic batching against one request at a time, side by side, and
streaming's time to first audio against the whole answer's latency.

    OMP_NUM_THREADS=1 python -m recipes.bench.serve [--model tiny|demo|DIR] [--requests 32] \\
        [--concurrency 16] [--max-batch 8] [--batch-wait-ms 5]

One process: the model loads once. Each mode starts the app (maskvox.serve.app) on uvicorn on
127.0.0.1 (a free port) and sends `--requests` speech requests (a few texts, distinct seeds),
`--concurrency` of them in flight at once, after one warm-up request (which reads the voice's
prompt; it is cached after that). Modes: `batched` (--max-batch, --batch-wait-ms) and
`one at a time` (--max-batch 1). Each request's latency is from sending it to its last byte;
throughput is requests over the wall time of the burst. Every batched answer is checked to be
the same bytes as the one-at-a-time answer to the same request.

Streaming: one request of `--sentences` sentences, alone on the server, `--stream-runs` times
each way: streamed (time to the first audio after the wav header, and to the end) and not
streamed (time to the whole answer); medians.

`--model tiny` (default) builds the test suite's tiny random models (tests/factories.py: a
checkout is needed; the outputs are noise, the shapes and the work per stage real but small);
`demo` is the small checkpoint shipped in maskvox/assets/demo; anything else is a model folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["Hello there.", "A somewhat longer sentence than the first one.", "Good morning to you.",
         "How are you today?", "See you soon, and take care."]
STREAM_SENTENCES = ["The first sentence is short.", "Then a second one follows it.",
                    "A third sentence comes after that.", "And the fourth one ends the paragraph.",
                    "One more, to be sure.", "The last sentence closes the text."]


def model_folder(name: str, scratch: Path) -> str:
    if name == "tiny":
        sys.path.insert(0, str(ROOT / "tests"))
        from factories import tiny_full_model_folder

        return str(tiny_full_model_folder(scratch / "tiny"))
    if name == "demo":
        from maskvox.checkpoint import default_model_location

        return default_model_location()
    return name


def voices_folder(scratch: Path) -> Path:
    """One voice, `alice`: the example prompt the tests use."""
    import shutil

    folder = scratch / "voices"
    folder.mkdir()
    shutil.copy(ROOT / "egs" / "clone" / "prompt.wav", folder / "alice.wav")
    shutil.copy(ROOT / "egs" / "clone" / "prompt.txt", folder / "alice.txt")
    return folder


def running(app):
    """The app on uvicorn on 127.0.0.1 (a free port), in a thread; yields its URL."""
    from maskvox.commands.serve import serving_in_thread

    return serving_in_thread(app)


def body(index: int, **fields) -> dict:
    return {"model": "tts-1", "input": TEXTS[index % len(TEXTS)], "voice": "alice", "seed": 1000 + index, **fields}


async def burst(url: str, requests: int, concurrency: int) -> tuple[float, list[float], list[bytes]]:
    """`requests` requests, `concurrency` in flight: (wall seconds, each latency, each answer)."""
    import httpx

    gate = asyncio.Semaphore(concurrency)
    latencies, answers = [0.0] * requests, [b""] * requests

    async def one(client, index: int) -> None:
        async with gate:
            started = time.perf_counter()
            answer = await client.post("/v1/audio/speech", json=body(index))
            answer.raise_for_status()
            latencies[index], answers[index] = time.perf_counter() - started, answer.content

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        await one(client, 0)  # warm-up: reads the voice's prompt once
        started = time.perf_counter()
        await asyncio.gather(*(one(client, index) for index in range(requests)))
        return time.perf_counter() - started, latencies, answers


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def stream_times(url: str, runs: int) -> dict[str, float]:
    """Medians over `runs`: streamed first audio and end, and the whole non-streamed answer."""
    import httpx

    text = " ".join(STREAM_SENTENCES)
    first, streamed, whole = [], [], []
    with httpx.Client(base_url=url, timeout=600) as client:
        for run in range(runs):
            fields = {"model": "tts-1", "input": text, "voice": "alice", "seed": 7 + run}
            started = time.perf_counter()
            with client.stream("POST", "/v1/audio/speech", json={**fields, "stream": True}) as answer:
                answer.raise_for_status()
                received = 0
                for chunk in answer.iter_raw():
                    received += len(chunk)
                    if received > 44 and len(first) == run:  # past the wav header: audio
                        first.append(time.perf_counter() - started)
            streamed.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.post("/v1/audio/speech", json=fields).raise_for_status()
            whole.append(time.perf_counter() - started)
    return {"first_audio_s": statistics.median(first), "stream_end_s": statistics.median(streamed),
            "whole_s": statistics.median(whole), "sentences": len(STREAM_SENTENCES)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny (random, default), demo, or a model folder")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-batch", type=int, default=8)
    parser.add_argument("--batch-wait-ms", type=float, default=5.0)
    parser.add_argument("--batch-size", type=int, default=8, help="pieces per forward pass")
    parser.add_argument("--stream-runs", type=int, default=3)
    parser.add_argument("--out", help="also write the figures here (JSON)")
    args = parser.parse_args(argv)

    import torch

    from maskvox.pipeline import Synthesizer
    from maskvox.serve.app import create_app
    from maskvox.serve.settings import ServeSettings
    from maskvox.serve.voices import VoiceRegistry

    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        folder = model_folder(args.model, scratch)
        engine = Synthesizer.from_pretrained(folder, preset=args.preset, device="cpu")
        voices = VoiceRegistry(voices_folder(scratch))
        rows, answers = {}, {}
        for mode, max_batch in (("one at a time", 1), ("batched", args.max_batch)):
            settings = ServeSettings(max_batch=max_batch, batch_wait_ms=args.batch_wait_ms,
                                     batch_size=args.batch_size, queue_size=args.requests + 1)
            app = create_app(engine, voices, settings)
            with running(app) as url:
                wall, latencies, answers[mode] = asyncio.run(burst(url, args.requests, args.concurrency))
            sizes = app.state.worker.batches[1:]  # after the warm-up
            rows[mode] = {"requests_per_s": args.requests / wall, "p50_s": percentile(latencies, 0.5),
                          "p95_s": percentile(latencies, 0.95), "mean_batch": sum(sizes) / len(sizes),
                          "wall_s": wall}
        same = answers["batched"] == answers["one at a time"]
        with running(create_app(engine, voices, ServeSettings())) as url:
            streaming = stream_times(url, args.stream_runs)

    print(f"model {args.model} ({args.preset}), {args.requests} requests, {args.concurrency} in flight, "
          f"{torch.get_num_threads()} thread(s); batched answers == one at a time: {same}")
    print("| mode | requests/s | p50 s | p95 s | mean batch |")
    print("|---|---|---|---|---|")
    for mode, row in rows.items():
        print(f"| {mode} | {row['requests_per_s']:.2f} | {row['p50_s']:.2f} | {row['p95_s']:.2f} | "
              f"{row['mean_batch']:.1f} |")
    print(f"\nstreaming, {streaming['sentences']} sentences, alone (medians of {args.stream_runs}):")
    print("| first audio s (streamed) | last byte s (streamed) | whole answer s (not streamed) |")
    print("|---|---|---|")
    print(f"| {streaming['first_audio_s']:.2f} | {streaming['stream_end_s']:.2f} | {streaming['whole_s']:.2f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"args": vars(args), "modes": rows, "same_bytes": same,
                                              "streaming": streaming}, indent=1) + "\n")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
