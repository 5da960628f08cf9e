"""Benchmark one whole clone, stage by stage: prompt reading, features (w2v-BERT + semantic
codec + acoustic encoder), duration, T2S, S2A layer 1, S2A layers 2-12, decode.

    OMP_NUM_THREADS=1 python -m recipes.bench.clone --sizes official --presets default fast \
        --prompt-seconds 3 --target-seconds 7 --out exp/bench/clone_official.json

`--sizes official` builds every model at the official sizes with random weights, in memory
(w2v-BERT 2.0 cut after its 17th block, as the pipeline runs it); timing does not depend
on the values. `--model DIR` times a real checkpoint instead. The prompt is the example
recording cut to `--prompt-seconds`; the target length is fixed (`--duration`) so every
run generates the same number of frames. All figures come from this one run, one clone per
(preset, sampling) after a short warm-up, with the thread count stated.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from maskvox.audio import ACOUSTIC_RATE, load_audio
from maskvox.config import ModelConfig, preset
from maskvox.fileio import write_json
from maskvox.pipeline import PRESETS, Synthesizer
from maskvox.tokenizer import pick_device

EXAMPLE = Path(__file__).resolve().parents[2] / "egs" / "clone"
STAGES = ("prompt", "features", "duration", "t2s", "s2a_layer1", "s2a_rest", "decode", "total")


def random_models(cfg: ModelConfig, device: str) -> tuple:
    """Every model of `cfg` with random weights (w2v-BERT 2.0's architecture, cut at its layer),
    in the order `Synthesizer` takes them."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    from maskvox.codecs.acoustic import AcousticCodec
    from maskvox.codecs.semantic import SemanticCodec, SemanticFeatureExtractor
    from maskvox.duration.predictor import DurationPredictor
    from maskvox.s2a.model import S2AModel
    from maskvox.t2s.model import T2SModel
    from maskvox.tokenizer import SpeechTokenizer

    torch.manual_seed(0)
    ssl_config = SemanticFeatureExtractor.truncated_config(Wav2Vec2BertConfig(), cfg.semantic_features.layer)
    hidden = ssl_config.hidden_size
    features = SemanticFeatureExtractor(Wav2Vec2BertModel(ssl_config).eval(), SeamlessM4TFeatureExtractor(),
                                        torch.zeros(hidden), torch.ones(hidden), cfg.semantic_features,
                                        source_layers=Wav2Vec2BertConfig().num_hidden_layers)
    tokenizer = SpeechTokenizer(AcousticCodec(cfg.acoustic_codec).eval(), SemanticCodec(cfg.semantic_codec).eval(),
                                features)
    for module in (tokenizer.acoustic_codec, tokenizer.semantic_codec, tokenizer.semantic_features):
        module.to(device)
    models = [T2SModel(cfg.t2s), S2AModel(cfg.s2a_1layer), S2AModel(cfg.s2a_full)]
    t2s, s2a_1layer, s2a_full = (model.eval().to(device) for model in models)
    return tokenizer, t2s, s2a_1layer, s2a_full, DurationPredictor(None)


def parameter_count(synthesizer: Synthesizer) -> dict[str, int]:
    def count(module):  # None: a demo-style folder has no separate 1-layer S2A
        return 0 if module is None else sum(p.numel() for p in module.parameters())

    tokenizer = synthesizer.tokenizer
    return {"w2v_bert_kept_layers": count(tokenizer.semantic_features.model),
            "semantic_codec": count(tokenizer.semantic_codec), "acoustic_codec": count(tokenizer.acoustic_codec),
            "t2s": count(synthesizer.t2s), "s2a_1layer": count(synthesizer.s2a_1layer),
            "s2a_full": count(synthesizer.s2a_full)}


def clone_once(synthesizer: Synthesizer, prompt: tuple[np.ndarray, int], prompt_text: str, text: str,
               seconds: float) -> dict:
    started = time.perf_counter()
    result = synthesizer.clone(prompt, prompt_text, text, duration=seconds, seed=0)
    wall = time.perf_counter() - started
    stages = {stage: round(synthesizer.last_timings.get(stage, 0.0), 3) for stage in STAGES[:-1]}
    stages["total"] = round(wall, 3)
    return {"stages_s": stages, "output_seconds": result.seconds, "real_time_factor": round(wall / result.seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="official", choices=["official", "tiny"], help="random models of these sizes")
    parser.add_argument("--model", help="a real model folder instead of random models")
    parser.add_argument("--presets", nargs="+", default=["default", "fast"], choices=list(PRESETS))
    parser.add_argument("--sampling", nargs="+", default=["fast"], choices=["fast", "reference"])
    parser.add_argument("--prompt-seconds", type=float, default=3.0)
    parser.add_argument("--target-seconds", type=float, default=7.0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", help="write the figures here (.json)")
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    prompt = load_audio(EXAMPLE / "prompt.wav", ACOUSTIC_RATE)[: int(args.prompt_seconds * ACOUSTIC_RATE)]
    prompt_text = "We do not break."  # what the first 3 s of the example say
    text = "We are going to the market to buy some fresh bread and cheese for dinner tonight."
    started = time.perf_counter()
    if args.model:
        loaded = Synthesizer.from_pretrained(args.model, device=device)
        models = (loaded.tokenizer, loaded.t2s, loaded.s2a_1layer, loaded.s2a_full, loaded.duration)
    else:
        models = random_models(preset(args.sizes), device)
    print(f"models built in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    runs = {}
    for sampling in args.sampling:
        for name in args.presets:
            # The prompt is an array (never cached): every run times its features.
            synthesizer = Synthesizer(*models, preset=name, sampling=sampling)
            clone_once(synthesizer, (prompt, ACOUSTIC_RATE), prompt_text, "Hello.", 0.4)  # warm-up
            runs[f"{sampling}/{name}"] = clone_once(synthesizer, (prompt, ACOUSTIC_RATE), prompt_text, text,
                                                    args.target_seconds)
            print(f"{sampling}/{name}: {runs[f'{sampling}/{name}']['stages_s']}", file=sys.stderr)
    report = {
        "sizes": args.model or args.sizes, "device": device, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
        "prompt_seconds": args.prompt_seconds, "target_seconds": args.target_seconds,
        "parameters": parameter_count(synthesizer),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2), "runs": runs,
    }
    print(table(runs))
    if args.out:
        write_json(args.out, report)
    return 0


def table(runs: dict) -> str:
    lines = ["| run | " + " | ".join(STAGES) + " |", "|---" * (len(STAGES) + 1) + "|"]
    for name, run in runs.items():
        lines.append(f"| {name} | " + " | ".join(f"{run['stages_s'][stage]:.2f}" for stage in STAGES) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
