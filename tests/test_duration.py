"""The duration model: flow-matching loss, the ODE solver path, batch invariance, and the
user's length controls (rule, --speed, --duration, clamp, too-short error)."""

import pytest
import torch

from maskvox.duration.control import LengthRequest, resolve_frames, rule_frames
from maskvox.duration.model import LANGUAGE_IDS, DurationBatch, DurationConfig, DurationModel
from maskvox.errors import UserError

TINY = DurationConfig(hidden_size=32, num_heads=2, num_layers=2)


def _batch(target_lengths, prompt_lengths, prompt_frames, seed=0):
    generator = torch.Generator().manual_seed(seed)
    phones = lambda n: torch.randint(0, 363, (n,), generator=generator)  # noqa: E731
    return DurationBatch(
        target_phones=[phones(n) for n in target_lengths],
        prompt_phones=[phones(n) for n in prompt_lengths],
        prompt_frames=torch.tensor(prompt_frames, dtype=torch.float32),
        languages=torch.tensor([LANGUAGE_IDS["en"]] * len(target_lengths)),
    )


def test_target_encoding_round_trips():
    for kind in ("log_rate", "log_frames"):
        model = DurationModel(DurationConfig(hidden_size=32, num_heads=2, num_layers=1, target=kind))
        frames, phones = torch.tensor([120.0, 37.0]), torch.tensor([30.0, 12.0])
        assert torch.allclose(model.decode_target(model.encode_target(frames, phones), phones), frames)


def test_solver_follows_the_velocity_field(monkeypatch):
    """A constant field v moves noise x0 to x0 + v whatever the steps; midpoint evaluates twice a step."""
    torch.manual_seed(0)
    model = DurationModel(TINY).eval()
    batch = _batch([10, 20], [15, 15], [60.0, 60.0])
    calls = []

    def constant_field(x_t, t, batch, keep):
        calls.append(t[0].item())
        return torch.full_like(x_t, 0.5)

    monkeypatch.setattr(model, "velocity", constant_field)
    frames = model.predict_frames(batch, steps=4, seeds=[3, 4])
    x0 = torch.stack([torch.randn((), generator=torch.Generator().manual_seed(s)) for s in (3, 4)])
    expected = model.decode_target(x0 + 0.5, batch.target_counts())
    assert torch.allclose(frames, expected, atol=1e-5)
    assert len(calls) == 8 and min(calls) == 0.0 and max(calls) < 1.0


def test_flow_matching_loss_is_the_straight_path_error(monkeypatch):
    model = DurationModel(TINY)
    batch = _batch([10, 20, 30], [15, 15, 15], [60.0, 60.0, 60.0])
    frames = torch.tensor([40.0, 80.0, 120.0])
    y = model.encode_target(frames, batch.target_counts())
    captured = {}

    def perfect(x_t, t, batch, keep):
        # Recover x0 from x_t and answer the exact straight-path velocity: the loss must be 0.
        s = model.cfg.sigma_min
        x0 = (x_t - t * y) / (1 - (1 - s) * t)
        captured["t"] = t
        return y - (1 - s) * x0

    monkeypatch.setattr(model, "velocity", perfect)
    loss = model.flow_matching_loss(batch, frames, generator=torch.Generator().manual_seed(0))
    assert loss.item() < 1e-8 and captured["t"].shape == (3,)


def test_batched_prediction_equals_one_by_one():
    torch.manual_seed(0)
    model = DurationModel(TINY).eval()
    batch = _batch([7, 25, 13], [30, 9, 18], [120.0, 40.0, 75.0])
    together = model.predict_frames(batch, steps=4, seeds=[1, 2, 3], cfg=1.0)
    for item in range(3):
        alone = DurationBatch([batch.target_phones[item]], [batch.prompt_phones[item]],
                              batch.prompt_frames[item : item + 1], batch.languages[item : item + 1])
        single = model.predict_frames(alone, steps=4, seeds=[item + 1], cfg=1.0)
        assert torch.allclose(single, together[item : item + 1], rtol=1e-5), (item, single, together)


