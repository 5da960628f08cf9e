"""End-to-end clone benchmark: stage by stage, per sampling mode, preset, batch size and lever.

    OMP_NUM_THREADS=1 python -m recipes.bench.clone --sizes official --threads 1 \
        --runs reference/default/1 fast/default/1:low fast/fast/1:low fast/fast/1:low,int8 \
        --out exp/bench/official_cpu.json

A run is `SAMPLING/PRESET/BATCH[:LEVERS]`: sampling `reference` (the reference's draws and
passes) or `fast` (the default path), a preset, a batch size and levers among `low`
(low-memory: each big model loaded for its stage only) and `int8` (dynamic int8 linear
layers, CPU) and `padded` (padded rows on a CPU too, instead of flat ones). Every run is a fresh process, so its peak memory (RSS, and on a GPU
`torch.cuda.max_memory_allocated`) is its own. All runs see the same inputs: the example
recording cut to `--prompt-seconds` (features: w2v-BERT, semantic codec, acoustic
encoder), the phones of a fixed sentence and `--target-seconds` of target; item b of a
batch is seeded `seed + b`. Stages: features, t2s, s2a_layer1, s2a_rest (layers 2-12),
decode. After one short warm-up generation, a run times one batch. A run already done with
the same settings (in the folder named after `--out`) is read back: a stopped run resumes.

Ids: each run saves its T2S and S2A ids; the table says whether a run's ids equal the
first run's for the items both have (the default path draws what reference mode draws).

`--sizes official` writes a checkpoint of random weights at the official sizes once (in
`--cache`, about 8 GB; w2v-BERT 2.0 already cut at its 17th block) and loads it as a real
folder is loaded; timing does not depend on the values. `--sizes demo` (or `--model DIR`)
uses a real folder.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from maskvox.audio import ACOUSTIC_RATE, SEMANTIC_RATE, load_audio
from maskvox.fileio import write_json, write_text

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "egs" / "clone" / "prompt.wav"
TEXT = "We are going to the market to buy some fresh bread and cheese for dinner tonight."
STAGES = ("features", "t2s", "s2a_layer1", "s2a_rest", "decode")
LEVERS = ("low", "int8", "padded")


@dataclass(frozen=True)
class Run:
    sampling: str
    preset: str
    batch: int
    levers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> "Run":
        head, _, levers = text.partition(":")
        try:
            sampling, rest = head.split("/", 1)
            preset, batch = rest.rsplit("/", 1)  # a preset can be a file path
            run = cls(sampling, preset, int(batch), tuple(filter(None, levers.split(","))))
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not SAMPLING/PRESET/BATCH[:LEVERS]") from None
        if sampling not in ("fast", "reference") or run.batch < 1 or set(run.levers) - set(LEVERS):
            raise argparse.ArgumentTypeError(f"'{text}': sampling fast|reference, batch >= 1, levers among {LEVERS}")
        return run

    @property
    def name(self) -> str:
        return f"{self.sampling}/{self.preset}/{self.batch}" + (":" + ",".join(self.levers) if self.levers else "")


# -- the random official checkpoint ------------------------------------------------------------

def official_random_folder(folder: Path) -> Path:
    """A model folder in the official layout with random weights at the official sizes."""
    if (folder / "done").is_file():
        return folder
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    from maskvox.checkpoint import write_model_folder
    from maskvox.codecs.acoustic import AcousticCodec
    from maskvox.codecs.semantic import SemanticCodec
    from maskvox.config import SemanticFeaturesConfig, preset
    from maskvox.s2a.model import S2AModel
    from maskvox.t2s.model import T2SModel

    torch.manual_seed(0)
    cfg = preset("official")
    ssl = Wav2Vec2BertConfig(num_hidden_layers=cfg.semantic_features.layer)  # the kept blocks only
    Wav2Vec2BertModel(ssl).save_pretrained(str(folder / "w2v_bert"))
    SeamlessM4TFeatureExtractor().save_pretrained(str(folder / "w2v_bert"))
    np.savez(folder / "w2v_bert" / "stats.npz", mean=np.zeros(ssl.hidden_size, np.float32),
             var=np.ones(ssl.hidden_size, np.float32))
    codec = AcousticCodec(cfg.acoustic_codec)
    modules = {"codec_encoder": codec.encoder, "codec_decoder": codec.decoder,
               "semantic_codec": SemanticCodec(cfg.semantic_codec), "t2s": T2SModel(cfg.t2s),
               "s2a_1layer": S2AModel(cfg.s2a_1layer), "s2a_full": S2AModel(cfg.s2a_full)}

    def update(model_cfg):
        for name in ("acoustic_codec", "semantic_codec", "t2s", "s2a_1layer", "s2a_full"):
            setattr(model_cfg, name, getattr(cfg, name))
        model_cfg.semantic_features = SemanticFeaturesConfig(model="w2v_bert", layer=cfg.semantic_features.layer,
                                                             stats="w2v_bert/stats.npz")
        model_cfg.duration = model_cfg.aligner = None

    write_model_folder(folder, modules, update)
    write_text(folder / "done", "random official-size weights\n")
    return folder


# -- one run, in its own process ---------------------------------------------------------------

def child(spec: dict) -> dict:
    """Load the models, warm up, time one batch; returns the figures, saves the ids."""
    from maskvox.pieces import Piece
    from maskvox.pipeline import Synthesizer
    from maskvox.request import PreparedPrompt

    run = Run.parse(spec["run"])
    torch.set_num_threads(spec["threads"])
    if "padded" in run.levers:
        import maskvox.sampling

        maskvox.sampling.FLAT_ON_CPU = False
    device = torch.device(spec["device"])
    started = time.perf_counter()
    synth = Synthesizer.from_pretrained(spec["model"], preset=run.preset, device=spec["device"],
                                        sampling=run.sampling, precision=spec["precision"],
                                        low_memory="low" in run.levers, quantize="int8" if "int8" in run.levers else "none")
    load_seconds = time.perf_counter() - started
    wav_24k = load_audio(EXAMPLE, ACOUSTIC_RATE)[: int(spec["prompt_seconds"] * ACOUSTIC_RATE)]
    wav_16k = load_audio(EXAMPLE, SEMANTIC_RATE)[: int(spec["prompt_seconds"] * SEMANTIC_RATE)]
    phones = torch.tensor(spec["phones"], dtype=torch.long)
    frames = int(spec["target_seconds"] * 50)

    def generate(batch: int, frames: int) -> dict:
        with torch.inference_mode():
            timed = time.perf_counter()
            _, semantic, acoustic = synth.tokenize_audio(wav_16k, wav_24k)
            shared = min(len(semantic), len(acoustic))  # both modes then see the same S2A inputs
            prompt = PreparedPrompt(None, [], semantic[:shared], acoustic[:shared], 0.0, 0.0)
            if device.type == "cuda":
                torch.cuda.synchronize()
            features = time.perf_counter() - timed
            pieces = [Piece(phones, frames, spec["seed"] + b) for b in range(batch)]
            spent = synth.generate_pieces(pieces, [prompt] * batch)
        return {"features": features, **spent}, pieces

    generate(1, 10)  # warm-up: kernels, allocator, lazy loading paths
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    wall = time.perf_counter()
    stages, pieces = generate(run.batch, frames)
    wall = time.perf_counter() - wall
    np.savez(spec["ids"], **{f"semantic{b}": piece.semantic for b, piece in enumerate(pieces)},
             **{f"codes{b}": piece.codes for b, piece in enumerate(pieces)})
    return {
        "run": run.name, "load_s": round(load_seconds, 2),
        "stages_s": {stage: round(stages.get(stage, 0.0), 3) for stage in STAGES},
        "total_s": round(wall, 3), "utterances_per_s": round(run.batch / wall, 5),
        "real_time_factor": round(wall / (run.batch * spec["target_seconds"]), 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "peak_gpu_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
    }


def run_child(spec: dict) -> dict:
    """One run in a fresh process; a run already done with the same spec is read back (resume)."""
    out = Path(spec["ids"]).with_suffix(".json")
    spec_file = out.with_suffix(".spec.json")
    if out.is_file() and spec_file.is_file() and json.loads(spec_file.read_text()) == spec:
        return json.loads(out.read_text())
    write_json(spec_file, spec)
    command = [sys.executable, "-m", "recipes.bench.clone", "--child", json.dumps(spec), "--out", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:  # one line: the child's last (its error's own)
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"run {spec['run']} failed: {last}")
    return json.loads(out.read_text())


# -- the driver ---------------------------------------------------------------------------------

def fast_only_inputs(model: str) -> bool:
    """Whether the model's fast mode has inputs the reference has none for (the demo's alignment
    help, maskvox/frame_phones.py): its ids then differ from reference mode's by design."""
    from maskvox.checkpoint import load_model_config

    cfg = load_model_config(model)
    return cfg.t2s.aligned_phones or cfg.s2a_full.aligned_phones


