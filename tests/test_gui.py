"""`maskvox gui`: the page served for real, driven through its API and drawn by headless Chromium.

A stub stands in for the Synthesizer (no model is loaded): it hums for 0.05 s per character,
so each answer's length says which length control the page passed on. One test puts the real
pipeline, on the tiny random models, behind the page, to keep the stub honest.
"""

import argparse
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import types
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import factories
from maskvox.errors import UserError

SAMPLE_RATE = 24000
SECONDS_PER_CHARACTER = 0.05
STUB_PEAK = 0.3  # below full scale: the page must not turn it up
RANDOM_SEED = 1234  # what the stub says it drew when the seed box is blank
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_TIMEOUT = 60  # seconds; it takes about 4
WINDOW = (1280, 1400)
PAGE_LABELS = ("Prompt recording", "Prompt transcript", "Text to speak", "Language", "Prompt language",
               "Speed", "Exact length (s)", "Seed", "Cloned speech", "Details")


# Gradio's queue calls pandas in ways pandas 3 deprecates: nothing this project can change.
pytestmark = [pytest.mark.filterwarnings("ignore:.*no_silent_downcasting:DeprecationWarning"),
              pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:DeprecationWarning")]


@dataclass
class StubResult:
    audio: np.ndarray
    sample_rate: int
    seconds: float
    duration_source: str
    seed: int
    timings: dict


class StubSynthesizer:
    """`Synthesizer.clone`'s signature and result, with a hum instead of speech; it keeps each call's arguments."""

    def __init__(self):
        self.calls = []

    def clone(self, prompt_wav, prompt_text, text, language="en", prompt_language=None, duration=None,
              speed=1.0, seed=None):
        self.calls.append(dict(prompt_wav=prompt_wav, prompt_text=prompt_text, text=text, language=language,
                               prompt_language=prompt_language, duration=duration, speed=speed, seed=seed))
        if not text.strip():
            raise UserError("text is empty")
        seconds = duration if duration is not None else SECONDS_PER_CHARACTER * len(text) / speed
        time_axis = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
        # A 150 Hz buzz whose loudness rises and falls four times a second, like syllables.
        audio = STUB_PEAK * np.sin(2 * np.pi * 150 * time_axis) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * time_axis))
        return StubResult(
            audio=audio.astype(np.float32), sample_rate=SAMPLE_RATE, seconds=time_axis.size / SAMPLE_RATE,
            duration_source="requested" if duration is not None else "rule",
            seed=RANDOM_SEED if seed is None else seed, timings={"t2s": 0.25, "s2a": 0.75, "total": 0.5},
        )


@dataclass
class ServedPage:
    url: str
    synthesizer: StubSynthesizer


def _answers(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # localhost, never a proxy
    try:
        with opener.open(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError):
        return False


def _wait_until(url: str, up: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _answers(url) != up:
        if time.monotonic() > deadline:
            pytest.fail(f"{url} still {'down' if up else 'up'} after {timeout:.0f} s")
        time.sleep(0.05)  # poll interval


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _serving(synthesizer):
    """The page over `synthesizer`, served on a free local port; closed (and checked closed) on exit."""
    from maskvox.gui import build_app

    app = build_app(synthesizer)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, share=False, prevent_thread_lock=True, quiet=True,
               ssr_mode=False)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until(url, up=True)
        yield url
    finally:
        app.close()
    _wait_until(url, up=False)


@pytest.fixture(scope="module")
def page():
    """The page with a stub synthesizer, served for this file's tests."""
    synthesizer = StubSynthesizer()
    with _serving(synthesizer) as url:
        yield ServedPage(url, synthesizer)


def _client(url: str, downloads: Path):
    from gradio_client import Client

    return Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False)


@pytest.fixture
def client(page, tmp_path):
    client = _client(page.url, tmp_path)
    yield client
    client.close()


def _clone(client, text, speed=1.0, duration="", seed="", prompt_language="same"):
    from gradio_client import handle_file

    prompt_text = factories.EXAMPLE_PROMPT_TEXT.read_text(encoding="utf-8").strip()
    return client.predict(handle_file(str(factories.EXAMPLE_PROMPT)), prompt_text, text, "en", prompt_language,
                          speed, duration, seed, api_name="/clone")


