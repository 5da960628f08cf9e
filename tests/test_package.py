"""The package top: public names resolve lazily, so `import maskvox` does not load torch."""

import subprocess
import sys
from pathlib import Path

import pytest

import maskvox


@pytest.mark.slow
def test_import_maskvox_loads_no_torch():
    code = "import sys, maskvox; print('torch' in sys.modules, 'maskvox.pipeline' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]


@pytest.mark.slow
def test_naming_the_synthesizer_loads_no_torch():
    """torch comes with the first model loaded, not with the class."""
    code = "import sys, maskvox; maskvox.Synthesizer, maskvox.CloneRequest; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False"]


@pytest.mark.parametrize("name", [n for n in maskvox.__all__ if n != "__version__"])
def test_public_name_is_the_defining_module_s_object(name):
    import importlib

    module = importlib.import_module(maskvox._PUBLIC[name])
    assert getattr(maskvox, name) is getattr(module, name)
    assert name in dir(maskvox)


def test_synthesizer_from_the_top():
    from maskvox import Synthesizer
    from maskvox.pipeline import Synthesizer as defined

    assert Synthesizer is defined


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Synthesiser'"):
        maskvox.Synthesiser  # noqa: B018


def _module_level_imports(root: Path, package: str) -> dict[str, set[str]]:
    """For each module of the package folder `root`: the package's modules it imports at its top."""
    import ast

    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join((package, *parts[:-1])) if parts[-1] == "__init__" else ".".join((package, *parts))
        modules[name] = (path, parts[-1] == "__init__")
    graph = {}
    for name, (path, is_package) in modules.items():
        base = name if is_package else name.rpartition(".")[0]
        found = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:  # the top only: imports in functions are lazy
            if isinstance(node, ast.ImportFrom):
                origin = base
                for _ in range(node.level - 1):
                    origin = origin.rpartition(".")[0]
                target = f"{origin}.{node.module}" if node.level and node.module else origin if node.level else node.module
                candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
                found |= {candidate for candidate in candidates if candidate in modules and candidate != name}
            elif isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names if alias.name in modules}
        graph[name] = found
    return graph


def test_the_package_s_modules_import_each_other_without_a_cycle():
    from graphlib import CycleError, TopologicalSorter

    graph = _module_level_imports(Path(maskvox.__file__).parent, "maskvox")
    assert "maskvox.pipeline" in graph and "maskvox.request" in graph["maskvox.pipeline"]
    try:
        TopologicalSorter(graph).static_order()
        cycle = None
    except CycleError as error:
        cycle = error.args[1]
    assert cycle is None
