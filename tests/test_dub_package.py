"""The maskvox.dub package's shape: light to import, and its modules import each other without a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from graphlib import TopologicalSorter
from pathlib import Path

import pytest

import maskvox.dub

PACKAGE = Path(maskvox.dub.__file__).parent


@pytest.mark.slow
def test_the_package_its_cues_and_its_config_load_no_torch():
    code = ("import sys, maskvox.dub, maskvox.dub.cues\n"
            "from maskvox.dub.config import DubConfig\n"
            "from maskvox.dub import DubConfig, read_manifest\n"
            "print(sorted({'torch', 'maskvox.pipeline', 'maskvox.dub.job'} & set(sys.modules)))\n")
    assert subprocess.check_output([sys.executable, "-c", code], text=True, timeout=300).strip() == "[]"


def test_the_public_names_resolve_on_first_use():
    from maskvox.dub import DubConfig, read_manifest, run_dub_job  # as the README has it
    from maskvox.dub.config import DubConfig as defined

    assert DubConfig is defined and callable(read_manifest) and callable(run_dub_job)
    assert set(maskvox.dub.__all__) <= set(dir(maskvox.dub))


def dub_imports(path: Path) -> set[str]:
    """The maskvox.dub modules a module imports, at its top or inside a function."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = "maskvox.dub" if node.level == 1 else "maskvox" if node.level == 2 else ""
            module = ".".join(part for part in (base, node.module) if part)
            names = [module] if node.module else [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        imported |= {name.removeprefix("maskvox.dub.") for name in names if name.startswith("maskvox.dub.")}
    return imported


def test_no_dub_module_imports_the_job_and_the_imports_form_no_cycle():
    # __init__ included: its lazy table names the job in a string, never in an import.
    graph = {path.stem: dub_imports(path) for path in PACKAGE.glob("*.py")}
    assert "ray_engine" in graph["engine"]  # imports inside functions count too
    assert [module for module, imported in graph.items() if "job" in imported] == []
    list(TopologicalSorter(graph).static_order())  # graphlib.CycleError on a cycle
