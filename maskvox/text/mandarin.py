"""Mandarin G2P: one Chinese text segment to the reference's IPA phone string.

This reproduces `chinese_to_ipa` of the MaskGCT reference front-end (Amphion
`models/tts/maskgct/g2p/g2p/mandarin.py`) byte for byte, bugs included; each copied quirk is
marked "quirk" and refers to tests/data/reference/G2P_NOTES.md ("Mandarin"). The steps are:

1. numbers → Chinese words (cn2an), punctuation → ASCII, everything else dropped;
2. jieba words, regrouped around 一 / 不 / 儿;
3. per word: lexicon pinyin, or per char the polyphone BERT (ONNX) / the lexicon;
4. tone sandhi (3+3, 不, 一, 儿) on bopomofo;
5. bopomofo → IPA tokens joined by "|", tone arrows fused onto the finals.

Heavy libraries (jieba, cn2an, onnxruntime, numpy, pypinyin) and the data files (see
`mandarin_data`) are loaded on the first call, not at import.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maskvox.errors import TextError
from maskvox.text import mandarin_data
from maskvox.text.strings import join_punctuation

# ---------------------------------------------------------------------------------------------
# Tables (data re-expressed from the reference)

# Applied in this order: the three-dot forms become "…" only after "⋯".
_PUNCTUATION_TO_ASCII = (
    ("，", ","), ("。", "."), ("！", "!"), ("？", "?"), ("；", ";"), ("：", ":"), ("、", ","),
    ("‘", "'"), ("’", "'"), ("⋯", "…"), ("···", "…"), ("・・・", "…"), ("...", "…"),
)
# Quirk (G2P_NOTES step 2): the CJK range here ends at U+9FFF, segmentation's at U+9FA5.
_NOT_KEPT = re.compile(r"[^\u4e00-\u9fff_,.?!;:'…]")
_HAS_HANZI = re.compile(r"[\u4e00-\u9fff]")

# Pinyin tone digit → bopomofo tone mark (first tone unmarked until the very end).
_TONE_MARK = {"0": "˙", "5": "˙", "1": "", "2": "ˊ", "3": "ˇ", "4": "ˋ"}
_TONE_MARKS = "˙ˊˇˋ"
_ENDS_WITH_BOPOMOFO_LETTER = re.compile(r"([\u3105-\u3129])$")

_WORDS_WITHOUT_ER_SANDHI = frozenset({"女儿", "老儿", "男儿", "少儿", "小儿"})
_CHINESE_DIGITS = frozenset("零一二三四五六七八九十")
_YI_SANDHI_PUNCTUATION = "：，；。？！“”‘’':,;.?!()（）{}【】[]-~`、 "

# Bopomofo → IPA, applied in this order as plain substring replacements (two-letter finals before
# their letters). Finals carry a leading "|" and initials none, so "ㄅㄚ" → "p⁼|a"; ㄙ has one
# too and ㄦ none, as in the reference. ㄅㄛ etc. stay one token (G2P_NOTES step 6).
_BOPOMOFO_TO_IPA = (
    ("ㄅㄛ", "p⁼wo"), ("ㄆㄛ", "pʰwo"), ("ㄇㄛ", "mwo"), ("ㄈㄛ", "fwo"),
    ("ㄧㄢ", "|jɛn"), ("ㄩㄢ", "|ɥæn"), ("ㄧㄣ", "|in"), ("ㄩㄣ", "|ɥn"), ("ㄧㄥ", "|iŋ"),
    ("ㄨㄥ", "|ʊŋ"), ("ㄩㄥ", "|jʊŋ"), ("ㄧㄚ", "|ia"), ("ㄧㄝ", "|iɛ"), ("ㄧㄠ", "|iɑʊ"),
    ("ㄧㄡ", "|ioʊ"), ("ㄧㄤ", "|iɑŋ"), ("ㄨㄚ", "|ua"), ("ㄨㄛ", "|uo"), ("ㄨㄞ", "|uaɪ"),
    ("ㄨㄟ", "|ueɪ"), ("ㄨㄢ", "|uan"), ("ㄨㄣ", "|uən"), ("ㄨㄤ", "|uɑŋ"), ("ㄩㄝ", "|ɥɛ"),
    ("ㄅ", "p⁼"), ("ㄆ", "pʰ"), ("ㄇ", "m"), ("ㄈ", "f"), ("ㄉ", "t⁼"), ("ㄊ", "tʰ"), ("ㄋ", "n"),
    ("ㄌ", "l"), ("ㄍ", "k⁼"), ("ㄎ", "kʰ"), ("ㄏ", "x"), ("ㄐ", "tʃ⁼"), ("ㄑ", "tʃʰ"), ("ㄒ", "ʃ"),
    ("ㄓ", "ts`⁼"), ("ㄔ", "ts`ʰ"), ("ㄕ", "s`"), ("ㄖ", "ɹ`"), ("ㄗ", "ts⁼"), ("ㄘ", "tsʰ"),
    ("ㄙ", "|s"), ("ㄚ", "|a"), ("ㄛ", "|o"), ("ㄜ", "|ə"), ("ㄝ", "|ɛ"), ("ㄞ", "|aɪ"),
    ("ㄟ", "|eɪ"), ("ㄠ", "|ɑʊ"), ("ㄡ", "|oʊ"), ("ㄢ", "|an"), ("ㄣ", "|ən"), ("ㄤ", "|ɑŋ"),
    ("ㄥ", "|əŋ"), ("ㄦ", "əɹ"), ("ㄧ", "|i"), ("ㄨ", "|u"), ("ㄩ", "|ɥ"),
    # Tones: 1 →, 2 ↑, 3 ↓↑, 4 ↓, neutral nothing; each closes its token.
    ("ˉ", "→|"), ("ˊ", "↑|"), ("ˇ", "↓↑|"), ("ˋ", "↓|"), ("˙", "|"),
)
# Apical vowel: a sibilant initial directly followed by a tone arrow (or the end) gets "ɹ".
# Quirk (G2P_NOTES step 7): a neutral-tone 子/思 is followed by "|", so it keeps the bare initial.
_APICAL_INITIAL = re.compile(r"((?:[sɹ]`|s)[⁼ʰ]?)(?=[→↓↑ ]|$)")
# Final clean-up: one leading "|", and every char that is not a word char, "_", punctuation,
# "|", a tone arrow, ⁼, ʰ or `.
_LEADING_BAR_OR_FOREIGN = re.compile(r"^\||[^\w\s_,.?!;:'…|→↓↑⁼ʰ`]")


# ---------------------------------------------------------------------------------------------
# 1. Text normalisation

def spell_out_numbers(text: str) -> str:
    """Digits, dates, percentages, fractions → Chinese words, as cn2an 0.5.22 reads them.

    Quirk: cn2an 0.5.22 keeps 零 after 万/亿 (3503000 → 三百五十万零三千); 0.5.24 does not.
    """
    import cn2an

    try:
        return cn2an.transform(text, "an2cn")
    except Exception as err:  # cn2an raises bare ValueErrors etc. on numbers it cannot read
        raise TextError(f"cannot read the numbers in {text!r}: {err}") from err


def normalize(text: str) -> str:
    """Chinese punctuation → ASCII, then keep only hanzi, `_` and `,.?!;:'…` (whitespace goes too).

    The replacements come first, so ". . ." loses its spaces but does not become "…".
    """
    for chinese, ascii_form in _PUNCTUATION_TO_ASCII:
        text = text.replace(chinese, ascii_form)
    return _NOT_KEPT.sub("", text)


# ---------------------------------------------------------------------------------------------
# 2. Word regrouping after jieba

def merge_yi(words: list[str]) -> list[str]:
    """Glue "A 一 A" into one word, then glue a lone 一 onto the next word.

    Quirk: the reference writes the merged word at `merged[i - 1]`, i.e. it indexes its output
    with the input position, and appends "一", "B" when that index is past its end. So only the
    first "A 一 A" becomes one word; a later "B 一 B" stays "B", "一", "B" (then "B", "一B").
    """
    merged: list[str] = []
    for i, word in enumerate(words):
        repeats_around = 0 < i < len(words) - 1 and word == "一" and words[i - 1] == words[i + 1]
        if repeats_around:
            if i - 1 < len(merged):
                merged[i - 1] = merged[i - 1] + "一" + merged[i - 1]
            else:
                merged += [word, words[i + 1]]
        elif i >= 2 and words[i - 1] == "一" and words[i - 2] == word:
            continue  # the second A of an "A 一 A" handled one step earlier
        else:
            merged.append(word)
    glued: list[str] = []
    for word in merged:
        if glued and glued[-1] == "一":
            glued[-1] += word
        else:
            glued.append(word)
    return glued


def merge_bu(words: list[str]) -> list[str]:
    """Glue 不 onto the next word (punctuation included).

    Quirk (G2P_NOTES step 3): a text-final 不 has no next word and is dropped, and of a run
    "不 不 X" only one 不 survives.
    """
    merged = []
    previous = ""
    for word in words:
        if word != "不":
            if previous == "不":
                word = "不" + word
            merged.append(word)
        previous = word
    return merged


def merge_er(words: list[str]) -> list[str]:
    """Glue a separate 儿 onto the previous word (花 儿 → 花儿)."""
    merged: list[str] = []
    for word in words:
        if merged and word == "儿":
            merged[-1] += word
        else:
            merged.append(word)
    return merged


# ---------------------------------------------------------------------------------------------
# 4. Tone sandhi on bopomofo syllables ("ㄅㄨˋ"; first tone has no mark yet). All edit in place.

def change_tone(syllable: str, mark: str) -> str:
    """Replace the syllable's tone mark (or add one); mark "" makes it first tone."""
    if syllable[-1] in _TONE_MARKS:
        return syllable[:-1] + mark
    return syllable + mark


