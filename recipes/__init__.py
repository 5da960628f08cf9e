"""Training, data-preparation, evaluation and benchmark recipes.

Run them from the repository root as modules, e.g.
`python -m recipes.acoustic_codec.train --config recipes/acoustic_codec/configs/demo.yaml`,
or under a launcher: `accelerate launch -m recipes.acoustic_codec.train ...`,
`torchrun --nproc_per_node 2 -m recipes.acoustic_codec.train ...`.
The maskvox package never imports this folder.
"""
