"""The T2S/S2A benchmark script runs and reports what it promises (no timing is asserted)."""

import json

import pytest

from recipes.bench.masked_models import main as bench_main


@pytest.mark.slow
def test_benchmark_writes_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    assert bench_main(["--preset", "tiny", "--prompt-seconds", "0.4", "--target-seconds", "0.4", "--phones", "8",
                       "--t2s-steps", "2", "--s2a-steps", "2,1,1,1,1,1,1,1,1,1,1,1", "--batch", "2",
                       "--repeats", "1", "--quiet", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["threads"] >= 1 and report["device"] == "cpu"
    assert set(report["results"]) == {"t2s", "s2a_1layer", "s2a_full"}
    for figures in report["results"].values():
        assert set(figures["speedup_fast_over_reference"]) == {"step", "decode", "decode_batch2"}
        assert all(value > 0 for key, value in figures.items() if key.endswith("_s"))


@pytest.mark.slow
def test_clone_benchmark_times_every_stage_and_checks_the_ids(tiny_full_model, tmp_path):
    """Each run in its own process: the default path draws what reference mode draws (same
    ids), a batch of 2 keeps item 0's ids, and low memory and int8 run end to end."""
    from recipes.bench.clone import STAGES
    from recipes.bench.clone import main as clone_bench

    out = tmp_path / "clone.json"
    runs = ["reference/default/1", "fast/default/1:low", "fast/default/2:low", "fast/fast/1:low,int8"]
    assert clone_bench(["--model", str(tiny_full_model), "--runs", *runs, "--prompt-seconds", "1",
                        "--target-seconds", "0.6", "--threads", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    results = {r["run"]: r for r in report["runs"]}
    assert list(results) == runs and report["threads"] == 1
    for result in results.values():
        assert set(result["stages_s"]) == set(STAGES) and result["total_s"] > 0 and result["peak_rss_gb"] > 0
    assert results["fast/default/1:low"]["same_ids"] and results["fast/default/2:low"]["same_ids"]
    assert results["fast/default/2:low"]["x_batch1"] is not None and results["reference/default/1"]["x_batch1"] is None
    assert results["fast/fast/1:low,int8"]["stages_s"]["t2s"] > 0


def test_gemm_floor_counts_the_products_of_the_t2s_layers():
    """The floor's formula gives exactly the matrix-product FLOPs that torch counts in a T2S
    pass at the official sizes (on the meta device: shapes only, no arithmetic)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from maskvox.config import preset
    from maskvox.t2s.model import T2SModel
    from recipes.bench.gemm_floor import linear_flops

    sizes = preset("official").t2s
    with torch.device("meta"):
        model = T2SModel(sizes)
        ids, mask, t = torch.zeros(1, 350, dtype=torch.long), torch.ones(1, 350, dtype=torch.bool), torch.ones(1)
        passes = {
            78 + 150 + 350: lambda: model.conditional_embeddings(torch.zeros(1, 78, dtype=torch.long),
                                                                 torch.zeros(1, 150, dtype=torch.long), ids, mask, t),
            350: lambda: model.unconditional_embeddings(ids, mask, t),
        }
        for tokens, run_pass in passes.items():
            with FlopCounterMode(display=False) as counter:
                run_pass()
            products = counter.get_flop_counts()["Global"][torch.ops.aten.mm]
            assert products == linear_flops(tokens, sizes.hidden_size, sizes.num_layers)


def test_batch_records_benchmark_times_each_size(tmp_path, capsys):
    from recipes.bench.batch_records import main as records_bench

    out = tmp_path / "records.json"
    assert records_bench(["--items", "5", "3", "--dir", str(tmp_path), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [job["items"] for job in report["jobs"]] == [3, 5]
    assert all(job["per_record_ms"] > 0 and job["file_bytes"] > 0 for job in report["jobs"])
    assert report["ratio_largest_to_smallest"] > 0 and json.loads(capsys.readouterr().out) == report


@pytest.mark.slow
def test_gpu_check_dry_run_passes_on_the_cpu(tmp_path):
    """What CI can check of recipes/bench/gpu_check.sh without a GPU: its steps run (the device
    tests on the CPU, the clone benchmark at the demo's size) and it writes the one JSON."""
    import subprocess

    out = tmp_path / "gpu_check.json"
    done = subprocess.run(["bash", "recipes/bench/gpu_check.sh", "--device", "cpu", "--dry-run", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    assert report["dry_run"] and report["environment"]["device"] == "cpu"
    assert {name: step["status"] for name, step in report["steps"].items()} == {
        "device_tests": "passed", "benchmarks": "passed"}
    runs = {run["run"]: run for run in report["benchmarks"]["runs"]}
    assert set(runs) == {"reference/default/1", "fast/default/1", "fast/default/2"}
    assert all(run["total_s"] > 0 for run in runs.values())
    # Fast mode computes what the reference computes, unless the demo gives it inputs of its own
    # (alignment help): then the ids are not compared.
    from recipes.bench.clone import fast_only_inputs

    assert runs["fast/default/1"]["same_ids"] is (None if fast_only_inputs(report["benchmarks"]["model"]) else True)


def test_gpu_check_without_a_gpu_says_so_and_fails(tmp_path, monkeypatch):
    from recipes.bench import gpu_check

    def refuse(command, timeout, env=None):  # the steps themselves are the dry run's test above
        return {"status": "failed", "seconds": 0.0, "command": " ".join(command), "output_tail": ["no CUDA"]}

    out = tmp_path / "gpu_check.json"
    monkeypatch.setattr(gpu_check, "run_step", refuse)
    assert gpu_check.main(["--device", "cuda", "--out", str(out)]) == 1
    report = json.loads(out.read_text())
    assert report["environment"]["cuda_available"] is False
    assert [step["status"] for step in report["steps"].values()] == ["failed", "failed"]
    assert "--sizes official" in report["steps"]["benchmarks"]["command"]


@pytest.mark.slow
def test_readme_clone_benchmark_times_the_process_the_stages_and_the_anchors(tiny_full_model, tmp_path):
    from recipes.bench.readme_clone import STAGES, main as readme_bench

    out = tmp_path / "readme.json"
    assert readme_bench(["--model", str(tiny_full_model), "--repeats", "1", "--warm", "1", "--text", "Hello there.",
                         "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["whole_process"]["wall_s"] > 0 and report["whole_process"]["cpu_s"] > 0
    inside = report["in_process"]
    assert inside["imports_s"] > 0 and inside["loading_s"] > 0 and set(inside["warm"]) == {"default", "fast"}
    for call in [inside["first_call"], *inside["warm"].values()]:
        assert set(call["stages_s"]) == set(STAGES) and call["audio_s"] > 0 and call["real_time_factor"] > 0
    # Pico and Piper are test dependencies (the corpus recipe speaks with them): both measured.
    assert [a["voice"] for a in report["anchors"]] == ["SVOX Pico en-US", "Piper joe"]
    assert all(a["audio_s"] > 0.3 and a["real_time_factor"] > 0 for a in report["anchors"])


@pytest.mark.slow
def test_acoustic_encoder_benchmark_without_a_checkout_compares_with_the_issue_figure(tmp_path, capsys):
    from recipes.bench.acoustic_encoder import AMPHION_FIGURE_S, main as encoder_bench

    out = tmp_path / "encoder.json"
    assert encoder_bench(["--seconds", "0.2", "--repeats", "1", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["cpu_s"]) == {"maskvox"} and report["cpu_s"]["maskvox"]["min"] > 0
    assert report["amphion_figure_s"] == AMPHION_FIGURE_S and "against the issue's figure" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no models/codec/amphion_codec/codec.py"):
        encoder_bench(["--amphion", str(tmp_path), "--seconds", "0.2", "--repeats", "1", "--out", str(out)])
