"""`maskvox gui`: a local web page for voice cloning, over `Synthesizer.clone`.

Gradio is imported inside the functions, so importing this module stays cheap and maskvox
works without gradio installed (`pip install 'maskvox[gui]'` adds it).
"""

from __future__ import annotations

import argparse
import html
import os
import time
import uuid
from pathlib import Path

from .duration.control import MAX_SPEED, MIN_SPEED
from .errors import UserError, memory_kind

LANGUAGE_NAMES = {"en": "English", "zh": "Chinese", "ja": "Japanese", "ko": "Korean", "fr": "French", "de": "German"}
SAME_AS_TARGET = "same"  # the prompt-language choice that means "the target's language"
EXAMPLE_DIR = Path(__file__).resolve().parent.parent / "egs" / "clone"  # present in a source checkout only
OUT_OF_MEMORY_ADVICE = {"memory": "use a shorter input or a smaller model",
                        "GPU memory": "use a shorter input or --device cpu"}
# Gradio phones home (analytics) unless told not to; the page must also work with no network.
OFFLINE_ENVIRONMENT = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}


def _import_gradio():
    os.environ.update(OFFLINE_ENVIRONMENT)
    try:
        import gradio
    except ImportError:
        raise UserError("the web page needs gradio: pip install 'maskvox[gui]'") from None
    return gradio


def _language_choices() -> list[tuple[str, str]]:
    from .text import SUPPORTED_LANGUAGES

    return [(f"{LANGUAGE_NAMES.get(code, code)} ({code})", code) for code in SUPPORTED_LANGUAGES]


def _example_rows() -> list[list]:
    """The shipped prompt as a clickable example, when this is a source checkout."""
    wav, transcript = EXAMPLE_DIR / "prompt.wav", EXAMPLE_DIR / "prompt.txt"
    if not (wav.is_file() and transcript.is_file()):
        return []
    text = "Hello! This voice was cloned from a few seconds of speech."
    return [[str(wav), transcript.read_text(encoding="utf-8").strip(), text, "en"]]


def _cache_folder() -> Path:
    """Where the page's results are written: a folder in Gradio's file cache (GRADIO_TEMP_DIR),
    whose files Gradio serves as they are."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()) / "maskvox"


def _save(result) -> str:
    """The result as a wav written by maskvox, not by Gradio: a failed write (a full disk) is one
    line on the page, and the loudness stays the model's (Gradio rescales float audio to its peak)."""
    from .audio import write_audio

    path = _cache_folder() / f"{uuid.uuid4().hex}.wav"
    write_audio(path, result.audio, result.sample_rate)
    return str(path)


def _describe(result) -> str:
    """One line under the player: length, where the length came from, seed, time per stage."""
    stages = ", ".join(f"{stage} {seconds:.2f} s" for stage, seconds in result.timings.items())
    return f"{result.seconds:.2f} s of speech (length: {result.duration_source}) · seed {result.seed} · {stages}"


def _read_box(value, convert, wanted: str):
    """A box that may be left blank: None, or its text read with `convert` (int, float)."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    try:
        return convert(text)
    except ValueError:
        raise UserError(f"{wanted}, or blank; got {text!r}") from None


def _clone_function(synthesizer):
    """The Clone button's function: page values in, (player value, info line) out."""
    import gradio

    def clone(prompt_wav, prompt_text, text, language, prompt_language, speed, duration, seed):
        try:
            if not prompt_wav:
                raise UserError("upload a prompt recording first (a few seconds of the voice to clone)")
            seconds = _read_box(duration, float, "the exact length is a number of seconds")
            result = synthesizer.clone(
                prompt_wav, prompt_text, text, language=language,
                prompt_language=None if prompt_language == SAME_AS_TARGET else prompt_language,
                duration=seconds,
                speed=1.0 if seconds is not None else float(speed),  # an exact length overrides the slider
                seed=_read_box(seed, int, "the seed is a whole number"),
            )
            audio = _save(result)
        except UserError as error:
            # The message alone: on the page (Gradio reads it as HTML), no traceback in the terminal.
            raise gradio.Error(html.escape(str(error), quote=False), print_exception=False) from None
        except Exception as error:
            kind = memory_kind(error)
            if kind is None:
                raise
            raise gradio.Error(f"out of {kind}: {OUT_OF_MEMORY_ADVICE[kind]}") from None
        return audio, _describe(result)

    return clone


