"""Dubbing: subtitle cues spoken in another language, in each speaker's own voice, each fitted
to its time slot (`maskvox dub`).

`cues` reads what to dub (a JSONL manifest or a source/target SRT pair) and writes SRT files;
`stretch` lands a generated line on its slot; `job` runs the job (`ray_engine` spreads it over
Ray Data actors):

    from maskvox.dub import DubConfig, read_manifest, run_dub_job

    cues, errors = read_manifest("cues.jsonl", "en", "de")
    summary = run_dub_job(cues, errors, "dub/", DubConfig(batch_size=8, seed=0))
"""

from .cues import Cue, CueError, read_manifest, read_speaker_map, read_srt_pair
from .job import DubConfig, DubSummary, run_dub_job

__all__ = ["Cue", "CueError", "DubConfig", "DubSummary", "read_manifest", "read_speaker_map", "read_srt_pair",
           "run_dub_job"]
