"""T2S best of N (maskvox/candidates.py, `InferencePreset.t2s_candidates`): the aligner's score
of a draft, the draft kept, draft 0 being the plain clone, and models that cannot do it."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT, TINY_SSL_HIDDEN, tiny_full_model_folder
from maskvox import candidates
from maskvox.aligner import PhoneCTCHead
from maskvox.checkpoint import write_model_folder
from maskvox.codecs.kmeans import KMeansCodec
from maskvox.config import AlignerConfig, SemanticCodecConfig, T2SConfig
from maskvox.errors import ConfigError, UserError
from maskvox.pipeline import CloneRequest, Synthesizer
from maskvox.presets import InferencePreset
from maskvox.t2s.model import T2SModel

PRESET = InferencePreset(t2s_steps=2, s2a_steps=(2,) + (1,) * 11, t2s_cfg=0.0, s2a_cfg=0.0)


class ReadsPhones:
    """An aligner whose frames say phone 5 for ids < 10 and phone 6 otherwise."""

    blank = 0

    def log_probs(self, features: torch.Tensor) -> np.ndarray:
        says_six = features[:, 0].numpy() >= 10
        probs = np.full((len(features), 8), 0.01)
        probs[~says_six, 5], probs[says_six, 6] = 0.93, 0.93
        return np.log(probs / probs.sum(1, keepdims=True))


class IdsAsFeatures:
    def decode_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return ids[..., None].float()


def test_a_draft_that_says_the_phones_in_order_scores_higher():
    aligner, codec = ReadsPhones(), IdsAsFeatures()
    in_order = torch.tensor([1, 1, 1, 20, 20, 20])  # phone 5, then phone 6
    reversed_ = torch.tensor([20, 20, 20, 1, 1, 1])
    assert candidates.phone_score(aligner, codec, in_order, [5, 6]) > candidates.phone_score(aligner, codec,
                                                                                              reversed_, [5, 6])
    assert candidates.phone_score(aligner, codec, torch.tensor([1]), [5, 6]) == float("-inf")  # too short
    kept = candidates.best_drafts([reversed_, in_order, reversed_, reversed_], 2, aligner, codec, [[5, 6], [6, 5]])
    assert [k.tolist() for k in kept] == [in_order.tolist(), reversed_.tolist()]


def test_draft_generators_keep_the_item_s_own_first_and_seed_the_rest_from_it():
    items = [torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)]
    drafts = candidates.draft_generators(items, 3)
    assert len(drafts) == 6 and drafts[0] is items[0] and drafts[3] is items[1]
    again = candidates.draft_generators([torch.Generator().manual_seed(7)], 3)
    assert [g.initial_seed() for g in again] == [g.initial_seed() for g in drafts[:3]]
    assert len({g.initial_seed() for g in drafts}) == 6


@pytest.fixture(scope="module")
def kmeans_model(tmp_path_factory):
    """A tiny full model with a k-means semantic codec, a T2S told frame phones and an aligner."""
    folder = tiny_full_model_folder(tmp_path_factory.mktemp("drafts") / "model", s2a_layers=4)
    torch.manual_seed(0)
    codec_cfg = SemanticCodecConfig(hidden_size=TINY_SSL_HIDDEN, kind="kmeans")
    codec = KMeansCodec(codec_cfg)
    codec.centroids.normal_()
    t2s_cfg = T2SConfig(hidden_size=64, num_layers=2, num_heads=4, aligned_phones=True)
    aligner_cfg = AlignerConfig(feature_dim=TINY_SSL_HIDDEN, hidden_size=16, num_layers=1)

    def update(cfg):
        cfg.semantic_codec, cfg.t2s, cfg.aligner = codec_cfg, t2s_cfg, aligner_cfg

    write_model_folder(folder, {"semantic_codec": codec, "t2s": T2SModel(t2s_cfg), "aligner": PhoneCTCHead(aligner_cfg)},
                       update)
    return folder


def request(seed: int = 3) -> CloneRequest:
    return CloneRequest(text="Hello there.", prompt=str(EXAMPLE_PROMPT),
                        prompt_text=EXAMPLE_PROMPT_TEXT.read_text().strip(), duration=1.0, seed=seed)


@pytest.mark.slow
def test_the_kept_draft_goes_on_to_s2a_and_draft_0_is_the_plain_clone(kmeans_model, monkeypatch):
    plain = Synthesizer.from_pretrained(kmeans_model, device="cpu", preset=PRESET).clone_batch([request()])[0]
    synth = Synthesizer.from_pretrained(kmeans_model, device="cpu", preset=dataclasses.replace(PRESET, t2s_candidates=3))
    batches, scored = [], []
    generate, score = synth.t2s.generate, candidates.phone_score

    def count_items(phones, *args):
        batches.append(len(phones))
        return generate(phones, *args)

    def favour(draft):
        def spy(aligner, codec, ids, phones):
            scored.append(ids.clone())
            assert score(aligner, codec, ids, phones) <= 0  # a log-likelihood per phone
            return 1.0 if (len(scored) - 1) % 3 == draft else 0.0  # this draft of each item wins
        return spy

    monkeypatch.setattr(synth.t2s, "generate", count_items)
    monkeypatch.setattr(candidates, "phone_score", favour(0))
    first = synth.clone_batch([request()])[0]
    assert batches == [3] and len(scored) == 3
    assert np.array_equal(first.audio, plain.audio)  # draft 0 is the plain clone's T2S output
    assert not all(torch.equal(scored[0], other) for other in scored[1:])  # the drafts differ

    scored.clear()
    monkeypatch.setattr(candidates, "phone_score", favour(2))
    third = synth.clone_batch([request()])[0]
    assert np.array_equal(third.semantic_ids[0], scored[2].numpy()) and not np.array_equal(third.audio, plain.audio)
    scored.clear()
    assert np.array_equal(synth.clone_batch([request()])[0].audio, third.audio)  # same seed, same clone


@pytest.mark.slow
def test_drafts_judged_by_their_audio_are_each_made_whole_and_the_kept_one_s_audio_is_the_clone(kmeans_model,
                                                                                               monkeypatch):
    plain = Synthesizer.from_pretrained(kmeans_model, device="cpu", preset=PRESET).clone_batch([request()])[0]
    judged = dataclasses.replace(PRESET, t2s_candidates=3, t2s_candidate_judge="audio")
    synth = Synthesizer.from_pretrained(kmeans_model, device="cpu", preset=judged)
    s2a_batches, decoded, heard = [], [], []
    generate, decode, score = synth.s2a_full.generate, synth.decode, candidates.heard_score

    def count_items(semantic, *args, **kwargs):
        s2a_batches.append(len(semantic))
        return generate(semantic, *args, **kwargs)

    def keep_audio(codes, spent=None):
        decoded.append(decode(codes, spent))
        return decoded[-1]

    def favour(draft):
        def spy(aligner, features, phones):
            heard.append(features)
            assert features.shape[1] == TINY_SSL_HIDDEN and score(aligner, features, phones) <= 0
            return 1.0 if (len(heard) - 1) % 3 == draft else 0.0
        return spy

    monkeypatch.setattr(synth.s2a_full, "generate", count_items)
    monkeypatch.setattr(synth, "decode", keep_audio)
    monkeypatch.setattr(candidates, "phone_score", lambda *args: pytest.fail("the ids are not judged"))
    monkeypatch.setattr(candidates, "heard_score", favour(0))
    first = synth.clone_batch([request()])[0]
    assert s2a_batches == [3] and len(decoded) == 3 and len(heard) == 3  # every draft whole, none decoded again
    assert np.array_equal(first.audio, plain.audio)  # draft 0 is the plain clone, S2A's draws included

    decoded.clear()
    monkeypatch.setattr(candidates, "heard_score", favour(2))
    third = synth.clone_batch([request()])[0]
    assert np.array_equal(third.audio, decoded[2]) and not np.array_equal(third.audio, plain.audio)
    with pytest.raises(ConfigError, match="t2s_candidate_judge must be one of ids, audio"):
        InferencePreset(t2s_candidate_judge="whisper")


def test_a_model_without_an_aligner_or_k_means_codes_refuses_drafts_before_loading(tmp_path):
    folder = tiny_full_model_folder(tmp_path / "model", s2a_layers=4)
    with pytest.raises(UserError, match="t2s_candidates > 1 needs a model with an aligner"):
        Synthesizer.from_pretrained(folder, device="cpu", preset=dataclasses.replace(PRESET, t2s_candidates=2))
    for bad in (0, 9, 2.5, True):
        with pytest.raises(ConfigError, match="t2s_candidates must be a whole number from 1 to 8"):
            InferencePreset(t2s_candidates=bad)


def test_the_draft_study_picks_each_scorer_s_best_and_whisper_s_as_the_ceiling():
    from recipes.demo.draft_study import picks

    # Two sentences, three drafts each: ctc_ids likes draft 2, t2s_pll draft 1, the others draft 0.
    def scores(ids_best, pll_best):
        return [{"ctc_ids": float(k == ids_best), "ctc_audio": 0.0, "t2s_pll": float(k == pll_best), "ctc_sum": 0.0}
                for k in range(3)]
    heard = [[{"wer": 0.5, "similarity": 0.6}, {"wer": 3.0, "similarity": 0.5}, {"wer": 0.1, "similarity": 0.7}]] * 2
    figures = picks([scores(2, 1), scores(2, 1)], heard, 3)
    assert figures["plain"]["wer_capped"] == 0.5 and figures["ctc_ids"]["wer_capped"] == 0.1
    assert figures["t2s_pll"]["wer_capped"] == 1.0  # a loop (3x the words) counts as 100 %
    assert figures["ctc_sum"]["wer_capped"] == 0.5  # ties keep the earliest draft
    assert figures["oracle"] == {"wer_capped": 0.1, "similarity": 0.7}
    assert picks([scores(2, 1), scores(2, 1)], heard, 2)["ctc_ids"]["wer_capped"] == 0.5  # draft 2 not among 2


@pytest.mark.slow
def test_the_draft_study_makes_every_draft_whole_scores_it_and_resumes(kmeans_model, tmp_path, monkeypatch, capsys):
    from recipes.demo import draft_study

    def fake_eval(meta, out, wav_dir, asr, language):  # maskvox eval (Whisper) is tested on its own
        ids = [line.split("|")[0] for line in meta.read_text().splitlines()]
        out.mkdir(parents=True, exist_ok=True)
        (out / "items.jsonl").write_text("".join(json.dumps({"id": i, "wer": 0.1 * n, "similarity": 0.5})
                                                 + "\n" for n, i in enumerate(ids)))
        return {}

    made = []
    make = draft_study.make_drafts
    monkeypatch.setattr(draft_study, "run_maskvox_eval", fake_eval)
    monkeypatch.setattr(draft_study, "make_drafts", lambda *args: made.append(args[3]) or make(*args))
    # A preset that drafts itself: the study makes its drafts alone, or they would multiply.
    monkeypatch.setattr(candidates, "best_drafts", lambda *args: pytest.fail("the preset's drafts were made"))
    preset = tmp_path / "preset.json"
    preset.write_text(json.dumps({**dataclasses.asdict(PRESET), "t2s_candidates": 3}))
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("Hello there.\nGood day.\n")
    args = ["--model", str(kmeans_model), "--sentences", str(sentences), "--out", str(tmp_path / "out"),
            "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", EXAMPLE_PROMPT_TEXT.read_text().strip(),
            "--preset", str(preset), "--drafts", "2", "--asr", "whisper-base", "--quiet"]
    assert draft_study.main(args) == 0
    wavs = sorted(p.name for p in (tmp_path / "out" / "prompt0" / "wavs").glob("*.wav"))
    assert wavs == ["s000_d0.wav", "s000_d1.wav", "s001_d0.wav", "s001_d1.wav"] and made == ["Hello there.", "Good day."]
    lines = (tmp_path / "out" / "prompt0" / "scores.jsonl").read_text().splitlines()
    scores = [json.loads(line)["scores"] for line in lines]
    assert all(set(s) == set(draft_study.SCORERS) and s["t2s_pll"] < 0 for draft in scores for s in draft)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    oracle = [row["oracle"]["wer_capped"] for row in results["per_prompt"]["2"]]
    assert oracle == [pytest.approx(0.1)]  # draft 0 of each sentence: 0.0 and 0.2
    assert "| 2 | oracle |" in capsys.readouterr().out
    assert draft_study.main(args) == 0 and len(made) == 2  # a second run makes nothing again
    assert draft_study.main(args[:-5] + ["--drafts", "17", "--quiet"]) == 2


@pytest.mark.slow
def test_the_judge_study_reads_saved_drafts_once_and_gives_each_judge_s_pick(kmeans_model, tmp_path, monkeypatch,
                                                                             capsys):
    from maskvox.audio import write_audio
    from recipes.demo import judge_study

    study = tmp_path / "study" / "prompt0"
    wers = [[0.5, 0.2, 3.0], [0.1, 0.4, 0.3]]
    lines, items = [], []
    for n, row in enumerate(wers):
        for k, wer in enumerate(row):
            write_audio(study / "wavs" / f"s{n:03d}_d{k}.wav", np.random.default_rng(k).normal(0, 0.1, 24000), 24000)
            lines.append(f"s{n:03d}_d{k}|prompt text|prompt.wav|Hello there number {n}.\n")
            items.append(json.dumps({"id": f"s{n:03d}_d{k}", "wer": wer, "similarity": 0.5}) + "\n")
    (study / "meta.lst").write_text("".join(lines))
    (study / "eval").mkdir()
    (study / "eval" / "items.jsonl").write_text("".join(items))
    calls = []

    def favour(aligner, features, phones):  # judge 0 likes draft 2, judge 1 draft 1
        assert features.shape[1] == TINY_SSL_HIDDEN and phones
        calls.append(len(calls))
        draft, judge = (calls[-1] // 2) % 3, calls[-1] % 2
        return float(draft == (2 if judge == 0 else 1))

    monkeypatch.setattr(candidates, "heard_score", favour)
    args = ["--study", str(tmp_path / "study"), "--drafts", "3", "--judge", str(kmeans_model),
            "--judge", str(kmeans_model), "--out", str(tmp_path / "judges.json")]
    assert judge_study.main(args) == 0 and len(calls) == 12  # 6 drafts, 2 judges
    figures = json.loads((tmp_path / "judges.json").read_text())["per_prompt"]["3"][0]
    wer = {name: round(value["wer_capped"], 6) for name, value in figures.items()}
    assert wer == {"first": 0.3, "whisper (ceiling)": 0.15, "judge 0": 0.65, "judge 1": 0.3}  # 3.0 counts as 1
    assert f"| 3 | {kmeans_model} |" in capsys.readouterr().out
    assert judge_study.main(args[:2] + ["--drafts", "4"] + args[4:]) == 2  # 3 drafts saved, not 4
    unwritable = args[:-1] + [str(tmp_path / "judges.json" / "again.json")]  # under a file
    assert judge_study.main(unwritable) == 2 and len(calls) == 12  # refused before any draft is read
    assert judge_study.main(["--study", str(tmp_path / "nope"), "--judge", str(kmeans_model)]) == 2
