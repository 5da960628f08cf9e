"""The campaign's small fixed evaluation: a snapshot of the model folder as it trains, scored on
held-out voices, one line appended to the learning curves.

    OMP_NUM_THREADS=1 python -m recipes.demo.milestone_eval --model exp/demo3/model \
        --snapshot exp/demo3/snapshots/m1 --run t2s=exp/demo3/t2s --run s2a=exp/demo3/s2a4

1. The model folder is copied to `--snapshot` (the runs keep exporting into it while the
   evaluation reads the copy); `--take s2a_full=FOLDER` puts another run's export of a module
   in the copy instead (an A/B candidate); `--take vocoder=FOLDER` ships a distilled vocoder
   (recipes/vocoder) in the copy, named by its `acoustic_codec.decoder.vocoder_folder`.
2. S2A alone (`recipes/convert/evaluate.py`): `--pairs` held-out recordings' own semantic ids
   said in another held-out voice. Whisper-base WER against the source recording's, and
   similarity to the prompt against similarity to the source speaker.
3. The whole chain (`recipes/demo/evaluate.py`): `--per-voice` clones per voice of `--voices`
   from a prompt of the same voice, at the default preset and the predicted length.
4. One record in `--curve` (default recipes/demo/curves/eval.jsonl): the snapshot's name, each
   run's step and CPU-hours (the last line of its log.jsonl), and the figures above.
A stopped evaluation resumes (both evaluators keep the wavs they wrote).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from maskvox.errors import UserError
from maskvox.jobs import read_records

from ..common.cli import exit_status, positive
from ..common.trainer import read_log
from .export import put_vocoder

MANIFEST = "data/corpus_v3/heldout.jsonl"
VOICES = ["flite_slt", "pico_en_GB", "librivox_austen"]


def run_positions(runs: list[str]) -> dict:
    """name -> {step, cpu_hours} of each NAME=EXPERIMENT_FOLDER's last checkpoint (what it
    exported last), the CPU-hours from its log."""
    found = {}
    for run in runs:
        name, _, folder = run.partition("=")
        log = Path(folder) / "log.jsonl"
        saved = [int(path.name.removeprefix("step_")) for path in Path(folder).glob("checkpoints/step_*")]
        if not name or not log.is_file() or not saved:
            raise UserError(f"--run {run!r}: expected NAME=EXPERIMENT_FOLDER with a log.jsonl and checkpoints")
        step = max(saved)
        logged = [record for record in read_log(log) if record["step"] <= step] or read_log(log)[:1]
        found[name] = {"step": step, "cpu_hours": logged[-1].get("cpu_hours")}
    return found


# Modules a candidate run exports apart from the main model folder (`--take`), with the
# ModelConfig section that sizes each.
TAKEN_SECTIONS = {"t2s": "t2s", "s2a_full": "s2a_full", "duration": "duration", "codec_decoder": "acoustic_codec",
                  "aligner": "aligner"}


def snapshot(model: Path, folder: Path, takes: list[str] = ()) -> None:
    """Copy `model` to `folder`, with each NAME=EXPORT_FOLDER of `takes` put in place of the
    model's own module NAME (weights and config section): an A/B candidate scored in the
    whole chain before it replaces anything."""
    from maskvox.checkpoint import OFFICIAL_FILES, load_model_config
    from maskvox.config import save_config

    if folder.exists():
        return  # a resumed evaluation scores the copy it made
    partial = folder.with_name(folder.name + ".partial")  # renamed when whole: never half a copy
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(model, partial)
    cfg = load_model_config(partial)
    for take in takes:
        name, _, source = take.partition("=")
        if name == "vocoder":
            put_vocoder(Path(source), partial, cfg, "--take vocoder=")
            continue
        if name not in TAKEN_SECTIONS or not (Path(source) / OFFICIAL_FILES.get(name, "")).is_file():
            raise UserError(f"--take {take!r}: expected NAME=EXPORT_FOLDER, NAME one of "
                            f"{', '.join(TAKEN_SECTIONS)}, vocoder, with that module's weights in the folder")
        shutil.copyfile(Path(source) / OFFICIAL_FILES[name], partial / OFFICIAL_FILES[name])
        section = TAKEN_SECTIONS[name]
        taken = getattr(load_model_config(source), section)
        if name == "codec_decoder":  # a decoder's export names no vocoder: the model's own decodes it
            taken.decoder.vocoder_folder = cfg.acoustic_codec.decoder.vocoder_folder
        setattr(cfg, section, taken)
    save_config(cfg, partial / "config.json")
    partial.rename(folder)


def capped_wer(path: Path, key: str) -> float | None:
    """The mean WER of a scores file with each utterance's errors capped at its length: one
    Whisper repetition loop ("rává rává ...", 20x the words) otherwise outweighs every other
    utterance of a 6-item evaluation."""
    values = [min(1.0, record[key]) for record in read_records(path).values() if record.get(key) is not None]
    return sum(values) / len(values) if values else None


def figures(convert: dict, clone: dict, folder: Path | None = None) -> dict:
    converted = convert["summary"]["0"]
    capped = {}
    if folder is not None:
        capped = {"convert_wer_capped": capped_wer(folder / "convert" / "scores.jsonl", "wer_output"),
                  "clone_wer_capped": capped_wer(folder / "clone" / "clone" / "items.jsonl", "wer")}
    return {
        **capped,
        "convert_wer": converted["wer_output_mean"], "convert_source_wer": converted["wer_source_mean"],
        "convert_similarity_prompt": converted["similarity_prompt_mean"],
        "convert_similarity_source": converted["similarity_source_mean"],
        "clone_wer": clone["clone"]["wer_mean_per_utterance"],
        "clone_recordings_wer": clone["recordings"]["wer_mean_per_utterance"],
        "clone_similarity": clone["clone"]["similarity_mean"],
        "clones_closer_to_own_prompt": clone["speakers"]["clones_closer_to_own_prompt"],
        "clones": clone["speakers"]["clones"],
    }


def main(argv: list[str] | None = None) -> int:
    from . import evaluate as clone_evaluation
    from ..convert import evaluate as convert_evaluation

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="exp/demo3/model", help="the model folder the runs export into")
    parser.add_argument("--snapshot", required=True, help="where the copy goes (its name names the record)")
    parser.add_argument("--run", action="append", default=[], help="NAME=EXPERIMENT_FOLDER (repeatable)")
    parser.add_argument("--take", action="append", default=[], metavar="MODULE=EXPORT_FOLDER",
                        help="score another run's export of a module (t2s, s2a_full, duration, codec_decoder, "
                             "vocoder) instead")
    parser.add_argument("--manifest", default=MANIFEST)
    parser.add_argument("--voices", nargs="+", default=VOICES)
    parser.add_argument("--pairs", type=positive, default=6, help="conversions (S2A alone)")
    parser.add_argument("--per-voice", type=positive, default=2, help="clones per voice")
    parser.add_argument("--curve", default="recipes/demo/curves/eval.jsonl")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    def work() -> None:
        positions = run_positions(args.run)
        snap = Path(args.snapshot)
        snapshot(Path(args.model), snap, args.take)
        quiet = ["--quiet"] if args.quiet else []
        out = snap.parent.parent / "eval" / snap.name
        if convert_evaluation.main(["--manifest", args.manifest, "--model", str(snap), "--pairs", str(args.pairs),
                                    "--voices", *args.voices, "--out", str(out / "convert"), *quiet]) != 0:
            raise UserError("the conversion evaluation failed (its message is above)")
        if clone_evaluation.main(["--manifest", args.manifest, "--model", str(snap), "--voices", *args.voices,
                                  "--per-voice", str(args.per_voice), "--out", str(out / "clone"), *quiet]) != 0:
            raise UserError("the clone evaluation failed (its message is above)")
        record = {"snapshot": snap.name, "runs": positions,
                  **figures(json.loads((out / "convert" / "results.json").read_text()),
                            json.loads((out / "clone" / "results.json").read_text()), out)}
        curve = Path(args.curve)
        curve.parent.mkdir(parents=True, exist_ok=True)
        with open(curve, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record, indent=1))

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
