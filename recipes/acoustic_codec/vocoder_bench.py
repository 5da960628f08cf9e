"""Waveform routes for the demo, measured: decoder cost per second of audio, and resynthesis quality.

    OMP_NUM_THREADS=1 python -m recipes.acoustic_codec.vocoder_bench --whisper /tmp/whisper-base \
        [--seconds 5] [--repeats 5] [--threads 1] [--skip-quality] [--json OUT]

Speed (`speed`): seconds of compute per second of audio (lower is better; 1.0 is real time)
on `--threads` threads, median of `--repeats` timed calls after one warm-up, for
- the pretrained HiFi-GAN V1 universal generator (`python -m maskvox.codecs.hifigan_data`
  first) on a random `--seconds` mel: fp32 eager under inference_mode, traced + frozen
  TorchScript, and bf16 weights and activations (each with its max deviation from fp32 eager;
  bf16 pays off only where oneDNN has bf16 instructions, e.g. AVX512_BF16);
- the same generator shapes at HiFi-GAN V2 and V3 sizes, and a Vocos mel vocoder (ConvNeXt
  backbone + ISTFT head at hop 256, the sizes of charactr/vocos-mel-24khz), with random
  weights: what a smaller decoder would cost;
- the demo acoustic codec's Vocos decoder (RVQ embeddings + ISTFT head) on random codes;
- with `--student FOLDER`, a generator distilled from V1 (recipes/vocoder), its trained weights.

Quality (`quality`): the LibriVox clips resynthesised from their own HifiganMel by the
universal generator in fp32 and in bf16 (16 kHz -> 22.05 kHz -> mel -> waveform -> 16 kHz), and round-tripped
through the demo codec (encode + decode at 24 kHz) for comparison, and through `--student`'s
generator from the same mel: Whisper base transcripts
(faster-whisper, int8, greedy) of originals and outputs, pooled WER after lower-casing and
deleting punctuation (against the original's transcript and against the clips' reference
text), PESQ-WB and STOI against the original at 16 kHz, resemblyzer speaker similarity.

Prints a table on stderr and the JSON on stdout (and into `--json`).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from pathlib import Path

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recipes.acoustic_codec.vocoder_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="audio length of the speed runs")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per decoder (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch (and Whisper) CPU threads")
    parser.add_argument("--hifigan", type=Path, default=None, help="converted generator folder (default: the cache)")
    parser.add_argument("--demo", default="maskvox/assets/demo", help="model folder of the demo acoustic codec")
    parser.add_argument("--clips", type=Path, default=LIBRIVOX, help="folder of 16 kHz wavs (+ `transcription`)")
    parser.add_argument("--whisper", type=Path, default=None,
                        help="faster-whisper model folder (model.bin, config.json, tokenizer.json, vocabulary.json)")
    parser.add_argument("--student", type=Path, default=None,
                        help="a distilled generator's folder (recipes/vocoder export): timed and resynthesised too")
    parser.add_argument("--skip-quality", action="store_true", help="speed only")
    parser.add_argument("--skip-small", action="store_true", help="skip the random-weight V2/V3/Vocos timings")
    parser.add_argument("--json", type=Path, default=None, help="also write the JSON here")
    return parser.parse_args(argv)


# ---------------------------------------------------------------------------------------------
# Speed


def time_call(fn, repeats: int) -> list[float]:
    """Wall seconds of `repeats` calls after one untimed warm-up (allocations, oneDNN primitives)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def speed_row(name: str, times: list[float], audio_seconds: float, **extra) -> dict:
    median = statistics.median(times)
    return {"decoder": name, "audio_seconds": round(audio_seconds, 3), "median_s": round(median, 4),
            "min_s": round(min(times), 4), "seconds_per_audio_second": round(median / audio_seconds, 4), **extra}


def hifigan_sizes():
    from maskvox.codecs.hifigan import HifiganConfig

    # The original repository's config_v2.json and config_v3.json (same mel front end as V1).
    return {
        "hifigan_v2_random": HifiganConfig(upsample_initial_channel=128),
        "hifigan_v3_random": HifiganConfig(resblock="2", upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 8),
                                           upsample_initial_channel=256, resblock_kernel_sizes=(3, 5, 7),
                                           resblock_dilation_sizes=((1, 2), (2, 6), (3, 12))),
    }


class VocosMelVocoder:
    """Random-weight Vocos mel vocoder: (1, 80, T) -> (1, T * 256); charactr/vocos-mel-24khz's
    backbone sizes (512 wide, 1536 inner, 8 blocks) with an n_fft 1024 / hop 256 ISTFT head."""

    def __init__(self):
        from maskvox.codecs.layers import ISTFTHead, VocosBackbone

        self.backbone = VocosBackbone(80, 512, 1536, 8).eval()
        self.head = ISTFTHead(512, n_fft=1024, hop_length=256).eval()

    def __call__(self, mel):
        return self.head(self.backbone(mel))


