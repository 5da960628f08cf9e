"""T2S alignment help by frame phones (maskvox/frame_phones.py, `aligned_phones`, a demo option):
frame owners from CTC paths, phones spread by their mean lengths, a zero start that changes
nothing, training on aligned shards, and generation through the pipeline."""

import json
import shutil

import numpy as np
import pytest
import torch

from factories import (
    EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, TINY_SSL_HIDDEN, loss_after_training, synthetic_token_shards,
    tiny_full_model_folder,
)
from maskvox.aligner import Aligner, PhoneCTCHead
from maskvox.aligner.frames import SILENCE, frame_owners, owners_of_counts, phone_roles, spread_frames
from maskvox.checkpoint import write_model_folder
from maskvox.config import AlignerConfig, T2SConfig
from maskvox.errors import ConfigError
from maskvox.pipeline import CloneRequest, Synthesizer
from maskvox.sampling import SamplerSettings
from maskvox.frame_phones import FramePhones, fit_mean_frames
from maskvox.t2s.model import T2SBatch, T2SModel
from maskvox.text import PhoneVocabulary
from recipes.common.shards import TokenCorpus, TokenItem, write_shards

SMALL = dict(hidden_size=32, num_layers=1, num_heads=2, cond_codebook_size=64)


def test_spikes_spread_into_the_blanks_around_them():
    #                 0   1   2  3  4   5   6   7   8   9  10  11  12  13  14  15  16  17  18  19
    path = np.array([-1, -1, -1, -1, -1, 0, -1, -1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1, 2, -1])
    # spoken tokens at positions 0, 2, 5 of the phone ids; a pause mark at 4 (between 2 and 5)
    owners = frame_owners(path, spoken=[0, 2, 5], pauses=[4])
    assert owners.tolist() == [SILENCE, SILENCE, 0, 0, 0, 0, 0, 2, 2, 2,  # blanks 6-7 split at the middle
                               2, 2, 2, 4, 4, 5, 5, 5, 5, 5]  # 10 blanks: 3 each side, the mark the rest
    no_mark = frame_owners(path, spoken=[0, 2, 5])
    assert no_mark[10:18].tolist() == [2, 2, 2, 2, 5, 5, 5, 5]
    with pytest.raises(ValueError, match="spoken token 3 has no frame"):
        frame_owners(path, spoken=[0, 2, 5, 6])


def test_frames_are_spread_in_proportion_and_sum_to_the_total():
    counts = spread_frames([4.0, 0.0, 2.0, 2.0], 17)
    assert counts.sum() == 17 and counts[1] == 0 and counts[0] >= counts[2] + 3
    assert spread_frames([1.0, 1.0, 1.0], 0).tolist() == [0, 0, 0]
    assert owners_of_counts([2, 0, 3], offset=5).tolist() == [5, 5, 7, 7, 7]
    with pytest.raises(ValueError):
        spread_frames([0.0], 4)


def test_mean_lengths_count_every_written_occurrence():
    table = FramePhones(10, 4)
    # phone ids [3, 9 (a separator, never said), 3, 5]; owners: 3 said 2 and 4 frames, 5 said 3, 2 silent
    fit_mean_frames(table, [(np.array([3, 9, 3, 5]), np.array([0, 0, 2, 2, 2, 2, 3, 3, 3, -1, -1]))])
    assert table.mean_frames[3] == 3.0 and table.mean_frames[9] == 0.0 and table.mean_frames[5] == 3.0
    assert table.mean_frames[7] == 1.0 and table.mean_frames[table.silence] == 2.0
    owners = table.plan(torch.tensor([3, 9, 3, 5]), prompt_phones=1, prompt_frames=3, target_frames=11)
    assert owners[:3].tolist() == [0, 0, SILENCE] and len(owners) == 14  # prompts end in silence too
    assert owners[3:].tolist() == [2, 2, 2, 2, 3, 3, 3, 3, -1, -1, -1]  # weights 0, 3, 3, silence 2


def test_the_official_vocabulary_roles():
    silent, pauses = phone_roles()
    ids = PhoneVocabulary.official().ids
    assert ids["_"] in silent and ids["_"] not in pauses and ids[","] in pauses and ids["a"] not in silent


