"""Text normalisation for the `full` front-end mode: written forms -> the words a speaker says.

`normalize_text(text, lang)` runs before the reference G2P pipeline (`reference/G2P_NOTES.md`).
It rewrites only what that pipeline reads badly or deletes: numbers with thousand separators,
ordinals, decimals, currency, percentages, dates, times, common abbreviations and acronyms.
Text with nothing to rewrite comes back unchanged, byte for byte; a span that cannot be read
(say, a number too large for num2words) is left as written, so any text gives a str.

Each language lives in its own module, imported on first use; num2words, inflect and cn2an are
imported only when a rule needs them, so importing this package is cheap.
"""

from __future__ import annotations

import importlib

from maskvox.errors import UnsupportedLanguageError

SUPPORTED_LANGUAGES = ("en", "zh", "ja", "ko", "fr", "de")

__all__ = ["SUPPORTED_LANGUAGES", "normalize_text"]


def normalize_text(text: str, lang: str) -> str:
    """Rewrite `text` (language `lang`) into words for the reference G2P of that language."""
    if lang not in SUPPORTED_LANGUAGES:
        raise UnsupportedLanguageError(
            f"no text normaliser for language {lang!r}; supported: {', '.join(SUPPORTED_LANGUAGES)}")
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    return importlib.import_module(f"{__name__}.{lang}").normalize(text)
