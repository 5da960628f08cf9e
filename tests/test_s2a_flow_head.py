"""The latent S2A's flow-matching head (s2a/flow_head.py, `latent_head: flow`, a demo option):
it draws one of the latents a frame could be where the L1 head takes their median, draws them
from the pipeline's generators, keeps an edit's known frames exact, starts from a regression
model's weights, and refuses bad settings."""

import pytest
import torch

from factories import fitted_latent_s2a, synthetic_token_shards
from maskvox.config import S2AConfig
from maskvox.errors import ConfigError
from maskvox.limits import check_model_sizes
from maskvox.s2a.flow_head import FlowHead
from maskvox.s2a.latent import S2ALatentModel, fit_latent_tables
from recipes.common.shards import TokenCorpus
from recipes.common.token_training import heldout_figures, spread_subset
from recipes.s2a.train import AlignedCrops, adapted, collate


def flow_config(**changes) -> S2AConfig:
    return S2AConfig(**{**dict(num_quantizer=4, predict_layer_1=True, target="latent", latent_dim=256,
                               hidden_size=32, num_layers=1, num_heads=2, latent_head="flow", flow_width=32,
                               flow_layers=2, flow_steps=4), **changes})


@pytest.fixture
def model(tiny_acoustic_codec):
    return fitted_latent_s2a(flow_config(), tiny_acoustic_codec)


def test_the_head_draws_both_modes_where_a_mean_would_sit_between_them():
    """Frames whose latent is +1 or -1 with even odds and the same state: the L1 estimate is
    near 0 (neither), the flow draws near one or the other."""
    torch.manual_seed(0)
    head = FlowHead(latent_dim=2, cond_dim=4, width=32, layers=2)
    optimizer = torch.optim.Adam(head.parameters(), lr=3e-3)
    state = torch.ones(256, 4)
    for _ in range(400):
        target = torch.where(torch.rand(256, 1) < 0.5, -1.0, 1.0).repeat(1, 2)
        optimizer.zero_grad()
        head.loss(target, state, repeats=2).backward()
        optimizer.step()
    drawn = head.sample(state, steps=16, temperature=1.0, generator=torch.Generator().manual_seed(1))
    near_a_mode = (drawn.abs() - 1).abs() < 0.5
    assert near_a_mode.float().mean() > 0.8, drawn[:8]
    assert 0.25 < (drawn[:, 0] > 0).float().mean() < 0.75  # both modes, not one


def test_a_new_head_predicts_no_velocity_and_starts_from_a_regression_model(model):
    regression = S2ALatentModel(flow_config(latent_head="regression"))
    assert regression.flow_head is None
    fresh = S2ALatentModel(flow_config())
    state = adapted(regression.state_dict(), fresh)
    fresh.load_state_dict(state, strict=True)
    assert torch.equal(fresh.to_latent.weight, regression.to_latent.weight)
    velocity = fresh.flow_head.velocity(torch.randn(5, 256), torch.rand(5), torch.randn(5, 32))
    assert torch.equal(velocity, torch.zeros(5, 256))


def test_generation_draws_from_each_item_s_generator(model):
    torch.manual_seed(1)
    semantic = [torch.randint(0, 1024, (30,)), torch.randint(0, 1024, (45,))]
    prompts = [torch.randint(0, 1024, (10, 12)), torch.randint(0, 1024, (20, 12))]

    def generators(*seeds):
        return [torch.Generator().manual_seed(seed) for seed in seeds]

    together = model.generate(semantic, prompts, generators=generators(3, 4))
    assert [tuple(x.shape) for x in together] == [(20, 256), (25, 256)]
    again = model.generate(semantic, prompts, generators=generators(3, 4))
    alone = model.generate(semantic[1:], prompts[1:], generators=generators(4))
    other = model.generate(semantic, prompts, generators=generators(3, 5))
    torch.testing.assert_close(together[0], again[0], rtol=0, atol=0)
    torch.testing.assert_close(together[1], alone[0], rtol=1e-4, atol=1e-4)  # whatever the batch
    torch.testing.assert_close(together[0], other[0], rtol=0, atol=0)
    assert not torch.allclose(together[1], other[1])


def test_an_edit_keeps_its_known_frames_exact(model):
    torch.manual_seed(2)
    semantic, prompt = torch.randint(0, 1024, (40,)), torch.zeros(0, 4, dtype=torch.long)
    known = torch.zeros(1, 40, dtype=torch.bool)
    known[0, :15] = True
    known_codes = torch.randint(0, 1024, (1, 40, 4))
    latents = model.generate([semantic], [prompt], known=known, known_codes=known_codes,
                             generators=[torch.Generator().manual_seed(0)])[0]
    exact = model.latents_of(known_codes[0])
    torch.testing.assert_close(latents[:15], exact[:15])
    assert not torch.allclose(latents[15:], exact[15:])


def test_training_lowers_both_parts_and_held_out_figures_report_them(tmp_path, tiny_acoustic_codec):
    torch.manual_seed(0)
    model = S2ALatentModel(flow_config(cfg_scale=0.0))
    crops = AlignedCrops(TokenCorpus(synthetic_token_shards(tmp_path)), 50, 4)
    fit_latent_tables(model, tiny_acoustic_codec, [torch.from_numpy(item.acoustic) for item in crops.items])
    batch = collate([crops[i] for i in range(4)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    def figures():
        with torch.random.fork_rng():
            torch.manual_seed(5)
            return {name: float(value.detach()) for name, value in model(batch).items()}

    first = figures()
    assert first["loss"] == pytest.approx(first["loss_flow"] + first["loss_l1"], rel=1e-5)
    for _ in range(100):
        optimizer.zero_grad()
        model(batch)["loss"].backward()
        optimizer.step()
    last = figures()
    assert last["loss_flow"] < 0.8 * first["loss_flow"] and last["loss_l1"] < 0.8 * first["loss_l1"], (first, last)
    heldout = heldout_figures(model, spread_subset(crops, 8), collate, batch_size=4)
    assert sorted(heldout) == ["heldout/loss", "heldout/loss_flow", "heldout/loss_l1"]


def test_bad_flow_settings_are_refused():
    with pytest.raises(ConfigError, match="latent_head must be one of regression, flow"):
        S2ALatentModel(flow_config(latent_head="diffusion"))
    with pytest.raises(ConfigError, match="flow_temperature must be between 0 and 10"):
        S2ALatentModel(flow_config(flow_temperature=11.0))
    for field, value in (("flow_steps", 0), ("flow_width", 10**9), ("flow_repeats", 65)):
        with pytest.raises(ConfigError, match=field):
            check_model_sizes(flow_config(**{field: value}))
