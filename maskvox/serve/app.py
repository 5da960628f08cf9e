"""The HTTP API over a Synthesizer-like engine (anything with `clone_batch(requests, batch_size)`
returning results with `audio`, `sample_rate` and `seed`).

    GET  /health            liveness and the queue (no token needed)
    GET  /voices            the registered voices
    POST /v1/audio/speech   OpenAI's speech endpoint: JSON {model, input, voice, response_format, speed}
                            (+ maskvox's `seed`, `language` and `stream`); the audio bytes, or with
                            `"stream": true` chunked wav/pcm sentence by sentence (stream.py)
    POST /v1/clone          multipart: prompt (file), prompt_text, text, language, seed, ...; the audio bytes
    POST /v1/convert        multipart: source (file), prompt (file), prompt_text, ...; the source's words in the
                            prompt's voice, exactly as long as the source
    POST /v1/edit           multipart: audio (file), text, new_text, ...; the recording saying new_text, at its
                            own rate and channels

Each answer's seed is in the `X-Maskvox-Seed` header: the same request with that seed gives the
same bytes (each request is one `clone_batch` item, or one convert or edit, and their results do
not depend on what ran before or on the other items of its batch: worker.py batches clone
requests that arrive together).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Callable, Literal, Protocol, Sequence

from fastapi import Depends, FastAPI, File, Form, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..audio import audio_bytes
from ..errors import UserError
from ..limits import MAX_PITCH_SHIFT_SEMITONES, check_range, check_serve_text
from ..request import CloneRequest, check_seed
from .errors import ApiError, install_error_handlers
from .guards import BodyLimit, bearer_check
from .settings import ServeSettings
from .stream import STREAM_FORMATS, sentence_requests, wav_stream_header
from .uploads import read_recording_upload, read_upload
from .voices import UnknownVoiceError, VoiceRegistry
from .worker import Job, Worker

log = logging.getLogger("maskvox.serve")

AudioFormat = Literal["wav", "flac", "pcm"]
MEDIA_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "pcm": "audio/pcm"}  # pcm: 16-bit LE mono, no header
FORM_BYTES = 2**20  # room in a multipart body for the fields beside the upload
UPLOADS = {"/v1/clone": 1, "/v1/edit": 1, "/v1/convert": 2}  # path -> files a request carries


class Engine(Protocol):
    """What the app calls (the Synthesizer's methods): results with `audio`, `sample_rate`, `seed`."""

    def clone_batch(self, requests: Sequence[CloneRequest], batch_size: int = 8, return_errors: bool = False) -> list:
        ...

    def convert(self, source, prompt, prompt_text: str = "", language: str = "en", seed: int | None = None,
                source_pitch_shift: float = 0.0, batch_size: int = 8): ...

    def edit(self, audio, text: str, new_text: str, language: str = "en", span: tuple[float, float] | None = None,
             seed: int | None = None): ...


class SpeechRequest(BaseModel):
    """OpenAI's `POST /v1/audio/speech` body. `model` is accepted and ignored (clients send
    "tts-1"); formats other than wav, flac and pcm are refused. Unknown fields are refused, so a
    misspelt one is not silently dropped."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field("maskvox", max_length=128)
    input: str
    voice: str = Field(max_length=256)
    response_format: AudioFormat = "wav"
    speed: float = 1.0
    seed: int | None = None  # maskvox: a repeatable answer
    language: str | None = Field(None, max_length=16)  # maskvox: the input's language (default: the voice's)
    stream: bool = False  # maskvox: chunked audio, sentence by sentence (wav or pcm)


class EndingStreamingResponse(StreamingResponse):
    """A StreamingResponse that calls `ended()` once it is over, however it ends: sent whole,
    failed, or its client gone (even before the first chunk, when the body's own `finally`
    would never run)."""

    def __init__(self, content, ended: Callable[[], None], **kwargs):
        super().__init__(content, **kwargs)
        self.ended = ended

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.ended()


def create_app(engine: Engine, voices: VoiceRegistry | None = None, settings: ServeSettings | None = None) -> FastAPI:
    settings = settings or ServeSettings()
    voices = voices or VoiceRegistry(None)
    worker = Worker(engine, settings.queue_size, settings.batch_size, settings.max_batch,
                    settings.batch_wait_ms / 1000, settings.retry_after_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        worker.close()

    # No /docs page (it loads its scripts from a CDN); /openapi.json describes the API.
    app = FastAPI(title="maskvox", docs_url=None, redoc_url=None, lifespan=lifespan)
    app.state.worker = worker
    install_error_handlers(app)
    app.add_middleware(BodyLimit, limit_for=lambda path: UPLOADS[path] * settings.max_upload_bytes + FORM_BYTES
                       if path in UPLOADS else settings.max_json_bytes)
    authorized = [Depends(bearer_check(settings.token))]

    def encoder(response_format: str) -> Callable[[object], tuple[bytes, int, int]]:
        """A result (audio, sample_rate, seed) -> (its bytes, sample_rate, seed), run on the worker."""
        return lambda result: (audio_bytes(result.audio, result.sample_rate, response_format), result.sample_rate,
                               result.seed)

    def audio_response(encoded: tuple[bytes, int, int], response_format: str) -> Response:
        audio, _, seed = encoded
        return Response(audio, media_type=MEDIA_TYPES[response_format], headers={"X-Maskvox-Seed": str(seed)})

    async def answer(run: Callable[[], object], response_format: str) -> Response:
        """`run()` alone on the worker (a result with audio, sample_rate, seed), encoded there too."""
        return audio_response(await worker.run(run, encoder(response_format)), response_format)

    async def generate(request: CloneRequest, response_format: str) -> Response:
        """One clone request, batched with those that arrive with it."""
        return audio_response(await worker.generate(request, encoder(response_format)), response_format)

    async def stream(request: CloneRequest, response_format: str) -> StreamingResponse:
        """The request sentence by sentence (stream.py). The stream holds one place in the queue for
        its life (a full queue is a 503 before any byte); its sentences go through the worker one
        after another, each batched with whatever else is waiting. The first sentence is generated
        before the answer starts, so a bad request is still a 4xx; an error after that ends the
        stream early (the connection closes without the final chunk: the client sees an incomplete
        body, never wrong audio)."""
        if response_format not in STREAM_FORMATS:
            raise UserError(f"stream: {response_format} cannot be streamed; use wav or pcm")
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        check_seed(seed)
        parts = sentence_requests(request, seed)
        encode = encoder("pcm")
        worker.take_place()
        jobs = [Job(encode, request=parts[0], owns_place=False)]  # the sentences share the stream's place

        def ended() -> None:
            """Free the stream's place once its last sentence's work has ended too (a client that
            hangs up mid-sentence frees it only then; a sentence not started is cancelled)."""
            jobs[-1].future.add_done_callback(lambda _: worker.free_place())

        try:
            first = await asyncio.wrap_future(worker.submit(jobs[0]))
        except BaseException:
            ended()
            raise

        async def chunks():
            try:
                audio, rate, _ = first
                yield (wav_stream_header(rate) if response_format == "wav" else b"") + audio
                for part in parts[1:]:
                    jobs.append(Job(encode, request=part, owns_place=False))
                    audio, _, _ = await asyncio.wrap_future(worker.submit(jobs[-1]))
                    yield audio
            except Exception:
                log.exception("a stream failed after it began")
                raise

        return EndingStreamingResponse(chunks(), ended, media_type=MEDIA_TYPES[response_format],
                                       headers={"X-Maskvox-Seed": str(seed), "X-Maskvox-Sentences": str(len(parts))})

    async def upload(file: UploadFile, name: str, recording: bool = False):
        data = await file.read(settings.max_upload_bytes + 1)
        read = read_recording_upload if recording else read_upload
        return read(data, settings.max_upload_bytes, name)

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": settings.model_name,
                "queue": {"pending": worker.pending, "capacity": worker.capacity}}

    @app.get("/voices", dependencies=authorized)
    async def list_voices() -> dict:
        return {"voices": [voice.as_dict() for voice in voices.list()]}

    @app.post("/v1/audio/speech", dependencies=authorized)
    async def speech(body: SpeechRequest) -> Response:
        check_serve_text(body.input)
        try:
            voice = voices.get(body.voice)
        except UnknownVoiceError as err:
            raise ApiError(404, str(err)) from None
        request = CloneRequest(str(voice.prompt), voice.transcript, body.input, body.language or voice.language,
                               voice.language, speed=body.speed, seed=body.seed)
        if body.stream:
            return await stream(request, body.response_format)
        return await generate(request, body.response_format)

    @app.post("/v1/clone", dependencies=authorized)
    async def clone(prompt: UploadFile = File(...), prompt_text: str = Form(...), text: str = Form(...),
                    language: str = Form("en", max_length=16), prompt_language: str | None = Form(None, max_length=16),
                    speed: float = Form(1.0), seed: int | None = Form(None),
                    response_format: AudioFormat = Form("wav")) -> Response:
        check_serve_text(text)
        check_serve_text(prompt_text, "prompt_text")
        samples = await upload(prompt, "the prompt upload")
        request = CloneRequest(samples, prompt_text, text, language, prompt_language, speed=speed, seed=seed)
        return await generate(request, response_format)

    @app.post("/v1/convert", dependencies=authorized)
    async def convert(source: UploadFile = File(...), prompt: UploadFile = File(...), prompt_text: str = Form(""),
                      language: str = Form("en", max_length=16), seed: int | None = Form(None),
                      source_pitch_shift: float = Form(0.0), response_format: AudioFormat = Form("wav")) -> Response:
        check_serve_text(prompt_text, "prompt_text")
        check_range(source_pitch_shift, -MAX_PITCH_SHIFT_SEMITONES, MAX_PITCH_SHIFT_SEMITONES,
                    "the source pitch shift (semitones)")
        check_seed(seed)
        source_samples = await upload(source, "the source upload", recording=True)
        prompt_samples = await upload(prompt, "the prompt upload")
        return await answer(lambda: engine.convert(source_samples, prompt_samples, prompt_text, language, seed,
                                                   source_pitch_shift, settings.batch_size), response_format)

    @app.post("/v1/edit", dependencies=authorized)
    async def edit(audio: UploadFile = File(...), text: str = Form(...), new_text: str = Form(...),
                   language: str = Form("en", max_length=16), span_start: float | None = Form(None),
                   span_end: float | None = Form(None), seed: int | None = Form(None),
                   response_format: AudioFormat = Form("wav")) -> Response:
        check_serve_text(text, "text")
        check_serve_text(new_text, "new_text")
        check_seed(seed)
        if (span_start is None) != (span_end is None):
            raise UserError("give both span_start and span_end, or neither")
        span = None if span_start is None else (span_start, span_end)
        samples = await upload(audio, "the audio upload", recording=True)
        return await answer(lambda: engine.edit(samples, text, new_text, language, span, seed), response_format)

    return app
