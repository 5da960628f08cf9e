"""Parity with the reference implementation on the golden vectors.

The golden folder (MASKVOX_GOLDEN, default tests/data/reference/golden/mini_seed0) holds,
per module, a config, weights in the official key layout, inputs and the reference's
intermediate and output arrays. Each module is built from the folder's config.json,
loaded strictly, and every `out_*` / `mid_*` / `step_*` / `sample_out_*` array of its .npz
is checked: float arrays to 1e-5 relative (max |ours - ref| <= 1e-5 * max |ref|), ids
exactly. `sample_out_codes` is the reference's whole decoding loop with its seed: maskvox's
`reference` sampling mode must give the same ids.
An array this test does not know how to recompute is a failure, not a skip.
"""

import numpy as np
import pytest
import torch

from factories import golden_config
from maskvox.checkpoint import load_module
from maskvox.codecs.acoustic import AcousticDecoder, AcousticEncoder
from maskvox.codecs.semantic import SemanticCodec
from maskvox.s2a.model import S2AModel
from maskvox.sampling import SamplerSettings, classifier_free_guidance
from maskvox.t2s.model import T2SModel

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


def step_inputs(arrays):
    tensor = {key: torch.from_numpy(value) for key, value in arrays.items() if key.startswith("in_")}
    t = tensor["in_t"].reshape(1)
    return tensor, t, float(tensor["in_cfg"]), float(tensor["in_rescale_cfg"])


def t2s_outputs(cfg, path, arrays):
    model = load_module(T2SModel(cfg.t2s), path).eval()
    x, t, scale, rescale = step_inputs(arrays)
    inputs = (x["in_phone_id"], x["in_prompt_code"], x["in_seq"], x["in_mask"])
    cond = model.conditional_embeddings(*inputs, t)
    uncond = model.unconditional_embeddings(x["in_seq"], x["in_mask"], t)
    guided = classifier_free_guidance(cond, uncond, scale, rescale)
    # Sampling: the reference's whole decoding loop, random numbers drawn as it draws them.
    torch.manual_seed(int(arrays["sample_seed"]))
    sampled = model.generate(
        [torch.from_numpy(arrays["sample_in_phone_id"][0])], [torch.from_numpy(arrays["sample_in_prompt_code"][0])],
        [int(arrays["sample_target_len"])], steps=int(arrays["sample_n_timesteps"]),
        settings=SamplerSettings(cfg=scale, rescale_cfg=rescale, mode="reference"),
    )
    return {
        "step_embeds_cond": cond,
        "step_embeds_uncond": uncond,
        "step_embeds_cfg": guided,
        "step_logits": model.to_logit(guided),
        "step_embeds_nocfg_t0": model.conditional_embeddings(*inputs, torch.zeros(1)),
        "mid_diff_step_emb": model.diff_estimator.step_condition(t),
        "sample_out_codes": torch.stack(sampled),
    }


def s2a_outputs(section):
    def outputs(cfg, path, arrays):
        model = load_module(S2AModel(getattr(cfg, section)), path).eval()
        x, t, scale, rescale = step_inputs(arrays)
        layer = int(x["in_mask_layer"])
        lower = model.lower_layers_input(x["in_lower_layer_codes"], layer)
        semantic, prompt = x["in_semantic_code"], x["in_prompt_acoustic_code"]
        step = (lower, x["in_seq"], x["in_mask"], layer, t)
        cond = model.conditional_embeddings(semantic, prompt, *step)
        uncond = model.unconditional_embeddings(semantic, prompt.shape[1], *step)
        guided = classifier_free_guidance(cond, uncond, scale, rescale)
        given = arrays.get("sample_in_gt_code")
        torch.manual_seed(int(arrays["sample_seed"]))
        sampled = model.generate(
            [torch.from_numpy(arrays["sample_in_semantic_code"][0])],
            [torch.from_numpy(arrays["sample_in_prompt_acoustic_code"][0])],
            steps=arrays["sample_n_timesteps"].tolist(),
            settings=SamplerSettings(cfg=scale, rescale_cfg=rescale, temperature=1.5, mode="reference"),
            given_codes=None if given is None else [torch.from_numpy(given[0])],
        )
        return {
            "step_embeds_cond": cond,
            "step_embeds_uncond": uncond,
            "step_embeds_cfg": guided,
            "step_logits": model.to_logits[layer](guided),
            "sample_out_codes": torch.stack(sampled),
        }

    return outputs


MODULES = {
    "semantic_codec": semantic_codec_outputs,
    "codec_encoder": codec_encoder_outputs,
    "codec_decoder": codec_decoder_outputs,
    "t2s": t2s_outputs,
    "s2a_1layer": s2a_outputs("s2a_1layer"),
    "s2a_full": s2a_outputs("s2a_full"),
}
COMPARED = ("out_", "mid_", "step_", "sample_out_")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_matches_reference(module, golden_dir):
    weights, arrays_path = golden_dir / f"{module}.safetensors", golden_dir / f"{module}.npz"
    assert weights.is_file() and arrays_path.is_file(), f"golden folder {golden_dir} lacks {module}"
    with np.load(arrays_path) as data:
        arrays = {key: data[key] for key in data.files}
    with torch.no_grad():
        ours = MODULES[module](golden_config(golden_dir), weights, arrays)
    expected = sorted(key for key in arrays if key.startswith(COMPARED))
    assert expected, f"{arrays_path} has no arrays to compare"
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
