"""One command reads each input once: the model folder's config, the prompt or recording
file (decoded once for both model rates), and each text through the G2P."""

from unittest import mock

import pytest
import soundfile

import maskvox.checkpoint as checkpoint_module
import maskvox.text.frontend as frontend_module
from factories import EXAMPLE_PROMPT, EXAMPLE_PROMPT_TEXT
from maskvox.commands import main

PROMPT_TEXT = EXAMPLE_PROMPT_TEXT.read_text().strip()


@pytest.fixture
def reads():
    """Counts of model-config reads, audio decodes and G2P runs while the block runs."""
    counts = {"config": 0, "audio": 0, "g2p": 0}

    def counting(function, key):
        def wrapped(*args, **kwargs):
            counts[key] += 1
            return function(*args, **kwargs)
        return wrapped

    load_config = checkpoint_module.load_config  # load_model_config's only reader
    with mock.patch.object(soundfile, "read", counting(soundfile.read, "audio")), \
            mock.patch.object(checkpoint_module, "load_config", counting(load_config, "config")), \
            mock.patch.object(frontend_module.TextFrontEnd, "__call__",
                              counting(frontend_module.TextFrontEnd.__call__, "g2p")):
        yield counts


@pytest.mark.slow
def test_a_clone_reads_its_config_prompt_and_texts_once(tiny_full_model, tmp_path, reads):
    assert main(["clone", "--model", str(tiny_full_model), "--prompt", str(EXAMPLE_PROMPT), "--prompt-text",
                 PROMPT_TEXT, "--text", "Hello there, how are you?", "--out", str(tmp_path / "a.wav"), "--quiet",
                 "--seed", "1"]) == 0
    assert reads == {"config": 1, "audio": 1, "g2p": 2}  # two texts: the prompt's transcript and the target


@pytest.mark.slow
def test_an_edit_reads_its_recording_once(tiny_full_model, tmp_path, reads):
    assert main(["edit", "--model", str(tiny_full_model), "--audio", str(EXAMPLE_PROMPT), "--text", PROMPT_TEXT,
                 "--new-text", PROMPT_TEXT.replace("never", "always", 1), "--span", "1.0", "1.6",
                 "--out", str(tmp_path / "e.wav"), "--quiet", "--seed", "1"]) == 0
    assert reads["audio"] == 1 and reads["config"] == 1
