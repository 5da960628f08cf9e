"""Benchmark T2S and S2A: time per forward pass and per decoding stage, fast vs reference mode.

    OMP_NUM_THREADS=1 python -m recipes.bench.masked_models --preset official \
        --prompt-seconds 3 --target-seconds 3 --phones 60 --out exp/bench/masked_models.json

Models are built at the preset's sizes with random weights (timing does not depend on
the values). Every figure is measured in this one run, on this machine, with the thread
count stated in the JSON: the reference mode runs the conditional and unconditional
passes one after the other, the fast mode packs them into one forward; `--batch N`
also times N utterances decoded together (fast) against one after another (reference).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import replace

import torch
from tqdm import tqdm

from maskvox.config import preset
from maskvox.errors import ConfigError
from maskvox.fileio import write_json
from maskvox.s2a.model import S2AModel
from maskvox.sampling import SamplerSettings, make_generators
from maskvox.t2s.model import T2SModel
from maskvox.tokenizer import pick_device

FRAME_RATE_HZ = 50


def timed(function, repeats: int, device: str) -> float:
    """Median seconds of `repeats` calls, after one warm-up call."""
    def once() -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - start

    once()
    return statistics.median(once() for _ in range(repeats))


def time_decoding(generate, settings: SamplerSettings, batch: int, device: str, bar) -> dict:
    """Whole decodings: reference mode one utterance after another (as the reference can
    only do), fast mode all at once; for one utterance and, if batch > 1, for `batch`."""
    out = {}
    for size in sorted({1, batch}):
        prefix = "decode" if size == 1 else f"decode_batch{size}"
        for mode in ("reference", "fast"):
            chosen = replace(settings, mode=mode)

            def run():
                if mode == "fast":
                    return generate(size, chosen, make_generators(0, size, device))
                torch.manual_seed(0)
                for _ in range(size):
                    generate(1, chosen, None)

            out[f"{prefix}_{mode}_s"] = timed(run, 1, device)
            bar.update(1)
    return out


def build(factory, device: str):
    torch.manual_seed(0)
    return factory().to(device).eval()


def ids(high: int, *shape: int, device: str) -> torch.Tensor:
    return torch.randint(0, high, shape, device=device)


def bench_t2s(model: T2SModel, args, device: str, bar) -> dict:
    prompt, target = int(args.prompt_seconds * FRAME_RATE_HZ), int(args.target_seconds * FRAME_RATE_HZ)
    phones, prompt_ids = ids(363, 1, args.phones, device=device), ids(8192, 1, prompt, device=device)
    seq, mask, t = ids(8192, 1, target, device=device), torch.rand(1, target, device=device) < 0.5, 0.6
    settings = SamplerSettings()
    fast = model.fast_predictor(list(phones), list(prompt_ids), [target], settings)
    reference = model.reference_predictor(list(phones), list(prompt_ids), settings)
    out = {}
    with torch.no_grad():
        tt = torch.full((1,), t, device=device)
        out["forward_conditional_s"] = timed(lambda: model.conditional_embeddings(phones, prompt_ids, seq, mask, tt), args.repeats, device)
        out["forward_unconditional_s"] = timed(lambda: model.unconditional_embeddings(seq, mask, tt), args.repeats, device)
        out["step_reference_s"] = timed(lambda: reference(seq, mask, t), args.repeats, device)
        out["step_fast_s"] = timed(lambda: fast(seq, mask, t), args.repeats, device)
    bar.update(1)

    def generate(batch: int, settings: SamplerSettings, generators):
        model.generate(list(phones) * batch, list(prompt_ids) * batch, [target] * batch, args.t2s_steps,
                       settings, generators)

    out.update(time_decoding(generate, SamplerSettings(), args.batch, device, bar))
    return out


def bench_s2a(model: S2AModel, args, device: str, steps: list[int], bar) -> dict:
    prompt, target = int(args.prompt_seconds * FRAME_RATE_HZ), int(args.target_seconds * FRAME_RATE_HZ)
    semantic, prompt_codes = ids(8192, 1, prompt + target, device=device), ids(1024, 1, prompt, 12, device=device)
    layer = model.first_layer
    lower = model.lower_layers_input(ids(1024, 1, target, 12, device=device), layer)
    seq, mask, t = ids(1024, 1, target, device=device), torch.rand(1, target, device=device) < 0.5, 0.6
    settings = SamplerSettings(temperature=1.5)
    given = None if layer == 0 else [ids(1024, target, 1, device=device)]
    fast = model.fast_predictor(list(semantic), list(prompt_codes), lower, layer, [target], settings)
    reference = model.reference_predictor(list(semantic), list(prompt_codes), lower, layer, settings)
    out = {}
    with torch.no_grad():
        tt = torch.full((1,), t, device=device)
        out["forward_conditional_s"] = timed(
            lambda: model.conditional_embeddings(semantic, prompt_codes, lower, seq, mask, layer, tt), args.repeats, device)
        out["step_reference_s"] = timed(lambda: reference(seq, mask, t), args.repeats, device)
        out["step_fast_s"] = timed(lambda: fast(seq, mask, t), args.repeats, device)
    bar.update(1)

    def generate(batch: int, settings: SamplerSettings, generators):
        model.generate(list(semantic) * batch, list(prompt_codes) * batch, steps, settings,
                       None if given is None else given * batch, generators)

    out.update(time_decoding(generate, settings, args.batch, device, bar))
    return out


def add_ratios(figures: dict, batch: int) -> dict:
    """reference time / fast time, > 1 when the fast mode is faster."""
    pairs = {"step": ("step_reference_s", "step_fast_s"), "decode": ("decode_reference_s", "decode_fast_s"),
             f"decode_batch{batch}": (f"decode_batch{batch}_reference_s", f"decode_batch{batch}_fast_s")}
    figures["speedup_fast_over_reference"] = {
        name: round(figures[a] / figures[b], 3) for name, (a, b) in pairs.items() if a in figures and b in figures}
    return figures


MODELS = ("t2s", "s2a_1layer", "s2a_full")


def step_counts(text: str) -> list[int]:
    """--s2a-steps: 12 positive integers, comma-separated."""
    try:
        steps = [int(part) for part in text.split(",")]
    except ValueError:
        steps = []
    if len(steps) != 12 or min(steps) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not 12 positive step counts separated by commas")
    return steps


def model_names(text: str) -> list[str]:
    names = text.split(",")
    unknown = [name for name in names if name not in MODELS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown model '{unknown[0]}' (known: {', '.join(MODELS)})")
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="official", help="model sizes: official or tiny")
    parser.add_argument("--prompt-seconds", type=float, default=3.0)
    parser.add_argument("--target-seconds", type=float, default=3.0)
    parser.add_argument("--phones", type=int, default=60, help="phones of prompt + target text")
    parser.add_argument("--t2s-steps", type=int, default=25)
    parser.add_argument("--s2a-steps", type=step_counts, default="25,10,1,1,1,1,1,1,1,1,1,1",
                        help="steps per acoustic layer")
    parser.add_argument("--batch", type=int, default=1, help="also time this many utterances at once")
    parser.add_argument("--repeats", type=int, default=3, help="forward-pass timings: median of this many")
    parser.add_argument("--models", type=model_names, default=",".join(MODELS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", required=True, help="JSON file to write")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        cfg = preset(args.preset)
    except ConfigError as err:
        parser.error(str(err))
    device = pick_device(args.device)
    steps, chosen = args.s2a_steps, args.models
    per_model = 3 + (2 if args.batch > 1 else 0)
    bar = tqdm(total=per_model * len(chosen), disable=args.quiet, desc="bench")
    results = {}
    for name in chosen:
        if name == "t2s":
            figures = bench_t2s(build(lambda: T2SModel(cfg.t2s), device), args, device, bar)
        else:
            model = build(lambda: S2AModel(getattr(cfg, name)), device)
            figures = bench_s2a(model, args, device, steps[: model.num_quantizer], bar)
        results[name] = add_ratios(figures, args.batch)
    bar.close()
    report = {
        "preset": args.preset, "device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None,
        "prompt_frames": int(args.prompt_seconds * FRAME_RATE_HZ),
        "target_frames": int(args.target_seconds * FRAME_RATE_HZ),
        "phones": args.phones, "t2s_steps": args.t2s_steps, "s2a_steps": steps, "batch": args.batch,
        "results": results,
    }
    write_json(args.out, report)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
