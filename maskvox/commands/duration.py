"""`maskvox duration`: how long a text will be, spoken in a prompt's voice (the duration model)."""

from __future__ import annotations

import argparse
import functools
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
    from ..audio import SEMANTIC_RATE
    from ..checkpoint import default_model_location
    from ..duration.control import FRAME_RATE_HZ
    from ..duration.predictor import DurationPredictor, LengthQuery
    from ..pieces import CROSSFADE_FRAMES, split_text
    from ..request import CloneRequest, RequestReader
    from ..tokenizer import pick_device

    request = CloneRequest(args.prompt, args.prompt_text, args.text, args.lang, args.prompt_lang, args.duration,
                           args.speed)
    reader = RequestReader(process_prompt=False)  # the prompt as recorded (uncut), each text read once
    with warnings_on_stderr(args.quiet):
        prompt = reader.check(request)  # the controls, both texts and the prompt, before the model loads
        prompt_ids = reader.phones(args.prompt_text, request.language_of_prompt)
        prompt_frames = prompt.wav_16k.size / SEMANTIC_RATE * FRAME_RATE_HZ
        # A long text in the pieces a clone says it in (each under the models' 30 s), not in one go.
        phones = functools.partial(reader.phones, language=args.lang)
        queries = [LengthQuery(prompt_ids, prompt_frames, phones(piece), args.lang)
                   for piece in split_text(args.text, phones, prompt_frames, len(prompt_ids))]
    predictor = DurationPredictor.from_pretrained(args.model or default_model_location(), pick_device(args.device))
    estimate = predictor.estimate_joined(queries, request.length_request(), overlap_frames=CROSSFADE_FRAMES)
    if args.json:
        print(json.dumps(estimate.as_dict()))
    else:
        rule = "" if estimate.source == "rule" else f"; the rule says {estimate.rule_seconds:.2f} s"
        print(f"{estimate.seconds:.2f} s ({estimate.source}{rule})")
