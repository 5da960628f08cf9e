"""`maskvox serve --engine ray`: the same app as a Ray Serve deployment, on a local Ray instance
(127.0.0.1, a free port), answers the same bytes as the local server; its config file is checked."""

import functools
import json
import shutil

import httpx
import pytest

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from maskvox.errors import UserError
from maskvox.serve.settings import ServeSettings

ray_app = pytest.importorskip("maskvox.serve.ray_app", reason="Ray Serve is not installed (the `serve` extra)")
RayServeConfig, Autoscaling = ray_app.RayServeConfig, ray_app.Autoscaling
WAIT = 120  # seconds: a bound on one request, never a measured delay


def test_the_config_file_is_read_with_its_autoscaling_and_unknown_fields_are_refused(tmp_path):
    path = tmp_path / "ray.yaml"
    path.write_text("num_cpus: 0.5\nnum_gpus: 0.25\nautoscaling: {min_replicas: 1, max_replicas: 3}\n")
    config = RayServeConfig.load(path)
    assert config.autoscaling == Autoscaling(min_replicas=1, max_replicas=3)
    options = config.deployment_options(ServeSettings(queue_size=4, max_batch=2))
    assert options["ray_actor_options"] == {"num_cpus": 0.5, "num_gpus": 0.25}
    assert options["autoscaling_config"]["max_replicas"] == 3 and "num_replicas" not in options
    assert options["max_ongoing_requests"] == 6  # the replica's own queue capacity
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps({"num_replicas": 2, "max_queued_requests": 10}))
    assert RayServeConfig.load(fixed).deployment_options(ServeSettings())["num_replicas"] == 2
    for text, words in (("num_replica: 2", "unknown field(s) num_replica"), ("num_cpus: -1", "num_cpus"),
                        ("num_cpus: lots", "num_cpus"),
                        ("autoscaling: {min_replicas: 3, max_replicas: 2}", "max_replicas must be a whole number from 3"),
                        ("[1, 2]", "expected a mapping"), ("a: [", "not valid YAML")):
        path.write_text(text)
        with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)")):
            RayServeConfig.load(path)


@pytest.mark.slow
def test_ray_serve_answers_the_same_bytes_as_the_local_server(tiny_full_model, tmp_path, monkeypatch):
    import ray
    from fastapi.testclient import TestClient
    from ray import serve

    from maskvox.commands.serve import bind
    from maskvox.pipeline import Synthesizer
    from maskvox.serve.app import create_app
    from maskvox.serve.voices import VoiceRegistry

    voices = tmp_path / "voices"
    voices.mkdir()
    shutil.copy(EXAMPLE_PROMPT, voices / "alice.wav")
    shutil.copy(EXAMPLE_PROMPT_TEXT, voices / "alice.txt")
    load = functools.partial(Synthesizer.from_pretrained, str(tiny_full_model), device="cpu", preset="fast")
    body = {"model": "tts-1", "input": "Hello there.", "voice": "alice", "seed": 9}
    settings = ServeSettings(max_batch=4, queue_size=4)
    streamed = {**body, "input": "Hello there. See you soon.", "stream": True}
    with TestClient(create_app(load(), VoiceRegistry(voices), settings)) as client:
        local = client.post("/v1/audio/speech", json=body)
        local_stream = client.post("/v1/audio/speech", json=streamed)
    assert local.status_code == 200 and local_stream.status_code == 200, local.text

    with bind("127.0.0.1", 0) as sock:  # a free port
        port = sock.getsockname()[1]
    config = RayServeConfig(num_replicas=1, num_cpus=0.5)  # a fractional CPU
    # Ray Serve gives its HTTP proxy 5 s to report ready, three times, then kills it: on a loaded
    # 2-core machine (a fresh-clone run beside training and evaluations) it missed that once.
    # The workers read the variable when ray.init starts them.
    monkeypatch.setenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "60")
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=True)
    except Exception as err:
        pytest.fail(f"a local Ray instance cannot start here: {type(err).__name__}: {err}")
    try:
        ray_app.run_on_ray(load, str(voices), settings, config, "127.0.0.1", port, blocking=False)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as client:
            health = client.get("/health")
            remote = client.post("/v1/audio/speech", json=body)
            remote_stream = client.post("/v1/audio/speech", json=streamed)
    finally:
        serve.shutdown()
        ray.shutdown()
    assert health.json()["queue"]["capacity"] == 8
    assert remote.status_code == 200, remote.text
    assert remote.headers["x-maskvox-seed"] == "9"
    assert remote.content == local.content
    assert remote_stream.status_code == 200 and remote_stream.content == local_stream.content