def same_ids(first: Path, other: Path) -> bool:
    a, b = np.load(first), np.load(other)
    shared = [key for key in a.files if key in b.files]
    return all(np.array_equal(a[key], b[key]) for key in shared)


def add_ratios(results: list[dict]) -> None:
    """Speed-ups against the first run (per utterance), and batch gains against the same
    run at batch 1 when there is one."""
    def alike(result: dict) -> tuple:
        run = Run.parse(result["run"])
        return run.sampling, run.preset, run.levers

    def rate(result: dict) -> float:  # from the unrounded time: a slow run's utterances/s rounds to few digits
        return result["batch"] / result["total_s"]

    single = {alike(r): rate(r) for r in results if r["batch"] == 1}
    for r in results:
        r["speedup_vs_first"] = round(rate(r) / rate(results[0]), 3)
        one = single.get(alike(r)) if r["batch"] > 1 else None
        r["x_batch1"] = round(rate(r) / one, 3) if one else None


def table(results: list[dict]) -> str:
    head = ["run", *STAGES, "total s", "utt/s", "x first", "x batch 1", "same ids", "RSS GB", "GPU GB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["run"], *(f"{r['stages_s'][s]:.2f}" for s in STAGES), f"{r['total_s']:.1f}",
                 f"{r['utterances_per_s']:.4f}", f"{r['speedup_vs_first']:.2f}",
                 "" if r["x_batch1"] is None else f"{r['x_batch1']:.2f}", {True: "yes", False: "no", None: "n/a"}[r["same_ids"]],
                 f"{r['peak_rss_gb']:.2f}", "" if r["peak_gpu_gb"] is None else f"{r['peak_gpu_gb']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="demo", choices=["official", "demo"])
    parser.add_argument("--model", help="a model folder instead of --sizes")
    parser.add_argument("--runs", nargs="+", type=Run.parse,
                        default=[Run.parse(r) for r in ("reference/default/1", "fast/default/1", "fast/fast/1",
                                                        "fast/default/8", "fast/fast/8")])
    parser.add_argument("--prompt-seconds", type=float, default=3.0)
    parser.add_argument("--target-seconds", type=float, default=7.0)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="fp32, or bf16/fp16 on a GPU (fast runs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default="exp/bench/official_random", help="where --sizes official writes its weights")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--out", required=True, help="JSON file to write (a table is printed too)")
    args = parser.parse_args(argv)
    if args.child:
        write_json(args.out, child(json.loads(args.child)))
        return 0

    from maskvox.checkpoint import default_model_location
    from maskvox.text import TextFrontEnd

    model = args.model or (str(official_random_folder(Path(args.cache))) if args.sizes == "official"
                           else default_model_location())
    phones = [int(i) for text in ("We do not break.", TEXT) for i in TextFrontEnd()(text, "en").ids]
    work = Path(args.out).with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    results = []
    # Ids are compared with the first run's, unless sampling modes differ and fast mode has inputs
    # of its own (then None: not comparable).
    comparable = not fast_only_inputs(model)
    for index, run in enumerate(args.runs):
        spec = {"run": run.name, "model": model, "threads": args.threads, "device": args.device,
                "precision": "fp32" if run.sampling == "reference" else args.precision, "seed": args.seed,
                "prompt_seconds": args.prompt_seconds, "target_seconds": args.target_seconds, "phones": phones,
                "ids": str(work / f"run{index}.npz")}
        result = {**run_child(spec), "batch": run.batch}
        alike = comparable or run.sampling == args.runs[0].sampling
        result["same_ids"] = same_ids(work / "run0.npz", work / f"run{index}.npz") if alike else None
        results.append(result)
        print(f"{run.name}: {result['total_s']:.1f} s {result['stages_s']}", file=sys.stderr, flush=True)
    add_ratios(results)
    report = {"model": model, "sizes": args.model or args.sizes, "device": args.device, "threads": args.threads,
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
              "prompt_seconds": args.prompt_seconds, "target_seconds": args.target_seconds, "phones": len(phones),
              "runs": results}
    write_json(args.out, report)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