def test_zero_frame_phones_change_nothing_until_trained():
    torch.manual_seed(0)
    plain = T2SModel(T2SConfig(**SMALL))
    helped = T2SModel(T2SConfig(aligned_phones=True, frame_phone_drop=0.0, **SMALL))
    own = {k: v for k, v in helped.state_dict().items() if k.startswith("frame_phones.")}
    helped.load_state_dict({**plain.state_dict(), **own})
    phones, prompt = torch.randint(0, 300, (12,)), torch.randint(0, 64, (20,))
    settings = SamplerSettings(mode="fast")
    make = lambda: [torch.Generator().manual_seed(4)]  # noqa: E731
    owners = helped.frame_phones.plan(phones, 5, 20, 30)
    a = plain.generate([phones], [prompt], [30], steps=4, settings=settings, generators=make())
    b = helped.generate([phones], [prompt], [30], steps=4, settings=settings, generators=make(), frame_phones=[owners])
    assert torch.equal(a[0], b[0])
    with pytest.raises(ConfigError, match="frame_phone_drop must be between 0 and 1"):
        T2SModel(T2SConfig(aligned_phones=True, frame_phone_drop=1.5, **SMALL))
    with pytest.raises(ValueError, match="need a T2S with aligned_phones"):
        plain.generate([phones], [prompt], [30], steps=4, settings=settings, generators=make(), frame_phones=[owners])


def test_frame_phones_are_learnt_from_aligned_shards(tmp_path):
    """On the synthetic corpus each frame's id is a function of its phone and the frame within it:
    with the frames' phones given, a model learns the rule faster than without."""
    shards = synthetic_token_shards(tmp_path / "plain", utterances=32)
    items = TokenCorpus(shards).items
    for item in items:  # each phone lasts 2 + p % 3 frames (factories.synthetic_token_shards)
        item.frame_phones = np.repeat(np.arange(len(item.phones)), 2 + item.phones % 3)
        assert len(item.frame_phones) == len(item.semantic)
    write_shards(tmp_path / "aligned", items, shard_size=10)
    read = TokenCorpus(tmp_path / "aligned", need=("frame_phones",)).items
    assert np.array_equal(read[5].frame_phones, items[5].frame_phones)

    def final_loss(aligned: bool) -> float:
        torch.manual_seed(0)
        model = T2SModel(T2SConfig(hidden_size=32, num_layers=1, num_heads=2, cfg_scale=0.0,
                                   aligned_phones=aligned, frame_phone_drop=0.0))
        batch = T2SBatch([torch.from_numpy(i.phones) for i in read[:8]], [torch.from_numpy(i.semantic) for i in read[:8]],
                         [torch.from_numpy(i.frame_phones) for i in read[:8]])
        return loss_after_training(model, batch)

    assert final_loss(True) < 0.8 * final_loss(False)


@pytest.fixture(scope="module")
def aligned_model(tmp_path_factory):
    """A tiny full model whose T2S takes frame phones, with a random aligner head."""
    folder = tiny_full_model_folder(tmp_path_factory.mktemp("aligned") / "model", s2a_layers=4)
    torch.manual_seed(0)
    t2s_cfg = T2SConfig(hidden_size=64, num_layers=2, num_heads=4, aligned_phones=True)
    aligner_cfg = AlignerConfig(feature_dim=TINY_SSL_HIDDEN, hidden_size=16, num_layers=1)

    def update(cfg):
        cfg.t2s, cfg.aligner = t2s_cfg, aligner_cfg

    write_model_folder(folder, {"t2s": T2SModel(t2s_cfg), "aligner": PhoneCTCHead(aligner_cfg)}, update)
    return folder


@pytest.mark.slow
def test_a_helped_t2s_clones_with_the_prompt_aligned_or_spread(aligned_model, tmp_path):
    request = CloneRequest(text="Hello there.", prompt=str(EXAMPLE_PROMPT),
                           prompt_text=EXAMPLE_PROMPT_TEXT.read_text().strip(), duration=1.0, seed=3)
    synth = Synthesizer.from_pretrained(aligned_model, device="cpu")
    assert synth.aligned_phones
    prompt = synth.prompt_tokens(request)
    assert prompt.frame_owners is None or len(prompt.frame_owners) == len(prompt.semantic)
    first, again = synth.clone_batch([request]), synth.clone_batch([request])
    assert np.array_equal(first[0].audio, again[0].audio) and first[0].audio.size == 24000
    # Without an aligner the prompt's phones are spread over its frames; it still clones.
    no_aligner = tmp_path / "no_aligner"
    shutil.copytree(aligned_model, no_aligner)
    write_model_folder(no_aligner, {}, lambda cfg: setattr(cfg, "aligner", None))
    plain = Synthesizer.from_pretrained(no_aligner, device="cpu")
    assert plain.aligner is None and plain.prompt_tokens(request).frame_owners is None
    assert plain.clone_batch([request])[0].audio.size == 24000
    reference = Synthesizer.from_pretrained(aligned_model, device="cpu", sampling="reference")
    assert not reference.aligned_phones


