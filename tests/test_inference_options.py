"""The opt-in inference options of the Synthesizer, on the shipped demo checkpoint: low memory
(each big model loaded for its stage only) and int8 dynamic quantization of T2S and S2A."""

import warnings
import weakref

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

import maskvox.codecs.pretrained
import maskvox.s2a.model
import maskvox.t2s.model
from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from maskvox import checkpoint as checkpoint_module
from maskvox.audio import ACOUSTIC_RATE
from maskvox.checkpoint import default_model_location
from maskvox.cli import main
from maskvox.errors import UserError
from maskvox.pipeline import Synthesizer
from maskvox.quantize import quantize_linear_layers

DEMO = default_model_location()
PROMPT_TEXT = EXAMPLE_PROMPT_TEXT.read_text().strip()  # "We do not break. We never give in. We never back down."
TEXT = "Hello there, how are you?"
LOADERS = [(maskvox.codecs.pretrained, "load_semantic_features"), (maskvox.codecs.pretrained, "load_semantic_codec"),
           (maskvox.t2s.model, "load_t2s"), (maskvox.s2a.model, "load_s2a")]


def track_loads(monkeypatch) -> list[tuple[str, weakref.ref]]:
    """Every big model loaded from now on: (what loaded it, a weak reference to it)."""
    loads = []
    for module, name in LOADERS:
        def loader(*args, _load=getattr(module, name), _name=name, **kwargs):
            model = _load(*args, **kwargs)
            loads.append((args[1] if _name == "load_s2a" else _name, weakref.ref(model)))
            return model
        monkeypatch.setattr(module, name, loader)
    return loads


def int8_only(model: nn.Module) -> bool:
    kinds = {type(module) for module in model.modules()}
    return nn.Linear not in kinds and DynamicInt8Linear in kinds


def clone_args(out, *extra, model=DEMO):
    return ["clone", "--model", str(model), "--prompt", str(EXAMPLE_PROMPT), "--prompt-text", PROMPT_TEXT,
            "--text", TEXT, "--out", str(out), "--quiet", "--preset", "fast", "--duration", "1", "--seed", "3", *extra]


# -- low memory --------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("model, sampling", [("demo", "fast"), ("demo", "reference"), ("tiny_full_model", "fast")])
def test_low_memory_gives_the_same_audio_and_holds_no_big_model_after_a_clone(model, sampling, request, monkeypatch):
    # The demo's full S2A predicts layer 1 itself; the tiny full model has the official pair of S2A models.
    location = DEMO if model == "demo" else request.getfixturevalue(model)
    normal = Synthesizer.from_pretrained(location, preset="fast", device="cpu", sampling=sampling)
    loads = track_loads(monkeypatch)
    low = Synthesizer.from_pretrained(location, preset="fast", device="cpu", sampling=sampling, low_memory=True)
    assert low.models.loaded() == ["semantic_codec", "semantic_features"]  # the first prompt needs them
    expected, result = (synth.clone(EXAMPLE_PROMPT, PROMPT_TEXT, TEXT, duration=1.0, seed=5) for synth in (normal, low))
    assert np.array_equal(result.audio, expected.audio) and result.audio.size > 0
    for ours, theirs in ((result.semantic_ids, expected.semantic_ids), (result.acoustic_ids, expected.acoustic_ids)):
        assert len(ours) == len(theirs) and all(np.array_equal(a, b) for a, b in zip(ours, theirs))
    two_s2a = model != "demo"
    assert [name for name, _ in loads] == ["load_semantic_features", "load_semantic_codec", "load_t2s",
                                           *(["s2a_1layer"] if two_s2a else []), "s2a_full"]
    assert low.models.loaded() == []
    assert [name for name, ref in loads if ref() is not None] == []  # really freed, not just forgotten
    assert len(normal.models.loaded()) == 4 + two_s2a  # the normal mode keeps them all


