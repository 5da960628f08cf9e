"""Japanese as the reference reads it: OpenJTalk readings -> mora phonemes -> IPA phones.

The MaskGCT reference (Amphion `g2p/japanese.py`, `reference/G2P_NOTES.md` "Japanese") runs
OpenJTalk's front-end (pyopenjtalk, stock naist-jdic dictionary), takes each word's katakana
pronunciation, splits it into morae, and writes each phoneme as one IPA token. The official T2S
was trained on exactly these tokens, so the reference's quirks are kept:

* no word-boundary tokens, no tones: the words' phones are simply concatenated;
* ツ gives two tokens `tsɯ|ɯ`; デュ/テュ give `dej`/`tej`; ー repeats the previous vowel;
* は etc. give a *decomposed* `ç` (c + U+0327, id 323), not U+00E7 (id 68, espeak's);
* characters OpenJTalk cannot read are read by pykakasi; an iteration mark with nothing before
  it (`々` alone) has no reading at all, and the reference fails there;
* the reference also derives accent tones from OpenJTalk's full-context labels, checks them
  against the kana and fails when they disagree; the tones never reach its output, but its
  failures are reproduced (`_check_like_reference`) so that we fail exactly where it fails.

pyopenjtalk and pykakasi are imported on the first call, never at `import maskvox`. The
dictionary is always the local Debian one: pyopenjtalk would otherwise download one.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from maskvox.errors import FrontEndUnavailableError, NothingToPronounceError, TextError
from maskvox.text.strings import shorten

# Debian package `open-jtalk-mecab-naist-jdic`: the stock Open JTalk 1.11 dictionary the
# reference's phones were made with (pyopenjtalk-plus's modified one changes 11 of 80 results).
# `JapaneseG2P(dictionary_dir=...)` or OPEN_JTALK_DICT_DIR override it.
DEFAULT_DICTIONARY_DIR = Path("/var/lib/mecab/dic/open-jtalk/naist-jdic")

# The reference's punctuation tokens (each is one phone).
PUNCTUATION = frozenset(",.!?:;'…")

# --- text normalisation (the reference's `replace_punctuation`) -----------------------------

# Applied left to right as one alternation, so "・・・" wins over "・" and "···" over "·".
_PUNCTUATION_MAP = {
    "：": ":", "；": ";", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "．": ".",
    "⋯": "…", "···": "…", "・・・": "…", "·": ",", "・": ",", "•": ",", "、": ",", "$": ".",
    "‘": "'", "’": "'",
}
_PUNCTUATION_PATTERN = re.compile("|".join(re.escape(mark) for mark in _PUNCTUATION_MAP))
# Everything but kana, CJK ideographs, 々, Latin and full-width Latin letters, Greek and our
# punctuation is deleted from each word (digits too: OpenJTalk has already spelled numbers out).
_UNREADABLE = re.compile(
    "[^\u3040-\u309f\u30a0-\u30ff\u4e00-\u9fff\u3400-\u4dbf\u3005"
    "A-Za-z\uff21-\uff3a\uff41-\uff5a\u0370-\u03ff\u1f00-\u1fff,.!?:;'…]+"
)
# A word whose OpenJTalk reading is `、` and that normalises to one of these is punctuation
# (or nothing); any other such word was unreadable and goes to pykakasi.
_PUNCTUATION_WORDS = {".", ",", "!", "'", "-", "?", ":", ";", "…", ""}
# OpenJTalk keeps these as separate nodes; the reference glues each to the word before it and
# keeps that word's reading, so the repetition itself is not pronounced.
_ITERATION_MARKS = {"々", "ゝ", "ヽ", "ゞ", "ヾ", "゛"}

# --- kana -> mora phonemes (the reference's `_mora_list_minimum` + `_mora_list_additional`) ---

# "kana consonant vowel" or "kana vowel"; longer kana are matched first.
_MORA_TABLE = """
ヴォ v o|ヴェ v e|ヴィ v i|ヴァ v a|ヴ v u|ン N|ワ w a|ロ r o|レ r e
ル r u|リョ ry o|リュ ry u|リャ ry a|リェ ry e|リ r i|ラ r a|ヨ y o
ユ y u|ヤ y a|モ m o|メ m e|ム m u|ミョ my o|ミュ my u|ミャ my a
ミェ my e|ミ m i|マ m a|ポ p o|ボ b o|ホ h o|ペ p e|ベ b e|ヘ h e
プ p u|ブ b u|フォ f o|フェ f e|フィ f i|ファ f a|フ f u|ピョ py o
ピュ py u|ピャ py a|ピェ py e|ピ p i|ビョ by o|ビュ by u|ビャ by a
ビェ by e|ビ b i|ヒョ hy o|ヒュ hy u|ヒャ hy a|ヒェ hy e|ヒ h i|パ p a
バ b a|ハ h a|ノ n o|ネ n e|ヌ n u|ニョ ny o|ニュ ny u|ニャ ny a
ニェ ny e|ニ n i|ナ n a|ドゥ d u|ド d o|トゥ t u|ト t o|デョ dy o
デュ dy u|デャ dy a|ディ d i|デ d e|テョ ty o|テュ ty u|テャ ty a|ティ t i
テ t e|ツォ ts o|ツェ ts e|ツィ ts i|ツァ ts a|ツ ts u|ッ q|チョ ch o
チュ ch u|チャ ch a|チェ ch e|チ ch i|ダ d a|タ t a|ゾ z o|ソ s o|ゼ z e
セ s e|ズィ z i|ズ z u|スィ s i|ス s u|ジョ j o|ジュ j u|ジャ j a|ジェ j e
ジ j i|ショ sh o|シュ sh u|シャ sh a|シェ sh e|シ sh i|ザ z a|サ s a
ゴ g o|コ k o|ゲ g e|ケ k e|グヮ gw a|グ g u|クヮ kw a|ク k u|ギョ gy o
ギュ gy u|ギャ gy a|ギェ gy e|ギ g i|キョ ky o|キュ ky u|キャ ky a
キェ ky e|キ k i|ガ g a|カ k a|オ o|エ e|ウォ w o|ウェ w e|ウィ w i|ウ u
イェ y e|イ i|ア a|ヴョ by o|ヴュ by u|ヴャ by a|ヲ o|ヱ e|ヰ i|ヮ w a
ョ y o|ュ y u|ヅ z u|ヂ j i|ヶ k e|ャ y a|ォ o|ェ e|ゥ u|ィ i|ァ a
"""
_MORA_PHONEMES = {
    entry.split(" ", 1)[0]: entry.split(" ", 1)[1]
    for entry in _MORA_TABLE.replace("\n", "|").split("|")
    if entry
}
_MORA_PATTERN = re.compile(
    "|".join(re.escape(kana) for kana in sorted(_MORA_PHONEMES, key=len, reverse=True))
)
_KATAKANA_ONLY = re.compile("[\u30a0-\u30ff]+")
# A phoneme character followed by long-vowel marks: each ー repeats that character. (ー is
# itself a word character, so a ー with nothing before it in the word stays, see below.)
_LONG_VOWEL = re.compile(r"(\w)(ー*)")

# --- mora phoneme -> IPA token (the reference's `jp_xphone2ipa`) -------------------------------

_C_CEDILLA = "c\u0327"  # decomposed ç: the vocabulary's Japanese one (id 323)
_IPA = {
    "a": "a", "i": "i", "u": "ɯ", "e": "e", "o": "o",
    "a:": "aː", "i:": "iː", "u:": "ɯː", "e:": "eː", "o:": "oː",
    "k": "k", "s": "s", "t": "t", "n": "n", "h": _C_CEDILLA, "f": "ɸ", "m": "m", "y": "j",
    "r": "ɾ", "w": "ɰᵝ", "N": "ɴ", "g": "g", "j": "dʑ", "z": "z", "d": "d", "b": "b", "p": "p",
    "q": "q", "v": "v", ":": ":",
    "by": "bj", "ch": "tɕ", "dy": "dej", "ty": "tej", "gy": "gj", "gw": "gɯ",
    "hy": _C_CEDILLA + "j", "ky": "kj", "kw": "kɯ", "my": "mj", "ny": "nj", "py": "pj",
    "ry": "ɾj", "sh": "ɕ",
    "ts": "tsɯ",  # the reference's table gives ツ its vowel twice: `tsɯ|ɯ`
}
_WORD_BREAK = "▁"

# OpenJTalk copies the text into an 8192-byte buffer after widening ASCII to 3-byte full-width
# characters; longer text overflows it and kills the process.
_OPENJTALK_BUFFER_BYTES = 8192
_SENTENCE_BREAK = re.compile(r"(?<=[。！？!?．])")
_CLAUSE_BREAK = re.compile(r"(?<=[、，,；;：:])")


class JapaneseG2P:
    """text -> the reference's Japanese phone string, e.g. "今日は" -> "kj|o|o|ɰᵝ|a"."""

    def __init__(self, dictionary_dir: str | os.PathLike | None = None):
        self.dictionary_dir = Path(dictionary_dir) if dictionary_dir else None
        self._openjtalk = None
        self._kakasi = None
        self._lock = threading.Lock()

    def __call__(self, text: str) -> str:
        sentence = _clean(text)
        if not sentence:
            raise NothingToPronounceError("the Japanese text is empty")
        # OpenJTalk reads about 2,700 characters at a time: a longer text is read in runs of
        # sentences, and a run with nothing to pronounce is left out unless every run is.
        phones = []
        for run in _fitting_runs(sentence):
            try:
                phones.append(self._read_run(run, text))
            except NothingToPronounceError:
                if run == sentence:
                    raise
        if not phones:
            raise NothingToPronounceError(f"nothing to pronounce in the Japanese text {shorten(text)!r}")
        return "|".join(phones)

    def _read_run(self, sentence: str, text: str) -> str:
        openjtalk = self._get_openjtalk()
        words = self._words(openjtalk.run_frontend(sentence))
        phonemes = [_kana_to_phonemes(reading, surface) for reading, surface, _ in words]
        stream = _join_words(_resolve_leading_long_marks(phonemes))
        if any(phoneme not in PUNCTUATION and phoneme != _WORD_BREAK for phoneme in stream):
            # (Punctuation alone can never fail the check; OpenJTalk would warn "No phoneme".)
            _check_like_reference(stream, openjtalk.make_label([node for _, _, node in words]))
        phones = _ipa_phone_string(stream)
        if not phones:
            raise NothingToPronounceError(
                f"nothing to pronounce in the Japanese text {shorten(text)!r}"
            )
        return phones

    # -- OpenJTalk nodes -> (reading, surface, node) per word ------------------------------

    def _words(self, nodes: list[dict]) -> list[tuple[str, str, dict]]:
        words = []
        index = 0
        while index < len(nodes):
            node = dict(nodes[index])  # copied: a pykakasi reading is written into it
            surface = node["string"]
            if index + 1 < len(nodes) and nodes[index + 1]["string"] in _ITERATION_MARKS:
                surface += nodes[index + 1]["string"]
                index += 1
            index += 1
            word = self._word(node, surface)
            if word is not None:
                words.append(word)
        return words

    def _word(self, node: dict, surface: str) -> tuple[str, str, dict] | None:
        """One word's katakana reading, or None for a word that normalises to nothing."""
        word = _normalise_word(surface)
        reading = node["pron"].replace("’", "")  # ’ only marks a devoiced vowel
        if not reading:
            raise TextError(f"OpenJTalk gave no reading for {surface!r} in the Japanese text")
        if reading == "、":  # OpenJTalk's reading for punctuation and for what it cannot read
            if word not in _PUNCTUATION_WORDS:
                word = self._kakasi_reading(word, surface)
                # The label step below reads the node again, so it must see this reading too.
                node["pron"] = word
            reading = word
        elif reading == "？":
            if word != "?":  # e.g. "?ゞ": the reference stops on an assertion here
                raise TextError(f"cannot read {surface!r} in the Japanese text")
            reading = "?"
        if word == "":
            return None
        return reading, surface, node

    def _kakasi_reading(self, word: str, surface: str) -> str:
        # The reference keeps only the first of pykakasi's segments.
        segments = self._get_kakasi().convert(word)
        if not segments:
            raise TextError(f"cannot read {surface!r} in the Japanese text")
        return segments[0]["kana"]

    # -- lazy tools ---------------------------------------------------------------------------

    def _get_openjtalk(self):
        with self._lock:
            if self._openjtalk is None:
                self._openjtalk = _load_openjtalk(self._dictionary())
            return self._openjtalk

    def _get_kakasi(self):
        with self._lock:
            if self._kakasi is None:
                try:
                    import pykakasi
                except ImportError:
                    raise FrontEndUnavailableError(
                        "pykakasi is not installed; run: pip install pykakasi==2.3.0"
                    ) from None
                self._kakasi = pykakasi.kakasi()
            return self._kakasi

    def _dictionary(self) -> Path:
        if self.dictionary_dir is not None:
            return self.dictionary_dir
        return Path(os.environ.get("OPEN_JTALK_DICT_DIR") or DEFAULT_DICTIONARY_DIR)