def third_tone_sandhi(word: str, syllables: list[str]) -> None:
    """3+3 → 2+3 in two-char words.

    Quirk (G2P_NOTES step 5): in three-char words 3+3+3, "ˊ" is *appended* to the first two
    instead of replacing "ˇ", which later yields the tokens "X↓↑" and a stray "↑".
    """
    if len(word) == 3 and all(syllables[i][-1] == "ˇ" for i in (0, 1, -1)):
        syllables[0] += "ˊ"
        syllables[1] += "ˊ"
    if len(word) == 2 and syllables[0][-1] == "ˇ" and syllables[-1][-1] == "ˇ":
        syllables[0] = syllables[0][:-1] + "ˊ"


def bu_sandhi(word: str, syllables: list[str]) -> None:
    """不 before a fourth tone → second tone; X不X → neutral 不."""
    if set(word) == {"不"} or word == "不字":
        return
    if len(word) == 3 and word[1] == "不" and syllables[1][:-1] == "ㄅㄨ":
        syllables[1] = syllables[1][:-1] + "˙"
        return
    for i, char in enumerate(word):
        next_is_fourth = i + 1 < min(len(word), len(syllables)) and syllables[i + 1][-1:] == "ˋ"
        if char == "不" and next_is_fourth:
            syllables[i] = syllables[i][:-1] + "ˊ"


