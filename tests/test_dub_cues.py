"""maskvox.dub.cues: the dub job's inputs (JSONL manifest, SRT pair, speaker map) and SRT output."""

import json

import numpy as np
import pytest
import soundfile as sf

from maskvox.dub.cues import (
    CueError,
    SrtCue,
    format_srt,
    format_timestamp,
    parse_srt,
    parse_timestamp,
    read_manifest,
    read_speaker_map,
    read_srt_pair,
    write_retimed_srt,
)
from maskvox.errors import UserError

RATE = 8000


def make_wav(path, seconds):
    sf.write(str(path), np.zeros(int(seconds * RATE), dtype=np.float32), RATE)
    return path


@pytest.fixture
def folder(tmp_path):
    """An episode of 10 s, a speaker clip, and a text file posing as audio."""
    make_wav(tmp_path / "episode.wav", 10.0)
    make_wav(tmp_path / "alice.wav", 3.0)
    (tmp_path / "notes.wav").write_text("not audio", encoding="utf-8")
    return tmp_path


def cue_record(cue_id, start=1.0, end=2.5, **fields):
    record = {"id": cue_id, "audio": "episode.wav", "start": start, "end": end, "source_text": "Hello there.",
              "source_language": "en", "target_text": "Bonjour.", "target_language": "fr", "speaker": "alice"}
    record.update(fields)
    return {name: value for name, value in record.items() if value is not DROP}


DROP = object()  # a field left out of the record


def write_manifest(path, lines):
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
                    encoding="utf-8")
    return path


# --- manifest --------------------------------------------------------------------------------


def test_manifest_reads_every_field_with_relative_paths_defaults_and_timestamps(folder):
    manifest = write_manifest(folder / "dub.jsonl", [
        cue_record("ep1_0001", prompt="alice.wav", prompt_text="Hi, I'm Alice."),
        "",  # blank lines are skipped but still counted
        cue_record("ep1_0002", start="00:00:03,000", end="00:00:04,250", speaker="bob",
                   source_language=DROP, target_language=DROP),
        cue_record("ep1_0003", start=2.0, end=3.0),  # overlaps ep1_0001 in alice's voice: allowed
    ])
    cues, errors = read_manifest(manifest, default_source_language="en", default_target_language="de")

    assert errors == []
    assert [(cue.id, cue.line) for cue in cues] == [("ep1_0001", 1), ("ep1_0002", 3), ("ep1_0003", 4)]
    first, second = cues[0], cues[1]
    assert first.audio == folder / "episode.wav" and first.prompt == folder / "alice.wav"
    assert first.prompt_text == "Hi, I'm Alice." and first.speaker == "alice"
    assert (first.start, first.end, first.slot_seconds) == (1.0, 2.5, 1.5)
    assert (first.source_language, first.target_language) == ("en", "fr")
    assert (second.start, second.end) == (3.0, 4.25)
    assert (second.source_language, second.target_language) == ("en", "de")  # the defaults
    assert second.prompt is None and second.prompt_text is None


