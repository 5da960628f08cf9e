"""The official acoustic encoder against Amphion's, side by side in one run, on the same weights.

    OMP_NUM_THREADS=1 python -m recipes.bench.acoustic_encoder --amphion /path/to/Amphion \
        --out exp/bench/acoustic_encoder.json

Both encoders are built at the official sizes (d_model 96, strides 3, 4, 5, 8, 256 channels
out) and hold the same random weights (maskvox's state dict loaded into Amphion's
`CodecEncoder`, whose parameter names are the official checkpoint's). They encode the same
`--seconds` of audio, alternating, `--repeats` times each, on one thread under
`torch.inference_mode`; the table gives each one's fastest and median CPU seconds, the ratio,
and the largest difference between their outputs.

Amphion is read from a checkout (`git clone https://github.com/open-mmlab/Amphion`): only
`models/codec/amphion_codec/codec.py` runs. Its module also imports einops, torchaudio and
librosa for other classes (quantizers, the Vocos decoder); where they are not installed, empty
stand-ins let it import (the encoder calls none of them). Without `--amphion` the figure the
issue measured (2.95 s for 3 s of audio) is shown beside maskvox's instead, said so.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import types
from pathlib import Path

import torch

AMPHION_FIGURE_S = 2.95  # issue 27: Amphion's encoder, 3 s of audio, one thread (measured before)


def amphion_encoder_class(checkout: Path):
    """Amphion's CodecEncoder from a checkout, with stand-ins for imports it does not use."""
    codec = checkout / "models" / "codec" / "amphion_codec" / "codec.py"
    if not codec.is_file():
        raise SystemExit(f"--amphion {checkout}: no models/codec/amphion_codec/codec.py there")
    for name in ("einops", "torchaudio", "torchaudio.functional", "torchaudio.functional.functional", "librosa"):
        if name not in sys.modules:
            try:
                __import__(name)
            except ImportError:
                stand_in = types.ModuleType(name)
                stand_in.__getattr__ = lambda attribute: None  # any name imported from it
                sys.modules[name] = stand_in
    sys.path.insert(0, str(checkout))
    from models.codec.amphion_codec.codec import CodecEncoder

    return CodecEncoder


def time_calls(encode, wav: torch.Tensor, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.process_time()
        encode(wav)
        seconds.append(time.process_time() - started)
    return seconds


def main(argv: list[str] | None = None) -> int:
    from maskvox.codecs.acoustic import AcousticEncoder
    from maskvox.config import preset
    from maskvox.fileio import write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--amphion", type=Path, help="an Amphion checkout")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = preset("official").acoustic_codec.encoder
    ours = AcousticEncoder(cfg).eval()
    wav = torch.randn(1, 1, int(args.seconds * 24000)) * 0.1
    encoders = {"maskvox": ours}
    if args.amphion:
        theirs = amphion_encoder_class(args.amphion)(d_model=cfg.d_model, up_ratios=list(cfg.up_ratios),
                                                      out_channels=cfg.out_channels, use_tanh=cfg.use_tanh).eval()
        theirs.load_state_dict(ours.state_dict(), strict=True)
        encoders["amphion"] = theirs
    seconds: dict[str, list[float]] = {name: [] for name in encoders}
    with torch.inference_mode():
        outputs = {name: encoder(wav) for name, encoder in encoders.items()}  # warm-up, and the outputs
        for _ in range(args.repeats):  # alternating, so both see the same machine
            for name, encoder in encoders.items():
                seconds[name] += time_calls(encoder, wav, 1)
    report = {"seconds_of_audio": args.seconds, "repeats": args.repeats, "torch": torch.__version__,
              "cpu_s": {name: {"min": round(min(s), 3), "median": round(statistics.median(s), 3)}
                        for name, s in seconds.items()}}
    if "amphion" in outputs:
        report["max_abs_difference"] = float((outputs["maskvox"] - outputs["amphion"]).abs().max())
        report["ratio_maskvox_over_amphion"] = round(min(seconds["maskvox"]) / min(seconds["amphion"]), 3)
    else:
        report["amphion_figure_s"] = AMPHION_FIGURE_S
        report["ratio_maskvox_over_amphion_figure"] = round(min(seconds["maskvox"]) / AMPHION_FIGURE_S, 3)
    write_json(args.out, report)
    print(f"acoustic encoder, {args.seconds:g} s of audio, one thread (CPU s, min / median of {args.repeats}):")
    for name, figures in report["cpu_s"].items():
        print(f"  {name}: {figures['min']:.3f} / {figures['median']:.3f}")
    if "amphion" in outputs:
        print(f"  maskvox / amphion: {report['ratio_maskvox_over_amphion']:.3f}; "
              f"outputs differ by at most {report['max_abs_difference']:.2e}")
    else:
        print(f"  no --amphion checkout: against the issue's figure {AMPHION_FIGURE_S} s, "
              f"ratio {report['ratio_maskvox_over_amphion_figure']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
