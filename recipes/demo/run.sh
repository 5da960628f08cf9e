#!/usr/bin/env bash
# The demo checkpoint's training campaign: corpus v3, then every model, then pack and score.
#
#   recipes/demo/run.sh              # every stage, 0 to 9
#   recipes/demo/run.sh 1 1          # the acoustic codec only (resumes where it stopped)
#   recipes/demo/run.sh 0a 0a        # the Whisper check of the human transcripts only
#
# Every stage resumes where it stopped (the recipes keep checkpoints; extraction and corpus
# building skip what is written), so the script can simply be run again after a stop, on a
# CPU in the background (nice, OMP_NUM_THREADS=1) for as long as the campaign lasts. The GPU is
# used when there is one (run.device auto); nothing needs it. Stages:
#   0  corpus    human + synthetic speech, 7 languages      -> data/corpus_v3 (install_assets.sh first)
#   0a check     Whisper base against the human transcripts  -> data/corpus_v3 (resumable, ~3 CPU-hours)
#   1  codec     acoustic codec, HiFi-GAN mel route (frozen)  -> exp/demo3/model/acoustic_codec
#   1a decoder   the codec's decoder alone, on S2A's latents   -> exp/demo3/acoustic_decoder_gta/export
#   1b vocoder   HiFi-GAN V2 sizes distilled from V1            -> exp/demo3/vocoder_v2_anneal/export
#   1c decoder   the codec's decoder alone, against a mel adversary -> exp/demo3/acoustic_decoder_gan/export
#   2  duration  phone shards + duration predictor            -> exp/demo3/model/duration_model
#   3  semantic  k-means codec over Whisper base block 4       -> exp/demo3/model/semantic_codec
#   4a aligner   CTC phone head over the same features        -> exp/demo3/model/aligner
#   4b judge     a stronger phone head, the drafts' judge (a candidate) -> exp/demo3/judge_model/aligner
#   5  tokens    semantic ids (T2S), + acoustic ids (S2A)     -> data/tokens_demo3/{t2s_train,t2s_heldout,train}
#   5a align     each T2S frame's phone, by the aligner       -> data/tokens_demo3/t2s_{train,heldout}_aligned
#   6  t2s       T2S, told each frame's phone                 -> exp/demo3/model/t2s_model
#   7  s2a       S2A, the codec's latent of layers 1-4 (400-frame crops) -> exp/demo3/model/s2a_model
#   7b s2a flow  the same S2A with a flow-matching head (a candidate) -> exp/demo3/s2a_flow/export
#   8  export    fp16 copy with the 1b vocoder, at most 60 MB -> maskvox/assets/demo
#   9  eval      held-out voices: recordings, resynthesis, clones -> exp/demo3/eval
set -euo pipefail
first=${1:-0}
last=${2:-9}
corpus=${CORPUS:-data/corpus_v3}
model=${MODEL:-exp/demo3/model}
tokens=${TOKENS:-data/tokens_demo3}
python=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

# Stages 0a, 1a-1c, 4a and 4b (added after the others were numbered) run after 0, 1 and 4: order by ten times the number.
order() {
  case "$1" in *a) echo $(( ${1%a} * 10 + 5 )) ;; *b) echo $(( ${1%b} * 10 + 7 )) ;; *c) echo $(( ${1%c} * 10 + 8 )) ;;
    *) echo $(( $1 * 10 )) ;; esac
}
stage() { [ "$(order "$1")" -ge "$(order "$first")" ] && [ "$(order "$1")" -le "$(order "$last")" ]; }
say() { echo "== stage $*" >&2; }
# The committed milestone of a model, or nothing (a run with checkpoints resumes from them instead).
milestone() { [ -f "recipes/demo/milestones/$1/config.json" ] && echo "recipes/demo/milestones/$1" || true; }

if stage 0; then say "0: corpus"
  $python -m recipes.offline_corpus.build_v3 --out "$corpus" --check-asr none
fi
if stage 0a; then say "0a: Whisper check of the human transcripts"
  $python -m recipes.offline_corpus.build_v3 --out "$corpus" --check-asr whisper-base
fi
if stage 1; then say "1: acoustic codec"
  if [ -n "$(milestone acoustic_codec)" ] && [ -z "${CODEC_STEPS:-}" ]; then
    # Frozen at its milestone: S2A learns the acoustic ids of exactly this codec. CODEC_STEPS=N
    # trains on from the milestone instead (then redo stages 5 and 7: the ids change).
    $python -m recipes.demo.unpack recipes/demo/milestones/acoustic_codec "$model"
  else
    $python -m recipes.acoustic_codec.train --config recipes/acoustic_codec/configs/demo.yaml \
      --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$model" \
      --set init_from="$(milestone acoustic_codec)" ${CODEC_STEPS:+--set run.max_steps="$CODEC_STEPS"}
  fi
