"""The k-means semantic codec (codecs/kmeans.py): fitting, lookups, and its training recipe."""

import json

import numpy as np
import pytest
import torch

from maskvox.checkpoint import load_model_config
from maskvox.codecs.kmeans import KMeansCodec, assign, fit_kmeans, nearest_centroid
from maskvox.codecs.pretrained import load_semantic_codec
from maskvox.codecs.semantic import make_semantic_codec
from maskvox.config import SemanticCodecConfig
from maskvox.errors import CheckpointError
from recipes.semantic_codec.train import main as semantic_main, spread_frames

from factories import tiny_w2v_bert_folder
from test_codec_training import REPO, write_manifest


def separated_clusters(per_cluster: int = 50) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    return centres.repeat_interleave(per_cluster, 0) + 0.1 * torch.randn(3 * per_cluster, 2, generator=generator)


def test_kmeans_units_never_mix_separated_clusters():
    frames = separated_clusters()
    history: list[float] = []
    units = nearest_centroid(frames, fit_kmeans(frames, 6, 10, seed=0, history=history)).numpy()
    groups = [set(units[:50]), set(units[50:100]), set(units[100:])]
    assert all(groups) and not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert len(history) == 10 and history[-1] <= history[0] and history[-1] < 0.1


def test_fitting_is_seeded():
    frames = torch.randn(400, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(fit_kmeans(frames, 8, 5, seed=3), fit_kmeans(frames, 8, 5, seed=3))
    assert not torch.equal(fit_kmeans(frames, 8, 5, seed=3), fit_kmeans(frames, 8, 5, seed=4))


def test_fewer_frames_than_codes_is_refused():
    with pytest.raises(ValueError, match="at least 8 frames"):
        fit_kmeans(torch.zeros(5, 2), 8, 3, seed=0)


def test_chunked_assignment_equals_the_full_distance_matrix(monkeypatch):
    import maskvox.codecs.kmeans as kmeans

    monkeypatch.setattr(kmeans, "CHUNK_FRAMES", 7)  # several chunks and a short last one
    generator = torch.Generator().manual_seed(2)
    frames, centroids = torch.randn(30, 5, generator=generator), torch.randn(9, 5, generator=generator)
    full = torch.cdist(frames, centroids) ** 2
    ids, distances = assign(frames, centroids)
    assert torch.equal(ids, full.argmin(1))
    torch.testing.assert_close(distances, full.min(1).values, atol=1e-4, rtol=1e-5)


def test_codec_quantizes_to_its_nearest_centroid_and_decodes_back():
    codec = KMeansCodec(SemanticCodecConfig(kind="kmeans", codebook_size=3, hidden_size=2))
    codec.centroids.copy_(torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]))
    features = torch.tensor([[[9.0, 1.0], [0.5, 0.2], [1.0, 8.0], [9.5, -1.0]]])
    ids, quantized = codec.quantize(features)
    assert ids.tolist() == [[1, 0, 2, 1]]
    assert torch.equal(quantized, codec.decode_ids(ids)) and quantized.shape == features.shape


def test_an_unknown_codec_kind_is_refused():
    with pytest.raises(CheckpointError, match="vq or kmeans"):
        make_semantic_codec(SemanticCodecConfig(kind="pq"))


def test_spread_frames_takes_one_even_stride_across_utterances(tmp_path):
    paths = []
    for n, length in enumerate([5, 3, 6]):
        paths.append(tmp_path / f"{n}.npy")
        np.save(paths[-1], np.arange(length, dtype=np.float16)[:, None] + 100 * n)
    frames = spread_frames(paths, 5)  # 14 frames, stride 3: global frames 0, 3, 6, 9, 12
    assert frames[:, 0].tolist() == [0, 3, 101, 201, 204]


@pytest.mark.slow
def test_recipe_fits_exports_and_the_folder_loads(tmp_path):
    manifest, exp = write_manifest(tmp_path), tmp_path / "exp"
    ssl = tiny_w2v_bert_folder(tmp_path / "ssl", layers=2)
    common = ["--config", str(REPO / "recipes/semantic_codec/configs/tiny.yaml"), "--quiet",
              "--set", f"data.train_manifest={manifest}", "--set", f"run.exp_dir={exp}",
              "--set", f"features.model={ssl}", "--set", f"features.stats={ssl / 'stats.npz'}",
              "--set", "features.layer=2", "--set", "model.kind=kmeans", "--set", "model.codebook_size=16"]
    assert semantic_main(common + ["--set", "data.kmeans_frames=3"]) == 2, "too few frames must be refused"
    assert not (exp / "export").exists()
    assert semantic_main(common + ["--set", "data.kmeans_iterations=5"]) == 0

    summary = json.loads((exp / "kmeans.json").read_text())
    assert summary["codes"] == 16 and len(summary["mean_squared_distance"]) == 5
    assert summary["mean_squared_distance"][-1] < summary["mean_squared_distance"][0]
    assert load_model_config(exp / "export").semantic_codec.kind == "kmeans"
    codec = load_semantic_codec(exp / "export")
    assert isinstance(codec, KMeansCodec)
    features = torch.from_numpy(np.load(next((exp / "features").glob("*.npy"))).astype(np.float32))[None]
    ids, quantized = codec.quantize(features)
    assert ids.shape == features.shape[:2] and int(ids.max()) < 16
    # The fitted centroids sit closer to the frames than the 16 frames they started from.
    start = features[0][torch.randperm(features.shape[1], generator=torch.Generator().manual_seed(1234))[:16]]
    assert (quantized - features).pow(2).sum(-1).mean() < (features[0] - start[nearest_centroid(features[0], start)]).pow(2).sum(-1).mean()

    # T2S's corpus: semantic ids alone (the folder has no acoustic codec), from the cached features
    # when given, from the audio otherwise; both agree on nearly every frame.
    from recipes.common.shards import TokenCorpus
    from recipes.token_shards.extract import main as extract_main

    base = ["--manifest", str(manifest), "--model", str(exp / "export"), "--ids", "semantic", "--quiet", "--device", "cpu"]
    assert extract_main(base + ["--out", str(tmp_path / "cached"), "--feature-cache", str(exp / "features")]) == 0
    assert extract_main(base + ["--out", str(tmp_path / "fresh")]) == 0
    cached, fresh = (TokenCorpus(tmp_path / name, need=("semantic",))[0] for name in ("cached", "fresh"))
    assert cached.acoustic is None and np.array_equal(cached.semantic, ids[0].numpy())
    assert len(fresh.semantic) == len(cached.semantic) and np.mean(fresh.semantic == cached.semantic) > 0.9
    assert extract_main(base + ["--out", str(tmp_path / "x"), "--feature-cache", str(tmp_path / "none")]) == 2
    assert extract_main(base + ["--out", str(tmp_path / "y"), "--ids", "no", "--feature-cache", str(exp / "features")]) == 2
