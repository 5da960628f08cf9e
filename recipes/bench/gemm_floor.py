"""How fast a path that gives reference mode's ids could be on this CPU, in fp32.

    OMP_NUM_THREADS=1 python -m recipes.bench.gemm_floor --threads 1 --bench exp/bench/official_cpu.json

Same ids means the same passes over the same tokens, so the same products in the linear
layers; the two modes differ only around them. This counts those FLOPs for the clone of a
`recipes.bench.clone` run at the official sizes (its phones, prompt and target lengths; the
default preset's steps; both CFG passes: the conditional one over phones + prompt + target,
the unconditional one over the target, as in Amphion's MaskGCT), times one GEMM of the T2S
MLP's shape on this machine, and prints the seconds those products need at that rate next to
the reference-mode run's stage times. Their ratio bounds the speed-up of any same-ids path:
everything else (attention, norms, sampling, Python) would have to take no time at all.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from maskvox.config import preset as model_sizes
from maskvox.errors import UserError
from maskvox.presets import InferencePreset

from ..common.cli import exit_status, positive

FRAME_RATE = 50  # semantic and acoustic tokens per second


def linear_flops(tokens: int, hidden: int, layers: int) -> int:
    """One pass of a Llama-style block stack: q, k, v, o (4 h^2) and a GLU MLP of width 4h
    (3 x 4 h^2), 2 FLOPs per multiply-add."""
    return 2 * tokens * layers * 16 * hidden * hidden


def stage_flops(phones: int, prompt: int, target: int, steps: InferencePreset) -> dict[str, float]:
    sizes = model_sizes("official")
    t2s, s2a = sizes.t2s, sizes.s2a_full

    def decoding(step_count: int, prefix: int, hidden: int, layers: int, vocabulary: int) -> float:
        per_step = (linear_flops(prefix + target, hidden, layers) + linear_flops(target, hidden, layers)
                    + 2 * target * hidden * vocabulary)  # the output projection, after guidance
        return step_count * per_step

    s2a_args = (prompt, s2a.hidden_size, s2a.num_layers, s2a.codebook_size)
    return {
        "t2s": decoding(steps.t2s_steps, phones + prompt, t2s.hidden_size, t2s.num_layers, t2s.cond_codebook_size),
        "s2a_layer1": decoding(steps.s2a_steps[0], *s2a_args),
        "s2a_rest": sum(decoding(count, *s2a_args) for count in steps.s2a_steps[1:]),
    }


def gemm_rate(threads: int, repeats: int = 5) -> float:
    """FLOP/s of a 585 x 1536 x 6144 fp32 GEMM (a T2S MLP projection over the benchmark's tokens)."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(585, 1536, generator=generator), torch.randn(1536, 6144, generator=generator)
    torch.mm(a, b)  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        torch.mm(a, b)
    return repeats * 2 * 585 * 1536 * 6144 / (time.perf_counter() - started)


def report(bench: dict, rate: float) -> str:
    reference = next(run for run in bench["runs"] if run["run"].startswith("reference/default/"))
    flops = stage_flops(bench["phones"], int(bench["prompt_seconds"] * FRAME_RATE),
                        int(bench["target_seconds"] * FRAME_RATE), InferencePreset())
    rows = [f"GEMM rate: {rate / 1e9:.1f} GFLOP/s ({bench['threads']} thread(s) in the benchmark)", "",
            "| stage | linear TFLOP | floor s | reference mode s | bound on the speed-up |", "|---|---|---|---|---|"]
    for stage, count in flops.items():
        floor, measured = count / rate, reference["stages_s"][stage]
        rows.append(f"| {stage} | {count / 1e12:.1f} | {floor:.0f} | {measured:.0f} | {measured / floor:.2f}x |")
    rest = sum(seconds for stage, seconds in reference["stages_s"].items() if stage not in flops)
    floor = sum(flops.values()) / rate + rest
    rows.append(f"| all (features and decode as measured) | {sum(flops.values()) / 1e12:.1f} | {floor:.0f} | "
                f"{reference['total_s']:.0f} | {reference['total_s'] / floor:.2f}x |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", default="exp/bench/official_cpu.json",
                        help="a recipes.bench.clone result at the official sizes with a reference/default run")
    parser.add_argument("--threads", type=positive, default=1, help="threads for the GEMM (the benchmark's)")

    def run() -> None:
        path = Path(args.bench)
        if not path.is_file():
            raise UserError(f"no benchmark result at {path}: run recipes.bench.clone --sizes official first")
        print(report(json.loads(path.read_text()), gemm_rate(args.threads)))

    args = parser.parse_args(argv)
    return exit_status(run)


if __name__ == "__main__":
    sys.exit(main())
