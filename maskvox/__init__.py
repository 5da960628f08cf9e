"""maskvox: non-autoregressive, masked-generative, zero-shot text-to-speech.

The public names below are resolved on first use (PEP 562), so `import maskvox` stays cheap:
torch and the models load only when a name that needs them is touched.
"""

from __future__ import annotations

from .lazy import lazy_names

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "Synthesizer": "maskvox.pipeline",
    "CloneRequest": "maskvox.request",
    "EditRequest": "maskvox.edit",
    "edit_speech": "maskvox.edit",
    "ConvertRequest": "maskvox.convert",
    "DubConfig": "maskvox.dub.config",
    "run_dub_job": "maskvox.dub.job",
    "SpeechTokenizer": "maskvox.tokenizer",
    "TextFrontEnd": "maskvox.text",
    "SamplerSettings": "maskvox.sampling",
}

__all__ = ["__version__", *_PUBLIC]
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC, globals())
