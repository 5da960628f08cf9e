"""`maskvox duration`: how long a text will be, spoken in a prompt's voice (the duration model)."""

from __future__ import annotations

import argparse
import json

from .common import add_model_arguments, warnings_on_stderr


def add_command(commands: argparse._SubParsersAction) -> None:
    duration = commands.add_parser("duration", help="how long the target text will be, spoken in the prompt's voice")
    duration.add_argument("--prompt", required=True, help="the prompt recording (any format, rate, channels)")
    duration.add_argument("--prompt-text", required=True, help="what the prompt says")
    duration.add_argument("--text", required=True, help="the target text")
    duration.add_argument("--lang", default="en", help="language of the target text (default: en)")
    duration.add_argument("--prompt-lang", help="language of the prompt text (default: --lang)")
    length = duration.add_mutually_exclusive_group()
    length.add_argument("--speed", type=float, default=1.0, help="speaking-rate factor, 0.5 to 2 (> 1: faster, shorter)")
    length.add_argument("--duration", type=float, metavar="SECONDS", help="the exact target length")
    duration.add_argument("--json", action="store_true", help='print {"seconds", "rule_seconds", "source", "frames"}')
    add_model_arguments(duration)
    duration.set_defaults(handler=run)


def run(args: argparse.Namespace) -> None:
    from ..audio import SEMANTIC_RATE, check_audio, load_audio
    from ..checkpoint import default_model_location
    from ..duration.control import FRAME_RATE_HZ, LengthRequest
    from ..duration.predictor import DurationPredictor, LengthQuery
    from ..text import TextFrontEnd
    from ..tokenizer import pick_device

    request = LengthRequest(seconds=args.duration, speed=args.speed)  # checked before the slow steps
    prompt = check_audio(load_audio(args.prompt, SEMANTIC_RATE), SEMANTIC_RATE, f"prompt {args.prompt}", min_seconds=1.0)
    frontend = TextFrontEnd()
    with warnings_on_stderr(args.quiet):
        prompt_ids = frontend(args.prompt_text, args.prompt_lang or args.lang).ids
        target_ids = frontend(args.text, args.lang).ids
    predictor = DurationPredictor.from_pretrained(args.model or default_model_location(), pick_device(args.device))
    query = LengthQuery(prompt_ids, prompt.size / SEMANTIC_RATE * FRAME_RATE_HZ, target_ids, args.lang)
    [estimate] = predictor.estimate([query], request)
    if args.json:
        print(json.dumps(estimate.as_dict()))
    else:
        rule = "" if estimate.source == "rule" else f"; the rule says {estimate.rule_seconds:.2f} s"
        print(f"{estimate.seconds:.2f} s ({estimate.source}{rule})")
