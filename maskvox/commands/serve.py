"""`maskvox serve`: the Synthesizer as an HTTP speech server (maskvox.serve), on 127.0.0.1 unless told."""

from __future__ import annotations

import argparse
import os
import socket

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
                       help="requests that may wait behind the one generating; more get 503 (default: 8)")
    serve.add_argument("--batch-size", type=int, default=8,
                       help="pieces of a long text generated together (default: 8)")
    add_decoding_arguments(serve, "fast, default (the reference's steps) or high; or a .yaml/.json of preset fields")
    add_memory_arguments(serve)
    add_model_arguments(serve)
    serve.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..serve.settings import ServeSettings
    from ..serve.voices import VoiceRegistry

    settings = ServeSettings(token=args.token or os.environ.get(TOKEN_VARIABLE) or None,
                             queue_size=args.queue_size, batch_size=args.batch_size)
    voices = VoiceRegistry(args.voices)
    sock = bind(args.host, args.port)  # a taken port fails before the models load
    synthesizer = load_synthesizer(args, "fast")
    serve_forever(synthesizer, voices, settings, sock, quiet=args.quiet,
                  announce=lambda url: say(args, f"maskvox serve: listening on {url} "
                                                 f"({len(voices.names())} voice(s); Ctrl-C stops)"))


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


def serve_forever(engine, voices, settings, sock: socket.socket, quiet: bool = False, announce=None) -> None:
    """Run the app on `sock` until interrupted (uvicorn handles SIGINT/SIGTERM)."""
    import uvicorn

    from ..serve.app import create_app

    host, port = sock.getsockname()[:2]
    if announce:
        announce(f"http://{host}:{port}")
    config = uvicorn.Config(create_app(engine, voices, settings), log_level="warning" if quiet else "info")
    uvicorn.Server(config).run(sockets=[sock])
