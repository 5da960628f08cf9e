"""The CTC aligner: Viterbi forced alignment, transcripts read word by word, the training
recipe on flite speech, and the shipped demo aligner's word boundaries against flite's own
segment timings."""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch

from maskvox.aligner import Aligner, PhoneCTCHead, forced_align, split_words, transcript_words, word_key
from maskvox.checkpoint import default_model_location, load_model_config
from maskvox.config import AlignerConfig
from maskvox.errors import UnsupportedLanguageError, UserError
from maskvox.text import TextFrontEnd
from maskvox.text.vocab import PUNCTUATION_PHONES
from recipes.aligner.evaluate import FeatureReader, evaluate_utterances
from recipes.aligner.train import main as train_main
from recipes.common.manifest import Utterance
from recipes.common.trainer import read_log
from recipes.offline_corpus.build import Voice

from factories import REPO_ROOT

TINY_CONFIG = REPO_ROOT / "recipes/aligner/configs/tiny.yaml"
SLT = Voice("flite", "slt")  # the held-out speaker flite_slt_d100
# Sentences of no fortune database, so of neither corpus split.
UNSEEN_SENTENCES = [
    "The purple kettle whistled on the old stove.",
    "Seven small boats drifted past the harbour lights.",
    "Please bring the green folder to my office tomorrow.",
    "A quiet river runs beneath the wooden bridge.",
]
# From `python -m recipes.aligner.evaluate` on 25 utterances of each held-out flite speaker
# (recipes/demo/CHECKPOINT.md): mean boundary error 33 ms, and a transcript with a confidence
# under 0.001 is not the audio's (98% of right ones above, 98% of wrong ones below). slt is
# the voice the demo encoder knows least (a female flite voice; it trained on male ones).
MEAN_BOUNDARY_ERROR_BOUND_MS = 50.0
REJECT_BELOW = 0.001


@pytest.fixture(scope="module")
def flite():
    if shutil.which("flite") is None:
        pytest.fail("flite is needed to synthesise test speech: apt-get install flite")


def synthesise(voice: Voice, texts: list[str], folder) -> list[Utterance]:
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for index, text in enumerate(texts):
        wav = folder / f"utt{index}.wav"
        subprocess.run(voice.command(text, wav), check=True, capture_output=True)
        items.append(Utterance(f"utt{index}", str(wav), text, voice.language, voice.speaker))
    return items


# -- forced alignment ------------------------------------------------------------------------------

