"""T2S and S2A training recipes on a small synthetic id corpus (tests/factories.py):
losses fall, exports load into the sampler, two CPU processes train one model, a killed
run resumes from its last checkpoint, fine-tuning grows the phone table."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from factories import synthetic_token_shards
from maskvox.errors import UserError
from maskvox.s2a.model import load_s2a
from maskvox.sampling import make_generators
from maskvox.config import T2SConfig
from maskvox.t2s.model import T2SModel, load_t2s
from recipes.common.shards import TokenCorpus, TokenItem, write_shard
from recipes.common.trainer import read_log
from recipes.s2a.train import main as s2a_main
from recipes.t2s.train import main as t2s_main

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return synthetic_token_shards(tmp_path_factory.mktemp("tokens"))


def recipe_args(recipe, shards, exp, *extra):
    args = ["--config", f"{REPO}/recipes/{recipe}/configs/tiny.yaml", "--quiet",
            "--set", f"data.train_shards={shards}", "--set", f"run.exp_dir={exp}"]
    for setting in extra:
        args += ["--set", setting]
    return args


def test_shards_round_trip_and_name_what_is_missing(tmp_path):
    items = [TokenItem("a", "s1", np.arange(5), np.ones((5, 12), int), np.array([3, 4])),
             TokenItem("b", "s2", np.arange(3) + 8000, np.zeros((3, 12), int), np.array([7]))]
    write_shard(tmp_path / "shard-00000.npz", items)
    corpus = TokenCorpus(tmp_path, need=("semantic", "acoustic", "phones"))
    assert [item.id for item in corpus.items] == ["a", "b"]
    assert corpus[1].semantic.tolist() == [8000, 8001, 8002] and corpus[1].acoustic.shape == (3, 12)
    assert corpus[0].phones.tolist() == [3, 4] and corpus[1].speaker == "s2"
    write_shard(tmp_path / "shard-00001.npz", [])  # every utterance of it left out
    assert len(TokenCorpus(tmp_path, need=("semantic", "acoustic", "phones"))) == 2
    write_shard(tmp_path / "acoustic_only" / "shard-00000.npz", [TokenItem("c", acoustic=np.ones((4, 12), int))])
    with pytest.raises(UserError, match="no 'phones'"):
        TokenCorpus(tmp_path / "acoustic_only", need=("phones",))
    with pytest.raises(UserError, match="no token shards"):
        TokenCorpus(tmp_path / "nowhere")


def test_heldout_figures_repeat_and_leave_the_training_random_state_alone(shards):
    from recipes.common.token_training import heldout_figures, spread_subset
    from recipes.t2s.train import PhoneSemanticPairs, collate

    torch.manual_seed(0)
    model = T2SModel(T2SConfig(hidden_size=32, num_layers=1, num_heads=2, cfg_scale=0.5))
    items = spread_subset(PhoneSemanticPairs(TokenCorpus(shards), 1500, 1024), 10)
    assert len(items) == 10
    state = torch.get_rng_state()
    first = heldout_figures(model, items, collate, batch_size=4)
    assert torch.equal(state, torch.get_rng_state()) and model.cfg.cfg_scale == 0.5 and model.training
    assert first == heldout_figures(model, items, collate, batch_size=4)
    assert 0 <= first["heldout/accuracy"] <= 1 and first["heldout/loss"] > 0


def assert_loss_falls(log, factor):
    first, last = log[0]["train/loss"], log[-1]["train/loss"]
    assert last < factor * first, f"loss went from {first:.2f} to {last:.2f}"


@pytest.mark.slow
def test_t2s_learns_the_synthetic_corpus_and_its_export_generates(shards, tmp_path):
    exp = tmp_path / "t2s"
    assert t2s_main(recipe_args("t2s", shards, exp, "run.max_steps=120", "run.save_every=40",
                                f"data.heldout_shards={shards}", "data.heldout_items=12")) == 0
    log = read_log(exp / "log.jsonl")
    # The last export's held-out figures make a record of their own, at the last step.
    assert [r["step"] for r in log] == [20, 40, 60, 80, 100, 120, 120]
    assert set(log[-1]) == {"step", "cpu_hours", "heldout/loss", "heldout/accuracy"}
    log = log[:-1]
    assert_loss_falls(log, 0.6)  # about 8.3 -> 4.3 here (chance: ln 8192 = 9.0)
    # Scored at each save, on the same masked items each time: the held-out loss falls too.
    heldout = [r["heldout/loss"] for r in log if "heldout/loss" in r]
    assert len(heldout) >= 2 and heldout[-1] < heldout[0]
    model = load_t2s(exp / "export")
    ids = model.generate([torch.tensor([1, 2, 3, 4])], [torch.tensor([97, 98, 194])], [12], steps=4,
                         generators=make_generators(0, 1, "cpu"))[0]
    assert ids.shape == (12,) and int(ids.max()) < 8192


@pytest.mark.slow
def test_s2a_learns_the_synthetic_corpus_and_its_export_generates(shards, tmp_path):
    exp = tmp_path / "s2a"
    assert s2a_main(recipe_args("s2a", shards, exp, "run.max_steps=120")) == 0
    log = read_log(exp / "log.jsonl")
    assert_loss_falls(log, 0.4)  # about 6.9 -> 1.2 here (chance: ln 1024 = 6.9)
    assert all(1 <= r["train/layer"] <= 11 for r in log), "the full model never trains layer 1"
    model = load_s2a(exp / "export", "s2a_full")
    codes = model.generate([torch.arange(30)], [torch.zeros(10, 12, dtype=torch.long)], [0] + [2] * 11,
                           given_codes=[torch.ones(20, 1, dtype=torch.long)],
                           generators=make_generators(0, 1, "cpu"))[0]
    assert codes.shape == (20, 12) and codes[:, 0].eq(1).all()


@pytest.mark.slow
def test_two_cpu_processes_train_one_s2a_model(shards, tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    assert torchrun, "torchrun is not installed beside this Python (it comes with torch)"
    exp = tmp_path / "s2a_ddp"
    result = subprocess.run(
        [torchrun, "--nproc_per_node", "2", "-m", "recipes.s2a.train",
         *recipe_args("s2a", shards, exp, "run.max_steps=6", "run.log_every=3", "run.save_every=6")],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert [r["step"] for r in read_log(exp / "log.jsonl")] == [3, 6]
    assert sorted(p.name for p in (exp / "checkpoints" / "step_6").glob("random_states_*")) == [
        "random_states_0.pkl", "random_states_1.pkl"]
    model = load_s2a(exp / "export", "s2a_full")
    codes = model.generate([torch.arange(12)], [torch.zeros(4, 12, dtype=torch.long)], [1] * 12,
                           given_codes=[torch.ones(8, 1, dtype=torch.long)], generators=make_generators(0, 1, "cpu"))
    assert codes[0].shape == (8, 12)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_last_checkpoint(shards, tmp_path):
    exp = tmp_path / "t2s_killed"
    args = recipe_args("t2s", shards, exp, "run.log_every=5", "run.save_every=10", "run.keep_checkpoints=5")
    command = [sys.executable, "-m", "recipes.t2s.train", *args, "--set", "run.max_steps=100000"]
    process = subprocess.Popen(command, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not (exp / "checkpoints" / "step_20").is_dir():  # wait for two checkpoints
        assert process.poll() is None, f"training stopped early: {process.stderr.read()[-1500:]}"
        assert time.monotonic() < deadline, "no checkpoint within 4 minutes"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    saved = max(int(p.name[5:]) for p in (exp / "checkpoints").glob("step_*"))
    assert saved >= 20

    assert t2s_main(args + ["--set", f"run.max_steps={saved + 10}"]) == 0
    log = read_log(exp / "log.jsonl")
    assert [r["step"] for r in log] == list(range(5, saved + 11, 5)), "the resumed run did not continue from the last checkpoint"
    # The CPU time is restored with the checkpoint and keeps adding up across the restart.
    hours = [r["cpu_hours"] for r in log]
    assert hours[0] > 0 and hours == sorted(hours) and hours[-1] > hours[len(hours) // 2]


@pytest.mark.slow
def test_finetuning_grows_the_phone_table_and_keeps_the_old_rows(shards, tmp_path):
    base = tmp_path / "base"
    assert t2s_main(recipe_args("t2s", shards, base, "run.max_steps=2")) == 0
    original = load_t2s(base / "export").phone_emb.weight
    tuned = tmp_path / "tuned"
    assert t2s_main(recipe_args(
        "t2s", shards, tuned, "run.max_steps=1", "optim.lr=0", f"finetune.init_from={base / 'export'}",
        "model.phone_vocab_size=1030", "finetune.new_phone_ids=[1024, 1025]",
    )) == 0
    grown = load_t2s(tuned / "export").phone_emb.weight
    assert grown.shape == (1030, original.shape[1])
    assert torch.allclose(grown[:1024], original)


def test_the_ema_follows_the_model_closely_at_first_then_with_its_decay():
    from recipes.common.trainer import warmup_ema

    update = warmup_ema(0.999)
    averaged, current = [torch.zeros(3)], [torch.ones(3)]
    update(averaged, current, torch.tensor(0))
    assert torch.allclose(averaged[0], torch.full((3,), 0.9))  # decay 1/10 on the first update
    late = [torch.zeros(3)]
    update(late, current, torch.tensor(100_000))
    assert torch.allclose(late[0], torch.full((3,), 0.001))  # then the configured 0.999


@pytest.mark.slow
def test_s2a_trains_with_soft_targets_from_a_codec_and_refuses_them_without_one(shards, tiny_model, tmp_path):
    exp = tmp_path / "soft"
    assert s2a_main(recipe_args("s2a", shards, exp, "run.max_steps=4", "run.log_every=2", "run.save_every=4",
                                "soft.weight=0.5", f"soft.codec={tiny_model}")) == 0
    assert [r["step"] for r in read_log(exp / "log.jsonl")] == [2, 4]
    assert s2a_main(recipe_args("s2a", shards, tmp_path / "refused", "soft.weight=0.5")) == 2


@pytest.mark.slow
def test_t2s_alone_is_judged_by_a_phone_probe_against_the_recorded_ids(shards, tiny_full_model, tmp_path):
    from recipes.t2s.evaluate import main as t2s_evaluate

    out = tmp_path / "t2s_eval"
    assert t2s_evaluate(["--model", str(tiny_full_model), "--train", str(shards), "--heldout", str(shards),
                         "--per-speaker", "2", "--min-frames", "10", "--probe-items", "48", "--probe-steps", "600",
                         "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["items"] == 8  # 4 speakers, 2 targets each
    # The synthetic ids are a function of the phones: the probe reads the recorded ids well,
    # and a random T2S writes ids it cannot read.
    assert results["per_recorded"] < 0.1 and results["per_generated"] > 0.5


@pytest.mark.slow
def test_a_wall_clock_budget_ends_the_run_with_a_checkpoint_and_an_export(shards, tmp_path):
    # A budget far below one step's time: the run stops at its first log step, as at max_steps.
    exp = tmp_path / "budget"
    assert t2s_main(recipe_args("t2s", shards, exp, "run.max_steps=100000", "run.max_minutes=0.000001",
                                "run.log_every=3", "run.save_every=1000")) == 0
    assert [r["step"] for r in read_log(exp / "log.jsonl")] == [3]
    assert (exp / "checkpoints" / "step_3").is_dir()
    assert isinstance(load_t2s(exp / "export"), T2SModel)


def test_training_data_with_no_batch_is_an_error_not_a_hang():
    from recipes.common.cli import forever

    batches = forever(torch.utils.data.DataLoader(list(range(3)), batch_size=2))
    assert [next(batches).tolist() for _ in range(3)] == [[0, 1], [2], [0, 1]]
    with pytest.raises(UserError, match="gives no batch"):
        next(forever(torch.utils.data.DataLoader(list(range(3)), batch_size=4, drop_last=True)))
