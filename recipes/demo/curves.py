"""Keep the campaign's learning curves in the repository: copy each run's log and draw them.

    python -m recipes.demo.curves --run acoustic_codec=exp/demo3/acoustic_codec \
        --run t2s=exp/demo3/t2s --out recipes/demo/curves

Each `--run NAME=EXP_DIR` copies EXP_DIR/log.jsonl to OUT/NAME.jsonl (a curve already in OUT
that no `--run` names is kept and drawn too), then OUT/curves.png gets one panel per curve: the
figures that say how a model is doing (`PANELS`; otherwise every loss), against the step, with
the CPU-hours of the last record in the title when the log has them. For each held-out figure
it prints the trend over the later half of the run: the gain per doubling of CPU-hours (a
least-squares line against log2 of the CPU-hours), the forecast that the campaign plans with.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

from maskvox.errors import UserError
from maskvox.fileio import atomic_path

from ..common.cli import exit_status
from ..common.trainer import read_log

# The figures worth watching, by the start of a run's name; other runs show their losses.
PANELS = {
    "acoustic_codec": ["gen/mel"],
    "acoustic_decoder": ["gen/mel_written", "gen/mel_true", "heldout/mel_written", "heldout/mel_true"],
    "semantic_codec": ["codebook_perplexity"],
    "aligner": ["loss/ctc"],
    "judge_picks": ["picked_wer_3", "shipped_wer_3", "picked_wer_6", "shipped_wer_6"],
    "t2s": ["train/accuracy", "heldout/accuracy"],
    "s2a": ["train/accuracy", "heldout/accuracy", "heldout/accuracy_layer1"],
    "duration": ["train/loss"],
    "vocoder": ["student/wave", "heldout/wave", "heldout/mel", "heldout/correlation"],
}


def panel_keys(name: str, records: list[dict]) -> list[str]:
    present = {key for record in records for key in record}
    listed = next((keys for prefix, keys in PANELS.items() if name.startswith(prefix)), [])
    wanted = [key for key in listed if key in present]
    return wanted or sorted(key for key in present if "loss" in key)


def trend(records: list[dict], key: str) -> tuple[float, float, float] | None:
    """(last value, CPU-hours, gain per doubling of CPU-hours) over the later half, or None."""
    points = [(r["cpu_hours"], r[key]) for r in records if key in r and r.get("cpu_hours", 0) > 0]
    points = points[len(points) // 2 :]
    if len(points) < 3:
        return None
    xs = [math.log2(hours) for hours, _ in points]
    ys = [value for _, value in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else 0.0
    return ys[-1], points[-1][0], slope


def copy_logs(runs: list[str], out: Path) -> None:
    for run in runs:
        name, _, folder = run.partition("=")
        if not name or not folder:
            raise UserError(f"--run {run!r}: expected NAME=EXPERIMENT_FOLDER")
        log = Path(folder) / "log.jsonl"
        if not log.is_file():
            raise UserError(f"--run {run!r}: {log} does not exist")
        with atomic_path(out / f"{name}.jsonl") as tmp:
            shutil.copyfile(log, tmp)


def draw(out: Path) -> Path:
    """One panel per curve file in `out` -> out/curves.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = {path.stem: read_log(path) for path in sorted(out.glob("*.jsonl"))}
    # Training logs only (eval.jsonl, milestone_eval's records, has snapshots, not steps).
    curves = {name: records for name, records in curves.items() if records and "step" in records[0]}
    if not curves:
        raise UserError(f"no curves (*.jsonl) in {out}")
    columns = min(3, len(curves))
    rows = -(-len(curves) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(5 * columns, 3.2 * rows), squeeze=False)
    for axis, (name, records) in zip(axes.flat, curves.items()):
        for key in panel_keys(name, records):
            points = [(r["step"], r[key]) for r in records if key in r]
            axis.plot([p[0] for p in points], [p[1] for p in points], linewidth=1, label=key)
        hours = records[-1].get("cpu_hours")
        axis.set_title(name + (f" ({hours:.1f} CPU-h)" if hours is not None else ""), fontsize=9)
        axis.set_xlabel("step", fontsize=8)
        axis.legend(fontsize=7)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(curves):]:
        axis.axis("off")
    figure.tight_layout()
    png = out / "curves.png"
    with atomic_path(png) as tmp:
        figure.savefig(tmp, dpi=80, format="png")
    plt.close(figure)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", default=[], help="NAME=EXPERIMENT_FOLDER (repeatable)")
    parser.add_argument("--out", default="recipes/demo/curves", help="curve folder (default: %(default)s)")
    args = parser.parse_args(argv)

    def work() -> None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        copy_logs(args.run, out)
        print(draw(out))
        for path in sorted(out.glob("*.jsonl")):
            records = read_log(path)
            for key in sorted({k for r in records for k in r if k.startswith("heldout/")}):
                found = trend(records, key)
                if found:
                    value, hours, gain = found
                    print(f"{path.stem} {key}: {value:.4g} at {hours:.2f} CPU-h, {gain:+.4g} per doubling of CPU-hours")

    return exit_status(work)


if __name__ == "__main__":
    sys.exit(main())
