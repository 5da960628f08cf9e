"""maskvox: non-autoregressive, masked-generative, zero-shot text-to-speech.

The public names below are resolved on first use (PEP 562), so `import maskvox` stays cheap:
torch and the models load only when a name that needs them is touched.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "Synthesizer": "maskvox.pipeline",
    "CloneRequest": "maskvox.pipeline",
    "EditRequest": "maskvox.edit",
    "edit_speech": "maskvox.edit",
    "DubConfig": "maskvox.dub",
    "run_dub_job": "maskvox.dub",
    "SpeechTokenizer": "maskvox.tokenizer",
    "TextFrontEnd": "maskvox.text",
    "SamplerSettings": "maskvox.sampling",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'maskvox' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
