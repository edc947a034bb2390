"""Vigil's synthetic CCTV world: procedural Vietnamese street scenes with exact ground truth.

Modules: `truth` (the ground-truth values), `layouts` and `actors` (drawing),
`render` (one frame), `degrade` (camera noise and compression), `captions`
(English and Vietnamese), `random_scenes` (random labelled scenes),
`training_pairs` (rendered image–caption pairs), `training_split` (what
training never sees), `heldout_footage` (footage of those layouts for
evaluation), `scenario` / `timeline` / `video` (multi-camera footage with an
event timeline), `photo` (a resident's snapshot), `train` and
`evaluate` (the bundled model).
"""