def yi_sandhi(word: str, syllables: list[str]) -> None:
    """一: first tone in numbers and ordinals, neutral in A一A, else 2nd before a 4th tone, else 4th."""
    if "一" in word and any(char.isnumeric() for char in word if char != "一"):
        # 一 inside a number (一千, 十一, 二百一十): first tone, except a leading 一 before a
        # non-digit (一百, 一万) which follows the ordinary 2nd/4th rule.
        for i, char in enumerate(word):
            if i == 0 and char == "一" and len(word) > 1 and word[1] not in _CHINESE_DIGITS:
                rising = len(syllables[0]) > 0 and syllables[1][-1] in "ˋ˙"
                syllables[0] = change_tone(syllables[0], "ˊ" if rising else "ˋ")
            elif char == "一":
                syllables[i] = change_tone(syllables[i], "")
    elif len(word) == 3 and word[1] == "一" and word[0] == word[-1]:
        syllables[1] = change_tone(syllables[1], "˙")
    elif word.startswith("第一"):
        syllables[1] = change_tone(syllables[1], "")
    elif word.startswith(("一月", "一日", "一号")):
        syllables[0] = change_tone(syllables[0], "")
    else:
        for i, char in enumerate(word):
            if char != "一" or i + 1 >= len(word):
                continue
            if i + 1 < len(syllables) and syllables[i + 1][-1:] == "ˋ":
                syllables[i] = change_tone(syllables[i], "ˊ")
            elif word[i + 1] not in _YI_SANDHI_PUNCTUATION:
                syllables[i] = change_tone(syllables[i], "ˋ")


