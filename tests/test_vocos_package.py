"""maskvox's Vocos backbone and ISTFT head compute what the `vocos` package computes.

`import vocos` runs its package __init__, which imports torchaudio (no build for current
torch) and encodec. The backbone (`vocos/models.py`) and head (`vocos/heads.py`) need
neither, so this test loads those files directly under a bare `vocos` package. heads.py
imports two mel-scale helpers from torchaudio at module level, used only by a head we do
not compare; where torchaudio cannot be imported they are replaced by functions that fail
if ever called.
"""

import importlib.util
import sys
import types

import pytest
import torch

from maskvox.codecs.layers import ISTFTHead, VocosBackbone


def _load_vocos_modules():
    spec = importlib.util.find_spec("vocos")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("the vocos package is not installed: pip install --no-deps vocos==0.1.0 (see install.sh)")
    folder = spec.submodule_search_locations[0]
    saved = {name: sys.modules.get(name) for name in ("vocos", "torchaudio", "torchaudio.functional", "torchaudio.functional.functional")}
    try:
        sys.modules["vocos"] = types.ModuleType("vocos")
        sys.modules["vocos"].__path__ = [folder]
        try:
            import torchaudio.functional.functional  # noqa: F401
        except Exception:
            _install_torchaudio_stub()
        modules = {}
        for name in ("modules", "spectral_ops", "models", "heads"):
            module_spec = importlib.util.spec_from_file_location(f"vocos.{name}", f"{folder}/{name}.py")
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[f"vocos.{name}"] = module
            module_spec.loader.exec_module(module)
            modules[name] = module
        return modules
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        for name in ("modules", "spectral_ops", "models", "heads"):
            sys.modules.pop(f"vocos.{name}", None)


def _install_torchaudio_stub():
    def unavailable(*args, **kwargs):
        raise RuntimeError("torchaudio is not installed")

    root, functional, inner = (types.ModuleType(n) for n in ("torchaudio", "torchaudio.functional", "torchaudio.functional.functional"))
    inner._hz_to_mel = inner._mel_to_hz = unavailable
    root.functional, functional.functional = functional, inner
    sys.modules.update({"torchaudio": root, "torchaudio.functional": functional, "torchaudio.functional.functional": inner})


@pytest.fixture(scope="module")
def vocos_modules():
    return _load_vocos_modules()


def test_backbone_matches_vocos_package(vocos_modules):
    torch.manual_seed(0)
    theirs = vocos_modules["models"].VocosBackbone(input_channels=24, dim=32, intermediate_dim=48, num_layers=3).eval()
    ours = VocosBackbone(24, 32, 48, 3).eval()
    # Same parameter names: their weights load strictly into ours.
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 24, 37)
    with torch.no_grad():
        expected, actual = theirs(x), ours(x)
    assert actual.shape == expected.shape == (2, 37, 32)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("padding", ["same", "center"])
def test_istft_head_matches_vocos_package(vocos_modules, padding):
    torch.manual_seed(1)
    theirs = vocos_modules["heads"].ISTFTHead(dim=32, n_fft=64, hop_length=16, padding=padding).eval()
    ours = ISTFTHead(32, n_fft=64, hop_length=16, padding=padding).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 25, 32)
    with torch.no_grad():
        expected, actual = theirs(x), ours(x)
    assert actual.shape == expected.shape
    assert actual.abs().max() > 0
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5 * float(expected.abs().max()))
