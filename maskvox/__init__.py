"""maskvox: non-autoregressive, masked-generative, zero-shot text-to-speech.

The heavy modules (torch models) are imported lazily by the faces that need them, so
`import maskvox` stays cheap.
"""

__version__ = "0.1.0"
