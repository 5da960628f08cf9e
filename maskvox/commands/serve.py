"""`maskvox serve`: the Synthesizer as an HTTP speech server (maskvox.serve), on 127.0.0.1 unless told."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import socket
import threading
from pathlib import Path

from ..errors import UserError
from .common import add_decoding_arguments, add_memory_arguments, add_model_arguments, load_synthesizer, say

TOKEN_VARIABLE = "MASKVOX_SERVE_TOKEN"  # a token here stays out of `ps` and shell history


def add_command(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="an HTTP speech server (OpenAI-compatible /v1/audio/speech)")
    serve.add_argument("--voices", metavar="DIR",
                       help="registered voices: NAME.wav + NAME.txt (transcript), optionally NAME.lang")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)")
    serve.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0: any free one)")
    serve.add_argument("--token", default=None,
                       help=f"bearer token every request but /health must carry (default: ${TOKEN_VARIABLE}, "
                            "else none)")
    serve.add_argument("--queue-size", type=int, default=8,
                       help="requests that may wait behind those generating; more get 503 (default: 8)")
    serve.add_argument("--max-batch", type=int, default=8,
                       help="speech/clone requests generated together in one batch (default: 8; 1: one at a time)")
    serve.add_argument("--batch-wait-ms", type=float, default=5.0,
                       help="how long a request waits for others to batch with (default: 5)")
    serve.add_argument("--batch-size", type=int, default=8,
                       help="pieces (of one long text, or of a batch's requests) per forward pass (default: 8)")
    serve.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="local: this process (default); ray: a Ray Serve deployment (needs the `serve` extra)")
    serve.add_argument("--ray-config", metavar="FILE",
                       help="--engine ray: replicas, CPUs/GPUs per replica, autoscaling (.yaml or .json; "
                            "see maskvox/serve/ray_app.py)")
    add_decoding_arguments(serve, "fast, default (the reference's steps) or high; or a .yaml/.json of preset fields")
    add_memory_arguments(serve)
    add_model_arguments(serve)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..serve.settings import ServeSettings
    from ..serve.voices import VoiceRegistry

    settings = ServeSettings(token=args.token or os.environ.get(TOKEN_VARIABLE) or None,
                             queue_size=args.queue_size, batch_size=args.batch_size, max_batch=args.max_batch,
                             batch_wait_ms=args.batch_wait_ms)
    voices = VoiceRegistry(args.voices)
    if args.ray_config and args.engine != "ray":
        raise UserError("--ray-config needs --engine ray")
    if args.engine == "ray":
        return run_ray(args, settings, voices)
    sock = bind(args.host, args.port)  # a taken port fails before the models load
    synthesizer = load_synthesizer(args, "fast")
    serve_forever(synthesizer, voices, settings, sock, quiet=args.quiet,
                  announce=lambda url: say(args, f"maskvox serve: listening on {url} "
                                                 f"({len(voices.names())} voice(s); Ctrl-C stops)"))


def run_ray(args: argparse.Namespace, settings, voices) -> None:
    """The same app on Ray Serve: each replica loads the models itself (load_from_args)."""
    try:
        from ..serve.ray_app import RayServeConfig, run_on_ray
    except ImportError as err:
        raise UserError(f"--engine ray needs Ray Serve: pip install -c constraints.txt 'maskvox[serve,ray]' "
                        f"({err})") from None
    config = RayServeConfig.load(args.ray_config) if args.ray_config else RayServeConfig()
    if args.model and Path(args.model).exists():  # replicas may start in another folder
        args.model = str(Path(args.model).resolve())
    with bind(args.host, args.port) as sock:  # a taken port fails before Ray starts (0: a free one, chosen now)
        port = sock.getsockname()[1]
    folder = None if voices.folder is None else str(voices.folder.resolve())
    run_on_ray(functools.partial(load_from_args, args), folder, settings, config, args.host, port,
               announce=lambda url: say(args, f"maskvox serve: Ray Serve listening on {url} "
                                              f"({len(voices.names())} voice(s); Ctrl-C stops)"))


def load_from_args(args: argparse.Namespace):
    """The Synthesizer the flags describe (in a Ray replica: module-level, so it pickles)."""
    return load_synthesizer(args, "fast")


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a UserError saying why not (a taken port, an unknown address)."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port must be from 0 to 65535, got {port}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        raise UserError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None
    return sock


@contextlib.contextmanager
def serving_in_thread(app, host: str = "127.0.0.1", join_seconds: float = 60.0):
    """`app` on uvicorn at `host` on a free port, in a thread (tests, benchmarks); yields its
    base URL and stops the server when the block ends."""
    import uvicorn

    sock = bind(host, 0)  # listening already: a request waits in its backlog until uvicorn runs
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(join_seconds)
        sock.close()
    if thread.is_alive():
        raise RuntimeError("the server thread did not stop")


def serve_forever(engine, voices, settings, sock: socket.socket, quiet: bool = False, announce=None) -> None:
    """Run the app on `sock` until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    import uvicorn

    from ..serve.app import create_app

    host, port = sock.getsockname()[:2]
    if announce:
        announce(f"http://{host}:{port}")
    config = uvicorn.Config(create_app(engine, voices, settings), log_level="warning" if quiet else "info")
    uvicorn.Server(config).run(sockets=[sock])
