"""Where a mel-route codec loses the voice: its vocoder's ceiling against its round trips.

    python -m recipes.acoustic_codec.voice_loss --model maskvox/assets/demo \
        --manifest data/corpus_v3/heldout.jsonl --speakers librivox_austen fillets_nl_small \
        --per-speaker 5 --layers 4 12 --out exp/voice_loss.json

A codec of the "hifigan" route predicts a log mel that its vocoder turns into a waveform. Per
utterance, the recording's own HiFi-GAN mel goes through the codec's vocoder (`true mel`: the
most a perfect codec could keep of the voice with that vocoder), and the codec's mel from the
first N quantizer layers goes through the same vocoder, for each N of `--layers`. Each is scored
by its resemblyzer similarity to the recording, and each predicted mel by its L1 distance to the
true one. Read the table from left to right: the true mel's column is the vocoder's loss, the
gap to the layers' columns the codec's; if more layers add little, the voice is lost in the
codec's encoder or decoder rather than in its quantizer. Needs the `eval` extra (resemblyzer).
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch
from tqdm import tqdm

from maskvox.audio import ACOUSTIC_RATE, load_audio, resample
from maskvox.codecs.acoustic import AcousticCodec
from maskvox.codecs.hifigan import HifiganConfig, HifiganMel
from maskvox.codecs.mel_decoder import VOCODER_RATE, mel_frames
from maskvox.errors import UserError

from ..common.cli import positive, report_status
from ..common.manifest import read_manifest
from .evaluate import pick

TRUE_MEL = "true mel"


def layers_route(n: int) -> str:
    return "1 layer" if n == 1 else f"{n} layers"


def true_mel(codec: AcousticCodec, mel_of: HifiganMel, wav: torch.Tensor) -> torch.Tensor:
    """(1, N) waveform at 24 kHz, N a whole number of codec frames -> (1, 80, M) HiFi-GAN log
    mel (`mel_of`'s), M = the mel frames the codec's decoder writes for those frames."""
    mel = mel_of(torch.from_numpy(resample(wav[0].numpy(), ACOUSTIC_RATE, VOCODER_RATE))[None])
    frames = mel_frames(wav.shape[-1] // codec.hop_length, codec.hop_length)
    return torch.nn.functional.pad(mel, (0, max(0, frames - mel.shape[-1])), mode="replicate")[..., :frames]


@torch.no_grad()
def voice_routes(codec: AcousticCodec, mel_of: HifiganMel, wav: np.ndarray,
                 layers: list[int]) -> dict[str, tuple[torch.Tensor, ...]]:
    """(N,) waveform at 24 kHz -> {route: (log mel (1, 80, M), waveform (1, N'))} for the true
    mel and for the decoder's mel from each number of layers."""
    padded = codec.pad_to_frames(torch.from_numpy(wav)[None])
    latents = codec.encoder(padded[:, None, :])
    mels = {TRUE_MEL: true_mel(codec, mel_of, padded)}
    for n in layers:
        mels[layers_route(n)] = codec.decoder(codec.decoder.quantize(latents, n_quantizers=n).quantized)
    return {route: (mel, codec.vocoder(mel, padded.shape[-1])) for route, mel in mels.items()}


def measure(model: str, manifest: str, speakers: list[str] | None, per_speaker: int, layers: list[int],
            quiet: bool = False) -> dict:
    from maskvox.codecs.pretrained import load_acoustic_codec
    from maskvox.evaluation.speaker import cosine_similarity, get_speaker_backend

    codec = load_acoustic_codec(model)
    if codec.vocoder is None:
        raise UserError(f"{model}: its acoustic codec does not decode through a mel vocoder (decoder.vocoder "
                        "is not 'hifigan'), so there is no mel to compare")
    deepest = codec.cfg.decoder.num_quantizers
    if any(n > deepest for n in layers):
        raise UserError(f"--layers: this codec has {deepest} quantizer layers")
    items = pick(read_manifest(manifest), speakers, per_speaker, 0)
    if not items:
        raise UserError(f"no utterances of {manifest} to score (check --speakers and --per-speaker)")
    speaker = get_speaker_backend("resemblyzer").load("cpu", None)
    mel_of = HifiganMel(HifiganConfig())  # its filterbank made once, not per utterance
    rows = []
    for item in tqdm(items, desc="voice routes", disable=quiet):
        wav = load_audio(item.audio, ACOUSTIC_RATE)
        wav = wav / max(float(np.abs(wav).max()), 1e-5) * 0.9  # as recipes.acoustic_codec.evaluate codes it
        recording = speaker.embed(resample(wav, ACOUSTIC_RATE, 16000))
        routes = voice_routes(codec, mel_of, wav, layers)
        reference_mel = routes[TRUE_MEL][0]
        row = {"id": item.id, "speaker": item.speaker}
        for route, (mel, out) in routes.items():
            heard = speaker.embed(resample(out[0].numpy(), ACOUSTIC_RATE, 16000))
            row[route] = {"similarity": cosine_similarity(recording, heard),
                          "mel_l1": float((mel - reference_mel).abs().mean())}
        rows.append(row)
    routes = [TRUE_MEL, *map(layers_route, layers)]

    def means(subset: list[dict]) -> dict:
        figures = {route: {key: float(np.mean([r[route][key] for r in subset])) for key in ("similarity", "mel_l1")}
                   for route in routes}
        return {"utterances": len(subset), **figures}

    speakers_seen = sorted({r["speaker"] for r in rows})
    return {"model": str(model), "manifest": str(manifest), "routes": routes, "rows": rows, "all": means(rows),
            "per_speaker": {s: means([r for r in rows if r["speaker"] == s]) for s in speakers_seen}}


def table(report: dict) -> str:
    routes = report["routes"]
    head = "| speaker | utt. | " + " | ".join(f"similarity, {route}" for route in routes) + " | " + \
        " | ".join(f"mel L1, {route}" for route in routes[1:]) + " |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for name, s in [*report["per_speaker"].items(), ("all", report["all"])]:
        cells = [f"{s[route]['similarity']:.3f}" for route in routes]
        cells += [f"{s[route]['mel_l1']:.3f}" for route in routes[1:]]
        lines.append(f"| {name} | {s['utterances']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="model folder or hub repo, its codec of the mel route")
    parser.add_argument("--manifest", required=True, help="JSONL manifest of the recordings")
    parser.add_argument("--speakers", nargs="+", help="only these speakers of the manifest")
    parser.add_argument("--per-speaker", type=positive, default=5,
                        help="the first N utterances (1-10 s) of each speaker")
    parser.add_argument("--layers", type=positive, nargs="+", default=[4, 12], help="quantizer layers to decode")
    parser.add_argument("--out", help="the report (.json)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        return report_status(args.out, lambda: measure(args.model, args.manifest, args.speakers, args.per_speaker,
                                                       args.layers, args.quiet), table)
    except ImportError as err:
        print(f"error: {err.name} is not installed: pip install -c constraints.txt -e '.[eval]'", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