fi
if stage 1a; then say "1a: the codec's decoder on what S2A writes"
  # Encoder and quantizer frozen at the milestone: the ids, and the S2A that learned them, hold.
  # Needs stage 5's S2A shards. The export is a candidate, scored before it replaces the
  # decoder in the model folder.
  $python -m recipes.acoustic_codec.train --config recipes/acoustic_codec/configs/demo_decoder_gta.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set init_from="$(milestone acoustic_codec)" \
    --set decoder_only.gta.s2a="$(milestone s2a)" --set decoder_only.gta.shards="$tokens/train" \
    --set decoder_only.gta.heldout_shards="$tokens/heldout" --set decoder_only.gta.heldout_manifest="$corpus/heldout.jsonl"
fi
if stage 1b; then say "1b: a smaller vocoder distilled from HiFi-GAN V1"
  # V1's waveforms of the recordings' mels and of the milestone codec's, cached once
  # (VOCODER_HOURS of training voices; more hours extend the same list). The export is a
  # candidate, scored before a model folder names it (acoustic_codec.decoder.vocoder_folder).
  $python -m recipes.vocoder.teacher --manifest "$corpus/train.jsonl" --out data/vocoder_teacher/train \
    --hours "${VOCODER_HOURS:-0.5}" --codec-from "$(milestone acoustic_codec)"
  $python -m recipes.vocoder.teacher --manifest "$corpus/heldout.jsonl" --out data/vocoder_teacher/heldout \
    --hours 0.1 --codec-from "$(milestone acoustic_codec)"
  # The annealing phase (lr 5e-5) from the milestone; demo_v2.yaml was the run before it.
  $python -m recipes.vocoder.distill --config recipes/vocoder/configs/demo_v2_anneal.yaml \
    --set init_from="$(milestone vocoder_v2)"
fi
if stage 1c; then say "1c: the codec's decoder against a mel adversary"
  # Encoder and quantizer frozen at the milestone, as in 1a; the export is a candidate, scored
  # (recipes/acoustic_codec/voice_loss.py, then the clones) before it replaces the decoder.
  $python -m recipes.acoustic_codec.train --config recipes/acoustic_codec/configs/demo_decoder_gan.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set init_from="$(milestone acoustic_codec)"
fi
if stage 2; then say "2: duration"
  for split in train heldout; do
    $python -m recipes.token_shards.extract --manifest "$corpus/$split.jsonl" --ids no --out "data/phones_demo3/$split"
  done
  $python -m recipes.duration.train --config recipes/duration/configs/default.yaml \
    --set data.train_shards=data/phones_demo3/train --set run.exp_dir=exp/demo3/duration --set export_dir="$model"
fi
if stage 3; then say "3: semantic codec"
  # The features are extracted and cached either way (stage 5 reads them); the k-means fit is
  # replaced by the milestone's centroids, which T2S and S2A learned, when there is one.
  $python -m recipes.semantic_codec.train --config recipes/semantic_codec/configs/demo.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$model"
  if [ -n "$(milestone semantic_codec)" ]; then
    $python -m recipes.demo.unpack recipes/demo/milestones/semantic_codec "$model"
  fi
fi
if stage 4a; then say "4a: aligner"
  $python -m recipes.aligner.train --config recipes/aligner/configs/demo.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$model"
fi
if stage 4b; then say "4b: a stronger phone head, the drafts' judge (a candidate)"
  # A folder of its own (the semantic features' config and statistics copied from stage 3's), so
  # the shipped aligner stays until the candidate is scored on saved drafts.
  judge=exp/demo3/judge_model
  if [ ! -f "$judge/config.json" ]; then
    mkdir -p "$judge" && cp "$model/config.json" "$judge/" && cp -r "$model/semantic_features" "$judge/"
  fi
  $python -m recipes.aligner.train --config recipes/aligner/configs/demo_judge.yaml \
    --set data.train_manifest="$corpus/train.jsonl" --set export_dir="$judge"