def bf16_copy(generator):
    import torch

    return copy.deepcopy(generator).to(torch.bfloat16)


def measure_speed(args, generator) -> list[dict]:
    import torch

    from maskvox.codecs.hifigan import HifiganGenerator
    from maskvox.codecs.hifigan_data import load_hifigan
    from maskvox.codecs.pretrained import load_acoustic_codec

    cfg = generator.cfg
    frames = round(args.seconds * cfg.sampling_rate / cfg.hop_size)
    audio_seconds = frames * cfg.hop_size / cfg.sampling_rate
    torch.manual_seed(0)
    mel = torch.randn(1, cfg.num_mels, frames) * 2 - 5
    rows = []
    with torch.inference_mode():
        eager_out = generator(mel)
        rows.append(speed_row("hifigan_v1_universal_eager", time_call(lambda: generator(mel), args.repeats),
                              audio_seconds, parameters=sum(p.numel() for p in generator.parameters())))
    # TorchScript: trace (fixed control flow), then freeze, which folds the parameters into
    # constants and lets the JIT pre-pack the oneDNN convolutions.
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(generator, mel[..., :32]))
        frozen_out = frozen(mel)
        rows.append(speed_row("hifigan_v1_universal_jit_freeze", time_call(lambda: frozen(mel), args.repeats),
                              audio_seconds, max_abs_diff_vs_eager=float((frozen_out - eager_out).abs().max())))
    half = bf16_copy(generator)
    with torch.inference_mode():
        half_out = half(mel.bfloat16()).float()
        rows.append(speed_row("hifigan_v1_universal_bf16", time_call(lambda: half(mel.bfloat16()), args.repeats),
                              audio_seconds, max_abs_diff_vs_eager=float((half_out - eager_out).abs().max())))
    if not args.skip_small:
        for name, small_cfg in hifigan_sizes().items():
            small = HifiganGenerator(small_cfg).eval()
            with torch.inference_mode():
                rows.append(speed_row(name, time_call(lambda: small(mel), args.repeats), audio_seconds,
                                      parameters=sum(p.numel() for p in small.parameters())))
        vocos = VocosMelVocoder()
        with torch.inference_mode():
            rows.append(speed_row("vocos_mel_hop256_random", time_call(lambda: vocos(mel), args.repeats), audio_seconds,
                                  parameters=sum(p.numel() for p in vocos.backbone.parameters())
                                  + sum(p.numel() for p in vocos.head.parameters())))
    if args.student is not None:
        student = load_hifigan(args.student)
        with torch.inference_mode():
            rows.append(speed_row(f"student_{args.student.name}", time_call(lambda: student(mel), args.repeats),
                                  audio_seconds, parameters=sum(p.numel() for p in student.parameters())))
    codec = load_acoustic_codec(args.demo)
    codec_frames = round(args.seconds * codec.sample_rate / codec.hop_length)
    codes = torch.randint(0, codec.cfg.decoder.codebook_size, (1, codec_frames, codec.cfg.decoder.num_quantizers))
    with torch.inference_mode():
        rows.append(speed_row("demo_codec_vocos_decode", time_call(lambda: codec.decode(codes), args.repeats),
                              codec_frames * codec.hop_length / codec.sample_rate,
                              parameters=sum(p.numel() for p in codec.decoder.parameters())))
    return rows


# ---------------------------------------------------------------------------------------------
# Quality


def reference_texts(folder: Path) -> dict[str, str]:
    """CMU `transcription` lines, `<s> words </s> (utterance-id)`, by utterance id."""
    path = folder / "transcription"
    texts = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            words, _, name = line.rpartition("(")
            texts[name.rstrip(") ")] = words.replace("<s>", "").replace("</s>", "").strip()
    return texts


