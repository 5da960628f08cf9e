"""`--reference-sampling` reproduces the reference pipeline (Amphion's `maskgct_inference`)
for the same inputs and seed: prompt ids, target length, T2S ids, S2A ids (layer 1 and all
12) exactly, the waveform to float tolerance.

The golden (tests/data/reference_pipeline, its README says how it was made) ran the
reference classes on the shared mini_seed0 weights plus a tiny random semantic front
(w2v-BERT of 24 blocks, layer 17 read) on CPU: one case with the reference's length rule,
one with an explicit duration.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from maskvox.cli import main
from maskvox.pipeline import CloneRequest, Synthesizer

GOLDEN = Path(__file__).parent / "data" / "reference_pipeline"
SHARED_FILES = {
    "t2s_model/model.safetensors": "t2s.safetensors",
    "s2a_model/s2a_model_1layer/model.safetensors": "s2a_1layer.safetensors",
    "s2a_model/s2a_model_full/model.safetensors": "s2a_full.safetensors",
    "acoustic_codec/model.safetensors": "codec_encoder.safetensors",
    "acoustic_codec/model_1.safetensors": "codec_decoder.safetensors",
}
CASES = {"auto_len": ("prompt_a.wav", None), "explicit_len": ("prompt_b.wav", 2.0)}
WAVE_TOLERANCE = 1e-5  # relative to the peak: fp32 sums in another order (the decoder alone: 5.8e-8 absolute)


@pytest.fixture(scope="module")
def reference_folder(golden_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reference_pipeline")
    shutil.copytree(GOLDEN / "model", folder, dirs_exist_ok=True)
    for target, source in SHARED_FILES.items():
        (folder / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(golden_dir / source, folder / target)
    return folder


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "golden.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}, json.loads((GOLDEN / "meta.json").read_text())


def case_inputs(meta, name):
    [case] = [case for case in meta["cases"] if case["name"] == name]
    return case["prompt_text"], case["target_text"], case["seed"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_reference_sampling_reproduces_the_reference_pipeline(name, reference_folder, golden):
    arrays, meta = golden
    prompt_text, target_text, seed = case_inputs(meta, name)
    prompt_file, duration = CASES[name]
    synthesizer = Synthesizer.from_pretrained(reference_folder, device="cpu", sampling="reference")
    item = synthesizer.prepare(CloneRequest(GOLDEN / prompt_file, prompt_text, target_text))
    assert item.prompt.phones == arrays[f"{name}_prompt_phone_ids"].tolist()
    assert item.piece_phones == [arrays[f"{name}_target_phone_ids"].tolist()]
    assert np.array_equal(item.prompt.semantic.numpy(), arrays[f"{name}_prompt_semantic_ids"][0])
    assert np.array_equal(item.prompt.acoustic.numpy(), arrays[f"{name}_prompt_acoustic_codes"][0])

    result = synthesizer.clone(GOLDEN / prompt_file, prompt_text, target_text, duration=duration, seed=seed)
    assert len(result.semantic_ids[0]) == int(arrays[f"{name}_target_len"])
    assert np.array_equal(result.semantic_ids[0], arrays[f"{name}_t2s_ids"][0])
    assert np.array_equal(result.acoustic_ids[0][:, :1], arrays[f"{name}_s2a_1layer_ids"][0])
    assert np.array_equal(result.acoustic_ids[0], arrays[f"{name}_s2a_full_ids"][0])
    expected = arrays[f"{name}_recovered_audio"]
    assert result.audio.shape == expected.shape
    assert np.abs(result.audio - expected).max() <= WAVE_TOLERANCE * np.abs(expected).max()


@pytest.mark.slow
def test_reference_sampling_from_the_command_line(reference_folder, golden, tmp_path):
    import soundfile as sf

    arrays, meta = golden
    prompt_text, target_text, seed = case_inputs(meta, "explicit_len")
    out = tmp_path / "out.wav"
    assert main(["clone", "--model", str(reference_folder), "--prompt", str(GOLDEN / "prompt_b.wav"),
                 "--prompt-text", prompt_text, "--text", target_text, "--duration", "2.0", "--seed", str(seed),
                 "--reference-sampling", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    audio, rate = sf.read(out, dtype="float32")
    expected = arrays["explicit_len_recovered_audio"]
    assert rate == 24000 and audio.shape == expected.shape
    assert np.abs(audio - expected).max() <= 1 / 2**15 + 1e-6  # 16-bit file
