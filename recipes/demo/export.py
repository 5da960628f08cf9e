"""Pack a trained model folder into the demo checkpoint that ships in the package.

    python -m recipes.demo.export --model exp/demo/model --out maskvox/assets/demo

Copies the folder (official layout: config.json, the codecs, T2S, S2A, duration model and
the semantic encoder) with every floating-point tensor stored as float16: the loaders cast
to the model's dtype, and fp16 halves the size. Refuses when the result would exceed
`--max-mb` (60 MB: what a repository can carry). `--sampling FILE` (YAML/JSON of
`maskvox.config.SamplingDefaults`) writes the sampling settings the demo asks for into its
config (recipes/demo/sampling.yaml: chosen on held-out clones). `--vocoder DIR` puts a distilled
vocoder (recipes/vocoder: config.json, generator.safetensors) in the folder's `vocoder/` and names
it as the codec's `vocoder_folder`. The new folder is built beside the old one and swapped in by
renames, so a failed export leaves the old checkpoint whole.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from maskvox.errors import UserError

from ..common.cli import exit_status

KEPT_FILES = ("config.json", "README.md", "preprocessor_config.json", "stats.npz")


def halve(source: Path, target: Path) -> None:
    tensors = load_file(str(source))
    save_file({k: v.half() if v.is_floating_point() else v for k, v in tensors.items()}, str(target))


VOCODER_FOLDER = "vocoder"  # where a model folder keeps the vocoder it ships


def put_vocoder(source: Path, folder: Path, cfg, flag: str, write_weights=shutil.copyfile) -> None:
    """Put a vocoder export (config.json, generator.safetensors) in `folder`'s vocoder/ and name it
    in `cfg` (the folder's ModelConfig; the caller saves it). `flag` names the option in errors;
    `write_weights(source, target)` copies the weights (`halve`: in float16)."""
    from maskvox.codecs.hifigan_data import CONFIG_NAME, WEIGHTS_NAME

    if not all((source / name).is_file() for name in (CONFIG_NAME, WEIGHTS_NAME)):
        raise UserError(f"{flag}{source}: expected a vocoder export ({CONFIG_NAME}, {WEIGHTS_NAME})")
    if cfg.acoustic_codec.decoder.vocoder != "hifigan":
        raise UserError(f"{flag}{source}: the model's acoustic codec does not decode through HiFi-GAN")
    target = folder / VOCODER_FOLDER
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir()
    shutil.copyfile(source / CONFIG_NAME, target / CONFIG_NAME)
    write_weights(source / WEIGHTS_NAME, target / WEIGHTS_NAME)
    cfg.acoustic_codec.decoder.vocoder_folder = VOCODER_FOLDER


def pack(model: Path, out: Path, max_mb: float, readme: Path | None, sampling: Path | None = None,
         vocoder: Path | None = None) -> int:
    from maskvox.checkpoint import load_model_config
    from maskvox.config import SamplingDefaults, load_config, save_config

    if not (model / "config.json").is_file():
        raise UserError(f"{model} is not a model folder (no config.json)")
    settings = load_config(sampling, SamplingDefaults) if sampling is not None else None
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for source in sorted(p for p in model.rglob("*") if p.is_file()):
            relative = source.relative_to(model)
            if any(part.startswith(".") for part in relative.parts):
                continue
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.suffix == ".safetensors":
                halve(source, target)
            elif source.name in KEPT_FILES:
                shutil.copyfile(source, target)
        if readme is not None:
            shutil.copyfile(readme, staging / "README.md")
        if settings is not None or vocoder is not None:
            cfg = load_model_config(staging)
            if settings is not None:
                cfg.sampling = settings
            if vocoder is not None:
                put_vocoder(vocoder, staging, cfg, "--vocoder ", write_weights=halve)
            save_config(cfg, staging / "config.json")
        size = sum(p.stat().st_size for p in staging.rglob("*") if p.is_file())
        if size > max_mb * 1e6:
            raise UserError(f"the packed checkpoint is {size / 1e6:.1f} MB, over the {max_mb:g} MB limit")
        staging.chmod(0o755)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old)
        else:
            staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"{out}: {size / 1e6:.1f} MB")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="trained model folder (official layout)")
    parser.add_argument("--out", required=True, help="where the packed checkpoint goes (replaced)")
    parser.add_argument("--max-mb", type=float, default=60.0)
    parser.add_argument("--readme", help="README.md to put in the checkpoint (default: the model folder's)")
    parser.add_argument("--sampling", help="YAML/JSON of the sampling settings the checkpoint asks for")
    parser.add_argument("--vocoder", help="a distilled vocoder's export folder to ship as the folder's vocoder/")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    return exit_status(lambda: pack(Path(args.model), Path(args.out), args.max_mb,
                                    Path(args.readme) if args.readme else None,
                                    Path(args.sampling) if args.sampling else None,
                                    Path(args.vocoder) if args.vocoder else None))


if __name__ == "__main__":
    sys.exit(main())
