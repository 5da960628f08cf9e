"""The same pipeline on the device under test and on the CPU: MASKVOX_TEST_DEVICE names it
(default cpu, where CI runs these as plain checks; `recipes/bench/gpu_check.sh` sets cuda).
On a GPU they are the CUDA path's first checks: the models and codecs give the CPU's numbers
in fp32 within stated tolerances, a batch gives each item what it gives alone, bf16 stays
finite and the right length."""

import os

import numpy as np
import pytest
import torch

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, REPO_ROOT, speechlike
from maskvox.audio import ACOUSTIC_RATE
from maskvox.pipeline import CloneRequest, Synthesizer
from maskvox.tokenizer import SpeechTokenizer

DEVICE = os.environ.get("MASKVOX_TEST_DEVICE", "cpu")
PROMPT_TEXT = EXAMPLE_PROMPT_TEXT.read_text().strip()


@pytest.fixture(scope="module")
def device() -> str:
    if DEVICE.startswith("cuda") and not torch.cuda.is_available():
        pytest.fail(f"MASKVOX_TEST_DEVICE={DEVICE} but torch {torch.__version__} sees no CUDA device: "
                    "run on a GPU machine with a CUDA build of torch, or unset MASKVOX_TEST_DEVICE")
    return DEVICE


@pytest.fixture(scope="module")
def on_device(tiny_full_model, device):
    return Synthesizer.from_pretrained(tiny_full_model, device=device, precision="fp32")


@pytest.fixture(scope="module")
def on_cpu(tiny_full_model):
    return Synthesizer.from_pretrained(tiny_full_model, device="cpu", precision="fp32")


def request(seed: int, text: str = "Hello there.", duration: float = 1.0) -> CloneRequest:
    return CloneRequest(text=text, prompt=str(EXAMPLE_PROMPT), prompt_text=PROMPT_TEXT, duration=duration, seed=seed)


def test_the_codec_round_trip_on_the_device_matches_the_cpu(tiny_full_model, device):
    # fp32 on both; a GPU's convolutions sum in another order, so codes near a boundary may flip.
    wav = speechlike(1.0, ACOUSTIC_RATE, seed=1)
    here = SpeechTokenizer.from_pretrained(tiny_full_model, device=device, semantic="no")
    cpu = SpeechTokenizer.from_pretrained(tiny_full_model, device="cpu", semantic="no")
    codes_here, codes_cpu = here.encode(wav).acoustic_codes, cpu.encode(wav).acoustic_codes
    assert codes_here.shape == codes_cpu.shape
    assert (codes_here == codes_cpu).mean() >= 0.99, "over 1 % of the codes differ from the CPU's"
    decoded_here, decoded_cpu = here.decode(cpu.encode(wav)), cpu.decode(cpu.encode(wav))
    np.testing.assert_allclose(decoded_here, decoded_cpu, atol=1e-4)


@pytest.mark.slow
def test_t2s_and_s2a_losses_on_the_device_match_the_cpu(on_device, on_cpu):
    # The training objective in eval mode: the same masks (drawn on the CPU from one seed), so
    # the device's forward passes must give the CPU's loss (fp32, relative 1e-4).
    generator = torch.Generator().manual_seed(0)
    phones = [torch.randint(1, 100, (12,), generator=generator) for _ in range(2)]
    semantic = [torch.randint(0, 1024, (40,), generator=generator) for _ in range(2)]
    acoustic = [torch.randint(0, 1024, (40, 12), generator=generator) for _ in range(2)]
    losses = []
    for synth in (on_device, on_cpu):
        device = synth.device
        with torch.inference_mode(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(1)
            t2s = synth.t2s({"phones": [x.to(device) for x in phones], "semantic": [x.to(device) for x in semantic]})
            torch.manual_seed(1)
            s2a = synth.s2a_full({"semantic": [x.to(device) for x in semantic],
                                  "acoustic": [x.to(device) for x in acoustic]}, 0.0, 1)
        losses.append((float(t2s["loss"]), float(s2a["loss"])))
    assert losses[0] == pytest.approx(losses[1], rel=1e-4)
    # The whole clone in fp32 runs on the device and gives finite audio of the right length.
    here = on_device.clone_batch([request(5)])[0]
    assert here.audio.shape == (ACOUSTIC_RATE,) and np.isfinite(here.audio).all()


@pytest.mark.slow
def test_a_batch_on_the_device_gives_each_item_what_it_gives_alone(on_device):
    requests = [request(seed, text) for seed, text in ((1, "Hello there."), (2, "A longer sentence to say."),
                                                     (3, "Short."))]
    together = on_device.clone_batch(requests, batch_size=3)
    for item, result in zip(requests, together):
        alone = on_device.clone_batch([item], batch_size=1)[0]
        np.testing.assert_array_equal(result.audio, alone.audio)


@pytest.mark.slow
def test_the_default_precision_is_finite_and_the_right_length(tiny_full_model, device):
    synth = Synthesizer.from_pretrained(tiny_full_model, device=device)  # auto: bf16 on a GPU that has it
    expected = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    assert synth.dtype == expected
    result = synth.clone_batch([request(9, duration=1.5)])[0]
    assert result.audio.shape == (int(1.5 * ACOUSTIC_RATE),) and np.isfinite(result.audio).all()
    assert np.abs(result.audio).max() > 0


@pytest.mark.slow
def test_training_steps_and_held_out_figures_run_on_the_device(device, tiny_model, tmp_path):
    # The recipes on the device (run.device auto picks the GPU): a few steps of T2S, of the token
    # S2A and of the latent S2A, with held-out figures at a save. The held-out batches are
    # collated outside the prepared loader: on the first GPU run they stayed on the CPU.
    from factories import synthetic_token_shards
    from recipes.common.trainer import read_log
    from recipes.s2a.train import main as s2a_main
    from recipes.t2s.train import main as t2s_main

    shards = synthetic_token_shards(tmp_path / "shards")
    latent = ["--set", "model.target=latent", "--set", "model.num_quantizer=4", "--set", "model.predict_layer_1=true",
              "--set", f"latent.codec={tiny_model}"]
    for name, main, extra in (("t2s", t2s_main, []), ("s2a", s2a_main, []), ("s2a_latent", s2a_main, latent)):
        exp = tmp_path / name
        recipe = name.split("_")[0]
        config = REPO_ROOT / "recipes" / recipe / "configs" / "tiny.yaml"
        args = ["--config", str(config), "--quiet", "--set", f"data.train_shards={shards}",
                "--set", f"data.heldout_shards={shards}", "--set", "data.heldout_items=8", "--set", f"run.exp_dir={exp}",
                "--set", "run.max_steps=4", "--set", "run.save_every=2", "--set", "run.log_every=2",
                "--set", f"run.device={'cpu' if device == 'cpu' else 'auto'}", *extra]
        assert main(args) == 0, f"{name} did not train on {device}"
        heldout = [record["heldout/loss"] for record in read_log(exp / "log.jsonl") if "heldout/loss" in record]
        assert heldout and all(np.isfinite(heldout)), f"{name}: no finite held-out figure on {device}"
