"""T2S alignment help (t2s/progress.py): off, the official layout is untouched; on, a model
fine-tuned from one without it starts exactly where that model stood, and generation works."""

import pytest
import torch

from maskvox.config import T2SConfig
from maskvox.sampling import make_generators
from maskvox.t2s.model import T2SModel
from maskvox.t2s.progress import ProgressEmbedding

SMALL = dict(hidden_size=32, num_layers=1, num_heads=2, cond_codebook_size=64, phone_vocab_size=1024)


def test_without_it_the_state_dict_is_the_official_one():
    assert not any(key.startswith("progress") for key in T2SModel(T2SConfig(**SMALL)).state_dict())


def test_fractions_are_positions_in_the_whole_sequence():
    embed = ProgressEmbedding(8)
    torch.nn.init.normal_(embed.project.weight)
    whole = embed(10)
    assert whole.shape == (10, 8)
    torch.testing.assert_close(embed(10, 4, 3), whole[4:7])  # a slice of the sequence is that slice
    assert not torch.allclose(embed(20, 4, 3), whole[4:7])  # the same index in a longer sequence differs
    assert torch.count_nonzero(ProgressEmbedding(8)(10)) == 0  # initialised at zero


def test_a_model_with_it_starts_where_the_model_without_it_stood():
    torch.manual_seed(0)
    plain = T2SModel(T2SConfig(**SMALL)).eval()
    helped = T2SModel(T2SConfig(**SMALL, progress_embedding=True)).eval()
    fresh = {key: value for key, value in helped.state_dict().items() if key.startswith("progress.")}
    helped.load_state_dict({**fresh, **plain.state_dict()}, strict=True)
    batch = {"phones": [torch.randint(0, 300, (9,))], "semantic": [torch.randint(0, 64, (30,))]}
    with torch.no_grad():
        torch.manual_seed(3)
        expected = float(plain(batch)["loss"])
        torch.manual_seed(3)
        assert float(helped(batch)["loss"]) == pytest.approx(expected, abs=1e-6)
    args = ([torch.randint(0, 300, (9,))], [torch.randint(0, 64, (5,))], [12])
    a = plain.generate(*args, steps=3, generators=make_generators(0, 1, "cpu"))[0]
    b = helped.generate(*args, steps=3, generators=make_generators(0, 1, "cpu"))[0]
    assert torch.equal(a, b)


def test_with_it_trained_the_fractions_change_the_prediction():
    torch.manual_seed(0)
    model = T2SModel(T2SConfig(**SMALL, progress_embedding=True)).eval()
    torch.nn.init.normal_(model.progress.project.weight, std=0.5)
    phones, prompt = [torch.randint(0, 300, (9,))], [torch.randint(0, 64, (5,))]
    short = model.generate(phones, prompt, [12], steps=3, generators=make_generators(0, 1, "cpu"))[0]
    assert short.shape == (12,) and int(short.max()) < 64
    with torch.inference_mode():
        ids, mask, t = torch.zeros(1, 12, dtype=torch.long), torch.ones(1, 12, dtype=torch.bool), torch.tensor([0.9])
        with_progress = model.conditional_embeddings(phones[0][None], prompt[0][None], ids, mask, t)
        model.progress = None
        without = model.conditional_embeddings(phones[0][None], prompt[0][None], ids, mask, t)
    assert not torch.allclose(with_progress, without)