def _load_openjtalk(dictionary: Path):
    missing = FrontEndUnavailableError(
        f"the Open JTalk dictionary is missing or unreadable at {dictionary}; "
        "install it with: apt-get install open-jtalk-mecab-naist-jdic"
    )
    if not (dictionary / "sys.dic").is_file():
        raise missing
    try:
        # The class, not pyopenjtalk's module functions: those download a dictionary when
        # theirs is absent, and nothing here may reach the internet.
        from pyopenjtalk.openjtalk import OpenJTalk
    except ImportError as error:
        raise FrontEndUnavailableError(
            f"pyopenjtalk is not installed ({error}); run: "
            "PIP_CONSTRAINT=<file containing 'cmake<4'> pip install pyopenjtalk==0.4.1"
        ) from None
    try:
        return OpenJTalk(dn_mecab=str(dictionary).encode("utf-8"))
    except RuntimeError:
        raise missing from None


# --- text -----------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """The reference's first step: strip, strip apostrophes, delete all whitespace."""
    if not isinstance(text, str):
        raise TextError(f"Japanese text must be a string, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start]
        raise TextError(f"the Japanese text holds an invalid character {bad!r}") from None
    return re.sub(r"\s+", "", text.strip().strip("'"))


def _fits_openjtalk(sentence: str) -> bool:
    # Upper bound of OpenJTalk's widened copy: 3 bytes per ASCII char, as is for the rest.
    return sum(max(3, len(char.encode("utf-8"))) for char in sentence) < _OPENJTALK_BUFFER_BYTES


def _fitting_runs(text: str) -> list[str]:
    """`text` (cleaned: no whitespace) in runs that each fit OpenJTalk's buffer: whole sentences
    grouped while they fit, a sentence too long cut at clause marks, a clause too long between
    characters."""
    if _fits_openjtalk(text):
        return [text]
    parts = [part for part in _SENTENCE_BREAK.split(text) if part]
    if len(parts) < 2:
        parts = [part for part in _CLAUSE_BREAK.split(text) if part]
    if len(parts) < 2:
        parts = list(text)
    runs: list[str] = []
    for part in parts:
        for piece in _fitting_runs(part):
            if runs and _fits_openjtalk(runs[-1] + piece):
                runs[-1] += piece
            else:
                runs.append(piece)
    return runs


def _normalise_word(surface: str) -> str:
    replaced = _PUNCTUATION_PATTERN.sub(lambda match: _PUNCTUATION_MAP[match.group()], surface)
    return _UNREADABLE.sub("", replaced)


# --- kana -> phonemes -----------------------------------------------------------------------


def _kana_to_phonemes(reading: str, surface: str) -> list[str]:
    """One word's katakana -> mora phonemes (`キョー` -> ky o o); punctuation passes through."""
    if reading in PUNCTUATION:
        return [reading]
    if not _KATAKANA_ONLY.fullmatch(reading):
        raise TextError(_unreadable_message(reading, surface))
    spaced = _MORA_PATTERN.sub(lambda match: " " + _MORA_PHONEMES[match.group()], reading)
    spaced = _LONG_VOWEL.sub(_repeat_for_long_marks, spaced)
    # Kana missing from the table (ヵ, ヷ, ...) stay as they are, glued to their neighbour.
    return spaced.strip().split(" ")


def _repeat_for_long_marks(match: re.Match) -> str:
    return match.group(1) + (" " + match.group(1)) * len(match.group(2))


def _unreadable_message(reading: str, surface: str) -> str:
    marks = sorted(set(surface) & _ITERATION_MARKS)
    if marks:
        return (
            f"cannot read {surface!r} in the Japanese text: the iteration mark {marks[0]!r} "
            "has no character before it to repeat"
        )
    return f"cannot read {surface!r} in the Japanese text: no kana reading (got {reading!r})"


def _resolve_leading_long_marks(words: list[list[str]]) -> list[list[str]]:
    """Replace each ー the mora step left standing, as the reference does.

    A ー opening a word becomes the previous word's whole last phoneme (for the first word,
    the *last* word's: index -1); any other becomes the last character of the phoneme before
    it. Words are rewritten in place, in order, so later words see earlier replacements.
    """
    for index, phonemes in enumerate(words):
        if phonemes[0] == "ー":
            phonemes[0] = words[index - 1][-1]
        for position, phoneme in enumerate(phonemes):
            if phoneme == "ー":
                phonemes[position] = phonemes[position - 1][-1]
    return words


def _join_words(words: list[list[str]]) -> list[str]:
    stream = []
    for phonemes in words:
        stream += phonemes + [_WORD_BREAK]
    return stream[:-1]


def _ipa_phone_string(stream: list[str]) -> str:
    """Phonemes -> `|`-joined IPA tokens, built the way the reference builds it.

    A phoneme with no IPA (an unknown kana) leaves an empty token; word breaks are spaces that
    the final `| |` -> `|` removes.
    """
    phones = ""
    for phoneme in stream:
        if phoneme in _IPA:
            phones += _IPA[phoneme]
        elif phoneme in PUNCTUATION or phoneme == _WORD_BREAK:
            phones += phoneme
        phones += "|"
    return phones.replace(_WORD_BREAK, " ").replace("| |", "|").rstrip("|")


# --- the reference's label cross-check --------------------------------------------------------


def _check_like_reference(stream: list[str], labels: list[str]) -> None:
    """Fail where the reference fails when matching the kana phonemes to OpenJTalk's labels."""
    expected = _label_phonemes(labels)
    next_index = 0
    for phoneme in stream:
        if next_index >= len(expected):
            return  # the reference checks only as far as its label phonemes go
        if phoneme == expected[next_index]:
            next_index += 1
        elif phoneme not in PUNCTUATION and phoneme != _WORD_BREAK:
            raise TextError(
                "cannot read this Japanese text as the reference does: its kana and OpenJTalk's "
                f"labels disagree at {phoneme!r} (a ー with no vowel before it, or a kana like ヵ?)"
            )


def _label_phonemes(labels: list[str]) -> list[str]:
    """The phonemes of every *completed* accent phrase, as the reference collects them.

    The reference ends a phrase at a pause or an accent-phrase border; the text's last phrase
    has neither, so it is never collected. A phrase whose pitch pattern the reference does not
    expect makes it fail.
    """
    collected, phrase, tone, last_mark = [], [], 0, ""
    for symbol in _label_symbols(labels):
        if symbol in ("_", "#"):
            _check_phrase_tones(phrase)
            collected += [phoneme for phoneme, _ in phrase]
            phrase, tone, last_mark = [], 0, ""
        elif symbol in ("[", "]"):
            if symbol != last_mark:
                tone += 1 if symbol == "[" else -1
            last_mark = symbol
        else:
            phrase.append(("q" if symbol == "cl" else symbol, tone))
    return collected


def _check_phrase_tones(phrase: list[tuple[str, int]]) -> None:
    tones = {tone for _, tone in phrase}
    if tones not in ({0}, {0, 1}, {-1, 0}):
        raise TextError(
            "cannot read this Japanese text as the reference does: "
            "OpenJTalk gave one of its accent phrases a pitch pattern the reference rejects"
        )


def _label_symbols(labels: list[str]) -> list[str]:
    """Full-context labels -> phonemes with `_` pauses and `#`/`[`/`]` accent marks."""
    symbols = []
    for index, label in enumerate(labels):
        phoneme = re.search(r"-(.*?)\+", label).group(1)
        if phoneme in ("A", "E", "I", "O", "U"):  # devoiced vowels count as plain ones
            phoneme = phoneme.lower()
        if phoneme == "sil":
            continue
        if phoneme == "pau":
            symbols.append("_")
            continue
        symbols.append(phoneme)
        mark = _accent_mark(phoneme, label, labels[index + 1])
        if mark:
            symbols.append(mark)
    return symbols


def _accent_mark(phoneme: str, label: str, next_label: str) -> str:
    accent_distance = _label_number(r"/A:([0-9\-]+)\+", label)
    mora_position = _label_number(r"\+(\d+)\+", label)
    mora_from_end = _label_number(r"\+(\d+)/", label)
    phrase_morae = _label_number(r"/F:(\d+)_", label)
    next_mora_position = _label_number(r"\+(\d+)\+", next_label)
    # `in` on a string, as in the reference: N, cl and vowels (and their substrings) end morae.
    if mora_from_end == 1 and next_mora_position == 1 and phoneme in "aeiouAEIOUNcl":
        return "#"
    falls_here = accent_distance == 0 and mora_position != phrase_morae
    if falls_here and next_mora_position == mora_position + 1:
        return "]"
    if mora_position == 1 and next_mora_position == 2:
        return "["
    return ""


def _label_number(pattern: str, label: str) -> int:
    match = re.search(pattern, label)
    return int(match.group(1)) if match else -50
