"""The resumable-job layer shared by clone and edit batches, dubbing and the evaluations."""

import json

import pytest

from maskvox.errors import UserError
from maskvox.fileio import atomic_path
from maskvox.jobs import LOCK_FILE, JobRecords, fingerprint, json_object_line, read_records


def test_an_item_is_done_only_when_ok_with_its_output_and_fingerprint(tmp_path):
    with JobRecords(tmp_path / "results.jsonl", "wav") as records:
        records["a"] = {"id": "a", "status": "ok", "wav": "a.wav", "fingerprint": "f1"}
        records["b"] = {"id": "b", "status": "failed", "wav": None}
        assert not records.done("a")  # no a.wav yet
        (tmp_path / "a.wav").write_bytes(b"RIFF")
        assert records.done("a") and records.done("a", "f1")
        assert not records.done("a", "f2")  # settings changed since
        assert not records.done("b") and not records.done("missing")


def test_records_survive_a_restart_in_the_order_asked(tmp_path):
    path = tmp_path / "results.jsonl"
    with JobRecords(path, "wav") as records:
        for item_id in ("c", "a", "old"):
            records[item_id] = {"id": item_id, "status": "ok", "wav": f"{item_id}.wav"}
        records.save(["a", "b", "c"])  # b has no record: skipped
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["a", "c", "old"]
    with JobRecords(path, "wav") as again:
        assert set(again.by_id) == {"a", "c", "old"}


def test_a_record_is_one_appended_line_and_the_latest_wins(tmp_path):
    path = tmp_path / "results.jsonl"
    with JobRecords(path, "wav") as records:
        records["a"] = {"id": "a", "status": "failed"}
        before = path.read_bytes()
        records["a"] = {"id": "a", "status": "ok", "wav": "a.wav"}
        after = path.read_bytes()
        assert after.startswith(before) and after.count(b"\n") == before.count(b"\n") + 1  # nothing rewritten
    assert read_records(path)["a"]["status"] == "ok"


def test_a_line_cut_short_by_a_kill_is_compacted_away_before_new_records(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a", "status": "ok"}\n{"id": "b", "sta')  # SIGKILL mid-append
    with JobRecords(path, "wav") as records:
        records["c"] = {"id": "c", "status": "ok"}
    assert list(read_records(path)) == ["a", "c"]


def test_a_second_job_on_the_folder_is_refused_until_the_first_ends(tmp_path):
    with JobRecords(tmp_path / "results.jsonl", "wav") as first:
        first["a"] = {"id": "a", "status": "ok"}
        with pytest.raises(UserError, match=rf"{tmp_path} is in use by another maskvox job \(pid \d+\)"):
            JobRecords(tmp_path / "report.jsonl", "wav")
        assert read_records(tmp_path / "results.jsonl")["a"]["status"] == "ok"  # the first is unharmed
    with JobRecords(tmp_path / "results.jsonl", "wav") as second:
        assert "a" in second


def test_a_stray_line_in_the_records_is_ignored(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a", "status": "ok"}\nnot json\n{"no_id": 1}\n')
    assert list(read_records(path)) == ["a"]


def test_opening_removes_only_the_temporaries_of_named_files(tmp_path):
    class Killed(Exception):
        pass

    for name in ("results.jsonl", "u1.wav"):
        try:
            with atomic_path(tmp_path / name) as tmp:
                tmp.write_text("half")
                leftover = tmp.with_name(tmp.name + ".copy")
                leftover.write_text("half")  # what a SIGKILL mid-write leaves (atomic_path's clean-up never ran)
                raise Killed
        except Killed:
            pass
    users_own = tmp_path / ".config.yaml"
    users_own.write_text("keep: me")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert sum(p.startswith(".results.jsonl.") or p.startswith(".u1.wav.") for p in before) == 2
    with JobRecords(tmp_path / "results.jsonl", "wav", ["u1.wav"]):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == [".config.yaml", LOCK_FILE]


def test_fingerprint_depends_on_the_settings_not_their_order():
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert len(fingerprint({})) == 16


@pytest.mark.parametrize("line, message", [
    ("{nope", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    ('{"id": "a", "colour": "red"}', "unknown field 'colour'"),
])
def test_a_bad_list_line_names_its_problem(line, message):
    with pytest.raises(UserError, match=message):
        json_object_line(line, ["id", "text"])


def test_a_second_clone_batch_on_a_busy_folder_fails_in_one_line(tmp_path, capsys):
    """The command line's view: the second job is refused before it loads anything."""
    from factories import EXAMPLE_PROMPT
    from maskvox.commands import main

    items = tmp_path / "items.jsonl"
    items.write_text(json.dumps({"id": "u1", "prompt": str(EXAMPLE_PROMPT), "prompt_text": "We do not break.",
                                 "text": "Hello."}) + "\n")
    out_dir = tmp_path / "out"
    with JobRecords(out_dir / "results.jsonl", "wav"):  # a first job, running
        code = main(["clone", "--batch", str(items), "--out-dir", str(out_dir), "--quiet"])
    [line] = capsys.readouterr().err.splitlines()
    assert code == 2 and line.startswith("maskvox: error: ") and "in use by another maskvox job" in line
    assert not (out_dir / "u1.wav").exists()