BAD_LINES = {
    "not JSON": ('{"id": "x",', None, "not valid JSON"),
    "not an object": ("[1, 2]", None, "expected a JSON object"),
    "unknown fields": (cue_record("x", colour="red", mood="calm"), None, "unknown fields 'colour', 'mood'"),
    "missing fields": (cue_record("x", start=DROP, speaker=DROP), "x", "missing fields 'start', 'speaker'"),
    "no id": (cue_record(DROP), None, "'id' must be a non-empty string"),
    "unsafe id": (cue_record("../x"), None, "must be letters, digits"),
    "start not a number": (cue_record("x", start=True), "x", "'start' must be seconds"),
    "end not a timestamp": (cue_record("x", end="2.5s"), "x", "is not a timestamp"),
    "end NaN": ('{"id": "x", "audio": "episode.wav", "start": 0, "end": NaN, "source_text": "a", '
                '"source_language": "en", "target_text": "b", "target_language": "fr", "speaker": "s"}',
                "x", "'end' must be seconds"),
    "negative start": (cue_record("x", start=-0.5), "x", "is negative"),
    "end before start": (cue_record("x", start=2.0, end=2.0), "x", "is not after start"),
    "unsupported language": (cue_record("x", target_language="xx"), "x", "unsupported language 'xx'"),
    "language not a string": (cue_record("x", source_language=7), "x", "must be a language code"),
    "empty source text": (cue_record("x", source_text="  "), "x", "'source_text' must be a non-empty string"),
    "empty target text": (cue_record("x", target_text=""), "x", "'target_text' must be a non-empty string"),
    "speaker not a string": (cue_record("x", speaker=3), "x", "'speaker' must be a non-empty string"),
    "audio missing": (cue_record("x", audio="gone.wav"), "x", "gone.wav does not exist"),
    "audio not audio": (cue_record("x", audio="notes.wav"), "x", "not a readable audio file"),
    "ends after the audio": (cue_record("x", start=9.0, end=10.5), "x", "is only 10.000 s long"),
    "prompt missing": (cue_record("x", prompt="carol.wav", prompt_text="Hi."), "x", "carol.wav does not exist"),
    "prompt without text": (cue_record("x", prompt="alice.wav"), "x", "go together"),
    "text without prompt": (cue_record("x", prompt_text="Hi."), "x", "go together"),
    # The second 'a' gets no id: its record (maskvox.jobs.line_id) must not overwrite line 1's.
    "duplicate id": (cue_record("a"), None, "id 'a' is already used on line 1"),
}


@pytest.mark.parametrize("bad_line", BAD_LINES.values(), ids=list(BAD_LINES))
def test_a_bad_manifest_line_is_reported_with_its_number_and_the_rest_are_read(folder, bad_line):
    line, error_id, message = bad_line
    manifest = write_manifest(folder / "dub.jsonl", [cue_record("a"), line, cue_record("c")])
    cues, errors = read_manifest(manifest)

    assert [cue.id for cue in cues] == ["a", "c"]
    assert [(error.line, error.id) for error in errors] == [(2, error_id)]
    assert message in errors[0].message


def test_an_id_stays_taken_by_a_line_that_failed(folder):
    manifest = write_manifest(folder / "dub.jsonl", [cue_record("a", end=99.0), cue_record("a")])
    cues, errors = read_manifest(manifest)
    assert cues == []
    assert [(error.line, error.message.split(" but ")[0]) for error in errors] == [
        (1, "the cue ends at 99.000 s"), (2, "id 'a' is already used on line 1")]


def test_an_end_a_hair_past_the_audio_is_let_through(folder):
    manifest = write_manifest(folder / "dub.jsonl", [cue_record("a", start=9.0, end=10.02)])
    cues, errors = read_manifest(manifest)
    assert errors == [] and cues[0].end == 10.02


def test_each_audio_file_is_looked_at_once(folder, monkeypatch):
    calls, real_info = [], sf.info

    def counting_info(path):
        calls.append(path)
        return real_info(path)

    monkeypatch.setattr(sf, "info", counting_info)
    manifest = write_manifest(folder / "dub.jsonl", [cue_record(f"c{i}", audio=audio) for i, audio in
                                                     enumerate(["episode.wav", "episode.wav", "notes.wav",
                                                                "notes.wav"])])
    cues, errors = read_manifest(manifest)
    assert len(cues) == 2 and [error.line for error in errors] == [3, 4]
    assert sorted(calls) == sorted([str(folder / "episode.wav"), str(folder / "notes.wav")])


