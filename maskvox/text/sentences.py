"""Splitting long text into pieces a model can say in one go.

The masked models see the prompt and the whole target at once, and were trained on
utterances under about 30 s; longer text is cut at sentence ends (then at clause
punctuation, then between words) into pieces whose estimated length fits a budget, and
the pieces are generated separately and joined.
"""

from __future__ import annotations

import re
from typing import Callable

# A sentence ends at . ! ? ... (Latin scripts, followed by a space) or at 。！？ (CJK, at once).
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’»)\]]*\s+|(?<=[。！？])")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|(?<=[，；：、])")
# A full stop after these is no sentence end ("Mr. Smith", "e.g. this").
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "st", "sr", "jr", "vs", "etc", "e.g", "i.e", "no", "fig", "mt",
    "hr", "fr", "frau", "herr", "nr", "z.b", "bzw", "mme", "mlle", "m",
}


def split_sentences(text: str) -> list[str]:
    """Sentences of `text`, punctuation kept, empty pieces dropped."""
    pieces = _split_keeping(_SENTENCE_END, text)
    merged: list[str] = []
    for piece in pieces:
        if merged and _ends_with_abbreviation(merged[-1]):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def _split_keeping(pattern: re.Pattern, text: str) -> list[str]:
    return [piece.strip() for piece in pattern.split(text) if piece and piece.strip()]


def _ends_with_abbreviation(sentence: str) -> bool:
    if not sentence.endswith("."):
        return False
    last_word = sentence.split()[-1].rstrip(".").lower()
    return last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha())


def chunk_text(text: str, cost: Callable[[str], float], budget: float) -> list[str]:
    """Pieces of `text`, each costing at most `budget` (e.g. estimated frames) where possible:
    whole sentences grouped greedily; a sentence over budget is cut at clause punctuation,
    and a clause still over budget into equal runs of words. A single word over budget
    stays whole (nothing shorter can be said); text without spaces
    (Chinese, Japanese) is cut between characters."""
    units: list[str] = []
    for sentence in split_sentences(text):
        units.extend(_fit(sentence, cost, budget))
    chunks: list[str] = []
    for unit in units:
        candidate = f"{chunks[-1]} {unit}" if chunks else unit
        if chunks and cost(candidate) <= budget:
            chunks[-1] = candidate
        else:
            chunks.append(unit)
    return chunks


def _fit(sentence: str, cost: Callable[[str], float], budget: float) -> list[str]:
    """`sentence` as pieces under budget: itself, its clauses (grouped), or runs of words."""
    if cost(sentence) <= budget:
        return [sentence]
    clauses = _split_keeping(_CLAUSE_END, sentence)
    if len(clauses) > 1:
        pieces: list[str] = []
        for clause in clauses:
            pieces.extend(_fit(clause, cost, budget))
        return pieces
    words, joiner = sentence.split(), " "
    if len(words) < 2:  # Chinese or Japanese without spaces: runs of characters
        words, joiner = list(sentence), ""
    if len(words) < 2:
        return [sentence]
    parts = int(cost(sentence) // budget) + 1
    size = -(-len(words) // parts)
    return [joiner.join(words[i : i + size]) for i in range(0, len(words), size)]