fi
if stage 5; then say "5: token shards"
  # T2S needs semantic ids only: quantize the features stage 3 cached rather than run Whisper again.
  $python -m recipes.token_shards.extract --manifest "$corpus/train.jsonl" --model "$model" --device cpu \
    --ids semantic --feature-cache exp/demo3/semantic_codec/features --out "$tokens/t2s_train"
  $python -m recipes.token_shards.extract --manifest "$corpus/heldout.jsonl" --model "$model" --device cpu \
    --ids semantic --out "$tokens/t2s_heldout"
  # S2A needs no phones: every language, acoustic ids from the acoustic codec of stage 1.
  $python -m recipes.token_shards.extract --manifest "$corpus/train.jsonl" --model "$model" --device cpu \
    --phones no --feature-cache exp/demo3/semantic_codec/features --out "$tokens/train"
  $python -m recipes.token_shards.extract --manifest "$corpus/heldout.jsonl" --model "$model" --device cpu \
    --phones no --stride 10 --out "$tokens/heldout"
fi
if stage 5a; then say "5a: frame phones"
  # T2S's alignment help (t2s/frame_phones.py) learns from each frame's phone (about 2 minutes).
  for split in train heldout; do
    $python -m recipes.token_shards.align --shards "$tokens/t2s_$split" --manifest "$corpus/$split.jsonl" \
      --model "$model" --feature-cache exp/demo3/semantic_codec/features --out "$tokens/t2s_${split}_aligned" --quiet
  done
fi
# Stages 6 and 7 are independent: on two cores run them side by side (run.sh 6 6 & run.sh 7 7 &).
# Both run the levers the curves chose (recipes/demo/RESULTS.md, fourth to sixth sessions): T2S
# told each frame's phone (demo_aligned.yaml, needs stage 5a) and S2A regressing the codec's
# latent on 400-frame crops with prompts of up to 200 frames (demo_latent_long.yaml); the plain
# demo.yaml configs are their A/B baselines.
if stage 6; then say "6: T2S"
  $python -m recipes.t2s.train --config recipes/t2s/configs/demo_aligned.yaml \
    --set data.train_shards="$tokens/t2s_train_aligned" --set data.heldout_shards="$tokens/t2s_heldout_aligned" \
    --set export_dir="$model" --set finetune.init_from="$(milestone t2s)"
fi
if stage 7; then say "7: S2A"
  $python -m recipes.s2a.train --config recipes/s2a/configs/demo_latent_long.yaml \
    --set data.train_shards="$tokens/train" --set data.heldout_shards="$tokens/heldout" \
    --set export_dir="$model" --set finetune.init_from="$(milestone s2a)" --set latent.codec="$model"
fi
if stage 7b; then say "7b: S2A with a flow-matching head"
  # A candidate beside stage 7's S2A, scored in the whole chain (milestone_eval --take
  # s2a_full=EXPORT) before a model folder takes it. Starts from its own milestone, else stage 7's.
  start=$(milestone s2a_flow)
  $python -m recipes.s2a.train --config recipes/s2a/configs/demo_latent_flow.yaml \
    --set data.train_shards="$tokens/train" --set data.heldout_shards="$tokens/heldout" \
    --set finetune.init_from="${start:-$(milestone s2a)}"
fi
if stage 8; then say "8: export"
  # The distilled vocoder (stage 1b's milestone) ships in the folder: 14 times V1's speed.
  vocoder=$(milestone vocoder_v2)
  $python -m recipes.demo.export --model "$model" --out maskvox/assets/demo --readme recipes/demo/CHECKPOINT.md \
    --sampling recipes/demo/sampling.yaml ${vocoder:+--vocoder "$vocoder"}
fi
if stage 9; then say "9: evaluation"
  $python -m recipes.acoustic_codec.evaluate --model maskvox/assets/demo --manifest "$corpus/heldout.jsonl" \
    --speakers librivox_austen fillets_nl_small fillets_cs_linuxer1 fillets_cs_linuxer2 flite_slt pico_en_GB \
    --per-speaker 10 --out exp/demo3/eval/codec.jsonl
  $python -m recipes.demo.evaluate --manifest "$corpus/heldout.jsonl" --model maskvox/assets/demo \
    --voices flite_slt pico_en_GB --per-voice 8 --out exp/demo3/eval/clone
  $python -m recipes.duration.evaluate --shards data/phones_demo3/heldout --model maskvox/assets/demo \
    --out exp/demo3/eval/duration.json
  $python -m recipes.aligner.evaluate --manifest "$corpus/heldout.jsonl" --model maskvox/assets/demo \
    --limit 25 --out exp/demo3/eval/aligner.json
fi