def test_a_manifest_that_cannot_be_used_at_all_is_a_user_error(folder):
    with pytest.raises(UserError, match="cannot read the manifest"):
        read_manifest(folder / "nope.jsonl")
    with pytest.raises(UserError, match="has no cues"):
        read_manifest(write_manifest(folder / "blank.jsonl", ["", "   "]))
    (folder / "latin1.jsonl").write_bytes(b'{"id": "caf\xe9"}\n')
    with pytest.raises(UserError, match="not UTF-8"):
        read_manifest(folder / "latin1.jsonl")
    with pytest.raises(UserError, match="unsupported language 'klingon'"):
        read_manifest(write_manifest(folder / "dub.jsonl", [cue_record("a")]), default_target_language="klingon")


def test_a_manifest_with_a_byte_order_mark_and_crlf_reads(folder):
    path = folder / "dub.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (json.dumps(cue_record("a")) + "\r\n" + json.dumps(cue_record("b"))).encode())
    cues, errors = read_manifest(path)
    assert errors == [] and [cue.id for cue in cues] == ["a", "b"]


# --- SRT -------------------------------------------------------------------------------------


def test_srt_parses_numbers_times_and_multi_line_text():
    text = ("1\n00:00:01,000 --> 00:00:02,500\nHello\nthere.\n\n"
            "2\n01:02:03,004 --> 01:02:04,100  X1:40 X2:600 Y1:20 Y2:50\nSecond.\n")
    cues, errors = parse_srt(text)
    assert errors == []
    assert cues == [SrtCue(1, 1.0, 2.5, "Hello there.", 1), SrtCue(2, 3723.004, 3724.1, "Second.", 6)]


def test_srt_tolerates_a_bom_crlf_tags_and_extra_blank_lines():
    text = ("\ufeff\r\n\r\n1\r\n00:00:01,000 --> 00:00:02,000\r\n<i>Hello</i> <font color=\"#ff0\">you</font>\r\n"
            "\r\n \r\n\t\r\n2\r\n00:00:03.000-->00:00:04.000\r\n{\\an8}<b>Up</b> <3\r\n\r\n\r\n")
    cues, errors = parse_srt(text)
    assert errors == []
    assert [(cue.index, cue.start, cue.end, cue.text, cue.line) for cue in cues] == [
        (1, 1.0, 2.0, "Hello you", 3), (2, 3.0, 4.0, "Up <3", 9)]


def test_a_malformed_srt_block_is_an_error_with_its_line_and_the_others_parse():
    text = ("1\n00:00:01,000 --> 00:00:02,000\nOne.\n\n"
            "2\n00:00:03,000 -> 00:00:04,000\nTwo.\n\n"          # a short arrow
            "3\n00:00:06,000 --> 00:00:05,000\nThree.\n\n"       # ends before it starts
            "a stray line\n\n"                                   # text split off by a blank line
            "5\n\n"                                              # a number alone
            "00:00:07,000 --> 00:00:08,000\nNo number.\n")
    cues, errors = parse_srt(text)
    assert [(cue.index, cue.text) for cue in cues] == [(1, "One."), (6, "No number.")]
    assert [error.line for error in errors] == [6, 10, 13, 15]
    assert "expected a timing line" in errors[0].message and "'00:00:03,000 -> 00:00:04,000'" in errors[0].message
    assert "cue 3 ends before it starts" in errors[1].message
    assert "found 'a stray line'" in errors[2].message
    assert "cue 5 has no timing line" in errors[3].message


def test_srt_round_trips_through_format_and_parse():
    cues = [SrtCue(1, 0.0, 1.234, "First line."), SrtCue(2, 61.5, 3600 + 62.999, "Two\nlines"),
            SrtCue(3, 4000.0, 4001.0, "")]
    text = format_srt(cues)
    assert text.startswith("1\n00:00:00,000 --> 00:00:01,234\nFirst line.\n\n2\n00:01:01,500 --> 01:01:02,999\n")
    parsed, errors = parse_srt(text)
    assert errors == []
    assert [(cue.index, cue.start, cue.end, cue.text) for cue in parsed] == [
        (1, 0.0, 1.234, "First line."), (2, 61.5, 3662.999, "Two lines"), (3, 4000.0, 4001.0, "")]