def test_the_aligner_gives_owners_for_t2s_phone_ids():
    torch.manual_seed(0)
    aligner = Aligner(PhoneCTCHead(AlignerConfig(feature_dim=8, hidden_size=8, num_layers=1)))
    ids = PhoneVocabulary.official().ids
    phones = [ids["h"], ids["ə"], ids["_"], ids["l"], ids["oʊ"], ids["."]]
    owners, confidence = aligner.frame_owners(torch.randn(40, 8), phones)
    assert len(owners) == 40 and 0 < confidence <= 1
    said = set(owners[owners >= 0].tolist())
    assert {0, 1, 3, 4} <= said and 2 not in said and 5 not in said
    assert aligner.frame_owners(torch.randn(2, 8), phones) is None  # too short for four phones


@pytest.mark.slow
def test_t2s_alone_is_judged_with_frame_phones_spread_or_as_recorded(tmp_path, capsys):
    from recipes.t2s.evaluate import main as t2s_evaluate

    plain = synthetic_token_shards(tmp_path / "plain", utterances=24)
    items = TokenCorpus(plain).items
    for item in items:
        item.frame_phones = np.repeat(np.arange(len(item.phones)), 2 + item.phones % 3)
    write_shards(tmp_path / "aligned", items, shard_size=10)
    cfg = T2SConfig(hidden_size=32, num_layers=1, num_heads=2, aligned_phones=True)
    model = tmp_path / "model"
    write_model_folder(model, {"t2s": T2SModel(cfg)}, lambda c: setattr(c, "t2s", cfg))
    common = ["--model", str(model), "--train", str(plain), "--per-speaker", "2", "--min-frames", "10",
              "--probe-items", "24", "--probe-steps", "50", "--quiet"]
    for how in ("spread", "recorded"):
        out = tmp_path / how
        assert t2s_evaluate(common + ["--heldout", str(tmp_path / "aligned"), "--frame-phones", how, "--out", str(out)]) == 0
        assert json.loads((out / "results.json").read_text())["frame_phones"] == how
    assert t2s_evaluate(common + ["--heldout", str(plain), "--frame-phones", "spread", "--out", str(tmp_path / "x")]) == 2
    assert "held-out shards with frame phones" in capsys.readouterr().err and not (tmp_path / "x").exists()


def test_an_edit_window_tells_kept_frames_their_mapped_phone_and_spreads_the_new_words():
    from maskvox.edit import Region, Window
    from maskvox.edit_phones import mapped_positions, window_owners

    # old "a b c" -> new "a X Y c": phones as ids, word b (id 20) replaced by X Y (31, 32).
    old_ids, new_ids = [10, 0, 20, 0, 30], [10, 0, 31, 32, 0, 30]
    assert mapped_positions(old_ids, new_ids) == {0: 0, 1: 1, 3: 4, 4: 5}
    # Recording frames: silence, a a, b b b, c c, silence; b's frames [3, 6) become 4 new frames.
    old_owners = np.array([-1, 0, 0, 2, 2, 2, 4, 4, -1])
    window = Window(0, 9, [Region(3, 6, 4, "substitution")], "a X Y c")
    mean_frames = torch.ones(64)
    mean_frames[0] = 0.0  # the word separator is never said
    owners = window_owners(window, old_ids, new_ids, old_owners, mean_frames)
    assert len(owners) == window.new_frames == 10
    assert owners.tolist() == [-1, 0, 0, 2, 2, 3, 3, 5, 5, -1]
    # A deletion leaves nothing to say in its frames.
    gone = window_owners(Window(0, 9, [Region(3, 6, 1, "deletion")], "a c"), old_ids, [10, 0, 30], old_owners,
                         mean_frames)
    assert gone.tolist() == [-1, 0, 0, -1, 2, 2, -1]


@pytest.mark.slow
def test_an_edit_gives_a_helped_t2s_frame_phones_over_its_window(aligned_model, monkeypatch):
    synth = Synthesizer.from_pretrained(aligned_model, device="cpu", preset="fast")
    told = []
    generate = synth.t2s.generate

    def spy(phones, prompt_semantic, frames, *args):
        told.append((len(phones[0]), frames[0], args[-1]))
        return generate(phones, prompt_semantic, frames, *args)

    monkeypatch.setattr(synth.t2s, "generate", spy)
    text = EXAMPLE_PROMPT_TEXT.read_text().strip()  # "We do not break. We never give in. We never back down."
    result = synth.edit(EXAMPLE_PROMPT, text, text.replace("break", "bend"), seed=3)
    assert [span.type for span in result.spans] == ["substitution"]
    [(phones, frames, plans)] = told
    # The same spoken phones the edit's word alignment accepted: the frames are told theirs.
    assert len(plans) == 1 and len(plans[0]) == frames and int(plans[0].max()) < phones
    assert (plans[0] >= 0).any()
