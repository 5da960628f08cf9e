"""Dead-code restarts of the factorized quantizer: training only, never in the saved keys."""

import torch

from maskvox.codecs.quantize import FactorizedVectorQuantize


def quantizer(threshold: float) -> FactorizedVectorQuantize:
    torch.manual_seed(0)
    return FactorizedVectorQuantize(16, codebook_size=32, codebook_dim=4, dead_code_threshold=threshold)


def test_unused_codes_move_onto_the_batchs_latents():
    vq = quantizer(0.05).train()
    z = torch.randn(2, 16, 50)
    before = vq.codebook.weight.detach().clone()
    for _ in range(40):  # an unpicked code's usage falls as 0.9 ** steps: below 0.05 after 29
        vq(z)
    moved = (vq.codebook.weight != before).any(1)
    assert moved.any()
    latents = vq.in_project(z).detach().transpose(1, 2).reshape(-1, 4)
    for entry in vq.codebook.weight[moved].detach():
        assert torch.isclose(latents, entry).all(1).any()  # each moved code is one of the latents


def test_no_moves_without_a_threshold_or_outside_training():
    for vq in (quantizer(0.0).train(), quantizer(0.05).eval()):
        before = vq.codebook.weight.detach().clone()
        for _ in range(40):
            vq(torch.randn(2, 16, 50))
        assert torch.equal(vq.codebook.weight, before)


def test_the_usage_statistics_are_not_saved():
    assert "code_usage" not in quantizer(0.05).state_dict()