def build_app(synthesizer):
    """The page: prompt and texts on the left, length and seed below, the result on the right."""
    gradio = _import_gradio()
    languages = _language_choices()
    with gradio.Blocks(title="maskvox: voice cloning", analytics_enabled=False) as app:
        gradio.Markdown("# maskvox voice cloning\nGive a few seconds of a voice and what it says; "
                        "maskvox speaks your text in that voice.")
        with gradio.Row():
            with gradio.Column():
                prompt_wav = gradio.Audio(label="Prompt recording", type="filepath", sources=["upload", "microphone"])
                prompt_text = gradio.Textbox(label="Prompt transcript", lines=2,
                                             placeholder="exactly what the prompt recording says")
                text = gradio.Textbox(label="Text to speak", lines=4)
                with gradio.Row():
                    language = gradio.Dropdown(languages, value="en", label="Language")
                    prompt_language = gradio.Dropdown([("same as the text", SAME_AS_TARGET)] + languages,
                                                      value=SAME_AS_TARGET, label="Prompt language")
                with gradio.Row():
                    speed = gradio.Slider(MIN_SPEED, MAX_SPEED, value=1.0, step=0.05, label="Speed", scale=2,
                                          info="above 1: faster")
                    # Text boxes, not number boxes: Gradio's number box shows 0 for "blank".
                    duration = gradio.Textbox(label="Exact length (s)", placeholder="optional",
                                              info="overrides the speed")
                    seed = gradio.Textbox(label="Seed", placeholder="random", info="to repeat a result")
                button = gradio.Button("Clone", variant="primary")
            with gradio.Column():
                audio = gradio.Audio(label="Cloned speech", type="filepath", interactive=False)
                info = gradio.Textbox(label="Details", interactive=False)
        inputs = [prompt_wav, prompt_text, text, language, prompt_language, speed, duration, seed]
        examples = _example_rows()
        if examples:
            gradio.Examples(examples, inputs=inputs[:4])
        # One clone at a time (Gradio's default for an event): the models are not shared between threads.
        button.click(_clone_function(synthesizer), inputs, [audio, info], api_name="clone")
    return app


def add_gui_command(subparsers) -> argparse.ArgumentParser:
    """The `gui` sub-parser; the command line adds the options every model command shares
    (--model, --device, --quiet) and those of the generating ones (--low-memory, --quantize)."""
    gui = subparsers.add_parser("gui", help="a local web page for voice cloning (needs gradio)")
    gui.add_argument("--preset", default="default", metavar="NAME|FILE",
                     help="fast, default (the reference's steps) or high; or a .yaml/.json of preset fields")
    gui.add_argument("--host", default="127.0.0.1",
                     help="address to serve on (default: 127.0.0.1, this machine only; 0.0.0.0: every network)")
    gui.add_argument("--port", type=int, default=7860, help="port to serve on (default: 7860)")
    gui.add_argument("--share", action="store_true", help="also make a public gradio.live link (needs internet)")
    gui.set_defaults(handler=run_gui)
    return gui


def run_gui(args: argparse.Namespace) -> None:
    """Load the models, then serve the page until Ctrl+C."""
    _import_gradio()  # before the slow model load: say at once when gradio is missing
    from .fileio import check_writable_folder
    from .pipeline import Synthesizer

    check_writable_folder(_cache_folder(), "Gradio's file cache (set GRADIO_TEMP_DIR to another folder)")

    _say(args, "loading the models...")
    synthesizer = Synthesizer.from_pretrained(args.model, preset=args.preset, device=args.device,
                                              low_memory=args.low_memory, quantize=args.quantize)
    app = build_app(synthesizer)
    try:
        # quiet: Gradio's start-up lines speak of launch() arguments (it still prints a --share link).
        _, local_url, _ = app.launch(
            server_name=args.host, server_port=args.port, share=args.share, quiet=True,
            prevent_thread_lock=True, ssr_mode=False, mcp_server=False,
        )
    except OSError:  # Gradio's message names its launch() arguments, not our options
        raise UserError(f"cannot serve on {args.host}:{args.port}: the port is taken or the address is not "
                        "this machine's (choose another --port or --host)") from None
    _say(args, f"maskvox gui: open {local_url} in a browser (Ctrl+C stops it)")
    try:
        while app.is_running:  # the server has its own threads; Ctrl+C arrives here
            time.sleep(0.5)
    finally:
        app.close(verbose=False)


def _say(args, message: str) -> None:
    if not args.quiet:
        print(message)
