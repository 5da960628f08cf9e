"""Dubbing: subtitle cues spoken in another language, in each speaker's own voice, each fitted
to its time slot (`maskvox dub`).

`cues` reads what to dub (a JSONL manifest or a source/target SRT pair) and writes SRT files;
`config` holds the job's settings; `tasks` plans each cue, `generator` generates groups of
them, `engine` runs the groups here or over Ray Data actors (`ray_engine`), `stretch` lands a
line on its slot, `tracks` places the cues on the source's timeline; `job` runs the job:

    from maskvox.dub import DubConfig, read_manifest, run_dub_job

    cues, errors = read_manifest("cues.jsonl", "en", "de")
    summary = run_dub_job(cues, errors, "dub/", DubConfig(batch_size=8, seed=0))

The public names below are resolved on first use (PEP 562), so importing the package, its cues
or its config loads no torch.
"""

from __future__ import annotations

from ..lazy import lazy_names

# public name -> the module that defines it
_PUBLIC = {
    "Cue": "maskvox.dub.cues",
    "CueError": "maskvox.dub.cues",
    "read_manifest": "maskvox.dub.cues",
    "read_speaker_map": "maskvox.dub.cues",
    "read_srt_pair": "maskvox.dub.cues",
    "DubConfig": "maskvox.dub.config",
    "DubSummary": "maskvox.dub.job",
    "run_dub_job": "maskvox.dub.job",
}

__all__ = list(_PUBLIC)
__getattr__, __dir__ = lazy_names(__name__, _PUBLIC, globals())
