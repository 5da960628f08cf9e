"""The two codecs: semantic (w2v-BERT features -> 8192 ids at 50 Hz) and acoustic
(24 kHz waveform <-> 12 x 1024 ids at 50 Hz). Import the submodules directly:
`maskvox.codecs.acoustic`, `maskvox.codecs.semantic`, `maskvox.codecs.pretrained`.
"""
