"""recipes/semantic_codec/probe.py: its pieces, and bad candidates refused before anything loads."""

import argparse

import numpy as np
import pytest
import torch

from recipes.semantic_codec.probe import (
    candidate_spec, compact_targets, edit_distance, greedy_ctc, perplexity,
)


def test_phone_ids_are_renumbered_after_the_blank():
    targets, classes = compact_targets({"a": np.array([363, 7, 7]), "b": np.array([12])})
    assert classes == 4 and targets["a"].tolist() == [3, 1, 1] and targets["b"].tolist() == [2]


def test_greedy_ctc_merges_repeats_and_drops_blanks():
    path = [0, 2, 2, 0, 2, 3, 3, 0]
    log_probs = torch.nn.functional.one_hot(torch.tensor(path), 4).float().log()
    assert greedy_ctc(log_probs).tolist() == [2, 2, 3]


def test_edit_distance_counts_substitutions_insertions_and_deletions():
    assert edit_distance(np.array([1, 2, 3]), np.array([1, 3])) == 1
    assert edit_distance(np.array([1, 2, 3]), np.array([4, 2, 3, 5])) == 2
    assert edit_distance(np.array([]), np.array([1, 2])) == 2


def test_perplexity_counts_the_units_in_use():
    assert perplexity(np.array([0, 1, 2] * 10), 8) == pytest.approx(3.0)
    assert perplexity(np.zeros(30, dtype=int), 8) == pytest.approx(1.0)


@pytest.mark.parametrize("spec", ["model:maskvox/assets/demo", "whisper:4", "whisper:2-6:exact", "whisper:4:pad30"])
def test_candidate_forms_that_load(spec):
    assert candidate_spec(spec) == spec


@pytest.mark.parametrize("spec", ["bogus", "whisper:", "whisper:4:pad10", "model:"])
def test_candidate_forms_refused(spec):
    with pytest.raises(argparse.ArgumentTypeError, match="use model:FOLDER or whisper:LAYERS"):
        candidate_spec(spec)
