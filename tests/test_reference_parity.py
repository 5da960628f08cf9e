"""Parity with the reference implementation on the golden vectors.

The golden folder (MASKVOX_GOLDEN, default ../shared/reference/golden/mini_seed0) holds,
per module, a config, weights in the official key layout, inputs and the reference's
intermediate and output arrays. Each module is built from the folder's config.json,
loaded strictly, and every `out_*` / `mid_*` array of its .npz is checked:
float arrays to 1e-5 relative (max |ours - ref| <= 1e-5 * max |ref|), ids exactly.
An array this test does not know how to recompute is a failure, not a skip.
"""

import numpy as np
import pytest
import torch

from factories import golden_config
from maskvox.checkpoint import load_module
from maskvox.codecs.acoustic import AcousticDecoder, AcousticEncoder
from maskvox.codecs.semantic import SemanticCodec

RELATIVE_TOLERANCE = 1e-5


def semantic_codec_outputs(cfg, path, arrays):
    model = load_module(SemanticCodec(cfg.semantic_codec), path).eval()
    features = torch.from_numpy(arrays["in_feat"])
    ids, quantized = model.quantize(features)
    reconstruction, _ = model(features)
    return {
        "mid_encoder_out": model.encode(features),
        "out_codes": ids,
        "out_quantized": quantized,
        "out_x_rec": reconstruction,
    }


def codec_encoder_outputs(cfg, path, arrays):
    model = load_module(AcousticEncoder(cfg.acoustic_codec.encoder), path).eval()
    return {"out_latent": model(torch.from_numpy(arrays["in_wav"]))}


def codec_decoder_outputs(cfg, path, arrays):
    model = load_module(AcousticDecoder(cfg.acoustic_codec.decoder), path).eval()
    vq = model.quantize(torch.from_numpy(arrays["in_latent"]))
    embeddings = model.vq2emb(vq.codes)
    return {
        "out_quantized": vq.quantized,
        "out_codes": vq.codes,
        "out_vq2emb": embeddings,
        "out_wav": model(embeddings),
        "out_wav_from_codes_rand": model(model.vq2emb(torch.from_numpy(arrays["in_codes_rand"]))),
    }


MODULES = {
    "semantic_codec": semantic_codec_outputs,
    "codec_encoder": codec_encoder_outputs,
    "codec_decoder": codec_decoder_outputs,
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_matches_reference(module, golden_dir):
    weights, arrays_path = golden_dir / f"{module}.safetensors", golden_dir / f"{module}.npz"
    assert weights.is_file() and arrays_path.is_file(), f"golden folder {golden_dir} lacks {module}"
    with np.load(arrays_path) as data:
        arrays = {key: data[key] for key in data.files}
    with torch.no_grad():
        ours = MODULES[module](golden_config(golden_dir), weights, arrays)
    expected = sorted(key for key in arrays if key.startswith(("out_", "mid_")))
    assert expected, f"{arrays_path} has no out_*/mid_* arrays"
    unknown = [key for key in expected if key not in ours]
    assert not unknown, f"golden arrays this test cannot recompute: {unknown}"
    worst = {}
    for key in expected:
        reference = arrays[key]
        actual = ours[key].detach().numpy()
        assert actual.shape == reference.shape, f"{module}.{key}: shape {actual.shape} != {reference.shape}"
        if np.issubdtype(reference.dtype, np.integer):
            mismatches = int((actual != reference).sum())
            assert mismatches == 0, f"{module}.{key}: {mismatches} of {reference.size} ids differ"
        else:
            error = np.abs(actual - reference).max() / max(np.abs(reference).max(), 1e-12)
            assert error <= RELATIVE_TOLERANCE, f"{module}.{key}: relative error {error:.2e}"
            worst[key] = error
    # Shown with `pytest -rP`: the margins behind the pass.
    print(f"{module}: " + ", ".join(f"{key} {error:.1e}" for key, error in worst.items()))
