"""Test set-up: one thread for torch (two busy cores make its pool crawl), shared fixtures."""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# No test downloads: every hub look-up is answered from a cache the test builds, or fails.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

import factories  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not factories.REFERENCE_DIR.is_dir():
        pytest.fail(f"reference data not found at {factories.REFERENCE_DIR}: it is part of the repository (tests/data/reference); restore it with git checkout")
    return factories.REFERENCE_DIR


@pytest.fixture(scope="session")
def golden_dir(reference_dir) -> Path:
    folder = Path(os.environ.get("MASKVOX_GOLDEN", reference_dir / "golden" / "mini_seed0"))
    if not (folder / "config.json").is_file():
        pytest.fail(f"golden folder {folder} has no config.json (set MASKVOX_GOLDEN to a golden folder)")
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """Random tiny codecs + tiny SSL model in the official folder layout (read-only for tests)."""
    return factories.tiny_model_folder(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture(scope="session")
def tiny_acoustic_model(tmp_path_factory) -> Path:
    return factories.tiny_model_folder(tmp_path_factory.mktemp("tiny_acoustic"), with_semantic=False)


@pytest.fixture(scope="session")
def tiny_acoustic_codec(tiny_acoustic_model):
    """The tiny model's acoustic codec, loaded (read-only: the latent S2A tests take its tables)."""
    from maskvox.codecs.pretrained import load_acoustic_codec

    return load_acoustic_codec(tiny_acoustic_model)


@pytest.fixture(scope="session")
def tiny_full_model(tmp_path_factory) -> Path:
    """Every model the clone pipeline loads, random and tiny, in the official layout (read-only)."""
    return factories.tiny_full_model_folder(tmp_path_factory.mktemp("tiny_full_model"))


@pytest.fixture()
def tiny_hifigan(tmp_path, monkeypatch) -> Path:
    """A tiny random generator where maskvox looks for the converted universal HiFi-GAN."""
    import json

    from maskvox.checkpoint import save_module
    from maskvox.codecs.hifigan import HifiganConfig, HifiganGenerator

    folder = tmp_path / "hifigan"
    folder.mkdir()
    cfg = HifiganConfig(**factories.TINY_HIFIGAN_SIZES)
    torch.manual_seed(0)
    save_module(HifiganGenerator(cfg), folder / "generator.safetensors")
    (folder / "config.json").write_text(json.dumps(cfg.to_dict()))
    monkeypatch.setenv("MASKVOX_HIFIGAN", str(folder))
    return folder
