"""The T2S/S2A benchmark script runs and reports what it promises (no timing is asserted)."""

import json

from recipes.bench.masked_models import main as bench_main


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
