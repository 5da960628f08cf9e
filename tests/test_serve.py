"""`maskvox serve`: the HTTP API driven through FastAPI's TestClient.

A stub stands in for the Synthesizer in most tests (no model loads): it answers noise drawn from
the request's seed and text, and checks the controls as the real one does, so each answer says
what reached it. The slow tests put the real pipeline (tiny random models) behind the app and
start uvicorn on a real socket."""

import asyncio
import io
import json
import shutil
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, speechlike, write_wav
from maskvox.cli import main
from maskvox.errors import UserError
from maskvox.limits import MAX_SERVE_TEXT_CHARACTERS
from maskvox.pieces import piece_seed
from maskvox.request import CloneRequest, check_seed
from maskvox.serve.app import create_app
from maskvox.serve.settings import ServeSettings
from maskvox.serve.stream import sentence_texts, wav_stream_header
from maskvox.serve.voices import VoiceRegistry
from maskvox.serve.worker import Worker

RATE = 24000
PROMPT_TEXT = EXAMPLE_PROMPT_TEXT.read_text(encoding="utf-8").strip()
TOKEN = "s3cret-token"
WAIT = 30  # seconds: a bound on waiting for another thread, never a measured delay
BURST_WAIT = 120  # seconds: the bound on each of 50 concurrent requests to the tiny real models


