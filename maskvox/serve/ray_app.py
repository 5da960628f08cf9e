"""`maskvox serve --engine ray`: the same FastAPI app (app.py) as a Ray Serve deployment, for
users who outgrow one machine: replicas (fixed or autoscaled), each with its share of CPUs and
GPUs (fractions allowed: two replicas can share a GPU), behind Ray's HTTP proxy.

Each replica loads its own engine (`load_engine()`, called in the replica's process: models are
never pickled) and runs the app exactly as the local server does, with its own worker, dynamic
batching, bounded queue and 503s. So a request answers the same bytes on either engine. In
front of the replicas Ray queues at most `max_queued_requests` (then answers 503 itself); a
replica takes at most `max_ongoing_requests`, by default its own queue's capacity, so Ray
routes to another replica before that one would refuse.

The config is a YAML or JSON file of RayServeConfig's fields:

    num_replicas: 2          # ignored when autoscaling is given
    num_cpus: 1.0            # per replica
    num_gpus: 0.5            # per replica (two replicas per GPU)
    max_queued_requests: 64
    autoscaling: {min_replicas: 1, max_replicas: 4, target_ongoing_requests: 4}
    address: auto            # join a running cluster (default: start Ray on this machine)
"""

from __future__ import annotations

import dataclasses
import json
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml
from ray import serve

from ..errors import UserError
from .app import Engine, create_app
from .settings import ServeSettings
from .voices import VoiceRegistry

MAX_REPLICAS = 1_024
MAX_CONFIG_BYTES = 64 * 2**10


@dataclass(frozen=True)
class Autoscaling:
    """Ray Serve's autoscaling_config: replicas between min and max, aiming at
    `target_ongoing_requests` per replica (a clone batch's worth keeps batching useful)."""

    min_replicas: int = 1
    max_replicas: int = 2
    target_ongoing_requests: float = 4.0
    upscale_delay_s: float = 30.0
    downscale_delay_s: float = 600.0

    def __post_init__(self):
        _check(self, "min_replicas", 0, MAX_REPLICAS, whole=True)
        _check(self, "max_replicas", max(1, self.min_replicas), MAX_REPLICAS, whole=True)
        _check(self, "target_ongoing_requests", 0.01, 65_536)
        for name in ("upscale_delay_s", "downscale_delay_s"):
            _check(self, name, 0, 86_400)


@dataclass(frozen=True)
class RayServeConfig:
    """How the deployment is laid out (see the module's docstring). `max_ongoing_requests` None:
    each replica's own queue capacity (ServeSettings' max_batch + queue_size)."""

    num_replicas: int = 1
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_ongoing_requests: int | None = None
    max_queued_requests: int = 64
    autoscaling: Autoscaling | None = None
    address: str | None = None

    def __post_init__(self):
        if isinstance(self.autoscaling, dict):  # as read from a file
            object.__setattr__(self, "autoscaling", _build(Autoscaling, self.autoscaling, "autoscaling"))
        _check(self, "num_replicas", 1, MAX_REPLICAS, whole=True)
        _check(self, "num_cpus", 0, 1_024)  # fractions allowed
        _check(self, "num_gpus", 0, 1_024)
        if self.max_ongoing_requests is not None:
            _check(self, "max_ongoing_requests", 1, 65_536, whole=True)
        _check(self, "max_queued_requests", 0, 65_536, whole=True)
        if self.address is not None and not isinstance(self.address, str):
            raise UserError(f"address must be text (auto, or ray://HOST:PORT), got {self.address!r:.80}")

    @classmethod
    def load(cls, path: str | Path) -> RayServeConfig:
        """A .yaml/.yml/.json file of the fields; unknown fields are refused (a misspelt one would
        otherwise be silently ignored)."""
        path = Path(path)
        try:
            data = path.read_bytes()[:MAX_CONFIG_BYTES + 1]
        except OSError as err:
            raise UserError(f"--ray-config {path}: {err.strerror or err}") from None
        if len(data) > MAX_CONFIG_BYTES:
            raise UserError(f"--ray-config {path} is over {MAX_CONFIG_BYTES // 1024} KiB")
        try:
            fields = json.loads(data) if path.suffix == ".json" else yaml.safe_load(data)
        except (ValueError, yaml.YAMLError) as err:
            raise UserError(f"--ray-config {path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}: "
                            f"{' '.join(str(err).split())[:200]}") from None
        return _build(cls, fields or {}, f"--ray-config {path}")

    def deployment_options(self, settings: ServeSettings) -> dict[str, Any]:
        """Keyword arguments for `Deployment.options`."""
        options: dict[str, Any] = {
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            "max_ongoing_requests": self.max_ongoing_requests or settings.queue_size + settings.max_batch,
            "max_queued_requests": self.max_queued_requests,
        }
        if self.autoscaling is None:
            options["num_replicas"] = self.num_replicas
        else:
            options["autoscaling_config"] = dataclasses.asdict(self.autoscaling)
        return options