def peaked_log_probs(path: list[int], tokens: list[int], vocab: int, blank: int, seed: int = 0) -> np.ndarray:
    """Log-probabilities whose every frame favours the label `path` gives it (-1: blank)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=0.5, size=(len(path), vocab))
    for frame, token_index in enumerate(path):
        logits[frame, blank if token_index < 0 else tokens[token_index]] += 4.0
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def test_forced_align_recovers_a_known_path_with_its_score():
    tokens, blank = [5, 7, 7, 3], 9
    path = [-1, 0, 0, -1, 1, 1, -1, 2, 3, 3, -1, -1]  # the repeated 7 needs the blank between
    log_probs = peaked_log_probs(path, tokens, vocab=10, blank=blank)
    found, score = forced_align(log_probs, tokens, blank)
    assert found.tolist() == path
    labels = [blank if i < 0 else tokens[i] for i in path]
    assert score == pytest.approx(float(log_probs[np.arange(len(path)), labels].sum()))


def test_forced_align_keeps_every_token_in_order_whatever_the_posteriors():
    tokens, blank = [1, 2, 2, 4, 1], 0
    log_probs = np.log(np.random.default_rng(1).dirichlet(np.ones(6), size=30))
    found, _ = forced_align(log_probs, tokens, blank)
    spoken = found[found >= 0]
    assert np.all(np.diff(spoken) >= 0) and set(spoken.tolist()) == set(range(len(tokens)))
    repeated = np.flatnonzero(found == 1)[-1], np.flatnonzero(found == 2)[0]
    assert repeated[1] - repeated[0] > 1  # a blank between the two 2s


def test_forced_align_needs_a_frame_per_token_and_one_between_repeats():
    log_probs = np.log(np.full((3, 4), 0.25))
    assert forced_align(log_probs, [1, 1], blank=3)[0].tolist() == [0, -1, 1]  # just enough
    with pytest.raises(ValueError, match="cannot hold"):
        forced_align(log_probs[:2], [1, 1], blank=3)
    with pytest.raises(ValueError, match="cannot hold"):
        forced_align(log_probs, [0, 1, 2, 0], blank=3)
    with pytest.raises(ValueError, match="no tokens"):
        forced_align(log_probs, [], blank=3)


def test_aligner_says_when_the_audio_is_too_short_for_the_transcript():
    torch.manual_seed(0)
    aligner = Aligner(PhoneCTCHead(AlignerConfig(feature_dim=8, hidden_size=8, num_layers=1)))
    words = aligner.words("a rather long sentence for three frames", "en")
    with pytest.raises(UserError, match="too short"):
        aligner.align(torch.randn(3, 8), words)
    alignment = aligner.align(torch.randn(80, 8), words)
    assert [span.word for span in alignment.words] == words and 0 <= alignment.confidence <= 1
    starts = [span.start for span in alignment.words]
    assert starts == sorted(starts) and all(span.start < span.end <= 80 for span in alignment.words)


# -- transcripts ---------------------------------------------------------------------------------------

def test_transcript_words_are_the_spoken_words_each_read_alone():
    frontend = TextFrontEnd()
    words = transcript_words("Hello, world — it's  TEN o'clock!", "en", frontend)
    assert [w.text for w in words] == ["Hello,", "world", "it's", "TEN", "o'clock!"]  # the dash says nothing
    assert [w.key for w in words] == ["hello", "world", "its", "ten", "oclock"]
    separator = frontend.vocabulary.ids["_"]
    for word in words:
        alone = frontend(word.text, "en")
        spoken = tuple(i for i, p in zip(alone.ids, alone.phones) if p not in PUNCTUATION_PHONES)
        assert word.phones == spoken and word.phones and separator not in word.phones


def test_words_of_unspaced_scripts_and_unsupported_languages():
    assert split_words("我们 go home，好") == ["我", "们", "go", "home，", "好"]
    assert word_key("Home，") == "home" and word_key("!?") == ""
    assert transcript_words("... !", "en") == []
    with pytest.raises(UnsupportedLanguageError):
        transcript_words("hola", "xx")


# -- the recipe -----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_tiny_recipe_trains_resumes_and_exports_an_aligner(tmp_path, tiny_model, flite):
    texts = ["Good morning.", "The dog ran home.", "Red and blue.", "She sells sea shells.",
             "Open the door.", "Time to go."]
    items = synthesise(SLT, texts, tmp_path / "wavs")
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(vars(item)) + "\n" for item in items))
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)  # the fixture is shared read-only; the export writes here
    exp = tmp_path / "exp"
    args = ["--config", str(TINY_CONFIG), "--quiet", "--set", f"data.train_manifest={manifest}",
            "--set", f"run.exp_dir={exp}", "--set", f"export_dir={model}"]
    assert train_main(args) == 0
    losses = [record["loss/ctc"] for record in read_log(exp / "log.jsonl")]
    assert len(losses) == 4 and losses[-1] < 0.5 * losses[0], losses
    cached = sorted((exp / "features").glob("*.npy"))
    assert len(cached) == len(items)

    # Resumes from the last checkpoint, and reuses the cached features.
    stamps = [path.stat().st_mtime_ns for path in cached]
    assert train_main(args + ["--set", "run.max_steps=50"]) == 0
    assert [r["step"] for r in read_log(exp / "log.jsonl")] == [10, 20, 30, 40, 50]
    assert [path.stat().st_mtime_ns for path in cached] == stamps

    cfg = load_model_config(model)
    assert cfg.aligner.feature_dim == 32 and cfg.aligner.hidden_size == 32  # the tiny encoder's width
    assert cfg.semantic_codec.hidden_size == 32  # the folder's other sections are kept
    aligner = Aligner.from_pretrained(model)
    features = FeatureReader(str(model), "cpu")(items[1].audio)
    alignment = aligner.align(features, aligner.words(items[1].text, "en"))
    assert [span.word.key for span in alignment.words] == ["the", "dog", "ran", "home"]
    assert alignment.frames == len(features)

    # A new run (a fresh machine) starts from the exported head: its first loss is the export's.
    again = ["--config", str(TINY_CONFIG), "--quiet", "--set", f"data.train_manifest={manifest}",
             "--set", f"data.feature_cache={exp / 'features'}", "--set", f"export_dir={tmp_path / 'again'}",
             "--set", f"init_from={model}", "--set", "run.max_steps=10"]
    shutil.copytree(tiny_model, tmp_path / "again")
    assert train_main(again + ["--set", f"run.exp_dir={tmp_path / 'exp2'}"]) == 0
    assert read_log(tmp_path / "exp2" / "log.jsonl")[0]["loss/ctc"] < 0.5 * losses[0]
    # A head of other sizes is refused in one line.
    assert train_main(again + ["--set", f"run.exp_dir={tmp_path / 'exp3'}", "--set", "model.hidden_size=16"]) == 2


def test_recipe_errors_are_one_line(tmp_path, capsys):
    assert train_main(["--config", str(TINY_CONFIG), "--set", f"run.exp_dir={tmp_path}"]) == 2
    assert train_main(["--config", str(TINY_CONFIG), "--set", f"data.train_manifest={tmp_path / 'none.jsonl'}",
                       "--set", f"run.exp_dir={tmp_path}"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["error: no training data: set data.train_manifest (a JSONL manifest)",
                     f"error: manifest {tmp_path / 'none.jsonl'} does not exist"]


# -- the shipped demo aligner ---------------------------------------------------------------------

@pytest.mark.slow
def test_shipped_aligner_finds_word_boundaries_of_unseen_flite_sentences(tmp_path, flite):
    model = default_model_location()
    items = synthesise(SLT, UNSEEN_SENTENCES, tmp_path)
    report = evaluate_utterances(Aligner.from_pretrained(model), FeatureReader(model, "cpu"), items)
    assert report["utterances"] == len(items), report["skipped_by_reason"]
    assert report["words"] == sum(len(split_words(text)) for text in UNSEEN_SENTENCES)
    assert report["boundaries"]["mean_ms"] < MEAN_BOUNDARY_ERROR_BOUND_MS, report["boundaries"]
    right = [row["confidence"] for row in report["rows"]]
    wrong = [row["wrong_confidence"] for row in report["rows"]]  # another sentence's transcript
    assert min(right) >= REJECT_BELOW and max(wrong) < REJECT_BELOW, (right, wrong)
