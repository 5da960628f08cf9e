"""T2S and S2A decoding beyond the golden vectors: batching, fast vs reference passes,
fixed (known) tokens, and the sampler's own rules. Models use the golden weights."""

import pytest
import torch

from factories import golden_config
from maskvox.checkpoint import load_module
from maskvox.errors import ConfigError
from maskvox.nn import pack_rows
from maskvox.s2a.model import S2AModel
from maskvox.sampling import MaskedSampler, SamplerSettings, classifier_free_guidance, make_generators, remask_counts
from maskvox.t2s.model import T2SModel, grow_phone_table

PROMPTS, TARGETS, PHONES = (20, 45, 10, 33), (30, 50, 17, 41), (12, 30, 7, 20)


@pytest.fixture(scope="module")
def t2s(golden_dir):
    return load_module(T2SModel(golden_config(golden_dir).t2s), golden_dir / "t2s.safetensors").eval()


@pytest.fixture(scope="module")
def s2a_full(golden_dir):
    return load_module(S2AModel(golden_config(golden_dir).s2a_full), golden_dir / "s2a_full.safetensors").eval()


def random_ids(high, lengths, seed, tail=()):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, high, (n, *tail), generator=generator) for n in lengths]


def test_t2s_batch_of_four_lengths_equals_each_alone(t2s):
    phones, prompts = random_ids(363, PHONES, 1), random_ids(8192, PROMPTS, 2)
    together = t2s.generate(phones, prompts, TARGETS, steps=6, generators=make_generators(7, 4, "cpu"))
    for b in range(4):
        alone = t2s.generate([phones[b]], [prompts[b]], [TARGETS[b]], steps=6, generators=make_generators(7, 1, "cpu"))
        assert together[b].shape == (TARGETS[b],)
        assert torch.equal(together[b], alone[0]), f"item {b} changed when batched"


def test_s2a_batch_of_four_lengths_equals_each_alone(s2a_full):
    semantic = random_ids(8192, [p + t for p, t in zip(PROMPTS, TARGETS)], 3)
    prompts, given = random_ids(1024, PROMPTS, 4, (12,)), random_ids(1024, TARGETS, 5, (1,))
    steps = [0, 3, 2] + [1] * 9
    settings = SamplerSettings(temperature=1.5)
    together = s2a_full.generate(semantic, prompts, steps, settings, given, make_generators(3, 4, "cpu"))
    for b in range(4):
        alone = s2a_full.generate([semantic[b]], [prompts[b]], steps, settings, [given[b]], make_generators(3, 1, "cpu"))
        assert together[b].shape == (TARGETS[b], 12)
        assert torch.equal(together[b][:, 0], given[b][:, 0]), "the given first layer must be kept"
        assert torch.equal(together[b], alone[0]), f"item {b} changed when batched"


def testfast_predictor_gives_the_reference_logits(t2s):
    """The packed single forward (conditional and unconditional side by side) computes what
    the reference's two separate passes compute, for an item alone and inside a batch."""
    phones, prompts = random_ids(363, PHONES, 1), random_ids(8192, PROMPTS, 2)
    settings = SamplerSettings()
    b, n = 1, TARGETS[1]
    ids = torch.randint(0, 8192, (4, max(TARGETS)))
    mask = torch.rand(4, max(TARGETS)) < 0.5
    reference = t2s.reference_predictor([phones[b]], [prompts[b]], settings)(ids[b : b + 1, :n], mask[b : b + 1, :n], 0.7)
    fast = t2s.fast_predictor(phones, prompts, TARGETS, settings)(ids, mask, 0.7)
    error = (fast[b, :n] - reference[0]).abs().max() / reference.abs().max()
    assert error < 1e-5, f"relative error {error:.1e}"


def test_fast_mode_alone_gives_the_reference_modes_ids(t2s, s2a_full):
    """An item alone in fast mode, its generator seeded as reference mode seeds the global
    generator, draws the reference's random numbers: the same T2S and S2A ids."""
    phones, prompts = random_ids(363, PHONES[1:2], 1), random_ids(8192, PROMPTS[1:2], 2)
    fast = t2s.generate(phones, prompts, TARGETS[1:2], steps=6, generators=make_generators(11, 1, "cpu"))
    torch.manual_seed(11)
    reference = t2s.generate(phones, prompts, TARGETS[1:2], steps=6, settings=SamplerSettings(mode="reference"))
    assert torch.equal(fast[0], reference[0])

    semantic, codes = random_ids(8192, [70], 3), random_ids(1024, [20], 4, (12,))
    given, steps = random_ids(1024, [50], 5, (1,)), [0, 4, 2] + [1] * 9
    fast = s2a_full.generate(semantic, codes, steps, SamplerSettings(temperature=1.5), given, make_generators(5, 1, "cpu"))
    torch.manual_seed(5)
    reference = s2a_full.generate(semantic, codes, steps, SamplerSettings(temperature=1.5, mode="reference"), given)
    assert torch.equal(fast[0], reference[0])


