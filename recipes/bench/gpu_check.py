"""The first thing to run on a GPU: the device tests and the official-size benchmarks, one JSON.

    bash recipes/bench/gpu_check.sh                          # on a GPU machine, about 5 minutes
    bash recipes/bench/gpu_check.sh --device cpu --dry-run   # the same steps, small, on a CPU (CI)

Steps, each in its own process with a time limit:
1. The environment: torch and CUDA versions, the device's name, memory and bf16 support.
2. `tests/test_device.py` with MASKVOX_TEST_DEVICE set: codec, T2S and S2A on the device
   against the CPU in fp32, a batch against its items alone, the default precision (bf16).
3. `recipes/bench/clone.py` at the official sizes (random weights, written once to the cache):
   reference sampling in fp32, the default path in the default precision (bf16 on a GPU that
   has it), batch 1 and batch 8; per stage seconds, real-time factor and
   `torch.cuda.max_memory_allocated`. A dry run uses the shipped demo, 1 s of target, batch 2.
Writes `--out` (default exp/bench/gpu_check.json) whatever happens, with each step's status;
exits non-zero when a step failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from maskvox.fileio import write_json

REPO = Path(__file__).resolve().parents[2]


def environment(device: str) -> dict:
    import torch

    found = {"python": platform.python_version(), "torch": torch.__version__, "cuda_build": torch.version.cuda,
             "device": device, "cuda_available": torch.cuda.is_available()}
    if device.startswith("cuda") and torch.cuda.is_available():
        props = torch.cuda.get_device_properties(torch.device(device))
        found.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1),
                     capability=f"{props.major}.{props.minor}", bf16=torch.cuda.is_bf16_supported())
    return found


def run_step(command: list[str], timeout: float, env: dict | None = None) -> dict:
    """Run one step; its status, seconds and the last lines of its output."""
    started = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, **(env or {})})
        status, output = ("passed" if done.returncode == 0 else "failed"), done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        status, output = "timed out", f"{err.stdout or ''}{err.stderr or ''}"
        output = output.decode(errors="replace") if isinstance(output, bytes) else output
    tail = output.strip().splitlines()[-15:]
    return {"status": status, "seconds": round(time.perf_counter() - started, 1), "command": " ".join(command),
            "output_tail": tail}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu")
    parser.add_argument("--dry-run", action="store_true", help="small sizes: check the steps run (CI does, on a CPU)")
    parser.add_argument("--out", default="exp/bench/gpu_check.json")
    parser.add_argument("--cache", default="exp/bench/official_random", help="where the official-size weights go")
    args = parser.parse_args(argv)
    out = Path(args.out)
    work = out.with_suffix("")
    work.mkdir(parents=True, exist_ok=True)
    report: dict = {"dry_run": args.dry_run, "environment": environment(args.device), "steps": {}}
    started = time.perf_counter()

    python = sys.executable
    report["steps"]["device_tests"] = run_step(
        [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_device.py"], timeout=240,
        env={"MASKVOX_TEST_DEVICE": args.device})
    if args.dry_run:
        sizes = ["--sizes", "demo", "--target-seconds", "1", "--prompt-seconds", "2"]
        runs = ["reference/default/1", "fast/default/1", "fast/default/2"]
    else:
        sizes = ["--sizes", "official", "--cache", args.cache, "--target-seconds", "7", "--prompt-seconds", "3"]
        runs = ["reference/default/1", "fast/default/1", "fast/default/8"]
    bench_json = work / "clone.json"
    report["steps"]["benchmarks"] = run_step(
        [python, "-m", "recipes.bench.clone", *sizes, "--device", args.device, "--precision", "auto",
         "--runs", *runs, "--out", str(bench_json)], timeout=120 if args.dry_run else 360)
    if report["steps"]["benchmarks"]["status"] == "passed":
        report["benchmarks"] = json.loads(bench_json.read_text())
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out, report)
    failed = [name for name, step in report["steps"].items() if step["status"] != "passed"]
    for name, step in report["steps"].items():
        print(f"{name}: {step['status']} in {step['seconds']} s", file=sys.stderr)
    if failed:
        print(f"gpu_check: {', '.join(failed)} did not pass; see {out}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