@pytest.mark.slow
def test_importing_the_module_does_not_import_gradio():
    check = "import sys, maskvox.gui; assert 'gradio' not in sys.modules, 'gradio imported'"
    subprocess.run([sys.executable, "-c", check], check=True)


@pytest.mark.slow
def test_clone_with_the_speed_and_a_random_seed(page, client):
    text = "Hello there, world."
    audio_path, info = _clone(client, text, speed=2.0)
    audio, rate = sf.read(audio_path)
    assert rate == SAMPLE_RATE
    assert audio.shape == (round(SECONDS_PER_CHARACTER * len(text) / 2.0 * SAMPLE_RATE),)
    assert np.abs(audio).max() == pytest.approx(STUB_PEAK, abs=0.01)  # the model's loudness, not peak-normalised
    assert info == f"{audio.size / SAMPLE_RATE:.2f} s of speech (length: rule) · seed {RANDOM_SEED} · " \
                   "t2s 0.25 s, s2a 0.75 s, total 0.50 s"
    call = page.synthesizer.calls[-1]
    assert (call["text"], call["speed"], call["duration"], call["seed"], call["prompt_language"]) == \
           (text, 2.0, None, None, None)
    assert call["prompt_text"] == "We do not break. We never give in. We never back down."
    assert sf.info(call["prompt_wav"]).frames == sf.info(str(factories.EXAMPLE_PROMPT)).frames


@pytest.mark.slow
def test_clone_with_an_exact_length_a_seed_and_a_prompt_language(page, client):
    audio_path, info = _clone(client, "Guten Tag.", speed=1.5, duration="1.5", seed="7", prompt_language="de")
    audio, rate = sf.read(audio_path)
    assert (rate, audio.size) == (SAMPLE_RATE, round(1.5 * SAMPLE_RATE))
    assert info.startswith("1.50 s of speech (length: requested) · seed 7 · ")
    call = page.synthesizer.calls[-1]
    # The exact length wins over the slider: the synthesizer gets no speed to disagree with.
    assert (call["duration"], call["speed"], call["seed"], call["prompt_language"]) == (1.5, 1.0, 7, "de")


