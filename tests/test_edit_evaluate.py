"""The edit evaluation's helpers: which edits it makes, how it scores the edited word, how a stopped run resumes."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf

from maskvox.aligner import split_words, word_key
from maskvox.errors import UserError
from maskvox.jobs import LOCK_FILE, RESULTS_FILE
from recipes.common.manifest import Utterance
from recipes.edit.evaluate import (
    EditCase, EditJob, NEW_WORDS, centred_region, make_edits, run_jobs, word_scores,
)

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Imagine that the computer decides to make a personal choice.",
    "She sells bright shells beside the quiet harbour today.",
    "Reading is to the mind what exercise is to the body.",
    "My love runs by like a day in June, and he makes friends.",
]


def corpus(voices=("v1", "v2"), copies=6):
    items = []
    for voice in voices:
        for n in range(copies):
            text = SENTENCES[n % len(SENTENCES)]
            items.append(Utterance(f"{voice}_{n:03d}", f"/data/{voice}_{n}.wav", text, "en", voice, 3.0))
        # never edited: too short, too few words, or not English
        items.append(Utterance(f"{voice}_short", "/x.wav", SENTENCES[0], "en", voice, 1.0))
        items.append(Utterance(f"{voice}_few", "/x.wav", "Four words only here.", "en", voice, 3.0))
        items.append(Utterance(f"{voice}_de", "/x.wav", "Das ist ein ganz langer Satz hier.", "de", voice, 3.0))
    return items


def keys(text):
    return [word_key(w) for w in split_words(text) if word_key(w)]


def test_edits_are_seeded_spread_over_voices_and_use_each_utterance_once():
    cases = make_edits(corpus(), ["v1", "v2"], per_type=3, seed=0)
    assert cases == make_edits(corpus(), ["v1", "v2"], per_type=3, seed=0)
    assert cases != make_edits(corpus(), ["v1", "v2"], per_type=3, seed=1)
    assert [c.type for c in cases] == ["substitution"] * 3 + ["insertion"] * 3 + ["deletion"] * 3
    assert {c.speaker for c in cases if c.type == "deletion"} == {"v1", "v2"}
    assert len({c.source for c in cases}) == len(cases)
    assert all(c.source[3:].isdigit() for c in cases)  # not the short, few-word or German ones


def test_each_edit_changes_one_inner_content_word():
    for case in make_edits(corpus(copies=10), ["v1", "v2"], per_type=5, seed=3):
        old, new = keys(case.text), keys(case.new_text)
        if case.type == "substitution":
            changed = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
            assert len(old) == len(new) and changed == [old.index(case.old_word)]
            assert case.new_word in NEW_WORDS and case.new_word not in old and new[changed[0]] == case.new_word
        elif case.type == "insertion":
            at = new.index(case.new_word)
            assert new[:at] + new[at + 1:] == old and case.new_word not in old
            assert 0 < at < len(new) - 1 and new[at + 1] == case.next_word
        else:
            at = old.index(case.old_word)
            assert old.count(case.old_word) == 1 and old[:at] + old[at + 1:] == new
        assert 0 < case.word_index < len(split_words(case.text)) - (case.type != "insertion")
        assert (case.old_word or case.next_word) not in {"the", "a", "is", "to", "and"}


def test_too_few_utterances_is_a_user_error():
    with pytest.raises(UserError, match="too few usable utterances"):
        make_edits(corpus(copies=2), ["v1"], per_type=2, seed=0)
    with pytest.raises(UserError, match="no English utterance"):
        make_edits(corpus(voices=("v1",)), ["v1", "v9"], per_type=1, seed=0)


def case(edit_type, old="", new="", following=""):
    return EditCase("e", "s", "/x.wav", "t", "t", edit_type, "v", "en", 2, old, new, following)


def test_new_word_must_be_in_the_output_transcript():
    sub = case("substitution", old="brown", new="garden")
    assert word_scores(sub, "The quick brown fox.", "The quick Garden, fox.") == \
        {"hit": True, "baseline_hit": True, "chance_hit": False}
    assert word_scores(sub, "The quick fox.", "The quick gardens fox.")["hit"] is False  # whole words only
    assert word_scores(sub, "The quick fox.", None)["hit"] is None  # failed edit: nothing to score
    ins = case("insertion", new="river", following="fox")
    assert word_scores(ins, "the river fox", "the fox") == {"hit": False, "baseline_hit": True, "chance_hit": True}


def test_deleted_word_must_be_heard_fewer_times_than_in_the_original():
    deletion = case("deletion", old="brown")
    assert word_scores(deletion, "brown, brown fox", "the brown fox")["hit"] is True
    assert word_scores(deletion, "the brown fox", "the Brown fox")["hit"] is False
    # The ASR never heard the word in the original: the deletion cannot be scored.
    assert word_scores(deletion, "the round fox", "the fox") == {"hit": None, "baseline_hit": False, "chance_hit": None}


def test_regions_are_widened_around_their_centre_and_kept_inside_the_audio():
    assert centred_region(2.0, 2.2, 5.0, 1.0) == pytest.approx((1.6, 2.6))
    assert centred_region(0.1, 0.3, 5.0, 1.0) == pytest.approx((0.0, 1.0))
    assert centred_region(4.8, 4.9, 5.0, 1.0) == pytest.approx((4.0, 5.0))
    assert centred_region(1.0, 2.0, 0.5, 1.0) == pytest.approx((0.0, 0.5))


class FakeEditor:
    """Synthesizer.edit's stand-in: the recording back, or a UserError for the new text 'fail'."""

    def __init__(self):
        self.edited = []

    def edit(self, wav, text, new_text, language, span=None, seed=None):
        self.edited.append(new_text)
        if new_text == "fail":
            raise UserError("nothing to say")
        audio, rate = sf.read(wav, dtype="float32")
        return SimpleNamespace(audio=audio, sample_rate=rate, subtype="PCM_16",
                               as_dict=lambda: {"seconds": audio.size / rate})


def test_a_stopped_run_keeps_its_done_and_failed_edits_and_redoes_the_rest(tmp_path):
    sf.write(tmp_path / "in.wav", np.zeros(1600, dtype=np.float32), 16000)
    jobs = [EditJob(job_id, str(tmp_path / "in.wav"), "t", new_text, "en", None, 0)
            for job_id, new_text in (("a", "one"), ("b", "fail"), ("c", "three"))]
    folder = tmp_path / "out"
    first = FakeEditor()
    records = run_jobs(jobs, lambda: first, folder, "edits", quiet=True)
    assert first.edited == ["one", "fail", "three"]
    assert [records[job_id]["status"] for job_id in "abc"] == ["ok", "failed", "ok"]
    assert [json.loads(line)["id"] for line in (folder / RESULTS_FILE).read_text().splitlines()] == ["a", "b", "c"]

    (folder / "c.wav").unlink()  # as if killed before c's wav was written
    (folder / ".a.wav.x1y2.wav").write_bytes(b"")  # what a kill mid-write leaves
    again = FakeEditor()
    resumed = run_jobs(jobs, lambda: again, folder, "edits", quiet=True)
    assert again.edited == ["three"]  # b failed, and with its seed it would again
    assert resumed.keys() == records.keys() and resumed["a"] == records["a"] and resumed["b"] == records["b"]
    assert sorted(path.name for path in folder.iterdir()) == [LOCK_FILE, "a.wav", "c.wav", RESULTS_FILE]