def test_a_flat_batch_computes_what_padded_rows_compute(t2s):
    """Sequences laid end to end in one row, attention span by span (the CPU layout), give
    the padded rows' outputs to float rounding, for every piece of every row."""
    width = t2s.diff_estimator.hidden_size
    generator = torch.Generator().manual_seed(0)
    rows = [[[torch.randn(n, width, generator=generator) for n in sizes] for sizes in row]
            for row in ([[5, 9], [9]], [[3, 4]], [[12], [7]])]
    t = torch.full((3,), 0.4)
    outputs = {}
    with torch.no_grad():
        for flat in (False, True):
            packed = pack_rows(rows, flat=flat)
            outputs[flat] = (packed, t2s.diff_estimator.run_packed(packed, t))
    for r, row in enumerate(rows):
        for s, sequence in enumerate(row):
            for p, piece in enumerate(sequence):
                padded, flat = (packed.piece_output(out, r, s, p, len(piece)) for packed, out in outputs.values())
                assert torch.allclose(padded, flat, atol=1e-5), f"row {r} sequence {s} piece {p}"
    with pytest.raises(ValueError, match="one mask step"):
        t2s.diff_estimator.run_packed(outputs[True][0], torch.tensor([0.4, 0.5, 0.4]))


def test_known_tokens_are_kept_and_only_the_rest_is_decoded(t2s):
    phones, prompts = random_ids(363, PHONES[:1], 1), random_ids(8192, PROMPTS[:1], 2)
    known = torch.zeros(1, 30, dtype=torch.bool)
    known[0, :10] = known[0, 20:] = True  # context on both sides of a 10-frame span
    known_ids = torch.arange(30)[None] + 100
    out = t2s.generate(phones, prompts, [30], steps=5, generators=make_generators(0, 1, "cpu"),
                       known=known, known_ids=known_ids)[0]
    assert torch.equal(out[known[0]], known_ids[0][known[0]])


def test_reference_mode_refuses_unequal_lengths(t2s):
    phones, prompts = random_ids(363, PHONES[:2], 1), random_ids(8192, PROMPTS[:2], 2)
    with pytest.raises(ValueError, match="equal"):
        t2s.generate(phones, prompts, TARGETS[:2], steps=2, settings=SamplerSettings(mode="reference"))


def test_remask_counts_follow_the_cosine_schedule():
    unknown = torch.tensor([100, 7, 1])
    assert remask_counts(1.0, unknown).tolist() == [100, 7, 1]
    assert remask_counts(0.5, unknown).tolist() == [70, 4, 0]  # floor(sin(pi/4) n)
    assert remask_counts(0.0, unknown).tolist() == [0, 0, 0]


def test_sampler_ends_with_every_token_decided_and_greedy_last_step():
    """A predictor that always prefers id 3: after decoding, every valid position is 3
    (the greedy last step) and padding stays 0."""
    logits = torch.full((2, 6, 10), -5.0)
    logits[..., 3] = 5.0
    sampler = MaskedSampler(SamplerSettings(temperature=0.9), make_generators(0, 2, "cpu"))
    out = sampler.decode(lambda seq, mask, t: logits, [6, 4], steps=4)
    assert out[0].tolist() == [3] * 6 and out[1].tolist() == [3, 3, 3, 3, 0, 0]


def test_per_item_guidance_statistics_ignore_padding():
    cond, uncond = torch.randn(2, 5, 8), torch.randn(2, 5, 8)
    batched = classifier_free_guidance(cond, uncond, 2.5, 0.75, lengths=[5, 3])
    alone = classifier_free_guidance(cond[1:, :3], uncond[1:, :3], 2.5, 0.75)
    assert torch.allclose(batched[1, :3], alone[0])
    assert torch.equal(batched[1, 3:], cond[1, 3:])


def test_packed_sequences_do_not_see_each_other():
    x = torch.randn(7, 4)
    packed = pack_rows([[[x[:3]], [x[3:]]], [[x[:2]]]])
    mask = packed.attention_mask[:, 0]
    assert packed.positions[0].tolist() == [0, 1, 2, 0, 1, 2, 3]
    assert not mask[0, 0, 3] and mask[0, 3, 6] and mask[0, 0, 2]
    assert not mask[1, 0, 2] and mask[1, 2, 6], "padding attends only to padding"


def test_phone_table_grows_for_new_phones(t2s):
    state = grow_phone_table(t2s.state_dict(), 1100)
    assert state["phone_emb.weight"].shape[0] == 1100
    assert torch.equal(state["phone_emb.weight"][:1024], t2s.phone_emb.weight)
    with pytest.raises(ConfigError, match="shrink"):
        grow_phone_table(t2s.state_dict(), 512)