@pytest.mark.slow
def test_low_memory_edit_matches_and_releases(monkeypatch):
    normal = Synthesizer.from_pretrained(DEMO, preset="fast", device="cpu")
    loads = track_loads(monkeypatch)
    low = Synthesizer.from_pretrained(DEMO, preset="fast", device="cpu", low_memory=True)
    new_text = PROMPT_TEXT.replace("break", "bend")
    expected, result = (synth.edit(EXAMPLE_PROMPT, PROMPT_TEXT, new_text, span=(1.0, 2.0), seed=0)
                        for synth in (normal, low))
    assert np.array_equal(result.audio, expected.audio)
    assert [name for name, _ in loads] == ["load_semantic_features", "load_semantic_codec", "load_t2s", "s2a_full"]
    assert low.models.loaded() == [] and all(ref() is None for _, ref in loads)


# -- int8 --------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_int8_quantizes_the_linear_layers_of_t2s_and_s2a_and_still_clones():
    synth = Synthesizer.from_pretrained(DEMO, preset="fast", device="cpu", quantize="int8")
    assert int8_only(synth.t2s) and int8_only(synth.s2a_full)
    assert not int8_only(synth.tokenizer.semantic_features)  # only T2S and S2A
    result = synth.clone(EXAMPLE_PROMPT, PROMPT_TEXT, TEXT, duration=1.5, seed=0)
    assert result.audio.size == int(1.5 * ACOUSTIC_RATE) and np.isfinite(result.audio).all()
    assert np.sqrt(np.mean(result.audio ** 2)) > 1e-3


def test_quantizing_emits_no_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = quantize_linear_layers(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4)))
    assert [str(w.message) for w in caught] == []
    assert int8_only(model) and model(torch.randn(2, 8)).shape == (2, 4)


def test_int8_on_a_gpu_or_with_reference_sampling_is_a_one_line_error_before_any_loading(monkeypatch, tmp_path,
                                                                                         capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # so "cuda" gets past pick_device here

    def no_loading(*_):
        raise AssertionError("the models started loading")

    monkeypatch.setattr(checkpoint_module, "load_model_config", no_loading)  # from_pretrained imports it on use
    with pytest.raises(UserError, match="--quantize int8 runs on the CPU only") as error:
        Synthesizer.from_pretrained(DEMO, device="cuda", quantize="int8")
    assert "\n" not in str(error.value)
    with pytest.raises(UserError, match="reference sampling runs in fp32"):
        Synthesizer.from_pretrained(DEMO, device="cpu", sampling="reference", quantize="int8")
    out = tmp_path / "out.wav"
    for extra, message in ((["--device", "cuda"], "runs on the CPU only"),
                           (["--device", "cpu", "--reference-sampling"], "reference sampling runs in fp32")):
        capsys.readouterr()
        assert main(clone_args(out, "--quantize", "int8", *extra)) == 2
        [line] = capsys.readouterr().err.splitlines()
        assert line.startswith("maskvox: error: ") and message in line
        assert not out.exists()


# -- the command line --------------------------------------------------------------------------------

@pytest.mark.slow
def test_clone_command_passes_low_memory_and_int8_to_the_synthesizer(monkeypatch, tmp_path):
    made = []
    from_pretrained = Synthesizer.from_pretrained

    def spy(*args, **kwargs):
        made.append((kwargs, from_pretrained(*args, **kwargs)))
        return made[-1][1]

    monkeypatch.setattr(Synthesizer, "from_pretrained", spy)
    out = tmp_path / "out.wav"
    assert main(clone_args(out, "--device", "cpu", "--low-memory", "--quantize", "int8")) == 0
    audio, rate = sf.read(out, dtype="float32")
    assert rate == ACOUSTIC_RATE and audio.size == ACOUSTIC_RATE and np.isfinite(audio).all()
    [(kwargs, synth)] = made
    assert kwargs["low_memory"] is True and kwargs["quantize"] == "int8"
    assert synth.models.loaded() == []  # low memory released everything after the clone
    assert int8_only(synth.t2s)  # loaded again on demand, and quantized again
