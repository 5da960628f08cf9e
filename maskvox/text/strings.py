"""String helpers every reader shares: the reference's punctuation tokens, short quotes."""

from __future__ import annotations

import re

_PUNCTUATION_TOKEN = re.compile(r"([,.?!;:'…])")
_BAR_RUN = re.compile(r"\|+")


def join_punctuation(phones: str) -> str:
    """Make every punctuation mark its own `|`-separated token, as the reference does (its last
    step in the espeak and Mandarin paths)."""
    return _BAR_RUN.sub("|", _PUNCTUATION_TOKEN.sub(r"|\1|", phones)).rstrip("|")


def shorten(text: str, limit: int = 40) -> str:
    """Text quoted in a one-line message: whitespace collapsed, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
