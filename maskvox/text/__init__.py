"""Text front-end: normalisation, per-language G2P, the phone vocabulary.

Importing this package loads no G2P tool: phonemizer/espeak, jieba and the polyphone model,
and OpenJTalk load when their language is first used.
"""

from maskvox.text.frontend import (
    NORMALIZATIONS,
    SUPPORTED_LANGUAGES,
    Phonemes,
    TextFrontEnd,
    UnknownPhoneWarning,
    check_language,
)
from maskvox.text.vocab import PAD_ID, PhoneVocabulary

__all__ = [
    "NORMALIZATIONS", "PAD_ID", "SUPPORTED_LANGUAGES", "Phonemes", "PhoneVocabulary", "TextFrontEnd",
    "UnknownPhoneWarning", "check_language",
]
