"""Seed-TTS-eval style evaluation of generated speech: WER with a named ASR, speaker
similarity to the prompt with a named speaker encoder, and length error.

    from maskvox.evaluation import EvalConfig, evaluate, read_meta_list
    items = read_meta_list("meta.lst", wav_dir="out/", language="en")
    scores, summary = evaluate(items, EvalConfig(asr="whisper-base", speaker="resemblyzer"))

EvalConfig's ASR defaults to `asr.default_asr()`: whisper-base when installed, else whisper-tiny.en.

The scorers (`asr`, `speaker`) import their models only when loaded.
"""

from .runner import (
    EvalConfig,
    EvalItem,
    EvalSummary,
    ItemScore,
    evaluate,
    format_summary,
    read_meta_list,
    read_results,
    write_report,
)
from .wer import CorpusWer, WordErrors, normalize_for_wer, word_errors

__all__ = [
    "CorpusWer", "EvalConfig", "EvalItem", "EvalSummary", "ItemScore", "WordErrors", "evaluate",
    "format_summary", "normalize_for_wer", "read_meta_list", "read_results", "word_errors", "write_report",
]