def test_timestamps_format_to_the_nearest_millisecond_and_parse_back():
    assert format_timestamp(0) == "00:00:00,000"
    assert format_timestamp(59.9996) == "00:01:00,000"
    assert format_timestamp(100 * 3600 + 0.1) == "100:00:00,100"
    assert parse_timestamp("01:02:03,456") == 3723.456 and parse_timestamp("00:00:01.100") == 1.1
    with pytest.raises(ValueError):
        format_timestamp(-0.001)
    with pytest.raises(UserError):
        parse_timestamp("00:61:00,000")


def test_write_retimed_srt_numbers_the_cues_and_writes_atomically(tmp_path):
    path = tmp_path / "out" / "target.srt"
    write_retimed_srt(path, [("Bonjour.", 1.0, 2.2), ("Au revoir.", 3.0, 3.5)])
    cues, errors = parse_srt(path.read_text(encoding="utf-8"))
    assert errors == [] and [(c.index, c.start, c.end, c.text) for c in cues] == [
        (1, 1.0, 2.2, "Bonjour."), (2, 3.0, 3.5, "Au revoir.")]
    assert [p.name for p in path.parent.iterdir()] == ["target.srt"]  # no temporary left behind
    with pytest.raises(ValueError):
        write_retimed_srt(path, [("Oops.", 2.0, 1.0)])
    assert "Bonjour." in path.read_text(encoding="utf-8")  # the earlier file is untouched


# --- SRT pair --------------------------------------------------------------------------------


def srt(*cues):
    return "".join(f"{i}\n{format_timestamp(start)} --> {format_timestamp(end)}\n{text}\n\n"
                   for i, (start, end, text) in enumerate(cues, start=1))


def write_pair(folder, source, target):
    (folder / "en.srt").write_text(source, encoding="utf-8")
    (folder / "fr.srt").write_text(target, encoding="utf-8")
    return folder / "en.srt", folder / "fr.srt", folder / "episode.wav"


def test_srt_pair_matches_cues_by_position_with_the_source_times(folder):
    paths = write_pair(folder, srt((1.0, 2.0, "Hello."), (3.0, 4.5, "<i>Bye.</i>")),
                       srt((1.1, 2.3, "Bonjour."), (3.2, 4.0, "Au revoir.")))
    cues, errors = read_srt_pair(*paths, source_language="en", target_language="fr")

    assert errors == []
    assert [(c.id, c.line, c.start, c.end, c.source_text, c.target_text, c.speaker) for c in cues] == [
        ("cue0001", 1, 1.0, 2.0, "Hello.", "Bonjour.", "speaker"),
        ("cue0002", 2, 3.0, 4.5, "Bye.", "Au revoir.", "speaker")]
    assert all(c.audio == folder / "episode.wav" and c.prompt is None and c.prompt_text is None for c in cues)
    assert {(c.source_language, c.target_language) for c in cues} == {("en", "fr")}


def test_a_bad_cue_in_the_pair_fails_alone_at_its_position(folder):
    paths = write_pair(
        folder,
        srt((1.0, 2.0, "Hello."), (3.0, 4.0, "Two."), (9.0, 12.0, "Past the end."), (5.0, 6.0, "Four.")),
        srt((1.0, 2.0, "Bonjour."), (3.0, 4.0, ""), (9.0, 12.0, "Trop tard."), (5.0, 6.0, "Quatre.")))
    text = (folder / "fr.srt").read_text(encoding="utf-8").replace("00:00:05,000 -->", "00:00:05 -->")
    (folder / "fr.srt").write_text(text, encoding="utf-8")
    cues, errors = read_srt_pair(*paths, source_language="en", target_language="fr")

    assert [c.id for c in cues] == ["cue0001"]
    assert [(e.line, e.id) for e in errors] == [(2, "cue0002"), (3, "cue0003"), (4, "cue0004")]
    assert "fr.srt line 5: the target text is empty" in errors[0].message
    assert "is only 10.000 s long" in errors[1].message
    assert "fr.srt line 14: expected a timing line" in errors[2].message