def er_sandhi(word: str, syllables: list[str]) -> None:
    """A word ending in 儿 (花儿, 玩儿) reads it neutral, except 女儿 and the like."""
    if len(word) > 1 and word[-1] == "儿" and word not in _WORDS_WITHOUT_ER_SANDHI:
        syllables[-1] = change_tone(syllables[-1], "˙")


# ---------------------------------------------------------------------------------------------
# 5. Bopomofo → IPA tokens

def bopomofo_to_phones(text: str) -> str:
    """"ㄋㄧˇ|ㄏㄠˇ|!" style text → the final "|"-separated IPA phone string."""
    for bopomofo, ipa in _BOPOMOFO_TO_IPA:
        text = text.replace(bopomofo, ipa)
    text = _APICAL_INITIAL.sub(r"\1ɹ", text)
    return join_punctuation(_LEADING_BAR_OR_FOREIGN.sub("", text))


# ---------------------------------------------------------------------------------------------
# The polyphone model

class PolyphoneModel:
    """The reference's BERT polyphone classifier (ONNX), run on CPU with one thread.

    Input: [CLS] + one vocab.txt id per char (BertTokenizer.convert_tokens_to_ids: a plain
    lookup, [UNK] otherwise), no [SEP], int32 [1, n+1]. Output "outputs": [1, n, 391] logits
    (the model drops CLS). Class k reads polydict.json[str(k+1)], e.g. "的{de5}".
    """

    def __init__(self, folder: Path):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self._session = onnxruntime.InferenceSession(
            str(folder / "poly_bert_model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
        )
        with open(folder / "vocab.txt", encoding="utf-8") as stream:
            # BertTokenizer's load_vocab: one token per line, the later of duplicates wins.
            self._token_ids = {line.rstrip("\n"): index for index, line in enumerate(stream)}
        self._unknown_id = self._token_ids["[UNK]"]
        self._cls_id = self._token_ids["[CLS]"]
        labels = json.loads((folder / "polydict.json").read_text(encoding="utf-8"))
        # Quirk: the argmax runs over all 391 classes, not just the char's own readings, and the
        # reference keeps whatever pinyin the winning label carries ("乐{yve4}"[2:-1] = "yve4").
        self._class_pinyin = [labels[str(k + 1)][2:-1] for k in range(len(labels))]

    def token_ids(self, text: str) -> list[int]:
        return [self._cls_id] + [self._token_ids.get(char, self._unknown_id) for char in text]

    def predict(self, text: str) -> list[str]:
        """Pinyin with tone digit ("de5") that the model picks at every char position of `text`."""
        import numpy as np

        input_ids = np.asarray([self.token_ids(text)], dtype=np.int32)
        try:
            (logits,) = self._session.run(["outputs"], {"input_ids": input_ids})
        except Exception as err:  # e.g. more chars than the model's 512 positions
            raise TextError(f"the Mandarin polyphone model cannot read a {len(text)}-char segment: {err}") from err
        return [self._class_pinyin[k] for k in logits[0].argmax(axis=-1)]


# ---------------------------------------------------------------------------------------------
# The front-end

@dataclass
class _Resources:
    lexicon: dict[str, str]  # word → "pin1 yin1"
    polyphonic_chars: frozenset[str]
    pinyin_to_bopomofo: dict[str, str]  # toneless pinyin → bopomofo letters
    polyphone_model: PolyphoneModel
    jieba: Any  # a private jieba.Tokenizer with the default dictionary


def _read_tab_separated(path: Path) -> dict[str, str]:
    # Same as the reference: strip the line, exactly one tab, later duplicates win.
    table = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            key, value = line.strip().split("\t")
            table[key] = value
    return table


def _load_resources(folder: Path) -> _Resources:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict ..." chatter
    segmenter = jieba.Tokenizer()
    segmenter.initialize()
    with open(folder / "polychar.txt", encoding="utf-8") as stream:
        polyphonic = frozenset(line.strip("\n") for line in stream)
    return _Resources(
        lexicon=_read_tab_separated(folder / "chinese_lexicon.txt"),
        polyphonic_chars=polyphonic,
        pinyin_to_bopomofo=_read_tab_separated(folder / "pinyin_2_bpmf.txt"),
        polyphone_model=PolyphoneModel(folder),
        jieba=segmenter,
    )


class MandarinG2P:
    """`MandarinG2P()(segment)` → the reference `chinese_to_ipa(segment, ...)` phone string.

    Construction is cheap; the data (about 250 MB in memory once loaded) is read on the first
    call. Thread-safe and deterministic.
    """

    def __init__(self, data_dir: Path | None = None):
        self._data_dir = Path(data_dir) if data_dir is not None else None
        self._resources: _Resources | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the data now (otherwise done by the first call)."""
        self._loaded()

    def _loaded(self) -> _Resources:
        with self._lock:
            if self._resources is None:
                self._resources = _load_resources(mandarin_data.require_files(self._data_dir))
            return self._resources

    def __call__(self, segment: str) -> str:
        text = normalize(spell_out_numbers(segment.strip()))
        return bopomofo_to_phones(self.to_bopomofo(text))

    def words(self, text: str) -> list[str]:
        """jieba words of normalized text, regrouped around 一, 不 and 儿 (in that order)."""
        words = self._loaded().jieba.lcut(text, cut_all=False)
        return merge_er(merge_bu(merge_yi(words)))

    def to_bopomofo(self, text: str) -> str:
        """Normalized text → "ㄋㄧˇ|ㄏㄠˇ|!" style syllables and punctuation, joined by "|"."""
        predictions: list[str] | None = None

        def predict(position: int) -> str:
            # The reference runs the model once per polyphonic char, always on the whole
            # normalized segment; the input is the same each time, so one run serves all.
            nonlocal predictions
            if predictions is None:
                predictions = self._loaded().polyphone_model.predict(text)
            if position >= len(predictions):  # only after merge_yi over-counts runs of 一
                raise TextError(f"the Mandarin G2P lost track of the chars of {text!r}")
            return predictions[position]

        out = ""
        position = 0
        for word in self.words(text):
            syllables = self._word_syllables(word, position, predict)
            # Quirk: positions advance by the regrouped words, so after a dropped 不 the
            # model is read one char too early (G2P_NOTES step 3).
            position += len(word)
            third_tone_sandhi(word, syllables)
            bu_sandhi(word, syllables)
            yi_sandhi(word, syllables)
            er_sandhi(word, syllables)
            if not _HAS_HANZI.search(word):  # punctuation
                out += "|" + word
                continue
            syllables = [_ENDS_WITH_BOPOMOFO_LETTER.sub(r"\1ˉ", s) for s in syllables]
            out += ("|" if out else "") + "|".join(syllables)
        return out

    def _word_syllables(self, word: str, position: int, predict) -> list[str]:
        res = self._loaded()
        if word in res.lexicon and word not in res.polyphonic_chars:
            return self._lexicon_word_syllables(word)
        syllables = []
        for offset, char in enumerate(word):
            if char in res.polyphonic_chars:
                syllables.append(self._pinyin_to_bopomofo(predict(position + offset)))
            elif char in res.lexicon:
                syllables.append(self._pinyin_to_bopomofo(res.lexicon[char]))
            else:
                syllables.append(char)  # punctuation, or a hanzi the lexicon lacks: kept as is
        return syllables

    def _lexicon_word_syllables(self, word: str) -> list[str]:
        res = self._loaded()
        syllables = []
        for pinyin in res.lexicon[word].split(" "):
            if pinyin[:-1] in res.pinyin_to_bopomofo and pinyin[-1] in _TONE_MARK:
                syllables.append(self._pinyin_to_bopomofo(pinyin))
            else:
                # Quirk: for each unreadable syllable (only "liu6" in 第六个空 / 第六空) the
                # reference appends pypinyin's bopomofo of the *whole word*.
                from pypinyin import BOPOMOFO, lazy_pinyin

                syllables += lazy_pinyin(word, BOPOMOFO)
        return syllables

    def _pinyin_to_bopomofo(self, pinyin: str) -> str:
        """"hao3" → "ㄏㄠˇ" ("ma1" → "ㄇㄚ": the first-tone mark ˉ is added at the end)."""
        return self._loaded().pinyin_to_bopomofo[pinyin[:-1]] + _TONE_MARK[pinyin[-1]]
