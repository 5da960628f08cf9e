"""Strict safetensors loading with named mismatches; folder and hub resolution, offline."""

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from maskvox.checkpoint import (
    OFFICIAL_FILES,
    load_model_config,
    load_module,
    resolve_files,
    save_module,
)
from maskvox.codecs.acoustic import AcousticEncoder
from maskvox.codecs.pretrained import load_acoustic_codec
from maskvox.config import preset
from maskvox.errors import CheckpointError, ModelNotAvailableError

from factories import populate_hub_cache


@pytest.fixture
def encoder_file(tmp_path):
    torch.manual_seed(0)
    model = AcousticEncoder(preset("tiny").acoustic_codec.encoder)
    path = tmp_path / "encoder.safetensors"
    save_module(model, path)
    return model, path


def test_save_and_strict_load_round_trip(encoder_file):
    model, path = encoder_file
    fresh = load_module(AcousticEncoder(preset("tiny").acoustic_codec.encoder), path)
    for key, value in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)


def test_renamed_key_is_named(encoder_file, tmp_path):
    _, path = encoder_file
    tensors = load_file(str(path))
    tensors["block.0.weight_gg"] = tensors.pop("block.0.weight_g")
    save_file(tensors, str(path))
    with pytest.raises(CheckpointError, match=r"encoder.safetensors: missing key 'block.0.weight_g'"):
        load_module(AcousticEncoder(preset("tiny").acoustic_codec.encoder), path)


def test_unexpected_key_and_wrong_shape_are_named(encoder_file):
    _, path = encoder_file
    tensors = load_file(str(path))
    save_file({**tensors, "extra.weight": torch.zeros(1)}, str(path))
    with pytest.raises(CheckpointError, match="unexpected key 'extra.weight'"):
        load_module(AcousticEncoder(preset("tiny").acoustic_codec.encoder), path)
    tensors["block.0.bias"] = torch.zeros(3)
    save_file(tensors, str(path))
    with pytest.raises(CheckpointError, match=r"key 'block.0.bias' has shape \[3\], the model expects \[8\]"):
        load_module(AcousticEncoder(preset("tiny").acoustic_codec.encoder), path)


def test_not_a_safetensors_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_module(AcousticEncoder(preset("tiny").acoustic_codec.encoder), path)


def test_folder_missing_a_file_names_it(tiny_acoustic_model, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_acoustic_model, folder)
    (folder / OFFICIAL_FILES["codec_decoder"]).unlink()
    with pytest.raises(CheckpointError, match="is missing acoustic_codec/model_1.safetensors"):
        load_acoustic_codec(folder)


def test_folder_without_config_means_official_sizes(tmp_path):
    assert load_model_config(tmp_path) == preset("official")


def test_neither_folder_nor_repo_id(tmp_path):
    with pytest.raises(CheckpointError, match="neither a folder nor a hub repo id"):
        resolve_files(str(tmp_path / "absent" / "deeper"), ["x"])


def test_hub_repo_from_the_local_cache_offline(tiny_acoustic_model, tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    files = [OFFICIAL_FILES["codec_encoder"], OFFICIAL_FILES["codec_decoder"], "config.json"]
    populate_hub_cache(cache, "someone/tiny-maskvox", tiny_acoustic_model, files)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    codec = load_acoustic_codec("someone/tiny-maskvox")
    reference = load_acoustic_codec(tiny_acoustic_model)
    for key, value in reference.state_dict().items():
        assert torch.equal(codec.state_dict()[key], value)
    assert load_model_config("someone/tiny-maskvox") == load_model_config(tiny_acoustic_model)


def test_offline_and_not_cached_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotAvailableError) as caught:
        load_acoustic_codec("amphion/MaskGCT")
    message = str(caught.value)
    assert "acoustic_codec/model.safetensors is not in the local Hugging Face cache" in message
    assert "HF_HUB_OFFLINE is set" in message and "hf download amphion/MaskGCT" in message
    assert "\n" not in message


def test_a_saved_checkpoint_gets_the_usual_file_mode(tmp_path):
    """safetensors writes its own private file; the saved one is readable as any output is."""
    import os

    mask = os.umask(0o022)
    try:
        save_module({"weight": torch.zeros(2)}, tmp_path / "model.safetensors")
    finally:
        os.umask(mask)
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == 0o644


@pytest.mark.slow
def test_building_on_the_meta_device_initialises_nothing_and_imports_no_compiler():
    # Initialisers on meta tensors go through torch's reference decompositions, whose first use
    # imports dynamo (1.5-2.5 s of every model load); build_on_meta skips them. In a fresh
    # process, since an earlier test may have imported dynamo already.
    import subprocess
    import sys

    script = (
        "import sys, torch\n"
        "from maskvox.checkpoint import build_on_meta\n"
        "from maskvox.codecs.acoustic import AcousticCodec\n"
        "from maskvox.config import AcousticCodecConfig, S2AConfig, T2SConfig\n"
        "from maskvox.s2a.model import S2AModel\n"
        "from maskvox.t2s.model import T2SModel\n"
        "models = [build_on_meta(lambda: AcousticCodec(AcousticCodecConfig())),\n"
        "          build_on_meta(lambda: T2SModel(T2SConfig(hidden_size=64, num_layers=2, num_heads=4))),\n"
        "          build_on_meta(lambda: S2AModel(S2AConfig(hidden_size=64, num_layers=2, num_heads=4)))]\n"
        "assert all(p.is_meta for m in models for p in m.parameters())\n"
        "print('torch._dynamo' in sys.modules, torch.nn.init.normal_.__name__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["False", "normal_"]  # no dynamo, and the initialisers restored
