#!/usr/bin/env bash
# Dubbing with the demo checkpoint: the example recording's three sentences said in German in
# the same voice, each fitted to its subtitle slot. First from an SRT pair, then from a JSONL
# manifest (one cue with a reference clip, one with an SRT timestamp). Run from the repository
# root after ./install.sh:
#   bash egs/dub/run.sh [OUT_DIR]
set -euo pipefail
out=${1:-exp/egs_dub}
.venv/bin/maskvox dub --srt egs/dub/source.en.srt --target-srt egs/dub/target.de.srt \
    --audio egs/clone/prompt.wav --source-lang en --target-lang de --out-dir "$out/srt"
.venv/bin/maskvox dub --manifest egs/dub/cues.jsonl --source-lang en --target-lang de --out-dir "$out/manifest"
# Running it again does nothing: every cue is done (--force redoes them).
.venv/bin/maskvox dub --manifest egs/dub/cues.jsonl --source-lang en --target-lang de --out-dir "$out/manifest"
