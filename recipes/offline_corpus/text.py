"""Sentences for the offline voices to read: Debian's fortune databases, and game dialogue.

Used by corpus v2 (`build.py`, English and German) and corpus v3 (`build_v3.py`, also Spanish,
Italian and Czech fortunes; French and Dutch from the Fish Fillets NG scripts, see `texts_v3`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from maskvox.errors import UserError

FORTUNE_DIR = Path("/usr/share/games/fortunes")


@dataclass(frozen=True)
class TextSource:
    directory: Path
    apt_package: str
    letters: str  # the letters a sentence may use, as the body of a regex character class
    language_name: str
    suffix: str = ""  # the databases' file suffix ("" : files without one)
    exclude: tuple[str, ...] = ()  # database names to skip (another language's)


_CS = "A-Za-záčďéěíňóřšťúůýžÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ"
TEXT_SOURCES = {
    "en": TextSource(FORTUNE_DIR, "fortunes", "A-Za-z", "English"),
    "de": TextSource(FORTUNE_DIR / "de", "fortunes-de", "A-Za-zäöüÄÖÜß", "German"),
    "es": TextSource(FORTUNE_DIR / "es", "fortunes-es", "A-Za-záéíóúüñÁÉÍÓÚÜÑ¿¡", "Spanish", ".fortunes"),
    "it": TextSource(FORTUNE_DIR / "it", "fortunes-it", "A-Za-zàèéìíòóùúÀÈÉÌÍÒÓÙÚ", "Italian"),
    # fortunes-cs is Czech and Slovak: klasik-sk is Slovak, and Slovak letters (ä ô ľ ĺ ŕ) are
    # not in the Czech class, which drops most stray Slovak sentences elsewhere.
    "cs": TextSource(FORTUNE_DIR / "cs", "fortunes-cs", _CS, "Czech", "", ("klasik-sk",)),
}
SHORT_WORDS = (2, 3)  # a short sentence, typically under two seconds of speech
NORMAL_WORDS = (4, 24)

# A sentence ends at . ? or ! before a capital (after an optional ¿ ¡), except after a title
# or an initial: "Dr. No", "J. R. R. Tolkien" ("I" is a word, not an initial).
END_MARK = re.compile(r"(?<=[.?!])\s+")
NOT_AN_END = re.compile(r"(\b(Mr|Mrs|Ms|Dr|St|Prof|Nr|Hr|Fr|Sr|Sra|Srta|Sig|Dott)|\b[A-HJ-Z])\.$")
ATTRIBUTION = re.compile(r"^\s*--")  # "\t\t-- Mark Twain"


def split_sentences(text: str) -> list[str]:
    sentences: list[str] = []
    for piece in END_MARK.split(text):
        starts_capital = piece.lstrip("¿¡\"'")[:1].isupper()
        if sentences and (NOT_AN_END.search(sentences[-1]) or not starts_capital):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return sentences


def sentence_filter(letters: str):
    """A test for a clean sentence of 2-24 words: only the language's letters and plain
    punctuation (no digits, quotes or symbols an engine would spell out), no "NAME:" label."""
    clean = re.compile(rf"^[{letters}][{letters} ,.'?!;:-]*[.?!]$")
    label = re.compile(r"^\S+:")

    def usable(sentence: str) -> bool:
        words = len(sentence.split())
        return (
            SHORT_WORDS[0] <= words <= NORMAL_WORDS[1]
            and bool(clean.match(sentence))
            and not label.match(sentence)
            and not NOT_AN_END.search(sentence)  # a fragment cut at "Dr." or an initial
        )

    return usable


def clean_sentences(passages, usable) -> list[str]:
    """Each passage whole when usable, else its usable sentences; deduplicated, in order."""
    seen, sentences = set(), []
    for passage in passages:
        text = " ".join(passage.split())
        for sentence in [text] if usable(text) else split_sentences(text):
            if usable(sentence) and sentence not in seen:
                seen.add(sentence)
                sentences.append(sentence)
    return sentences


def fortune_files(source: TextSource) -> list[Path]:
    """The databases of one language. A link into another folder is skipped: fortunes-it links
    its Italian databases into the English folder."""
    files = []
    for path in sorted(source.directory.iterdir()):
        name = path.name[: -len(source.suffix)] if source.suffix and path.name.endswith(source.suffix) else None
        if source.suffix and name is None or not source.suffix and path.suffix:
            continue
        here = path.resolve().parent == source.directory.resolve()
        if path.is_file() and here and (name or path.name) not in source.exclude:
            files.append(path)
    return files


def fortune_sentences(language: str = "en") -> list[str]:
    """Clean sentences from one language's fortune databases, deduplicated, in a fixed order.

    A fortune that is one clean line of at most NORMAL_WORDS[1] words is kept whole; longer or
    partly unusable ones give their clean sentences.
    """
    source = TEXT_SOURCES[language]
    if not source.directory.is_dir():
        raise UserError(
            f"no {source.language_name} fortune databases in {source.directory}: "
            f"install them with `apt-get install {source.apt_package}`"
        )
    passages = []
    for path in fortune_files(source):
        for entry in path.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            passages.append(" ".join(line for line in entry.splitlines() if not ATTRIBUTION.match(line)))
    sentences = clean_sentences(passages, sentence_filter(source.letters))
    if not sentences:
        raise UserError(f"no usable sentences in {source.directory}: reinstall `{source.apt_package}`")
    return sentences


def is_short(sentence: str) -> bool:
    return len(sentence.split()) <= SHORT_WORDS[1]


def deal(pool: list[str], voice_index: int, count: int) -> list[str]:
    """The `voice_index`-th hand of `count` sentences; wraps around (reusing) past the end."""
    start = voice_index * count
    return [pool[(start + k) % len(pool)] for k in range(count)] if pool else []


def deal_texts(sentences: list[str], speakers: list[tuple[str, int]], seed: int, key: str,
               short_share: float) -> dict[str, list[str]]:
    """Each speaker's sentences, `count` of them: a seeded mix of short and normal ones, dealt
    out in turn, so no two speakers read the same sentence until the pool runs out (then the
    deal wraps around, deterministically)."""
    if not sentences:
        raise ValueError(f"no sentences to deal for {key}")
    sentences = list(sentences)
    random.Random(f"{seed}:{key}").shuffle(sentences)
    short = [s for s in sentences if is_short(s)]
    normal = [s for s in sentences if not is_short(s)] or short
    texts, cursor = {}, {"short": 0, "normal": 0}

    def take(pool: list[str], name: str, count: int) -> list[str]:
        start = cursor[name]
        cursor[name] += count
        return [pool[(start + k) % len(pool)] for k in range(count)]

    for speaker, count in speakers:
        n_short = min(round(count * short_share), count) if short else 0
        chosen = take(short, "short", n_short) + take(normal, "normal", count - n_short)
        random.Random(f"{seed}:{speaker}").shuffle(chosen)  # short ones spread through
        texts[speaker] = chosen
    return texts
