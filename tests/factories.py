"""Small models and files the tests build for themselves (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_DIR = REPO_ROOT / "tests" / "data" / "reference"
EXAMPLE_PROMPT = REPO_ROOT / "egs" / "clone" / "prompt.wav"
EXAMPLE_PROMPT_TEXT = REPO_ROOT / "egs" / "clone" / "prompt.txt"

TINY_SSL_HIDDEN = 32
# A HiFi-GAN generator small enough for tests (where the universal V1 is too slow to run).
TINY_HIFIGAN_SIZES = dict(upsample_initial_channel=16, resblock="2", resblock_kernel_sizes=(3,),
                          resblock_dilation_sizes=((1, 3),))


def tiny_w2v_bert_folder(folder: Path, layers: int = 3, hidden: int = TINY_SSL_HIDDEN, seed: int = 0) -> Path:
    """A random Wav2Vec2-BERT checkpoint in transformers' layout, with feature statistics."""
    from transformers import SeamlessM4TFeatureExtractor, Wav2Vec2BertConfig, Wav2Vec2BertModel

    torch.manual_seed(seed)
    config = Wav2Vec2BertConfig(
        hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=2 * hidden,
        output_hidden_size=hidden,
    )
    Wav2Vec2BertModel(config).save_pretrained(str(folder))
    SeamlessM4TFeatureExtractor().save_pretrained(str(folder))
    rng = np.random.default_rng(seed)
    np.savez(folder / "stats.npz", mean=rng.normal(size=hidden).astype(np.float32) * 0.1,
             var=(1 + rng.random(hidden)).astype(np.float32))
    return folder


def tiny_model_folder(folder: Path, with_semantic: bool = True, seed: int = 0) -> Path:
    """A model folder in the official layout with random tiny codecs (and a tiny SSL model)."""
    from maskvox.checkpoint import write_model_folder
    from maskvox.codecs.acoustic import AcousticCodec
    from maskvox.codecs.semantic import SemanticCodec
    from maskvox.config import SemanticCodecConfig, SemanticFeaturesConfig, preset

    torch.manual_seed(seed)
    cfg = preset("tiny")
    codec = AcousticCodec(cfg.acoustic_codec)
    modules = {"codec_encoder": codec.encoder, "codec_decoder": codec.decoder}
    semantic_cfg = SemanticCodecConfig(hidden_size=TINY_SSL_HIDDEN, vocos_dim=32, vocos_intermediate_dim=64, vocos_num_layers=1)
    if with_semantic:
        modules["semantic_codec"] = SemanticCodec(semantic_cfg)
        tiny_w2v_bert_folder(folder / "semantic_features")

    def update(model_cfg):
        model_cfg.acoustic_codec = cfg.acoustic_codec
        model_cfg.semantic_codec = semantic_cfg
        model_cfg.semantic_features = SemanticFeaturesConfig(model="semantic_features", layer=2, stats="semantic_features/stats.npz")

    write_model_folder(folder, modules, update)
    return folder


