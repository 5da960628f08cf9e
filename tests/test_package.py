"""The package top: public names resolve lazily, so `import maskvox` does not load torch."""

import subprocess
import sys

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
