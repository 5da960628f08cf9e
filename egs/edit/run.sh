#!/usr/bin/env bash
# Speech editing with the demo checkpoint: one edit from the command line, then a batch of
# edits from a RealEdit-style TSV. Run from the repository root after ./install.sh:
#   bash egs/edit/run.sh [OUT_DIR]
set -euo pipefail
out=${1:-exp/egs_edit}
mkdir -p "$out"
text="$(cat egs/clone/prompt.txt)"  # We do not break. We never give in. We never back down.
.venv/bin/maskvox edit --audio egs/clone/prompt.wav --text "$text" \
    --new-text "We do not bend. We never give in. We never back down." \
    --out "$out/bend.wav" --seed 0
.venv/bin/maskvox edit --tsv egs/edit/edits.tsv --out-dir "$out/batch" --seed 0
