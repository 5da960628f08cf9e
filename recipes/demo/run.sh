#!/usr/bin/env bash
# Train the demo checkpoint end to end on offline speech, then pack and score it.
#
#   recipes/demo/run.sh              # every stage, 0 to 9 (4a included)
#   recipes/demo/run.sh 5 7          # stages 5 to 7 only
#   recipes/demo/run.sh 4a 4a        # the aligner only
#
# Every stage resumes where it stopped (the recipes keep checkpoints; extraction and corpus
# building skip what is written), so the whole script can simply be run again after a stop.
# The GPU is used when there is one (run.device auto); nothing needs it. Stages:
#   0 corpus   offline voices -> data/corpus_v2 (train / held-out voices)
#   1 codec    acoustic codec (24 kHz, 12 x 1024 RVQ)        -> exp/demo/model/acoustic_codec
#   2 duration phone shards + duration predictor               -> exp/demo/model/duration_model
#   3 encoder  Wav2Vec2-BERT, small, phone CTC                 -> exp/demo/model/semantic_features
#   4 semantic semantic codec over the encoder's block 3       -> exp/demo/model/semantic_codec
#   4a aligner CTC phone head over block 3, stage 4's features -> exp/demo/model/aligner
#   5 tokens   semantic + acoustic ids of every utterance      -> data/tokens_demo/train
#   6 t2s      T2S                                             -> exp/demo/model/t2s_model
#   7 s2a      S2A, one model for all 12 layers                -> exp/demo/model/s2a_model
#   8 export   fp16 copy, at most 60 MB                        -> maskvox/assets/demo
#   9 eval     held-out voices: recordings, resynthesis, clones -> exp/demo/eval
set -euo pipefail
first=${1:-0}
last=${2:-9}
corpus=${CORPUS:-data/corpus_v2}
model=${MODEL:-exp/demo/model}
tokens=${TOKENS:-data/tokens_demo}
python=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# Stage 4a (added after the others were numbered) runs between 4 and 5: order by ten times the number.
order() { case "$1" in *a) echo $(( ${1%a} * 10 + 5 )) ;; *) echo $(( $1 * 10 )) ;; esac; }
stage() { [ "$(order "$1")" -ge "$(order "$first")" ] && [ "$(order "$1")" -le "$(order "$last")" ]; }
say() { echo "== stage $*" >&2; }

if stage 0; then say "0: corpus"
  $python -m recipes.offline_corpus.build --out "$corpus" --per-voice 150 --languages en,de
fi
if stage 1; then say "1: acoustic codec"
  $python -m recipes.acoustic_codec.train --config recipes/acoustic_codec/configs/demo.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$model"
fi
if stage 2; then say "2: duration"
  for split in train heldout; do
    $python -m recipes.token_shards.extract --manifest "$corpus/$split.jsonl" --ids no --out "data/phones_demo/$split"
  done
  $python -m recipes.duration.train --config recipes/duration/configs/default.yaml \
    --set data.train_shards=data/phones_demo/train --set run.exp_dir=exp/demo/duration --set export_dir="$model"
fi
if stage 3; then say "3: semantic encoder"
  $python -m recipes.semantic_encoder.train --config recipes/semantic_encoder/configs/demo.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$model"
fi
if stage 4; then say "4: semantic codec"
  $python -m recipes.semantic_codec.train --config recipes/semantic_codec/configs/demo.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$model"
fi
if stage 4a; then say "4a: aligner"
  $python -m recipes.aligner.train --config recipes/aligner/configs/demo.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$model"
fi
if stage 5; then say "5: token shards"
  $python -m recipes.token_shards.extract --manifest "$corpus/train.jsonl" --model "$model" --device cpu --out "$tokens/train"
fi
if stage 6; then say "6: T2S"
  $python -m recipes.t2s.train --config recipes/t2s/configs/demo.yaml \
    --set data.train_shards="$tokens/train" --set export_dir="$model"
fi
if stage 7; then say "7: S2A"
  $python -m recipes.s2a.train --config recipes/s2a/configs/demo.yaml \
    --set data.train_shards="$tokens/train" --set export_dir="$model"
fi
if stage 8; then say "8: export"
  $python -m recipes.demo.export --model "$model" --out maskvox/assets/demo --readme recipes/demo/CHECKPOINT.md
fi
if stage 9; then say "9: evaluation"
  $python -m recipes.demo.evaluate --manifest "$corpus/heldout.jsonl" --model maskvox/assets/demo \
    --voices flite_slt_d100 flite_slt_d115_f150 espeakng_en_us_m3_s175_p50 espeakng_en_gb_f3_s170_p55 \
    --per-voice 15 --out exp/demo/eval
  $python -m recipes.duration.evaluate --shards data/phones_demo/heldout --model maskvox/assets/demo \
    --out exp/demo/eval/duration.json
  $python -m recipes.aligner.evaluate --manifest "$corpus/heldout.jsonl" --model maskvox/assets/demo \
    --limit 25 --out exp/demo/eval/aligner.json
fi