def measure_quality(args, generator) -> dict:
    import numpy as np
    import torch
    from faster_whisper import WhisperModel
    from pesq import pesq
    from pystoi import stoi

    from maskvox.audio import ACOUSTIC_RATE, load_audio, resample
    from maskvox.codecs.hifigan import HifiganMel
    from maskvox.codecs.hifigan_data import load_hifigan
    from maskvox.codecs.pretrained import load_acoustic_codec
    from maskvox.evaluation.speaker import cosine_similarity, get_speaker_backend
    from maskvox.evaluation.wer import CorpusWer, normalize_for_wer, word_errors

    if args.whisper is None or not (args.whisper / "model.bin").is_file():
        raise SystemExit("--whisper must name a faster-whisper folder with model.bin (or pass --skip-quality)")
    cfg = generator.cfg
    rate = cfg.sampling_rate
    front_end = HifiganMel(cfg)
    codec = load_acoustic_codec(args.demo)
    asr = WhisperModel(str(args.whisper), device="cpu", compute_type="int8", cpu_threads=args.threads)
    speaker = get_speaker_backend("resemblyzer").load("cpu", None)
    texts = reference_texts(args.clips)

    def transcribe(wav16: np.ndarray) -> str:
        segments, _ = asr.transcribe(wav16, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
                                     condition_on_previous_text=False)
        return "".join(s.text for s in segments).strip()

    def vocoder(model, dtype):
        def route(wav16: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                mel = front_end(torch.from_numpy(resample(wav16, 16000, rate))[None])
                return resample(model(mel.to(dtype))[0, 0].float().numpy(), rate, 16000)
        return route

    def demo_codec(wav16: np.ndarray) -> np.ndarray:
        wav24 = torch.from_numpy(resample(wav16, 16000, ACOUSTIC_RATE))[None]
        return resample(codec.decode(codec.encode(wav24))[0].numpy(), ACOUSTIC_RATE, 16000)

    routes = {"hifigan_v1_universal": vocoder(generator, torch.float32),
              "hifigan_v1_universal_bf16": vocoder(bf16_copy(generator), torch.bfloat16),
              "demo_codec_roundtrip": demo_codec}
    if args.student is not None:
        routes[f"student_{args.student.name}"] = vocoder(load_hifigan(args.student), torch.float32)
    clips = []
    for path in sorted(args.clips.glob("*.wav")):
        wav16 = load_audio(path, 16000)
        original_text = transcribe(wav16)
        clip = {"clip": path.stem, "seconds": round(wav16.size / 16000, 2), "reference_text": texts.get(path.stem),
                "original_text": original_text, "routes": {}}
        original_embedding = speaker.embed(wav16)
        for name, route in routes.items():
            start = time.perf_counter()
            output = route(wav16)
            compute = time.perf_counter() - start
            n = min(output.size, wav16.size)  # both routes drop a partial last frame
            reference, estimate = wav16[:n].astype(np.float64), output[:n].astype(np.float64)
            clip["routes"][name] = {
                "text": transcribe(output),
                "pesq_wb": float(pesq(16000, reference, estimate, "wb")),
                "stoi": float(stoi(reference, estimate, 16000, extended=False)),
                "speaker_similarity": cosine_similarity(original_embedding, speaker.embed(output)),
                "compute_s": round(compute, 3),
            }
        clips.append(clip)

    def pooled(pairs) -> float:
        counts = [word_errors(normalize_for_wer(ref, "en"), normalize_for_wer(hyp, "en")) for ref, hyp in pairs]
        return round(CorpusWer.of(counts).pooled, 4)

    summary = {"original": {"wer_vs_reference_text": pooled((c["reference_text"], c["original_text"])
                                                            for c in clips if c["reference_text"])}}
    for name in routes:
        rows = [c["routes"][name] for c in clips]
        summary[name] = {
            "wer_vs_original_transcript": pooled((c["original_text"], c["routes"][name]["text"]) for c in clips),
            "wer_vs_reference_text": pooled((c["reference_text"], c["routes"][name]["text"])
                                            for c in clips if c["reference_text"]),
            **{metric: round(statistics.mean(r[metric] for r in rows), 4)
               for metric in ("pesq_wb", "stoi", "speaker_similarity")},
            "seconds_per_audio_second": round(sum(r["compute_s"] for r in rows) / sum(c["seconds"] for c in clips), 4),
        }
    return {"summary": summary, "clips": clips}


# ---------------------------------------------------------------------------------------------


def print_table(result: dict) -> None:
    out = sys.stderr
    print(f"{'decoder':36s} {'params':>10s} {'s / audio s':>12s}", file=out)
    for row in result["speed"]:
        params = f"{row['parameters'] / 1e6:.2f}M" if "parameters" in row else ""
        print(f"{row['decoder']:36s} {params:>10s} {row['seconds_per_audio_second']:12.4f}", file=out)
    if "quality" in result:
        print(file=out)
        for name, values in result["quality"]["summary"].items():
            print(f"{name:24s} " + "  ".join(f"{k}={v}" for k, v in values.items()), file=out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # before torch starts its pool
    import torch

    from maskvox.codecs.hifigan_data import load_hifigan
    from maskvox.errors import UserError
    from maskvox.fileio import write_json

    torch.set_num_threads(args.threads)
    try:
        generator = load_hifigan(args.hifigan)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    result = {"threads": args.threads, "torch": torch.__version__, "speed": measure_speed(args, generator)}
    if not args.skip_quality:
        result["quality"] = measure_quality(args, generator)
    print_table(result)
    print(json.dumps(result, indent=1))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
