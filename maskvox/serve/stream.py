"""Streaming speech: the input said sentence by sentence, each sentence's audio sent as soon as
it is generated, so the first sound arrives after one sentence rather than the whole text.

What a stream holds, exactly: sentence i (`split_sentences`, a sentence with no letter or digit
joined to the one before) said as its own request with seed `piece_seed(seed, i)` (sentence 0:
the seed itself), its 16-bit samples in order, no crossfade. So a stream equals the
concatenation of those requests' `pcm` answers, and the same stream with the same seed gives the
same bytes. It is not the whole text's non-streamed answer, which cuts the text into pieces by
length (several sentences per piece) and crossfades them.

`wav` streams start with a 44-byte header whose RIFF and data sizes are 0xFFFFFFFF ("unknown,
read to the end"), as streaming encoders write them; `pcm` has no header; `flac` cannot be
streamed (its header holds the length)."""

from __future__ import annotations

import dataclasses
import struct

from ..pieces import piece_seed
from ..request import CloneRequest
from ..text.sentences import split_sentences

UNKNOWN_SIZE = 0xFFFFFFFF
STREAM_FORMATS = ("wav", "pcm")


def sentence_texts(text: str) -> list[str]:
    """The sentences of `text`; one without a letter or digit ("...", "!") goes with the one
    before (alone it has no phones and would be an error after the stream had begun)."""
    sentences: list[str] = []
    for sentence in split_sentences(text):
        if sentences and not any(c.isalnum() for c in sentence):
            sentences[-1] = f"{sentences[-1]} {sentence}"
        else:
            sentences.append(sentence)
    return sentences or [text]


def sentence_requests(request: CloneRequest, seed: int) -> list[CloneRequest]:
    """`request` as one request per sentence, sentence i seeded `piece_seed(seed, i)`."""
    return [dataclasses.replace(request, text=text, seed=piece_seed(seed, index))
            for index, text in enumerate(sentence_texts(request.text))]


def wav_stream_header(sample_rate: int, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM wav header of unknown length (both sizes 0xFFFFFFFF)."""
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", UNKNOWN_SIZE) + b"WAVE"
            + b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, sample_rate, sample_rate * block, block, bits)
            + b"data" + struct.pack("<I", UNKNOWN_SIZE))
