"""The fast loop (`pytest -m "not slow"`) stays fast: a test that spawns a process or starts
Ray or Gradio must carry the `slow` mark (tests that train or take long are marked by their
measured time; see the README's Tests section)."""

import ast
import re
from pathlib import Path

SPAWNS = re.compile(r"subprocess|sys\.executable|Popen|torchrun|import ray|import gradio|chromium")
GRADIO_FIXTURES = {"client", "page"}  # tests/test_gui.py: a served page and its client


def _unmarked_heavy_tests(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
            continue
        marked = any("mark.slow" in ast.unparse(decorator) for decorator in node.decorator_list)
        heavy = SPAWNS.search(ast.get_source_segment(source, node)) or \
            GRADIO_FIXTURES & {argument.arg for argument in node.args.args}
        if heavy and not marked:
            found.append(f"{path.name}::{node.name}")
    return found


def test_every_test_that_spawns_or_serves_is_marked_slow():
    unmarked = [name for path in sorted(Path(__file__).parent.glob("test_*.py")) if path.name != Path(__file__).name
                for name in _unmarked_heavy_tests(path)]
    assert unmarked == []


def test_the_check_finds_an_unmarked_spawning_test(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text("import pytest, subprocess\n\n"
                      "def test_spawns():\n    subprocess.run(['true'])\n\n"
                      "@pytest.mark.slow\ndef test_marked():\n    subprocess.run(['true'])\n\n"
                      "def test_served(client):\n    pass\n")
    assert _unmarked_heavy_tests(sample) == ["test_sample.py::test_spawns", "test_sample.py::test_served"]
