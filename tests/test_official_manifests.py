"""At the official sizes, state dicts equal the official checkpoints' manifests:
same keys, shapes and dtypes (built on the meta device: no memory, no time)."""

import ast

import pytest
import torch

from maskvox.codecs.acoustic import AcousticDecoder, AcousticEncoder
from maskvox.codecs.semantic import SemanticCodec
from maskvox.config import preset
from maskvox.s2a.model import S2AModel
from maskvox.t2s.model import T2SModel

BUILDERS = {
    "semantic_codec": lambda cfg: SemanticCodec(cfg.semantic_codec),
    "codec_encoder": lambda cfg: AcousticEncoder(cfg.acoustic_codec.encoder),
    "codec_decoder": lambda cfg: AcousticDecoder(cfg.acoustic_codec.decoder),
    "t2s": lambda cfg: T2SModel(cfg.t2s),
    "s2a_1layer": lambda cfg: S2AModel(cfg.s2a_1layer),
    "s2a_full": lambda cfg: S2AModel(cfg.s2a_full),
}
# Parameter counts the specification quotes for the official models (millions, rounded).
OFFICIAL_MILLIONS = {
    "semantic_codec": 44.3, "codec_encoder": 42.5, "codec_decoder": 128.2,
    "t2s": 746.4, "s2a_1layer": 330.3, "s2a_full": 353.4,
}


def read_manifest(path):
    rows = path.read_text().splitlines()[1:]
    return {key: (tuple(ast.literal_eval(shape)), dtype) for key, shape, dtype in (r.split("\t") for r in rows)}


@pytest.mark.parametrize("module", sorted(BUILDERS))
def test_state_dict_equals_official_manifest(module, reference_dir):
    manifest = read_manifest(reference_dir / "manifests" / f"{module}.tsv")
    with torch.device("meta"):
        model = BUILDERS[module](preset("official"))
    ours = {key: (tuple(t.shape), str(t.dtype).removeprefix("torch.")) for key, t in model.state_dict().items()}
    assert sorted(set(manifest) - set(ours)) == [], "keys missing from maskvox's module"
    assert sorted(set(ours) - set(manifest)) == [], "keys the official checkpoint does not have"
    wrong = {key: (ours[key], manifest[key]) for key in manifest if ours[key] != manifest[key]}
    assert wrong == {}, "shape or dtype differs (ours, official)"
    millions = sum(p.numel() for p in model.parameters()) / 1e6
    assert round(millions, 1) == OFFICIAL_MILLIONS[module]


def test_w2v_bert_default_config_matches_the_official_manifest(reference_dir):
    """transformers' Wav2Vec2BertModel with its default config is w2v-BERT 2.0; cut after
    17 blocks it holds exactly the manifest's keys below block 17."""
    from transformers import Wav2Vec2BertConfig, Wav2Vec2BertModel

    from maskvox.codecs.semantic import SemanticFeatureExtractor

    manifest = read_manifest(reference_dir / "manifests" / "w2v_bert_2_0_reference.tsv")
    with torch.device("meta"):
        full = Wav2Vec2BertModel(Wav2Vec2BertConfig())
        cut = Wav2Vec2BertModel(SemanticFeatureExtractor.truncated_config(Wav2Vec2BertConfig(), 17))
    shapes = {key: tuple(t.shape) for key, t in full.state_dict().items()}
    assert shapes == {key: shape for key, (shape, _) in manifest.items()}
    kept = {key for key in manifest if not any(key.startswith(f"encoder.layers.{i}.") for i in range(17, 24))}
    assert set(cut.state_dict()) == kept