def tiny_full_model_folder(folder: Path, seed: int = 0, with_duration: bool = True, s2a_layers: int = 12,
                           s2a_target: str = "tokens") -> Path:
    """`tiny_model_folder` plus random tiny T2S, S2A (both models) and duration models: every
    part the clone pipeline loads, at small widths (the outputs are noise, the shapes real).
    `s2a_layers` < 12: the demo's layout instead, one S2A that predicts the first layers only;
    `s2a_target` "latent": that S2A regresses the codec's latent (s2a/latent.py)."""
    from maskvox.checkpoint import write_model_folder
    from maskvox.config import DurationConfig, S2AConfig, T2SConfig, preset
    from maskvox.duration.model import DurationModel
    from maskvox.s2a.model import S2AModel, s2a_model_class
    from maskvox.t2s.model import T2SModel

    tiny_model_folder(folder, seed=seed)
    torch.manual_seed(seed + 1)
    small = dict(hidden_size=64, num_layers=2, num_heads=4)
    t2s, s2a_1layer, s2a_full = T2SConfig(**small), S2AConfig(num_quantizer=1, predict_layer_1=True, **small), S2AConfig(**small)
    duration = DurationConfig(hidden_size=32, num_heads=2, num_layers=1)
    if s2a_layers < 12:
        s2a_full = S2AConfig(num_quantizer=s2a_layers, predict_layer_1=True, target=s2a_target,
                             latent_dim=preset("tiny").acoustic_codec.decoder.in_channels, **small)
    modules = {"t2s": T2SModel(t2s), "s2a_full": s2a_model_class(s2a_full)(s2a_full)}
    if s2a_target == "latent":
        from maskvox.codecs.pretrained import load_acoustic_codec
        from maskvox.s2a.latent import fit_latent_tables

        fit_latent_tables(modules["s2a_full"], load_acoustic_codec(folder), [torch.randint(0, 1024, (50, s2a_layers))])
    if s2a_layers == 12:
        modules["s2a_1layer"] = S2AModel(s2a_1layer)
    if with_duration:
        modules["duration"] = DurationModel(duration)

    def update(cfg):
        cfg.t2s, cfg.s2a_1layer, cfg.s2a_full = t2s, s2a_1layer, s2a_full
        cfg.duration = duration if with_duration else None

    write_model_folder(folder, modules, update)
    return folder


def write_wav(path: Path, wav: np.ndarray, rate: int) -> Path:
    import soundfile as sf

    sf.write(str(path), wav, rate)
    return path


def speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """A voiced, amplitude-modulated test signal (not speech, but not silence or noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 12))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t) ** 2
    return (0.2 * voiced * envelope + 0.003 * rng.normal(size=t.size)).astype(np.float32)


def golden_config(folder: Path):
    from maskvox.config import ModelConfig

    return ModelConfig.from_official(json.loads((folder / "config.json").read_text()))


def synthetic_token_shards(folder: Path, utterances: int = 48, seed: int = 0) -> Path:
    """A learnable id corpus: each phone lasts 2-4 frames of semantic ids determined by the
    phone and the frame within it; acoustic layer l of a frame is a fixed function of its
    semantic id. A model that learns the rules gets most masked tokens right."""
    from recipes.common.shards import TokenItem, write_shards

    rng = np.random.default_rng(seed)
    items = []
    for n in range(utterances):
        phones = rng.integers(0, 40, size=int(rng.integers(8, 20)))
        semantic = np.concatenate([(p * 97 + np.arange(2 + p % 3)) % 8192 for p in phones])
        acoustic = np.stack([(semantic * (layer + 3) + layer) % 1024 for layer in range(12)], axis=1)
        items.append(TokenItem(f"utt{n:03d}", f"spk{n % 4}", semantic, acoustic, phones))
    write_shards(folder, items, shard_size=20)
    return folder


def fitted_latent_s2a(cfg, codec, seed: int = 0):
    """A latent S2A of `cfg` (seeded weights) given `codec`'s code -> latent table and the
    statistics of random codes, in eval mode."""
    from maskvox.s2a.latent import S2ALatentModel, fit_latent_tables

    torch.manual_seed(seed)
    model = S2ALatentModel(cfg)
    fit_latent_tables(model, codec, [torch.randint(0, 1024, (40, 4)) for _ in range(3)])
    return model.eval()


def loss_after_training(model, batch, steps: int = 60, lr: float = 3e-3) -> float:
    """`model`'s loss on `batch` (with the same random masks every call) after `steps` AdamW
    steps on it: whether a model can fit what a batch holds."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        model(batch)["loss"].backward()
        optimizer.step()
    with torch.random.fork_rng():
        torch.manual_seed(9)
        return float(model(batch)["loss"].detach())


def populate_hub_cache(cache: Path, repo_id: str, source: Path, files: list[str]) -> None:
    """Lay files out as huggingface_hub's cache does: blobs, a snapshot and refs/main."""
    import shutil

    repo = cache / ("models--" + repo_id.replace("/", "--"))
    revision = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    for name in files:
        target = repo / "snapshots" / revision / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source / name, target)