class StubEngine:
    """`clone_batch`'s signature and results, with seeded noise; `gate`, when given, holds each
    request until it is set (`entered` says one is being held)."""

    def __init__(self, gate: threading.Event | None = None, hold: str | None = None):
        self.calls, self.batches, self.gate, self.entered = [], [], gate, threading.Event()
        self.hold = hold  # with a gate: hold only the request with this text
        self.holding = threading.Event()  # set when the held request is being held
        self.events = []  # "generated TEXT", in order (the streaming test adds its own)

    def clone_batch(self, requests, batch_size=8, return_errors=False):
        self.batches.append([request.text for request in requests])
        results = []
        for request in requests:
            try:
                request.length_request()  # the real controls' checks: speed out of range is a UserError
                check_seed(request.seed)
                if not request.text.strip():
                    raise UserError("the text is empty")
            except UserError as err:
                if not return_errors:
                    raise
                results.append(err)
                continue
            self.calls.append(request)
            self.entered.set()
            if self.gate is not None and self.hold in (None, request.text):
                self.holding.set()
                assert self.gate.wait(WAIT), "held for too long"
            self.events.append(f"generated {request.text}")
            seed = 1234 if request.seed is None else request.seed
            noise = np.random.default_rng([seed, len(request.text)]).standard_normal(RATE // 10)
            results.append(SimpleNamespace(audio=(0.1 * noise).astype(np.float32), sample_rate=RATE, seed=seed))
        return results

    def convert(self, source, prompt, prompt_text="", language="en", seed=None, source_pitch_shift=0.0,
                batch_size=8):
        self.calls.append(SimpleNamespace(source=source, prompt=prompt, prompt_text=prompt_text,
                                          pitch=source_pitch_shift))
        samples, rate = source
        return SimpleNamespace(audio=np.zeros(round(samples.shape[0] / rate * RATE), np.float32), sample_rate=RATE,
                               seed=seed or 0)

    def edit(self, audio, text, new_text, language="en", span=None, seed=None):
        self.calls.append(SimpleNamespace(audio=audio, text=text, new_text=new_text, span=span))
        samples, rate = audio
        return SimpleNamespace(audio=0.5 * samples, sample_rate=rate, seed=seed or 0)  # its rate and channels


@pytest.fixture
def voices(tmp_path):
    folder = tmp_path / "voices"
    folder.mkdir()
    for name in ("alice", "bob", "orphan"):
        shutil.copy(EXAMPLE_PROMPT, folder / f"{name}.wav")
    (folder / "alice.txt").write_text(PROMPT_TEXT + "\n", encoding="utf-8")
    (folder / "bob.txt").write_text(PROMPT_TEXT, encoding="utf-8")
    (folder / "bob.lang").write_text("de\n", encoding="utf-8")
    return VoiceRegistry(folder)  # orphan.wav has no transcript: not a voice


def client_for(engine, voices=None, **settings) -> TestClient:
    return TestClient(create_app(engine, voices, ServeSettings(**settings)), raise_server_exceptions=False)


def speech(text="Hello there.", voice="alice", **fields) -> dict:
    return {"model": "tts-1", "input": text, "voice": voice, **fields}


def assert_error(response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    assert "\n" not in message and words in message, message


# -- the endpoints --------------------------------------------------------------------------------

def test_health_answers_without_the_token_and_shows_the_queue():
    with client_for(StubEngine(), token=TOKEN, queue_size=3, max_batch=2) as client:
        answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "model": "maskvox", "queue": {"pending": 0, "capacity": 5}}


def test_voices_lists_each_registered_voice_with_its_language(voices):
    with client_for(StubEngine(), voices) as client:
        listed = client.get("/voices").json()["voices"]
    assert [(voice["name"], voice["language"]) for voice in listed] == [("alice", "en"), ("bob", "de")]
    assert listed[0]["transcript"] == PROMPT_TEXT and "prompt" not in listed[0]  # no paths go out


def test_speech_is_a_wav_and_the_same_request_gives_the_same_bytes(voices):
    engine = StubEngine()
    with client_for(engine, voices) as client:
        first, again = (client.post("/v1/audio/speech", json=speech(seed=7)) for _ in range(2))
        other = client.post("/v1/audio/speech", json=speech(seed=8))
    assert first.status_code == 200 and first.headers["content-type"] == "audio/wav"
    assert first.headers["x-maskvox-seed"] == "7"
    samples, rate = sf.read(io.BytesIO(first.content))
    assert rate == RATE and samples.size == RATE // 10
    assert first.content == again.content and other.content != first.content
    request = engine.calls[0]  # the voice's own file and transcript, chosen by name
    assert request.prompt == str(voices.folder / "alice.wav") and request.prompt_text == PROMPT_TEXT
    assert (request.language, request.seed, request.speed) == ("en", 7, 1.0)


def test_speech_formats_and_the_voices_language(voices):
    engine = StubEngine()
    with client_for(engine, voices) as client:
        answers = {fmt: client.post("/v1/audio/speech", json=speech(voice="bob", seed=1, response_format=fmt))
                   for fmt in ("wav", "flac", "pcm")}
    assert {fmt: answer.headers["content-type"] for fmt, answer in answers.items()} == \
        {"wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm"}
    wav, _ = sf.read(io.BytesIO(answers["wav"].content), dtype="int16")
    assert np.array_equal(np.frombuffer(answers["pcm"].content, "<i2"), wav)  # pcm: the wav's samples, no header
    assert sf.info(io.BytesIO(answers["flac"].content)).format == "FLAC"
    assert {(call.language, call.prompt_language) for call in engine.calls} == {("de", "de")}


def test_clone_takes_an_upload_as_samples_never_a_path():
    engine = StubEngine()
    with client_for(engine) as client:
        answer = client.post("/v1/clone", files={"prompt": ("x.wav", EXAMPLE_PROMPT.read_bytes(), "audio/wav")},
                             data={"prompt_text": PROMPT_TEXT, "text": "Hello.", "language": "en", "seed": "3"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
    assert answer.headers["x-maskvox-seed"] == "3"
    samples, rate = engine.calls[0].prompt
    assert isinstance(samples, np.ndarray) and rate == sf.info(str(EXAMPLE_PROMPT)).samplerate
    assert samples.shape[0] == sf.info(str(EXAMPLE_PROMPT)).frames


def test_convert_and_edit_take_uploads_and_answer_at_the_right_length_rate_and_channels(tmp_path):
    source = write_wav(tmp_path / "source.wav", speechlike(2.0, 16000), 16000).read_bytes()
    stereo = tmp_path / "stereo.wav"
    sf.write(stereo, np.stack([speechlike(1.5, 22050), speechlike(1.5, 22050, seed=1)], axis=1), 22050)
    engine = StubEngine()
    with client_for(engine) as client:
        converted = client.post("/v1/convert", data={"source_pitch_shift": "2", "seed": "4"},
                                files={"source": ("s.wav", source, "audio/wav"),
                                       "prompt": ("p.wav", EXAMPLE_PROMPT.read_bytes(), "audio/wav")})
        edited = client.post("/v1/edit", data={"text": "a b", "new_text": "a c", "span_start": "0.1",
                                                "span_end": "0.5", "response_format": "flac"},
                             files={"audio": ("e.wav", stereo.read_bytes(), "audio/wav")})
        assert_error(client.post("/v1/edit", data={"text": "a", "new_text": "b", "span_start": "1"},
                                 files={"audio": ("e.wav", stereo.read_bytes(), "audio/wav")}), 400, "span_end")
        assert_error(client.post("/v1/convert", data={"source_pitch_shift": "40"},
                                 files={"source": ("s.wav", source, "audio/wav"),
                                        "prompt": ("p.wav", EXAMPLE_PROMPT.read_bytes(), "audio/wav")}),
                     400, "pitch shift")
    assert converted.status_code == 200 and converted.headers["x-maskvox-seed"] == "4"
    assert sf.info(io.BytesIO(converted.content)).frames == 2 * RATE  # the source's length at 24 kHz
    assert engine.calls[0].pitch == 2.0 and engine.calls[0].source[1] == 16000
    info = sf.info(io.BytesIO(edited.content))
    assert edited.status_code == 200 and (info.format, info.samplerate, info.channels) == ("FLAC", 22050, 2)
    assert engine.calls[1].span == (0.1, 0.5) and len(engine.calls) == 2  # the bad ones never reached it


# -- bad input: 4xx, one line ---------------------------------------------------------------------

@pytest.mark.parametrize("body, status, words", [
    ({"voice": "alice"}, 400, "input: Field required"),
    (speech(response_format="mp3"), 400, "response_format"),
    (speech(speed=5), 400, "speed"),
    (speech(seed=-1), 400, "seed"),
    (speech(text=" "), 400, "the text is empty"),
    (speech(text="a" * (MAX_SERVE_TEXT_CHARACTERS + 1)), 400, "over the server's limit"),
    (speech(streaming=True), 400, "streaming: Extra inputs are not permitted"),
    (speech(stream=True, response_format="flac"), 400, "flac cannot be streamed"),
    (speech(voice="nobody"), 404, "no voice called 'nobody'"),
    (speech(voice="orphan"), 404, "no voice called 'orphan'"),
    (speech(voice="../alice"), 400, "voice names are"),
    (speech(voice="/etc/passwd"), 400, "voice names are"),
    (speech(voice="alice/../bob"), 400, "voice names are"),
    (speech(voice=".hidden"), 400, "voice names are"),
])
def test_bad_speech_requests_get_one_line(voices, body, status, words):
    engine = StubEngine()
    with client_for(engine, voices) as client:
        assert_error(client.post("/v1/audio/speech", json=body), status, words)
    assert engine.calls == []  # nothing was generated


def test_bodies_over_their_limit_and_broken_json_are_refused(voices):
    with client_for(StubEngine(), voices, max_json_bytes=1000, max_upload_bytes=4000) as client:
        assert_error(client.post("/v1/audio/speech", json=speech(text="a" * 2000)), 413, "over the limit of")
        chunked = client.post("/v1/audio/speech", content=iter([b"{" + b" " * 800, b" " * 800 + b"}"]),
                              headers={"content-type": "application/json"})
        assert_error(chunked, 413, "over the limit of")  # no Content-Length: counted as it arrives
        broken = client.post("/v1/audio/speech", content=b"{not json", headers={"content-type": "application/json"})
        assert_error(broken, 400, "JSON")
        upload = {"prompt": ("x.wav", EXAMPLE_PROMPT.read_bytes(), "audio/wav")}
        assert_error(client.post("/v1/clone", files=upload, data={"prompt_text": "a", "text": "b"}), 413,
                     "over the limit of")


@pytest.mark.parametrize("upload, fields, status, words", [
    (b"not audio at all", {}, 400, "not a readable audio file"),
    (b"", {}, 400, "the prompt upload is empty"),
    ("long", {}, 400, "too long"),
    ("ok", {"text": " "}, 400, "the text is empty"),
    ("ok", {"text": ""}, 400, "text: Field required"),
    ("ok", {"seed": "x"}, 400, "seed"),
    ("ok", {"response_format": "ogg"}, 400, "response_format"),
    (None, {}, 400, "prompt: Field required"),
])
def test_bad_clone_requests_get_one_line(tmp_path, upload, fields, status, words):
    if upload == "long":
        upload = write_wav(tmp_path / "long.wav", speechlike(61.0, 8000), 8000).read_bytes()
    elif upload == "ok":
        upload = EXAMPLE_PROMPT.read_bytes()
    files = {} if upload is None else {"prompt": ("x.wav", upload, "audio/wav")}
    with client_for(StubEngine()) as client:
        answer = client.post("/v1/clone", files=files or None,
                             data={"prompt_text": PROMPT_TEXT, "text": "Hello.", **fields})
    assert_error(answer, status, words)


class BrokenEngine:
    def clone_batch(self, requests, batch_size=8, return_errors=False):
        raise RuntimeError("a bug at /home/someone/secret.py")


def test_a_bug_is_500_with_a_generic_line_and_no_details(voices):
    with client_for(BrokenEngine(), voices) as client:
        answer = client.post("/v1/audio/speech", json=speech())
        assert_error(answer, 500, "internal error")
        assert "secret" not in answer.text
        assert client.get("/health").json()["queue"]["pending"] == 0  # its place was freed


def test_without_a_voices_folder_there_are_no_voices():
    with client_for(StubEngine()) as client:
        assert client.get("/voices").json() == {"voices": []}
        assert_error(client.post("/v1/audio/speech", json=speech()), 404, "no voice called 'alice'")


# -- the token, the queue -------------------------------------------------------------------------

def test_a_token_is_needed_on_every_endpoint_but_health(voices):
    with client_for(StubEngine(), voices, token=TOKEN) as client:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            answer = client.get("/voices", headers=headers)
            assert_error(answer, 401, "bearer token")
            assert answer.headers["www-authenticate"] == "Bearer"
        assert_error(client.post("/v1/audio/speech", json=speech()), 401, "bearer token")
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert client.get("/voices", headers=good).status_code == 200
        assert client.post("/v1/audio/speech", json=speech(), headers=good).status_code == 200


def test_a_full_queue_answers_503_with_retry_after_and_the_held_request_still_finishes(voices):
    gate = threading.Event()
    engine = StubEngine(gate)
    with client_for(engine, voices, queue_size=0, max_batch=1, retry_after_seconds=2) as client:
        held = {}
        first = threading.Thread(target=lambda: held.update(answer=client.post("/v1/audio/speech", json=speech())))
        first.start()
        try:
            assert engine.entered.wait(WAIT)  # the first request holds the only place
            busy = client.post("/v1/audio/speech", json=speech(text="Another."))
            assert_error(busy, 503, "busy")
            assert busy.headers["retry-after"] == "2"
            assert client.get("/health").json()["queue"] == {"pending": 1, "capacity": 1}
        finally:
            gate.set()
            first.join(WAIT)
        assert held["answer"].status_code == 200
        assert client.post("/v1/audio/speech", json=speech(text="Again.")).status_code == 200  # the place is free
    assert [call.text for call in engine.calls] == ["Hello there.", "Again."]


def test_settings_are_checked():
    for wrong, words in (({"queue_size": -1}, "--queue-size"), ({"batch_size": 0}, "--batch-size"),
                         ({"max_batch": 0}, "--max-batch"), ({"max_batch": 10_000}, "--max-batch"),
                         ({"batch_wait_ms": -1}, "--batch-wait-ms"),
                         ({"batch_wait_ms": float("nan")}, "--batch-wait-ms"),
                         ({"token": "two words"}, "token")):
        with pytest.raises(UserError, match=words):
            ServeSettings(**wrong)


# -- the command ----------------------------------------------------------------------------------

def test_serve_command_refuses_a_missing_voices_folder_and_a_taken_port(tmp_path, capsys):
    assert main(["serve", "--voices", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip().endswith("is not a folder")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2  # before any model loads
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot listen on 127.0.0.1:" in err


def test_serve_command_checks_its_batching_and_ray_flags_in_one_line(tmp_path, capsys):
    assert main(["serve", "--max-batch", "0"]) == 2
    assert capsys.readouterr().err.strip().endswith("--max-batch must be from 1 to 256, got 0")
    assert main(["serve", "--batch-wait-ms", "5000"]) == 2
    assert "--batch-wait-ms must be from 0 to 1000" in capsys.readouterr().err
    assert main(["serve", "--ray-config", str(tmp_path / "ray.yaml")]) == 2
    assert capsys.readouterr().err.strip().endswith("--ray-config needs --engine ray")
    pytest.importorskip("ray.serve")
    (tmp_path / "ray.yaml").write_text("replicas: 2\n")
    assert main(["serve", "--engine", "ray", "--ray-config", str(tmp_path / "ray.yaml")]) == 2  # before Ray starts
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown field(s) replicas" in err


def test_serve_command_defaults_to_this_machine_only():
    from maskvox.commands import build_parser

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.token, args.queue_size) == ("127.0.0.1", 8000, None, 8)
    assert (args.engine, args.max_batch, args.batch_wait_ms) == ("local", 8, 5.0)


@pytest.mark.slow
def test_uvicorn_serves_the_app_on_a_real_socket(voices):
    import uvicorn

    from maskvox.commands.serve import bind

    sock = bind("127.0.0.1", 0)  # listening already: a request waits in its backlog until uvicorn runs
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(StubEngine(), voices), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=WAIT) as client:
            assert client.get("/health").json()["status"] == "ok"
            first, again = (client.post("/v1/audio/speech", json=speech(seed=5)) for _ in range(2))
    finally:
        server.should_exit = True
        thread.join(WAIT)
        sock.close()
    assert not thread.is_alive()
    assert first.status_code == 200 and first.content == again.content


# -- the real pipeline ----------------------------------------------------------------------------

@pytest.mark.slow
def test_the_real_synthesizer_answers_the_same_bytes_and_tokenizes_a_voice_once(tiny_full_model, voices,
                                                                                 monkeypatch, tmp_path):
    from maskvox.pipeline import Synthesizer

    synthesizer = Synthesizer.from_pretrained(tiny_full_model, device="cpu")
    tokenized = []
    original = synthesizer.tokenize_audio
    monkeypatch.setattr(synthesizer, "tokenize_audio", lambda *a: tokenized.append(1) or original(*a))
    with client_for(synthesizer, voices) as client:
        first, again = (client.post("/v1/audio/speech", json=speech(seed=11)) for _ in range(2))
        upload = {"prompt": ("x.wav", EXAMPLE_PROMPT.read_bytes(), "audio/wav")}
        cloned = client.post("/v1/clone", files=upload, data={"prompt_text": PROMPT_TEXT, "text": "Hello there.",
                                                             "seed": "11"})
    assert first.status_code == 200 and first.content == again.content, first.text
    samples, rate = sf.read(io.BytesIO(first.content))
    assert rate == 24000 and samples.size > 0 and np.isfinite(samples).all()
    assert cloned.status_code == 200 and sf.info(io.BytesIO(cloned.content)).samplerate == 24000
    assert len(tokenized) == 2  # the voice once (then cached), the upload once
    source = write_wav(tmp_path / "source.wav", speechlike(1.5, 16000, seed=2), 16000).read_bytes()
    files = {"source": ("s.wav", source, "audio/wav"), "prompt": ("p.wav", EXAMPLE_PROMPT.read_bytes(), "audio/wav")}
    with client_for(synthesizer) as client:
        converted, again = (client.post("/v1/convert", files=files, data={"seed": "2"}) for _ in range(2))
    assert converted.status_code == 200 and converted.content == again.content, converted.text
    assert sf.info(io.BytesIO(converted.content)).frames == round(1.5 * 24000)


# -- dynamic batching -----------------------------------------------------------------------------

def finish(result):
    return result.audio.tobytes()


def test_requests_that_wait_together_are_batched_up_to_max_batch_and_convert_runs_alone():
    """While the first clone is held, five more clones and a convert queue: the next batches are
    the clones in arrival order, at most 3 each (d, behind the convert, joins b and c), then the
    convert alone, then the rest. No timing: the held request orders everything."""
    gate = threading.Event()
    engine = StubEngine(gate, hold="a")

    async def scenario():
        worker = Worker(engine, queue_size=8, max_batch=3, batch_wait_seconds=0)
        try:
            first = asyncio.ensure_future(worker.generate(CloneRequest("p", "t", "a", seed=1), finish))
            assert await asyncio.to_thread(engine.entered.wait, WAIT)  # "a" holds the thread
            queued = [asyncio.ensure_future(worker.generate(CloneRequest("p", "t", text, seed=2), finish))
                      for text in "bc"]
            queued.append(asyncio.ensure_future(worker.run(lambda: engine.events.append("convert") or "X")))
            queued += [asyncio.ensure_future(worker.generate(CloneRequest("p", "t", text, seed=2), finish))
                       for text in "def"]
            await asyncio.sleep(0)  # one turn of the loop: each task queues its job
            assert worker.pending == 7
            gate.set()
            answers = await asyncio.wait_for(asyncio.gather(first, *queued), WAIT)
        finally:
            worker.close()
        return answers, worker

    answers, worker = asyncio.run(scenario())
    assert engine.batches == [["a"], ["b", "c", "d"], ["e", "f"]]
    assert engine.events[-3:] == ["convert", "generated e", "generated f"] and answers[3] == "X"
    assert worker.batches == [1, 3, 2] and worker.pending == 0
    assert answers[1] == answers[2] and answers[1] != answers[0]  # same seed and length: same noise


def test_the_first_request_waits_for_others_until_its_batch_is_full():
    """A long wait: the batch is gathered as requests arrive one by one, and goes as soon as it
    is full (the test would take the whole wait, WAIT seconds, if it did not)."""
    engine = StubEngine()

    async def scenario():
        worker = Worker(engine, queue_size=0, max_batch=3, batch_wait_seconds=WAIT)
        try:
            tasks = []
            for text in "abc":
                tasks.append(asyncio.ensure_future(worker.generate(CloneRequest("p", "t", text, seed=1), finish)))
                await asyncio.sleep(0)
            return await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
        finally:
            worker.close()

    assert len(asyncio.run(scenario())) == 3
    assert engine.batches == [["a", "b", "c"]]


def test_a_bad_request_in_a_batch_is_its_own_400_and_the_others_are_answered(voices):
    gate = threading.Event()
    engine = StubEngine(gate, hold="Hold.")
    with client_for(engine, voices, max_batch=4, batch_wait_ms=0) as client, ThreadPoolExecutor(4) as pool:
        held = pool.submit(client.post, "/v1/audio/speech", json=speech(text="Hold."))
        assert engine.entered.wait(WAIT)
        bodies = [speech(text="Good.", seed=1), speech(text="Bad.", speed=5), speech(text="Good.", seed=1)]
        futures = [pool.submit(client.post, "/v1/audio/speech", json=body) for body in bodies]
        while client.get("/health").json()["queue"]["pending"] < 4:  # all three are queued (bounded below)
            assert not held.done()
        gate.set()
        good, bad, again = (future.result(WAIT) for future in futures)
    assert held.result(WAIT).status_code == 200
    assert engine.batches[0] == ["Hold."] and sorted(engine.batches[1]) == ["Bad.", "Good.", "Good."]  # one batch...
    assert_error(bad, 400, "speed")  # ...the bad one refused alone
    assert good.status_code == 200 and good.content == again.content


# -- streaming ------------------------------------------------------------------------------------

def running_server(app):
    """The app on uvicorn on 127.0.0.1 (a free port), in a thread; yields its base URL."""
    from maskvox.commands.serve import serving_in_thread

    return serving_in_thread(app, join_seconds=WAIT)


def test_sentences_are_cut_at_sentence_ends_and_punctuation_alone_joins_the_one_before():
    assert sentence_texts("One. Two! Three?") == ["One.", "Two!", "Three?"]
    assert sentence_texts("Hi. ... Mr. Smith is here.") == ["Hi. ...", "Mr. Smith is here."]
    assert sentence_texts("no end") == ["no end"]


def test_a_stream_sends_the_first_sentence_before_the_last_is_generated(voices):
    """The last sentence is held until the client has read the first one: a server that sent
    nothing before the whole text was generated would never release it (and fail the test)."""
    text = "One. Two. Three."
    release = threading.Event()
    engine = StubEngine(release, hold="Three.")
    app = create_app(engine, voices, ServeSettings())
    sentence_bytes = 2 * (RATE // 10)  # the stub's 0.1 s per sentence, 16-bit
    with running_server(app) as url, httpx.Client(base_url=url, timeout=WAIT) as client:
        with client.stream("POST", "/v1/audio/speech", json=speech(text=text, seed=3, stream=True)) as answer:
            assert answer.status_code == 200 and answer.headers["content-type"] == "audio/wav"
            assert answer.headers["x-maskvox-seed"] == "3" and answer.headers["x-maskvox-sentences"] == "3"
            chunks, received = answer.iter_raw(), b""
            while len(received) < 44 + sentence_bytes:
                received += next(chunks)
            engine.events.append("the client has the first sentence")
            release.set()
            received += b"".join(chunks)
        alone = [client.post("/v1/audio/speech", json=speech(text=sentence, seed=piece_seed(3, index),
                                                             response_format="pcm")).content
                 for index, sentence in enumerate(["One.", "Two.", "Three."])]
        pcm = client.post("/v1/audio/speech", json=speech(text=text, seed=3, stream=True, response_format="pcm"))
    events = engine.events[:4]  # (Two is generated before or after the client reads One: either is right)
    assert events[0] == "generated One." and events[3] == "generated Three."
    assert sorted(events[1:3]) == ["generated Two.", "the client has the first sentence"]
    # Exactly: a wav header of unknown length, then each sentence's audio alone, with its own seed.
    assert received == wav_stream_header(RATE) + b"".join(alone)
    assert received[4:8] == received[40:44] == struct.pack("<I", 0xFFFFFFFF)
    assert pcm.content == b"".join(alone)
    assert app.state.worker.pending == 0  # the stream's place was freed


def test_a_client_that_hangs_up_mid_stream_holds_its_place_until_its_sentence_ends(voices):
    release, freed = threading.Event(), threading.Event()
    engine = StubEngine(release, hold="Two.")
    app = create_app(engine, voices, ServeSettings())
    worker = app.state.worker
    free_place = worker.free_place
    worker.free_place = lambda: (free_place(), freed.set())
    with running_server(app) as url, httpx.Client(base_url=url, timeout=WAIT) as client:
        with client.stream("POST", "/v1/audio/speech", json=speech(text="One. Two. Three.", stream=True)) as answer:
            # The iterator kept: a dropped one closes the connection at once, racing "Two."'s start.
            chunks = answer.iter_raw()
            assert len(next(chunks)) > 44  # the first sentence
            assert engine.holding.wait(WAIT)  # "Two." generates; then the client hangs up
        assert worker.pending == 1 and not freed.is_set()  # "Two." still generates: its place is held
        release.set()
        assert freed.wait(WAIT)  # ...and freed when it ends
        assert worker.pending == 0 and client.get("/health").status_code == 200


def test_a_stream_is_refused_with_503_when_the_queue_is_full_and_close_cancels_what_waits(voices):
    gate = threading.Event()
    engine = StubEngine(gate, hold="Hold.")
    with client_for(engine, voices, queue_size=0, max_batch=1) as client, ThreadPoolExecutor(1) as pool:
        held = pool.submit(client.post, "/v1/audio/speech", json=speech(text="Hold."))
        assert engine.entered.wait(WAIT)
        busy = client.post("/v1/audio/speech", json=speech(text="One. Two.", stream=True))
        assert_error(busy, 503, "busy")
        gate.set()
        assert held.result(WAIT).status_code == 200
    assert [call.text for call in engine.calls] == ["Hold."]

    async def close_with_jobs_waiting():
        release = threading.Event()
        held_engine = StubEngine(release, hold="a")
        worker = Worker(held_engine, queue_size=4, max_batch=1)
        first = asyncio.ensure_future(worker.generate(CloneRequest("p", "t", "a", seed=1), finish))
        assert await asyncio.to_thread(held_engine.entered.wait, WAIT)
        waiting = [asyncio.ensure_future(worker.generate(CloneRequest("p", "t", text, seed=1), finish))
                   for text in "bc"]
        await asyncio.sleep(0)
        closing = asyncio.ensure_future(asyncio.to_thread(worker.close))
        done, _ = await asyncio.wait(waiting, timeout=WAIT)  # close cancels those waiting while "a" is held
        assert len(done) == 2
        release.set()
        await asyncio.wait_for(closing, WAIT)
        outcomes = await asyncio.gather(first, *waiting, return_exceptions=True)
        return outcomes, worker, held_engine

    outcomes, worker, held_engine = asyncio.run(close_with_jobs_waiting())
    assert isinstance(outcomes[0], bytes)  # the running one finished
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes[1:])  # the waiting ones did not run
    assert [call.text for call in held_engine.calls] == ["a"] and worker.pending == 0


def test_a_bad_stream_is_refused_before_it_starts(voices):
    engine = StubEngine()
    with client_for(engine, voices) as client:
        assert_error(client.post("/v1/audio/speech", json=speech(text="One. Two.", stream=True, speed=5)), 400,
                     "speed")
        assert client.get("/health").json()["queue"]["pending"] == 0
    assert engine.calls == []


@pytest.fixture(scope="module")
def tiny_synthesizer(tiny_full_model):
    from maskvox.pipeline import Synthesizer

    return Synthesizer.from_pretrained(tiny_full_model, device="cpu", preset="fast")


def concurrent_bodies(count: int) -> list[dict]:
    texts = ["Hello there.", "A somewhat longer sentence than the first one.", "Good morning to you.",
             "How are you today?", "See you soon."]
    return [speech(text=texts[index % len(texts)], seed=100 + index, speed=(1.0, 1.2)[index % 2])
            for index in range(count)]


@pytest.mark.slow
def test_fifty_concurrent_requests_are_batched_and_each_answer_is_the_request_made_alone(tiny_synthesizer, voices):
    """The real server (uvicorn on 127.0.0.1, tiny random models): 50 requests at once (10
    different ones, 5 times each, interleaved), every one accepted (the queue holds 50: max_batch
    8 + queue 64), each a valid wav identical to the same request made alone first, and the burst
    really batched. Every request is bounded by BURST_WAIT seconds, so the test stops by itself."""
    distinct = concurrent_bodies(10)
    bodies = distinct * 5
    app = create_app(tiny_synthesizer, voices, ServeSettings(max_batch=8, batch_wait_ms=5, queue_size=64))
    worker = app.state.worker
    with running_server(app) as url, httpx.Client(base_url=url, timeout=BURST_WAIT,
                                                  limits=httpx.Limits(max_connections=50)) as client:
        alone = [client.post("/v1/audio/speech", json=body) for body in distinct] * 5
        assert worker.batches == [1] * 10  # one at a time: each alone
        with ThreadPoolExecutor(50) as pool:
            together = list(pool.map(lambda body: client.post("/v1/audio/speech", json=body), bodies))
    for body, one, answer in zip(bodies, alone, together):
        assert one.status_code == 200 and answer.status_code == 200, answer.text
        samples, rate = sf.read(io.BytesIO(answer.content), dtype="float32")
        assert rate == 24000 and samples.size > 0 and np.isfinite(samples).all()
        assert answer.headers["x-maskvox-seed"] == str(body["seed"])
        assert answer.content == one.content, body
    burst = worker.batches[10:]
    assert sum(burst) == 50 and max(burst) > 1 and len(burst) < 50  # batched, not one by one
    assert len({answer.content for answer in together}) == 10


@pytest.mark.slow
def test_a_real_stream_is_each_sentence_alone_and_a_wav_reader_reads_it(tiny_synthesizer, voices):
    text = "Hello there. How are you today? See you soon."
    app = create_app(tiny_synthesizer, voices, ServeSettings())
    with running_server(app) as url, httpx.Client(base_url=url, timeout=WAIT) as client:
        streamed = client.post("/v1/audio/speech", json=speech(text=text, seed=21, stream=True))
        alone = [client.post("/v1/audio/speech", json=speech(text=sentence, seed=piece_seed(21, index),
                                                             response_format="pcm")).content
                 for index, sentence in enumerate(sentence_texts(text))]
    assert streamed.status_code == 200 and streamed.headers["x-maskvox-sentences"] == "3"
    assert streamed.content == wav_stream_header(24000) + b"".join(alone)
    samples, rate = sf.read(io.BytesIO(streamed.content), dtype="int16")  # unknown length: read to the end
    assert rate == 24000 and samples.tobytes() == b"".join(alone)


@pytest.mark.slow
def test_the_serving_benchmark_runs_both_modes_and_streaming_and_prints_its_tables(tmp_path, capsys):
    from recipes.bench.serve import main as bench

    out = tmp_path / "serve.json"
    assert bench(["--model", "tiny", "--requests", "6", "--concurrency", "6", "--stream-runs", "1",
                  "--out", str(out)]) == 0  # 0: the batched answers were the one-at-a-time answers
    printed = capsys.readouterr().out
    assert "| one at a time |" in printed and "| batched |" in printed and "first audio s" in printed
    figures = json.loads(out.read_text())
    assert figures["same_bytes"] and figures["modes"]["one at a time"]["mean_batch"] == 1.0
    assert 0 < figures["streaming"]["first_audio_s"] <= figures["streaming"]["stream_end_s"]