@pytest.mark.slow
def test_training_learns_the_prompt_tempo():
    """Target rate = the prompt's rate: a few hundred steps bring predictions near the truth,
    which a model ignoring the prompt cannot do (rates vary 3x across items)."""
    torch.manual_seed(0)
    model = DurationModel(TINY)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)

    def draw(count):
        rates = torch.exp(torch.empty(count).uniform_(0.7, 1.8, generator=generator))
        targets = torch.randint(5, 30, (count,), generator=generator).tolist()
        prompts = torch.randint(10, 30, (count,), generator=generator).tolist()
        batch = _batch(targets, prompts, [r * p for r, p in zip(rates.tolist(), prompts)],
                       seed=int(torch.randint(0, 10**6, (1,), generator=generator)))
        return batch, rates * torch.tensor(targets, dtype=torch.float32)

    for _ in range(300):
        batch, frames = draw(16)
        loss = model.flow_matching_loss(batch, frames, generator=generator)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    batch, frames = draw(64)
    predicted = model.predict_frames(batch, steps=8, seeds=list(range(64)))
    error = ((predicted - frames).abs() / frames).median().item()
    assert error < 0.15, error


def test_rule_and_controls():
    assert rule_frames(300, 60, 30) == 150  # the reference: prompt frames x target/prompt phones
    with pytest.raises(UserError, match="phones"):
        rule_frames(300, 0, 30)
    assert resolve_frames(150.0, 30) == (150, "natural")
    assert resolve_frames(150.0, 30, LengthRequest(speed=2.0)) == (75, "natural")
    assert resolve_frames(150.0, 30, LengthRequest(speed=0.5)) == (300, "natural")
    assert resolve_frames(150.0, 30, LengthRequest(seconds=4.3)) == (215, "requested")
    # Dubbing: the slot is honoured within the clamp around the natural length.
    assert resolve_frames(150.0, 30, LengthRequest(seconds=10.0, clamp=(0.8, 1.25))) == (188, "requested")
    assert resolve_frames(150.0, 30, LengthRequest(seconds=1.0, clamp=(0.8, 1.25))) == (120, "requested")


@pytest.mark.parametrize("request_args, message", [
    (dict(seconds=0.5), "too short for 30 phones"),
    (dict(seconds=-1.0), "positive number of seconds"),
    (dict(speed=3.0), "between 0.5 and 2.0"),
    (dict(speed=1.5, seconds=3.0), "not both"),
    (dict(seconds=3.0, clamp=(1.2, 2.0)), "low <= 1 <= high"),
])
def test_bad_length_requests_are_clear_errors(request_args, message):
    with pytest.raises(UserError, match=message):
        resolve_frames(150.0, 30, LengthRequest(**request_args))


def test_zero_temperature_gives_the_median_whatever_the_seed():
    """A 1-D flow is monotonic: starting every item at the noise's median (0) gives the median of
    the predicted distribution, so the seed no longer matters; temperature 1 draws samples."""
    torch.manual_seed(0)
    model = DurationModel(TINY).eval()
    batch = _batch([12, 30], [20, 25], [80.0, 100.0])
    medians = [model.predict_frames(batch, steps=4, seeds=[s, s], temperature=0.0) for s in (0, 1, 2)]
    assert all(torch.equal(medians[0], m) for m in medians[1:])
    samples = [model.predict_frames(batch, steps=4, seeds=[s, s], temperature=1.0) for s in (0, 1)]
    assert not torch.allclose(samples[0], samples[1])
    lows = model.predict_frames(batch, steps=4, seeds=[5, 5], temperature=-1.0)  # noise -z vs +z
    highs = model.predict_frames(batch, steps=4, seeds=[5, 5], temperature=1.0)
    assert torch.all((lows - medians[0]) * (highs - medians[0]) <= 0)  # the median lies between
