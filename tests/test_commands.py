"""The `maskvox` command package: dub's job flags are DubConfig's fields, and the command stays cheap to load."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys

import pytest

from maskvox.commands import build_parser, main
from maskvox.commands.dub import dub_config
from maskvox.dub.config import DubConfig

# `maskvox dub` options that are not job settings.
HAND_WRITTEN = {"-h", "--help", "--manifest", "--srt", "--target-srt", "--audio", "--speaker-map", "--speaker",
                "--source-lang", "--target-lang", "--out-dir", "--config", "--quiet"}
SETTINGS = dataclasses.fields(DubConfig)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def command_parser(name: str) -> argparse.ArgumentParser:
    [commands] = [action for action in build_parser()._actions if isinstance(action, argparse._SubParsersAction)]
    return commands.choices[name]


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {option: action for action in parser._actions for option in action.option_strings}


def test_each_job_setting_is_a_dub_flag_and_each_dub_flag_a_setting_or_hand_written():
    dub = options(command_parser("dub"))
    assert HAND_WRITTEN <= dub.keys()
    assert dub.keys() - HAND_WRITTEN == {flag(setting.name) for setting in SETTINGS}
    for setting in SETTINGS:
        action = dub[flag(setting.name)]
        assert action.dest == setting.name and action.default is None, setting.name
        assert setting.metadata.get("help"), f"DubConfig.{setting.name} has no help for its flag"


def test_the_flags_take_their_fields_types_and_choices():
    args = build_parser().parse_args(["dub", "--batch-size", "3", "--background-gain-db", "-2.5", "--force",
                                      "--low-memory", "--ray-address", "ray://head:10001", "--quantize", "int8"])
    assert (args.batch_size, args.background_gain_db, args.force, args.low_memory) == (3, -2.5, True, True)
    assert (args.ray_address, args.quantize) == ("ray://head:10001", "int8")
    args = build_parser().parse_args(["dub"])
    assert all(getattr(args, setting.name) is None for setting in SETTINGS)
    for wrong in (["--engine", "spark"], ["--seed", "x"], ["--ray-gpus-per-actor", "half"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["dub", *wrong])


def test_dub_help_lists_each_job_flag_with_its_help(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "1000")  # no wrapping inside a help text
    with pytest.raises(SystemExit) as exit:
        main(["dub", "--help"])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for setting in SETTINGS:
        assert f"  {flag(setting.name)}" in out
        assert setting.metadata["help"] in out
    assert "--engine {local,ray}" in out and "--quantize {none,int8}" in out and "--model DIR|REPO" in out


def test_shared_flags_read_the_same_in_dub_as_in_clone():
    dub, clone = options(command_parser("dub")), options(command_parser("clone"))
    for option in ("--model", "--device", "--quiet", "--low-memory", "--quantize"):
        assert dub[option].help == clone[option].help, option
        assert dub[option].metavar == clone[option].metavar and dub[option].choices == clone[option].choices, option


def test_a_flag_overrides_the_config_file_and_an_absent_flag_leaves_it(tmp_path):
    config = tmp_path / "dub.yaml"
    config.write_text("seed: 5\nforce: true\nlow_memory: true\nray_actors: 4\nbackground_gain_db: -6.0\n",
                      encoding="utf-8")
    args = build_parser().parse_args(["dub", "--config", str(config), "--seed", "7", "--ray-actors", "3",
                                      "--batch-size", "2"])
    assert dub_config(args) == DubConfig(seed=7, force=True, low_memory=True, ray_actors=3, background_gain_db=-6.0,
                                         batch_size=2)
    args = build_parser().parse_args(["dub", "--config", str(config)])
    assert dub_config(args) == DubConfig(seed=5, force=True, low_memory=True, ray_actors=4, background_gain_db=-6.0)
    assert dub_config(build_parser().parse_args(["dub"])) == DubConfig()


def test_a_bad_flag_value_fails_in_one_line_before_any_work(tmp_path, capsys):
    assert main(["dub", "--ray-actors", "0", "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["maskvox: error: Ray needs at least one actor and non-negative CPUs and GPUs per actor"]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_the_module_runs_and_importing_the_commands_loads_no_torch():
    done = subprocess.run([sys.executable, "-m", "maskvox.cli", "--help"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    commands = ("codec", "g2p", "duration", "clone", "edit", "dub", "eval", "gui")
    assert all(command in done.stdout for command in commands)
    code = ("import sys, maskvox.commands\n"
            "maskvox.commands.build_parser().format_help()\n"
            "print(sorted({'torch', 'maskvox.pipeline', 'maskvox.dub.job'} & set(sys.modules)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert done.stdout.strip() == "[]"
