"""w2v-BERT features cut after `layer` blocks, normalised; semantic ids through the tokenizer."""

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from factories import speechlike, tiny_w2v_bert_folder
from maskvox.codecs.pretrained import load_semantic_features
from maskvox.config import SemanticFeaturesConfig
from maskvox.errors import CheckpointError
from maskvox.tokenizer import SpeechTokenizer


@pytest.fixture(scope="module")
def ssl_folder(tmp_path_factory):
    return tiny_w2v_bert_folder(tmp_path_factory.mktemp("w2v"), layers=3)


def test_truncated_model_gives_the_full_models_hidden_state(ssl_folder):
    from transformers import Wav2Vec2BertModel

    cfg = SemanticFeaturesConfig(model=str(ssl_folder), layer=2, stats="stats.npz")
    extractor = load_semantic_features(cfg, base=ssl_folder)
    assert len(extractor.model.encoder.layers) == 2  # block 3 is neither built nor loaded
    full = Wav2Vec2BertModel.from_pretrained(str(ssl_folder)).eval()
    waves = [speechlike(1.0, 16000, seed=1), speechlike(0.7, 16000, seed=2)]
    features, mask = extractor(waves)
    input_features, attention_mask = extractor.fbank_features(waves)
    with torch.no_grad():
        hidden = full(input_features=input_features, attention_mask=attention_mask, output_hidden_states=True).hidden_states[2]
    stats = np.load(ssl_folder / "stats.npz")
    expected = (hidden - torch.from_numpy(stats["mean"])) / torch.from_numpy(np.sqrt(stats["var"]))
    assert features.shape == (2, 49, 32) and mask.sum(1).tolist() == [49, 34]
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)


def test_renamed_key_in_ssl_checkpoint_is_named(ssl_folder, tmp_path):
    import shutil

    folder = tmp_path / "w2v"
    shutil.copytree(ssl_folder, folder)
    tensors = load_file(str(folder / "model.safetensors"))
    tensors["encoder.layers.0.ffn1.intermediate_dense.weightX"] = tensors.pop("encoder.layers.0.ffn1.intermediate_dense.weight")
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match="missing key 'encoder.layers.0.ffn1.intermediate_dense.weight'"):
        load_semantic_features(SemanticFeaturesConfig(model=str(folder), layer=2, stats="stats.npz"), base=folder)


def test_layer_out_of_range_and_wrong_stats(ssl_folder, tmp_path):
    with pytest.raises(CheckpointError, match=r"layer 5 is outside 1..3"):
        load_semantic_features(SemanticFeaturesConfig(model=str(ssl_folder), layer=5, stats="stats.npz"), base=ssl_folder)
    # The shipped w2v-BERT 2.0 statistics have 1024 dimensions; this model has 32.
    with pytest.raises(CheckpointError, match="statistics have 1024 dimensions, the semantic model 32"):
        load_semantic_features(SemanticFeaturesConfig(model=str(ssl_folder), layer=2), base=ssl_folder)


def test_shipped_statistics_are_the_reference_ones(reference_dir):
    from maskvox.codecs.semantic import load_feature_stats

    mean, std = load_feature_stats()
    reference = np.load(reference_dir / "wav2vec2bert_stats.npz")
    assert mean.shape == (1024,)
    np.testing.assert_array_equal(mean.numpy(), reference["mean"])
    np.testing.assert_allclose(std.numpy() ** 2, reference["var"], rtol=1e-6)


def test_tokenizer_round_trip_with_semantic_ids(tiny_model, tmp_path):
    tokenizer = SpeechTokenizer.from_pretrained(tiny_model, semantic="yes")
    wav = speechlike(1.3, 24000)
    tokens = tokenizer.encode(wav)
    assert tokens.acoustic_codes.shape == (65, 12)  # 31200 samples / 480
    assert tokens.semantic_codes is not None and abs(tokens.semantic_codes.size - 65) <= 2
    assert 0 <= tokens.semantic_codes.min() and tokens.semantic_codes.max() < 8192
    tokens.save(tmp_path / "codes.npz")
    loaded = type(tokens).load(tmp_path / "codes.npz")
    np.testing.assert_array_equal(loaded.acoustic_codes, tokens.acoustic_codes)
    np.testing.assert_array_equal(loaded.semantic_codes, tokens.semantic_codes)
    audio = tokenizer.decode(loaded)
    assert audio.shape == wav.shape and np.isfinite(audio).all()


def test_tokenizer_without_semantic_codec_says_why(tiny_acoustic_model):
    tokenizer = SpeechTokenizer.from_pretrained(tiny_acoustic_model, semantic="auto")
    assert not tokenizer.has_semantic and "no semantic codec" in tokenizer.semantic_note
    with pytest.raises(CheckpointError, match="has no semantic codec"):
        SpeechTokenizer.from_pretrained(tiny_acoustic_model, semantic="yes")