def test_srt_pair_counts_must_match(folder):
    paths = write_pair(folder, srt((1.0, 2.0, "One."), (3.0, 4.0, "Two.")), srt((1.0, 2.0, "Un.")))
    with pytest.raises(UserError, match="has 2 cues but the target SRT .* has 1"):
        read_srt_pair(*paths, source_language="en", target_language="fr")
    paths = write_pair(folder, srt((1.0, 2.0, "One.")), "1\n00:00:01,000 --> 00:00:02,000\nUn\n\npeu.\n")
    with pytest.raises(UserError, match="1 block is malformed"):
        read_srt_pair(*paths, source_language="en", target_language="fr")


def test_srt_pair_whole_input_problems_are_user_errors(folder):
    paths = write_pair(folder, srt((1.0, 2.0, "One.")), srt((1.0, 2.0, "Un.")))
    with pytest.raises(UserError, match="unsupported language"):
        read_srt_pair(*paths, source_language="en", target_language="xx")
    with pytest.raises(UserError, match="does not exist"):
        read_srt_pair(paths[0], paths[1], folder / "gone.wav", "en", "fr")
    with pytest.raises(UserError, match="cannot read the target SRT"):
        read_srt_pair(paths[0], folder / "gone.srt", paths[2], "en", "fr")
    empty = write_pair(folder, "\n\n", "")
    with pytest.raises(UserError, match="has no cues"):
        read_srt_pair(*empty, source_language="en", target_language="fr")


# --- speaker map -----------------------------------------------------------------------------


def test_speaker_map_names_cues_and_the_rest_keep_the_default(folder):
    (folder / "speakers.json").write_text('{"1": "alice", "3": "bob"}', encoding="utf-8")
    (folder / "speakers.tsv").write_text("# cue\tspeaker\n1\talice\n\n3\tbob\n", encoding="utf-8")
    speakers = read_speaker_map(folder / "speakers.json")
    assert speakers == read_speaker_map(folder / "speakers.tsv") == {1: "alice", 3: "bob"}

    paths = write_pair(folder, srt((1.0, 2.0, "A."), (3.0, 4.0, "B."), (5.0, 6.0, "C.")),
                       srt((1.0, 2.0, "A."), (3.0, 4.0, "B."), (5.0, 6.0, "C.")))
    cues, _ = read_srt_pair(*paths, "en", "fr", speaker="narrator", speaker_map=speakers)
    assert [c.speaker for c in cues] == ["alice", "narrator", "bob"]
    with pytest.raises(UserError, match="names cue 4, but the cues are numbered 1 to 3"):
        read_srt_pair(*paths, "en", "fr", speaker_map={4: "carol"})


def test_a_speaker_name_keeps_its_inner_spaces(folder):
    (folder / "speakers.tsv").write_text("2\tDr  Jane Smith \n", encoding="utf-8")
    assert read_speaker_map(folder / "speakers.tsv") == {2: "Dr  Jane Smith"}


@pytest.mark.parametrize("content, message", [
    ('{"1": "alice",}', "not valid JSON"),
    ('{"one": "alice"}', "'one' is not a cue number"),
    ('{"0": "alice"}', "'0' is not a cue number"),
    ('{"1": ""}', "must be a non-empty string"),
    ("1\talice\n2\n", "line 2: expected a cue number, a tab and a speaker name"),
    ("1\talice\n1\tbob\n", "line 2: cue 1 is named twice"),
    ("x\talice\n", "line 1: 'x' is not a cue number"),
])
def test_a_bad_speaker_map_is_a_user_error(tmp_path, content, message):
    (tmp_path / "speakers.txt").write_text(content, encoding="utf-8")
    with pytest.raises(UserError, match=message):
        read_speaker_map(tmp_path / "speakers.txt")


def test_cue_error_is_a_plain_record():
    assert CueError(3, None, "why") == CueError(line=3, id=None, message="why")
