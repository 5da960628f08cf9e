"""Dubbing: subtitle cues spoken in another language, in each speaker's own voice, each fitted
to its time slot (`maskvox dub`).

`cues` reads what to dub (a JSONL manifest or a source/target SRT pair) and writes SRT files;
`stretch` lands a generated line on its slot.
"""