@pytest.mark.slow
@pytest.mark.parametrize("text, seed, message", [
    ("", "", "text is empty"),
    ("Hello.", "lucky", "the seed is a whole number, or blank; got 'lucky'"),
])
def test_a_user_error_comes_back_as_its_message(client, text, seed, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as caught:
        _clone(client, text, seed=seed)
    assert str(caught.value) == message  # the one line, no traceback


@pytest.mark.slow
def test_the_page_drives_the_real_synthesizer(tiny_full_model, tmp_path):
    """The stub's interface is the pipeline's: the same call through the page, on the tiny random models."""
    from gradio_client.exceptions import AppError

    from maskvox.pipeline import Synthesizer

    with _serving(Synthesizer.from_pretrained(tiny_full_model, device="cpu")) as url:
        client = _client(url, tmp_path)
        try:
            audio_path, info = _clone(client, "Hello there.", seed="3")
            with pytest.raises(AppError) as caught:
                _clone(client, " ")
        finally:
            client.close()
    audio, rate = sf.read(audio_path)
    assert rate == SAMPLE_RATE and audio.size > 0
    assert info.startswith(f"{audio.size / SAMPLE_RATE:.2f} s of speech (length: ") and " · seed 3 · " in info
    assert "total" in info
    message = str(caught.value)
    assert "text" in message and "\n" not in message and "Traceback" not in message


def _chromium(url: str, screenshot: Path, profile: Path) -> str:
    """Draw the page headless into `screenshot`; returns the DOM after the page's scripts ran."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} not found: the page test needs it (apt-get install chromium)")
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
        # Gradio builds the page in JavaScript after fetching its config: 10 s of page time is plenty
        # (page time stands still while files load, so a slow machine needs no more). Short budgets
        # (300 ms) were seen to hang Chromium.
        "--virtual-time-budget=10000", f"--screenshot={screenshot}", "--dump-dom", url,
    ]
    # Its own session, so that a hung Chromium goes with all its helper processes.
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True) as chromium:
        try:
            dom, errors = chromium.communicate(timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(chromium.pid, signal.SIGKILL)
            chromium.communicate()
            pytest.fail(f"headless Chromium did not draw {url} in {CHROMIUM_TIMEOUT} s")
    assert chromium.returncode == 0, errors[-2000:]
    return dom


@pytest.mark.slow
def test_the_page_draws_in_headless_chromium(page, tmp_path):
    from PIL import Image  # a dependency of gradio

    screenshot = tmp_path / "gui.png"
    dom = _chromium(page.url, screenshot, tmp_path / "chromium-profile")
    for label in PAGE_LABELS:
        assert label in dom, f"{label!r} is not on the page"
    assert re.search(r"<button[^>]*>(<!---->|\s)*Clone(<!---->|\s)*</button>", dom), "no Clone button"
    assert "Examples" in dom and "We do not break." in dom  # the egs/clone example row
    with Image.open(screenshot) as image:
        assert image.size == WINDOW
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
    # Gradio's loading screen (white, one small logo) has a pixel spread under 1 and almost no ink;
    # the drawn form about 19, with 2% of its pixels darker than light grey.
    assert pixels.std() > 8, f"the screenshot looks blank (pixel std {pixels.std():.1f})"
    assert (pixels < 200).mean() > 0.01, "the screenshot has almost nothing drawn on it"


def test_gui_command_line_defaults():
    from maskvox.commands import build_parser
    from maskvox.gui import run_gui

    parser = build_parser()
    args = parser.parse_args(["gui"])
    assert (args.model, args.preset, args.device, args.host, args.port, args.share, args.quiet) == \
           (None, "default", "auto", "127.0.0.1", 7860, False, False)
    assert (args.low_memory, args.quantize) == (False, "none")
    assert args.handler is run_gui
    args = parser.parse_args(["gui", "--model", "m", "--preset", "fast", "--port", "8000", "--quiet"])
    assert (args.model, args.preset, args.port, args.quiet) == ("m", "fast", 8000, True)


@pytest.mark.slow
def test_gui_command_loads_the_model_and_serves_locally(monkeypatch, capsys):
    import gradio

    from maskvox.gui import run_gui

    loaded, launched = [], []

    class Synthesizer:
        @staticmethod
        def from_pretrained(location=None, preset="default", device="auto", low_memory=False, quantize="none"):
            loaded.append((location, preset, device, low_memory, quantize))
            return StubSynthesizer()

    def launch(app, **options):  # serving for real is the page fixture's job
        launched.append(options)
        return None, "http://127.0.0.1:7999/", None

    monkeypatch.setitem(sys.modules, "maskvox.pipeline", types.SimpleNamespace(Synthesizer=Synthesizer))
    monkeypatch.setattr(gradio.Blocks, "launch", launch)
    run_gui(argparse.Namespace(model="some/model", preset="high", device="cpu", host="127.0.0.1", port=7999,
                               share=False, quiet=False, low_memory=True, quantize="int8"))
    assert loaded == [("some/model", "high", "cpu", True, "int8")]
    [options] = launched
    assert (options["server_name"], options["server_port"], options["share"]) == ("127.0.0.1", 7999, False)
    assert capsys.readouterr().out == \
           "loading the models...\nmaskvox gui: open http://127.0.0.1:7999/ in a browser (Ctrl+C stops it)\n"


def test_gui_command_says_when_the_port_is_taken(monkeypatch):
    from maskvox.gui import run_gui

    stub_synthesizer = types.SimpleNamespace(from_pretrained=lambda *_, **__: StubSynthesizer())
    monkeypatch.setitem(sys.modules, "maskvox.pipeline", types.SimpleNamespace(Synthesizer=stub_synthesizer))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot serve on 127.0.0.1:{port}"):
            run_gui(argparse.Namespace(model=None, preset="default", device="auto", host="127.0.0.1", port=port,
                                       share=False, quiet=True, low_memory=False, quantize="none"))