def _check(config, name: str, low: float, high: float, whole: bool = False, where: str = "") -> None:
    """`config.name` is a number (a whole one if `whole`) from low to high, else a UserError."""
    value = getattr(config, name)
    kinds = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        raise UserError(f"{where}{name} must be a {'whole ' if whole else ''}number from {low:g} to {high:g}, "
                        f"got {value!r:.80}")


def _build(cls, fields, where: str):
    if not isinstance(fields, dict):
        raise UserError(f"{where}: expected a mapping of fields, got {type(fields).__name__}")
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise UserError(f"{where}: unknown field(s) {', '.join(map(str, unknown))} (known: {', '.join(sorted(known))})")
    try:
        return cls(**fields)
    except UserError as err:
        raise UserError(f"{where}: {err}") from None


@serve.ingress()
class MaskvoxDeployment:
    """One replica: its own engine, voices and app (`__serve_build_asgi_app__` hands Ray the app
    once the engine has loaded)."""

    def __init__(self, load_engine: Callable[[], Engine], voices_folder: str | None, settings: ServeSettings):
        self.maskvox_app = create_app(load_engine(), VoiceRegistry(voices_folder), settings)  # (Ray owns `app`)

    def __serve_build_asgi_app__(self):
        return self.maskvox_app


def build_application(load_engine: Callable[[], Engine], voices_folder: str | None, settings: ServeSettings,
                      config: RayServeConfig):
    """The bound Ray Serve application (for `serve.run`). `load_engine` must pickle (a module-level
    function or a functools.partial of one): it is called in each replica."""
    deployment = serve.deployment(MaskvoxDeployment, name="maskvox")
    return deployment.options(**config.deployment_options(settings)).bind(load_engine, voices_folder, settings)


def deployment_messages() -> str:
    """Why the maskvox deployment failed, in one line: the last line of each deployment's message
    (a replica's message is its traceback; its last line names the error)."""
    try:
        application = serve.status().applications["maskvox"]
    except Exception as err:  # the controller itself is gone
        return f"(no status: {' '.join(str(err).split())[:300]})"
    lines = [_last_line(state.message) for state in application.deployments.values() if state.message.strip()]
    return " | ".join(lines) or _last_line(application.message) or str(application.status)


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""


def run_on_ray(load_engine: Callable[[], Engine], voices_folder: str | None, settings: ServeSettings,
               config: RayServeConfig, host: str, port: int, blocking: bool = True, announce=None) -> None:
    """Start (or join, `config.address`) Ray, then serve the app on host:port until interrupted
    (blocking), or return once it answers (blocking=False: tests; `serve.shutdown()` stops it)."""
    import ray

    if not ray.is_initialized():
        ray.init(address=config.address, include_dashboard=False)  # replicas' logs (errors) show here
    serve.start(http_options={"host": host, "port": port})
    try:
        serve.run(build_application(load_engine, voices_folder, settings, config), name="maskvox", route_prefix="/")
    except RuntimeError:  # "deploying failed": say why in one line (a replica's error is in its status)
        why = deployment_messages()
        serve.shutdown()
        raise UserError(f"Ray Serve could not deploy maskvox: {why}") from None
    if announce:
        announce(f"http://{host}:{port}")
    if blocking:
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())  # as uvicorn does: SIGTERM stops cleanly too
        try:
            stopped.wait()  # until Ctrl-C or SIGTERM
        except KeyboardInterrupt:
            pass
        finally:
            serve.shutdown()
            ray.shutdown()
