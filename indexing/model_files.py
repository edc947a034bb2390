"""The files of a model folder (`indexing.clip_model` writes and reads them); named here, apart from
torch, so that code which only names a model (`ModelSpec.model_id`) does not load torch."""

CONFIG_FILE = "open_clip_config.json"
WEIGHTS_FILE = "open_clip_model.safetensors"
REID_CONFIG_FILE = "vigil_reid.json"  # optional: an appearance (re-identification) tower, `indexing.reid`
REID_WEIGHTS_FILE = "vigil_reid.safetensors"
